// Iteration helpers for strided views: merge dimensions that are contiguous with each
// other so inner loops are as long as possible, then walk the outer index space.
#pragma once
#include <cstdint>
#include "../core/tensor_view.h"

namespace nt {

// A set of views with one common shape, reduced to the fewest dimensions that describe
// the same element order. Dimension k of every view can be merged into k+1 when
// stride[k] == stride[k+1] * shape[k+1] for all views; extent-1 dims are dropped.
struct CoalescedShape {
  int ndim = 0;
  int64_t shape[kMaxDims] = {0};
  int64_t strides[4][kMaxDims] = {{0}};  // up to 4 operands

  void init(const TensorView* const* views, int count) {
    const TensorView& ref = *views[0];
    ndim = 0;
    for (int d = 0; d < ref.ndim; ++d) {
      if (ref.shape[d] == 1) continue;
      bool merge = ndim > 0;
      for (int v = 0; v < count && merge; ++v)
        merge = strides[v][ndim - 1] == views[v]->strides[d] * ref.shape[d];
      if (merge) {
        shape[ndim - 1] *= ref.shape[d];
        for (int v = 0; v < count; ++v) strides[v][ndim - 1] = views[v]->strides[d];
      } else {
        shape[ndim] = ref.shape[d];
        for (int v = 0; v < count; ++v) strides[v][ndim] = views[v]->strides[d];
        ++ndim;
      }
    }
    if (ndim == 0) {  // a single element
      ndim = 1;
      shape[0] = 1;
      for (int v = 0; v < count; ++v) strides[v][0] = 1;
    }
  }

  int64_t inner() const { return shape[ndim - 1]; }
  int64_t outer() const {
    int64_t n = 1;
    for (int d = 0; d < ndim - 1; ++d) n *= shape[d];
    return n;
  }
  // Element offset of operand v at the start of outer row `row` (row-major over dims 0..ndim-2).
  int64_t row_offset(int v, int64_t row) const {
    int64_t off = 0;
    for (int d = ndim - 2; d >= 0; --d) {
      off += (row % shape[d]) * strides[v][d];
      row /= shape[d];
    }
    return off;
  }
};

}  // namespace nt
