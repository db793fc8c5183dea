// Triangular solves op(A) X = B (LAPACK trsm, left side), row-major, blocked: each diagonal block
// is solved by substitution and the rest of B is updated with one GEMM per block.
#pragma once
#include <cstdint>

#include "../core/tensor_view.h"

namespace nt::linalg {

// Solves L X = B in place (B: n x k, ldb, row-major) for a lower-triangular l (n x n, ldl,
// row-major; strict upper triangle not read). unit: the diagonal is taken as ones (not read).
template <typename T>
void solve_lower(int64_t n, int64_t k, const T* l, int64_t ldl, bool unit, T* b, int64_t ldb);

// Same for an upper-triangular u (strict lower triangle not read): U X = B by back substitution.
template <typename T>
void solve_upper(int64_t n, int64_t k, const T* u, int64_t ldu, bool unit, T* b, int64_t ldb);

// nt.linalg.solveTriangular: a (n x n), b ([n] or [n, k]) -> x (b's shape, contiguous, f64 when
// both are f64 else f32) with op(A) X = B, op(A) = A or A^T; only the triangle named by `lower`
// is read. A zero on the diagonal (not unitDiagonal) is NT_NUMERIC naming its index.
void solve_triangular_check(const TensorView& a, const TensorView& b, const TensorView& x);
void solve_triangular_run(const TensorView& a, const TensorView& b, const TensorView& x, bool lower, bool trans,
                          bool unit_diagonal);

}  // namespace nt::linalg
