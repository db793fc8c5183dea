// Mixed-precision GEMM (f32 x bf16/f16, f32 accumulation): every ISA this CPU supports (and
// the scalar set) against a float64 product of the same 16-bit values, over odd shapes (the
// streaming GEMV for m <= 32 with W [n, k], the packed prefill path above), leading dimensions larger than
// the rows, both layouts of each operand, alpha/beta, IEEE NaN/Inf propagation, degenerate
// products, and bits that do not depend on the thread count or on the rows beside a row.
//
// Tolerance (one table): |C - C_ref| <= TOL * (k + 2) * (|alpha| sum_p |a_ip w_pj| + |beta c0|)
// elementwise: the f32 dot-product bound gamma_k ~ k u (the 16-bit weights widen exactly, so
// only the f32 accumulation rounds), with headroom for the alpha/beta roundings.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include "check.h"
#include "core/error.h"
#include "core/half.h"
#include "core/thread_pool.h"
#include "cpu/half_gemm.h"
#include "cpu/half_gemm_kernel.h"
#include "cpu/kernels.h"

namespace {

constexpr double kTol = 2.0 * 0x1p-24;

struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ull + 1) {}
  double next() {  // uniform in [-1, 1)
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return static_cast<double>((s * 0x2545F4914F6CDD1Dull) >> 11) / 9007199254740992.0 * 2 - 1;
  }
};

std::vector<float> random_f32(size_t n, uint64_t seed) {
  Rng r(seed);
  std::vector<float> v(n);
  for (auto& x : v) x = static_cast<float>(r.next());
  return v;
}

std::vector<uint16_t> random_half(nt::DType fmt, size_t n, uint64_t seed) {
  Rng r(seed);
  std::vector<uint16_t> v(n);
  for (auto& h : v) {
    const float x = static_cast<float>(r.next() * 2);
    h = fmt == nt::DType::BF16 ? nt::f32_to_bf16(x) : nt::f32_to_f16(x);
  }
  return v;
}

double widen(nt::DType fmt, uint16_t h) { return fmt == nt::DType::BF16 ? nt::bf16_to_f32(h) : nt::f16_to_f32(h); }
const char* fmt_name(nt::DType fmt) { return fmt == nt::DType::BF16 ? "bf16" : "f16"; }

std::vector<std::string> isas_to_test() {
  std::vector<std::string> out = {"scalar"};
  for (const auto& isa : nt::supported_isas())
    if (isa != "scalar") out.push_back(isa);
  return out;
}

const nt::HalfGemmKernel& kernel_of(const std::string& isa) {
  return isa == "scalar" ? nt::half_gemm_scalar_kernel() : nt::half_gemm_kernel(nt::kernels_for(isa));
}

struct Case {
  int64_t m, n, k;
  bool ta = false, tb = true;  // tb: W stored [n, k], the Linear layout
  float alpha = 1, beta = 0;
  int64_t pad = 0;             // extra elements per row of every operand
};

// Runs one product and counts the elements outside the bound (and changed padding of C).
int check_case(const nt::HalfGemmKernel& kern, nt::DType fmt, const Case& c, uint64_t seed) {
  const int64_t m = c.m, n = c.n, k = c.k;
  const int64_t lda = (c.ta ? m : k) + c.pad, ldb = (c.tb ? k : n) + c.pad, ldc = n + c.pad;
  const int64_t arows = c.ta ? k : m, brows = c.tb ? n : k;
  auto a = random_f32(static_cast<size_t>(std::max<int64_t>(arows * lda, 1)), seed);
  auto b = random_half(fmt, static_cast<size_t>(std::max<int64_t>(brows * ldb, 1)), seed + 1);
  auto c0 = random_f32(static_cast<size_t>(std::max<int64_t>(m * ldc, 1)), seed + 2);
  if (c.beta == 0)
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) c0[i * ldc + j] = std::numeric_limits<float>::quiet_NaN();  // must not be read
  auto out = c0;
  nt::gemm_with_f32_half(kern, fmt, c.ta, c.tb, m, n, k, c.alpha, a.data(), lda, b.data(), ldb, c.beta, out.data(),
                         ldc);
  int bad = 0;
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double ref = 0, mag = 0;
      for (int64_t p = 0; p < k; ++p) {
        const double x = c.ta ? a[p * lda + i] : a[i * lda + p];
        const double w = widen(fmt, c.tb ? b[j * ldb + p] : b[p * ldb + j]);
        ref += x * w;
        mag += std::fabs(x * w);
      }
      const double c_old = c.beta == 0 ? 0.0 : c0[i * ldc + j];
      ref = c.alpha * ref + c.beta * c_old;
      mag = std::fabs(c.alpha) * mag + std::fabs(c.beta * c_old);
      const double err = std::fabs(out[i * ldc + j] - ref);
      if (!(err <= kTol * (k + 2) * mag + 1e-300) && bad++ < 3)
        std::printf("  %s %s m=%lld n=%lld k=%lld ta=%d tb=%d pad=%lld C[%lld,%lld] = %.9g, expected %.9g (bound %.3g)\n",
                    kern.isa, fmt_name(fmt), (long long)m, (long long)n, (long long)k, c.ta, c.tb, (long long)c.pad,
                    (long long)i, (long long)j, (double)out[i * ldc + j], ref, kTol * (k + 2) * mag);
    }
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = n; j < ldc; ++j)
      if (out[i * ldc + j] != c0[i * ldc + j]) ++bad;
  return bad;
}

const nt::DType kFormats[] = {nt::DType::BF16, nt::DType::F16};

}  // namespace

TEST_CASE(half_gemm_matches_the_f64_reference_for_every_isa_format_and_odd_shape) {
  const int64_t ms[] = {1, 2, 3, 4, 5, 17, 64}, ns[] = {1, 7, 33, 129}, ks[] = {1, 7, 31, 33, 255, 1030};
  for (const auto& isa : isas_to_test())
    for (nt::DType fmt : kFormats) {
      const auto& kern = kernel_of(isa);
      CHECK(kern.isa == isa);
      uint64_t seed = 1;
      for (int64_t m : ms)
        for (int64_t n : ns)
          for (int64_t k : ks) CHECK(check_case(kern, fmt, {m, n, k, false, true, 1, 0, (m + n + k) % 3}, seed++) == 0);
    }
}

TEST_CASE(half_gemm_handles_every_layout_leading_dimension_and_alpha_beta) {
  const int64_t shapes[][3] = {{1, 33, 70}, {3, 129, 31}, {4, 7, 255}, {5, 40, 33}, {64, 129, 300}, {97, 70, 1030}};
  for (const auto& isa : isas_to_test())
    for (nt::DType fmt : kFormats) {
      const auto& kern = kernel_of(isa);
      uint64_t seed = 100;
      for (const auto& s : shapes)
        for (int t = 0; t < 4; ++t) {
          const bool ta = t & 1, tb = t & 2;
          CHECK(check_case(kern, fmt, {s[0], s[1], s[2], ta, tb, 1, 0, 0}, seed++) == 0);
          CHECK(check_case(kern, fmt, {s[0], s[1], s[2], ta, tb, -0.75f, 1.5f, 5}, seed++) == 0);
        }
    }
}

TEST_CASE(half_gemm_propagates_nan_and_inf_per_ieee) {
  for (const auto& isa : isas_to_test())
    for (nt::DType fmt : kFormats) {
      const auto& kern = kernel_of(isa);
      // a quiet NaN, and for f16 a signalling one (F16C and half.h both return it quiet)
      const uint16_t nan = fmt == nt::DType::BF16 ? 0x7fc0 : 0x7d00;
      for (int64_t m : {1, 3, 13, 40}) {  // streaming (one and several x groups) and packed paths
        const int64_t n = 37, k = 45;
        auto x = random_f32(m * k, 3);
        auto w = random_half(fmt, n * k, 4);
        for (auto& h : w)
          if (widen(fmt, h) == 0) h = fmt == nt::DType::BF16 ? nt::f32_to_bf16(0.5f) : nt::f32_to_f16(0.5f);
        w[5 * k + 17] = nan;                                // column 5 of C
        x[(m - 1) * k + 30] = std::numeric_limits<float>::infinity();  // row m-1 of C
        std::vector<float> y(m * n);
        nt::gemm_with_f32_half(kern, fmt, false, true, m, n, k, 1.0f, x.data(), k, w.data(), k, 0.0f, y.data(), n);
        for (int64_t i = 0; i < m; ++i) CHECK(std::isnan(y[i * n + 5]));
        for (int64_t j = 0; j < n; ++j)
          if (j != 5) CHECK(std::isinf(y[(m - 1) * n + j]));
        if (m > 1) CHECK(std::isfinite(y[0]));
      }
    }
}

TEST_CASE(half_gemm_with_k_zero_or_alpha_zero_scales_c_and_reads_neither_operand) {
  for (const auto& isa : isas_to_test()) {
    const auto& kern = kernel_of(isa);
    std::vector<float> c = {1, 2, 3, 4};
    nt::gemm_with_f32_half(kern, nt::DType::BF16, false, true, 2, 2, 0, 1.0f, nullptr, 1, nullptr, 1, 0.5f, c.data(), 2);
    CHECK(c[0] == 0.5f && c[3] == 2.0f);
    std::vector<float> z = {NAN, NAN};
    nt::gemm_with_f32_half(kern, nt::DType::F16, false, true, 1, 2, 7, 0.0f, nullptr, 7, nullptr, 7, 0.0f, z.data(), 2);
    CHECK(z[0] == 0.0f && z[1] == 0.0f);
    std::vector<float> untouched = {7};
    nt::gemm_with_f32_half(kern, nt::DType::F16, false, true, 0, 1, 5, 1.0f, nullptr, 5, nullptr, 5, 0.0f,
                           untouched.data(), 1);
    CHECK(untouched[0] == 7.0f);
  }
}

TEST_CASE(half_gemm_rejects_a_b_that_is_not_16_bit_with_a_dtype_error) {
  float c = 0;
  bool threw = false;
  try {
    nt::gemm_f32_half(nt::DType::F32, false, true, 1, 1, 1, 1.0f, &c, 1, nullptr, 1, 0.0f, &c, 1);
  } catch (const nt::Error& e) {
    threw = e.code() == nt::ErrorCode::DType;
  }
  CHECK(threw);
}

TEST_CASE(half_gemm_bits_do_not_depend_on_the_thread_count_or_neighbouring_rows) {
  const int before = nt::num_threads();
  const Case shapes[] = {{1, 3000, 777},  {2, 1500, 1030}, {3, 999, 2048}, {4, 2000, 515}, {13, 900, 300},
                         {32, 700, 129}, {64, 700, 300},   {600, 300, 700}, {70, 520, 333, true, false}};
  for (const auto& isa : isas_to_test())
    for (nt::DType fmt : kFormats) {
      const auto& kern = kernel_of(isa);
      for (const auto& s : shapes) {
        const int64_t lda = s.ta ? s.m : s.k, ldb = s.tb ? s.k : s.n;
        auto a = random_f32(s.m * s.k, 11);
        auto b = random_half(fmt, s.k * s.n, 12);
        auto c1 = random_f32(s.m * s.n, 13), c2 = c1;
        nt::set_num_threads(1);
        nt::gemm_with_f32_half(kern, fmt, s.ta, s.tb, s.m, s.n, s.k, 1.25f, a.data(), lda, b.data(), ldb, 0.5f,
                               c1.data(), s.n);
        nt::set_num_threads(2);
        nt::gemm_with_f32_half(kern, fmt, s.ta, s.tb, s.m, s.n, s.k, 1.25f, a.data(), lda, b.data(), ldb, 0.5f,
                               c2.data(), s.n);
        CHECK(c1 == c2);
        if (s.m > 1 && s.tb && s.m <= nt::kHalfStreamingRows) {
          // the streaming GEMV's rows are independent chains: the last row alone gives the same bits
          const std::vector<float> c0 = random_f32(s.m * s.n, 13), last(c1.end() - s.n, c1.end());
          std::vector<float> alone(c0.end() - s.n, c0.end());
          nt::gemm_with_f32_half(kern, fmt, false, true, 1, s.n, s.k, 1.25f, a.data() + (s.m - 1) * s.k, s.k,
                                 b.data(), s.k, 0.5f, alone.data(), s.n);
          CHECK(alone == last);
        }
      }
    }
  nt::set_num_threads(before);
}

TEST_CASE(half_gemm_public_entry_uses_the_selected_kernels) {
  const int64_t m = 3, n = 70, k = 90;
  auto a = random_f32(m * k, 21);
  auto b = random_half(nt::DType::BF16, n * k, 22);
  std::vector<float> c(m * n), r(m * n);
  nt::gemm_f32_half(nt::DType::BF16, false, true, m, n, k, 1.0f, a.data(), k, b.data(), k, 0.0f, c.data(), n);
  nt::gemm_with_f32_half(nt::half_gemm_kernel(nt::kernels()), nt::DType::BF16, false, true, m, n, k, 1.0f, a.data(), k,
                         b.data(), k, 0.0f, r.data(), n);
  CHECK(c == r);
}

TEST_MAIN()
