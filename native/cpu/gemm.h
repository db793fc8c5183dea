// GEMM: the native API every dense routine (QR, eigh, SVD, GPTQ, attention) calls.
// Row-major operands with leading dimensions (elements between consecutive rows):
//   C[m x n] = alpha * op(A) * op(B) + beta * C
// op(A) is m x k (A stored k x m when trans_a), op(B) is k x n (B stored n x k when trans_b).
// beta == 0 overwrites C without reading it (NaN in C is not propagated); alpha == 0 or k == 0
// gives beta * C without reading A or B (BLAS semantics); NaN/Inf in A and B propagate (IEEE).
// Multi-threaded through the core pool (inline when called from inside a parallel region);
// results are bit-identical for any thread count. Implementation: gemm.cc + gemm_<isa>.cc.
#pragma once
#include <cstdint>

namespace nt {

void gemm_f32(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
              int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc);
void gemm_f64(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha, const double* a,
              int64_t lda, const double* b, int64_t ldb, double beta, double* c, int64_t ldc);

// The plain triple loop (f64 accumulation), kept as the reference the fast path is tested against.
void gemm_reference_f32(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
                        int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc);
void gemm_reference_f64(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha, const double* a,
                        int64_t lda, const double* b, int64_t ldb, double beta, double* c, int64_t ldc);

}  // namespace nt
