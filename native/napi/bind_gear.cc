// Bindings of GEAR KV-cache compression (native/kvcache/gear.h). A compressed block crosses as
// its seven parts (codes, scales, mins, q, p, outlier values, outlier indices), each a
// (storage, meta) pair, followed by its parameters (kind, layout, bits, group, rank, outliers).
#include <cmath>

#include "../kvcache/gear.h"
#include "op.h"

using nt::TensorView;
using nt::kvcache::GearBlock;
using nt::kvcache::GearKind;
using nt::kvcache::GearLayout;
using nt::kvcache::GearParams;
using nt::napi::Args;
using nt::napi::OpCall;

namespace {

GearBlock read_block(Args& args) {
  GearBlock b;
  b.codes = args.tensor();
  b.scales = args.tensor();
  b.mins = args.tensor();
  b.q = args.tensor();
  b.p = args.tensor();
  b.ovals = args.tensor();
  b.oidx = args.tensor();
  return b;
}

// (kind 0 key | 1 value, layout 0 kivi | 1 uniform, bits, group, rank, outliers per side)
GearParams read_params(Args& args) {
  GearParams p;
  const int32_t kind = args.i32(), layout = args.i32();
  NT_CHECK(kind == 0 || kind == 1, Value, "[", args.op(), "] kind code must be 0 (key) or 1 (value), got ", kind);
  NT_CHECK(layout == 0 || layout == 1, Value, "[", args.op(), "] layout code must be 0 (kivi) or 1 (uniform), got ",
           layout);
  p.kind = static_cast<GearKind>(kind);
  p.layout = static_cast<GearLayout>(layout);
  p.bits = args.i32();
  p.group = args.i64();
  p.rank = args.i64();
  p.outliers = args.i64();
  return p;
}

uint64_t seed_from(Args& args) {
  const int64_t hi = args.i64(), lo = args.i64();
  NT_CHECK(hi >= 0 && hi <= 0xffffffffLL && lo >= 0 && lo <= 0xffffffffLL, Value, "[", args.op(),
           "] seed words must be uint32");
  return (static_cast<uint64_t>(hi) << 32) | static_cast<uint64_t>(lo);
}

}  // namespace

// gearCompress(x, <block>, <params>, powerIters, seedHi, seedLo, sliceBase)
NT_NAPI_OP(gearCompress) {
  const TensorView x = args.tensor();
  const GearBlock blk = read_block(args);
  const GearParams prm = read_params(args);
  const int64_t iters = args.i64();
  const uint64_t seed = seed_from(args);
  const int64_t slice_base = args.i64();
  NT_CHECK(slice_base >= 0, Value, "[", args.op(), "] sliceBase must be >= 0, got ", slice_base);
  nt::kvcache::gear_compress_check(x, blk, prm, iters);
  return {[=] { nt::kvcache::gear_compress_run(x, blk, prm, iters, seed, slice_base); }, {}};
}

// gearDecompress(<block>, <params>, out): out [B, H, n, d] f32, B <= the block's slices along B
NT_NAPI_OP(gearDecompress) {
  const GearBlock blk = read_block(args);
  const GearParams prm = read_params(args);
  const TensorView out = args.tensor();
  nt::kvcache::gear_decompress_check(blk, prm, out);
  return {[=] { nt::kvcache::gear_decompress_run(blk, prm, out); }, {}};
}

// gearOutlierDeltas(<block>, <params>, n, d, out): out f32 [B, H, nvec·2k]
NT_NAPI_OP(gearOutlierDeltas) {
  const GearBlock blk = read_block(args);
  const GearParams prm = read_params(args);
  const int64_t n = args.i64(), d = args.i64();
  const TensorView out = args.tensor();
  nt::kvcache::gear_outlier_deltas_check(blk, prm, n, d, out);
  return {[=] { nt::kvcache::gear_outlier_deltas_run(blk, prm, n, d, out); }, {}};
}

// gearAttend(q, out, <key block>, <key params>, <value block>, <value params>, keyDeltas,
//            valueDeltas, bufK, bufV, chunks, chunkTokens, bufLen, scale)
NT_NAPI_OP(gearAttend) {
  nt::kvcache::GearLayerView layer;
  const TensorView q = args.tensor(), out = args.tensor();
  layer.k = read_block(args);
  layer.kp = read_params(args);
  layer.v = read_block(args);
  layer.vp = read_params(args);
  layer.kdelta = args.tensor();
  layer.vdelta = args.tensor();
  layer.buf_k = args.tensor();
  layer.buf_v = args.tensor();
  layer.chunks = args.i64();
  layer.chunk_tokens = args.i64();
  layer.buf_len = args.i64();
  const double scale = args.f64();
  NT_CHECK(std::isfinite(scale), Value, "[", args.op(), "] scale must be finite, got ", scale);
  nt::kvcache::gear_attend_check(layer, q, out);
  return {[=] { nt::kvcache::gear_attend_run(layer, q, out, scale); }, {}};
}
