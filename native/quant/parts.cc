// Validation of the QTensor parts (layout: group_quant.h) shared by every nt.quant kernel.
#include "group_quant.h"
#include "quant_ops.h"
#include "quant_util.h"

namespace nt::quant {

void check_parts(const char* op, const QParts& q, bool with_scales) {
  NT_CHECK(q.bits == 2 || q.bits == 3 || q.bits == 4 || q.bits == 8, Value, "[", op, "] bits must be 2, 3, 4 or 8, got ",
           q.bits);
  NT_CHECK(q.group_size >= 1, Value, "[", op, "] groupSize must be >= 1, got ", q.group_size);
  NT_CHECK(q.rows >= 0 && q.cols >= 0, Shape, "[", op, "] negative shape [", q.rows, ",", q.cols, "]");
  const int64_t groups = group_count(q.cols, q.group_size);
  check_2d(op, q.codes, "codes", DType::U8, q.rows, code_row_bytes(q.cols, q.bits));
  NT_CHECK(q.codes.shape[1] <= 1 || q.codes.strides[1] == 1, Shape, "[", op, "] codes rows must be contiguous, got stride ",
           q.codes.strides[1]);
  if (with_scales) {
    NT_CHECK(q.scales.dtype == DType::F32 || q.scales.dtype == DType::F16, DType, "[", op,
             "] scales must be f32 or f16, got ", dtype_name(q.scales.dtype));
    check_2d(op, q.scales, "scales", q.scales.dtype, q.rows, groups);
  }
  check_2d(op, q.zeros, "zeros", DType::U8, q.rows, groups);
  if (!q.has_gidx) return;
  NT_CHECK(q.gidx.dtype == DType::I32, DType, "[", op, "] gIdx must be i32, got ", dtype_name(q.gidx.dtype));
  NT_CHECK(q.gidx.ndim == 1 && q.gidx.shape[0] == q.cols, Shape, "[", op, "] gIdx must have shape [", q.cols, "], got ",
           shape_string(q.gidx));
  const int32_t* g = static_cast<const int32_t*>(q.gidx.data) + q.gidx.offset;
  for (int64_t c = 0; c < q.cols; ++c) {
    const int32_t v = g[c * q.gidx.strides[0]];
    NT_CHECK(v >= 0 && v < groups, Value, "[", op, "] gIdx[", c, "] = ", v, " is outside [0, ", groups, ")");
  }
}

}  // namespace nt::quant
