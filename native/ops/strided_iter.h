// Walking several same-shape strided views together (the elementwise ops, reductions over
// all elements). Dimensions are coalesced first — extents of 1 dropped, neighbours merged
// when every operand steps through them as one — so a contiguous tensor is a single run,
// a row-sliced matrix is rows of contiguous runs, and kernels get long inner runs.
#pragma once
#include <algorithm>
#include <cstdint>

#include "../core/tensor_view.h"
#include "../core/thread_pool.h"

namespace nt::ops {

template <int N>
struct Layout {
  int ndim = 0;                    // >= 1 after coalescing (a scalar becomes [1])
  int64_t shape[kMaxDims] = {0};
  int64_t strides[N][kMaxDims] = {{0}};
  int64_t numel() const {
    int64_t n = 1;
    for (int d = 0; d < ndim; ++d) n *= shape[d];
    return n;
  }
};

// Views must share a shape. With reorder, dimensions are sorted by decreasing |stride| of
// operand 0 (the output) first, so a transposed output is still written along its memory
// order; elementwise results do not depend on the visiting order, reductions do (rounding),
// so they keep the logical order.
template <int N>
Layout<N> coalesce(const TensorView* const (&views)[N], bool reorder) {
  const TensorView& ref = *views[0];
  int order[kMaxDims];
  int kept = 0;
  for (int d = 0; d < ref.ndim; ++d)
    if (ref.shape[d] != 1) order[kept++] = d;
  if (reorder) {
    std::stable_sort(order, order + kept, [&](int x, int y) {
      const int64_t sx = ref.strides[x] < 0 ? -ref.strides[x] : ref.strides[x];
      const int64_t sy = ref.strides[y] < 0 ? -ref.strides[y] : ref.strides[y];
      return sx > sy;
    });
  }
  Layout<N> l;
  for (int k = 0; k < kept; ++k) {
    const int d = order[k];
    if (l.ndim > 0) {
      // merge d into the previous (outer) dimension when each operand's outer stride equals
      // its inner stride times the inner extent
      bool merge = true;
      for (int op = 0; op < N; ++op)
        if (l.strides[op][l.ndim - 1] != views[op]->strides[d] * ref.shape[d]) merge = false;
      if (merge) {
        l.shape[l.ndim - 1] *= ref.shape[d];
        for (int op = 0; op < N; ++op) l.strides[op][l.ndim - 1] = views[op]->strides[d];
        continue;
      }
    }
    l.shape[l.ndim] = ref.shape[d];
    for (int op = 0; op < N; ++op) l.strides[op][l.ndim] = views[op]->strides[d];
    ++l.ndim;
  }
  if (l.ndim == 0) {  // every extent is 1 (or the view is 0-d): one element
    l.ndim = 1;
    l.shape[0] = 1;
    for (int op = 0; op < N; ++op) l.strides[op][0] = 1;
  }
  return l;
}

// Calls fn(offsets[N], len) for the inner runs covering linear elements [begin, end) of
// the layout (row-major order); offsets are in elements from each view's first element and
// the run's inner strides are l.strides[op][l.ndim - 1].
template <int N, typename F>
void for_each_run(const Layout<N>& l, int64_t begin, int64_t end, F&& fn) {
  if (begin >= end) return;
  const int inner = l.ndim - 1;
  const int64_t len_inner = l.shape[inner];
  int64_t idx[kMaxDims] = {0};
  int64_t rest = begin / len_inner;
  int64_t pos = begin % len_inner;
  for (int d = inner - 1; d >= 0; --d) {
    idx[d] = rest % l.shape[d];
    rest /= l.shape[d];
  }
  int64_t off[N];
  for (int op = 0; op < N; ++op) {
    off[op] = pos * l.strides[op][inner];
    for (int d = 0; d < inner; ++d) off[op] += idx[d] * l.strides[op][d];
  }
  int64_t cur = begin;
  while (cur < end) {
    const int64_t len = std::min(len_inner - pos, end - cur);
    fn(static_cast<const int64_t*>(off), len);
    cur += len;
    if (cur >= end) break;
    // next row: rewind the inner dimension, carry through the outer ones
    for (int op = 0; op < N; ++op) off[op] -= pos * l.strides[op][inner];
    pos = 0;
    for (int d = inner - 1; d >= 0; --d) {
      for (int op = 0; op < N; ++op) off[op] += l.strides[op][d];
      if (++idx[d] < l.shape[d]) break;
      for (int op = 0; op < N; ++op) off[op] -= l.shape[d] * l.strides[op][d];
      idx[d] = 0;
    }
  }
}


// Visits every element of the layout in parallel as runs along the inner dimension:
// fn(offsets[N], len), inner strides l.strides[op][l.ndim - 1]. `grain` is in elements.
// When an operand walks the inner dimension with a large stride but the next dimension
// with a smaller one (it is transposed relative to operand 0), a row-by-row walk would
// touch a new cache line and page per element; then the two inner dimensions are visited in
// kTile x kTile tiles, so that operand's reads revisit the same kTile lines row after row.
template <int N, typename F>
void parallel_runs(const Layout<N>& l, int64_t grain, F&& fn) {
  constexpr int64_t kTile = 64;
  const int in = l.ndim - 1;
  bool transposed = false;
  if (l.ndim >= 2 && l.shape[in] > 1 && l.shape[in - 1] > 1) {
    for (int op = 0; op < N; ++op) {
      const int64_t si = l.strides[op][in] < 0 ? -l.strides[op][in] : l.strides[op][in];
      const int64_t sj = l.strides[op][in - 1] < 0 ? -l.strides[op][in - 1] : l.strides[op][in - 1];
      if (si > 1 && sj < si) transposed = true;
    }
  }
  if (!transposed) {
    parallel_for(l.numel(), grain, [&](int64_t b, int64_t e) { for_each_run(l, b, e, fn); });
    return;
  }
  const int64_t n1 = l.shape[in], n2 = l.shape[in - 1];
  const int64_t t1 = (n1 + kTile - 1) / kTile, t2 = (n2 + kTile - 1) / kTile;
  const int64_t outer = l.numel() / (n1 * n2);
  parallel_for(outer * t2 * t1, std::max<int64_t>(1, grain / (kTile * kTile)), [&](int64_t b, int64_t e) {
    for (int64_t tile = b; tile < e; ++tile) {
      const int64_t ti = tile % t1, tj = (tile / t1) % t2;
      int64_t o = tile / (t1 * t2);
      int64_t base[N] = {0};
      for (int d = in - 2; d >= 0; --d) {  // the dimensions outside the tiled pair
        const int64_t i = o % l.shape[d];
        o /= l.shape[d];
        for (int op = 0; op < N; ++op) base[op] += i * l.strides[op][d];
      }
      const int64_t len = std::min(kTile, n1 - ti * kTile), rows = std::min(kTile, n2 - tj * kTile);
      for (int64_t r = 0; r < rows; ++r) {
        int64_t off[N];
        for (int op = 0; op < N; ++op)
          off[op] = base[op] + (tj * kTile + r) * l.strides[op][in - 1] + ti * kTile * l.strides[op][in];
        fn(static_cast<const int64_t*>(off), len);
      }
    }
  });
}

}  // namespace nt::ops
