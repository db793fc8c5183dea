// libFuzzer-compatible harness over the file parsers of native/io (no Node-API): every input
// is fed to the safetensors parser, the .npy parser, the JSON DOM parser and the shard-index
// reader (through a file, as nt.model.load meets it). NT_FUZZ_TARGET picks one parser per
// libFuzzer binary (1 safetensors, 2 npy, 3 json, 4 index, 5 gguf; scripts/fuzz-libfuzzer.sh), so each
// grows its own coverage-guided corpus; 0 (the default, scripts/fuzz.js) runs all four. Parsers may
// only answer with nt::Error; anything else (another exception, a crash, a sanitizer report)
// is a finding. Accepted inputs are pushed further: their elements are converted into every
// ntensor dtype (the load path), and headers are re-written and re-parsed (the save path),
// which must reproduce them exactly.
//   clang++ -fsanitize=fuzzer,address,undefined -DNT_FUZZ_TARGET=1 test/fuzz/fuzz_parsers.cc <io+core+cpu .cc>
// or, without clang, test/fuzz/driver.cc (scripts/fuzz.js) replays the corpora and mutates.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <unistd.h>

#include "core/error.h"
#include "io/element.h"
#include "io/gguf.h"
#include "io/gguf_decode.h"
#include "io/json.h"
#include "io/npy.h"
#include "io/safetensors.h"
#include "io/tensor_file.h"

#ifndef NT_FUZZ_TARGET
#define NT_FUZZ_TARGET 0
#endif

namespace {

using namespace nt;
using namespace nt::io;

[[noreturn]] void finding(const char* what) {
  std::fprintf(stderr, "fuzz_parsers: invariant violated: %s\n", what);
  std::abort();
}

constexpr DType kTargets[] = {DType::F32, DType::F64, DType::F16, DType::BF16, DType::I8, DType::U8, DType::I32};
constexpr uint64_t kMaxConvert = 1 << 16;  // elements per tensor converted (bounds the time per input)

uint64_t dtype_bytes(DType d) { return static_cast<uint64_t>(dtype_bits(d) / 8); }

// Converts up to kMaxConvert elements of a stored tensor into every target dtype; a value
// that does not fit is NT_VALUE, anything ntensor cannot hold NT_UNSUPPORTED.
void convert_all(const uint8_t* src, StoredType type, uint64_t n, bool swap) {
  DType loads_as;
  if (!stored_default_dtype(type, &loads_as)) return;
  const int width = stored_bits(type) / 8;
  n = n < kMaxConvert ? n : kMaxConvert;
  // Aligned copies: the SIMD conversion paths expect element-aligned buffers, as TypedArray
  // storage and the native read buffers are.
  std::vector<uint64_t> in((n * width + 7) / 8 + 1);
  std::memcpy(in.data(), src, n * width);
  if (swap) swap_bytes(in.data(), n, width);
  std::vector<uint64_t> out(n + 1);
  for (DType to : kTargets) {
    try {
      convert_elements(in.data(), type, n, out.data(), to, 0);
    } catch (const Error& e) {
      if (e.code() != ErrorCode::Value) finding("convert_elements failed with a code other than NT_VALUE");
    }
  }
  (void)dtype_bytes;
}

void fuzz_safetensors(const uint8_t* data, size_t size) {
  uint64_t data_start = 0;
  SafetensorsHeader h;
  try {
    h = parse_safetensors_buffer(data, size, &data_start);
  } catch (const Error& e) {
    if (e.code() != ErrorCode::IO) finding("safetensors parser failed with a code other than NT_IO");
    return;
  }
  // Accepted: every range lies inside the buffer and matches its shape.
  std::vector<SafetensorsOutEntry> entries;
  for (const SafetensorsEntry& e : h.tensors) {
    if (e.begin > e.end || data_start + e.end > size) finding("accepted a tensor outside the file");
    uint64_t n = 0;
    if (!checked_numel(e.shape, &n)) finding("accepted an overflowing shape");
    const int bits = stored_bits(e.type);
    if (n * static_cast<uint64_t>(bits) != (e.end - e.begin) * 8) finding("accepted a byte count that differs from the shape");
    if (bits % 8 == 0) convert_all(data + data_start + e.begin, e.type, n, !host_little_endian());
    entries.push_back({e.name, e.type, e.shape});
  }
  // Save path: the header re-written by the writer parses back to the same tensors.
  SafetensorsLayout layout;
  try {
    layout = plan_safetensors(entries, h.metadata);
  } catch (const Error& e) {
    // Only sub-byte tensors of an odd element count have no whole byte size to write.
    if (e.code() != ErrorCode::Value) finding("plan_safetensors failed with a code other than NT_VALUE");
    return;
  }
  std::vector<uint8_t> file(layout.prefix.begin(), layout.prefix.end());
  file.resize(file.size() + layout.data_bytes, 0);
  uint64_t start2 = 0;
  SafetensorsHeader again;
  try {
    again = parse_safetensors_buffer(file.data(), file.size(), &start2);
  } catch (const Error&) {
    finding("a header written by plan_safetensors does not parse");
  }
  if (again.tensors.size() != h.tensors.size() || again.metadata != h.metadata) finding("safetensors round trip differs");
  for (const SafetensorsEntry& e : again.tensors) {
    bool found = false;
    for (const SafetensorsEntry& o : h.tensors)
      if (o.name == e.name) {
        found = true;
        if (o.type != e.type || o.shape != e.shape || o.end - o.begin != e.end - e.begin) finding("safetensors round trip changed a tensor");
      }
    if (!found) finding("safetensors round trip changed a name");
  }
}

void fuzz_npy(const uint8_t* data, size_t size) {
  NpyHeader h;
  try {
    h = parse_npy_buffer(data, size);
  } catch (const Error& e) {
    if (e.code() != ErrorCode::IO && e.code() != ErrorCode::Unsupported)
      finding("npy parser failed with a code other than NT_IO / NT_UNSUPPORTED");
    return;
  }
  if (h.data_offset + h.data_bytes != size) finding("accepted a .npy whose data does not end the file");
  uint64_t n = 0;
  if (!checked_numel(h.shape, &n)) finding("accepted an overflowing .npy shape");
  convert_all(data + h.data_offset, h.type, n, h.swap);
  // Save path: the header numpy-style writer produces for this shape parses back.
  try {
    const std::string header = build_npy_header(h.type, h.shape);
    std::vector<uint8_t> file(header.begin(), header.end());
    const uint64_t bytes = h.data_bytes;
    if (bytes <= (1u << 20)) {
      file.resize(file.size() + bytes, 0);
      const NpyHeader again = parse_npy_buffer(file.data(), file.size());
      if (again.shape != h.shape || again.type != h.type || again.fortran_order) finding("npy round trip differs");
    }
  } catch (const Error&) {
    finding("a header written by build_npy_header does not parse");
  }
}

void fuzz_json(const uint8_t* data, size_t size) {
  try {
    const JsonValue v = parse_json(reinterpret_cast<const char*>(data), size, "fuzz JSON", {1 << 20, 64});
    // Strings that parsed are valid UTF-8: re-encoding them as literals and parsing back is exact.
    if (v.kind == JsonKind::String) {
      std::string lit;
      json_append_string(lit, v.text);
      const JsonValue again = parse_json(lit.data(), lit.size(), "fuzz JSON");
      if (again.kind != JsonKind::String || again.text != v.text) finding("JSON string round trip differs");
    }
  } catch (const Error& e) {
    if (e.code() != ErrorCode::IO) finding("JSON parser failed with a code other than NT_IO");
  }
}

// The shard index as nt.model.load reads it: from a file, so the size check, the exact
// read and the JSON DOM run as in production. Accepted shard names must be plain names.
void fuzz_index(const uint8_t* data, size_t size) {
  // One private scratch file per process (mkstemp: no name another user of /tmp could plant).
  static std::string path;
  static int fd = -1;
  if (fd < 0) {
    const char* dir = std::getenv("TMPDIR");
    std::string tmpl = std::string(dir && *dir ? dir : "/tmp") + "/nt-fuzz-index-XXXXXX";
    fd = mkstemp(tmpl.data());
    if (fd < 0) finding("cannot create the index scratch file");
    path = tmpl;
    std::atexit([] { unlink(path.c_str()); });
  }
  if (ftruncate(fd, 0) != 0 || (size && pwrite(fd, data, size, 0) != static_cast<ssize_t>(size)))
    finding("cannot write the index scratch file");
  try {
    const StringPairs map = read_safetensors_index(path);
    for (const auto& [name, file] : map) {
      if (name.empty()) finding("index accepted an empty tensor name");
      if (file.empty() || file == "." || file == ".." || file.find_first_of(std::string("/\\:\0", 4)) != std::string::npos)
        finding("index accepted a shard name that is not a plain file name");
    }
  } catch (const Error& e) {
    if (e.code() != ErrorCode::IO) finding("index reader failed with a code other than NT_IO");
  }
}

// GGUF: accepted headers must describe tensors inside the buffer, aligned and disjoint; their
// blocks are then decoded (dequantized, and repacked for Q4_0 / Q8_0) as the loader does.
void fuzz_gguf(const uint8_t* data, size_t size) {
  GgufFile g;
  try {
    g = parse_gguf_buffer(data, size);
  } catch (const Error& e) {
    if (e.code() != ErrorCode::IO) finding("GGUF parser failed with a code other than NT_IO");
    return;
  }
  if (g.alignment == 0 || (g.alignment & (g.alignment - 1)) != 0) finding("GGUF alignment not a power of two");
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (const GgufTensorInfo& t : g.tensors) {
    const GgmlType* info = ggml_type_info(t.type);
    if (!info) finding("GGUF tensor of an unknown type accepted");
    if (t.offset % g.alignment != 0) finding("GGUF tensor offset not aligned");
    if (t.dims.empty() || t.dims.size() > kGgufMaxDims) finding("GGUF rank out of range accepted");
    if (g.data_start + t.offset + t.bytes > size) finding("GGUF tensor data past the buffer accepted");
    ranges.emplace_back(t.offset, t.offset + t.bytes);
    uint64_t n = 1;
    for (uint64_t d : t.dims) n *= d;
    if (n / info->block_size * info->type_size != t.bytes) finding("GGUF tensor size disagrees with its shape");
    if (n > kMaxConvert || !gguf_can_dequantize(t.type)) continue;
    // aligned copy, as the mapped views are
    std::vector<uint64_t> src((t.bytes + 7) / 8 + 1);
    std::memcpy(src.data(), data + g.data_start + t.offset, t.bytes);
    std::vector<float> out(n);
    gguf_dequantize(t.type, reinterpret_cast<const uint8_t*>(src.data()), static_cast<int64_t>(n), out.data());
    if (gguf_can_repack(t.type)) {
      const int64_t cols = static_cast<int64_t>(t.dims[0]), rows = static_cast<int64_t>(n) / cols;
      std::vector<uint8_t> codes(t.type == 2 ? n / 2 : n), zeros(n / 32);
      std::vector<uint16_t> scales(n / 32);
      gguf_repack(t.type, reinterpret_cast<const uint8_t*>(src.data()), rows, cols, codes.data(), scales.data(), zeros.data());
    }
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i)
    if (ranges[i].first < ranges[i - 1].second) finding("GGUF overlapping tensors accepted");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Parsers read exactly [data, data + size): a heap copy of that size lets ASan catch any
  // read past the end (the fuzzer's own buffer may have slack).
  std::vector<uint8_t> copy(data, data + size);
  const uint8_t* p = copy.empty() ? nullptr : copy.data();
  static const uint8_t kEmpty[1] = {0};
  if (!p) p = kEmpty;
  try {
    if (NT_FUZZ_TARGET == 0 || NT_FUZZ_TARGET == 1) fuzz_safetensors(p, size);
    if (NT_FUZZ_TARGET == 0 || NT_FUZZ_TARGET == 2) fuzz_npy(p, size);
    if (NT_FUZZ_TARGET == 0 || NT_FUZZ_TARGET == 3) fuzz_json(p, size);
    if (NT_FUZZ_TARGET == 0 || NT_FUZZ_TARGET == 4) fuzz_index(p, size);
    if (NT_FUZZ_TARGET == 0 || NT_FUZZ_TARGET == 5) fuzz_gguf(p, size);
  } catch (const std::bad_alloc&) {
    finding("std::bad_alloc escaped a parser (a size from the file reached an allocation)");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fuzz_parsers: unexpected exception: %s\n", e.what());
    std::abort();
  }
  return 0;
}
