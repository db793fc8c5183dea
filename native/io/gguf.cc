#include "gguf.h"

#include <algorithm>
#include <cstring>
#include <unordered_set>

#include "../core/error.h"
#include "file.h"
#include "safetensors.h"  // shape_text

namespace nt::io {
namespace {

// ggml's types (ggml.h / gguf-py constants.py GGML_QUANT_SIZES); ids 4, 5 (removed Q4_2,
// Q4_3) and 31-33, 36-38 (removed or repacked-only) are not defined.
constexpr GgmlType kTypes[] = {
    {0, "F32", 1, 4},          {1, "F16", 1, 2},        {2, "Q4_0", 32, 18},     {3, "Q4_1", 32, 20},
    {6, "Q5_0", 32, 22},       {7, "Q5_1", 32, 24},     {8, "Q8_0", 32, 34},     {9, "Q8_1", 32, 40},
    {10, "Q2_K", 256, 84},     {11, "Q3_K", 256, 110},  {12, "Q4_K", 256, 144},  {13, "Q5_K", 256, 176},
    {14, "Q6_K", 256, 210},    {15, "Q8_K", 256, 292},  {16, "IQ2_XXS", 256, 66}, {17, "IQ2_XS", 256, 74},
    {18, "IQ3_XXS", 256, 98},  {19, "IQ1_S", 256, 50},  {20, "IQ4_NL", 32, 18},  {21, "IQ3_S", 256, 110},
    {22, "IQ2_S", 256, 82},    {23, "IQ4_XS", 256, 136}, {24, "I8", 1, 1},       {25, "I16", 1, 2},
    {26, "I32", 1, 4},         {27, "I64", 1, 8},       {28, "F64", 1, 8},       {29, "IQ1_M", 256, 56},
    {30, "BF16", 1, 2},        {34, "TQ1_0", 256, 54},  {35, "TQ2_0", 256, 66},  {39, "MXFP4", 32, 17},
};

// Smallest encoding of one value of each type (a string is at least its length field).
uint64_t min_value_bytes(GgufValueType t) {
  switch (t) {
    case GgufValueType::U8: case GgufValueType::I8: case GgufValueType::Bool: return 1;
    case GgufValueType::U16: case GgufValueType::I16: return 2;
    case GgufValueType::U32: case GgufValueType::I32: case GgufValueType::F32: return 4;
    case GgufValueType::U64: case GgufValueType::I64: case GgufValueType::F64: case GgufValueType::String: return 8;
    case GgufValueType::Array: return 12;  // item type + count
  }
  return 1;
}

bool known_value_type(uint32_t t) { return t <= static_cast<uint32_t>(GgufValueType::F64); }

class Reader {
 public:
  explicit Reader(GgufSource& src) : src_(src), size_(src.size()) {}

  uint64_t pos() const { return pos_; }
  uint64_t left() const { return size_ - pos_; }

  void bytes(void* dst, uint64_t n, const char* what) {
    NT_CHECK(n <= left(), IO, "truncated: ", what, " at byte ", pos_, " needs ", n, " bytes, ", left(),
             " remain in the file");
    src_.read(pos_, dst, n);
    pos_ += n;
  }
  template <typename T>
  T num(const char* what) {
    uint8_t b[sizeof(T)];
    bytes(b, sizeof(T), what);
    uint64_t v = 0;
    for (int i = static_cast<int>(sizeof(T)) - 1; i >= 0; --i) v = (v << 8) | b[i];
    T out;
    if constexpr (sizeof(T) == 8) {
      std::memcpy(&out, &v, 8);
    } else {
      const auto narrow = static_cast<std::conditional_t<sizeof(T) == 4, uint32_t, std::conditional_t<sizeof(T) == 2, uint16_t, uint8_t>>>(v);
      std::memcpy(&out, &narrow, sizeof(T));
    }
    return out;
  }
  std::string string(const char* what, uint64_t max_len) {
    const uint64_t at = pos_;
    const uint64_t n = num<uint64_t>(what);
    NT_CHECK(n <= max_len, IO, what, " at byte ", at, " has length ", n, ", over the limit of ", max_len, " bytes");
    NT_CHECK(n <= left(), IO, "truncated: ", what, " at byte ", at, " has length ", n, " but only ", left(),
             " bytes remain in the file");
    std::string s(static_cast<size_t>(n), '\0');
    if (n) bytes(&s[0], n, what);
    return s;
  }

 private:
  GgufSource& src_;
  uint64_t size_;
  uint64_t pos_ = 0;
};

std::string quoted(const std::string& s) { return "'" + s + "'"; }

void read_value(Reader& r, GgufValueType type, GgufValue* v, int depth, const std::string& key, uint64_t* items) {
  v->type = type;
  switch (type) {
    case GgufValueType::U8: v->u = r.num<uint8_t>("a u8 value"); break;
    case GgufValueType::I8: v->i = r.num<int8_t>("an i8 value"); break;
    case GgufValueType::U16: v->u = r.num<uint16_t>("a u16 value"); break;
    case GgufValueType::I16: v->i = r.num<int16_t>("an i16 value"); break;
    case GgufValueType::U32: v->u = r.num<uint32_t>("a u32 value"); break;
    case GgufValueType::I32: v->i = r.num<int32_t>("an i32 value"); break;
    case GgufValueType::U64: v->u = r.num<uint64_t>("a u64 value"); break;
    case GgufValueType::I64: v->i = r.num<int64_t>("an i64 value"); break;
    case GgufValueType::F32: v->f = r.num<float>("an f32 value"); break;
    case GgufValueType::F64: v->f = r.num<double>("an f64 value"); break;
    case GgufValueType::Bool: {
      const uint64_t at = r.pos();
      const uint8_t b = r.num<uint8_t>("a bool value");
      NT_CHECK(b <= 1, IO, "metadata ", quoted(key), ": bool at byte ", at, " is ", int(b), " (must be 0 or 1)");
      v->u = b;
      break;
    }
    case GgufValueType::String: v->s = r.string("a string value", kGgufMaxString); break;
    case GgufValueType::Array: {
      NT_CHECK(depth < kGgufMaxNesting, IO, "metadata ", quoted(key), ": arrays nested more than ", kGgufMaxNesting,
               " deep at byte ", r.pos());
      const uint64_t at = r.pos();
      const uint32_t it = r.num<uint32_t>("an array item type");
      NT_CHECK(known_value_type(it), IO, "metadata ", quoted(key), ": array at byte ", at, " has unknown item type ", it);
      v->item_type = static_cast<GgufValueType>(it);
      const uint64_t n = r.num<uint64_t>("an array length");
      // every item takes at least min_value_bytes: a count the rest of the file cannot hold is malformed
      NT_CHECK(n <= r.left() / min_value_bytes(v->item_type), IO, "metadata ", quoted(key), ": array at byte ", at,
               " of ", n, " ", gguf_value_type_name(v->item_type), " items cannot fit in the ", r.left(),
               " bytes left in the file");
      NT_CHECK(n <= kGgufMaxItems - *items, IO, "metadata ", quoted(key), ": array at byte ", at, " of ", n,
               " items takes the metadata past ", kGgufMaxItems, " array items in all");
      *items += n;
      v->items.resize(static_cast<size_t>(n));
      for (GgufValue& item : v->items) read_value(r, v->item_type, &item, depth + 1, key, items);
      break;
    }
  }
}

}  // namespace

const char* gguf_value_type_name(GgufValueType t) {
  switch (t) {
    case GgufValueType::U8: return "u8";
    case GgufValueType::I8: return "i8";
    case GgufValueType::U16: return "u16";
    case GgufValueType::I16: return "i16";
    case GgufValueType::U32: return "u32";
    case GgufValueType::I32: return "i32";
    case GgufValueType::F32: return "f32";
    case GgufValueType::Bool: return "bool";
    case GgufValueType::String: return "string";
    case GgufValueType::Array: return "array";
    case GgufValueType::U64: return "u64";
    case GgufValueType::I64: return "i64";
    case GgufValueType::F64: return "f64";
  }
  return "?";
}

const GgmlType* ggml_type_info(uint32_t id) {
  for (const GgmlType& t : kTypes)
    if (t.id == id) return &t;
  return nullptr;
}

GgufFile parse_gguf(GgufSource& src) {
  GgufFile g;
  g.file_bytes = src.size();
  Reader r(src);
  NT_CHECK(g.file_bytes >= 24, IO, "file is ", g.file_bytes, " bytes, shorter than the 24-byte GGUF header");
  char magic[4];
  r.bytes(magic, 4, "the magic");
  NT_CHECK(std::memcmp(magic, "GGUF", 4) == 0, IO, "not a GGUF file: the magic is not \"GGUF\"");
  g.version = r.num<uint32_t>("the version");
  if (g.version != 2 && g.version != 3) {
    const uint32_t swapped = __builtin_bswap32(g.version);
    NT_CHECK(swapped != 2 && swapped != 3, IO, "big-endian GGUF (version field ", swapped,
             " byte-swapped) is not supported");
    fail(ErrorCode::IO, "GGUF version ", g.version, " is not supported (2 and 3 are)");
  }
  const uint64_t n_tensors = r.num<uint64_t>("the tensor count");
  const uint64_t n_kv = r.num<uint64_t>("the metadata count");
  NT_CHECK(n_tensors <= kGgufMaxTensors, IO, "tensor count ", n_tensors, " exceeds the limit of ", kGgufMaxTensors);
  NT_CHECK(n_kv <= kGgufMaxKv, IO, "metadata count ", n_kv, " exceeds the limit of ", kGgufMaxKv);
  // a kv is at least key length + type + 1 byte; a tensor info at least 8 + 4 + 8 + 4 + 8
  NT_CHECK(n_kv <= r.left() / 13, IO, "metadata count ", n_kv, " cannot fit in the ", r.left(), " bytes of the file");
  NT_CHECK(n_tensors <= r.left() / 32, IO, "tensor count ", n_tensors, " cannot fit in the ", r.left(),
           " bytes of the file");

  std::unordered_set<std::string> keys;
  uint64_t items = 0;
  g.kv.resize(static_cast<size_t>(n_kv));
  for (GgufKv& kv : g.kv) {
    const uint64_t at = r.pos();
    kv.key = r.string("a metadata key", 65535);
    NT_CHECK(!kv.key.empty(), IO, "metadata key at byte ", at, " is empty");
    NT_CHECK(keys.insert(kv.key).second, IO, "duplicate metadata key ", quoted(kv.key), " at byte ", at);
    const uint64_t tat = r.pos();
    const uint32_t t = r.num<uint32_t>("a metadata value type");
    NT_CHECK(known_value_type(t), IO, "metadata ", quoted(kv.key), ": unknown value type ", t, " at byte ", tat);
    read_value(r, static_cast<GgufValueType>(t), &kv.value, 0, kv.key, &items);
    if (kv.key == "general.alignment") {
      NT_CHECK(kv.value.type == GgufValueType::U32, IO, "general.alignment must be a u32, got ",
               gguf_value_type_name(kv.value.type));
      const uint64_t a = kv.value.u;
      NT_CHECK(a != 0 && (a & (a - 1)) == 0, IO, "general.alignment ", a, " is not a power of two");
      g.alignment = static_cast<uint32_t>(a);
    }
  }

  std::unordered_set<std::string> names;
  g.tensors.resize(static_cast<size_t>(n_tensors));
  for (GgufTensorInfo& t : g.tensors) {
    const uint64_t at = r.pos();
    {
      // ggml's GGML_MAX_NAME, checked before the name is read
      const uint64_t len = r.num<uint64_t>("a tensor name length");
      NT_CHECK(len <= kGgufMaxName, IO, "tensor name at byte ", at, " is ", len, " bytes, over ggml's limit of ",
               kGgufMaxName);
      t.name.assign(static_cast<size_t>(len), '\0');
      if (len) r.bytes(&t.name[0], len, "a tensor name");
    }
    NT_CHECK(!t.name.empty(), IO, "tensor name at byte ", at, " is empty");
    NT_CHECK(names.insert(t.name).second, IO, "duplicate tensor name ", quoted(t.name), " at byte ", at);
    const std::string what = "tensor " + quoted(t.name);
    const uint32_t nd = r.num<uint32_t>("a tensor rank");
    NT_CHECK(nd >= 1 && nd <= kGgufMaxDims, IO, what, " has ", nd, " dimensions (1 to ", kGgufMaxDims, " allowed)");
    t.dims.resize(nd);
    uint64_t numel = 1;
    for (uint32_t d = 0; d < nd; ++d) {
      t.dims[d] = r.num<uint64_t>("a tensor dimension");
      NT_CHECK(t.dims[d] > 0, IO, what, " has dimension ", d, " of size 0 (shape ", shape_text(t.dims), ")");
      NT_CHECK(!__builtin_mul_overflow(numel, t.dims[d], &numel) && numel <= uint64_t(INT64_MAX), IO, what,
               " shape ", shape_text(t.dims), ": the element count overflows int64");
    }
    const uint64_t tat = r.pos();
    t.type = r.num<uint32_t>("a tensor type");
    const GgmlType* info = ggml_type_info(t.type);
    NT_CHECK(info, IO, what, " has unknown ggml type ", t.type, " at byte ", tat);
    NT_CHECK(t.dims[0] % info->block_size == 0, IO, what, " of type ", info->name, " has a row length of ",
             t.dims[0], ", not a multiple of its block size ", info->block_size);
    // numel / block_size * type_size cannot overflow: numel < 2^63 and type_size < block_size * 8 + 64
    uint64_t bytes = 0;
    NT_CHECK(!__builtin_mul_overflow(numel / info->block_size, uint64_t(info->type_size), &bytes), IO, what,
             " byte size overflows");
    t.bytes = bytes;
    t.offset = r.num<uint64_t>("a tensor offset");
    NT_CHECK(t.offset % g.alignment == 0, IO, what, " offset ", t.offset, " is not a multiple of the alignment ",
             g.alignment);
  }

  // data section: the header padded to the alignment
  const uint64_t pad = (g.alignment - r.pos() % g.alignment) % g.alignment;
  g.data_start = r.pos() + pad;
  const uint64_t data_bytes = g.file_bytes >= g.data_start ? g.file_bytes - g.data_start : 0;
  NT_CHECK(g.tensors.empty() || g.file_bytes >= g.data_start, IO, "truncated: the data section starts at byte ",
           g.data_start, " past the end of the ", g.file_bytes, "-byte file");
  for (const GgufTensorInfo& t : g.tensors)
    NT_CHECK(t.offset <= data_bytes && t.bytes <= data_bytes - t.offset, IO, "tensor ", quoted(t.name), " data [",
             t.offset, ", ", t.offset + (t.bytes > UINT64_MAX - t.offset ? 0 : t.bytes), ") of ", t.bytes,
             " bytes lies past the end of the data section (", data_bytes, " bytes)");
  std::vector<const GgufTensorInfo*> order;
  for (const GgufTensorInfo& t : g.tensors) order.push_back(&t);
  std::sort(order.begin(), order.end(), [](const GgufTensorInfo* a, const GgufTensorInfo* b) {
    return a->offset < b->offset || (a->offset == b->offset && a->bytes < b->bytes);
  });
  for (size_t i = 1; i < order.size(); ++i) {
    const GgufTensorInfo& a = *order[i - 1];
    const GgufTensorInfo& b = *order[i];
    NT_CHECK(b.offset >= a.offset + a.bytes, IO, "tensor ", quoted(b.name), " data [", b.offset, ", ",
             b.offset + b.bytes, ") overlaps tensor ", quoted(a.name), " [", a.offset, ", ", a.offset + a.bytes, ")");
  }
  return g;
}

namespace {

class BufferSource : public GgufSource {
 public:
  BufferSource(const uint8_t* data, size_t len) : data_(data), len_(len) {}
  uint64_t size() const override { return len_; }
  void read(uint64_t offset, void* dst, uint64_t n) override { std::memcpy(dst, data_ + offset, n); }

 private:
  const uint8_t* data_;
  size_t len_;
};

// Reads through a window: the header is thousands of small fields (a vocabulary's strings).
class FileSource : public GgufSource {
 public:
  explicit FileSource(const std::string& path) : file_(path) {}
  uint64_t size() const override { return file_.size(); }
  void read(uint64_t offset, void* dst, uint64_t n) override {
    if (n > kWindow) {
      file_.read_at(offset, dst, n, "GGUF header");
      return;
    }
    if (offset < start_ || offset + n > start_ + buf_.size()) {
      const uint64_t len = std::min<uint64_t>(kWindow, file_.size() - offset);
      buf_.resize(static_cast<size_t>(len));
      file_.read_at(offset, buf_.data(), len, "GGUF header");
      start_ = offset;
    }
    std::memcpy(dst, buf_.data() + (offset - start_), n);
  }

 private:
  static constexpr uint64_t kWindow = 1u << 20;
  InputFile file_;
  std::vector<uint8_t> buf_;
  uint64_t start_ = 0;
};

}  // namespace

GgufFile parse_gguf_buffer(const uint8_t* data, size_t len) {
  BufferSource src(data, len);
  return parse_gguf(src);
}

GgufFile read_gguf_file(const std::string& path) {
  try {
    check_path(path);
    FileSource src(path);
    return parse_gguf(src);
  } catch (const Error& e) {
    const std::string msg = e.what();
    throw Error(e.code(), msg.rfind(path + ":", 0) == 0 ? msg : path + ": " + msg);
  }
}

}  // namespace nt::io
