// The machinery GPTQ and SparseGPT share (private to native/quant): loading dense working copies,
// preparing the Hessian, the upper Cholesky factor of H⁻¹, and the blocked column sweep with
// lazy batch updates (Frantar & Alistarh: GPTQ, SparseGPT). ALGORITHMS.md §2.
//
// Both methods walk the columns of W [rows, cols] once, left to right. Column j is replaced by a
// target value q (a grid point, or 0 when pruned); the error e = (w_j − q) / U_jj is pushed onto
// the columns not yet visited, w_k −= e · U_jk (k > j), where U is the upper Cholesky factor of
// H⁻¹ (H⁻¹ = UᵀU): row j of U is the OBS update direction once columns < j are fixed. Inside a
// block of columns the update is applied column by column, per row; the columns after the block
// receive the block's errors at once as one GEMM, W[:, i2:] −= E · U[i1:i2, i2:].
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>

#include "../core/error.h"
#include "../core/scratch.h"
#include "../core/tensor_view.h"
#include "../core/thread_pool.h"
#include "../cpu/gemm.h"

namespace nt::quant {

using ProgressFn = std::function<void(int64_t done, int64_t total)>;

// dst (row-major, ld = cols) = the 2-D view v (any float dtype, any strides) as T. Returns false
// (dst partly written) when an element is NaN or ±Inf.
template <typename T>
bool load_dense(const TensorView& v, T* dst);

// dst = the 2-D view src (f32/f64/f16/bf16 destination, any strides) from row-major f32.
void store_dense(const float* src, const TensorView& dst);

// Loads and checks the Hessian h ([n, n], any float dtype and strides; finite, symmetric as given:
// only its lower triangle is used) into hd (n x n f64, both triangles). A zero diagonal element
// marks a dead input: it becomes 1 and dead[j] = 1 (the caller zeroes W[:, j]), as the reference
// does. A negative diagonal element is NT_VALUE (H = 2XᵀX/n is positive semidefinite).
void load_hessian(const char* op, const TensorView& h, double* hd, uint8_t* dead);

// u (n x n f32, row-major, zero below the diagonal) = the upper Cholesky factor U of
// (H + λ·mean(diag H)·I)⁻¹ for hd (n x n f64 symmetric; not modified). λ starts at damp; when the
// factorization fails it grows by 0.01, at most kDampRetries times, then NT_NUMERIC. Returns the
// λ that worked.
constexpr int kDampRetries = 10;
double inverse_hessian_factor(const char* op, const double* hd, int64_t n, double damp, float* u);

// The blocked sweep over the columns of w (rows x cols f32, row-major, modified in place: on
// return column j holds its target value). Target: float(int64_t row, int64_t j, float* w_row) is
// called for j = 0, 1, ... in order within each row (rows run concurrently, one thread per row,
// so per-row state indexed by row is safe) and returns the value column j is replaced by.
// `align` > 1 promises the target that, when it is called at a column j that is a multiple of
// align, the columns j .. min(j + align, cols) − 1 of w_row already hold every update from the
// columns before j (a block never ends strictly inside such a group unless the group began the
// block). progress(done, total) runs after each block on the calling thread.
template <class Target>
void obs_sweep(float* w, int64_t rows, int64_t cols, const float* u, int64_t block, int64_t align, Target&& target,
               const ProgressFn& progress) {
  block = std::max<int64_t>(block, 1);
  Scratch<float> err(static_cast<size_t>(std::max<int64_t>(rows * std::min(block, std::max<int64_t>(cols, 1)), 1)));
  for (int64_t i1 = 0; i1 < cols;) {
    int64_t i2 = std::min(cols, i1 + block);
    if (align > 1 && i2 < cols) {
      const int64_t last_start = (i2 - 1) / align * align;  // the last group starting before i2
      if (last_start > i1 && std::min(cols, last_start + align) > i2) i2 = last_start;
    }
    const int64_t nb = i2 - i1;
    const int64_t grain = std::max<int64_t>(1, 65536 / (nb * nb + 1));
    parallel_for(rows, grain, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        float* wr = w + r * cols;
        float* er = err.get() + r * nb;
        for (int64_t j = i1; j < i2; ++j) {
          const float x = wr[j];
          const float q = target(r, j, wr);
          const float* uj = u + j * cols;
          const float e = (x - q) / uj[j];
          wr[j] = q;
          er[j - i1] = e;
          for (int64_t k = j + 1; k < i2; ++k) wr[k] -= e * uj[k];
        }
      }
    });
    if (i2 < cols && rows > 0)
      gemm_f32(false, false, rows, cols - i2, nb, -1.0f, err.get(), nb, u + i1 * cols + i2, cols, 1.0f, w + i2, cols);
    if (progress) progress(i2, cols);
    i1 = i2;
  }
}

}  // namespace nt::quant
