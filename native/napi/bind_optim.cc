// Bindings of the optimizer steps (native/optim/optim.h). All tensors are updated in place.
//   optimAdamStep(target, g, m, v, lr, beta1, beta2, eps, weightDecay, step, direction)
//   optimAdam8bitStep(target, g, mCodes, mAbsmax, vCodes, vAbsmax, block, lr, beta1, beta2, eps,
//                     weightDecay, step, direction)
//   optimQuantize(x, codes, absmax, block, signed) / optimDequantize(codes, absmax, x, block, signed)
//   optimDynamicCode(out [256], signed)
//   optimWeightNormInit(w, g, s, eps) / optimWeightNormGrad(w, g, s, grad, dv, dg)
//   optimWeightNormApply(w, g, s, uv, ug, lr, scale, weightDecay, eps)
//   optimScaledUpdate(p, u, lr, scale, weightDecay)
#include <cmath>
#include <cstring>

#include "../optim/optim.h"
#include "op.h"

using nt::TensorView;
using nt::napi::Args;
using nt::optim::AdamConstants;
using nt::optim::AdamHyper;

namespace {

double finite(Args& args, const char* name) {
  const double x = args.f64();
  NT_CHECK(std::isfinite(x), Value, "[", args.op(), "] ", name, " must be finite, got ", x);
  return x;
}

AdamConstants adam_args(Args& args) {
  AdamHyper h;
  h.lr = finite(args, "lr");
  h.beta1 = finite(args, "beta1");
  h.beta2 = finite(args, "beta2");
  h.eps = finite(args, "eps");
  h.weight_decay = finite(args, "weightDecay");
  h.step = args.i64();
  h.direction = args.boolean();
  return nt::optim::adam_constants(args.op(), h);
}

}  // namespace

NT_NAPI_OP(optimAdamStep) {
  const TensorView target = args.tensor(), g = args.tensor(), m = args.tensor(), v = args.tensor();
  nt::optim::adam_check(args.op(), target, g, m, v);
  const AdamConstants c = adam_args(args);
  return {[=] { nt::optim::adam_run(target, g, m, v, c); }, {}};
}

NT_NAPI_OP(optimAdam8bitStep) {
  const TensorView target = args.tensor(), g = args.tensor();
  const TensorView mq = args.tensor(), ma = args.tensor(), vq = args.tensor(), va = args.tensor();
  const int64_t block = args.i64();
  nt::optim::adam8bit_check(args.op(), target, g, mq, ma, vq, va, block);
  const AdamConstants c = adam_args(args);
  return {[=] { nt::optim::adam8bit_run(target, g, mq, ma, vq, va, block, c); }, {}};
}

NT_NAPI_OP(optimQuantize) {
  const TensorView x = args.tensor(), codes = args.tensor(), absmax = args.tensor();
  const int64_t block = args.i64();
  const bool is_signed = args.boolean();
  nt::optim::quantize_check(args.op(), x, codes, absmax, block);
  return {[=] { nt::optim::quantize_run(x, codes, absmax, block, is_signed); }, {}};
}

NT_NAPI_OP(optimDequantize) {
  const TensorView codes = args.tensor(), absmax = args.tensor(), x = args.tensor();
  const int64_t block = args.i64();
  const bool is_signed = args.boolean();
  nt::optim::quantize_check(args.op(), x, codes, absmax, block);
  return {[=] { nt::optim::dequantize_run(codes, absmax, x, block, is_signed); }, {}};
}

NT_NAPI_OP(optimDynamicCode) {
  const TensorView out = args.tensor();
  const bool is_signed = args.boolean();
  NT_CHECK(out.dtype == nt::DType::F32 && out.is_contiguous() && out.numel() == nt::optim::kCodeSize, Value, "[",
           args.op(), "] out must be a contiguous f32 tensor of ", nt::optim::kCodeSize, " elements");
  return {[=] { std::memcpy(out.ptr<float>(), nt::optim::dynamic_code(is_signed), nt::optim::kCodeSize * 4); }, {}};
}

NT_NAPI_OP(optimWeightNormInit) {
  const TensorView w = args.tensor(), g = args.tensor(), s = args.tensor();
  const double eps = finite(args, "eps");
  NT_CHECK(eps > 0, Value, "[", args.op(), "] eps must be > 0, got ", eps);
  nt::optim::weight_norm_check(args.op(), w, g, s, nullptr, nullptr, nullptr);
  return {[=] { nt::optim::weight_norm_init_run(w, g, s, eps); }, {}};
}

NT_NAPI_OP(optimWeightNormGrad) {
  const TensorView w = args.tensor(), g = args.tensor(), s = args.tensor();
  const TensorView grad = args.tensor(), dv = args.tensor(), dg = args.tensor();
  nt::optim::weight_norm_check(args.op(), w, g, s, &grad, &dv, &dg);
  return {[=] { nt::optim::weight_norm_grad_run(w, g, s, grad, dv, dg); }, {}};
}

NT_NAPI_OP(optimWeightNormApply) {
  const TensorView w = args.tensor(), g = args.tensor(), s = args.tensor();
  const TensorView uv = args.tensor(), ug = args.tensor();
  const double lr = finite(args, "lr"), scale = finite(args, "scale"), wd = finite(args, "weightDecay");
  const double eps = finite(args, "eps");
  NT_CHECK(eps > 0, Value, "[", args.op(), "] eps must be > 0, got ", eps);
  nt::optim::weight_norm_check(args.op(), w, g, s, nullptr, &uv, &ug);
  return {[=] { nt::optim::weight_norm_apply_run(w, g, s, uv, ug, lr, scale, wd, eps); }, {}};
}

NT_NAPI_OP(optimScaledUpdate) {
  const TensorView p = args.tensor(), u = args.tensor();
  const double lr = finite(args, "lr"), scale = finite(args, "scale"), wd = finite(args, "weightDecay");
  nt::optim::scaled_update_check(args.op(), p, u);
  return {[=] { nt::optim::scaled_update_run(p, u, lr, scale, wd); }, {}};
}
