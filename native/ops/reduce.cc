// Reductions. Three walks, chosen by the geometry of the reduced axis:
//   all   - every element into one value: coalesced runs, fixed 64K pieces, partials
//           combined in order (also used when an axis reduction has a single output);
//   row   - the reduced axis has stride 1: each output reduces a contiguous run with the
//           SIMD slot (long runs also split into fixed pieces);
//   column- any other stride: blocks of up to 256 outputs accumulate in f64 while the
//           reduced axis is walked, reading neighbouring outputs' elements together.
// Accumulation is f64 for every input dtype; max/min/argmax propagate NaN (argmax points at
// the first NaN), ties in argmax go to the first index.
#include "reduce.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "../core/thread_pool.h"
#include "../cpu/kernels.h"
#include "float_block.h"
#include "strided_iter.h"

namespace nt::ops {
namespace {

constexpr int64_t kPiece = 65536;  // fixed partial-sum length: thread-count independent
constexpr int64_t kColumns = 256;  // outputs per column block

const double kInf = std::numeric_limits<double>::infinity();
const double kNaN = std::numeric_limits<double>::quiet_NaN();

// The slot-level reduction a kind needs.
enum class Prim { Sum, SumSq, ASum, Max, Min, AMax, ArgMax };

Prim prim_of(ReduceKind k) {
  switch (k) {
    case ReduceKind::Sum: case ReduceKind::Mean: return Prim::Sum;
    case ReduceKind::Norm2: return Prim::SumSq;
    case ReduceKind::Norm1: return Prim::ASum;
    case ReduceKind::Max: return Prim::Max;
    case ReduceKind::Min: return Prim::Min;
    case ReduceKind::NormInf: return Prim::AMax;
    case ReduceKind::ArgMax: return Prim::ArgMax;
  }
  return Prim::Sum;
}

// A partial result: value (and index for argmax); `empty` until something was reduced.
struct Partial {
  double v = 0;
  int64_t i = 0;
  bool empty = true;
};

// a covers earlier elements than b.
Partial combine(Prim p, const Partial& a, const Partial& b) {
  if (a.empty) return b;
  if (b.empty) return a;
  Partial r = a;
  switch (p) {
    case Prim::Sum: case Prim::SumSq: case Prim::ASum: r.v = a.v + b.v; break;
    case Prim::Max: case Prim::AMax: r.v = (a.v != a.v || b.v != b.v) ? kNaN : std::max(a.v, b.v); break;
    case Prim::Min: r.v = (a.v != a.v || b.v != b.v) ? kNaN : std::min(a.v, b.v); break;
    case Prim::ArgMax:
      if (a.v != a.v) return a;
      if (b.v != b.v || b.v > a.v) return b;
      return a;
  }
  return r;
}

template <typename T>
struct Slots;
template <>
struct Slots<float> {
  static double reduce(Prim p, const float* x, int64_t n) {
    const KernelTable& k = kernels();
    switch (p) {
      case Prim::Sum: return k.sum_f32(x, n);
      case Prim::SumSq: return k.sumsq_f32(x, n);
      case Prim::ASum: return k.asum_f32(x, n);
      case Prim::Max: return k.max_f32(x, n);
      case Prim::Min: return k.min_f32(x, n);
      case Prim::AMax: return k.amax_f32(x, n);
      case Prim::ArgMax: break;
    }
    return 0;
  }
  static int64_t argmax(const float* x, int64_t n) { return kernels().argmax_f32(x, n); }
};
template <>
struct Slots<double> {
  static double reduce(Prim p, const double* x, int64_t n) {
    const KernelTable& k = kernels();
    switch (p) {
      case Prim::Sum: return k.sum_f64(x, n);
      case Prim::SumSq: return k.sumsq_f64(x, n);
      case Prim::ASum: return k.asum_f64(x, n);
      case Prim::Max: return k.max_f64(x, n);
      case Prim::Min: return k.min_f64(x, n);
      case Prim::AMax: return k.amax_f64(x, n);
      case Prim::ArgMax: break;
    }
    return 0;
  }
  static int64_t argmax(const double* x, int64_t n) { return kernels().argmax_f64(x, n); }
};

// Reduce a contiguous buffer of T with the slot; index relative to the buffer.
template <typename T>
Partial reduce_buffer(Prim p, const T* x, int64_t n) {
  Partial r;
  if (n <= 0) return r;
  r.empty = false;
  if (p == Prim::ArgMax) {
    r.i = Slots<T>::argmax(x, n);
    r.v = x[r.i];
  } else {
    r.v = Slots<T>::reduce(p, x, n);
  }
  return r;
}

// Reduce one run (any stride, any float dtype); indices relative to the run start.
Partial reduce_run_any(Prim p, const char* ptr, DType dt, int64_t stride, int64_t n) {
  if (dt == DType::F32 && stride == 1) return reduce_buffer(p, reinterpret_cast<const float*>(ptr), n);
  if (dt == DType::F64 && stride == 1) return reduce_buffer(p, reinterpret_cast<const double*>(ptr), n);
  Partial acc;
  const int64_t step = stride * elem_bytes(dt);
  if (dt == DType::F64) {
    alignas(64) double buf[kBlock];
    for (int64_t i = 0; i < n; i += kBlock) {
      const int64_t m = std::min(kBlock, n - i);
      load_run<double>(ptr + i * step, dt, stride, m, buf);
      Partial q = reduce_buffer(p, buf, m);
      q.i += i;
      acc = combine(p, acc, q);
    }
  } else {
    alignas(64) float buf[kBlock];
    for (int64_t i = 0; i < n; i += kBlock) {
      const int64_t m = std::min(kBlock, n - i);
      load_run<float>(ptr + i * step, dt, stride, m, buf);
      Partial q = reduce_buffer(p, buf, m);
      q.i += i;
      acc = combine(p, acc, q);
    }
  }
  return acc;
}

// Final value of a reduction of k elements, stored in out's dtype.
void store_result(ReduceKind kind, const Partial& r, int64_t k, char* dst, DType out_dtype) {
  double v = r.empty ? (kind == ReduceKind::Max ? -kInf : kind == ReduceKind::Min ? kInf : 0.0) : r.v;
  switch (kind) {
    case ReduceKind::Mean: v = v / static_cast<double>(k); break;
    case ReduceKind::Norm2: v = std::sqrt(v); break;
    case ReduceKind::ArgMax: v = static_cast<double>(r.i); break;
    default: break;
  }
  store_one(v, dst, out_dtype);
}

// ---- all elements -------------------------------------------------------------------
void reduce_all(ReduceKind kind, const TensorView& x, const TensorView& out) {
  const Prim p = prim_of(kind);
  const int64_t n = x.numel();
  Partial total;
  if (n > 0) {
    const TensorView* views[1] = {&x};
    const Layout<1> l = coalesce<1>(views, false);
    const int64_t stride = l.strides[0][l.ndim - 1];
    const int64_t pieces = (n + kPiece - 1) / kPiece;
    std::vector<Partial> partial(static_cast<size_t>(pieces));
    parallel_for(pieces, 1, [&](int64_t b, int64_t e) {
      for (int64_t c = b; c < e; ++c) {
        Partial acc;
        int64_t pos = c * kPiece;
        for_each_run(l, pos, std::min(n, pos + kPiece), [&](const int64_t* off, int64_t len) {
          Partial q = reduce_run_any(p, elem_ptr(x, off[0]), x.dtype, stride, len);
          q.i += pos;
          pos += len;
          acc = combine(p, acc, q);
        });
        partial[static_cast<size_t>(c)] = acc;
      }
    });
    for (const Partial& q : partial) total = combine(p, total, q);
  }
  store_result(kind, total, n, elem_ptr(out, 0), out.dtype);
}

// Views of x and out over the kept dimensions (axis removed), same shape.
void kept_views(const TensorView& x, const TensorView& out, int axis, TensorView& xk, TensorView& ok) {
  xk = x;
  ok = out;
  xk.ndim = ok.ndim = x.ndim - 1;
  const bool keepdims = out.ndim == x.ndim;
  for (int d = 0, j = 0; d < x.ndim; ++d) {
    if (d == axis) continue;
    xk.shape[j] = ok.shape[j] = x.shape[d];
    xk.strides[j] = x.strides[d];
    ok.strides[j] = keepdims ? out.strides[d] : out.strides[j];
    ++j;
  }
}

// Offsets of linear element `lin` of a layout (row-major).
template <int N>
void unravel(const Layout<N>& l, int64_t lin, int64_t* off) {
  for (int op = 0; op < N; ++op) off[op] = 0;
  for (int d = l.ndim - 1; d >= 0; --d) {
    const int64_t i = lin % l.shape[d];
    lin /= l.shape[d];
    for (int op = 0; op < N; ++op) off[op] += i * l.strides[op][d];
  }
}

// ---- reduced axis with stride 1 -----------------------------------------------------
void reduce_rows(ReduceKind kind, const TensorView& x, const TensorView& out, const Layout<2>& ol, int64_t k) {
  const Prim p = prim_of(kind);
  const int64_t outputs = ol.numel();
  const int oi = ol.ndim - 1;
  const int64_t sx = ol.strides[0][oi], so = ol.strides[1][oi];
  if (k <= kPiece) {
    parallel_for(outputs, std::max<int64_t>(1, 32768 / std::max<int64_t>(k, 1)), [&](int64_t b, int64_t e) {
      for_each_run(ol, b, e, [&](const int64_t* off, int64_t len) {
        for (int64_t j = 0; j < len; ++j) {
          const Partial r = reduce_run_any(p, elem_ptr(x, off[0] + j * sx), x.dtype, 1, k);
          store_result(kind, r, k, elem_ptr(out, off[1] + j * so), out.dtype);
        }
      });
    });
    return;
  }
  // Long rows: fixed pieces per row, so few outputs still use every thread.
  const int64_t per_row = (k + kPiece - 1) / kPiece;
  std::vector<Partial> partial(static_cast<size_t>(outputs * per_row));
  parallel_for(outputs * per_row, 1, [&](int64_t b, int64_t e) {
    for (int64_t item = b; item < e; ++item) {
      const int64_t o = item / per_row, c = item % per_row;
      int64_t off[2];
      unravel(ol, o, off);
      const int64_t start = c * kPiece, len = std::min(kPiece, k - start);
      Partial q = reduce_run_any(p, elem_ptr(x, off[0] + start), x.dtype, 1, len);
      q.i += start;
      partial[static_cast<size_t>(item)] = q;
    }
  });
  for (int64_t o = 0; o < outputs; ++o) {
    Partial r;
    for (int64_t c = 0; c < per_row; ++c) r = combine(p, r, partial[static_cast<size_t>(o * per_row + c)]);
    int64_t off[2];
    unravel(ol, o, off);
    store_result(kind, r, k, elem_ptr(out, off[1]), out.dtype);
  }
}

// ---- reduced axis with another stride: accumulate blocks of outputs ------------------

// The dispatched row-into-block accumulator: kind 0 sum, 1 sum of squares, 2 magnitudes, 3 max,
// 4 min, 5 max of magnitudes (NaN sticks).
template <typename T>
auto col_acc(int kind) {
  const KernelTable& k = kernels();
  if constexpr (sizeof(T) == 8) {
    const ColumnAccF64 f[] = {k.col_sum_f64, k.col_sumsq_f64, k.col_asum_f64, k.col_max_f64, k.col_min_f64, k.col_amax_f64};
    return f[kind];
  } else {
    const ColumnAccF32 f[] = {k.col_sum_f32, k.col_sumsq_f32, k.col_asum_f32, k.col_max_f32, k.col_min_f32, k.col_amax_f32};
    return f[kind];
  }
}

template <typename T>
auto col_arg() {
  if constexpr (sizeof(T) == 8) return kernels().col_argmax_f64;
  else return kernels().col_argmax_f32;
}

template <typename T>
void column_block(Prim p, const TensorView& x, int64_t xoff, int64_t sxi, int64_t m, int64_t k, int64_t sk,
                  double* acc, int64_t* idx) {
  for (int64_t j = 0; j < m; ++j) {
    acc[j] = p == Prim::Max || p == Prim::ArgMax ? -kInf : p == Prim::Min ? kInf : 0.0;
    idx[j] = 0;
  }
  alignas(64) T buf[kColumns];
  // the rows' runs lie sk elements apart (often a page or more): each row's run is fetched a
  // few rows ahead, as the hardware prefetchers do not follow such strides
  constexpr int64_t kAhead = 8;
  const int kind = p == Prim::Sum ? 0 : p == Prim::SumSq ? 1 : p == Prim::ASum ? 2 : p == Prim::Max ? 3 : p == Prim::Min ? 4 : 5;
  const auto accumulate = col_acc<T>(kind);  // unused for ArgMax
  const auto argmax = col_arg<T>();
  const int64_t run_bytes = (m - 1) * sxi * static_cast<int64_t>(dtype_bits(x.dtype) / 8) + 1;
  for (int64_t r = 0; r < k; ++r) {
    if (r + kAhead < k) {
      const char* next = elem_ptr(x, xoff + (r + kAhead) * sk);
      for (int64_t b = 0; b < run_bytes; b += 64) __builtin_prefetch(next + b);
    }
    const char* row = elem_ptr(x, xoff + r * sk);
    const T* v = buf;
    if (sxi == 1 && x.dtype == (sizeof(T) == 8 ? DType::F64 : DType::F32)) v = reinterpret_cast<const T*>(row);
    else load_run<T>(row, x.dtype, sxi, m, buf);
    switch (p) {
      case Prim::Sum: case Prim::SumSq: case Prim::ASum: case Prim::Max: case Prim::Min: case Prim::AMax:
        accumulate(v, m, acc);
        break;
      case Prim::ArgMax:
        argmax(v, m, r, acc, idx);
        break;
    }
  }
}

void reduce_columns(ReduceKind kind, const TensorView& x, const TensorView& out, const Layout<2>& ol, int64_t k,
                    int64_t sk) {
  const Prim p = prim_of(kind);
  const int oi = ol.ndim - 1;
  const int64_t inner = ol.shape[oi], sxi = ol.strides[0][oi], soi = ol.strides[1][oi];
  const int64_t outer = ol.numel() / inner;
  const int64_t blocks_per_row = (inner + kColumns - 1) / kColumns;
  const int64_t items = outer * blocks_per_row;
  const int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(1, k * kColumns));
  parallel_for(items, grain, [&](int64_t b, int64_t e) {
    double acc[kColumns];
    int64_t idx[kColumns];
    for (int64_t item = b; item < e; ++item) {
      const int64_t o = item / blocks_per_row, j0 = (item % blocks_per_row) * kColumns;
      const int64_t m = std::min(kColumns, inner - j0);
      int64_t off[2];
      unravel(ol, o * inner + j0, off);
      if (x.dtype == DType::F64) column_block<double>(p, x, off[0], sxi, m, k, sk, acc, idx);
      else column_block<float>(p, x, off[0], sxi, m, k, sk, acc, idx);
      for (int64_t j = 0; j < m; ++j) {
        Partial r;
        r.v = acc[j];
        r.i = idx[j];
        r.empty = false;
        store_result(kind, r, k, elem_ptr(out, off[1] + j * soi), out.dtype);
      }
    }
  });
}

}  // namespace

const char* reduce_name(ReduceKind kind) {
  switch (kind) {
    case ReduceKind::Sum: return "sum";
    case ReduceKind::Mean: return "mean";
    case ReduceKind::Max: return "max";
    case ReduceKind::Min: return "min";
    case ReduceKind::ArgMax: return "argmax";
    case ReduceKind::Norm1: case ReduceKind::Norm2: case ReduceKind::NormInf: return "norm";
  }
  return "reduce";
}

void reduce_check(ReduceKind kind, const TensorView& x, const TensorView& out, int axis) {
  const char* op = reduce_name(kind);
  NT_CHECK(x.dtype == DType::F64 || is_float_family(x.dtype), DType, "[", op, "] x must be f32, f64, f16 or bf16, got ",
           dtype_name(x.dtype));
  const DType want = kind == ReduceKind::ArgMax ? DType::I32 : x.dtype;
  NT_CHECK(out.dtype == want, DType, "[", op, "] out must be ", dtype_name(want), ", got ", dtype_name(out.dtype));
  NT_CHECK(axis < x.ndim, Value, "[", op, "] axis ", axis, " out of range for rank ", x.ndim);
  int64_t k = x.numel(), outputs = 1;
  if (axis < 0) {
    NT_CHECK(out.numel() == 1, Shape, "[", op, "] out must hold one element for a full reduction, got shape ",
             shape_string(out));
  } else {
    k = x.shape[axis];
    bool ok = false;
    if (out.ndim == x.ndim) {
      ok = out.shape[axis] == 1;
      for (int d = 0; d < x.ndim; ++d) ok = ok && (d == axis || out.shape[d] == x.shape[d]);
    } else if (out.ndim == x.ndim - 1) {
      ok = true;
      for (int d = 0, j = 0; d < x.ndim; ++d)
        if (d != axis) ok = ok && out.shape[j++] == x.shape[d];
    }
    NT_CHECK(ok, Shape, "[", op, "] out shape ", shape_string(out), " does not match ", shape_string(x),
             " reduced over axis ", axis);
    outputs = out.numel();
  }
  const bool needs_elements = kind != ReduceKind::Sum && kind != ReduceKind::Norm1 && kind != ReduceKind::Norm2;
  NT_CHECK(!(needs_elements && k == 0 && outputs > 0), Value, "[", op, "] cannot reduce an empty ",
           axis < 0 ? "tensor" : "axis", " (", shape_string(x), axis < 0 ? "" : " over axis ",
           axis < 0 ? "" : std::to_string(axis), "): the result is undefined");
  NT_CHECK(kind != ReduceKind::ArgMax || k <= INT32_MAX, Value, "[", op, "] ", k,
           " elements exceed the i32 index range");
}

void reduce_run(ReduceKind kind, const TensorView& x, const TensorView& out, int axis) {
  if (out.numel() == 0) return;
  if (axis < 0) return reduce_all(kind, x, out);
  TensorView xk, ok;
  kept_views(x, out, axis, xk, ok);
  if (xk.numel() == 1) {
    // One output: the same as reducing everything (the other extents are 1).
    TensorView o1 = ok;
    o1.ndim = 0;
    return reduce_all(kind, x, o1);
  }
  const int64_t k = x.shape[axis];
  const TensorView* views[2] = {&xk, &ok};
  const Layout<2> ol = coalesce<2>(views, false);
  if (k == 0) {  // only sums and 1/2-norms get here (checked): every output is 0
    parallel_for(ol.numel(), 32768, [&](int64_t b, int64_t e) {
      for_each_run(ol, b, e, [&](const int64_t* off, int64_t len) {
        for (int64_t j = 0; j < len; ++j)
          store_result(kind, Partial{}, 0, elem_ptr(out, off[1] + j * ol.strides[1][ol.ndim - 1]), out.dtype);
      });
    });
    return;
  }
  if (x.strides[axis] == 1 || k == 1) reduce_rows(kind, x, out, ol, k);
  else reduce_columns(kind, x, out, ol, k, x.strides[axis]);
}

}  // namespace nt::ops
