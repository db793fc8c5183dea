// Causal linear attention and the LoLCATs hybrid (ALGORITHMS.md §4), forward, backward and
// the recurrent decode step. One formula covers both: for the query at position p (queries
// are aligned bottom-right: query i sits at p = Nk − Nq + i),
//   y_p = ( Σ_{j ∈ win(p)} γ e^{s_pj − c_p} v_j + Σ_{j ≤ p − w} (φq_p·φk_j) v_j )
//         / ( Σ_{j ∈ win(p)} γ e^{s_pj − c_p}   + Σ_{j ≤ p − w} φq_p·φk_j + ε ),
// win(p) = [p − w + 1, p] ∩ [0, Nk), s_pj = scale · q_p·k_j, c_p = max_{j ∈ win(p)} s_pj.
// window w = 0 is plain linear attention (y = φqᵀS / (φqᵀz + ε)); the hybrid uses w ≥ 1 and
// ε = 0. Shapes: phi_q [B, Hq, Nq, F], phi_k [B, Hq, Nk, F] (one key map per query head: the
// feature map already repeated the key heads), v [B, Hkv, Nk, Dv], q [B, Hq, Nq, D],
// k [B, Hkv, Nk, D], gamma [Hq]; Hkv divides Hq. Computed in float when every view is f32,
// else in float64 (the decode state is always float64); the prefill is chunked (64 queries):
// masked intra-chunk products plus the running state S = Σ φk vᵀ, z = Σ φk, all products
// through the GEMM.
#pragma once
#include <cstdint>

#include "../core/tensor_view.h"

namespace nt {

struct LinearAttentionInputs {
  const TensorView* q = nullptr;      // window > 0 only
  const TensorView* k = nullptr;      // window > 0 only
  TensorView v, phi_q, phi_k;
  const TensorView* gamma = nullptr;  // window > 0 only
  int64_t window = 0;
  double eps = 0;
  double scale = 1;
};

void linear_attention_check(const char* op, const LinearAttentionInputs& in, const TensorView& out);
void linear_attention_run(const LinearAttentionInputs& in, const TensorView& out);

// Gradients of Σ grad ⊙ y. dq [B,Hq,Nq,D] / dk [B,Hkv,Nk,D] / dgamma [Hq] only when window > 0;
// dv [B,Hkv,Nk,Dv], dphi_q, dphi_k like phi_q, phi_k. All outputs are overwritten.
struct LinearAttentionGrads {
  const TensorView* dq = nullptr;
  const TensorView* dk = nullptr;
  TensorView dv, dphi_q, dphi_k;
  const TensorView* dgamma = nullptr;
};
void linear_attention_backward_check(const LinearAttentionInputs& in, const TensorView& grad,
                                     const LinearAttentionGrads& g);
void linear_attention_backward_run(const LinearAttentionInputs& in, const TensorView& grad,
                                   const LinearAttentionGrads& g);

// Recurrent decode: consumes T new tokens (q/phi_q [B,Hq,T,·], k [B,Hkv,T,D], v, phi_k [B,Hq,T,F])
// after `position` tokens already folded into the state, writing out [B,Hq,T,Dv]. State (f64,
// contiguous, updated in place): s [B,Hq,F,Dv], z [B,Hq,F]; with window > 0 also the ring of
// the last w raw keys/values and their features ring_k [B,Hkv,w,D], ring_v [B,Hkv,w,Dv],
// ring_phi_k [B,Hq,w,F] (slot = position mod w). A key leaving the window is folded into s, z.
struct LinearAttentionState {
  TensorView s, z;
  const TensorView* ring_k = nullptr;
  const TensorView* ring_v = nullptr;
  const TensorView* ring_phi_k = nullptr;
  int64_t position = 0;
};
void linear_attention_step_check(const LinearAttentionInputs& in, const LinearAttentionState& st,
                                 const TensorView& out);
void linear_attention_step_run(const LinearAttentionInputs& in, const LinearAttentionState& st,
                               const TensorView& out);

}  // namespace nt
