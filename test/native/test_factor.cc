// Kernel tests of native/linalg's factorization core: Householder QR + Q formation, the compact
// WY block apply against reflector-by-reflector application, Cholesky (incl. the failing pivot),
// blocked triangular solves and inverse, one-sided Jacobi SVD.
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "check.h"
#include "linalg/cholesky.h"
#include "linalg/householder.h"
#include "linalg/jacobi_svd.h"
#include "linalg/qr.h"
#include "linalg/triangular.h"

using namespace nt::linalg;

namespace {

std::vector<double> random_matrix(int64_t rows, int64_t cols, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<double> dist(-1.0, 1.0);
  std::vector<double> a(static_cast<size_t>(rows * cols));
  for (double& x : a) x = dist(gen);
  return a;
}

// max |Q^T Q - I| for column-major q (m x k, ld m)
double ortho_error_cm(const std::vector<double>& q, int64_t m, int64_t k) {
  double worst = 0;
  for (int64_t i = 0; i < k; ++i)
    for (int64_t j = 0; j < k; ++j) {
      double s = 0;
      for (int64_t r = 0; r < m; ++r) s += q[r + i * m] * q[r + j * m];
      worst = std::max(worst, std::fabs(s - (i == j ? 1.0 : 0.0)));
    }
  return worst;
}

}  // namespace

TEST_CASE(qr_reconstructs_and_q_is_orthonormal) {
  for (auto [m, n] : {std::pair<int64_t, int64_t>{1, 1}, {5, 3}, {97, 97}, {130, 70}, {40, 120}}) {
    std::vector<double> a = random_matrix(m, n, 1), f = a;  // column-major m x n
    const int64_t k = std::min(m, n);
    std::vector<double> tau(static_cast<size_t>(k)), q(static_cast<size_t>(m * k));
    householder_qr(m, n, f.data(), m, tau.data());
    householder_form_q(m, k, k, f.data(), m, tau.data(), q.data(), m);
    CHECK(ortho_error_cm(q, m, k) < 1e-13);
    double err = 0, norm = 0;
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double s = 0;
        for (int64_t t = 0; t <= std::min(j, k - 1); ++t) s += q[i + t * m] * f[t + j * m];
        err = std::max(err, std::fabs(s - a[i + j * m]));
        norm = std::max(norm, std::fabs(a[i + j * m]));
      }
    CHECK(err < 1e-13 * norm * n);
  }
}

TEST_CASE(block_apply_equals_reflector_by_reflector) {
  const int64_t m = 50, k = 7, n = 9;
  std::vector<double> a = random_matrix(m, k, 2), tau(k);
  householder_qr(m, k, a.data(), m, tau.data());
  std::vector<double> v(m * k), t(k * k), work(m * std::max(k, n));
  householder_copy_v(m, k, a.data(), m, v.data(), m);
  householder_form_t(m, k, v.data(), m, tau.data(), t.data(), k, work.data());
  for (bool trans : {false, true}) {
    std::vector<double> c = random_matrix(m, n, 3), d = c;
    householder_apply_block(ReflectSide::Left, trans, m, n, k, v.data(), m, t.data(), k, c.data(), m, work.data());
    // H = H_0 ... H_{k-1}: H C applies H_{k-1} first; H^T C applies H_0 first
    for (int64_t s = 0; s < k; ++s) {
      const int64_t j = trans ? s : k - 1 - s;
      householder_apply_left(m, n, v.data() + j * m, tau[j], d.data(), m);
    }
    double worst = 0;
    for (size_t i = 0; i < c.size(); ++i) worst = std::max(worst, std::fabs(c[i] - d[i]));
    CHECK(worst < 1e-13);
  }
  // right side: C H^T == (H C^T)^T
  std::vector<double> c = random_matrix(n, m, 4), d(m * n);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < m; ++j) d[j + i * m] = c[i + j * n];
  householder_apply_block(ReflectSide::Right, true, n, m, k, v.data(), m, t.data(), k, c.data(), n, work.data());
  householder_apply_block(ReflectSide::Left, false, m, n, k, v.data(), m, t.data(), k, d.data(), m, work.data());
  double worst = 0;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < m; ++j) worst = std::max(worst, std::fabs(c[i + j * n] - d[j + i * m]));
  CHECK(worst < 1e-13);
}

TEST_CASE(householder_generate_annihilates_and_survives_tiny_input) {
  for (double scale : {1.0, 1e-300, 1e300}) {
    std::vector<double> x = {3 * scale, 4 * scale, 12 * scale};
    double alpha = x[0];
    const double tau = householder_generate<double>(3, alpha, x.data() + 1, 1);
    CHECK_CLOSE(std::fabs(alpha) / scale, 13.0, 1e-12);
    CHECK(tau >= 1 && tau <= 2);
    CHECK(std::isfinite(x[1]) && std::isfinite(x[2]));
  }
  double alpha = 2;
  double zero = 0;
  CHECK(householder_generate<double>(2, alpha, &zero, 1) == 0);
}

TEST_CASE(cholesky_factors_and_reports_the_failing_pivot) {
  const int64_t n = 150;
  std::vector<double> g = random_matrix(n, n, 5), a(n * n, 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double s = 0;
      for (int64_t t = 0; t < n; ++t) s += g[i * n + t] * g[j * n + t];
      a[i * n + j] = s / n + (i == j ? 1.0 : 0.0);
    }
  std::vector<double> l = a;
  double pivot = 0;
  CHECK(cholesky_lower(n, l.data(), n, &pivot) == -1);
  double err = 0;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j <= i; ++j) {
      double s = 0;
      for (int64_t t = 0; t <= j; ++t) s += l[i * n + t] * l[j * n + t];
      err = std::max(err, std::fabs(s - a[i * n + j]));
    }
  CHECK(err < 1e-13);
  // make pivot 90 fail: lower a(90, 90) by its pivot l(90, 90)^2 plus 0.25
  std::vector<double> b = a;
  b[90 * n + 90] -= l[90 * n + 90] * l[90 * n + 90] + 0.25;
  CHECK(cholesky_lower(n, b.data(), n, &pivot) == 90);
  CHECK_CLOSE(pivot, -0.25, 1e-10);
}

TEST_CASE(triangular_solves_and_inverse) {
  const int64_t n = 140, k = 3;
  std::vector<double> l = random_matrix(n, n, 6);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < n; ++j) l[i * n + j] /= n;
    l[i * n + i] = 1 + std::fabs(l[i * n + i]) * n;
  }
  std::vector<double> b = random_matrix(n, k, 7), x = b;
  solve_lower(n, k, l.data(), n, false, x.data(), k);
  double err = 0;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t c = 0; c < k; ++c) {
      double s = 0;
      for (int64_t t = 0; t <= i; ++t) s += l[i * n + t] * x[t * k + c];
      err = std::max(err, std::fabs(s - b[i * k + c]));
    }
  CHECK(err < 1e-13);
  x = b;
  solve_upper(n, k, l.data(), n, true, x.data(), k);  // unit upper: reads only the strict upper part
  err = 0;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t c = 0; c < k; ++c) {
      double s = x[i * k + c];
      for (int64_t t = i + 1; t < n; ++t) s += l[i * n + t] * x[t * k + c];
      err = std::max(err, std::fabs(s - b[i * k + c]));
    }
  CHECK(err < 1e-12);
  std::vector<double> inv = l;
  triangular_lower_inverse(n, inv.data(), n);
  err = 0;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double s = 0;
      for (int64_t t = j; t <= i; ++t) s += l[i * n + t] * inv[t * n + j];
      err = std::max(err, std::fabs(s - (i == j ? 1.0 : 0.0)));
      if (j > i) CHECK(inv[i * n + j] == 0);
    }
  CHECK(err < 1e-13);
}

TEST_CASE(jacobi_svd_is_accurate_for_graded_and_rank_deficient_input) {
  // A = diag(1, 1e-5, ..., 1e-20) mixed by a rotation on each side: tiny values to relative accuracy
  const int64_t m = 8, n = 5;
  std::vector<double> qa = random_matrix(m, m, 8), qb = random_matrix(n, n, 9), tau(8);
  householder_qr(m, m, qa.data(), m, tau.data());
  std::vector<double> q1(m * m), q2(n * n);
  householder_form_q(m, m, m, qa.data(), m, tau.data(), q1.data(), m);
  householder_qr(n, n, qb.data(), n, tau.data());
  householder_form_q(n, n, n, qb.data(), n, tau.data(), q2.data(), n);
  const double sigma[5] = {1, 1e-5, 1e-10, 1e-15, 1e-20};
  std::vector<double> a(m * n, 0.0);  // row-major A = Q1(:, :5) diag(sigma) Q2^T
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j)
      for (int64_t t = 0; t < n; ++t) a[i * n + j] += q1[i + t * m] * sigma[t] * q2[j + t * n];
  std::vector<double> u(m * n), s(n), vt(n * n);
  jacobi_svd(m, n, a.data(), n, u.data(), n, s.data(), vt.data(), n);
  // relative accuracy is limited by how accurately A itself was formed (~eps * s_0 per entry)
  CHECK_CLOSE(s[0], 1.0, 1e-14);
  CHECK_CLOSE(s[1] / 1e-5, 1.0, 1e-9);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double uu = 0, vv = 0;
      for (int64_t r = 0; r < m; ++r) uu += u[r * n + i] * u[r * n + j];
      for (int64_t r = 0; r < n; ++r) vv += vt[i * n + r] * vt[j * n + r];
      CHECK_CLOSE(uu, i == j ? 1.0 : 0.0, 1e-13);
      CHECK_CLOSE(vv, i == j ? 1.0 : 0.0, 1e-13);
    }
  // wide and rank-deficient (a zero row and duplicate rows): orthonormal completion
  std::vector<double> w = {1, 2, 3, 4, 1, 2, 3, 4, 0, 0, 0, 0};  // 3 x 4
  std::vector<double> uw(9), sw(3), vw(12);
  jacobi_svd(3, 4, w.data(), 4, uw.data(), 3, sw.data(), vw.data(), 4);
  CHECK_CLOSE(sw[0], std::sqrt(60.0), 1e-13);
  CHECK(sw[1] < 1e-14 && sw[2] == 0);
  for (int64_t i = 0; i < 3; ++i)
    for (int64_t j = 0; j < 3; ++j) {
      double uu = 0, vv = 0;
      for (int64_t r = 0; r < 3; ++r) uu += uw[r * 3 + i] * uw[r * 3 + j];
      for (int64_t r = 0; r < 4; ++r) vv += vw[i * 4 + r] * vw[j * 4 + r];
      CHECK_CLOSE(uu, i == j ? 1.0 : 0.0, 1e-13);
      CHECK_CLOSE(vv, i == j ? 1.0 : 0.0, 1e-13);
    }
}

TEST_MAIN()
