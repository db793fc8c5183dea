// A non-owning strided view of memory owned by JavaScript (or by a native handle).
// shape/strides/offset are in elements (nibbles for packed 4-bit dtypes).
#pragma once
#include <cstdint>
#include <cstddef>
#include "dtype.h"
#include "error.h"

namespace nt {

constexpr int kMaxDims = 8;

struct TensorView {
  void* data = nullptr;        // element 0 of the storage (not of the view)
  uint64_t storage_bytes = 0;  // size of the storage, for bounds checks
  DType dtype = DType::F32;
  int ndim = 0;
  int64_t shape[kMaxDims] = {0};
  int64_t strides[kMaxDims] = {0};
  int64_t offset = 0;

  int64_t numel() const {
    int64_t n = 1;
    for (int i = 0; i < ndim; ++i) n *= shape[i];
    return n;
  }
  bool empty() const { return numel() == 0; }

  bool is_contiguous() const {
    int64_t expect = 1;
    for (int i = ndim - 1; i >= 0; --i) {
      if (shape[i] != 1 && strides[i] != expect) return false;
      expect *= shape[i];
    }
    return true;
  }

  // Pointer to the first element of the view (non-packed dtypes only).
  template <typename T>
  T* ptr() const {
    return reinterpret_cast<T*>(static_cast<char*>(data)) + offset;
  }
  uint8_t* bytes() const { return static_cast<uint8_t*>(data); }

  // Throws NT_SHAPE/NT_VALUE unless every element of the view lies inside the storage.
  // Called by the N-API layer on every view it receives, so kernels can trust views.
  void check_bounds(const char* what) const;
};

// Same shape (rank and extents).
bool same_shape(const TensorView& a, const TensorView& b);
std::string shape_string(const TensorView& t);

}  // namespace nt
