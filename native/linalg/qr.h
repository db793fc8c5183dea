// Householder QR (LAPACK geqrf/orgqr semantics), blocked: each panel of 48 columns is factored
// recursively (Elmroth & Gustavson 2000, LAPACK geqrt3; unblocked below 16 columns), which also
// yields the panel's compact WY matrix T, and the trailing matrix is updated with GEMMs.
// Column-major.
#pragma once
#include <cstdint>

#include "../core/tensor_view.h"

namespace nt::linalg {

// A (m x n, lda) := R in its upper triangle and the k = min(m, n) reflectors below it (v_j(0) = 1
// implicit); tau has k elements.
template <typename T>
void householder_qr(int64_t m, int64_t n, T* a, int64_t lda, T* tau);

// Q (m x ncols, ldq) := the first ncols columns of H_0 H_1 ... H_{k-1}, the reflectors stored by
// householder_qr in a (m x k, lda). Requires k <= ncols <= m.
template <typename T>
void householder_form_q(int64_t m, int64_t ncols, int64_t k, const T* a, int64_t lda, const T* tau, T* q,
                        int64_t ldq);

// An orthonormal basis of the column space of X (m x n column-major, m >= n, overwritten): Q
// (m x n, ldq) from the thin QR of X. Rank-deficient X still gives orthonormal columns.
template <typename T>
void orthonormal_basis(int64_t m, int64_t n, T* x, int64_t ldx, T* q, int64_t ldq);

// nt.linalg.qr: a (m x n view, any float dtype, any strides) -> q (m x kq), r (kq x n), contiguous,
// f64 for f64 input else f32; kq = min(m, n) (reduced) or m (complete). Shapes and dtypes are
// checked by qr_check.
void qr_check(const TensorView& a, const TensorView& q, const TensorView& r);
void qr_run(const TensorView& a, const TensorView& q, const TensorView& r);

}  // namespace nt::linalg
