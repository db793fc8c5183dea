// Optimizer steps over parameter / gradient / state tensors (front-end checks + threaded runs
// of the kernels in optim_kernels.h). Every tensor is f32 (codes u8) and contiguous; the
// TypeScript layer (lib/ops/optim-steps.ts) makes strided gradients contiguous first. Each
// step updates its tensors in place; `check` validates everything before `run` writes.
#pragma once
#include <cstdint>

#include "../core/tensor_view.h"
#include "optim_kernels.h"

namespace nt::optim {

struct AdamHyper {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0;
  int64_t step = 1;        // t >= 1 (after the increment): bias corrections 1 - beta^t
  bool direction = false;  // write u into target instead of updating a parameter
};

AdamConstants adam_constants(const char* op, const AdamHyper& h);

// Adam / AdamW: target (param, or the direction output), g, m, v all with n elements.
void adam_check(const char* op, const TensorView& target, const TensorView& g, const TensorView& m,
                const TensorView& v);
void adam_run(const TensorView& target, const TensorView& g, const TensorView& m, const TensorView& v,
              const AdamConstants& c);

// 8-bit Adam: codes u8 [n], absmax f32 [ceil(n / block)], block in [1, kMaxBlock].
void adam8bit_check(const char* op, const TensorView& target, const TensorView& g, const TensorView& m_codes,
                    const TensorView& m_absmax, const TensorView& v_codes, const TensorView& v_absmax, int64_t block);
void adam8bit_run(const TensorView& target, const TensorView& g, const TensorView& m_codes, const TensorView& m_absmax,
                  const TensorView& v_codes, const TensorView& v_absmax, int64_t block, const AdamConstants& c);

// Block-wise dynamic quantization of x (f32 [n]) into codes (u8 [n]) and absmax, and back.
void quantize_check(const char* op, const TensorView& x, const TensorView& codes, const TensorView& absmax,
                    int64_t block);
void quantize_run(const TensorView& x, const TensorView& codes, const TensorView& absmax, int64_t block,
                  bool is_signed);
void dequantize_run(const TensorView& codes, const TensorView& absmax, const TensorView& x, int64_t block,
                    bool is_signed);

// Weight normalisation W = g ⊙ V / ||V||_row with ||V|| = sqrt(sum V^2 + eps) per row. The
// parameter W [rows, cols] holds g ⊙ V̂; the optimizer keeps g [rows] and s = ||V|| [rows], so
// V̂ = W / g and V = s V̂ (a row with g = 0 has W = 0 and is taken as V̂ = 0).
//   init:  s = g = sqrt(sum W^2 + eps)  (so V = W and W is unchanged)
//   grad:  dg = sum_row(G ⊙ V̂),  dV = (g / s)(G − (V̂ · G)_row V̂)   (the exact gradient)
//   apply: V' = V (1 − lr wd) − lr scale uV,  g' = g (1 − lr wd) − lr ug,
//          s' = sqrt(sum V'^2 + eps),  W = g' V' / s'
void weight_norm_check(const char* op, const TensorView& w, const TensorView& g, const TensorView& s,
                       const TensorView* mat, const TensorView* out_mat, const TensorView* vec);
void weight_norm_init_run(const TensorView& w, const TensorView& g, const TensorView& s, double eps);
void weight_norm_grad_run(const TensorView& w, const TensorView& g, const TensorView& s, const TensorView& grad,
                          const TensorView& dv, const TensorView& dg);
void weight_norm_apply_run(const TensorView& w, const TensorView& g, const TensorView& s, const TensorView& uv,
                           const TensorView& ug, double lr, double scale, double weight_decay, double eps);

// p <- p (1 − lr wd) − lr scale u (the back-projected low-rank update of GaLore).
void scaled_update_check(const char* op, const TensorView& p, const TensorView& u);
void scaled_update_run(const TensorView& p, const TensorView& u, double lr, double scale, double weight_decay);

}  // namespace nt::optim
