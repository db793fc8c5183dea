// Element types as stored in files (safetensors dtypes, .npy descrs) and their conversion
// into ntensor dtypes. Files can hold types ntensor has no storage for (I64, BOOL, F8...);
// the lossless ones load as a wider ntensor type, the rest are named in NT_UNSUPPORTED.
#pragma once
#include <cstdint>
#include <string>

#include "../core/dtype.h"

namespace nt::io {

// Every dtype of the safetensors format (names in safetensors_type_name); .npy descrs map
// onto the same list. Sub-byte float formats are listed so headers holding them validate.
enum class StoredType : uint8_t {
  BOOL, U8, I8, F8_E5M2, F8_E4M3, F8_E8M0, F4, F6_E2M3, F6_E3M2,
  I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64, C64,
};

int stored_bits(StoredType t);        // bits per element (4 and 6 for the sub-byte floats)
const char* stored_name(StoredType t);  // the safetensors spelling: "F32", "BF16", ...
bool stored_from_name(const std::string& name, StoredType* out);
bool stored_is_float(StoredType t);

// The ntensor dtype a stored type loads as by default, or false when ntensor cannot hold
// it. Same-width types map 1:1; BOOL -> u8 (0/1); I16/U16 -> i32 (exact); U32/I64/U64 ->
// i32 with every value range-checked on load (NT_VALUE when one does not fit).
bool stored_default_dtype(StoredType t, DType* out);

// The stored type written for an ntensor dtype (false for packed u4/i4).
bool stored_for_dtype(DType d, StoredType* out);

// True when the stored bytes are exactly the dtype's bytes (a plain read, no conversion).
bool stored_is_identity(StoredType t, DType d);

bool host_little_endian();
// Reverses the bytes of each of n elements of `width` bytes, in place.
void swap_bytes(void* data, uint64_t n, int width);

// Converts n stored elements at src (already in host byte order) to dtype dst. Floats to
// integers truncate toward zero and saturate (NaN: NT_VALUE); integers to narrower
// integers must fit (NT_VALUE otherwise); float narrowing rounds to nearest even, once
// (f64 -> f16/bf16 goes through a round-to-odd f32 so it is not double-rounded).
// `first_index` is the index of src[0] in its tensor, for error messages.
void convert_elements(const void* src, StoredType from, uint64_t n, void* dst, DType to, uint64_t first_index);

}  // namespace nt::io
