// RMSNorm over the last axis, as HF LlamaRMSNorm computes it in f32:
//   r = 1 / sqrt(mean(x^2) + eps);  y = (x * r) * weight
// mean(x^2) accumulates in f64 (so it is the correctly rounded f32 variance for any row
// length, where a plain f32 sum drifts), r is rounded to the compute type once, and the two
// products are rounded in HF's order. f16/bf16 inputs compute in f32 and round y once
// (HF rounds x*r to the input dtype before the weight product: within one ulp of ours).
#include <cmath>
#include <memory>

#include "../core/scratch.h"
#include "../cpu/kernels.h"
#include "float_block.h"
#include "nn.h"
#include "row_walk.h"

namespace nt::ops {
namespace {

template <typename T>
struct RmsSlots;
template <>
struct RmsSlots<float> {
  static double sumsq(const float* x, int64_t n) { return kernels().sumsq_f32(x, n); }
  static void scale_mul(const float* x, float s, const float* w, float* out, int64_t n) {
    kernels().scale_mul_f32(x, s, w, out, n);
  }
};
template <>
struct RmsSlots<double> {
  static double sumsq(const double* x, int64_t n) { return kernels().sumsq_f64(x, n); }
  static void scale_mul(const double* x, double s, const double* w, double* out, int64_t n) {
    kernels().scale_mul_f64(x, s, w, out, n);
  }
};

template <typename T>
void rmsnorm_typed(const TensorView& x, const TensorView& weight, const TensorView& out, double eps) {
  const DType own = sizeof(T) == 8 ? DType::F64 : DType::F32;
  const int axis = x.ndim - 1;
  const int64_t k = x.shape[axis], sx = x.strides[axis], so = out.strides[axis];
  // The weight row is read by every row: stage it once when it is not a plain T run.
  Scratch<T> wbuf(weight.dtype == own && weight.strides[0] == 1 ? 0 : k);
  const T* w = reinterpret_cast<const T*>(elem_ptr(weight, 0));
  if (wbuf.size() > 0) {
    load_run<T>(elem_ptr(weight, 0), weight.dtype, weight.strides[0], k, wbuf.get());
    w = wbuf.get();
  }
  const bool direct_x = x.dtype == own && sx == 1, direct_o = out.dtype == own && so == 1;
  for_each_row(
      x, out, axis, [&] { return std::make_unique<Scratch<T>>(direct_x && direct_o ? 0 : k); },
      [&](std::unique_ptr<Scratch<T>>& buf, int64_t xo, int64_t oo) {
        const T* src = reinterpret_cast<const T*>(elem_ptr(x, xo));
        if (!direct_x) {
          load_run<T>(elem_ptr(x, xo), x.dtype, sx, k, buf->get());
          src = buf->get();
        }
        const double ms = RmsSlots<T>::sumsq(src, k) / static_cast<double>(k);
        const T r = static_cast<T>(1.0 / std::sqrt(ms + eps));
        T* dst = direct_o ? reinterpret_cast<T*>(elem_ptr(out, oo)) : buf->get();
        RmsSlots<T>::scale_mul(src, r, w, dst, k);
        if (!direct_o) store_run<T>(dst, elem_ptr(out, oo), out.dtype, so, k);
      });
}

}  // namespace

void rmsnorm_check(const TensorView& x, const TensorView& weight, const TensorView& out, double eps) {
  const TensorView* views[3] = {&x, &weight, &out};
  const char* names[3] = {"x", "weight", "out"};
  check_float_family("rmsnorm", views, names, 3);
  NT_CHECK(weight.dtype == x.dtype, DType, "[rmsnorm] weight must have x's dtype ", dtype_name(x.dtype), ", got ",
           dtype_name(weight.dtype));
  NT_CHECK(x.ndim >= 1, Shape, "[rmsnorm] x must have at least one axis, got a 0-d tensor");
  NT_CHECK(weight.ndim == 1 && weight.shape[0] == x.shape[x.ndim - 1], Shape, "[rmsnorm] weight must have shape [",
           x.shape[x.ndim - 1], "] (the last extent of x ", shape_string(x), "), got ", shape_string(weight));
  check_same_shape("rmsnorm", x, "x", out, "out");
  NT_CHECK(std::isfinite(eps) && eps >= 0, Value, "[rmsnorm] eps must be a finite number >= 0, got ", eps);
}

void rmsnorm_run(const TensorView& x, const TensorView& weight, const TensorView& out, double eps) {
  if (x.numel() == 0) return;
  if (x.dtype == DType::F64) rmsnorm_typed<double>(x, weight, out, eps);
  else rmsnorm_typed<float>(x, weight, out, eps);
}

}  // namespace nt::ops
