// Feature maps φ of linear attention (ALGORITHMS.md §4), applied per head to the rows of a
// [batch, heads, seq, dim] tensor, with their backward pass:
//   hedgehog: φ(x) = [softmax(x W̃_h), softmax(−x W̃_h)] over the feature axis (W̃_h: dim × f,
//             2f features), each entry clamped below at 1e-12 (the clamp's gradient is 0);
//   identity: φ(x) = x;  relu: max(x, 0);  elu+1: x + 1 for x > 0, exp(x) otherwise.
// The output may have more heads than the input (GQA): output head h reads input head
// h / (out_heads / in_heads), so a key map with one weight per query head (LoLCATs) is
// applied to the shared key head of its group. f32 or f64 views; computed in float when all
// views are f32, else in float64.
#pragma once
#include <optional>

#include "../core/tensor_view.h"

namespace nt {

enum class FeatureMapKind : int32_t { Hedgehog = 0, Identity = 1, Relu = 2, EluPlusOne = 3 };

// x [B, Hx, N, D]; weight [Hout, D, f] (hedgehog only); out [B, Hout, N, F], Hout % Hx == 0.
void feature_map_check(const TensorView& x, const TensorView* weight, const TensorView& out, int32_t kind);
void feature_map_run(const TensorView& x, const TensorView* weight, const TensorView& out, int32_t kind);

// grad [B, Hout, N, F] -> dx [B, Hx, N, D] (sums over the heads sharing an input head) and
// dweight [Hout, D, f] (hedgehog; summed over batch and rows). Both are overwritten.
void feature_map_backward_check(const TensorView& x, const TensorView* weight, const TensorView& grad,
                                const TensorView& dx, const TensorView* dweight, int32_t kind);
void feature_map_backward_run(const TensorView& x, const TensorView* weight, const TensorView& grad,
                              const TensorView& dx, const TensorView* dweight, int32_t kind);

}  // namespace nt
