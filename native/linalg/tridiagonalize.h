// Householder tridiagonalization of a symmetric matrix and the back-transformation of
// eigenvectors (LAPACK sytrd/latrd with uplo = 'L', and ormtr), for float and double.
//
// a is column-major (a(i, j) = a[i + j*lda]); only its lower triangle (i >= j) is read and
// overwritten. On exit d[0..n) and e[0..n-1) hold the tridiagonal T = Q^T A Q; the reflectors
// H(j) = I - tau[j] v v^T (v[j+1] = 1, v[j+2..n) = a(j+2..n, j), zero above) give
// Q = H(0) H(1) ... H(n-2). tau has n entries (the last is 0).
#pragma once
#include <cstdint>

namespace nt {

template <typename T>
void tridiagonalize(int64_t n, T* a, int64_t lda, T* d, T* e, T* tau);

// V <- Q V for V row-major n x k (v(i, c) = v[i*ldv + c]), with Q from tridiagonalize's
// reflectors, applied in blocks as compact WY (I - Y T Y^T) through gemm.
template <typename T>
void apply_tridiagonal_q(int64_t n, const T* a, int64_t lda, const T* tau, T* v, int64_t k, int64_t ldv);

}  // namespace nt
