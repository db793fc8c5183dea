// The per-ISA pieces of the mixed-precision product of half_gemm.h: f32 activations times
// 16-bit weights (bf16 or f16), accumulated in f32. An ISA file fills the half_gemm_kernel
// slot of the kernel table with a HalfGemmKernel instantiated from the vector traits of its
// GEMM (half_gemm_simd_impl.h); the driver (half_gemm.cc: GEMV or packed GEMM, threads) is
// shared by every ISA.
//
// Why not AVX-512 BF16 (vdpbf16ps): it multiplies bf16 by bf16, so x would be rounded to bf16
// (8 bits of mantissa) and the product would lose f32-activation accuracy. Widening W to f32
// in registers costs one or two instructions per 16 weights, far below the memory time.
#pragma once
#include <cstdint>

#include "../core/dtype.h"
#include "gemm_kernel.h"

namespace nt {

// dst[0:n] = the f32 values of the 16-bit floats src[0:n] (exact: every bf16 and f16 value is
// an f32; NaN stays NaN).
using WidenHalfToF32 = void (*)(const uint16_t* src, float* dst, int64_t n);

// The streaming GEMV of decode. For the m <= kHalfGemvMaxRows rows of x (row stride ldx, k
// contiguous floats each) and the weight rows j in [j0, j1) (row stride ldw, k contiguous
// 16-bit floats each):
//   y[i * ldy + j] = alpha * dot(x_i, w_j)           (beta == 0: y is not read)
//   y[i * ldy + j] = fma(beta, y, alpha * dot(x_i, w_j))
// Each (i, j) is its own FMA chain whose order depends only on k, so a result's bits do not
// depend on m, on the row range, or on the thread that computes it.
using HalfGemv = void (*)(int64_t m, int64_t j0, int64_t j1, int64_t k, const float* x, int64_t ldx,
                          const uint16_t* w, int64_t ldw, float alpha, float beta, float* y, int64_t ldy);

constexpr int64_t kHalfGemvMaxRows = 4;

// With trans_b, up to this many rows of x take the streaming GEMV (groups of kHalfGemvMaxRows
// over each weight block while it sits in L2); more take the packed GEMM. Measured on the
// 2-core AVX-512 machine at 5632 x 2048 bf16: the packed path pays for widening and transposing
// every weight into panels (~2 ns a weight, TLB-bound) and only wins from about 48 rows on.
constexpr int64_t kHalfStreamingRows = 32;

struct HalfGemmKernel {
  const char* isa;
  const GemmKernel<float>* gemm;  // the f32 micro-kernels the prefill path packs widened panels for
  WidenHalfToF32 widen_bf16, widen_f16;
  HalfGemv gemv_bf16, gemv_f16;
};

// The scalar (portable C++) set, and the set a kernel table provides (its slot, or scalar).
const HalfGemmKernel& half_gemm_scalar_kernel();
const HalfGemmKernel& half_gemm_kernel(const KernelTable& table);

// gemm_f32_half (half_gemm.h) with an explicit kernel set (tests compare ISAs through it).
void gemm_with_f32_half(const HalfGemmKernel& kern, DType b_dtype, bool trans_a, bool trans_b, int64_t m, int64_t n,
                        int64_t k, float alpha, const float* a, int64_t lda, const uint16_t* b, int64_t ldb, float beta,
                        float* c, int64_t ldc);

// gemm.cc's blocked, packed path with B read as 16-bit floats and widened while its panels are
// packed, so the f32 micro-kernel runs at full speed and no f32 copy of B ever exists.
// Requires m, n, k >= 1 and alpha != 0 (the caller handles the degenerate cases).
void gemm_packed_f32_widening_b(const GemmKernel<float>& kern, WidenHalfToF32 widen, bool trans_a, bool trans_b,
                                int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
                                const uint16_t* b, int64_t ldb, float beta, float* c, int64_t ldc);

}  // namespace nt
