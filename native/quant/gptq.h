// Hessian-based weight compression (ALGORITHMS.md §2): GPTQ quantization, SparseGPT 2:4 pruning
// and the streaming covariance accumulator that produces their Hessian H = 2XᵀX/n. Each op has
// *_check (views and options, on the JS thread) and *_run (compute; thread-safe, no Node-API).
#pragma once
#include <cstdint>

#include "../core/tensor_view.h"
#include "obs.h"

namespace nt::quant {

struct GptqOptions {
  int bits = 4;
  int64_t group_size = 128;  // columns per group (the column count for one group per row)
  bool symmetric = false;
  bool act_order = false;     // columns in order of descending diag H
  bool static_groups = false; // grids fixed from the original W before the sweep (no g_idx)
  double damp = 0.01;         // fraction of mean(diag H) added to the diagonal
  int64_t block_size = 128;   // columns per lazy-update block
};

// w [rows, cols] (any float dtype and strides, finite), hessian [cols, cols] (any float dtype
// and strides, finite, symmetric: its lower triangle is used; diag ≥ 0). Outputs (contiguous,
// written completely): codes u8 [rows, code_row_bytes(cols, bits)], scales f32|f16 [rows,
// groups], zeros u8 [rows, groups], g_idx i32 [cols] exactly when act_order && !static_groups
// (nullptr otherwise). Codes are in original column order and chosen against the scale as stored.
void gptq_check(const TensorView& w, const TensorView& hessian, const TensorView& codes, const TensorView& scales,
                const TensorView& zeros, const TensorView* g_idx, const GptqOptions& o);
void gptq_run(const TensorView& w, const TensorView& hessian, const TensorView& codes, const TensorView& scales,
              const TensorView& zeros, const TensorView* g_idx, const GptqOptions& o, const ProgressFn& progress);

// SparseGPT 2:4: out (w's shape and dtype, any strides) = w with 2 of every 4 consecutive columns
// pruned (the 2 smallest w²/U_jj², on the weights as updated by the sweep so far; ties prune the
// higher column) and the kept weights updated to compensate. cols % 4 == 0.
void sparsegpt_check(const TensorView& w, const TensorView& hessian, const TensorView& out, double damp,
                     int64_t block_size);
void sparsegpt_run(const TensorView& w, const TensorView& hessian, const TensorView& out, double damp,
                   int64_t block_size, const ProgressFn& progress);

// Streaming second moments of activations x [..., dim] (any float dtype and strides; rows are
// tokens): gram += XᵀX (f64 [dim, dim], contiguous, both triangles), sum_sq[j] += Σ x_tj²,
// sum_abs[j] += Σ |x_tj| (f64 [dim], contiguous). gram may be absent (nullptr) when only the
// column statistics are kept. NaN/Inf in x: NT_VALUE before anything is written. Without
// `symmetrize` only gram's lower triangle is updated (an accumulator that symmetrizes once, when
// it is read, saves a dim² pass per update); an empty x with `symmetrize` only completes the upper
// triangle from the lower.
void covariance_check(const TensorView& x, const TensorView* gram, const TensorView& sum_sq,
                      const TensorView& sum_abs);
void covariance_run(const TensorView& x, const TensorView* gram, const TensorView& sum_sq, const TensorView& sum_abs,
                    bool symmetrize);

}  // namespace nt::quant
