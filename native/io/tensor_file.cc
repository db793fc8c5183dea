#include "tensor_file.h"

#include <algorithm>
#include <cstring>
#include <unordered_map>

#include "../core/error.h"
#include "../core/scratch.h"
#include "file.h"
#include "json.h"

namespace nt::io {
namespace {

constexpr uint64_t kChunkBytes = 4u << 20;           // conversion / gather buffer
constexpr uint64_t kMaxIndexBytes = 64u << 20;       // a shard index is a few hundred KB

// Runs f, prefixing any nt::Error with "<path>: ".
template <typename F>
auto with_path(const std::string& path, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const Error& e) {
    throw Error(e.code(), path + ": " + e.what());
  }
}

std::string quoted(const std::string& s) { return "'" + s + "'"; }

std::string view_shape(const TensorView& v) {
  std::vector<uint64_t> s(v.shape, v.shape + v.ndim);
  return shape_text(s);
}

uint64_t element_bytes(DType d) { return static_cast<uint64_t>(dtype_bits(d) / 8); }

// The target must be a plain contiguous view of exactly the stored shape.
void check_target(const std::string& what, const std::vector<uint64_t>& shape, StoredType type, const TensorView& out) {
  DType loads_as;
  NT_CHECK(stored_default_dtype(type, &loads_as), Unsupported, what, " has dtype ", stored_name(type),
           ", which ntensor cannot load");
  NT_CHECK(!dtype_packed(out.dtype), Unsupported, what, ": cannot load into packed ", dtype_name(out.dtype));
  NT_CHECK(shape.size() <= static_cast<size_t>(kMaxDims), Unsupported, what, " has rank ", shape.size(),
           "; ntensor tensors have at most ", kMaxDims, " dimensions");
  bool same = static_cast<size_t>(out.ndim) == shape.size();
  for (int i = 0; same && i < out.ndim; ++i) same = static_cast<uint64_t>(out.shape[i]) == shape[i];
  NT_CHECK(same, Shape, what, " has shape ", shape_text(shape), " but the output is ", view_shape(out));
  NT_CHECK(out.is_contiguous(), Value, what, ": the output must be contiguous");
}

// n stored elements at file offset `offset` into out (already checked), converting.
void read_elements(const InputFile& f, uint64_t offset, StoredType type, bool swap, uint64_t n, const TensorView& out,
                   const std::string& what) {
  if (n == 0) return;
  const uint64_t in_size = static_cast<uint64_t>(stored_bits(type) / 8);
  const uint64_t out_size = element_bytes(out.dtype);
  uint8_t* dst = out.bytes() + static_cast<uint64_t>(out.offset) * out_size;
  if (stored_is_identity(type, out.dtype)) {  // straight into the caller's memory
    f.read_at(offset, dst, n * in_size, what);
    if (swap) swap_bytes(dst, n, static_cast<int>(in_size));
    return;
  }
  const uint64_t per_chunk = std::min(n, kChunkBytes / in_size);
  Scratch<uint8_t> buf(per_chunk * in_size);
  for (uint64_t done = 0; done < n;) {
    const uint64_t count = std::min(per_chunk, n - done);
    f.read_at(offset + done * in_size, buf.get(), count * in_size, what);
    if (swap) swap_bytes(buf.get(), count, static_cast<int>(in_size));
    try {
      convert_elements(buf.get(), type, count, dst + done * out_size, out.dtype, done);
    } catch (const Error& e) {
      throw Error(e.code(), what + ": " + e.what());
    }
    done += count;
  }
}

// Calls sink(bytes, n) with the view's elements in C order: the storage itself when the
// view is contiguous (and no swap is needed), else gathered through a bounded buffer.
// Strides may be anything the bounds check accepted (0, negative).
template <typename Sink>
void emit_view(const TensorView& v, bool swap, Sink&& sink) {
  const uint64_t es = element_bytes(v.dtype);
  const int64_t n = v.numel();
  if (n == 0) return;
  const uint8_t* base = v.bytes();
  if (v.is_contiguous() && !swap) {
    sink(base + static_cast<uint64_t>(v.offset) * es, static_cast<uint64_t>(n) * es);
    return;
  }
  const uint64_t cap = std::max<uint64_t>(1, kChunkBytes / es);
  Scratch<uint8_t> buf(std::min<uint64_t>(cap, static_cast<uint64_t>(n)) * es);
  uint64_t fill = 0;
  auto flush = [&] {
    if (swap) swap_bytes(buf.get(), fill, static_cast<int>(es));
    sink(buf.get(), fill * es);
    fill = 0;
  };
  const int nd = v.ndim;
  const int64_t inner = nd ? v.shape[nd - 1] : 1;
  const int64_t inner_stride = nd ? v.strides[nd - 1] : 1;
  int64_t idx[kMaxDims] = {0};
  int64_t row = v.offset;  // element offset of the current row's first element
  for (;;) {
    for (int64_t j = 0; j < inner; ++j) {
      std::memcpy(buf.get() + fill * es, base + static_cast<uint64_t>(row + j * inner_stride) * es, es);
      if (++fill == cap) flush();
    }
    int d = nd - 2;
    for (; d >= 0; --d) {
      row += v.strides[d];
      if (++idx[d] < v.shape[d]) break;
      row -= v.strides[d] * v.shape[d];
      idx[d] = 0;
    }
    if (d < 0) break;
  }
  if (fill) flush();
}

SafetensorsFile read_header(const InputFile& f) {
  SafetensorsFile out;
  out.file_bytes = f.size();
  uint8_t first8[8] = {0};
  f.read_at(0, first8, std::min<uint64_t>(8, f.size()), "the header length field");
  out.header_bytes = safetensors_header_length(first8, f.size());
  out.data_start = 8 + out.header_bytes;
  std::string json(static_cast<size_t>(out.header_bytes), '\0');
  f.read_at(8, json.data(), out.header_bytes, "the header");
  out.header = parse_safetensors_header(reinterpret_cast<const uint8_t*>(json.data()), json.size(),
                                        f.size() - out.data_start);
  return out;
}

NpyFile read_npy_header(const InputFile& f) {
  NpyFile out;
  out.file_bytes = f.size();
  uint8_t first[12] = {0};
  const uint64_t got = std::min<uint64_t>(12, f.size());
  f.read_at(0, first, got, "the header");
  const uint64_t offset = npy_data_offset(first, static_cast<size_t>(got), f.size());
  std::string prefix(static_cast<size_t>(offset), '\0');
  f.read_at(0, prefix.data(), offset, "the header");
  out.header = parse_npy_header(reinterpret_cast<const uint8_t*>(prefix.data()), prefix.size(), f.size());
  return out;
}

bool plain_file_name(const std::string& s) {
  return !s.empty() && s != "." && s != ".." && s.find_first_of(std::string("/\\:\0", 4)) == std::string::npos;
}

}  // namespace

SafetensorsFile read_safetensors_header_file(const std::string& path) {
  return with_path(path, [&] {
    InputFile f(path);
    return read_header(f);
  });
}

void read_safetensors_tensors(const std::string& path, const std::vector<TensorTarget>& targets) {
  with_path(path, [&] {
    InputFile f(path);
    const SafetensorsFile file = read_header(f);
    std::unordered_map<std::string, const SafetensorsEntry*> by_name;
    for (const SafetensorsEntry& e : file.header.tensors) by_name.emplace(e.name, &e);
    std::vector<std::pair<const SafetensorsEntry*, const TensorTarget*>> plan;
    for (const TensorTarget& t : targets) {
      auto it = by_name.find(t.name);
      NT_CHECK(it != by_name.end(), IO, "no tensor named ", quoted(t.name));
      check_target("tensor " + quoted(t.name), it->second->shape, it->second->type, t.out);
      plan.emplace_back(it->second, &t);
    }
    std::sort(plan.begin(), plan.end(), [](auto& a, auto& b) { return a.first->begin < b.first->begin; });  // sequential I/O
    const bool swap = !host_little_endian();  // safetensors data is little-endian
    for (const auto& [e, t] : plan) {
      uint64_t n = 0;
      checked_numel(e->shape, &n);
      read_elements(f, file.data_start + e->begin, e->type, swap, n, t->out, "tensor " + quoted(e->name));
    }
  });
}

void write_safetensors_file(const std::string& path, const std::vector<std::pair<std::string, TensorView>>& tensors,
                            const StringPairs& metadata) {
  with_path(path, [&] {
    std::vector<SafetensorsOutEntry> entries;
    for (const auto& [name, v] : tensors) {
      SafetensorsOutEntry e;
      e.name = name;
      NT_CHECK(stored_for_dtype(v.dtype, &e.type), Unsupported, "tensor ", quoted(name), " has dtype ",
               dtype_name(v.dtype), ", which safetensors cannot store");
      e.shape.assign(v.shape, v.shape + v.ndim);
      entries.push_back(std::move(e));
    }
    const SafetensorsLayout layout = plan_safetensors(entries, metadata);
    AtomicOutputFile out(path);
    out.write(layout.prefix.data(), layout.prefix.size());
    const bool swap = !host_little_endian();
    for (size_t i : layout.order)
      emit_view(tensors[i].second, swap, [&](const uint8_t* p, uint64_t n) { out.write(p, n); });
    out.commit();
  });
}

StringPairs read_safetensors_index(const std::string& path) {
  return with_path(path, [&] {
    InputFile f(path);
    NT_CHECK(f.size() <= kMaxIndexBytes, IO, "index file is ", f.size(), " bytes; the limit is ", kMaxIndexBytes);
    std::string text(static_cast<size_t>(f.size()), '\0');
    f.read_at(0, text.data(), f.size(), "the index");
    const JsonValue root = parse_json(text.data(), text.size(), "index JSON", {kMaxIndexBytes, 64});
    NT_CHECK(root.kind == JsonKind::Object, IO, "the index must be a JSON object, got ", json_kind_name(root.kind));
    const JsonValue* map = root.find("weight_map");
    NT_CHECK(map != nullptr, IO, "the index has no \"weight_map\"");
    NT_CHECK(map->kind == JsonKind::Object, IO, "\"weight_map\" must be an object, got ", json_kind_name(map->kind));
    StringPairs out;
    for (const auto& [name, file] : map->members) {
      NT_CHECK(!name.empty(), IO, "\"weight_map\" has an empty tensor name");
      NT_CHECK(file.kind == JsonKind::String, IO, "\"weight_map\" entry ", quoted(name), " must be a string, got ",
               json_kind_name(file.kind));
      NT_CHECK(plain_file_name(file.text), IO, "shard file ", quoted(file.text), " of tensor ", quoted(name),
               " must be a plain file name inside the index's folder");
      out.emplace_back(name, file.text);
    }
    return out;
  });
}

NpyFile read_npy_header_file(const std::string& path) {
  return with_path(path, [&] {
    InputFile f(path);
    return read_npy_header(f);
  });
}

void read_npy_file(const std::string& path, const TensorView& out) {
  with_path(path, [&] {
    InputFile f(path);
    const NpyFile file = read_npy_header(f);
    const NpyHeader& h = file.header;
    std::vector<uint64_t> shape = h.shape;
    if (h.fortran_order) std::reverse(shape.begin(), shape.end());
    check_target("array", shape, h.type, out);
    uint64_t n = 0;
    checked_numel(h.shape, &n);
    read_elements(f, h.data_offset, h.type, h.swap, n, out, "array data");
  });
}

void write_npy_file(const std::string& path, const TensorView& t) {
  with_path(path, [&] {
    StoredType type;
    NT_CHECK(stored_for_dtype(t.dtype, &type) && t.dtype != DType::BF16, Unsupported, "dtype ", dtype_name(t.dtype),
             " has no .npy equivalent", t.dtype == DType::BF16 ? " (numpy has no bfloat16; convert to f32 first)" : "");
    const std::string header = build_npy_header(type, std::vector<uint64_t>(t.shape, t.shape + t.ndim));
    AtomicOutputFile out(path);
    out.write(header.data(), header.size());
    emit_view(t, false, [&](const uint8_t* p, uint64_t n) { out.write(p, n); });  // host byte order, as the descr says
    out.commit();
  });
}

}  // namespace nt::io
