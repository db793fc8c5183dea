// Bindings of the model-only kernels (native/ops/model_ops.h): rotary embedding and row
// gather. Tensors as (storage, meta) pairs, output last among tensors, then plain options.
#include "../ops/model_ops.h"
#include "op.h"

using nt::TensorView;

// (x, invFreq, out, positionOffset)
NT_NAPI_OP(rope) {
  const TensorView x = args.tensor(), inv_freq = args.tensor(), out = args.tensor();
  const int64_t offset = args.i64();
  nt::ops::rope_check(x, inv_freq, out, offset);
  return {[=] { nt::ops::rope_run(x, inv_freq, out, offset); }, {}};
}

// (table, ids, out)
NT_NAPI_OP(gatherRows) {
  const TensorView table = args.tensor(), ids = args.tensor(), out = args.tensor();
  nt::ops::gather_rows_check(table, ids, out);
  return {[=] { nt::ops::gather_rows_run(table, ids, out); }, {}};
}
