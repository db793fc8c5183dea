// nn building blocks over rows: softmax along an axis, RMSNorm over the last axis.
// out may be exactly the same view as x (in place).
#pragma once
#include "../core/tensor_view.h"

namespace nt::ops {

void softmax_check(const TensorView& x, const TensorView& out, int axis);
void softmax_run(const TensorView& x, const TensorView& out, int axis);

// y = x / sqrt(mean(x^2) + eps) * weight over the last axis; weight 1-D, x's dtype.
void rmsnorm_check(const TensorView& x, const TensorView& weight, const TensorView& out, double eps);
void rmsnorm_run(const TensorView& x, const TensorView& weight, const TensorView& out, double eps);

}  // namespace nt::ops
