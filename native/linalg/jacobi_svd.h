// Thin SVD of a small dense matrix by one-sided Jacobi (Hestenes 1958), in f64.
//
// Rotating pairs of columns until all are mutually orthogonal gives singular values with high
// relative accuracy (Demmel & Veselic 1992), including tiny ones of ill-conditioned matrices,
// where the eigenvalues of A^T A would lose half the digits. Cost per sweep ~3 p^2 q flops for a
// q x p problem (p = min(m, n)); a handful of sweeps converge. Meant for small p (randomized SVD's
// (r + oversample)-sized core, power iteration's k <= 4, Ritz problems of iterative solvers);
// for large square matrices use the two-sided SVD.
#pragma once
#include <cstdint>

namespace nt::linalg {

// A (m x n, row-major, lda) = U diag(S) Vt with p = min(m, n): U m x p (ldu), S p values in
// descending order (>= 0), Vt p x n (ldvt); U and V have orthonormal columns (columns for zero
// singular values are completed to an orthonormal set). Inputs must be finite. Throws
// NT_NUMERIC if the sweeps do not converge (not observed in practice: the limit is generous).
void jacobi_svd(int64_t m, int64_t n, const double* a, int64_t lda, double* u, int64_t ldu, double* s, double* vt,
                int64_t ldvt);

}  // namespace nt::linalg
