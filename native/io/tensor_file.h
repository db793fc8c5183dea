// Tensor files on disk: header reads, tensor reads straight into caller-owned memory (a
// JS TypedArray), and atomic writes of (possibly strided) views. No Node-API here: the
// bindings in native/napi/bind_io.cc run these on the JS thread or on a worker.
// Every error message starts with "<path>: ".
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "../core/tensor_view.h"
#include "npy.h"
#include "safetensors.h"

namespace nt::io {

struct SafetensorsFile {
  SafetensorsHeader header;
  uint64_t header_bytes = 0;  // N, the JSON length
  uint64_t data_start = 0;    // 8 + N
  uint64_t file_bytes = 0;
};

SafetensorsFile read_safetensors_header_file(const std::string& path);

struct TensorTarget {
  std::string name;
  TensorView out;  // contiguous, shape equal to the stored shape; its dtype picks the conversion
};

// Reads the named tensors (only their byte ranges) into the targets, converting from the
// stored type to each target's dtype. The header is parsed again, so a file that changed
// since a previous header read cannot feed the wrong bytes into a target.
void read_safetensors_tensors(const std::string& path, const std::vector<TensorTarget>& targets);

void write_safetensors_file(const std::string& path, const std::vector<std::pair<std::string, TensorView>>& tensors,
                            const StringPairs& metadata);

// model.safetensors.index.json -> (tensor name, shard file name) in file order. Shard
// names must be plain file names in the index's folder (no separators, "." or "..").
StringPairs read_safetensors_index(const std::string& path);

struct NpyFile {
  NpyHeader header;
  uint64_t file_bytes = 0;
};

NpyFile read_npy_header_file(const std::string& path);
// `out` has the stored shape (reversed for fortran_order files: the caller views it transposed).
void read_npy_file(const std::string& path, const TensorView& out);
void write_npy_file(const std::string& path, const TensorView& t);

}  // namespace nt::io
