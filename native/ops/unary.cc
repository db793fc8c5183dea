// exp, log, sqrt, silu, gelu (erf and tanh forms): same layout walk as the binary ops.
#include <algorithm>

#include "../core/thread_pool.h"
#include "../cpu/kernels.h"
#include "elementwise.h"
#include "float_block.h"
#include "strided_iter.h"

namespace nt::ops {
namespace {

// Transcendentals cost more per element than a memory pass: a smaller grain still
// amortises the pool hand-off.
constexpr int64_t kGrain = 8192;

UnaryF32 slot_f32(UnaryOp op) {
  const KernelTable& k = kernels();
  switch (op) {
    case UnaryOp::Exp: return k.exp_f32;
    case UnaryOp::Log: return k.log_f32;
    case UnaryOp::Sqrt: return k.sqrt_f32;
    case UnaryOp::Silu: return k.silu_f32;
    case UnaryOp::Gelu: return k.gelu_f32;
    case UnaryOp::GeluTanh: return k.gelu_tanh_f32;
  }
  return k.exp_f32;
}

UnaryF64 slot_f64(UnaryOp op) {
  const KernelTable& k = kernels();
  switch (op) {
    case UnaryOp::Exp: return k.exp_f64;
    case UnaryOp::Log: return k.log_f64;
    case UnaryOp::Sqrt: return k.sqrt_f64;
    case UnaryOp::Silu: return k.silu_f64;
    case UnaryOp::Gelu: return k.gelu_f64;
    case UnaryOp::GeluTanh: return k.gelu_tanh_f64;
  }
  return k.exp_f64;
}

template <typename T>
void unary_typed(void (*fn)(const T*, T*, int64_t), const TensorView& x, const TensorView& out) {
  const DType own = sizeof(T) == 8 ? DType::F64 : DType::F32;
  const TensorView* views[2] = {&out, &x};
  const Layout<2> l = coalesce<2>(views, true);
  const int inner = l.ndim - 1;
  const int64_t so = l.strides[0][inner], sx = l.strides[1][inner];
  const bool direct_o = out.dtype == own && so == 1, direct_x = x.dtype == own && sx == 1;
  parallel_runs(l, kGrain, [&](const int64_t* off, int64_t len) {
    alignas(64) T bx[kBlock], bo[kBlock];
    char* po = elem_ptr(out, off[0]);
    const char* px = elem_ptr(x, off[1]);
    if (direct_o && direct_x) {
      fn(reinterpret_cast<const T*>(px), reinterpret_cast<T*>(po), len);
      return;
    }
    for (int64_t i = 0; i < len; i += kBlock) {
      const int64_t m = std::min(kBlock, len - i);
      const char* qx = px + i * sx * elem_bytes(x.dtype);
      char* qo = po + i * so * elem_bytes(out.dtype);
      const T* src = bx;
      if (direct_x) src = reinterpret_cast<const T*>(qx);
      else load_run<T>(qx, x.dtype, sx, m, bx);
      T* dst = direct_o ? reinterpret_cast<T*>(qo) : bo;
      fn(src, dst, m);
      if (!direct_o) store_run<T>(bo, qo, out.dtype, so, m);
    }
  });
}

}  // namespace

const char* unary_name(UnaryOp op) {
  switch (op) {
    case UnaryOp::Exp: return "exp";
    case UnaryOp::Log: return "log";
    case UnaryOp::Sqrt: return "sqrt";
    case UnaryOp::Silu: return "silu";
    case UnaryOp::Gelu: case UnaryOp::GeluTanh: return "gelu";
  }
  return "unary";
}

void unary_check(UnaryOp op, const TensorView& x, const TensorView& out) {
  const char* name = unary_name(op);
  const TensorView* views[2] = {&x, &out};
  const char* names[2] = {"x", "out"};
  check_float_family(name, views, names, 2);
  check_same_shape(name, x, "x", out, "out");
}

void unary_run(UnaryOp op, const TensorView& x, const TensorView& out) {
  if (out.numel() == 0) return;
  if (out.dtype == DType::F64) unary_typed<double>(slot_f64(op), x, out);
  else unary_typed<float>(slot_f32(op), x, out);
}

}  // namespace nt::ops
