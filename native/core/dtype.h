// The dtype table shared by every layer. Codes are part of the JS<->native contract
// (lib/native/contract.ts mirrors them); never renumber.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace nt {

enum class DType : int32_t {
  F32 = 0,
  F64 = 1,
  F16 = 2,
  BF16 = 3,
  I8 = 4,
  U8 = 5,
  I32 = 6,
  U4 = 7,  // packed unsigned 4-bit codes, two per byte, element 2k in the low nibble
  I4 = 8,  // packed signed 4-bit (two's complement nibbles), same packing as U4
};
constexpr int kNumDTypes = 9;

inline bool dtype_valid(int32_t code) { return code >= 0 && code < kNumDTypes; }

// Bits per element (4 for packed types); storage for packed types is in bytes.
inline int dtype_bits(DType d) {
  switch (d) {
    case DType::F32: case DType::I32: return 32;
    case DType::F64: return 64;
    case DType::F16: case DType::BF16: return 16;
    case DType::I8: case DType::U8: return 8;
    case DType::U4: case DType::I4: return 4;
  }
  return 0;
}

inline bool dtype_packed(DType d) { return d == DType::U4 || d == DType::I4; }
inline bool dtype_float(DType d) {
  return d == DType::F32 || d == DType::F64 || d == DType::F16 || d == DType::BF16;
}

inline const char* dtype_name(DType d) {
  switch (d) {
    case DType::F32: return "f32";
    case DType::F64: return "f64";
    case DType::F16: return "f16";
    case DType::BF16: return "bf16";
    case DType::I8: return "i8";
    case DType::U8: return "u8";
    case DType::I32: return "i32";
    case DType::U4: return "u4";
    case DType::I4: return "i4";
  }
  return "?";
}

// Bytes needed to store n elements contiguously.
inline uint64_t dtype_storage_bytes(DType d, uint64_t n) {
  return dtype_packed(d) ? (n + 1) / 2 : n * (uint64_t)(dtype_bits(d) / 8);
}

}  // namespace nt
