// GEAR KV-cache compression (docs/ALGORITHMS.md §3): X ≈ D̂ + L + S per (batch, head) slice
// X (n tokens x d channels).
//
// S  outliers, per vector: keys are vectors per channel along tokens (len n), values per token
//    along channels (len d). k per side (k = floor(s·len/2), computed by the caller): in the
//    strict total order (value, index) ascending, the first k and the last k entries of each
//    vector are kept exactly (value rounded to the side dtype + int32 index within the vector).
//    Before quantizing they are replaced by the mean of the whole (original) vector, so they do
//    not stretch the quantization range.
// D̂  asymmetric min/max quantization to b = 2|4 bits of that outlier-free X: per group
//    Δ = max((max - min) / (2^b - 1), eps) and min, both rounded to the side dtype (f16|f32)
//    first; code = clamp(round((x - min)/Δ), 0, 2^b - 1); x̂ = min + Δ·code.
//    Layouts: KIVI (keys: per channel in groups of g tokens; values: per token in groups of g
//    channels) or "uniform" (one range for the whole n x d slice).
// L  rank r = min(rank, n, d) approximation of R = X - D̂ with zeros at the outlier positions
//    (those are stored exactly, so their residual is irrelevant): block power iteration with a
//    QR each iteration from a seeded Gaussian start: P = orth(P); Q = orth(R P); P = Rᵀ Q.
//    L = Q Pᵀ, Q (n x r) orthonormal, P (d x r), stored in the side dtype.
// Reconstruction: X̂ = D̂ + L, except at outlier positions where X̂ = the stored value.
//
// Storage of one compressed tensor [B, H, n, d] (every part contiguous, slice s = b·H + h):
//   codes   u8  [B, H, ceil(n·d·bits/8)]   element e = t·d + j of the slice at bit e·bits of
//                                          the slice's bytes, low bits first
//   scales  f16|f32 [B, H, groups], mins same; group of (t, j): KIVI key (t/g)·d + j,
//                                          KIVI value t·ceil(d/g) + j/g, uniform 0
//   q       f16|f32 [B, H, n, r];  p  f16|f32 [B, H, d, r]
//   ovals   f16|f32 [B, H, nvec, 2k];  oidx i32 [B, H, nvec, 2k]  (nvec = d for keys, n for
//                                          values; the k smallest then the k largest, each
//                                          ascending in (value, index))
// The streaming cache stacks its chunks along B (B = chunk, H = kv head, n = chunk tokens).
#pragma once
#include <cstdint>

#include "../core/tensor_view.h"

namespace nt::kvcache {

enum class GearKind : int32_t { Key = 0, Value = 1 };
enum class GearLayout : int32_t { Kivi = 0, Uniform = 1 };

// Smallest quantization step: keeps constant groups finite (code 0, x̂ = min). 2^-20 is exact in
// f16 (a subnormal) and f32.
constexpr float kGearMinStep = 9.5367431640625e-07f;

struct GearParams {
  GearKind kind = GearKind::Key;
  GearLayout layout = GearLayout::Kivi;
  int bits = 4;
  int64_t group = 64;
  int64_t rank = 0;      // effective rank r (<= min(n, d))
  int64_t outliers = 0;  // k per side per vector
};

struct GearBlock {
  TensorView codes, scales, mins, q, p, ovals, oidx;
};

// Per-slice sizes for a tensor of n tokens x d channels.
int64_t gear_code_bytes(const GearParams& prm, int64_t n, int64_t d);
int64_t gear_groups(const GearParams& prm, int64_t n, int64_t d);
int64_t gear_vectors(const GearParams& prm, int64_t n, int64_t d);  // nvec
int64_t gear_vector_length(const GearParams& prm, int64_t n, int64_t d);

// Validates a block of B x H slices of n x d (shapes, dtypes, contiguity, parameters).
void gear_block_check(const char* op, const GearBlock& blk, const GearParams& prm, int64_t batch, int64_t heads,
                      int64_t n, int64_t d);

// compress: x [B, H, n, d] (any float dtype, any strides; NaN/Inf is NT_VALUE; values beyond the
// f16 range with f16 side storage are NT_VALUE) -> blk. Multi-threaded over the B·H slices;
// the result does not depend on the thread count. Slice s's power-iteration start is keyed by
// gear_slice_seed(seed, slice_base + s) (the streaming cache compresses chunk c of a layer with
// slice_base = c·H, so its chunks equal one compress of all of them stacked along B).
void gear_compress_check(const TensorView& x, const GearBlock& blk, const GearParams& prm, int64_t power_iters);
void gear_compress_run(const TensorView& x, const GearBlock& blk, const GearParams& prm, int64_t power_iters,
                       uint64_t seed, int64_t slice_base = 0);
uint64_t gear_slice_seed(uint64_t seed, int64_t slice);

// decompress: the first `batch` slices along B of blk -> out f32 [batch, H, n, d] contiguous.
void gear_decompress_check(const GearBlock& blk, const GearParams& prm, const TensorView& out);
void gear_decompress_run(const GearBlock& blk, const GearParams& prm, const TensorView& out);

// One layer of the streaming cache: `chunks` compressed chunks of n_b tokens (stacked along B of
// k and v, capacity >= chunks) followed by buf_len full-precision tokens in buf_k/buf_v
// (f32 [hkv, cap, d], contiguous).
struct GearLayerView {
  GearBlock k, v;
  GearParams kp, vp;
  // f32 [>= chunks, H, nvec·2k]: each outlier's correction, as gear_outlier_deltas computes it
  TensorView kdelta, vdelta;
  int64_t chunks = 0, chunk_tokens = 0, buf_len = 0;
  TensorView buf_k, buf_v;
};

// The outlier corrections of the first B slices along B of blk, for decode: out f32 [B, H,
// nvec·2k] contiguous, element i of slice s = stored value - (D̂ + L) at outlier i (what
// attention adds on top of the codes and the low-rank term; in the order of oidx). Computed once
// per chunk by the streaming cache, so decode never re-decodes an outlier's code.
void gear_outlier_deltas_check(const GearBlock& blk, const GearParams& prm, int64_t n, int64_t d, const TensorView& out);
void gear_outlier_deltas_run(const GearBlock& blk, const GearParams& prm, int64_t n, int64_t d, const TensorView& out);

// attend: q [1, hq, sq, d] (f32/f16/bf16, any strides) -> out f32 [1, hq, sq, d] contiguous.
// Causal, bottom-right aligned: query i sits at position total - sq + i. Decode (sq <= 8 or
// gq·sq <= 32): scores straight from the codes (scale and zero folded into the query), the
// low-rank term as (q·P)Qᵀ and (p·Q)Pᵀ, the outliers as exact corrections, one online softmax
// per split of the chunks (split-K, merged by log-sum-exp). Prefill: each chunk reconstructed
// once into the packed panels of the dense attention tiles, ~2048 tokens at a time.
void gear_attend_check(const GearLayerView& layer, const TensorView& q, const TensorView& out);
void gear_attend_run(const GearLayerView& layer, const TensorView& q, const TensorView& out, double scale);

}  // namespace nt::kvcache
