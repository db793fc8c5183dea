// Elementwise ops over same-shape strided views (the TS layer broadcasts by handing in
// stride-0 views). *_check validates on the JS thread; *_run only computes (worker-safe).
// out may be exactly the same view as an input (in place); other overlaps are resolved
// by the TS layer (it computes into a temporary).
#pragma once
#include "../core/tensor_view.h"

namespace nt::ops {

enum class BinaryOp { Add, Sub, Mul, Div };
enum class UnaryOp { Exp, Log, Sqrt, Silu, Gelu, GeluTanh };

const char* binary_name(BinaryOp op);
const char* unary_name(UnaryOp op);

// a, b, out: one shape; dtypes all f64, or any of f32/f16/bf16 (computed in f32).
void binary_check(BinaryOp op, const TensorView& a, const TensorView& b, const TensorView& out);
void binary_run(BinaryOp op, const TensorView& a, const TensorView& b, const TensorView& out);

void unary_check(UnaryOp op, const TensorView& x, const TensorView& out);
void unary_run(UnaryOp op, const TensorView& x, const TensorView& out);

}  // namespace nt::ops
