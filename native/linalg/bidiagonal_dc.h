// Singular values and vectors of an upper bidiagonal matrix by divide and conquer (LAPACK
// bdsdc / lasd0-lasd4; Gu & Eisenstat, SIMAX 16 (1995)): split at the middle row, solve the
// two halves (lower halves carry one extra column), merge through the rank-one structure
// M = [z^T; 0 D] whose singular values are the roots of 1 + sum_j z_j^2 / (d_j^2 - s^2).
// Deflation of small weights and close poles as LAPACK lasd2, the roots by the secular solver
// shared with eigh (tridiagonal_dc.h, with pole differences formed from d so that they keep
// full relative accuracy), the weights recomputed from the roots (Löwner) so the singular
// vectors are orthogonal to working precision, and each merge's vector update as GEMMs.
// Subproblems of at most kBidiagonalLeafSize rows use the QR iteration (bidiagonal_svd.h).
#pragma once
#include <cstdint>

namespace nt::svd_detail {

constexpr int64_t kBidiagonalLeafSize = 25;

// B = diag(d) + superdiag(e) (n x n; e has n - 1 entries, destroyed). On return d holds the
// singular values, descending and >= 0; the columns of u and v (column-major, u(i, j) at
// u[i + j * ldu], n x n each, overwritten) the left and right singular vectors:
// B = U diag(d) V^T. Float64 throughout. Throws NT_NUMERIC if an iteration fails.
void bidiagonal_svd_dc(int64_t n, double* d, double* e, double* u, int64_t ldu, double* v, int64_t ldv);

}  // namespace nt::svd_detail
