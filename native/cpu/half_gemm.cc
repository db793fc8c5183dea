// Mixed-precision GEMM driver (see half_gemm.h): picks the streaming GEMV (decode) or the
// packed f32 GEMM with widening B packing (prefill), splits the GEMV over the pool, and holds
// the scalar kernel set (the portable fallback and the reference for the SIMD sets).
#include "half_gemm.h"

#include <algorithm>
#include <atomic>
#include <memory>

#include "../core/error.h"
#include "../core/half.h"
#include "../core/scratch.h"
#include "../core/thread_pool.h"
#include "half_gemm_kernel.h"

namespace nt {
namespace {

// ---- scalar kernel set ----

template <float (*Widen)(uint16_t)>
void widen_scalar(const uint16_t* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = Widen(src[i]);
}

// Four partial sums per (x row, weight row), as the scalar f32 GEMV (gemm.cc) does.
template <float (*Widen)(uint16_t)>
void gemv_scalar(int64_t m, int64_t j0, int64_t j1, int64_t k, const float* x, int64_t ldx, const uint16_t* w,
                 int64_t ldw, float alpha, float beta, float* y, int64_t ldy) {
  for (int64_t j = j0; j < j1; ++j) {
    const uint16_t* row = w + j * ldw;
    for (int64_t i = 0; i < m; ++i) {
      const float* xi = x + i * ldx;
      float acc[4] = {0, 0, 0, 0};
      int64_t p = 0;
      for (; p + 4 <= k; p += 4)
        for (int u = 0; u < 4; ++u) acc[u] += Widen(row[p + u]) * xi[p + u];
      float s = (acc[0] + acc[1]) + (acc[2] + acc[3]);
      for (; p < k; ++p) s += Widen(row[p]) * xi[p];
      float& out = y[i * ldy + j];
      out = beta == 0.0f ? alpha * s : alpha * s + beta * out;
    }
  }
}

const HalfGemmKernel kScalarHalf = {"scalar",
                                    nullptr,  // filled by half_gemm_scalar_kernel (another file's static)
                                    widen_scalar<bf16_to_f32>,
                                    widen_scalar<f16_to_f32>,
                                    gemv_scalar<bf16_to_f32>,
                                    gemv_scalar<f16_to_f32>};

// ---- driver ----

// C = beta * C (k == 0 or alpha == 0: BLAS semantics, A and B are not read).
void scale_c(int64_t m, int64_t n, float beta, float* c, int64_t ldc) {
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) c[i * ldc + j] = beta == 0.0f ? 0.0f : beta * c[i * ldc + j];
}

// The weight rows in blocks of ~256 KiB (a multiple of 4 rows, L2-resident), claimed in row
// order from a shared counter by the pool's threads: a thread that wakes late takes fewer blocks
// instead of finishing last. Each block is read from memory once and serves every group of x
// rows. Every output is computed by one thread with the same arithmetic whichever thread that
// is, so the bits do not depend on the thread count, the timing, or the grouping.
void gemv_threaded(HalfGemv gemv, int64_t m, int64_t n, int64_t k, float alpha, const float* x, int64_t ldx,
                   const uint16_t* w, int64_t ldw, float beta, float* y, int64_t ldy) {
  const int64_t block = std::max<int64_t>(4, (262144 / std::max<int64_t>(2 * k, 1)) / 4 * 4);
  const int64_t nblocks = (n + block - 1) / block;
  auto serve_block = [&](int64_t j0, int64_t j1) {  // weight rows [j0, j1) against every row of x
    for (int64_t i = 0; i < m; i += kHalfGemvMaxRows)
      gemv(std::min(kHalfGemvMaxRows, m - i), j0, j1, k, x + i * ldx, ldx, w, ldw, alpha, beta, y + i * ldy, ldy);
  };
  const int64_t workers = std::min<int64_t>(num_threads(), nblocks);
  if (workers <= 1) {
    for (int64_t b = 0; b < nblocks; ++b) serve_block(b * block, std::min(n, (b + 1) * block));
    return;
  }
  std::atomic<int64_t> next{0};
  parallel_for(workers, 1, [&](int64_t, int64_t) {
    for (int64_t b; (b = next.fetch_add(1, std::memory_order_relaxed)) < nblocks;)
      serve_block(b * block, std::min(n, (b + 1) * block));
  });
}

}  // namespace

const HalfGemmKernel& half_gemm_scalar_kernel() {
  // The scalar f32 micro-kernels live in gemm.cc: bind them on first use, not during static
  // initialization (whose order across files is unspecified).
  static const HalfGemmKernel set = [] {
    HalfGemmKernel s = kScalarHalf;
    s.gemm = &gemm_scalar_kernel_f32();
    return s;
  }();
  return set;
}

const HalfGemmKernel& half_gemm_kernel(const KernelTable& t) {
  return t.half_gemm_kernel ? *t.half_gemm_kernel : half_gemm_scalar_kernel();
}

void gemm_with_f32_half(const HalfGemmKernel& kern, DType b_dtype, bool ta, bool tb, int64_t m, int64_t n, int64_t k,
                        float alpha, const float* a, int64_t lda, const uint16_t* b, int64_t ldb, float beta, float* c,
                        int64_t ldc) {
  NT_CHECK(b_dtype == DType::BF16 || b_dtype == DType::F16, DType, "[gemm_f32_half] b must be bf16 or f16, got ",
           dtype_name(b_dtype));
  if (m <= 0 || n <= 0) return;
  if (k <= 0 || alpha == 0.0f) {
    if (beta != 1.0f) scale_c(m, n, beta, c, ldc);
    return;
  }
  const bool bf16 = b_dtype == DType::BF16;
  if (tb && m <= kHalfStreamingRows) {
    // decode: W [n, k] rows stream once; x must have contiguous rows (op(A) stored k x m is
    // copied: a few rows)
    const float* x = a;
    int64_t ldx = lda;
    std::unique_ptr<Scratch<float>> rows;
    if (ta && !(m == 1 && lda == 1)) {
      rows = std::make_unique<Scratch<float>>(static_cast<size_t>(m * k));
      for (int64_t i = 0; i < m; ++i)
        for (int64_t p = 0; p < k; ++p) (*rows)[i * k + p] = a[p * lda + i];
      x = rows->get();
      ldx = k;
    }
    gemv_threaded(bf16 ? kern.gemv_bf16 : kern.gemv_f16, m, n, k, alpha, x, ldx, b, ldb, beta, c, ldc);
    return;
  }
  gemm_packed_f32_widening_b(*kern.gemm, bf16 ? kern.widen_bf16 : kern.widen_f16, ta, tb, m, n, k, alpha, a, lda, b,
                             ldb, beta, c, ldc);
}

void gemm_f32_half(DType b_dtype, bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
                   int64_t lda, const uint16_t* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  gemm_with_f32_half(half_gemm_kernel(kernels()), b_dtype, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

}  // namespace nt
