// Bindings of the elementwise, reduction and nn ops (native/ops). Each op is registered
// with NT_NAPI_OP, so the addon also exports its `...Async` twin. Argument order:
// tensors as (storage, meta) pairs, outputs last among tensors, then plain options.
#include <cmath>

#include "../ops/elementwise.h"
#include "../ops/nn.h"
#include "../ops/reduce.h"
#include "op.h"

using nt::TensorView;
using nt::napi::Args;
using nt::napi::OpCall;
using nt::ops::BinaryOp;
using nt::ops::ReduceKind;
using nt::ops::UnaryOp;

namespace {

// (a, b, out): same shape (the caller broadcasts with stride-0 views).
OpCall bind_binary(Args& args, BinaryOp op) {
  const TensorView a = args.tensor(), b = args.tensor(), out = args.tensor();
  nt::ops::binary_check(op, a, b, out);
  return {[=] { nt::ops::binary_run(op, a, b, out); }, {}};
}

// (x, out)
OpCall bind_unary(Args& args, UnaryOp op) {
  const TensorView x = args.tensor(), out = args.tensor();
  nt::ops::unary_check(op, x, out);
  return {[=] { nt::ops::unary_run(op, x, out); }, {}};
}

// An optional non-negative axis; undefined/null means every element.
int optional_axis(Args& args) {
  if (args.is_absent()) {
    args.skip();
    return -1;
  }
  const int32_t axis = args.i32();
  NT_CHECK(axis >= 0, Value, "[", args.op(), "] axis must be normalised to >= 0, got ", axis);
  return axis;
}

// (x, out, axis?)
OpCall bind_reduce(Args& args, ReduceKind kind) {
  const TensorView x = args.tensor(), out = args.tensor();
  const int axis = optional_axis(args);
  nt::ops::reduce_check(kind, x, out, axis);
  return {[=] { nt::ops::reduce_run(kind, x, out, axis); }, {}};
}

}  // namespace

NT_NAPI_OP(add) { return bind_binary(args, BinaryOp::Add); }
NT_NAPI_OP(sub) { return bind_binary(args, BinaryOp::Sub); }
NT_NAPI_OP(mul) { return bind_binary(args, BinaryOp::Mul); }
NT_NAPI_OP(div) { return bind_binary(args, BinaryOp::Div); }

NT_NAPI_OP(exp) { return bind_unary(args, UnaryOp::Exp); }
NT_NAPI_OP(log) { return bind_unary(args, UnaryOp::Log); }
NT_NAPI_OP(sqrt) { return bind_unary(args, UnaryOp::Sqrt); }
NT_NAPI_OP(silu) { return bind_unary(args, UnaryOp::Silu); }
// (x, out, tanhApproximation: boolean)
NT_NAPI_OP(gelu) {
  const TensorView x = args.tensor(), out = args.tensor();
  const UnaryOp op = args.boolean() ? UnaryOp::GeluTanh : UnaryOp::Gelu;
  nt::ops::unary_check(op, x, out);
  return {[=] { nt::ops::unary_run(op, x, out); }, {}};
}

NT_NAPI_OP(sum) { return bind_reduce(args, ReduceKind::Sum); }
NT_NAPI_OP(mean) { return bind_reduce(args, ReduceKind::Mean); }
NT_NAPI_OP(max) { return bind_reduce(args, ReduceKind::Max); }
NT_NAPI_OP(min) { return bind_reduce(args, ReduceKind::Min); }
NT_NAPI_OP(argmax) { return bind_reduce(args, ReduceKind::ArgMax); }
// (x, out, axis?, ord: 1 | 2 | Infinity)
NT_NAPI_OP(norm) {
  const TensorView x = args.tensor(), out = args.tensor();
  const int axis = optional_axis(args);
  const double ord = args.f64();
  NT_CHECK(ord == 1 || ord == 2 || ord == INFINITY, Value, "[norm] ord must be 1, 2 or Infinity, got ", ord);
  const ReduceKind kind = ord == 1 ? ReduceKind::Norm1 : ord == 2 ? ReduceKind::Norm2 : ReduceKind::NormInf;
  nt::ops::reduce_check(kind, x, out, axis);
  return {[=] { nt::ops::reduce_run(kind, x, out, axis); }, {}};
}

// (x, out, axis)
NT_NAPI_OP(softmax) {
  const TensorView x = args.tensor(), out = args.tensor();
  const int32_t axis = args.i32();
  nt::ops::softmax_check(x, out, axis);
  return {[=] { nt::ops::softmax_run(x, out, axis); }, {}};
}

// (x, weight, out, eps)
NT_NAPI_OP(rmsnorm) {
  const TensorView x = args.tensor(), w = args.tensor(), out = args.tensor();
  const double eps = args.f64();
  nt::ops::rmsnorm_check(x, w, out, eps);
  return {[=] { nt::ops::rmsnorm_run(x, w, out, eps); }, {}};
}
