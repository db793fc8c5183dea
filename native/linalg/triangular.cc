// Blocked triangular solves (see triangular.h). Row-major.
#include "triangular.h"

#include <algorithm>

#include "../core/scratch.h"
#include "../core/thread_pool.h"
#include "factor_common.h"

namespace nt::linalg {
namespace {

constexpr int64_t kSolveBlock = 64;

// Substitution inside one diagonal block (rows r0..r1 of b), columns split over the pool: every
// right-hand side is independent, so each column is owned by one task whatever the thread count.
template <typename T>
void substitute(bool lower, int64_t r0, int64_t r1, int64_t k, const T* a, int64_t lda, bool unit, T* b,
                int64_t ldb) {
  const int64_t rows = r1 - r0;
  parallel_for(k, std::max<int64_t>(1, 16384 / (rows * rows + 1)), [&](int64_t c0, int64_t c1) {
    if (lower) {
      for (int64_t r = r0; r < r1; ++r) {
        T* br = b + r * ldb;
        const T* ar = a + r * lda;
        for (int64_t t = r0; t < r; ++t) {
          const T f = ar[t];
          const T* bt = b + t * ldb;
          for (int64_t c = c0; c < c1; ++c) br[c] -= f * bt[c];
        }
        if (!unit)
          for (int64_t c = c0; c < c1; ++c) br[c] /= ar[r];
      }
    } else {
      for (int64_t r = r1 - 1; r >= r0; --r) {
        T* br = b + r * ldb;
        const T* ar = a + r * lda;
        for (int64_t t = r + 1; t < r1; ++t) {
          const T f = ar[t];
          const T* bt = b + t * ldb;
          for (int64_t c = c0; c < c1; ++c) br[c] -= f * bt[c];
        }
        if (!unit)
          for (int64_t c = c0; c < c1; ++c) br[c] /= ar[r];
      }
    }
  });
}

}  // namespace

template <typename T>
void solve_lower(int64_t n, int64_t k, const T* l, int64_t ldl, bool unit, T* b, int64_t ldb) {
  if (n == 0 || k == 0) return;
  // Right-looking: solve a diagonal block, then remove its contribution from every row below
  // with one GEMM (B(i1:, :) -= L(i1:, i0:i1) X(i0:i1, :)).
  for (int64_t i0 = 0; i0 < n; i0 += kSolveBlock) {
    const int64_t i1 = std::min(n, i0 + kSolveBlock);
    substitute(true, i0, i1, k, l, ldl, unit, b, ldb);
    if (i1 < n)
      gemm_rm(false, false, n - i1, k, i1 - i0, T(-1), l + i1 * ldl + i0, ldl, b + i0 * ldb, ldb, T(1),
              b + i1 * ldb, ldb);
  }
}

template <typename T>
void solve_upper(int64_t n, int64_t k, const T* u, int64_t ldu, bool unit, T* b, int64_t ldb) {
  if (n == 0 || k == 0) return;
  // Bottom-up mirror of solve_lower.
  for (int64_t i1 = n; i1 > 0; i1 -= kSolveBlock) {
    const int64_t i0 = std::max<int64_t>(0, i1 - kSolveBlock);
    substitute(false, i0, i1, k, u, ldu, unit, b, ldb);
    if (i0 > 0)
      gemm_rm(false, false, i0, k, i1 - i0, T(-1), u + i0, ldu, b + i0 * ldb, ldb, T(1), b, ldb);
  }
}

#define NT_TRIANGULAR_INSTANTIATE(T)                                                                  \
  template void solve_lower<T>(int64_t, int64_t, const T*, int64_t, bool, T*, int64_t);              \
  template void solve_upper<T>(int64_t, int64_t, const T*, int64_t, bool, T*, int64_t);
NT_TRIANGULAR_INSTANTIATE(float)
NT_TRIANGULAR_INSTANTIATE(double)
#undef NT_TRIANGULAR_INSTANTIATE

namespace {

// b as a 2-D n x k view (a vector is a single column).
TensorView as_matrix(const TensorView& b) {
  if (b.ndim == 2) return b;
  TensorView m = b;
  m.ndim = 2;
  m.shape[1] = 1;
  m.strides[1] = 1;
  return m;
}

template <typename T>
void solve_typed(const TensorView& av, const TensorView& bv, const TensorView& xv, bool lower, bool trans,
                 bool unit) {
  const int64_t n = av.shape[0];
  const TensorView b2 = as_matrix(bv);
  const int64_t k = b2.shape[1];
  // op(A) in row-major: A itself, or A^T read as the column-major load of A. Only the named
  // triangle is read; the transpose of a lower triangle is upper.
  Scratch<T> a(static_cast<size_t>(n * n));
  load_matrix<T>("linalg.solveTriangular", av, a.get(), std::max<int64_t>(n, 1), trans,
                 lower ? Part::Lower : Part::Upper);
  if (!unit)
    for (int64_t i = 0; i < n; ++i)
      NT_CHECK(a[i * n + i] != T(0), Numeric, "[linalg.solveTriangular] matrix is singular: diagonal element ", i,
               " is 0");
  T* x = xv.ptr<T>();
  load_matrix<T>("linalg.solveTriangular", b2, x, std::max<int64_t>(k, 1), false);
  if (lower != trans) solve_lower(n, k, a.get(), n, unit, x, k);
  else solve_upper(n, k, a.get(), n, unit, x, k);
}

}  // namespace

void solve_triangular_check(const TensorView& a, const TensorView& b, const TensorView& x) {
  const char* op = "linalg.solveTriangular";
  check_matrix_input(op, a, "a");
  NT_CHECK(a.shape[0] == a.shape[1], Shape, "[", op, "] expected a square matrix a, got shape ", shape_string(a));
  NT_CHECK(b.ndim == 1 || b.ndim == 2, Shape, "[", op, "] expected b to be 1-D or 2-D, got shape ", shape_string(b));
  NT_CHECK(dtype_float(b.dtype), DType, "[", op, "] b must be f32, f64, f16 or bf16, got ", dtype_name(b.dtype));
  NT_CHECK(b.shape[0] == a.shape[0], Shape, "[", op, "] b must have ", a.shape[0], " rows (a is ", shape_string(a),
           "), got shape ", shape_string(b));
  const DType dt = compute_dtype(a.dtype);
  NT_CHECK(compute_dtype(b.dtype) == dt, DType, "[", op, "] a and b must both be f64 or both be f32/f16/bf16, got ",
           dtype_name(a.dtype), " and ", dtype_name(b.dtype));
  check_output(op, x, "x", b.ndim, b.shape[0], b.ndim == 2 ? b.shape[1] : 1, dt);
}

void solve_triangular_run(const TensorView& a, const TensorView& b, const TensorView& x, bool lower, bool trans,
                          bool unit_diagonal) {
  if (x.dtype == DType::F64) solve_typed<double>(a, b, x, lower, trans, unit_diagonal);
  else solve_typed<float>(a, b, x, lower, trans, unit_diagonal);
}

}  // namespace nt::linalg
