// add, sub, mul, div: one pass over the coalesced layout, split into ~32K-element pieces.
// Contiguous (or scalar-broadcast) f32/f64 runs go straight to the SIMD slot; anything else
// (strides, f16/bf16) is staged through small f32/f64 blocks.
#include <algorithm>

#include "../core/thread_pool.h"
#include "../cpu/kernels.h"
#include "elementwise.h"
#include "float_block.h"
#include "strided_iter.h"

namespace nt::ops {
namespace {

constexpr int64_t kGrain = 32768;

template <typename T>
using BinaryFn = void (*)(const T*, int64_t, const T*, int64_t, T*, int64_t);

BinaryFn<float> slot_f32(BinaryOp op) {
  const KernelTable& k = kernels();
  switch (op) {
    case BinaryOp::Add: return k.add_f32;
    case BinaryOp::Sub: return k.sub_f32;
    case BinaryOp::Mul: return k.mul_f32;
    case BinaryOp::Div: return k.div_f32;
  }
  return k.add_f32;
}

BinaryFn<double> slot_f64(BinaryOp op) {
  const KernelTable& k = kernels();
  switch (op) {
    case BinaryOp::Add: return k.add_f64;
    case BinaryOp::Sub: return k.sub_f64;
    case BinaryOp::Mul: return k.mul_f64;
    case BinaryOp::Div: return k.div_f64;
  }
  return k.add_f64;
}

// T's own dtype (F32 for float, F64 for double): runs of it with stride 1 need no staging.
template <typename T>
constexpr DType native_dtype() { return sizeof(T) == 8 ? DType::F64 : DType::F32; }

template <typename T>
void binary_typed(BinaryFn<T> fn, const TensorView& a, const TensorView& b, const TensorView& out) {
  const TensorView* views[3] = {&out, &a, &b};
  const Layout<3> l = coalesce<3>(views, true);
  const int inner = l.ndim - 1;
  const int64_t so = l.strides[0][inner], sa = l.strides[1][inner], sb = l.strides[2][inner];
  const bool direct_o = out.dtype == native_dtype<T>() && so == 1;
  const bool direct_a = a.dtype == native_dtype<T>() && (sa == 1 || sa == 0);
  const bool direct_b = b.dtype == native_dtype<T>() && (sb == 1 || sb == 0);
  parallel_runs(l, kGrain, [&](const int64_t* off, int64_t len) {
    alignas(64) T ba[kBlock], bb[kBlock], bo[kBlock];
    char* po = elem_ptr(out, off[0]);
    const char* pa = elem_ptr(a, off[1]);
    const char* pb = elem_ptr(b, off[2]);
    if (direct_o && direct_a && direct_b) {
      fn(reinterpret_cast<const T*>(pa), sa, reinterpret_cast<const T*>(pb), sb, reinterpret_cast<T*>(po), len);
      return;
    }
    // Stage an operand unless it is already a stride-1 run of T; a stride-0 operand is
    // one value used with step 0.
    auto stage = [&](const TensorView& v, const char* p, int64_t s, bool direct, int64_t i, int64_t m, T* buf,
                     int64_t& step) -> const T* {
      if (s == 0) {
        step = 0;
        if (direct) return reinterpret_cast<const T*>(p);
        load_run<T>(p, v.dtype, 1, 1, buf);
        return buf;
      }
      step = 1;
      const char* q = p + i * s * elem_bytes(v.dtype);
      if (direct) return reinterpret_cast<const T*>(q);
      load_run<T>(q, v.dtype, s, m, buf);
      return buf;
    };
    for (int64_t i = 0; i < len; i += kBlock) {
      const int64_t m = std::min(kBlock, len - i);
      int64_t step_a, step_b;
      const T* xa = stage(a, pa, sa, direct_a, i, m, ba, step_a);
      const T* xb = stage(b, pb, sb, direct_b, i, m, bb, step_b);
      char* qo = po + i * so * elem_bytes(out.dtype);
      T* xo = direct_o ? reinterpret_cast<T*>(qo) : bo;
      fn(xa, step_a, xb, step_b, xo, m);
      if (!direct_o) store_run<T>(bo, qo, out.dtype, so, m);
    }
  });
}

}  // namespace

const char* binary_name(BinaryOp op) {
  switch (op) {
    case BinaryOp::Add: return "add";
    case BinaryOp::Sub: return "sub";
    case BinaryOp::Mul: return "mul";
    case BinaryOp::Div: return "div";
  }
  return "binary";
}

void binary_check(BinaryOp op, const TensorView& a, const TensorView& b, const TensorView& out) {
  const char* name = binary_name(op);
  const TensorView* views[3] = {&out, &a, &b};
  const char* names[3] = {"out", "a", "b"};
  check_float_family(name, views, names, 3);
  check_same_shape(name, out, "out", a, "a");
  check_same_shape(name, out, "out", b, "b");
}

void binary_run(BinaryOp op, const TensorView& a, const TensorView& b, const TensorView& out) {
  if (out.numel() == 0) return;
  if (out.dtype == DType::F64) binary_typed<double>(slot_f64(op), a, b, out);
  else binary_typed<float>(slot_f32(op), a, b, out);
}

}  // namespace nt::ops
