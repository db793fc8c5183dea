// Bindings of nt.quant (native/quant/quant_ops.h). Registered with NT_NAPI_OP, so the addon
// also exports the ...Async twins. Tensors come as (storage, meta) pairs; an absent optional
// tensor is (null, null).
#include "../quant/quant_ops.h"
#include "op.h"

using nt::TensorView;
using nt::napi::Args;
using nt::quant::QParts;

// (w, codes, scales, zeros, bits, groupSize, symmetric)
NT_NAPI_OP(quantRtn) {
  QParts q;
  const TensorView w = args.tensor();
  q.codes = args.tensor();
  q.scales = args.tensor();
  q.zeros = args.tensor();
  q.bits = args.i32();
  q.group_size = args.i64();
  const bool symmetric = args.boolean();
  NT_CHECK(w.ndim == 2, Shape, "[quant.quantize] w must be 2-D [rows, cols], got ", nt::shape_string(w));
  q.rows = w.shape[0];
  q.cols = w.shape[1];
  nt::quant::rtn_check(w, q);
  return {[=] { nt::quant::rtn_run(w, q, symmetric); }, {}};
}

// (codes, scales, zeros, gIdx | null, out, bits, groupSize): out f32 [rows, cols]
NT_NAPI_OP(quantDequantize) {
  QParts q;
  q.codes = args.tensor();
  q.scales = args.tensor();
  q.zeros = args.tensor();
  q.has_gidx = args.optional_tensor(&q.gidx);
  const TensorView out = args.tensor();
  q.bits = args.i32();
  q.group_size = args.i64();
  NT_CHECK(out.ndim == 2, Shape, "[quant.dequantize] out must be 2-D [rows, cols], got ", nt::shape_string(out));
  q.rows = out.shape[0];
  q.cols = out.shape[1];
  nt::quant::dequantize_check(q, out);
  return {[=] { nt::quant::dequantize_run(q, out); }, {}};
}

// (w, inputNorms | null, out)
NT_NAPI_OP(quantPrune24) {
  const TensorView w = args.tensor();
  TensorView norms;
  const bool has_norms = args.optional_tensor(&norms);
  const TensorView out = args.tensor();
  nt::quant::prune24_check(w, has_norms ? &norms : nullptr, out);
  return {[=] { nt::quant::prune24_run(w, has_norms ? &norms : nullptr, out); }, {}};
}

// (codes, zeros, qweight, qzeros, cols, bits, groupSize, zeroOffset): writes qweight, qzeros
NT_NAPI_OP(quantGptqPack) {
  QParts q;
  q.codes = args.tensor();
  q.zeros = args.tensor();
  const TensorView qweight = args.tensor(), qzeros = args.tensor();
  q.cols = args.i64();
  q.bits = args.i32();
  q.group_size = args.i64();
  const int zero_offset = args.i32();
  q.rows = q.codes.ndim == 2 ? q.codes.shape[0] : -1;
  nt::quant::gptq_pack_check(q, qweight, qzeros, zero_offset);
  return {[=] { nt::quant::gptq_pack_run(q, qweight, qzeros, zero_offset); }, {}};
}

// (qweight, qzeros, codes, zeros, cols, bits, groupSize, zeroOffset): writes codes, zeros
NT_NAPI_OP(quantGptqUnpack) {
  QParts q;
  const TensorView qweight = args.tensor(), qzeros = args.tensor();
  q.codes = args.tensor();
  q.zeros = args.tensor();
  q.cols = args.i64();
  q.bits = args.i32();
  q.group_size = args.i64();
  const int zero_offset = args.i32();
  q.rows = q.codes.ndim == 2 ? q.codes.shape[0] : -1;
  nt::quant::gptq_unpack_check(qweight, qzeros, q, zero_offset);
  return {[=] { nt::quant::gptq_unpack_run(qweight, qzeros, q, zero_offset); }, {}};
}

// (codes, scales, zeros, gIdx | null, ids, out, bits, groupSize, cols): out [n, cols] = rows
// ids of the dequantized table, as out's float dtype
NT_NAPI_OP(quantGatherRows) {
  QParts q;
  q.codes = args.tensor();
  q.scales = args.tensor();
  q.zeros = args.tensor();
  q.has_gidx = args.optional_tensor(&q.gidx);
  const TensorView ids = args.tensor(), out = args.tensor();
  q.bits = args.i32();
  q.group_size = args.i64();
  q.cols = args.i64();
  q.rows = q.codes.ndim == 2 ? q.codes.shape[0] : -1;
  nt::quant::gather_rows_check(q, ids, out);
  return {[=] { nt::quant::gather_rows_run(q, ids, out); }, {}};
}
