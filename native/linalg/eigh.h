// Symmetric eigendecomposition (nt.linalg.eigh): Householder tridiagonalization in the input's
// dtype, the tridiagonal problem in float64 (divide and conquer with vectors, implicit QL for
// values only), back-transformation through compact-WY gemm. Only the lower triangle of a
// (a[i][j], i >= j) is read; the whole matrix is checked for NaN/Inf.
#pragma once
#include <cstdint>
#include "../core/tensor_view.h"

namespace nt {

struct EighPhaseTimes {
  double copy = 0, tridiagonalize = 0, tridiagonal_solve = 0, back_transform = 0;  // seconds
};

// a: n x n f32/f64 (any strides); values: 1-D contiguous [k] of a's dtype; vectors: nullptr or
// a contiguous [n, k] of a's dtype. The selected eigenvalues are the ascending ones with indices
// first .. first+k-1; vectors[:, i] pairs with values[i]. Throws NT_SHAPE / NT_DTYPE / NT_VALUE.
void eigh_check(const TensorView& a, const TensorView& values, const TensorView* vectors, int64_t first);
// Throws NT_VALUE for NaN/Inf in a, NT_NUMERIC if an iteration does not converge.
void eigh_run(const TensorView& a, const TensorView& values, const TensorView* vectors, int64_t first,
              EighPhaseTimes* times = nullptr);

}  // namespace nt
