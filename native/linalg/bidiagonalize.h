// Householder building blocks of the dense SVD, ROW-MAJOR (element (i, j) at a[i * lda + j]):
// blocked QR, application of a block of reflectors through GEMM (compact WY, Schreiber &
// Van Loan), and the blocked Golub-Kahan bidiagonalization (LAPACK gebrd/labrd: each panel
// accumulates X and Y so that the trailing matrix is updated by two GEMMs,
// A -= U Y^T + X V^T). Reflectors come from nt::linalg::householder_generate (householder.h, strided,
// so layout-free); the block application here is row-major, unlike householder.h's.
#pragma once
#include <cstdint>

namespace nt::svd_detail {

// Blocked Householder QR of a (m x n, m >= n): R in the upper triangle, reflector j below the
// diagonal of column j (unit diagonal implicit), tau[j].
template <typename T>
void qr_factor(int64_t m, int64_t n, T* a, int64_t lda, T* tau);

// C (rows x cols) := H_0 H_1 ... H_{k-1} C, reflector j stored below the diagonal of column j
// of v (rows x k, unit diagonal implicit, entries on and above the diagonal ignored).
// c_is_identity: C holds the identity on entry, so block j0 only touches columns >= j0
// (columns before it are unit vectors the later reflectors cannot reach) — LAPACK orgqr.
template <typename T>
void reflectors_apply(int64_t rows, int64_t k, const T* v, int64_t ldv, const T* tau, T* c, int64_t ldc,
                      int64_t cols, bool c_is_identity);

// Upper bidiagonalization of a (m x n, m >= n): A = Q B P^T with B = bidiag(d, e). Left
// reflector j is stored below the diagonal of column j (tauq[j]), right reflector j to the
// right of the superdiagonal of row j (taup[j], n - 1 of them; taup[n - 1] = 0).
template <typename T>
void bidiagonalize(int64_t m, int64_t n, T* a, int64_t lda, T* d, T* e, T* tauq, T* taup);

}  // namespace nt::svd_detail
