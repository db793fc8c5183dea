// Kernel tests of the eigh stages: the symv kernel against its scalar reference, the tridiagonal
// solvers (divide and conquer vs QL, known spectra, heavy deflation), and tridiagonalize +
// back-transformation reproducing A = Q T Q^T.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "check.h"
#include "cpu/kernels.h"
#include "core/thread_pool.h"
#include "linalg/eigh.h"
#include <string>
#include "linalg/tridiagonal_dc.h"
#include "linalg/tridiagonalize.h"

namespace {

constexpr double kPi = 3.14159265358979323846;

// max_j ||T z_j - d_j z_j|| / ||T||_max and max |Z^T Z - I| for a tridiagonal T (column-major z).
void check_tridiagonal(int64_t n, const std::vector<double>& d0, const std::vector<double>& e0,
                       const std::vector<double>& d, const std::vector<double>& z, double tol) {
  double tnorm = 1e-300;
  for (int64_t i = 0; i < n; ++i) tnorm = std::max({tnorm, std::fabs(d0[i]), i + 1 < n ? std::fabs(e0[i]) : 0.0});
  double res = 0, orth = 0;
  for (int64_t j = 0; j < n; ++j) {
    const double* zj = z.data() + j * n;
    double s = 0;
    for (int64_t i = 0; i < n; ++i) {
      double t = d0[i] * zj[i] - d[j] * zj[i];
      if (i > 0) t += e0[i - 1] * zj[i - 1];
      if (i + 1 < n) t += e0[i] * zj[i + 1];
      s += t * t;
    }
    res = std::max(res, std::sqrt(s) / tnorm);
    for (int64_t k = j; k < n; ++k) {
      double dot = 0;
      for (int64_t i = 0; i < n; ++i) dot += zj[i] * z[i + k * n];
      orth = std::max(orth, std::fabs(dot - (j == k ? 1.0 : 0.0)));
    }
  }
  CHECK(res <= tol);
  CHECK(orth <= tol);
  for (int64_t i = 0; i + 1 < n; ++i) CHECK(d[i] <= d[i + 1]);
  if (!(res <= tol && orth <= tol)) std::printf("  n=%lld residual %.3g orthogonality %.3g\n", (long long)n, res, orth);
}

void run_dc(const std::vector<double>& d0, const std::vector<double>& e0, double tol) {
  const int64_t n = static_cast<int64_t>(d0.size());
  std::vector<double> d = d0, e = e0, z(n * n);
  e.resize(n);
  nt::tridiagonal_eigen_dc(n, d.data(), e.data(), z.data(), n);
  check_tridiagonal(n, d0, e0, d, z, tol);
}

}  // namespace

TEST_CASE(dc_matches_known_spectrum_of_the_second_difference_matrix) {
  for (int64_t n : {1, 2, 3, 26, 100, 257}) {
    std::vector<double> d0(n, 2.0), e0(n > 0 ? n - 1 : 0, -1.0);
    std::vector<double> d = d0, e = e0, z(n * n);
    e.resize(n);
    nt::tridiagonal_eigen_dc(n, d.data(), e.data(), z.data(), n);
    for (int64_t k = 0; k < n; ++k) CHECK_CLOSE(d[k], 2 - 2 * std::cos((k + 1) * kPi / (n + 1)), 1e-13);
    check_tridiagonal(n, d0, e0, d, z, 1e-13);
  }
}

TEST_CASE(dc_random_tridiagonals_orthogonal_and_accurate) {
  std::mt19937_64 rng(7);
  std::normal_distribution<double> g;
  for (int64_t n : {30, 77, 200, 513}) {
    std::vector<double> d0(n), e0(n - 1);
    for (auto& x : d0) x = g(rng);
    for (auto& x : e0) x = g(rng);
    run_dc(d0, e0, 1e-13);
  }
}

TEST_CASE(dc_heavy_deflation_repeated_and_tiny_couplings) {
  // Wilkinson W+ (pairs of nearly equal eigenvalues), glued copies with tiny couplings, and a
  // matrix with zero couplings (every merge deflates completely)
  for (int64_t n : {41, 201}) {
    std::vector<double> d0(n), e0(n - 1, 1.0);
    for (int64_t i = 0; i < n; ++i) d0[i] = std::fabs(static_cast<double>(i - n / 2));
    run_dc(d0, e0, 1e-13);
  }
  {
    const int64_t blocks = 8, w = 21, n = blocks * w;
    std::vector<double> d0(n), e0(n - 1, 1.0);
    for (int64_t i = 0; i < n; ++i) d0[i] = std::fabs(static_cast<double>(i % w - w / 2));
    for (int64_t b = 1; b < blocks; ++b) e0[b * w - 1] = 1e-14;
    run_dc(d0, e0, 1e-13);
  }
  {
    const int64_t n = 150;
    std::vector<double> d0(n), e0(n - 1, 0.0);
    for (int64_t i = 0; i < n; ++i) d0[i] = static_cast<double>((i * 37) % 11);
    run_dc(d0, e0, 1e-14);
  }
  {
    const int64_t n = 300;  // constant diagonal: many equal poles
    std::vector<double> d0(n, 1.0), e0(n - 1, 0.0);
    for (int64_t i = 0; i < n - 1; i += 3) e0[i] = 1e-3;
    run_dc(d0, e0, 1e-13);
  }
}

TEST_CASE(dc_graded_spectrum) {
  const int64_t n = 120;
  std::vector<double> d0(n), e0(n - 1);
  for (int64_t i = 0; i < n; ++i) d0[i] = std::pow(10.0, -8.0 * i / (n - 1));
  for (int64_t i = 0; i + 1 < n; ++i) e0[i] = 0.1 * std::sqrt(d0[i] * d0[i + 1]);
  run_dc(d0, e0, 1e-13);
}

TEST_CASE(values_only_ql_matches_dc) {
  std::mt19937_64 rng(3);
  std::normal_distribution<double> g;
  const int64_t n = 300;
  std::vector<double> d0(n), e0(n - 1);
  for (auto& x : d0) x = g(rng);
  for (auto& x : e0) x = g(rng);
  std::vector<double> d1 = d0, e1 = e0, d2 = d0, e2 = e0, z(n * n);
  e1.resize(n);
  e2.resize(n);
  nt::tridiagonal_eigenvalues(n, d1.data(), e1.data());
  nt::tridiagonal_eigen_dc(n, d2.data(), e2.data(), z.data(), n);
  for (int64_t i = 0; i < n; ++i) CHECK_CLOSE(d1[i], d2[i], 1e-13);
}

TEST_CASE(symv_kernel_matches_scalar_reference) {
  const nt::KernelTable ref = nt::kernels_for("scalar");
  for (const std::string& isa : nt::supported_isas()) {
  const nt::KernelTable k = nt::kernels_for(isa);
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> u(-1, 1);
  for (int64_t m : {1, 3, 4, 5, 9, 31, 64, 100}) {
    const int64_t lda = m + 3;
    std::vector<double> a(lda * m), x(m), y1(m, 0.5), y2(m, 0.5);
    std::vector<float> af(lda * m), xf(m), yf1(m, 0.5f), yf2(m, 0.5f);
    for (size_t i = 0; i < a.size(); ++i) af[i] = static_cast<float>(a[i] = u(rng));
    for (int64_t i = 0; i < m; ++i) xf[i] = static_cast<float>(x[i] = u(rng));
    const int64_t c0 = m / 3, c1 = m;
    k.eigh_symv_f64(a.data(), lda, m, c0, c1, x.data(), y1.data());
    ref.eigh_symv_f64(a.data(), lda, m, c0, c1, x.data(), y2.data());
    k.eigh_symv_f32(af.data(), lda, m, c0, c1, xf.data(), yf1.data());
    ref.eigh_symv_f32(af.data(), lda, m, c0, c1, xf.data(), yf2.data());
    for (int64_t i = 0; i < m; ++i) {
      CHECK_CLOSE(y1[i], y2[i], 1e-13 * m);
      CHECK_CLOSE(yf1[i], yf2[i], 1e-5 * m);
    }
  }
  }
}

// tridiagonalize + apply Q to the tridiagonal eigenvectors: a full eigendecomposition of A.
template <typename T>
void check_pipeline(int64_t n, double tol) {
  std::mt19937_64 rng(n);
  std::uniform_real_distribution<double> u(-1, 1);
  std::vector<double> A(n * n);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j <= i; ++j) A[i * n + j] = A[j * n + i] = u(rng);
  std::vector<T> a(n * n), vals(n), vecs(n * n);
  for (int64_t i = 0; i < n * n; ++i) a[i] = static_cast<T>(A[i]);
  nt::TensorView av, vv, ev;
  const nt::DType dt = sizeof(T) == 4 ? nt::DType::F32 : nt::DType::F64;
  av.data = a.data(); av.dtype = dt; av.ndim = 2; av.shape[0] = av.shape[1] = n; av.strides[0] = n; av.strides[1] = 1;
  vv.data = vals.data(); vv.dtype = dt; vv.ndim = 1; vv.shape[0] = n; vv.strides[0] = 1;
  ev.data = vecs.data(); ev.dtype = dt; ev.ndim = 2; ev.shape[0] = ev.shape[1] = n; ev.strides[0] = n; ev.strides[1] = 1;
  nt::eigh_check(av, vv, &ev, 0);
  nt::eigh_run(av, vv, &ev, 0);
  double anorm = 0, res = 0, orth = 0;
  for (int64_t j = 0; j < n; ++j) anorm = std::max(anorm, std::fabs(static_cast<double>(vals[j])));
  for (int64_t c = 0; c < n; ++c) {
    double s = 0;
    for (int64_t i = 0; i < n; ++i) {
      double t = -static_cast<double>(vals[c]) * vecs[i * n + c];
      for (int64_t j = 0; j < n; ++j) t += static_cast<double>(a[i * n + j]) * vecs[j * n + c];
      s += t * t;
    }
    res = std::max(res, std::sqrt(s) / anorm);
    for (int64_t c2 = c; c2 < n; ++c2) {
      double dot = 0;
      for (int64_t i = 0; i < n; ++i) dot += static_cast<double>(vecs[i * n + c]) * vecs[i * n + c2];
      orth = std::max(orth, std::fabs(dot - (c == c2 ? 1 : 0)));
    }
  }
  CHECK(res <= tol);
  CHECK(orth <= tol);
  if (!(res <= tol && orth <= tol))
    std::printf("  n=%lld %s residual %.3g orthogonality %.3g\n", (long long)n, sizeof(T) == 4 ? "f32" : "f64", res, orth);
}

TEST_CASE(eigh_pipeline_f64) {
  for (int64_t n : {1, 2, 5, 33, 70, 200}) check_pipeline<double>(n, 1e-12);
}

TEST_CASE(eigh_pipeline_f32) {
  for (int64_t n : {1, 2, 5, 33, 70, 200}) check_pipeline<float>(n, 1e-5);
}

TEST_CASE(secular_kernels_match_scalar_reference) {
  const nt::KernelTable ref = nt::kernels_for("scalar");
  for (const std::string& isa : nt::supported_isas()) {
  const nt::KernelTable k = nt::kernels_for(isa);
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<double> u(-1, 1);
  for (int64_t n : {1, 7, 8, 9, 100}) {
    std::vector<double> p(n), w(n), o1(n), o2(n);
    for (int64_t i = 0; i < n; ++i) {
      p[i] = 2.0 * i + 1 + 0.5 * u(rng);
      w[i] = u(rng);
    }
    double s1[3] = {0, 0, 0}, s2[3] = {0, 0, 0};
    k.eigh_secular_sums(p.data(), w.data(), n, 0.25, s1);
    ref.eigh_secular_sums(p.data(), w.data(), n, 0.25, s2);
    for (int q = 0; q < 3; ++q) CHECK_CLOSE(s1[q], s2[q], 1e-13 * (1 + std::fabs(s2[2])) * n);
    const double q1 = k.eigh_divide_sumsq(w.data(), p.data(), o1.data(), n);
    const double q2 = ref.eigh_divide_sumsq(w.data(), p.data(), o2.data(), n);
    CHECK_CLOSE(q1, q2, 1e-13 * q2 * n);
    for (int64_t i = 0; i < n; ++i) CHECK(o1[i] == o2[i]);
  }
  }
}

TEST_MAIN()
