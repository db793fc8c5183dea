// The matmul op over tensor views: 2-D x 2-D, or batched 3-D (one side may be 2-D, or have
// batch extent 1, and is then broadcast over the batch), f32 or f64 (a, b, out one dtype), or
// a f32 with b f16/bf16 and out f32 (the mixed-precision GEMM of half_gemm.h: b is read as
// stored, 2 bytes per element, never widened into a copy).
// Any operand whose last two axes have unit stride on either axis goes straight to the
// packing (a column-major view is a transposed row-major one), so transposed and sliced
// views are never copied; out may be row- or column-major. Other layouts are NT_VALUE (the
// TS layer makes them contiguous first).
#pragma once
#include "../core/tensor_view.h"

namespace nt {

// Validates shapes, dtypes and layouts (throws NT_SHAPE / NT_DTYPE / NT_VALUE).
void matmul_check(const TensorView& a, const TensorView& b, const TensorView& out, bool trans_a, bool trans_b);
// out = alpha * op(a) op(b) + beta * out (beta == 0: out is not read). Call matmul_check first.
void matmul_run(const TensorView& a, const TensorView& b, const TensorView& out, bool trans_a, bool trans_b,
                double alpha, double beta);

}  // namespace nt
