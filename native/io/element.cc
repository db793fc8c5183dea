#include "element.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include "../core/error.h"
#include "../core/half.h"
#include "../cpu/kernels.h"

namespace nt::io {
namespace {

struct TypeInfo {
  StoredType type;
  const char* name;
  int bits;
  bool is_float;
};

constexpr TypeInfo kTypes[] = {
    {StoredType::BOOL, "BOOL", 8, false},       {StoredType::U8, "U8", 8, false},
    {StoredType::I8, "I8", 8, false},           {StoredType::F8_E5M2, "F8_E5M2", 8, true},
    {StoredType::F8_E4M3, "F8_E4M3", 8, true},  {StoredType::F8_E8M0, "F8_E8M0", 8, true},
    {StoredType::F4, "F4", 4, true},            {StoredType::F6_E2M3, "F6_E2M3", 6, true},
    {StoredType::F6_E3M2, "F6_E3M2", 6, true},  {StoredType::I16, "I16", 16, false},
    {StoredType::U16, "U16", 16, false},        {StoredType::F16, "F16", 16, true},
    {StoredType::BF16, "BF16", 16, true},       {StoredType::I32, "I32", 32, false},
    {StoredType::U32, "U32", 32, false},        {StoredType::F32, "F32", 32, true},
    {StoredType::F64, "F64", 64, true},         {StoredType::I64, "I64", 64, false},
    {StoredType::U64, "U64", 64, false},        {StoredType::C64, "C64", 64, true},
};

const TypeInfo& info(StoredType t) {
  for (const TypeInfo& i : kTypes)
    if (i.type == t) return i;
  fail(ErrorCode::Internal, "unknown stored type ", static_cast<int>(t));
}

// f64 -> f32 rounding to odd: truncate toward zero, then set the last bit when inexact.
// A second rounding from this f32 to f16/bf16 (>= 2 fewer mantissa bits) is then exactly
// the correctly rounded f64 -> f16/bf16 result (Boldo & Melquiond, "Emulation of FMA").
float f64_to_f32_round_odd(double d) {
  float f = static_cast<float>(d);
  if (std::isnan(d) || static_cast<double>(f) == d) return f;
  if (std::fabs(static_cast<double>(f)) > std::fabs(d)) f = std::nextafter(f, 0.0f);
  return bits_f32(f32_bits(f) | 1u);
}

// Loaders: one stored element -> a value type (integers stay integers, floats become double).
template <StoredType T> struct Load;
template <> struct Load<StoredType::BOOL> { using V = int64_t; static V get(const uint8_t* p) { return *p != 0; } static constexpr int size = 1; };
template <> struct Load<StoredType::U8> { using V = int64_t; static V get(const uint8_t* p) { return *p; } static constexpr int size = 1; };
template <> struct Load<StoredType::I8> { using V = int64_t; static V get(const uint8_t* p) { return static_cast<int8_t>(*p); } static constexpr int size = 1; };
template <typename Raw, typename Value>
Value load_raw(const uint8_t* p) { Raw r; std::memcpy(&r, p, sizeof r); return static_cast<Value>(r); }
template <> struct Load<StoredType::I16> { using V = int64_t; static V get(const uint8_t* p) { return load_raw<int16_t, V>(p); } static constexpr int size = 2; };
template <> struct Load<StoredType::U16> { using V = int64_t; static V get(const uint8_t* p) { return load_raw<uint16_t, V>(p); } static constexpr int size = 2; };
template <> struct Load<StoredType::I32> { using V = int64_t; static V get(const uint8_t* p) { return load_raw<int32_t, V>(p); } static constexpr int size = 4; };
template <> struct Load<StoredType::U32> { using V = int64_t; static V get(const uint8_t* p) { return load_raw<uint32_t, V>(p); } static constexpr int size = 4; };
template <> struct Load<StoredType::I64> { using V = int64_t; static V get(const uint8_t* p) { return load_raw<int64_t, V>(p); } static constexpr int size = 8; };
template <> struct Load<StoredType::U64> { using V = uint64_t; static V get(const uint8_t* p) { return load_raw<uint64_t, V>(p); } static constexpr int size = 8; };
template <> struct Load<StoredType::F16> { using V = double; static V get(const uint8_t* p) { return f16_to_f32(load_raw<uint16_t, uint16_t>(p)); } static constexpr int size = 2; };
template <> struct Load<StoredType::BF16> { using V = double; static V get(const uint8_t* p) { return bf16_to_f32(load_raw<uint16_t, uint16_t>(p)); } static constexpr int size = 2; };
template <> struct Load<StoredType::F32> { using V = double; static V get(const uint8_t* p) { return load_raw<float, double>(p); } static constexpr int size = 4; };
template <> struct Load<StoredType::F64> { using V = double; static V get(const uint8_t* p) { return load_raw<double, double>(p); } static constexpr int size = 8; };

template <typename Int>
Int to_int(double v, uint64_t index, DType to) {
  NT_CHECK(!std::isnan(v), Value, "element ", index, " is NaN, which cannot convert to ", dtype_name(to));
  const double t = std::trunc(v);
  if (t <= static_cast<double>(std::numeric_limits<Int>::min())) return std::numeric_limits<Int>::min();
  if (t >= static_cast<double>(std::numeric_limits<Int>::max())) return std::numeric_limits<Int>::max();
  return static_cast<Int>(t);
}

template <typename Int, typename V>
Int to_int(V v, uint64_t index, DType to) {
  constexpr int64_t lo = std::numeric_limits<Int>::min();
  constexpr int64_t hi = std::numeric_limits<Int>::max();
  bool fits;
  if constexpr (std::is_signed_v<V>) fits = v >= lo && v <= hi;
  else fits = v <= static_cast<uint64_t>(hi);  // every target has lo <= 0
  NT_CHECK(fits, Value, "element ", index, " = ", v, " does not fit ", dtype_name(to), " (", lo, "..", hi, ")");
  return static_cast<Int>(v);
}

template <typename T>
void store_raw(uint8_t* p, T v) { std::memcpy(p, &v, sizeof v); }

template <StoredType From>
void convert_from(const uint8_t* src, uint64_t n, uint8_t* dst, DType to, uint64_t first) {
  using L = Load<From>;
  using V = typename L::V;
  // Narrowing to a half type: one rounding (round-to-odd f32 first for f64 values).
  auto narrow = [](V v) -> float {
    if constexpr (std::is_floating_point_v<V>) return f64_to_f32_round_odd(v);
    else return static_cast<float>(v);
  };
  for (uint64_t i = 0; i < n; ++i) {
    const V v = L::get(src + i * L::size);
    switch (to) {
      case DType::F64: store_raw<double>(dst + i * 8, static_cast<double>(v)); break;
      case DType::F32: store_raw<float>(dst + i * 4, static_cast<float>(v)); break;
      case DType::F16: store_raw<uint16_t>(dst + i * 2, f32_to_f16(narrow(v))); break;
      case DType::BF16: store_raw<uint16_t>(dst + i * 2, f32_to_bf16(narrow(v))); break;
      case DType::I8: store_raw<int8_t>(dst + i, to_int<int8_t>(v, first + i, to)); break;
      case DType::U8: store_raw<uint8_t>(dst + i, to_int<uint8_t>(v, first + i, to)); break;
      case DType::I32: store_raw<int32_t>(dst + i * 4, to_int<int32_t>(v, first + i, to)); break;
      case DType::U4: case DType::I4:
        fail(ErrorCode::Unsupported, "packed ", dtype_name(to), " is not a load target");
    }
  }
}

}  // namespace

int stored_bits(StoredType t) { return info(t).bits; }
const char* stored_name(StoredType t) { return info(t).name; }
bool stored_is_float(StoredType t) { return info(t).is_float; }

bool stored_from_name(const std::string& name, StoredType* out) {
  for (const TypeInfo& i : kTypes)
    if (name == i.name) {
      *out = i.type;
      return true;
    }
  return false;
}

bool stored_default_dtype(StoredType t, DType* out) {
  switch (t) {
    case StoredType::BOOL: case StoredType::U8: *out = DType::U8; return true;
    case StoredType::I8: *out = DType::I8; return true;
    case StoredType::I16: case StoredType::U16: case StoredType::I32: case StoredType::U32:
    case StoredType::I64: case StoredType::U64: *out = DType::I32; return true;
    case StoredType::F16: *out = DType::F16; return true;
    case StoredType::BF16: *out = DType::BF16; return true;
    case StoredType::F32: *out = DType::F32; return true;
    case StoredType::F64: *out = DType::F64; return true;
    default: return false;
  }
}

bool stored_for_dtype(DType d, StoredType* out) {
  switch (d) {
    case DType::F32: *out = StoredType::F32; return true;
    case DType::F64: *out = StoredType::F64; return true;
    case DType::F16: *out = StoredType::F16; return true;
    case DType::BF16: *out = StoredType::BF16; return true;
    case DType::I8: *out = StoredType::I8; return true;
    case DType::U8: *out = StoredType::U8; return true;
    case DType::I32: *out = StoredType::I32; return true;
    case DType::U4: case DType::I4: return false;
  }
  return false;
}

bool stored_is_identity(StoredType t, DType d) {
  StoredType s;
  return stored_for_dtype(d, &s) && s == t;
}

bool host_little_endian() {
  const uint16_t probe = 1;
  uint8_t first;
  std::memcpy(&first, &probe, 1);
  return first == 1;
}

void swap_bytes(void* data, uint64_t n, int width) {
  uint8_t* p = static_cast<uint8_t*>(data);
  if (width <= 1) return;
  for (uint64_t i = 0; i < n; ++i, p += width)
    for (int a = 0, b = width - 1; a < b; ++a, --b) std::swap(p[a], p[b]);
}

void convert_elements(const void* src_v, StoredType from, uint64_t n, void* dst_v, DType to, uint64_t first) {
  const uint8_t* src = static_cast<const uint8_t*>(src_v);
  uint8_t* dst = static_cast<uint8_t*>(dst_v);
  if (n == 0) return;
  if (stored_is_identity(from, to)) {
    std::memcpy(dst, src, n * (stored_bits(from) / 8));
    return;
  }
  // The bulk paths of real checkpoints (half <-> f32) use the SIMD conversion kernels;
  // TypedArray storage is element-aligned, and the read buffers are 64-byte aligned.
  const KernelTable& k = kernels();
  if (from == StoredType::F16 && to == DType::F32) return k.f16_to_f32(reinterpret_cast<const uint16_t*>(src), reinterpret_cast<float*>(dst), n);
  if (from == StoredType::BF16 && to == DType::F32) return k.bf16_to_f32(reinterpret_cast<const uint16_t*>(src), reinterpret_cast<float*>(dst), n);
  if (from == StoredType::F32 && to == DType::F16) return k.f32_to_f16(reinterpret_cast<const float*>(src), reinterpret_cast<uint16_t*>(dst), n);
  if (from == StoredType::F32 && to == DType::BF16) return k.f32_to_bf16(reinterpret_cast<const float*>(src), reinterpret_cast<uint16_t*>(dst), n);
  switch (from) {
    case StoredType::BOOL: return convert_from<StoredType::BOOL>(src, n, dst, to, first);
    case StoredType::U8: return convert_from<StoredType::U8>(src, n, dst, to, first);
    case StoredType::I8: return convert_from<StoredType::I8>(src, n, dst, to, first);
    case StoredType::I16: return convert_from<StoredType::I16>(src, n, dst, to, first);
    case StoredType::U16: return convert_from<StoredType::U16>(src, n, dst, to, first);
    case StoredType::I32: return convert_from<StoredType::I32>(src, n, dst, to, first);
    case StoredType::U32: return convert_from<StoredType::U32>(src, n, dst, to, first);
    case StoredType::I64: return convert_from<StoredType::I64>(src, n, dst, to, first);
    case StoredType::U64: return convert_from<StoredType::U64>(src, n, dst, to, first);
    case StoredType::F16: return convert_from<StoredType::F16>(src, n, dst, to, first);
    case StoredType::BF16: return convert_from<StoredType::BF16>(src, n, dst, to, first);
    case StoredType::F32: return convert_from<StoredType::F32>(src, n, dst, to, first);
    case StoredType::F64: return convert_from<StoredType::F64>(src, n, dst, to, first);
    default: fail(ErrorCode::Unsupported, "dtype ", stored_name(from), " cannot be converted by ntensor");
  }
}

}  // namespace nt::io
