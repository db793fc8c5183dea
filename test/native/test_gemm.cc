// GEMM: the packed, blocked path of every ISA this CPU supports (and the scalar set) against
// the f64-accumulating reference, over odd shapes, leading dimensions larger than the rows,
// all transposes, alpha/beta (beta == 0 must ignore NaN in C), the GEMV and tiny paths, and
// bit-identical results for 1 and 2 threads.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "check.h"
#include "core/thread_pool.h"
#include "cpu/gemm.h"
#include "cpu/gemm_kernel.h"
#include "cpu/kernels.h"

namespace {

// Small deterministic generator (xorshift64*), uniform in [-1, 1).
struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ull + 1) {}
  double next() {
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return static_cast<double>((s * 0x2545F4914F6CDD1Dull) >> 11) / 9007199254740992.0 * 2 - 1;
  }
};

template <typename T>
std::vector<T> random_vec(size_t n, uint64_t seed) {
  Rng r(seed);
  std::vector<T> v(n);
  for (auto& x : v) x = static_cast<T>(r.next());
  return v;
}

template <typename T>
void run(const nt::GemmKernel<T>& kern, bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha, const T* a,
         int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
  if constexpr (sizeof(T) == 4) nt::gemm_with_f32(kern, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  else nt::gemm_with_f64(kern, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

template <typename T>
void reference(bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda, const T* b,
               int64_t ldb, T beta, T* c, int64_t ldc) {
  if constexpr (sizeof(T) == 4) nt::gemm_reference_f32(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  else nt::gemm_reference_f64(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

// |C - C_ref| <= 4 * (k + 2) * eps * (|alpha| |A||B| + |beta| |C0|)_ij, elementwise
template <typename T>
int check_case(const nt::GemmKernel<T>& kern, bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha, T beta,
               int64_t pad, uint64_t seed) {
  const int64_t lda = (ta ? m : k) + pad, ldb = (tb ? k : n) + pad, ldc = n + pad;
  const int64_t arows = ta ? k : m, brows = tb ? n : k;
  auto a = random_vec<T>(static_cast<size_t>(std::max<int64_t>(arows * lda, 1)), seed);
  auto b = random_vec<T>(static_cast<size_t>(std::max<int64_t>(brows * ldb, 1)), seed + 1);
  auto c0 = random_vec<T>(static_cast<size_t>(std::max<int64_t>(m * ldc, 1)), seed + 2);
  if (beta == T(0))
    for (auto& x : c0) x = std::numeric_limits<T>::quiet_NaN();  // must not be read
  auto c = c0, cref = c0;
  run(kern, ta, tb, m, n, k, alpha, a.data(), lda, b.data(), ldb, beta, c.data(), ldc);
  reference(ta, tb, m, n, k, alpha, a.data(), lda, b.data(), ldb, beta, cref.data(), ldc);
  const double eps = std::numeric_limits<T>::epsilon();
  int bad = 0;
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double mag = 0;
      for (int64_t p = 0; p < k; ++p)
        mag += std::fabs(static_cast<double>(ta ? a[p * lda + i] : a[i * lda + p])) *
               std::fabs(static_cast<double>(tb ? b[j * ldb + p] : b[p * ldb + j]));
      mag = std::fabs(static_cast<double>(alpha)) * mag +
            (beta == T(0) ? 0.0 : std::fabs(static_cast<double>(beta) * c0[i * ldc + j]));
      const double err = std::fabs(static_cast<double>(c[i * ldc + j]) - static_cast<double>(cref[i * ldc + j]));
      if (!(err <= 4.0 * (k + 2) * eps * mag + 1e-300)) {
        if (bad++ < 3)
          std::printf("  %s %s ta=%d tb=%d m=%lld n=%lld k=%lld C[%lld,%lld] = %.9g, ref %.9g\n", kern.isa,
                      sizeof(T) == 4 ? "f32" : "f64", ta, tb, (long long)m, (long long)n, (long long)k, (long long)i,
                      (long long)j, (double)c[i * ldc + j], (double)cref[i * ldc + j]);
      }
    }
  // nothing outside the m x n window of C may change (padding columns)
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = n; j < ldc; ++j)
      if (!(std::isnan(c0[i * ldc + j]) ? std::isnan(c[i * ldc + j]) : c[i * ldc + j] == c0[i * ldc + j])) ++bad;
  return bad;
}

std::vector<std::string> isas_to_test() {
  std::vector<std::string> out = {"scalar"};
  for (const auto& isa : nt::supported_isas())
    if (isa != "scalar") out.push_back(isa);
  return out;
}

template <typename T>
const nt::GemmKernel<T>& kernel_of(const std::string& isa) {
  const nt::KernelTable t = nt::kernels_for(isa);
  if constexpr (sizeof(T) == 4) return nt::gemm_kernel_f32(t);
  else return nt::gemm_kernel_f64(t);
}

template <typename T>
void sweep_shapes() {
  const int64_t sizes[][3] = {{1, 1, 1},   {1, 7, 5},    {7, 1, 5},    {3, 3, 3},     {7, 33, 1},   {13, 17, 19},
                              {33, 7, 64}, {6, 16, 300}, {12, 32, 257}, {50, 70, 90}, {129, 65, 33}, {1, 300, 129},
                              {300, 1, 129}, {97, 131, 520}, {257, 40, 3},
                              // packed A panels whose depth leaves 3 (then 3 and 0) steps after the 4-step transposes
                              {24, 40, 7}, {36, 35, 263},
                              // three depth blocks at every kernel's kc (beta applied once, then accumulated)
                              {37, 70, 1100}};
  for (const auto& isa : isas_to_test()) {
    const auto& kern = kernel_of<T>(isa);
    uint64_t seed = 1;
    for (const auto& s : sizes)
      for (int t = 0; t < 4; ++t) {
        const bool ta = t & 1, tb = t & 2;
        CHECK(check_case<T>(kern, ta, tb, s[0], s[1], s[2], T(1), T(0), 0, seed++) == 0);
        CHECK(check_case<T>(kern, ta, tb, s[0], s[1], s[2], T(-0.75), T(1.5), 3, seed++) == 0);
      }
  }
}

}  // namespace

TEST_CASE(gemm_f32_matches_reference_for_every_isa_shape_and_transpose) { sweep_shapes<float>(); }
TEST_CASE(gemm_f64_matches_reference_for_every_isa_shape_and_transpose) { sweep_shapes<double>(); }

TEST_CASE(gemm_public_entry_points_use_the_best_kernels_and_match_the_reference) {
  CHECK(check_case<float>(nt::gemm_kernel_f32(nt::kernels()), false, true, 70, 90, 110, 2.0f, 0.5f, 1, 99) == 0);
  const int64_t m = 45, n = 38, k = 29;
  auto a = random_vec<float>(m * k, 5), b = random_vec<float>(k * n, 6);
  std::vector<float> c(m * n), r(m * n);
  nt::gemm_f32(false, false, m, n, k, 1.0f, a.data(), k, b.data(), n, 0.0f, c.data(), n);
  nt::gemm_with_f32(nt::gemm_kernel_f32(nt::kernels()), false, false, m, n, k, 1.0f, a.data(), k, b.data(), n, 0.0f,
                    r.data(), n);
  CHECK(c == r);
  // f64, A^T (A stored m x k) times a fresh m x n B
  auto bm = random_vec<double>(m * n, 7);
  std::vector<double> ad(a.begin(), a.end()), cd(k * n), rd(k * n);
  nt::gemm_f64(true, false, k, n, m, 1.0, ad.data(), k, bm.data(), n, 0.0, cd.data(), n);
  nt::gemm_reference_f64(true, false, k, n, m, 1.0, ad.data(), k, bm.data(), n, 0.0, rd.data(), n);
  for (int64_t i = 0; i < k * n; ++i) CHECK_CLOSE(cd[i], rd[i], 1e-13 * m);
}

TEST_CASE(gemm_k_zero_scales_c_by_beta_and_empty_shapes_touch_nothing) {
  for (const auto& isa : isas_to_test()) {
    const auto& kern = kernel_of<float>(isa);
    std::vector<float> c = {1, 2, 3, 4};
    nt::gemm_with_f32(kern, false, false, 2, 2, 0, 1.0f, nullptr, 1, nullptr, 2, 0.5f, c.data(), 2);
    CHECK(c[0] == 0.5f && c[3] == 2.0f);
    std::vector<float> z = {NAN, NAN};
    nt::gemm_with_f32(kern, false, false, 1, 2, 0, 1.0f, nullptr, 1, nullptr, 2, 0.0f, z.data(), 2);
    CHECK(z[0] == 0.0f && z[1] == 0.0f);
    std::vector<float> untouched = {7};
    nt::gemm_with_f32(kern, false, false, 0, 1, 5, 1.0f, nullptr, 5, nullptr, 1, 0.0f, untouched.data(), 1);
    nt::gemm_with_f32(kern, false, false, 1, 0, 5, 1.0f, nullptr, 5, nullptr, 1, 0.0f, untouched.data(), 1);
    CHECK(untouched[0] == 7.0f);
  }
}

TEST_CASE(gemm_propagates_nan_and_inf_from_a_and_b) {
  for (const auto& isa : isas_to_test()) {
    const auto& kern = kernel_of<float>(isa);
    for (int64_t s : {1, 5, 40}) {  // GEMV, direct and packed paths
      const int64_t m = s == 1 ? 1 : s, n = s + 2, k = s + 1;
      auto a = random_vec<float>(m * k, 3), b = random_vec<float>(k * n, 4);
      a[0] = NAN;                               // row 0 of C
      b[(k - 1) * n + n - 1] = INFINITY;        // column n-1 of C
      std::vector<float> c(m * n);
      nt::gemm_with_f32(kern, false, false, m, n, k, 1.0f, a.data(), k, b.data(), n, 0.0f, c.data(), n);
      for (int64_t j = 0; j < n; ++j) CHECK(std::isnan(c[j]));
      for (int64_t i = 1; i < m; ++i) CHECK(std::isinf(c[i * n + n - 1]) || std::isnan(c[i * n + n - 1]));
      if (m > 1) CHECK(std::isfinite(c[1 * n + 0]));
    }
  }
}

TEST_CASE(gemm_results_are_bit_identical_for_1_and_2_threads) {
  const int before = nt::num_threads();
  struct Shape { int64_t m, n, k; bool ta, tb; };
  const Shape shapes[] = {{200, 300, 700, false, false}, {300, 200, 300, false, true}, {1000, 70, 50, true, true}, {97, 513, 260, true, false}, {1, 3000, 500, false, false},
                          {1, 700, 900, false, true},   {900, 1, 400, false, false}, {520, 1, 300, true, false}};
  for (const auto& isa : isas_to_test()) {
    const auto& kern = kernel_of<float>(isa);
    for (const auto& s : shapes) {
      const int64_t lda = s.ta ? s.m : s.k, ldb = s.tb ? s.k : s.n;
      auto a = random_vec<float>(s.m * s.k, 11), b = random_vec<float>(s.k * s.n, 12);
      auto c1 = random_vec<float>(s.m * s.n, 13), c2 = c1;
      nt::set_num_threads(1);
      nt::gemm_with_f32(kern, s.ta, s.tb, s.m, s.n, s.k, 1.25f, a.data(), lda, b.data(), ldb, 0.5f, c1.data(), s.n);
      nt::set_num_threads(2);
      nt::gemm_with_f32(kern, s.ta, s.tb, s.m, s.n, s.k, 1.25f, a.data(), lda, b.data(), ldb, 0.5f, c2.data(), s.n);
      CHECK(c1 == c2);
    }
  }
  nt::set_num_threads(before);
}

// The threaded path (several row blocks, k blocks and column blocks) run from two threads at
// once and from inside a parallel region: the busy pool must make it run inline, never
// deadlock, and give the same bits as one thread.
TEST_CASE(gemm_threaded_path_is_safe_nested_and_concurrent) {
  const int before = nt::num_threads();
  const int64_t m = 600, n = 1100, k = 600;
  auto a = random_vec<float>(m * k, 21), b = random_vec<float>(k * n, 22);
  std::vector<float> ref(m * n);
  nt::set_num_threads(1);
  nt::gemm_f32(false, false, m, n, k, 1.0f, a.data(), k, b.data(), n, 0.0f, ref.data(), n);
  nt::set_num_threads(2);
  std::vector<float> c1(m * n), c2(m * n), c3(m * n), c4(m * n);
  std::thread t1([&] { nt::gemm_f32(false, false, m, n, k, 1.0f, a.data(), k, b.data(), n, 0.0f, c1.data(), n); });
  std::thread t2([&] { nt::gemm_f32(false, false, m, n, k, 1.0f, a.data(), k, b.data(), n, 0.0f, c2.data(), n); });
  t1.join();
  t2.join();
  nt::parallel_for(2, 1, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i)
      nt::gemm_f32(false, false, m, n, k, 1.0f, a.data(), k, b.data(), n, 0.0f, (i == 0 ? c3 : c4).data(), n);
  });
  CHECK(c1 == ref);
  CHECK(c2 == ref);
  CHECK(c3 == ref);
  CHECK(c4 == ref);
  nt::set_num_threads(before);
}

TEST_MAIN()
