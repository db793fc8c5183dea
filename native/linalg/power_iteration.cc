// Block power iteration for the top k <= 4 singular triplets (see rsvd.h). Factors are kept
// transposed (k x m, k x n row-major) = column-major, the QR's layout.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "../core/scratch.h"
#include "factor_common.h"
#include "jacobi_svd.h"
#include "qr.h"
#include "rsvd.h"

namespace nt::linalg {
namespace {

constexpr int64_t kMaxPowerRank = 4;

template <typename T>
PowerIterationResult power_typed(const TensorView& av, const TensorView& uv, const TensorView& sv,
                                 const TensorView& vtv, int64_t iters, double tol, uint64_t seed) {
  const int64_t m = av.shape[0], n = av.shape[1], k = uv.shape[1];
  Scratch<T> a(static_cast<size_t>(m * n));
  load_matrix<T>("linalg.powerIteration", av, a.get(), n, false);

  Scratch<T> vt(static_cast<size_t>(k * n)), zt(static_cast<size_t>(k * n)), yt(static_cast<size_t>(k * m));
  Scratch<T> u0t(static_cast<size_t>(k * m)), ut(static_cast<size_t>(k * m));
  std::vector<double> sigma(static_cast<size_t>(k), 0.0);
  fill_normal_matrix(zt.get(), k, n, seed);
  orthonormal_basis(n, k, zt.get(), n, vt.get(), n);

  std::vector<double> z64(static_cast<size_t>(k * n)), p64(static_cast<size_t>(k * k)), w64(static_cast<size_t>(k * n));
  Scratch<T> pk(static_cast<size_t>(k * k));
  PowerIterationResult res;
  res.residual = std::numeric_limits<double>::quiet_NaN();
  // ||A v_i - s_i u_i|| / s_0 for the current triplets, from Y^T = V^T A^T already computed.
  auto residual = [&]() {
    if (sigma[0] == 0) return 0.0;  // A V = 0: the zero matrix (or a null start), nothing to refine
    double worst = 0;
    for (int64_t i = 0; i < k; ++i) {
      double ss = 0;
      for (int64_t j = 0; j < m; ++j) {
        const double d = static_cast<double>(yt[i * m + j]) - sigma[i] * static_cast<double>(ut[i * m + j]);
        ss += d * d;
      }
      worst = std::max(worst, std::sqrt(ss));
    }
    return worst / sigma[0];
  };

  for (int64_t it = 0; it <= iters; ++it) {
    // Y^T = V^T A^T (k x m)
    gemm_rm(false, true, k, m, n, T(1), vt.get(), n, a.get(), n, T(0), yt.get(), m);
    if (it > 0 && tol > 0) {
      res.residual = residual();
      if (res.residual <= tol) {
        res.converged = true;
        break;
      }
    }
    // with tol > 0, pass `iters` only measures the residual of the final triplets
    if (it == iters) break;
    // U0 = qr(A V); U0^T A = P S W^T; U = U0 P, V = W
    orthonormal_basis(m, k, yt.get(), m, u0t.get(), m);
    gemm_rm(false, false, k, n, m, T(1), u0t.get(), m, a.get(), n, T(0), zt.get(), n);
    for (int64_t i = 0; i < k * n; ++i) z64[i] = static_cast<double>(zt[i]);
    jacobi_svd(k, n, z64.data(), n, p64.data(), k, sigma.data(), w64.data(), n);
    for (int64_t i = 0; i < k * k; ++i) pk[i] = static_cast<T>(p64[i]);
    // U^T = P^T U0^T
    gemm_rm(true, false, k, m, k, T(1), pk.get(), k, u0t.get(), m, T(0), ut.get(), m);
    for (int64_t i = 0; i < k * n; ++i) vt[i] = static_cast<T>(w64[i]);
    res.iterations = it + 1;
    if (tol <= 0 && res.iterations == iters) break;  // fixed count: no residual pass
  }

  T* u = uv.ptr<T>();
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < k; ++j) u[i * k + j] = ut[j * m + i];
  T* s = sv.ptr<T>();
  for (int64_t j = 0; j < k; ++j) s[j] = static_cast<T>(sigma[j]);
  std::copy(vt.get(), vt.get() + k * n, vtv.ptr<T>());
  return res;
}

}  // namespace

void power_iteration_check(const TensorView& a, const TensorView& u, const TensorView& s, const TensorView& vt,
                           int64_t iters, double tol) {
  const char* op = "linalg.powerIteration";
  check_matrix_input(op, a, "a");
  const int64_t m = a.shape[0], n = a.shape[1];
  NT_CHECK(u.ndim == 2, Shape, "[", op, "] u must be 2-D, got shape ", shape_string(u));
  const int64_t k = u.shape[1];
  const int64_t kmax = std::min(kMaxPowerRank, std::min(m, n));
  NT_CHECK(k >= 1 && k <= kmax, Value, "[", op, "] k must be an integer in [1, min(4, m, n) = ", kmax, "], got ", k);
  NT_CHECK(iters >= 1, Value, "[", op, "] iters must be an integer >= 1, got ", iters);
  NT_CHECK(tol >= 0 && std::isfinite(tol), Value, "[", op, "] tol must be a finite number >= 0, got ", tol);
  const DType dt = compute_dtype(a.dtype);
  check_output(op, u, "u", 2, m, k, dt);
  check_output(op, s, "s", 1, k, 1, dt);
  check_output(op, vt, "vt", 2, k, n, dt);
}

PowerIterationResult power_iteration_run(const TensorView& a, const TensorView& u, const TensorView& s,
                                         const TensorView& vt, int64_t iters, double tol, uint64_t seed) {
  if (u.dtype == DType::F64) return power_typed<double>(a, u, s, vt, iters, tol, seed);
  return power_typed<float>(a, u, s, vt, iters, tol, seed);
}

}  // namespace nt::linalg
