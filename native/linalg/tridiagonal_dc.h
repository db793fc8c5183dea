// Symmetric tridiagonal eigensolvers (float64): the middle stage of eigh.
// T has diagonal d[0..n) and off-diagonal e[0..n-1) (e[i] couples rows i and i+1).
#pragma once
#include <cstdint>

namespace nt {

// Eigenvalues only, ascending in d (implicit QL with Wilkinson shifts, O(n^2)). e is destroyed.
// Throws NT_NUMERIC if an eigenvalue does not converge (never seen in practice).
void tridiagonal_eigenvalues(int64_t n, double* d, double* e);

// Eigenvalues ascending in d and eigenvectors in the columns of z (column-major n x n, leading
// dimension ldz >= n; z(i, j) = z[i + j*ldz]) by Cuppen's divide and conquer: rank-one tearing,
// deflation of small weights and close poles (LAPACK dlaed2), secular equation per root by a
// bracketed rational iteration (Li's middle way), Gu-Eisenstat recomputation of the weights so
// the vectors are orthogonal to working precision, and the vector update of each merge through
// gemm. Subproblems of at most kLeafSize rows use implicit QL with vector accumulation.
// e is destroyed.
void tridiagonal_eigen_dc(int64_t n, double* d, double* e, double* z, int64_t ldz);

// Implicit QL with vector accumulation into z (initialised to I here). O(n^3): for leaves and tests.
void tridiagonal_eigen_ql(int64_t n, double* d, double* e, double* z, int64_t ldz);

constexpr int64_t kTridiagonalLeafSize = 25;

// Root i (0-based) of the secular equation 1/rho + sum_j w_j^2 / (dl_j - lambda) = 0 (dl
// ascending and distinct, rho > 0, w_j != 0), shared by the eigh and SVD merges. Writes
// delta[j] = dl_j - lambda (k values) as (dl_j - dl_o) - tau, o the pole nearest the root, so
// the small differences keep full relative accuracy; returns lambda = dl_o + tau and, when
// tau_out / origin_out are given, tau and o. sq (may be null): square roots of the poles (dl_j = sq_j^2, the SVD
// merge), from which the pole differences are formed without cancellation. Throws NT_NUMERIC
// "[op] secular equation did not converge ..." (never seen in practice).
double secular_root(int64_t k, const double* dl, const double* w, double rho, int64_t i, double* delta,
                    const double* sq = nullptr, double* tau_out = nullptr, int64_t* origin_out = nullptr,
                    const char* op = "linalg.eigh");

}  // namespace nt
