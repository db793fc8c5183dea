// Shared by the row-wise ops (softmax, rmsnorm): the rows of x and out along one axis,
// visited in parallel, each row handed over with its start offsets and strides.
#pragma once
#include <algorithm>
#include <cstdint>

#include "../core/thread_pool.h"
#include "../core/tensor_view.h"
#include "strided_iter.h"

namespace nt::ops {

// The rows along `axis`: a layout over x's other dimensions with x's and out's strides.
inline Layout<2> row_layout(const TensorView& x, const TensorView& out, int axis) {
  TensorView xr = x, orows = out;
  xr.ndim = orows.ndim = x.ndim - 1;
  for (int d = 0, j = 0; d < x.ndim; ++d) {
    if (d == axis) continue;
    xr.shape[j] = orows.shape[j] = x.shape[d];
    xr.strides[j] = x.strides[d];
    orows.strides[j] = out.strides[d];
    ++j;
  }
  const TensorView* views[2] = {&xr, &orows};
  return coalesce<2>(views, false);
}

// fn(state, x_offset, out_offset) for every row along `axis` (offsets in elements from each
// view's first element); init() runs once per parallel chunk (per-thread scratch).
template <typename Init, typename Fn>
void for_each_row(const TensorView& x, const TensorView& out, int axis, Init&& init, Fn&& fn) {
  const int64_t k = x.shape[axis];
  const Layout<2> l = row_layout(x, out, axis);
  const int inner = l.ndim - 1;
  parallel_for(l.numel(), std::max<int64_t>(1, 16384 / std::max<int64_t>(k, 1)), [&](int64_t b, int64_t e) {
    auto state = init();
    for_each_run(l, b, e, [&](const int64_t* off, int64_t len) {
      for (int64_t j = 0; j < len; ++j) fn(state, off[0] + j * l.strides[0][inner], off[1] + j * l.strides[1][inner]);
    });
  });
}

}  // namespace nt::ops
