// Reductions over one axis or over all elements: sum, mean, max, min, argmax, norms.
// Results do not depend on the thread count: a reduction over all elements (or a long row)
// is cut into fixed 64K-element pieces whose partial results are combined in index order.
#pragma once
#include "../core/tensor_view.h"

namespace nt::ops {

enum class ReduceKind { Sum, Mean, Max, Min, ArgMax, Norm1, Norm2, NormInf };

const char* reduce_name(ReduceKind kind);

// axis < 0: all elements (out has one element, any shape of ones); else out has x's shape
// with that axis removed or kept as 1. out dtype: x's, or i32 for argmax. Throws NT_VALUE
// for an empty max/min/mean/argmax/inf-norm with outputs to fill.
void reduce_check(ReduceKind kind, const TensorView& x, const TensorView& out, int axis);
void reduce_run(ReduceKind kind, const TensorView& x, const TensorView& out, int axis);

}  // namespace nt::ops
