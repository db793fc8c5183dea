// Model-only kernels of the LLaMA runner: rotary position embedding and row gather
// (embedding lookup). Front-end checks run on the JS thread, the run functions on any thread.
#pragma once
#include <cstdint>

#include "../core/tensor_view.h"

namespace nt::ops {

// HF LLaMA rotary embedding (rotate_half convention) over x [..., seq, d]:
//   angle(p, i) = p * inv_freq[i],  p = position_offset + (index along axis -2),  h = d / 2
//   out[i]     = x[i] * cos - x[i + h] * sin
//   out[i + h] = x[i + h] * cos + x[i] * sin
// inv_freq: f32 or f64, shape [d / 2]. f32/f16/bf16 compute in f32 exactly as HF does (the
// angle is the f32 product, cos/sin rounded to f32); f64 computes in f64. out may be x itself.
void rope_check(const TensorView& x, const TensorView& inv_freq, const TensorView& out, int64_t position_offset);
void rope_run(const TensorView& x, const TensorView& inv_freq, const TensorView& out, int64_t position_offset);

// out[r, :] = table[ids[r], :]: table [rows, cols] (any float dtype), ids i32 [n], out [n, cols]
// of the table's float family (f64, or f32/f16/bf16 converting on the way).
void gather_rows_check(const TensorView& table, const TensorView& ids, const TensorView& out);
void gather_rows_run(const TensorView& table, const TensorView& ids, const TensorView& out);

}  // namespace nt::ops
