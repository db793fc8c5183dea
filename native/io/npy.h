// NumPy .npy files (format versions 1.0, 2.0, 3.0): "\x93NUMPY", major, minor, a little-
// endian u16 (1.0) or u32 (2.0, 3.0) header length, then a Python dict literal
// {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), } padded with spaces and '\n',
// then the raw elements.
//
// Choices: big-endian ('>') data is byte-swapped on load; fortran_order True loads as the
// transposed view of a C-order array of the reversed shape (no copy); b1 loads as u8,
// i2/u2 as i32, u4/i8/u8 as i32 with a range check; complex, float128, strings, objects,
// datetimes and structured dtypes are NT_UNSUPPORTED naming the descr. The data section
// must hold exactly shape product x itemsize bytes. Everything else malformed is NT_IO.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "element.h"

namespace nt::io {

constexpr size_t kNpyMaxHeader = 1 << 20;  // numpy itself refuses headers over 10000 bytes by default
constexpr size_t kNpyMaxRank = 64;

struct NpyHeader {
  int major = 1, minor = 0;
  std::string descr;
  StoredType type = StoredType::F32;
  bool swap = false;  // stored byte order differs from the host's
  bool fortran_order = false;
  std::vector<uint64_t> shape;
  uint64_t data_offset = 0;  // file offset of the first element
  uint64_t data_bytes = 0;   // shape product x itemsize
};

// From the first min(len, 12) bytes: validates magic and version, returns the file offset
// where the data starts (preamble + header dict). Needs len >= 12 unless the file is shorter.
uint64_t npy_data_offset(const uint8_t* first, size_t len, uint64_t file_bytes);

// Parses the preamble and dict in prefix[0, data_offset) and checks the data size against
// file_bytes (the whole file's size).
NpyHeader parse_npy_header(const uint8_t* prefix, size_t prefix_len, uint64_t file_bytes);

// A whole in-memory file (tests, fuzzing).
NpyHeader parse_npy_buffer(const uint8_t* file, size_t len);

// The preamble + dict for a C-order array (version 1.0, or 2.0 when the dict exceeds
// 65535 bytes), padded so the data starts 64-byte aligned as numpy writes it.
std::string build_npy_header(StoredType type, const std::vector<uint64_t>& shape);

}  // namespace nt::io
