// The GEAR code kernels (gear_kernels.h: code_scores, code_values) of every table this CPU runs
// (portable, AVX2, AVX-512) against float64 sums over the unpacked codes, in the phase layout
// where gear_phase_ok allows it and in element order elsewhere: head dims on and off the
// lane blocks, rows starting inside a byte, query counts off the register blocking, low-rank
// widths below and above the lanes, value ranges per group and uniform.
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "check.h"
#include "kvcache/gear_kernels.h"

using namespace nt::kvcache;

namespace {

std::vector<float> randn(size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = nd(gen);
  return v;
}

int code_of(const std::vector<uint8_t>& codes, int bits, int64_t e) {
  const int64_t bit = e * bits;
  return (codes[static_cast<size_t>(bit >> 3)] >> (bit & 7)) & ((1 << bits) - 1);
}

std::vector<const GearKernels*> tables() {
  std::vector<const GearKernels*> t{&gear_kernels_portable()};
  if (gear_kernels_avx2()) t.push_back(gear_kernels_avx2());
  if (gear_kernels_avx512()) t.push_back(gear_kernels_avx512());
  return t;
}

}  // namespace

TEST_CASE(code_scores_equal_float64_sums_over_the_codes) {
  for (const GearKernels* k : tables())
    for (int bits : {2, 4})
      for (int64_t d : {16, 40, 66, 72, 128, 130})
        for (int64_t t0 : {0, 3})  // rows t0 .. t0 + n of a slice (e0 = t0·d, off the byte grid when d·bits is odd)
          for (int64_t G : {1, 3, 4, 9})
            for (int64_t r : {0, 3, 17}) {
              const int64_t n = 13, lanes = k->lanes;
              const bool phase = gear_phase_ok(k->lanes, bits, d) && (t0 * d * bits) % 8 == 0;
              std::vector<uint8_t> codes(static_cast<size_t>(((t0 + n) * d * bits + 7) / 8));
              std::mt19937 gen(static_cast<unsigned>(d * 131 + bits * 7 + G + r));
              for (uint8_t& c : codes) c = static_cast<uint8_t>(gen());
              const std::vector<float> q = randn(static_cast<size_t>(G * d), 1), cst = randn(static_cast<size_t>(G), 2);
              const int64_t rpad = r == 0 ? 0 : (r + lanes - 1) / lanes * lanes;
              std::vector<float> lq = randn(static_cast<size_t>(n * r + lanes), 3), lw(static_cast<size_t>(G * rpad + 1), 0.0f);
              for (int64_t i = n * r; i < n * r + lanes; ++i) lq[static_cast<size_t>(i)] = 0.0f;
              const std::vector<float> w = randn(static_cast<size_t>(G * r + 1), 4);
              for (int64_t g = 0; g < G; ++g)
                for (int64_t c = 0; c < r; ++c) lw[static_cast<size_t>(g * rpad + c)] = w[static_cast<size_t>(g * r + c)];
              std::vector<float> qk(q.size());  // the query in the layout the kernel reads
              for (int64_t g = 0; g < G; ++g)
                for (int64_t j = 0; j < d; ++j)
                  qk[static_cast<size_t>(g * d + (phase ? gear_phase_index(k->lanes, bits, d, j) : j))] = q[static_cast<size_t>(g * d + j)];
              std::vector<float> S(static_cast<size_t>(G * n), -1.0f);
              k->code_scores({{codes.data(), t0 * d, n, d, bits, phase}, G, qk.data(), d, cst.data(), r > 0 ? lq.data() : nullptr, r,
                              lw.data(), rpad, S.data(), n});
              for (int64_t g = 0; g < G; ++g)
                for (int64_t t = 0; t < n; ++t) {
                  double want = cst[static_cast<size_t>(g)], mag = std::fabs(want);
                  for (int64_t j = 0; j < d; ++j) {
                    const double x = double(q[static_cast<size_t>(g * d + j)]) * code_of(codes, bits, (t0 + t) * d + j);
                    want += x;
                    mag += std::fabs(x);
                  }
                  for (int64_t c = 0; c < r; ++c) {
                    const double x = double(w[static_cast<size_t>(g * r + c)]) * lq[static_cast<size_t>(t * r + c)];
                    want += x;
                    mag += std::fabs(x);
                  }
                  CHECK_CLOSE(S[static_cast<size_t>(g * n + t)], want, 4e-7 * mag + 1e-6);
                }
            }
}

TEST_CASE(code_values_equal_float64_sums_of_the_weighted_codes) {
  for (const GearKernels* k : tables())
    for (int bits : {2, 4})
      for (int64_t d : {16, 40, 66, 72, 128, 130})
        for (int64_t group : {0, 8, 32, 64})  // 0: one range for the slice (uniform)
          for (int64_t G : {1, 3, 4, 9}) {
            const int64_t n = 11, lanes = k->lanes, B = lanes * (8 / bits);
            const int64_t groups = group == 0 ? 1 : (d + group - 1) / group, grp = group == 0 ? d : group;
            const int64_t ldc = group == 0 ? 0 : n + 3, ldw = groups * (n + 3);  // padded strides
            const bool phase = gear_phase_ok(k->lanes, bits, d) && (group == 0 || group % B == 0);
            std::vector<uint8_t> codes(static_cast<size_t>((n * d * bits + 7) / 8));
            std::mt19937 gen(static_cast<unsigned>(d * 17 + bits + group + G));
            for (uint8_t& c : codes) c = static_cast<uint8_t>(gen());
            const std::vector<float> W = randn(static_cast<size_t>(G * ldw), 5);
            const std::vector<float> acc0 = randn(static_cast<size_t>(G * d), 8);
            std::vector<float> acc(acc0.size());
            const auto at = [&](int64_t j) { return phase ? gear_phase_index(k->lanes, bits, d, j) : j; };
            for (int64_t g = 0; g < G; ++g)
              for (int64_t j = 0; j < d; ++j) acc[static_cast<size_t>(g * d + at(j))] = acc0[static_cast<size_t>(g * d + j)];
            k->code_values({{codes.data(), 0, n, d, bits, phase}, G, W.data(), ldw, ldc, grp, acc.data(), d});
            for (int64_t g = 0; g < G; ++g)
              for (int64_t j = 0; j < d; ++j) {
                double want = acc0[static_cast<size_t>(g * d + j)], mag = std::fabs(want);
                for (int64_t t = 0; t < n; ++t) {
                  const size_t i = static_cast<size_t>(g * ldw + (j / grp) * ldc + t);
                  const double x = double(W[i]) * code_of(codes, bits, t * d + j);
                  want += x;
                  mag += std::fabs(x);
                }
                CHECK_CLOSE(acc[static_cast<size_t>(g * d + at(j))], want, 4e-7 * mag + 1e-6);
              }
          }
}

TEST_CASE(transpose_factor_transposes_row_major_factors_of_every_width) {
  for (const GearKernels* k : tables())
    for (int64_t m : {1, 7, 16, 33, 64, 128})
      for (int64_t r : {1, 2, 3, 4, 5, 8, 16}) {
        const std::vector<float> src = randn(static_cast<size_t>(m * r), 9);
        std::vector<float> dst(static_cast<size_t>(m * r), -7.0f);
        k->transpose_factor(src.data(), m, r, dst.data());
        for (int64_t i = 0; i < m; ++i)
          for (int64_t c = 0; c < r; ++c) CHECK(dst[static_cast<size_t>(c * m + i)] == src[static_cast<size_t>(i * r + c)]);
      }
}

TEST_CASE(phase_row_places_every_column_at_its_phase_index) {
  for (const GearKernels* k : tables())
    for (int bits : {2, 4})
      for (int64_t d : {16, 40, 66, 72, 128, 130}) {
        const std::vector<float> src = randn(static_cast<size_t>(d), 5);
        std::vector<float> dst(static_cast<size_t>(d), -7.0f);
        k->phase_row(src.data(), d, bits, dst.data());
        const bool phase = gear_phase_ok(k->lanes, bits, d);
        for (int64_t j = 0; j < d; ++j) {
          const int64_t p = phase ? gear_phase_index(k->lanes, bits, d, j) : j;
          CHECK(dst[static_cast<size_t>(p)] == src[static_cast<size_t>(j)]);
        }
      }
}

TEST_CASE(the_phase_layout_is_a_permutation_of_the_columns) {
  for (int lanes : {8, 16})
    for (int bits : {2, 4})
      for (int64_t d : {16, 66, 72, 128, 130}) {
        std::vector<int> seen(static_cast<size_t>(d), 0);
        for (int64_t j = 0; j < d; ++j) {
          const int64_t p = gear_phase_index(lanes, bits, d, j);
          CHECK(p >= 0 && p < d);
          if (p >= 0 && p < d) ++seen[static_cast<size_t>(p)];
        }
        for (int s : seen) CHECK(s == 1);
      }
}

TEST_MAIN()
