// The GGUF format (ggml's docs/gguf.md), versions 2 and 3, little-endian:
//   "GGUF" u32 version  u64 tensor_count  u64 kv_count
//   kv_count x (string key, u32 value_type, value)
//   tensor_count x (string name, u32 n_dims, u64 dims[n_dims] (ggml order: dims[0] is the
//                   contiguous one), u32 ggml_type, u64 offset)
//   padding to general.alignment (default 32), then the data section; offsets are relative
//   to it. A string is a u64 length + that many bytes (no NUL); an array is u32 item type +
//   u64 count + items.
//
// Validation is stricter than ggml's reader where the format is silent, and every malformed
// case is NT_IO naming what is wrong and the byte offset: magic; version 2 or 3 (1 used u32
// counts; a byte-swapped version means a big-endian file, refused); tensor and kv counts
// at most kGgufMaxTensors / kGgufMaxKv and each entry's minimum size fitting in the file;
// string lengths at most kGgufMaxString and inside the file; array counts whose minimum
// size fits in the file, kGgufMaxItems items in all; arrays nested at most kGgufMaxNesting deep; value types known;
// keys and tensor names non-empty and unique (names at most kGgufMaxName bytes, as ggml);
// general.alignment a u32 power of two; 1..4 dims, each > 0, the element count within
// int64 (ggml's ne); ggml type known with dims[0] a multiple of its block size; offsets
// multiples of the alignment; tensor data inside the file and no two tensors overlapping.
// Known ggml types that ntensor cannot decode are not errors here: the loader answers
// NT_UNSUPPORTED naming the type when such a tensor is asked for.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace nt::io {

constexpr uint64_t kGgufMaxTensors = 1u << 20;
constexpr uint64_t kGgufMaxKv = 1u << 20;
constexpr uint64_t kGgufMaxString = 1u << 30;
constexpr int kGgufMaxNesting = 3;  // an array of arrays of arrays, no deeper
// Array items in all the metadata together: each is held as a GgufValue (~100 bytes), so a
// small file of u8 arrays must not expand into gigabytes. Vocabularies of 256k tokens use ~800k.
constexpr uint64_t kGgufMaxItems = 1u << 22;
constexpr uint64_t kGgufMaxName = 64;
constexpr uint32_t kGgufMaxDims = 4;
constexpr uint32_t kGgufDefaultAlignment = 32;

enum class GgufValueType : uint32_t {
  U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, Bool = 7, String = 8, Array = 9, U64 = 10,
  I64 = 11, F64 = 12,
};

const char* gguf_value_type_name(GgufValueType t);

struct GgufValue {
  GgufValueType type = GgufValueType::U8;
  uint64_t u = 0;  // U8/U16/U32/U64/Bool
  int64_t i = 0;   // I8/I16/I32/I64
  double f = 0;    // F32/F64
  std::string s;   // String
  GgufValueType item_type = GgufValueType::U8;  // Array
  std::vector<GgufValue> items;                 // Array
};

struct GgufKv {
  std::string key;
  GgufValue value;
};

// A ggml tensor type: block of block_size elements stored in type_size bytes.
struct GgmlType {
  uint32_t id;
  const char* name;
  uint32_t block_size;
  uint32_t type_size;
};

// nullptr for an id ggml does not define (or has removed).
const GgmlType* ggml_type_info(uint32_t id);

struct GgufTensorInfo {
  std::string name;
  std::vector<uint64_t> dims;  // ggml order: dims[0] varies fastest (the row length)
  uint32_t type = 0;
  uint64_t offset = 0;         // relative to the data section
  uint64_t bytes = 0;
};

struct GgufFile {
  uint32_t version = 0;
  uint32_t alignment = kGgufDefaultAlignment;
  std::vector<GgufKv> kv;                // file order
  std::vector<GgufTensorInfo> tensors;   // file order
  uint64_t data_start = 0;               // absolute offset of the data section
  uint64_t file_bytes = 0;
};

// Where the parser reads from: a buffer (fuzzing, tests) or a file (buffered reads).
class GgufSource {
 public:
  virtual ~GgufSource() = default;
  virtual uint64_t size() const = 0;
  // Exactly n bytes at offset (the caller has checked offset + n <= size()).
  virtual void read(uint64_t offset, void* dst, uint64_t n) = 0;
};

GgufFile parse_gguf(GgufSource& src);
GgufFile parse_gguf_buffer(const uint8_t* data, size_t len);
// Errors start with "<path>: ".
GgufFile read_gguf_file(const std::string& path);

}  // namespace nt::io
