// Shared by the factorization routines (QR, Cholesky, triangular solve, randomized SVD, power
// iteration): moving a strided float view of any float dtype into a dense working buffer of the
// compute type (f64 for f64 input, f32 otherwise), the NaN/Inf guard, writing results back into
// contiguous outputs, and column-major GEMM on top of the row-major nt::gemm_*.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "../core/error.h"
#include "../core/scratch.h"
#include "../core/tensor_view.h"
#include "../cpu/gemm.h"
#include "../ops/float_block.h"
#include "../ops/random.h"

namespace nt::linalg {

// Which part of a square matrix a routine reads.
enum class Part { All, Lower, Upper };

// dst(i, j) = v(i, j) for the rows x cols view v (2-D, any float dtype, any strides), stored
// row-major (dst[i * ld + j]) or column-major (dst[i + j * ld]). With part Lower/Upper only that
// triangle (diagonal included) is read; the rest of dst is zero. Throws NT_VALUE
// "[op] input contains NaN or Inf" if any element read is not finite.
template <typename T>
void load_matrix(const char* op, const TensorView& v, T* dst, int64_t ld, bool col_major, Part part = Part::All) {
  const int64_t rows = v.shape[0], cols = v.shape[1];
  const int64_t s0 = v.strides[0], s1 = v.strides[1];
  // Row by row through a buffer: each row is read as one strided run (converting f16/bf16). For a
  // column-major destination consecutive rows fill consecutive elements of the same cache lines.
  Scratch<T> row(static_cast<size_t>(std::max<int64_t>(cols, 1)));
  bool finite = true;
  for (int64_t i = 0; i < rows; ++i) {
    int64_t j0 = 0, j1 = cols;
    if (part == Part::Lower) j1 = std::min(cols, i + 1);
    if (part == Part::Upper) j0 = std::min(cols, i);
    const char* p = ops::elem_ptr(v, i * s0 + j0 * s1);
    if (j1 > j0) ops::load_run<T>(p, v.dtype, s1, j1 - j0, row.get() + j0);
    for (int64_t j = 0; j < j0; ++j) row[j] = T(0);
    for (int64_t j = j1; j < cols; ++j) row[j] = T(0);
    T acc = 0;
    for (int64_t j = j0; j < j1; ++j) acc += row[j] * T(0);  // NaN iff some element is NaN/Inf
    finite = finite && acc == T(0);
    if (!col_major) {
      if (cols > 0) std::memcpy(dst + i * ld, row.get(), static_cast<size_t>(cols) * sizeof(T));  // empty scratch is null
    } else {
      for (int64_t j = 0; j < cols; ++j) dst[i + j * ld] = row[j];
    }
  }
  NT_CHECK(finite, Value, "[", op, "] input contains NaN or Inf");
}

// The dtype results are computed and returned in: f64 for f64 input, f32 for f32/f16/bf16.
inline DType compute_dtype(DType input) { return input == DType::F64 ? DType::F64 : DType::F32; }

// Input checks shared by every routine: a 2-D view of a float dtype.
inline void check_matrix_input(const char* op, const TensorView& a, const char* arg) {
  NT_CHECK(a.ndim == 2, Shape, "[", op, "] expected ", arg, " to be a 2-D tensor, got shape ", shape_string(a));
  NT_CHECK(dtype_float(a.dtype), DType, "[", op, "] ", arg, " must be f32, f64, f16 or bf16, got ", dtype_name(a.dtype));
}

// Outputs come from TS as fresh contiguous tensors; checked again here because the addon can be
// called directly. ndim 1 (cols ignored) or 2.
inline void check_output(const char* op, const TensorView& v, const char* arg, int ndim, int64_t rows, int64_t cols,
                         DType dtype) {
  const bool shape_ok = v.ndim == ndim && v.shape[0] == rows && (ndim == 1 || v.shape[1] == cols);
  if (!shape_ok) {
    if (ndim == 1) fail(ErrorCode::Shape, "[", op, "] ", arg, " must have shape [", rows, "], got ", shape_string(v));
    fail(ErrorCode::Shape, "[", op, "] ", arg, " must have shape [", rows, ",", cols, "], got ", shape_string(v));
  }
  NT_CHECK(v.dtype == dtype, DType, "[", op, "] ", arg, " must be ", dtype_name(dtype), ", got ", dtype_name(v.dtype));
  NT_CHECK(v.is_contiguous(), Value, "[", op, "] ", arg, " must be contiguous");
}

// Column-major GEMM: C (m x n) = alpha op(A) op(B) + beta C, every operand column-major
// (element (i, j) at p[i + j * ld]). A column-major matrix is the row-major storage of its
// transpose, so this is the row-major GEMM of C^T = op(B)^T op(A)^T with the operands swapped.
inline void gemm_cm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
                    const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  gemm_f32(tb, ta, n, m, k, alpha, b, ldb, a, lda, beta, c, ldc);
}
inline void gemm_cm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha, const double* a, int64_t lda,
                    const double* b, int64_t ldb, double beta, double* c, int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  gemm_f64(tb, ta, n, m, k, alpha, b, ldb, a, lda, beta, c, ldc);
}

// Row-major GEMM overloaded on the element type.
inline void gemm_rm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
                    const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  gemm_f32(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
inline void gemm_rm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha, const double* a, int64_t lda,
                    const double* b, int64_t ldb, double beta, double* c, int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  gemm_f64(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

// p (rows x cols, row-major) := standard normals from nt's Philox stream keyed by seed (element
// i of the row-major order is the same value nt.randn([rows, cols], { seed }) gives).
template <typename T>
void fill_normal_matrix(T* p, int64_t rows, int64_t cols, uint64_t seed) {
  TensorView v;
  v.data = p;
  v.storage_bytes = static_cast<uint64_t>(rows * cols) * sizeof(T);
  v.dtype = std::is_same_v<T, double> ? DType::F64 : DType::F32;
  v.ndim = 2;
  v.shape[0] = rows;
  v.shape[1] = cols;
  v.strides[0] = cols;
  v.strides[1] = 1;
  fill_random(v, Distribution::Normal, seed);
}

}  // namespace nt::linalg
