// Small helpers shared by the nt.quant kernels (quant_ops.h): element access through strided
// views of the QTensor parts and uniform shape checks.
#pragma once
#include <cstdint>
#include <cstring>

#include "../core/error.h"
#include "../core/half.h"
#include "../core/tensor_view.h"

namespace nt::quant {

// Element (i, j) offset of a 2-D view, in elements from the storage start.
inline int64_t at2(const TensorView& v, int64_t i, int64_t j) { return v.offset + i * v.strides[0] + j * v.strides[1]; }

// Codes row r: the byte row (last dim contiguous, checked by check_parts).
inline uint8_t* code_row(const TensorView& codes, int64_t r) { return codes.bytes() + codes.offset + r * codes.strides[0]; }

inline float load_scale(const TensorView& s, int64_t r, int64_t g) {
  const int64_t o = at2(s, r, g);
  if (s.dtype == DType::F32) return static_cast<const float*>(s.data)[o];
  return f16_to_f32(static_cast<const uint16_t*>(s.data)[o]);
}

inline void store_scale(const TensorView& s, int64_t r, int64_t g, float v) {
  const int64_t o = at2(s, r, g);
  if (s.dtype == DType::F32) static_cast<float*>(s.data)[o] = v;
  else static_cast<uint16_t*>(s.data)[o] = f32_to_f16(v);
}

// v is a 2-D view of dtype d with extents [r, c].
inline void check_2d(const char* op, const TensorView& v, const char* name, DType d, int64_t r, int64_t c) {
  NT_CHECK(v.dtype == d, DType, "[", op, "] ", name, " must be ", dtype_name(d), ", got ", dtype_name(v.dtype));
  NT_CHECK(v.ndim == 2 && v.shape[0] == r && v.shape[1] == c, Shape, "[", op, "] ", name, " must have shape [", r, ",", c,
           "], got ", shape_string(v));
}

}  // namespace nt::quant
