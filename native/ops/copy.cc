#include "copy.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "../core/half.h"
#include "../core/thread_pool.h"
#include "../cpu/kernels.h"
#include "strided.h"

namespace nt {
namespace {

// Scalar element access by dtype, through double (exact for every source dtype but f64 itself).
inline double load(const TensorView& t, int64_t i) {
  const void* p = t.data;
  switch (t.dtype) {
    case DType::F32: return static_cast<const float*>(p)[i];
    case DType::F64: return static_cast<const double*>(p)[i];
    case DType::F16: return f16_to_f32(static_cast<const uint16_t*>(p)[i]);
    case DType::BF16: return bf16_to_f32(static_cast<const uint16_t*>(p)[i]);
    case DType::I8: return static_cast<const int8_t*>(p)[i];
    case DType::U8: return static_cast<const uint8_t*>(p)[i];
    case DType::I32: return static_cast<const int32_t*>(p)[i];
    case DType::U4: return (static_cast<const uint8_t*>(p)[i >> 1] >> ((i & 1) * 4)) & 0xf;
    case DType::I4: {
      const int c = (static_cast<const uint8_t*>(p)[i >> 1] >> ((i & 1) * 4)) & 0xf;
      return c >= 8 ? c - 16 : c;
    }
  }
  return 0;
}

inline double saturate(double v, double lo, double hi) {
  v = std::trunc(v);
  return v < lo ? lo : (v > hi ? hi : v);
}

inline void store_nibble(uint8_t* bytes, int64_t i, int code) {
  uint8_t& b = bytes[i >> 1];
  const int shift = (i & 1) * 4;
  b = static_cast<uint8_t>((b & ~(0xf << shift)) | ((code & 0xf) << shift));
}

inline void store(const TensorView& t, int64_t i, double v) {
  void* p = t.data;
  switch (t.dtype) {
    case DType::F32: static_cast<float*>(p)[i] = static_cast<float>(v); break;
    case DType::F64: static_cast<double*>(p)[i] = v; break;
    case DType::F16: static_cast<uint16_t*>(p)[i] = f32_to_f16(static_cast<float>(v)); break;
    case DType::BF16: static_cast<uint16_t*>(p)[i] = f32_to_bf16(static_cast<float>(v)); break;
    case DType::I8: static_cast<int8_t*>(p)[i] = static_cast<int8_t>(saturate(v, -128, 127)); break;
    case DType::U8: static_cast<uint8_t*>(p)[i] = static_cast<uint8_t>(saturate(v, 0, 255)); break;
    case DType::I32:
      static_cast<int32_t*>(p)[i] = static_cast<int32_t>(saturate(v, -2147483648.0, 2147483647.0));
      break;
    case DType::U4: store_nibble(static_cast<uint8_t*>(p), i, static_cast<int>(saturate(v, 0, 15))); break;
    case DType::I4: store_nibble(static_cast<uint8_t*>(p), i, static_cast<int>(saturate(v, -8, 7))); break;
  }
}

// Typed inner loop for the common non-packed pairs: the compiler vectorises these.
template <typename S, typename D>
void convert_row(const S* src, int64_t ss, D* dst, int64_t ds, int64_t n) {
  for (int64_t k = 0; k < n; ++k) dst[k * ds] = static_cast<D>(src[k * ss]);
}

bool has_nan(const TensorView& src, const CoalescedShape& cs) {
  bool found = false;
  const int64_t inner = cs.inner();
  for (int64_t row = 0; row < cs.outer() && !found; ++row) {
    const int64_t base = src.offset + cs.row_offset(0, row);
    for (int64_t k = 0; k < inner; ++k)
      if (std::isnan(load(src, base + k * cs.strides[0][cs.ndim - 1]))) { found = true; break; }
  }
  return found;
}

}  // namespace

void copy_convert(const TensorView& src, const TensorView& dst) {
  NT_CHECK(same_shape(src, dst), Shape, "[copy] shapes differ: ", shape_string(src), " vs ", shape_string(dst));
  if (src.empty()) return;
  const TensorView* views[2] = {&src, &dst};
  CoalescedShape cs;
  cs.init(views, 2);
  if (dtype_float(src.dtype) && !dtype_float(dst.dtype))
    NT_CHECK(!has_nan(src, cs), Value, "[copy] cannot convert NaN from ", dtype_name(src.dtype), " to ",
             dtype_name(dst.dtype));

  const int64_t inner = cs.inner(), outer = cs.outer();
  const int64_t ss = cs.strides[0][cs.ndim - 1], ds = cs.strides[1][cs.ndim - 1];
  const bool packed = dtype_packed(src.dtype) || dtype_packed(dst.dtype);
  const KernelTable& k = kernels();

  // One run of `count` elements starting at element offsets so/dof with the inner strides.
  auto span = [&](int64_t so, int64_t dof, int64_t count) {
    if (!packed && ss == 1 && ds == 1) {
      if (src.dtype == dst.dtype) {
        const size_t es = dtype_bits(src.dtype) / 8;
        std::memmove(dst.bytes() + dof * es, src.bytes() + so * es, count * es);
        return;
      }
      const auto* s16 = static_cast<const uint16_t*>(src.data) + so;
      auto* d16 = static_cast<uint16_t*>(dst.data) + dof;
      const auto* s32 = static_cast<const float*>(src.data) + so;
      auto* d32 = static_cast<float*>(dst.data) + dof;
      if (src.dtype == DType::F16 && dst.dtype == DType::F32) return k.f16_to_f32(s16, d32, count);
      if (src.dtype == DType::BF16 && dst.dtype == DType::F32) return k.bf16_to_f32(s16, d32, count);
      if (src.dtype == DType::F32 && dst.dtype == DType::F16) return k.f32_to_f16(s32, d16, count);
      if (src.dtype == DType::F32 && dst.dtype == DType::BF16) return k.f32_to_bf16(s32, d16, count);
    }
    if (!packed && src.dtype == DType::F64 && dst.dtype == DType::F32)
      return convert_row(static_cast<const double*>(src.data) + so, ss, static_cast<float*>(dst.data) + dof, ds, count);
    if (!packed && src.dtype == DType::F32 && dst.dtype == DType::F64)
      return convert_row(static_cast<const float*>(src.data) + so, ss, static_cast<double*>(dst.data) + dof, ds, count);
    if (!packed && src.dtype == dst.dtype) {
      const size_t es = dtype_bits(src.dtype) / 8;
      for (int64_t i = 0; i < count; ++i)
        std::memcpy(dst.bytes() + (dof + i * ds) * es, src.bytes() + (so + i * ss) * es, es);
      return;
    }
    for (int64_t i = 0; i < count; ++i) store(dst, dof + i * ds, load(src, so + i * ss));
  };

  // Packed destinations share bytes between neighbours: write them from one thread.
  const bool serial = dtype_packed(dst.dtype);
  constexpr int64_t kGrain = 1 << 15;
  if (cs.ndim == 1) {  // fully coalesced: split the single run into blocks
    auto blocks = [&](int64_t b, int64_t e) { span(src.offset + b * ss, dst.offset + b * ds, e - b); };
    if (serial) blocks(0, inner);
    else parallel_for(inner, kGrain, blocks);
    return;
  }
  auto rows = [&](int64_t r0, int64_t r1) {
    for (int64_t row = r0; row < r1; ++row)
      span(src.offset + cs.row_offset(0, row), dst.offset + cs.row_offset(1, row), inner);
  };
  if (serial) rows(0, outer);
  else parallel_for(outer, std::max<int64_t>(1, kGrain / inner), rows);
}

}  // namespace nt
