// Bounds-checked TensorViews over std::vector buffers, for the kernel tests that build their
// operands by hand (test_quant.cc, test_qgather.cc).
#pragma once
#include <cstdint>
#include <vector>

#include "core/tensor_view.h"

namespace nt_test {

template <class T>
nt::TensorView view2(std::vector<T>& buf, nt::DType d, int64_t r, int64_t c, int64_t s0, int64_t s1, int64_t off = 0) {
  nt::TensorView v;
  v.data = buf.data();
  v.storage_bytes = buf.size() * sizeof(T);
  v.dtype = d;
  v.ndim = 2;
  v.shape[0] = r;
  v.shape[1] = c;
  v.strides[0] = s0;
  v.strides[1] = s1;
  v.offset = off;
  v.check_bounds("test");
  return v;
}

template <class T>
nt::TensorView view1(std::vector<T>& buf, nt::DType d, int64_t n, int64_t stride = 1) {
  nt::TensorView v;
  v.data = buf.data();
  v.storage_bytes = buf.size() * sizeof(T);
  v.dtype = d;
  v.ndim = 1;
  v.shape[0] = n;
  v.strides[0] = stride;
  v.check_bounds("test");
  return v;
}

}  // namespace nt_test
