// Moving runs of float-family elements (f32, f64, f16, bf16) in and out of a compute type,
// any stride. f16/bf16 compute in f32 and convert through the ISA conversion slots a block
// at a time, so no full-size temporary is ever made. f64 computes in f64 only.
#pragma once
#include <cstdint>
#include <cstring>

#include "../core/dtype.h"
#include "../core/error.h"
#include "../core/half.h"
#include "../core/tensor_view.h"
#include "../cpu/kernels.h"

namespace nt::ops {

// Elements per block: 2 KiB of f32, small enough for the stack of every worker.
constexpr int64_t kBlock = 512;

inline int64_t elem_bytes(DType d) { return dtype_bits(d) / 8; }

// Address of element `off` (in elements, relative to the view's first element).
inline char* elem_ptr(const TensorView& v, int64_t off) {
  return static_cast<char*>(v.data) + (v.offset + off) * elem_bytes(v.dtype);
}

inline bool is_float_family(DType d) { return d == DType::F32 || d == DType::F16 || d == DType::BF16; }

// dst[i] = value of element i (stride in elements) for i < n, as T (float or double).
template <typename T>
void load_run(const char* p, DType dt, int64_t stride, int64_t n, T* dst) {
  if constexpr (sizeof(T) == 8) {
    const double* s = reinterpret_cast<const double*>(p);
    if (stride == 1) std::memcpy(dst, s, static_cast<size_t>(n) * 8);
    else for (int64_t i = 0; i < n; ++i) dst[i] = s[i * stride];
  } else {
    if (dt == DType::F32) {
      const float* s = reinterpret_cast<const float*>(p);
      if (stride == 1) std::memcpy(dst, s, static_cast<size_t>(n) * 4);
      else for (int64_t i = 0; i < n; ++i) dst[i] = s[i * stride];
      return;
    }
    const KernelTable& k = kernels();
    const ConvertU16ToF32 conv = dt == DType::F16 ? k.f16_to_f32 : k.bf16_to_f32;
    const uint16_t* s = reinterpret_cast<const uint16_t*>(p);
    if (stride == 1) return conv(s, dst, n);
    uint16_t tmp[kBlock];
    for (int64_t i = 0; i < n; i += kBlock) {
      const int64_t m = n - i < kBlock ? n - i : kBlock;
      for (int64_t j = 0; j < m; ++j) tmp[j] = s[(i + j) * stride];
      conv(tmp, dst + i, m);
    }
  }
}

// Element i (stride in elements) = src[i] for i < n, rounded to the destination dtype.
template <typename T>
void store_run(const T* src, char* p, DType dt, int64_t stride, int64_t n) {
  if constexpr (sizeof(T) == 8) {
    double* d = reinterpret_cast<double*>(p);
    if (stride == 1) std::memcpy(d, src, static_cast<size_t>(n) * 8);
    else for (int64_t i = 0; i < n; ++i) d[i * stride] = src[i];
  } else {
    if (dt == DType::F32) {
      float* d = reinterpret_cast<float*>(p);
      if (stride == 1) std::memcpy(d, src, static_cast<size_t>(n) * 4);
      else for (int64_t i = 0; i < n; ++i) d[i * stride] = src[i];
      return;
    }
    const KernelTable& k = kernels();
    const ConvertF32ToU16 conv = dt == DType::F16 ? k.f32_to_f16 : k.f32_to_bf16;
    uint16_t* d = reinterpret_cast<uint16_t*>(p);
    if (stride == 1) return conv(src, d, n);
    uint16_t tmp[kBlock];
    for (int64_t i = 0; i < n; i += kBlock) {
      const int64_t m = n - i < kBlock ? n - i : kBlock;
      conv(src + i, tmp, m);
      for (int64_t j = 0; j < m; ++j) d[(i + j) * stride] = tmp[j];
    }
  }
}

// One element as double (any float dtype) and back.
inline double load_one(const char* p, DType dt) {
  switch (dt) {
    case DType::F32: { float v; std::memcpy(&v, p, 4); return v; }
    case DType::F64: { double v; std::memcpy(&v, p, 8); return v; }
    case DType::F16: { uint16_t h; std::memcpy(&h, p, 2); return f16_to_f32(h); }
    case DType::BF16: { uint16_t h; std::memcpy(&h, p, 2); return bf16_to_f32(h); }
    default: return 0;
  }
}

inline void store_one(double v, char* p, DType dt) {
  switch (dt) {
    case DType::F32: { const float f = static_cast<float>(v); std::memcpy(p, &f, 4); break; }
    case DType::F64: std::memcpy(p, &v, 8); break;
    case DType::F16: { const uint16_t h = f32_to_f16(static_cast<float>(v)); std::memcpy(p, &h, 2); break; }
    case DType::BF16: { const uint16_t h = f32_to_bf16(static_cast<float>(v)); std::memcpy(p, &h, 2); break; }
    case DType::I32: { const int32_t i = static_cast<int32_t>(v); std::memcpy(p, &i, 4); break; }
    default: break;
  }
}

// The operand dtypes an f32/f64 kernel family accepts: all f64, or all of f32/f16/bf16.
// Returns true for the f64 family; throws NT_DTYPE (naming the op) otherwise.
inline bool check_float_family(const char* op, const TensorView* const* views, const char* const* names, int n) {
  const bool f64 = views[0]->dtype == DType::F64;
  for (int i = 0; i < n; ++i) {
    const DType d = views[i]->dtype;
    NT_CHECK(d == DType::F64 || is_float_family(d), DType, "[", op, "] ", names[i],
             " must be f32, f64, f16 or bf16, got ", dtype_name(d));
    NT_CHECK((d == DType::F64) == f64, DType, "[", op, "] cannot mix f64 with ", dtype_name(f64 ? d : views[0]->dtype),
             " (", names[0], " is ", dtype_name(views[0]->dtype), ", ", names[i], " is ", dtype_name(d), ")");
  }
  return f64;
}

inline void check_same_shape(const char* op, const TensorView& a, const char* an, const TensorView& b, const char* bn) {
  NT_CHECK(same_shape(a, b), Shape, "[", op, "] ", bn, " must have shape ", shape_string(a), " (", an, "), got ",
           shape_string(b));
}

}  // namespace nt::ops
