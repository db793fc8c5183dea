// Cholesky factorization A = L L^T, its inverse A^-1 = L^-T L^-1 (LAPACK potrf/potri), and the
// triangular inverse (trtri). ROW-MAJOR here (unlike householder.h), lower-triangular factors.
#pragma once
#include <cstdint>

#include "../core/tensor_view.h"

namespace nt::linalg {

// Blocked left-looking Cholesky of a (n x n, lda, row-major): the lower triangle is replaced by
// L, the strict upper triangle is left holding garbage from the block updates (callers zero it).
// Only the lower triangle is read. Returns -1 on success, or the index j of the first pivot
// d_j = a_jj - sum_k l_jk^2 that is not positive and finite (the leading minor of order j + 1 is
// not positive definite); *pivot then holds d_j.
template <typename T>
int64_t cholesky_lower(int64_t n, T* a, int64_t lda, double* pivot);

// In place inverse of a lower-triangular l (n x n, lda, row-major; the strict upper triangle is
// ignored and zeroed). The diagonal must be non-zero (callers check).
template <typename T>
void triangular_lower_inverse(int64_t n, T* l, int64_t lda);

// nt.linalg.cholesky: a (n x n view, any float dtype and strides) -> out (n x n, contiguous, f64
// for f64 input else f32) = L, or U = L^T when upper (then the upper triangle of a is read).
// Throws NT_NUMERIC naming the failing pivot when a is not positive definite.
void cholesky_check(const TensorView& a, const TensorView& out);
void cholesky_run(const TensorView& a, const TensorView& out, bool upper);

// nt.linalg.choleskyInverse: l = the Cholesky factor (lower, or upper when `upper`) -> out = A^-1
// = L^-T L^-1 (symmetric: both triangles written). Zero on the diagonal is NT_NUMERIC.
void cholesky_inverse_check(const TensorView& l, const TensorView& out);
void cholesky_inverse_run(const TensorView& l, const TensorView& out, bool upper);

}  // namespace nt::linalg
