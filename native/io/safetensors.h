// The safetensors format (huggingface/safetensors): an 8-byte little-endian u64 N, N bytes
// of JSON header {"name": {"dtype", "shape", "data_offsets": [begin, end]}, ...,
// "__metadata__": {string: string}}, then the data section; offsets are relative to it.
//
// Validation follows the reference implementation and is stricter where it is silent:
// N <= 100 MB and N <= file size - 8; strict JSON (json.h) whose root is an object; each
// entry has exactly dtype/shape/data_offsets; dtype is one of the format's names; shape is
// at most 64 exact non-negative integers; begin <= end; shape product x element size ==
// end - begin (overflow-checked); end <= data section size; tensor names unique and
// non-empty; and, as the reference requires, the tensors tile the data section exactly:
// sorted by offset, each starts where the previous ended, the first at 0, the last at the
// end of the file. Overlaps, gaps and trailing bytes are NT_IO. Errors are NT_IO naming
// the tensor and what is wrong.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "element.h"

namespace nt::io {

constexpr uint64_t kSafetensorsMaxHeader = 100'000'000;
constexpr size_t kSafetensorsMaxRank = 64;

struct SafetensorsEntry {
  std::string name;
  StoredType type = StoredType::F32;
  std::vector<uint64_t> shape;
  uint64_t begin = 0, end = 0;  // byte range within the data section
};

using StringPairs = std::vector<std::pair<std::string, std::string>>;

struct SafetensorsHeader {
  std::vector<SafetensorsEntry> tensors;  // sorted by data offset (file order)
  StringPairs metadata;                   // "__metadata__", in header order
};

// Validates the 8-byte length field against the limits and the file size; returns N.
uint64_t safetensors_header_length(const uint8_t* first8, uint64_t file_bytes);

// Parses and validates a header of header_len bytes followed by data_bytes of data.
SafetensorsHeader parse_safetensors_header(const uint8_t* header, size_t header_len, uint64_t data_bytes);

// A whole in-memory file (tests, fuzzing): length field + header + data. *data_start gets
// the file offset of the data section.
SafetensorsHeader parse_safetensors_buffer(const uint8_t* file, size_t len, uint64_t* data_start);

struct SafetensorsOutEntry {
  std::string name;
  StoredType type = StoredType::F32;
  std::vector<uint64_t> shape;
};

struct SafetensorsLayout {
  std::string prefix;          // length field + JSON header padded with spaces to 8 bytes
  std::vector<size_t> order;   // indices of the entries in data-section order
  std::vector<uint64_t> begin; // data offset of each entry (indexed like the input)
  std::vector<uint64_t> bytes; // byte size of each entry
  uint64_t data_bytes = 0;
};

// Lays out a file the way the reference writer does: tensors sorted by element size
// (largest first, so every tensor stays aligned to its element) then by name;
// "__metadata__" first in the header when not empty. Names must be non-empty, unique and
// not "__metadata__"; metadata keys unique (NT_VALUE otherwise).
SafetensorsLayout plan_safetensors(const std::vector<SafetensorsOutEntry>& entries, const StringPairs& metadata);

// "[2,3]" for messages.
std::string shape_text(const std::vector<uint64_t>& shape);

// Element count with overflow detection (false when the product exceeds 2^64).
bool checked_numel(const std::vector<uint64_t>& shape, uint64_t* out);

}  // namespace nt::io
