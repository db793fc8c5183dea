// Householder reflectors, LAPACK style, for QR, tridiagonalisation and bidiagonalisation.
//
// Layout: every matrix here is COLUMN-MAJOR, element (i, j) at p[i + j * ld] (a row-major
// m x n matrix is the column-major storage of its n x m transpose, so row-major callers apply
// reflectors "from the other side"). T is float or double.
//
// A reflector is H = I - tau v v^T with v[0] = 1. A block of k reflectors H_0 H_1 ... H_{k-1}
// (forward, stored column-wise in V, m x k, unit lower trapezoidal) equals I - V T V^T with T
// k x k upper triangular (the compact WY form of Schreiber & Van Loan; LAPACK larft/larfb).
// Block applications are two GEMMs (nt::gemm_*) and a small triangular multiply, which is
// where blocked QR/eigh/SVD get their speed.
#pragma once
#include <cstdint>

namespace nt::linalg {

// larfg: given alpha and x (n - 1 elements, stride incx), finds tau and v = [1; x'] with
// H [alpha; x] = [beta; 0], H = I - tau v v^T. Overwrites alpha with beta and x with x' and
// returns tau (0 when x is already zero: H = I). Scaled so that it neither overflows nor
// underflows for any finite input.
template <typename T>
T householder_generate(int64_t n, T& alpha, T* x, int64_t incx);

// larf (left): C (m x n) := (I - tau v v^T) C. v has m elements (v[0] is read: callers store
// the implicit 1 there). Columns are independent, so it is split over the thread pool.
template <typename T>
void householder_apply_left(int64_t m, int64_t n, const T* v, T tau, T* c, int64_t ldc);

// Copies the k reflectors stored LAPACK-style below the diagonal of a (m x k, lda) into an
// explicit V (m x k, ldv): ones on the diagonal, zeros above.
template <typename T>
void householder_copy_v(int64_t m, int64_t k, const T* a, int64_t lda, T* v, int64_t ldv);

// larft (forward, column-wise): T (k x k, ldt, upper triangular, zeros written below the
// diagonal) of H_0 ... H_{k-1} = I - V T V^T from the explicit V (m x k, see
// householder_copy_v) and tau. work: k * k elements.
template <typename T>
void householder_form_t(int64_t m, int64_t k, const T* v, int64_t ldv, const T* tau, T* t, int64_t ldt, T* work);

enum class ReflectSide { Left, Right };

// larfb (forward, column-wise): C (m x n) := H C, H^T C, C H or C H^T with H = I - V T V^T.
// V is explicit (householder_copy_v): m x k for Left, n x k for Right. T's strict lower triangle
// must be zero (householder_form_t and householder_qr write it so). work: 2 k n elements (Left)
// or 2 m k (Right).
template <typename T>
void householder_apply_block(ReflectSide side, bool transpose, int64_t m, int64_t n, int64_t k, const T* v,
                             int64_t ldv, const T* t, int64_t ldt, T* c, int64_t ldc, T* work);

// Upper-triangular multiplies used by the block forms (T is k x k upper, ldt):
//   left:  W (k x n) := T W or T^T W          right: W (m x k) := W T or W T^T
template <typename T>
void triangular_upper_multiply_left(bool transpose, int64_t k, int64_t n, const T* t, int64_t ldt, T* w, int64_t ldw);
template <typename T>
void triangular_upper_multiply_right(bool transpose, int64_t m, int64_t k, const T* t, int64_t ldt, T* w, int64_t ldw);

}  // namespace nt::linalg
