// Quantized matmul: every kernel set this CPU supports (and the scalar set), through the
// fused GEMV and the panel GEMM, against the f64 reference over random packed weights: bits
// 2/3/4/8, groups 32/64/128/whole row/unaligned, f16 and f32 scales, g_idx, odd shapes
// (k not a multiple of the group, partial code chunks), strided x and y, several k/n/m blocks;
// bit-identical results for 1 and 2 threads.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "check.h"
#include "core/half.h"
#include "core/thread_pool.h"
#include "quant/group_quant.h"
#include "quant/qmatmul.h"
#include "quant/qmatmul_kernels.h"

using nt::quant::QmmIn;
using nt::quant::QmmKernels;
using nt::quant::QmmOut;
using nt::quant::QWeight;

namespace {

struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ull + 1) {}
  uint64_t bits() {
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return s * 0x2545F4914F6CDD1Dull;
  }
  double uniform() { return static_cast<double>(bits() >> 11) / 9007199254740992.0; }  // [0, 1)
};

// Random parts of a QTensor plus the QWeight view of them.
struct Packed {
  std::vector<uint8_t> codes, zeros;
  std::vector<float> scales32;
  std::vector<uint16_t> scales16;
  std::vector<int32_t> gidx;
  QWeight w;

  Packed(int64_t rows, int64_t cols, int bits, int64_t group, bool f16, bool with_gidx, uint64_t seed) {
    Rng r(seed);
    w.rows = rows;
    w.cols = cols;
    w.bits = bits;
    w.group_size = group;
    const int64_t groups = w.groups(), rb = w.row_bytes();
    const int maxq = (1 << bits) - 1;
    codes.resize(static_cast<size_t>(rows * rb));
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t b = 0; b < rb; ++b) {
        if (bits == 8) {
          codes[i * rb + b] = static_cast<uint8_t>(r.bits() >> 56);
        } else {
          // valid codes in both nibbles; the padding nibble of an odd row is random too
          const int lo = static_cast<int>(r.bits() >> 40) % (maxq + 1), hi = static_cast<int>(r.bits() >> 40) % (maxq + 1);
          codes[i * rb + b] = static_cast<uint8_t>(lo | (hi << 4));
        }
      }
    zeros.resize(static_cast<size_t>(rows * groups));
    for (auto& z : zeros) z = static_cast<uint8_t>((r.bits() >> 40) % (maxq + 1));
    scales32.resize(static_cast<size_t>(rows * groups));
    for (auto& s : scales32) s = static_cast<float>(0.01 + 0.1 * r.uniform());
    if (f16) {
      scales16.resize(scales32.size());
      for (size_t i = 0; i < scales32.size(); ++i) scales16[i] = nt::f32_to_f16(scales32[i]);
      w.scales = scales16.data();
      w.scales_f16 = true;
    } else {
      w.scales = scales32.data();
    }
    w.codes = codes.data();
    w.zeros = zeros.data();
    if (with_gidx) {
      gidx.resize(static_cast<size_t>(cols));
      for (auto& g : gidx) g = static_cast<int32_t>((r.bits() >> 40) % groups);
      w.g_idx = gidx.data();
    }
  }
};

// x [m, k] stored with row stride sx0 and column stride sx1 (a transposed layout when sx0 == 1).
struct Mat {
  std::vector<float> data;
  int64_t s0, s1;
  Mat(int64_t rows, int64_t cols, bool transposed, uint64_t seed) {
    s0 = transposed ? 1 : cols;
    s1 = transposed ? rows : 1;
    data.resize(static_cast<size_t>(std::max<int64_t>(rows * cols, 1)));
    Rng r(seed);
    for (auto& v : data) v = static_cast<float>(2 * r.uniform() - 1);
  }
};

// |y − ref| <= tol · sum_c |x_c · ŵ_c| with ŵ = scale · (q − zero), the dequantized weight:
// the error of one f32 dot product of x with ŵ. A kernel that folds the zero point after the
// dot (zero · sum(x)) can exceed this by orders of magnitude (a large x_c against a code at the
// zero point), which is the bound's purpose: it caught the AVX2 GEMV doing that.
int compare(const QWeight& w, const Mat& x, int64_t m, const std::vector<float>& y, int64_t ys0, int64_t ys1,
            const std::vector<float>& ref, const char* what) {
  const int64_t rb = w.row_bytes(), groups = w.groups();
  const double tol = 4.0 * (std::sqrt(static_cast<double>(w.cols)) + 8.0) * 5.96e-8;
  int bad = 0;
  for (int64_t i = 0; i < m; ++i)
    for (int64_t r = 0; r < w.rows; ++r) {
      double mag = 0;
      for (int64_t c = 0; c < w.cols; ++c) {
        const int64_t g = w.g_idx ? w.g_idx[c] : c / w.group_size;
        const int q = nt::quant::read_code(w.codes + r * rb, c, w.bits);
        mag += std::fabs(x.data[i * x.s0 + c * x.s1]) * w.scale(r, g) * std::abs(q - w.zeros[r * groups + g]);
      }
      const double got = y[i * ys0 + r * ys1], want = ref[i * w.rows + r];
      if (!(std::fabs(got - want) <= tol * mag + 1e-30)) {
        if (bad < 3)
          std::printf("  %s: y(%lld, %lld) = %.9g, reference %.9g (tol %.3g)\n", what, (long long)i, (long long)r, got,
                      want, tol * mag);
        ++bad;
      }
    }
  return bad;
}

std::vector<const QmmKernels*> kernel_sets() {
  std::vector<const QmmKernels*> out;
  for (const std::string& isa : nt::quant::qmm_supported_isas()) out.push_back(nt::quant::qmm_kernels_for(isa));
  return out;
}

struct Case {
  int64_t m, n, k;
  int bits;
  int64_t group;  // 0: whole row
  bool f16, gidx, x_transposed, y_transposed;
};

// outlier > 0: column 6 of x is ±outlier (an activation outlier channel, as in real LLM layers)
// and every weight row's code there is its zero point, so ŵ(·, 6) = 0 exactly
// symmetric: every zero point is 128 (8-bit codes of a symmetric quantization)
int run_case(const Case& c, uint64_t seed, float outlier = 0, bool symmetric = false) {
  const int64_t group = c.group == 0 ? std::max<int64_t>(c.k, 1) : c.group;
  Packed p(c.n, c.k, c.bits, group, c.f16, c.gidx, seed);
  if (symmetric)
    for (auto& z : p.zeros) z = 128;
  Mat x(c.m, c.k, c.x_transposed, seed + 7);
  if (outlier > 0 && c.k > 6) {
    for (int64_t i = 0; i < c.m; ++i) x.data[i * x.s0 + 6 * x.s1] = (i & 1) ? -outlier : outlier;
    for (int64_t r = 0; r < c.n; ++r) {
      const int64_t g = p.w.g_idx ? p.w.g_idx[6] : 6 / group;
      nt::quant::write_code(p.codes.data() + r * p.w.row_bytes(), 6, c.bits, p.zeros[r * p.w.groups() + g]);
    }
  }
  std::vector<float> ref(static_cast<size_t>(std::max<int64_t>(c.m * c.n, 1)));
  nt::quant::qmatmul_reference(p.w, {x.data.data(), x.s0, x.s1}, c.m, {ref.data(), c.n, 1});
  const int64_t ys0 = c.y_transposed ? 1 : c.n, ys1 = c.y_transposed ? c.m : 1;
  int bad = 0;
  for (const QmmKernels* kern : kernel_sets())
    for (bool panel : {false, true}) {
      std::vector<float> y(ref.size(), NAN);
      nt::quant::qmatmul_with(*kern, p.w, {x.data.data(), x.s0, x.s1}, c.m, {y.data(), ys0, ys1}, panel);
      char what[200];
      std::snprintf(what, sizeof what, "%s %s m=%lld n=%lld k=%lld bits=%d group=%lld%s%s%s%s", kern->isa,
                    panel ? "panel" : "auto", (long long)c.m, (long long)c.n, (long long)c.k, c.bits, (long long)group,
                    c.f16 ? " f16" : "", c.gidx ? " gidx" : "", c.x_transposed ? " xT" : "", c.y_transposed ? " yT" : "");
      const int b = compare(p.w, x, c.m, y, ys0, ys1, ref, what);
      if (b) std::printf("  %s: %d bad element(s)\n", what, b);
      bad += b;
    }
  return bad;
}

// The int8-activation kernel against the same arithmetic in f64: x quantized here exactly as
// the kernel does (sx = amax / 127, xq = round(x · (127 / amax)) in f32), integer group sums, then
// sum_g scale · sx · (Σ q·xq − zero · Σ xq). Only float rounding separates the two. outlier > 0
// puts ±outlier in column 6 of x against codes at the zero point (the trap of folding the zero
// point in float: here the integer sum of xq keeps it within the bound).
int run_int8_case(const QmmKernels& kern, int64_t m, int64_t n, int64_t k, int bits, int64_t group, bool f16,
                  uint64_t seed, float outlier = 0) {
  Packed p(n, k, bits, group, f16, false, seed);
  Mat x(m, k, false, seed + 3);
  const int64_t groups = p.w.groups(), rb = p.w.row_bytes();
  if (outlier > 0 && k > 6) {
    for (int64_t i = 0; i < m; ++i) x.data[i * k + 6] = (i & 1) ? -outlier : outlier;
    for (int64_t r = 0; r < n; ++r) nt::quant::write_code(p.codes.data() + r * rb, 6, bits, p.zeros[r * groups + 6 / group]);
  }
  std::vector<float> y(static_cast<size_t>(m * n), NAN);
  nt::quant::qmatmul_with(kern, p.w, {x.data.data(), x.s0, x.s1}, m, {y.data(), n, 1}, false, true);
  int bad = 0;
  for (int64_t i = 0; i < m; ++i) {
    std::vector<float> sx(static_cast<size_t>(groups));
    std::vector<int> xq(static_cast<size_t>(k));
    for (int64_t g = 0; g < groups; ++g) {
      float amax = 0;
      for (int64_t c = g * group; c < std::min(k, (g + 1) * group); ++c) amax = std::max(amax, std::fabs(x.data[i * k + c]));
      sx[g] = amax / 127.0f;
      const float inv = 127.0f / amax;
      for (int64_t c = g * group; c < std::min(k, (g + 1) * group); ++c)
        xq[c] = amax > 0 ? std::max(-127, std::min(127, static_cast<int>(std::nearbyint(x.data[i * k + c] * inv)))) : 0;
    }
    for (int64_t r = 0; r < n; ++r) {
      double want = 0, mag = 0;
      for (int64_t g = 0; g < groups; ++g) {
        long dot = 0, sum = 0, adot = 0;
        for (int64_t c = g * group; c < std::min(k, (g + 1) * group); ++c) {
          const int q = nt::quant::read_code(p.w.codes + r * rb, c, bits);
          dot += q * xq[c];
          sum += xq[c];
          adot += q * std::abs(xq[c]);
        }
        const double f = static_cast<double>(p.w.scale(r, g)) * sx[g];
        const int z = p.w.zeros[r * groups + g];
        want += f * (static_cast<double>(dot) - z * static_cast<double>(sum));
        mag += f * (static_cast<double>(adot) + z * std::fabs(static_cast<double>(sum)));
      }
      const double got = y[i * n + r];
      if (!(std::fabs(got - want) <= 1e-5 * mag + 1e-30)) {
        if (bad < 3) std::printf("  int8 %s m=%lld n=%lld k=%lld g=%lld: y(%lld,%lld) = %.9g, want %.9g\n", kern.isa,
                                 (long long)m, (long long)n, (long long)k, (long long)group, (long long)i, (long long)r,
                                 got, want);
        ++bad;
      }
    }
  }
  return bad;
}

// The kernel sets whose int8 kernel serves 4-bit codes in groups of `group`.
std::vector<const QmmKernels*> int8_sets(int64_t group) {
  std::vector<const QmmKernels*> out;
  for (const QmmKernels* kern : kernel_sets()) {
    Packed probe(1, 256, 4, group, false, false, 1);
    if (nt::quant::qmm_int8_applies(*kern, probe.w)) out.push_back(kern);
  }
  return out;
}

}  // namespace

TEST_CASE(int8_every_x86_set_has_a_kernel_for_groups_32_to_row) {
  // every set but scalar serves groups 32, 64, 128 and whole rows (Q4_0's group 32 included)
  for (int64_t group : {32, 64, 128, 256}) {
    const auto sets = int8_sets(group);
    std::printf("  group %lld: %zu set(s) with an int8 kernel\n", (long long)group, sets.size());
    CHECK(sets.size() + 1 == kernel_sets().size());
  }
}

TEST_CASE(int8_gemv_groups_and_odd_shapes) {
  uint64_t seed = 800;
  for (int64_t group : {32, 64, 128, 256, 0})
    for (const QmmKernels* kern : int8_sets(group == 0 ? 256 : group))
      for (int64_t k : {32, 96, 300, 515})
        for (int64_t m : {1, 2, 3, 4}) {
          const int64_t g = group == 0 ? k : group;
          if (g > k && group != 0) continue;
          CHECK(run_int8_case(*kern, m, m == 1 ? 13 : 7, k, 4, g, (seed & 1) != 0, ++seed) == 0);
        }
  for (const QmmKernels* kern : int8_sets(32)) {
    CHECK(run_int8_case(*kern, 5, 7, 256, 2, 128, false, 900) == 0);
    CHECK(run_int8_case(*kern, 3, 9, 160, 3, 32, true, 901) == 0);
  }
}

TEST_CASE(int8_gemm_m_up_to_600) {
  uint64_t seed = 1000;
  for (int64_t group : {32, 64, 128, 0})
    for (const QmmKernels* kern : int8_sets(group == 0 ? 256 : group))
      for (int64_t m : {5, 8, 17, 600}) {
        const int64_t k = m == 600 ? 130 : 259, n = m == 600 ? 9 : 70;
        CHECK(run_int8_case(*kern, m, n, k, 4, group == 0 ? k : group, (seed & 1) != 0, ++seed) == 0);
      }
}

TEST_CASE(int8_activation_outlier_against_zero_point_codes) {
  uint64_t seed = 1100;
  for (int64_t group : {32, 128})
    for (const QmmKernels* kern : int8_sets(group))
      for (int64_t m : {1, 6}) CHECK(run_int8_case(*kern, m, 8, 160, 4, group, false, ++seed, 65504.0f) == 0);
}

TEST_CASE(int8_fallbacks_are_reported_and_give_the_f32_bits) {
  struct Layout {
    int bits;
    int64_t group;
    bool gidx;
  };
  for (const QmmKernels* kern : kernel_sets())
    for (const Layout& l : {Layout{8, 128, false}, Layout{4, 32, true}, Layout{4, 96, false}, Layout{4, 128, false}}) {
      Packed p(9, 192, l.bits, l.group, false, l.gidx, 901);
      const nt::quant::QmmPath path = nt::quant::qmm_path(*kern, p.w, true);
      const bool served = kern->gemv4_i8 && l.bits == 4 && !l.gidx && (l.group != 96 || kern->i8_split == 32);
      CHECK(path.int8 == served);
      CHECK((path.fallback == nullptr) == served);
      CHECK(std::string(path.kernel) == kern->isa);
      CHECK(nt::quant::qmm_path(*kern, p.w, false).fallback == nullptr);
      if (served) continue;
      Mat x(2, 192, false, 902);
      std::vector<float> a(18), b(18);
      nt::quant::qmatmul_with(*kern, p.w, {x.data.data(), 192, 1}, 2, {a.data(), 9, 1}, false, true);
      nt::quant::qmatmul_with(*kern, p.w, {x.data.data(), 192, 1}, 2, {b.data(), 9, 1}, false, false);
      CHECK(a == b);
    }
}

TEST_CASE(int8_thread_count_does_not_change_bits) {
  for (int64_t group : {32, 128})
    for (const QmmKernels* kern : int8_sets(group))
      for (int64_t m : {1, 3, 40}) {
        Packed p(333, 515, 4, group, true, false, 1200 + m);
        Mat x(m, 515, false, 1300 + m);
        std::vector<float> y1(static_cast<size_t>(m * 333)), y2(y1.size());
        nt::set_num_threads(1);
        nt::quant::qmatmul_with(*kern, p.w, {x.data.data(), x.s0, x.s1}, m, {y1.data(), 333, 1}, false, true);
        nt::set_num_threads(2);
        nt::quant::qmatmul_with(*kern, p.w, {x.data.data(), x.s0, x.s1}, m, {y2.data(), 333, 1}, false, true);
        nt::set_num_threads(0);
        int diff = 0;
        for (size_t i = 0; i < y1.size(); ++i) diff += y1[i] != y2[i];
        if (diff) std::printf("  int8 %s m=%lld g=%lld: %d element(s) differ\n", kern->isa, (long long)m, (long long)group, diff);
        CHECK(diff == 0);
      }
}

TEST_CASE(int8_nan_and_inf_propagate_to_their_rows) {
  for (int64_t group : {32, 128})
    for (const QmmKernels* kern : int8_sets(group))
      for (int64_t m : {2, 7}) {
        Packed p(6, 256, 4, group, false, false, 1400);
        Mat x(m, 256, false, 1401);
        x.data[5] = NAN;                       // row 0
        x.data[256 + 200] = INFINITY;          // row 1
        std::vector<float> y(static_cast<size_t>(m * 6), 0.0f);
        nt::quant::qmatmul_with(*kern, p.w, {x.data.data(), 256, 1}, m, {y.data(), 6, 1}, false, true);
        for (int64_t i = 0; i < m; ++i)
          for (int r = 0; r < 6; ++r) CHECK(i < 2 ? std::isnan(y[i * 6 + r]) : std::isfinite(y[i * 6 + r]));
      }
}

TEST_CASE(kernel_sets_registered) {
  const auto isas = nt::quant::qmm_supported_isas();
  CHECK(!isas.empty());
  CHECK(isas.back() == "scalar");
  CHECK(nt::quant::qmm_kernels_for("scalar") != nullptr);
  CHECK(nt::quant::qmm_kernels_for("no-such-isa") == nullptr);
  std::printf("  kernel sets: ");
  for (auto& s : isas) std::printf("%s ", s.c_str());
  std::printf("(in use: %s)\n", nt::quant::qmm_kernels().isa);
}

TEST_CASE(four_bit_groups_and_shapes) {
  uint64_t seed = 1;
  for (int64_t group : {32, 64, 128, 0})
    for (int64_t k : {1, 7, 31, 32, 33, 64, 129, 257})
      for (int64_t m : {1, 3, 4, 5}) {
        const Case c{m, 13, k, 4, group, (seed & 1) != 0, false, false, false};
        CHECK(run_case(c, ++seed) == 0);
      }
}

TEST_CASE(bits_two_three_eight) {
  uint64_t seed = 100;
  for (int bits : {2, 3, 8})
    for (int64_t group : {32, 128, 0})
      for (int64_t k : {7, 33, 130})
        for (int64_t m : {1, 6}) CHECK(run_case({m, 9, k, bits, group, bits == 3, false, false, false}, ++seed) == 0);
}

TEST_CASE(gidx_and_unaligned_groups) {
  uint64_t seed = 200;
  for (int bits : {4, 8})
    for (int64_t k : {31, 100}) {
      CHECK(run_case({1, 11, k, bits, 32, false, true, false, false}, ++seed) == 0);
      CHECK(run_case({7, 11, k, bits, 32, true, true, false, false}, ++seed) == 0);
    }
  // group sizes that do not align with any code chunk: the portable dequantizer
  for (int64_t group : {7, 40, 48})
    for (int64_t m : {1, 5}) CHECK(run_case({m, 10, 101, 4, group, false, false, false, false}, ++seed) == 0);
}

TEST_CASE(activation_outliers_against_zero_point_codes) {
  // f16's largest value beside unit activations: the products of codes at the zero point with
  // it must contribute exactly 0, as they do in the dequantized reference
  uint64_t seed = 250;
  for (int bits : {2, 3, 4, 8})
    for (int64_t m : {1, 3, 8})
      for (int64_t group : {32, 128}) CHECK(run_case({m, 8, 160, bits, group, false, false, false, false}, ++seed, 65504.0f) == 0);
}

TEST_CASE(eight_bit_gemv_and_panel_groups_shapes_and_zero_points) {
  // the 8-bit GEMV (m <= 4) and the 8-bit panel dequantizer of every set against the reference:
  // odd k and n, every m from 1 to 9, symmetric (zero 128) and asymmetric codes, f16 and f32 scales
  uint64_t seed = 1000;
  for (int64_t group : {32, 64, 128, 0})
    for (int64_t k : {1, 15, 17, 63, 129, 255})
      for (int64_t m = 1; m <= 9; ++m)
        for (bool sym : {false, true})
          CHECK(run_case({m, 11, k, 8, group, (seed & 1) != 0, false, (seed % 5) == 0, (seed % 7) == 0}, ++seed, 0,
                         sym) == 0);
}

TEST_CASE(eight_bit_gemv_serves_groups_of_whole_vectors) {
  for (const QmmKernels* kern : kernel_sets()) {
    if (std::string(kern->isa) == "scalar") {
      CHECK(kern->gemv8 == nullptr);
      continue;
    }
    for (int64_t group : {32, 64, 128}) {
      Packed p(3, 300, 8, group, false, false, 77);
      CHECK(nt::quant::qmm_gemv8_applies(*kern, p.w));
    }
    Packed one(3, 301, 8, 301, false, false, 78);  // one group per row
    CHECK(nt::quant::qmm_gemv8_applies(*kern, one.w));
    Packed odd(3, 300, 8, 20, false, false, 79);  // a group of 20 columns: the panel path
    CHECK(!nt::quant::qmm_gemv8_applies(*kern, odd.w));
    Packed four(3, 300, 4, 32, false, false, 80);
    CHECK(!nt::quant::qmm_gemv8_applies(*kern, four.w));
  }
}

TEST_CASE(eight_bit_outliers_against_zero_point_codes) {
  uint64_t seed = 1500;
  for (int64_t m : {1, 2, 4, 5, 9})
    for (int64_t group : {32, 64, 128, 0})
      for (bool sym : {false, true})
        CHECK(run_case({m, 13, 161, 8, group, sym, false, false, false}, ++seed, 65504.0f, sym) == 0);
}

TEST_CASE(eight_bit_unaligned_groups_take_the_panel_dequantizer) {
  uint64_t seed = 1600;
  for (int64_t group : {7, 20, 40})
    for (int64_t m : {1, 4, 6}) CHECK(run_case({m, 10, 101, 8, group, false, false, false, false}, ++seed) == 0);
}

TEST_CASE(strided_operands) {
  uint64_t seed = 300;
  for (int64_t m : {1, 3, 9}) {
    CHECK(run_case({m, 17, 65, 4, 32, false, false, true, false}, ++seed) == 0);
    CHECK(run_case({m, 17, 65, 4, 64, true, false, false, true}, ++seed) == 0);
    CHECK(run_case({m, 17, 65, 3, 0, false, true, true, true}, ++seed) == 0);
  }
}

TEST_CASE(several_blocks) {
  // k past one k block (1024), n past one row block, m past one x block (256)
  CHECK(run_case({300, 200, 1100, 4, 128, true, false, false, false}, 400) == 0);
  CHECK(run_case({2, 130, 2100, 4, 64, false, false, false, false}, 401) == 0);
  CHECK(run_case({20, 101, 1030, 8, 32, false, false, false, false}, 402) == 0);
}

TEST_CASE(empty_and_zero_depth) {
  Packed p(5, 0, 4, 32, false, false, 9);
  std::vector<float> x(1, 1.0f), y(15, NAN);
  nt::quant::qmatmul_f32(p.w, {x.data(), 0, 1}, 3, {y.data(), 5, 1});
  for (float v : y) CHECK(v == 0.0f);
  Packed q(4, 16, 4, 32, false, false, 10);
  std::vector<float> none;
  nt::quant::qmatmul_f32(q.w, {x.data(), 16, 1}, 0, {y.data(), 4, 1});  // m = 0: nothing written
  CHECK(y[0] == 0.0f);
}

// Elements of y(x · ŵᵀ) that differ between 1 and 2 threads (printed when any do).
static int thread_count_differences(const QmmKernels& kern, const Packed& p, const Mat& x, int64_t m, const char* what) {
  const int64_t n = p.w.rows;
  std::vector<float> y1(static_cast<size_t>(m * n)), y2(y1.size());
  nt::set_num_threads(1);
  nt::quant::qmatmul_with(kern, p.w, {x.data.data(), x.s0, x.s1}, m, {y1.data(), n, 1});
  nt::set_num_threads(2);
  nt::quant::qmatmul_with(kern, p.w, {x.data.data(), x.s0, x.s1}, m, {y2.data(), n, 1});
  nt::set_num_threads(0);
  int diff = 0;
  for (size_t i = 0; i < y1.size(); ++i) diff += y1[i] != y2[i];
  if (diff) std::printf("  %s %s m=%lld: %d element(s) differ\n", kern.isa, what, (long long)m, diff);
  return diff;
}

TEST_CASE(thread_count_does_not_change_bits) {
  for (const QmmKernels* kern : kernel_sets())
    for (int64_t m : {1, 3, 40}) {
      Packed p(333, 515, 4, 64, true, false, 500 + m);
      Mat x(m, 515, false, 600 + m);
      CHECK(thread_count_differences(*kern, p, x, m, "4-bit") == 0);
    }
}

TEST_CASE(eight_bit_thread_count_does_not_change_bits) {
  for (const QmmKernels* kern : kernel_sets())
    for (int64_t m : {1, 2, 3, 4, 9})
      for (int64_t group : {32, 128}) {
        Packed p(517, 333, 8, group, true, false, 800 + m);
        Mat x(m, 333, false, 900 + m);
        CHECK(thread_count_differences(*kern, p, x, m, "8-bit") == 0);
      }
}

TEST_CASE(eight_bit_nan_propagates) {
  Packed p(6, 70, 8, 32, false, false, 710);
  Mat x(2, 70, false, 711);
  x.data[69] = NAN;  // row 0, in the partial last vector
  for (const QmmKernels* kern : kernel_sets())
    for (bool panel : {false, true}) {
      std::vector<float> y(12, 0.0f);
      nt::quant::qmatmul_with(*kern, p.w, {x.data.data(), 70, 1}, 2, {y.data(), 6, 1}, panel);
      for (int r = 0; r < 6; ++r) {
        CHECK(std::isnan(y[r]));
        CHECK(std::isfinite(y[6 + r]));
      }
    }
}

TEST_CASE(nan_propagates) {
  Packed p(6, 70, 4, 32, false, false, 700);
  Mat x(2, 70, false, 701);
  x.data[5] = NAN;  // row 0
  for (const QmmKernels* kern : kernel_sets())
    for (bool panel : {false, true}) {
      std::vector<float> y(12, 0.0f);
      nt::quant::qmatmul_with(*kern, p.w, {x.data.data(), 70, 1}, 2, {y.data(), 6, 1}, panel);
      for (int r = 0; r < 6; ++r) {
        CHECK(std::isnan(y[r]));
        CHECK(std::isfinite(y[6 + r]));
      }
    }
}

TEST_MAIN()
