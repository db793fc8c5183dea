// Row access to the 4-D [batch, heads, seq, dim] views of the linear-attention kernels.
// The kernels compute in float when every view of a call is f32 and in float64 otherwise
// (the chunk products go through gemm_f32 / gemm_f64), so rows are gathered into contiguous
// buffers of the compute type whatever the view's strides and dtype (f32 or f64; the TS
// layer widens f16/bf16 first). Rows outside [0, seq) read as zero,
// which lets a chunk that starts before the first key be handled like any other.
#pragma once
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <string>

#include "../core/error.h"
#include "../core/tensor_view.h"

namespace nt::linattn {

inline double read_elem(const TensorView& t, int64_t off) {
  return t.dtype == DType::F64 ? t.ptr<double>()[off] : static_cast<double>(t.ptr<float>()[off]);
}
inline void write_elem(const TensorView& t, int64_t off, double x) {
  if (t.dtype == DType::F64) t.ptr<double>()[off] = x;
  else t.ptr<float>()[off] = static_cast<float>(x);
}

inline int64_t row_offset(const TensorView& t, int64_t b, int64_t h, int64_t i) {
  return b * t.strides[0] + h * t.strides[1] + i * t.strides[2];
}

// dst[r * cols + c] = t[b, h, i0 + r, c] for r < n (zero for rows outside the view).
template <typename T>
inline void gather_rows(const TensorView& t, int64_t b, int64_t h, int64_t i0, int64_t n, T* dst) {
  const int64_t cols = t.shape[3], rows = t.shape[2], sc = t.strides[3];
  for (int64_t r = 0; r < n; ++r) {
    const int64_t i = i0 + r;
    T* d = dst + r * cols;
    if (i < 0 || i >= rows) {
      std::memset(d, 0, static_cast<size_t>(cols) * sizeof(T));
      continue;
    }
    const int64_t base = row_offset(t, b, h, i);
    if (t.dtype == DType::F64) {
      const double* s = t.ptr<double>() + base;
      for (int64_t c = 0; c < cols; ++c) d[c] = static_cast<T>(s[c * sc]);
    } else {
      const float* s = t.ptr<float>() + base;
      for (int64_t c = 0; c < cols; ++c) d[c] = s[c * sc];
    }
  }
}

// t[b, h, i0 + r, c] = src[r * cols + c] for the rows that lie inside the view.
template <typename T>
inline void scatter_rows(const TensorView& t, int64_t b, int64_t h, int64_t i0, int64_t n, const T* src) {
  const int64_t cols = t.shape[3], rows = t.shape[2], sc = t.strides[3];
  for (int64_t r = 0; r < n; ++r) {
    const int64_t i = i0 + r;
    if (i < 0 || i >= rows) continue;
    const int64_t base = row_offset(t, b, h, i);
    const T* s = src + r * cols;
    if (t.dtype == DType::F64) {
      double* d = t.ptr<double>() + base;
      for (int64_t c = 0; c < cols; ++c) d[c * sc] = static_cast<double>(s[c]);
    } else {
      float* d = t.ptr<float>() + base;
      for (int64_t c = 0; c < cols; ++c) d[c * sc] = static_cast<float>(s[c]);
    }
  }
}

// The views of a call are all f32: compute in float (f32 GEMM, half the bytes); any f64
// view makes the whole call float64.
inline bool all_f32(std::initializer_list<const TensorView*> views) {
  for (const TensorView* v : views)
    if (v && v->dtype != DType::F32) return false;
  return true;
}

inline void check_float_view(const char* op, const char* arg, const TensorView& t, int ndim) {
  NT_CHECK(t.dtype == DType::F32 || t.dtype == DType::F64, DType, "[", op, "] ", arg, " must be f32 or f64, got dtype code ",
           static_cast<int>(t.dtype));
  NT_CHECK(t.ndim == ndim, Shape, "[", op, "] ", arg, " must be ", ndim, "-D, got shape ", shape_string(t));
}

inline void check_dims(const char* op, const char* arg, const TensorView& t, int64_t d0, int64_t d1, int64_t d2,
                       int64_t d3) {
  NT_CHECK(t.shape[0] == d0 && t.shape[1] == d1 && t.shape[2] == d2 && t.shape[3] == d3, Shape, "[", op, "] ", arg,
           " must have shape [", d0, ", ", d1, ", ", d2, ", ", d3, "], got ", shape_string(t));
}

}  // namespace nt::linattn
