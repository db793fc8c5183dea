// Randomized truncated SVD (see rsvd.h). The tall-skinny factors are kept transposed (l x m,
// l x n row-major), which is exactly the column-major layout the Householder QR works in, so no
// factor is ever transposed in memory: Y^T row-major == Y column-major.
#include "rsvd.h"

#include <algorithm>
#include <vector>

#include "../core/scratch.h"
#include "factor_common.h"
#include "jacobi_svd.h"
#include "qr.h"

namespace nt::linalg {
namespace {

template <typename T>
void rsvd_typed(const TensorView& av, const TensorView& uv, const TensorView& sv, const TensorView& vtv,
                int64_t oversample, int64_t power_iters, uint64_t seed) {
  const int64_t m = av.shape[0], n = av.shape[1], r = uv.shape[1];
  const int64_t l = std::min(r + oversample, std::min(m, n));
  Scratch<T> a(static_cast<size_t>(m * n));
  load_matrix<T>("linalg.rsvd", av, a.get(), n, false);

  Scratch<T> omega_t(static_cast<size_t>(l * n)), yt(static_cast<size_t>(l * m)), qt(static_cast<size_t>(l * m));
  Scratch<T> zt(static_cast<size_t>(l * n)), pt(static_cast<size_t>(l * n));
  fill_normal_matrix(omega_t.get(), l, n, seed);
  // Y^T = Omega^T A^T; Q = qr(Y)
  gemm_rm(false, true, l, m, n, T(1), omega_t.get(), n, a.get(), n, T(0), yt.get(), m);
  orthonormal_basis(m, l, yt.get(), m, qt.get(), m);
  for (int64_t it = 0; it < power_iters; ++it) {
    // Z^T = Q^T A, P = qr(Z); Y^T = P^T A^T, Q = qr(Y): re-orthonormalised after every product,
    // so the small singular directions are not washed out by rounding (HMT Alg. 4.4).
    gemm_rm(false, false, l, n, m, T(1), qt.get(), m, a.get(), n, T(0), zt.get(), n);
    orthonormal_basis(n, l, zt.get(), n, pt.get(), n);
    gemm_rm(false, true, l, m, n, T(1), pt.get(), n, a.get(), n, T(0), yt.get(), m);
    orthonormal_basis(m, l, yt.get(), m, qt.get(), m);
  }
  // B = Q^T A (l x n) is B^T column-major (n x l): its thin QR B^T = Q2 R leaves an l x l core.
  T* b = zt.get();
  gemm_rm(false, false, l, n, m, T(1), qt.get(), m, a.get(), n, T(0), b, n);
  Scratch<T> tau(static_cast<size_t>(l));
  householder_qr(n, l, b, n, tau.get());
  std::vector<double> core(static_cast<size_t>(l * l), 0.0);
  for (int64_t i = 0; i < l; ++i)
    for (int64_t j = 0; j <= i; ++j) core[i * l + j] = static_cast<double>(b[j + i * n]);  // R^T
  T* q2t = pt.get();
  householder_form_q(n, l, l, b, n, tau.get(), q2t, n);

  std::vector<double> uc(static_cast<size_t>(l * l)), sc(static_cast<size_t>(l)), wt(static_cast<size_t>(l * l));
  jacobi_svd(l, l, core.data(), l, uc.data(), l, sc.data(), wt.data(), l);
  // B = R^T Q2^T = Uc S (Wt Q2^T): U = Q Uc(:, :r), Vt = Wt(:r, :) Q2^T
  Scratch<T> ucr(static_cast<size_t>(l * r)), wtr(static_cast<size_t>(r * l));
  for (int64_t i = 0; i < l; ++i)
    for (int64_t j = 0; j < r; ++j) ucr[i * r + j] = static_cast<T>(uc[i * l + j]);
  for (int64_t i = 0; i < r * l; ++i) wtr[i] = static_cast<T>(wt[i]);
  gemm_rm(true, false, m, r, l, T(1), qt.get(), m, ucr.get(), r, T(0), uv.ptr<T>(), r);
  gemm_rm(false, false, r, n, l, T(1), wtr.get(), l, q2t, n, T(0), vtv.ptr<T>(), n);
  T* s = sv.ptr<T>();
  for (int64_t i = 0; i < r; ++i) s[i] = static_cast<T>(sc[i]);
}

}  // namespace

void rsvd_check(const TensorView& a, const TensorView& u, const TensorView& s, const TensorView& vt,
                int64_t oversample, int64_t power_iters) {
  const char* op = "linalg.rsvd";
  check_matrix_input(op, a, "a");
  const int64_t m = a.shape[0], n = a.shape[1];
  NT_CHECK(u.ndim == 2, Shape, "[", op, "] u must be 2-D, got shape ", shape_string(u));
  const int64_t r = u.shape[1];
  NT_CHECK(r >= 1 && r <= std::min(m, n), Value, "[", op, "] rank must be an integer in [1, min(m, n) = ",
           std::min(m, n), "], got ", r);
  NT_CHECK(oversample >= 0, Value, "[", op, "] oversample must be an integer >= 0, got ", oversample);
  NT_CHECK(power_iters >= 0, Value, "[", op, "] powerIters must be an integer >= 0, got ", power_iters);
  const DType dt = compute_dtype(a.dtype);
  check_output(op, u, "u", 2, m, r, dt);
  check_output(op, s, "s", 1, r, 1, dt);
  check_output(op, vt, "vt", 2, r, n, dt);
}

void rsvd_run(const TensorView& a, const TensorView& u, const TensorView& s, const TensorView& vt, int64_t oversample,
              int64_t power_iters, uint64_t seed) {
  if (u.dtype == DType::F64) rsvd_typed<double>(a, u, s, vt, oversample, power_iters, seed);
  else rsvd_typed<float>(a, u, s, vt, oversample, power_iters, seed);
}

}  // namespace nt::linalg
