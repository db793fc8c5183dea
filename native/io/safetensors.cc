#include "safetensors.h"

#include <algorithm>
#include <cstring>
#include <sstream>

#include "../core/error.h"
#include "json.h"

namespace nt::io {
namespace {

uint64_t read_u64_le(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

std::string quoted(const std::string& name) { return "'" + name + "'"; }

std::string offsets_text(uint64_t b, uint64_t e) {
  return "[" + std::to_string(b) + ", " + std::to_string(e) + "]";
}

// Byte size of a tensor of `type` and `shape`; false on overflow or a partial byte.
bool tensor_bytes(StoredType type, const std::vector<uint64_t>& shape, uint64_t* out, bool* partial) {
  uint64_t n = 0, bits = 0;
  *partial = false;
  if (!checked_numel(shape, &n) || __builtin_mul_overflow(n, static_cast<uint64_t>(stored_bits(type)), &bits))
    return false;
  *partial = bits % 8 != 0;
  *out = bits / 8;
  return true;
}

void parse_entry(JsonReader& r, const std::string& name, size_t name_pos, uint64_t data_bytes, SafetensorsEntry* e) {
  const std::string t = "tensor " + quoted(name);
  if (r.peek() != JsonKind::Object)
    r.fail_at(r.pos(), t + " must be an object with dtype, shape and data_offsets, got " + json_kind_name(r.peek()));
  e->name = name;
  bool have_dtype = false, have_shape = false, have_offsets = false;
  std::vector<uint64_t> offsets;
  r.begin_object();
  std::string key;
  size_t key_pos = 0;
  while (r.next_key(&key, &key_pos)) {
    if (key == "dtype") {
      if (have_dtype) r.fail_at(key_pos, t + " has a duplicate key \"dtype\"");
      have_dtype = true;
      if (r.peek() != JsonKind::String) r.fail_at(r.pos(), t + ": dtype must be a string, got " + json_kind_name(r.peek()));
      const size_t at = r.pos();
      const std::string d = r.read_string();
      if (!stored_from_name(d, &e->type)) r.fail_at(at, t + " has unknown dtype \"" + d + "\"");
    } else if (key == "shape") {
      if (have_shape) r.fail_at(key_pos, t + " has a duplicate key \"shape\"");
      have_shape = true;
      if (r.peek() != JsonKind::Array) r.fail_at(r.pos(), t + ": shape must be an array, got " + json_kind_name(r.peek()));
      r.begin_array();
      while (r.next_item()) {
        if (e->shape.size() == kSafetensorsMaxRank)
          r.fail_at(r.pos(), t + ": shape has more than " + std::to_string(kSafetensorsMaxRank) + " dimensions");
        e->shape.push_back(r.read_index(t + " shape dimension"));
      }
    } else if (key == "data_offsets") {
      if (have_offsets) r.fail_at(key_pos, t + " has a duplicate key \"data_offsets\"");
      have_offsets = true;
      if (r.peek() != JsonKind::Array)
        r.fail_at(r.pos(), t + ": data_offsets must be an array [begin, end], got " + json_kind_name(r.peek()));
      const size_t at = r.pos();
      r.begin_array();
      while (r.next_item()) {
        if (offsets.size() == 2) r.fail_at(at, t + ": data_offsets must have exactly 2 entries, got more");
        offsets.push_back(r.read_index(t + " data offset"));
      }
      if (offsets.size() != 2)
        r.fail_at(at, t + ": data_offsets must have exactly 2 entries, got " + std::to_string(offsets.size()));
    } else {
      r.fail_at(key_pos, t + " has unexpected key \"" + key + "\" (expected dtype, shape, data_offsets)");
    }
  }
  if (!have_dtype) r.fail_at(name_pos, t + " is missing \"dtype\"");
  if (!have_shape) r.fail_at(name_pos, t + " is missing \"shape\"");
  if (!have_offsets) r.fail_at(name_pos, t + " is missing \"data_offsets\"");
  e->begin = offsets[0];
  e->end = offsets[1];
  const std::string range = offsets_text(e->begin, e->end);
  NT_CHECK(e->begin <= e->end, IO, t, " data_offsets ", range, " are reversed (begin > end)");
  uint64_t bytes = 0;
  bool partial = false;
  NT_CHECK(tensor_bytes(e->type, e->shape, &bytes, &partial), IO, t, " shape ", shape_text(e->shape),
           " overflows 64-bit size arithmetic");
  NT_CHECK(!partial, IO, t, " shape ", shape_text(e->shape), " of ", stored_name(e->type),
           " is not a whole number of bytes");
  NT_CHECK(bytes == e->end - e->begin, IO, t, " has shape ", shape_text(e->shape), " and dtype ",
           stored_name(e->type), " (", bytes, " bytes) but data_offsets ", range, " span ", e->end - e->begin,
           " bytes");
  NT_CHECK(e->end <= data_bytes, IO, t, " data_offsets ", range, " exceed the data section of ", data_bytes,
           " bytes");
}

template <typename T, typename Key>
void reject_duplicates(JsonReader& r, const std::vector<T>& items, const std::vector<size_t>& positions, Key key,
                       const char* what) {
  std::vector<size_t> order(items.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return key(items[a]) < key(items[b]) || (key(items[a]) == key(items[b]) && a < b);
  });
  for (size_t i = 1; i < order.size(); ++i)
    if (key(items[order[i]]) == key(items[order[i - 1]]))
      r.fail_at(positions[order[i]], std::string("duplicate ") + what + " \"" + key(items[order[i]]) + "\"");
}

}  // namespace

std::string shape_text(const std::vector<uint64_t>& shape) {
  std::ostringstream os;
  os << '[';
  for (size_t i = 0; i < shape.size(); ++i) os << (i ? "," : "") << shape[i];
  os << ']';
  return os.str();
}

bool checked_numel(const std::vector<uint64_t>& shape, uint64_t* out) {
  uint64_t n = 1;
  for (uint64_t d : shape)
    if (__builtin_mul_overflow(n, d, &n)) return false;
  *out = n;
  return true;
}

uint64_t safetensors_header_length(const uint8_t* first8, uint64_t file_bytes) {
  NT_CHECK(file_bytes >= 8, IO, "file is ", file_bytes,
           " bytes, shorter than the 8-byte header length field of a safetensors file");
  const uint64_t n = read_u64_le(first8);
  NT_CHECK(n <= kSafetensorsMaxHeader, IO, "header length ", n, " exceeds the limit of ", kSafetensorsMaxHeader,
           " bytes");
  NT_CHECK(n <= file_bytes - 8, IO, "header length ", n, " exceeds the ", file_bytes - 8,
           " bytes that follow the length field");
  return n;
}

SafetensorsHeader parse_safetensors_header(const uint8_t* header, size_t header_len, uint64_t data_bytes) {
  JsonReader r(reinterpret_cast<const char*>(header), header_len, "header JSON", {kSafetensorsMaxHeader, 64});
  SafetensorsHeader h;
  if (r.peek() != JsonKind::Object)
    r.fail_at(r.pos(), std::string("the header must be a JSON object, got ") + json_kind_name(r.peek()));
  r.begin_object();
  std::vector<size_t> name_pos, meta_pos;
  bool have_metadata = false;
  std::string key;
  size_t key_pos = 0;
  while (r.next_key(&key, &key_pos)) {
    if (key == "__metadata__") {
      if (have_metadata) r.fail_at(key_pos, "duplicate key \"__metadata__\"");
      have_metadata = true;
      if (r.peek() != JsonKind::Object)
        r.fail_at(r.pos(), std::string("__metadata__ must be an object of strings, got ") + json_kind_name(r.peek()));
      r.begin_object();
      std::string mkey;
      size_t mpos = 0;
      while (r.next_key(&mkey, &mpos)) {
        if (r.peek() != JsonKind::String)
          r.fail_at(r.pos(), "__metadata__ value of \"" + mkey + "\" must be a string, got " + json_kind_name(r.peek()));
        h.metadata.emplace_back(mkey, r.read_string());
        meta_pos.push_back(mpos);
      }
      continue;
    }
    if (key.empty()) r.fail_at(key_pos, "tensor name is empty");
    h.tensors.emplace_back();
    name_pos.push_back(key_pos);
    parse_entry(r, key, key_pos, data_bytes, &h.tensors.back());
  }
  r.finish();
  reject_duplicates(r, h.tensors, name_pos, [](const SafetensorsEntry& e) -> const std::string& { return e.name; },
                    "tensor name");
  reject_duplicates(r, h.metadata, meta_pos, [](const auto& kv) -> const std::string& { return kv.first; },
                    "__metadata__ key");

  // The tensors must tile [0, data_bytes) in offset order (the reference's rule).
  std::stable_sort(h.tensors.begin(), h.tensors.end(), [](const SafetensorsEntry& a, const SafetensorsEntry& b) {
    return a.begin < b.begin || (a.begin == b.begin && a.end < b.end);
  });
  uint64_t cursor = 0;
  const SafetensorsEntry* prev = nullptr;
  for (const SafetensorsEntry& e : h.tensors) {
    if (e.begin < cursor)
      fail(ErrorCode::IO, "tensor ", quoted(e.name), " data_offsets ", offsets_text(e.begin, e.end),
           " overlap tensor ", quoted(prev->name), " ", offsets_text(prev->begin, prev->end));
    NT_CHECK(e.begin == cursor, IO, "data section is not contiguous: bytes [", cursor, ", ", e.begin,
             ") belong to no tensor (next is ", quoted(e.name), ")");
    cursor = e.end;
    prev = &e;
  }
  NT_CHECK(cursor == data_bytes, IO, "data section is not contiguous: it has ", data_bytes,
           " bytes but the tensors end at byte ", cursor);
  return h;
}

SafetensorsHeader parse_safetensors_buffer(const uint8_t* file, size_t len, uint64_t* data_start) {
  const uint64_t n = safetensors_header_length(file, len);
  *data_start = 8 + n;
  return parse_safetensors_header(file + 8, static_cast<size_t>(n), len - 8 - n);
}

SafetensorsLayout plan_safetensors(const std::vector<SafetensorsOutEntry>& entries, const StringPairs& metadata) {
  SafetensorsLayout L;
  const size_t n = entries.size();
  L.begin.assign(n, 0);
  L.bytes.assign(n, 0);
  for (size_t i = 0; i < n; ++i) {
    const SafetensorsOutEntry& e = entries[i];
    NT_CHECK(!e.name.empty(), Value, "tensor names must be non-empty");
    NT_CHECK(e.name != "__metadata__", Value, "\"__metadata__\" is reserved and cannot name a tensor");
    NT_CHECK(e.shape.size() <= kSafetensorsMaxRank, Value, "tensor ", quoted(e.name), " has rank ", e.shape.size());
    bool partial = false;
    NT_CHECK(tensor_bytes(e.type, e.shape, &L.bytes[i], &partial) && !partial, Value, "tensor ", quoted(e.name),
             " shape ", shape_text(e.shape), " has no whole byte size");
    L.order.push_back(i);
  }
  std::sort(L.order.begin(), L.order.end(), [&](size_t a, size_t b) {
    const int ba = stored_bits(entries[a].type), bb = stored_bits(entries[b].type);
    return ba > bb || (ba == bb && entries[a].name < entries[b].name);
  });
  for (size_t i = 1; i < n; ++i)
    NT_CHECK(entries[L.order[i]].name != entries[L.order[i - 1]].name, Value, "tensor name ",
             quoted(entries[L.order[i]].name), " appears twice");
  {
    std::vector<std::string> keys;
    for (const auto& kv : metadata) keys.push_back(kv.first);
    std::sort(keys.begin(), keys.end());
    for (size_t i = 1; i < keys.size(); ++i)
      NT_CHECK(keys[i] != keys[i - 1], Value, "metadata key ", quoted(keys[i]), " appears twice");
  }

  std::string json = "{";
  if (!metadata.empty()) {
    json += "\"__metadata__\":{";
    for (size_t i = 0; i < metadata.size(); ++i) {
      if (i) json += ',';
      json_append_string(json, metadata[i].first);
      json += ':';
      json_append_string(json, metadata[i].second);
    }
    json += '}';
  }
  uint64_t offset = 0;
  for (size_t k = 0; k < n; ++k) {
    const size_t i = L.order[k];
    const SafetensorsOutEntry& e = entries[i];
    if (json.size() > 1) json += ',';
    json_append_string(json, e.name);
    json += ":{\"dtype\":\"";
    json += stored_name(e.type);
    json += "\",\"shape\":[";
    for (size_t d = 0; d < e.shape.size(); ++d) json += (d ? "," : "") + std::to_string(e.shape[d]);
    L.begin[i] = offset;
    NT_CHECK(!__builtin_add_overflow(offset, L.bytes[i], &offset), Value, "total tensor size overflows");
    json += "],\"data_offsets\":[" + std::to_string(L.begin[i]) + "," + std::to_string(offset) + "]}";
  }
  json += '}';
  json.append((8 - json.size() % 8) % 8, ' ');  // data starts 8-aligned, like the reference writer
  NT_CHECK(json.size() <= kSafetensorsMaxHeader, Value, "header of ", json.size(), " bytes exceeds the format's limit");
  L.data_bytes = offset;
  L.prefix.resize(8);
  uint64_t len = json.size();
  for (int i = 0; i < 8; ++i, len >>= 8) L.prefix[i] = static_cast<char>(len & 0xff);
  L.prefix += json;
  return L;
}

}  // namespace nt::io
