// Dense SVD kernels: the AVX2 hot loops against their portable definitions, and the full
// decomposition against its invariants (reconstruction, orthogonality, ordering) for tall,
// wide, square, thin/full and values-only calls in f32 and f64.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "check.h"
#include "linalg/svd.h"
#include "linalg/svd_kernels.h"

using nt::linalg::svd_dense;

namespace {

template <typename T>
std::vector<T> random_matrix(int64_t m, int64_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> dist;
  std::vector<T> a(static_cast<size_t>(m * n));
  for (auto& x : a) x = static_cast<T>(dist(rng));
  return a;
}

struct Errors {
  double recon = 0, orth_u = 0, orth_v = 0;
  bool sorted = true;
};

// ||A - U S V^T||_F / ||A||_F and max |U^T U - I|, |V^T V - I| in f64.
template <typename T>
Errors check_svd(int64_t m, int64_t n, const std::vector<T>& a, bool full) {
  const int64_t k = std::min(m, n), ku = full ? m : k, kv = full ? n : k;
  std::vector<T> s(k), u(m * ku), vt(kv * n);
  svd_dense<T>(m, n, a.data(), s.data(), u.data(), vt.data(), full);
  Errors e;
  double num = 0, den = 0;
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double acc = 0;
      for (int64_t p = 0; p < k; ++p) acc += double(u[i * ku + p]) * s[p] * vt[p * n + j];
      num += (acc - a[i * n + j]) * (acc - a[i * n + j]);
      den += double(a[i * n + j]) * a[i * n + j];
    }
  e.recon = den > 0 ? std::sqrt(num / den) : std::sqrt(num);
  for (int64_t p = 0; p < ku; ++p)
    for (int64_t q = 0; q < ku; ++q) {
      double acc = 0;
      for (int64_t i = 0; i < m; ++i) acc += double(u[i * ku + p]) * u[i * ku + q];
      e.orth_u = std::max(e.orth_u, std::abs(acc - (p == q)));
    }
  for (int64_t p = 0; p < kv; ++p)
    for (int64_t q = 0; q < kv; ++q) {
      double acc = 0;
      for (int64_t j = 0; j < n; ++j) acc += double(vt[p * n + j]) * vt[q * n + j];
      e.orth_v = std::max(e.orth_v, std::abs(acc - (p == q)));
    }
  for (int64_t p = 0; p + 1 < k; ++p) e.sorted = e.sorted && s[p] >= s[p + 1] && s[p + 1] >= 0;
  // values-only path agrees
  std::vector<T> s2(k);
  svd_dense<T>(m, n, a.data(), s2.data(), nullptr, nullptr, false);
  for (int64_t p = 0; p < k; ++p)
    e.recon = std::max(e.recon, std::abs(double(s2[p]) - s[p]) / std::max<double>(s[0], 1e-300) * 0.1);
  return e;
}

template <typename T>
void run_shapes(double tol) {
  const int64_t shapes[][2] = {{1, 1}, {2, 2}, {7, 3}, {3, 7}, {33, 33}, {129, 65}, {65, 129}, {200, 40}, {40, 200}, {97, 96}};
  unsigned seed = 1;
  for (auto& sh : shapes) {
    for (bool full : {false, true}) {
      const auto a = random_matrix<T>(sh[0], sh[1], seed++);
      const Errors e = check_svd<T>(sh[0], sh[1], a, full);
      const bool ok = e.recon <= tol && e.orth_u <= tol && e.orth_v <= tol && e.sorted;
      if (!ok)
        std::printf("  %lldx%lld full=%d recon %.3g orth_u %.3g orth_v %.3g sorted %d\n", (long long)sh[0],
                    (long long)sh[1], full, e.recon, e.orth_u, e.orth_v, e.sorted);
      CHECK(ok);
    }
  }
}

}  // namespace

TEST_CASE(svd_f64_shapes) { run_shapes<double>(1e-12); }
TEST_CASE(svd_f32_shapes) { run_shapes<float>(1e-5); }

TEST_CASE(svd_rank_deficient_and_zero) {
  // rank 2 matrix 20 x 12 and the zero matrix: U, V stay orthonormal.
  const int64_t m = 20, n = 12;
  auto x = random_matrix<double>(m, 2, 5), y = random_matrix<double>(2, n, 6);
  std::vector<double> a(m * n, 0.0);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) a[i * n + j] = x[i * 2] * y[j] + x[i * 2 + 1] * y[n + j];
  Errors e = check_svd<double>(m, n, a, true);
  CHECK(e.recon <= 1e-12 && e.orth_u <= 1e-12 && e.orth_v <= 1e-12);
  std::vector<double> z(m * n, 0.0);
  e = check_svd<double>(m, n, z, false);
  CHECK(e.recon == 0 && e.orth_u <= 1e-15 && e.orth_v <= 1e-15);
}

TEST_CASE(gemv_and_rotations_match_portable_definition) {
  const int64_t nr = 37, nc = 301, ld = 310;
  auto M = random_matrix<float>(nr, ld, 9);
  auto x = random_matrix<float>(1, std::max(nr, nc), 10);
  std::vector<float> y(nc, 0.5f), yn(nr, 0.25f);
  nt::svd_detail::gemv_t(nr, nc, 2.0f, M.data(), ld, x.data(), 1.0f, y.data());
  for (int64_t c = 0; c < nc; ++c) {
    double ref = 0.5;
    for (int64_t r = 0; r < nr; ++r) ref += 2.0 * x[r] * M[r * ld + c];
    CHECK_CLOSE(y[c], ref, 1e-4);
  }
  nt::svd_detail::gemv_n(nr, nc, -1.0f, M.data(), ld, x.data(), 2.0f, yn.data());
  for (int64_t r = 0; r < nr; ++r) {
    double ref = 0.5;
    for (int64_t c = 0; c < nc; ++c) ref -= double(x[c]) * M[r * ld + c];
    CHECK_CLOSE(yn[r], ref, 1e-4);
  }
  // Two sweeps (forward then backward) on rows of a 9 x 75 matrix vs the scalar formula.
  const int64_t rows = 9, cols = 75;
  auto X = random_matrix<double>(rows, cols, 11);
  auto R = X;
  std::vector<double> cs(16), sn(16);
  for (int i = 0; i < 16; ++i) {
    cs[i] = std::cos(0.3 * i + 0.1);
    sn[i] = std::sin(0.3 * i + 0.1);
  }
  nt::svd_detail::RotationSweep sw[2] = {{1, 7, 0, true}, {0, 8, 7, false}};
  nt::svd_detail::apply_sweeps(X.data(), cols, 0, cols, sw, 2, cs.data(), sn.data());
  for (auto& w : sw)
    for (int64_t t = 0; t < w.count; ++t) {
      const int64_t j = w.forward ? t : w.count - 1 - t;
      for (int64_t c = 0; c < cols; ++c) {
        double& a = R[(w.first + j) * cols + c];
        double& b = R[(w.first + j + 1) * cols + c];
        const double xa = a, yb = b;
        a = cs[w.offset + j] * xa + sn[w.offset + j] * yb;
        b = cs[w.offset + j] * yb - sn[w.offset + j] * xa;
      }
    }
  double err = 0;
  for (size_t i = 0; i < X.size(); ++i) err = std::max(err, std::abs(X[i] - R[i]));
  CHECK(err <= 1e-13);
}

TEST_MAIN()
