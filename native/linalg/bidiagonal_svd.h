// Singular values and vectors of an upper bidiagonal matrix by the implicit-shift QR
// iteration of Demmel & Kahan (LAPACK bdsqr: zero-shift sweeps when the shift would be
// negligible, chase direction chosen per block, relative-accuracy deflation). The d/e
// recurrences run in f64 for both dtypes (O(n^2) work); the rotations are queued and applied
// in batches to the rows of U^T and V^T by the vectorised sweep kernel, in parallel over
// fixed column blocks.
#pragma once
#include <cstdint>

namespace nt::svd_detail {

// B = diag(d) + superdiag(e) (n x n; e has n - 1 entries, destroyed). On return d holds the
// singular values, descending and >= 0. Rotations are applied to rows 0..n-1 of ut (row
// length ucols, stride ldu) and vt (vcols, ldv) so that U^T <- Q_B^T U^T and V^T <- P_B^T V^T
// (pass nullptr or 0 columns to skip either). eps: relative precision to converge to (the
// output dtype's). Returns false when the iteration did not converge.
template <typename T>
bool bidiagonal_svd(int64_t n, double* d, double* e, T* ut, int64_t ldu, int64_t ucols, T* vt, int64_t ldv,
                    int64_t vcols, double eps);

}  // namespace nt::svd_detail
