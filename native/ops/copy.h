#pragma once
#include "../core/tensor_view.h"

namespace nt {

// dst = src converted to dst's dtype, elementwise over a common shape, any strides.
// Conversions: floats -> integers truncate toward zero and saturate at the type's range
// (u4: 0..15, i4: -8..7); integer narrowing saturates; NaN -> integer is NT_VALUE and is
// detected before anything is written. Floats round to nearest even (f64 -> f16 goes
// through f32, so it can round twice).
void copy_convert(const TensorView& src, const TensorView& dst);

}  // namespace nt
