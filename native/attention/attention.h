// Softmax attention over [batch, heads, seq, dim] views: dense (causal or not), sliding-window
// and block-sparse masks, one tiled online-softmax engine (dense.cc); delta attention (delta.cc).
//
// Shapes: q [b, hq, sq, d], k [b, hkv, sk, d], v [b, hkv, sk, dv], out [b, hq, sq, dv] f32;
// hkv divides hq (GQA: query head h reads kv head h / (hq / hkv)). Query i sits at position
// p_i = sk - sq + i (bottom-right alignment: decode is sq = 1 against the whole cache).
// Inputs may be any float dtype (computed in f32) and any strided view.
//
// Which keys a query row sees (the union of its allowed keys; a row that sees none gives 0):
//   causal:              0 <= j <= p_i                 (needs sk >= sq)
//   not causal:          0 <= j < sk
//   window w > 0:        additionally j > p_i - w, and j < p_i + w when not causal
//   blocks (block size B): additionally blocks[b, h, p_i / B, j / B] != 0  (u8, [b, hq, nb, nb],
//                        nb = ceil(sk / B), any strides)
// A NaN score (NaN in q or a seen k) makes its row NaN. Masked keys are multiplied by an exact 0,
// so a NaN or Inf in v at a masked key can still reach the rows that share its tile.
#pragma once
#include <cstdint>

#include "../core/tensor_view.h"
#include "attention_kernels.h"

namespace nt {

struct AttentionMask {
  bool causal = true;
  int64_t window = 0;          // 0: no window
  const TensorView* blocks = nullptr;  // block-sparse keep flags, or nullptr
  int64_t block = 0;           // block size B of `blocks`
};

// Validates ranks, extents, dtypes and the GQA ratio (NT_SHAPE / NT_DTYPE), op names the caller;
// out (f32 [b, hq, sq, dv]) is checked unless null.
void attention_check(const char* op, const TensorView& q, const TensorView& k, const TensorView& v,
                     const TensorView* out, bool causal);
// out = softmax(scale q k^T + mask) v, computed with `kernels` (tests pass each ISA's set).
void attention_forward(const TensorView& q, const TensorView& k, const TensorView& v, const TensorView& out,
                       float scale, const AttentionMask& mask, const AttentionKernels& kernels);

// Top-k block mask (topk_blocks.cc documents the selection): blocks u8 [b, hq, nb, nb] overwritten.
void attention_topk_blocks(const TensorView& q, const TensorView& k, const TensorView& blocks, int64_t block_size,
                           int64_t topk, bool causal);

// A float view converted to f32 with unit stride on the last axis (a pointer into the input
// when it already is, else a contiguous converted copy). Element (b, h, s, 0) is at
// p + b * sb + h * sh + s * ss.
struct F32Heads {
  const float* p = nullptr;
  int64_t sb = 0, sh = 0, ss = 0;
  float* owned = nullptr;
  F32Heads() = default;
  F32Heads(const F32Heads&) = delete;
  F32Heads& operator=(const F32Heads&) = delete;
  ~F32Heads();
};
void as_f32_heads(const TensorView& t, F32Heads& out);

// Delta attention (ALGORITHMS.md section 4, DeltaLLM; delta.cc documents the steps). Causal,
// window >= 1, threshold >= 0. The state (f32, contiguous, updated in place) carries one
// sequence across calls (prefill, then decode steps): qhat [b * hq, d] (zeros when fresh),
// scores [b * hq, cap] (held out-of-window scores), kt [b * hkv, d, cap] (keys transposed, the
// first `seen` filled). A call continues at position next (= sk - sq; -1: fresh state, the first
// query is at sk - sq). The first `seen` keys of k must be those seen before (a growing cache).
struct DeltaCounts {
  double done = 0, dense = 0;
};
struct DeltaState {
  float* qhat;
  float* scores;
  float* kt;
  int64_t cap;   // capacity in keys (>= sk)
  int64_t seen;  // keys already transposed into kt
  int64_t next;  // position of the next query, -1 when fresh
};
DeltaCounts delta_forward(const TensorView& q, const TensorView& k, const TensorView& v, const TensorView& out,
                          float scale, int64_t window, float threshold, DeltaState& state,
                          const AttentionKernels& kernels);

}  // namespace nt
