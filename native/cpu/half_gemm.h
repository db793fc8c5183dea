// Mixed-precision GEMM: f32 activations times 16-bit weights (bf16 or f16), f32 accumulation,
// for models kept in half precision (a Linear layer's W [out, in] is op(B) with trans_b).
//   C[m x n] = alpha * op(A) op(B) + beta * C,  A and C f32, B bf16 or f16 (raw bit patterns)
// Same conventions as gemm.h: row-major with leading dimensions, beta == 0 does not read C,
// alpha == 0 or k == 0 gives beta * C without reading A or B, NaN/Inf propagate (IEEE), and the
// bits do not depend on the thread count.
// Two paths, both reading every weight once as 2 bytes:
//   m <= 32 with trans_b (decode, small batches): a streaming GEMV over the weight rows,
//     widening in registers, several rows per x load, up to 4 rows of x per pass over an
//     L2-resident weight block, row blocks claimed by the pool's threads;
//   otherwise (prefill, or B stored k x n): the packed f32 GEMM of gemm.cc, whose B panels are
//     widened while they are packed.
// Implementation: half_gemm.cc + the ISA files (half_gemm_simd_impl.h).
#pragma once
#include <cstdint>

#include "../core/dtype.h"

namespace nt {

// b_dtype is DType::BF16 or DType::F16 (anything else is NT_DTYPE).
void gemm_f32_half(DType b_dtype, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                   const float* a, int64_t lda, const uint16_t* b, int64_t ldb, float beta, float* c, int64_t ldc);

}  // namespace nt
