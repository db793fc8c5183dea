// SparseGPT 2:4 (Frantar & Alistarh, 2023), the semi-structured variant: the same blocked OBS
// sweep as GPTQ (obs.h) with pruning as the target. When the sweep reaches the first column j of
// a group of 4, each row ranks the group's columns by the OBS saliency w_c² / U_cc² (w as
// updated by the columns already pruned; U = upper Cholesky factor of H⁻¹, so U_cc² is the
// [H_F⁻¹]_cc of the remaining columns) and prunes the 2 smallest; every pruned weight's error is
// then spread over the columns not yet visited, which updates the kept weights. Ties prune the
// higher column (keeping the lower), as prune24 does.
#include <cmath>
#include <vector>

#include "../core/scratch.h"
#include "gptq.h"

namespace nt::quant {
namespace {
constexpr const char* kOp = "quant.sparseGpt24";
}  // namespace

void sparsegpt_check(const TensorView& w, const TensorView& h, const TensorView& out, double damp,
                     int64_t block_size) {
  NT_CHECK(dtype_float(w.dtype), DType, "[", kOp, "] w must be f32, f64, f16 or bf16, got ", dtype_name(w.dtype));
  NT_CHECK(w.ndim == 2, Shape, "[", kOp, "] w must be 2-D [rows, cols], got shape ", shape_string(w));
  NT_CHECK(w.shape[1] % 4 == 0, Shape, "[", kOp, "] w must have a multiple of 4 columns, got ", shape_string(w));
  NT_CHECK(dtype_float(h.dtype), DType, "[", kOp, "] hessian must be f32, f64, f16 or bf16, got ", dtype_name(h.dtype));
  const int64_t cols = w.shape[1];
  NT_CHECK(h.ndim == 2 && h.shape[0] == cols && h.shape[1] == cols, Shape, "[", kOp, "] hessian must have shape [", cols,
           ",", cols, "] for w of shape ", shape_string(w), ", got ", shape_string(h));
  NT_CHECK(out.dtype == w.dtype, DType, "[", kOp, "] out must be ", dtype_name(w.dtype), ", got ", dtype_name(out.dtype));
  NT_CHECK(same_shape(out, w), Shape, "[", kOp, "] out must have shape ", shape_string(w), ", got ", shape_string(out));
  NT_CHECK(std::isfinite(damp) && damp >= 0, Value, "[", kOp, "] damp must be a finite number >= 0, got ", damp);
  NT_CHECK(block_size >= 1, Value, "[", kOp, "] blockSize must be >= 1, got ", block_size);
}

void sparsegpt_run(const TensorView& wv, const TensorView& hv, const TensorView& out, double damp, int64_t block_size,
                   const ProgressFn& progress) {
  const int64_t rows = wv.shape[0], cols = wv.shape[1];
  Scratch<float> w(static_cast<size_t>(std::max<int64_t>(rows * cols, 1)));
  NT_CHECK(load_dense<float>(wv, w.get()), Value, "[", kOp, "] w contains NaN or Inf");
  Scratch<float> u(static_cast<size_t>(std::max<int64_t>(cols * cols, 1)));
  {
    Scratch<double> h(static_cast<size_t>(std::max<int64_t>(cols * cols, 1)));
    std::vector<uint8_t> dead(static_cast<size_t>(cols));
    load_hessian(kOp, hv, h.get(), dead.data());
    for (int64_t j = 0; j < cols; ++j)
      if (dead[size_t(j)])
        for (int64_t r = 0; r < rows; ++r) w[r * cols + j] = 0.0f;
    inverse_hessian_factor(kOp, h.get(), cols, damp, u.get());
  }
  std::vector<uint8_t> pruned(static_cast<size_t>(rows));  // bit i: column (group start + i) is pruned
  auto target = [&](int64_t r, int64_t j, float* wr) -> float {
    const int64_t lane = j % 4;
    if (lane == 0) {
      double s[4];
      for (int i = 0; i < 4; ++i) {
        const double x = wr[j + i], d = u[(j + i) * cols + j + i];
        s[i] = x * x / (d * d);
      }
      uint8_t mask = 0;
      for (int i = 0; i < 4; ++i) {
        // rank = how many of the 4 beat column i (higher saliency, or equal at a lower column)
        int rank = 0;
        for (int k = 0; k < 4; ++k) rank += s[k] > s[i] || (s[k] == s[i] && k < i);
        if (rank >= 2) mask |= uint8_t(1u << i);
      }
      pruned[size_t(r)] = mask;
    }
    return (pruned[size_t(r)] >> lane) & 1u ? 0.0f : wr[j];
  };
  obs_sweep(w.get(), rows, cols, u.get(), block_size, 4, target, progress);
  if (cols == 0 && progress) progress(0, 0);
  store_dense(w.get(), out);
}

}  // namespace nt::quant
