// softmax along any axis. Contiguous f32/f64 rows run the SIMD slot in place of the output;
// other rows (strided, f16/bf16) are staged through a per-thread buffer, a tile of
// neighbouring rows at a time when the axis is strided and its neighbours are adjacent.
// Numerically stable (the row max is subtracted); a row with a NaN gives NaNs, a row whose
// max is +inf gives NaNs (inf - inf), as IEEE arithmetic does.
#include <algorithm>
#include <cstdlib>
#include <memory>

#include "../core/scratch.h"
#include "../cpu/kernels.h"
#include "float_block.h"
#include "nn.h"
#include "row_walk.h"

namespace nt::ops {
namespace {

// Rows along a strided axis whose neighbours are adjacent in memory (softmax over axis 0 of a
// matrix): gathering one row at a time would read one element per cache line and page.
// Instead up to 32 neighbouring rows are moved as a tile, reading each line once, into a
// row-major buffer (<= 1 MiB), normalised there, and written back the same way.
template <typename T>
bool softmax_tiles(void (*fn)(const T*, T*, int64_t), const TensorView& x, const TensorView& out, int axis) {
  const int64_t k = x.shape[axis], sx = x.strides[axis], so = out.strides[axis];
  const Layout<2> l = row_layout(x, out, axis);
  const int in = l.ndim - 1;
  const int64_t sxi = l.strides[0][in], soi = l.strides[1][in];
  constexpr int64_t kMaxTile = 32;
  const int64_t tile = std::min<int64_t>(kMaxTile, std::max<int64_t>(1, (int64_t{1} << 18) / k));
  if (tile < 2 || l.shape[in] < 2 || std::llabs(sxi) >= std::llabs(sx)) return false;
  parallel_for(l.numel(), std::max<int64_t>(tile, 16384 / k), [&](int64_t b, int64_t e) {
    Scratch<T> buf(static_cast<size_t>(tile * k));
    T tmp[kMaxTile];
    for_each_run(l, b, e, [&](const int64_t* off, int64_t len) {
      for (int64_t j0 = 0; j0 < len; j0 += tile) {
        const int64_t m = std::min(tile, len - j0);
        const int64_t xo = off[0] + j0 * sxi, oo = off[1] + j0 * soi;
        for (int64_t r = 0; r < k; ++r) {
          load_run<T>(elem_ptr(x, xo + r * sx), x.dtype, sxi, m, tmp);
          for (int64_t j = 0; j < m; ++j) buf[j * k + r] = tmp[j];
        }
        for (int64_t j = 0; j < m; ++j) fn(buf.get() + j * k, buf.get() + j * k, k);
        for (int64_t r = 0; r < k; ++r) {
          for (int64_t j = 0; j < m; ++j) tmp[j] = buf[j * k + r];
          store_run<T>(tmp, elem_ptr(out, oo + r * so), out.dtype, soi, m);
        }
      }
    });
  });
  return true;
}

template <typename T>
void softmax_typed(void (*fn)(const T*, T*, int64_t), const TensorView& x, const TensorView& out, int axis) {
  const DType own = sizeof(T) == 8 ? DType::F64 : DType::F32;
  const int64_t k = x.shape[axis], sx = x.strides[axis], so = out.strides[axis];
  const bool direct = x.dtype == own && out.dtype == own && sx == 1 && so == 1;
  if (!direct && softmax_tiles(fn, x, out, axis)) return;
  for_each_row(
      x, out, axis, [&] { return std::make_unique<Scratch<T>>(direct ? 0 : k); },
      [&](std::unique_ptr<Scratch<T>>& buf, int64_t xo, int64_t oo) {
        if (direct) {
          fn(reinterpret_cast<const T*>(elem_ptr(x, xo)), reinterpret_cast<T*>(elem_ptr(out, oo)), k);
          return;
        }
        T* row = buf->get();
        load_run<T>(elem_ptr(x, xo), x.dtype, sx, k, row);
        fn(row, row, k);
        store_run<T>(row, elem_ptr(out, oo), out.dtype, so, k);
      });
}

}  // namespace

void softmax_check(const TensorView& x, const TensorView& out, int axis) {
  const TensorView* views[2] = {&x, &out};
  const char* names[2] = {"x", "out"};
  check_float_family("softmax", views, names, 2);
  check_same_shape("softmax", x, "x", out, "out");
  NT_CHECK(axis >= 0 && axis < x.ndim, Value, "[softmax] axis ", axis, " out of range for rank ", x.ndim);
}

void softmax_run(const TensorView& x, const TensorView& out, int axis) {
  if (x.numel() == 0) return;
  const KernelTable& k = kernels();
  if (x.dtype == DType::F64) softmax_typed<double>(k.softmax_f64, x, out, axis);
  else softmax_typed<float>(k.softmax_f32, x, out, axis);
}

}  // namespace nt::ops
