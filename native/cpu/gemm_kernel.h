// The per-ISA pieces of GEMM (see gemm.h for the public API). An ISA file fills the
// gemm_f32_kernel / gemm_f64_kernel slots of the kernel table with a GemmKernel: a
// register-blocked micro-kernel over packed panels, two GEMV kernels and the cache blocking
// that suits them. The driver in gemm.cc (packing, blocking, threading) is shared by all ISAs.
//
// Packed layouts (what `tile` reads):
//   A panel: mr rows x k, stored k-major: a[p * mr + r]  (rows past the matrix edge are 0)
//   B panel: k x nr columns, stored k-major: b[p * nr + j]  (columns past the edge are 0)
// Rounding contract, relied on for thread-count independence: every C element is one FMA (or
// multiply-add) chain over p in increasing order, then c = alpha * acc (beta == 0, C is not
// read) or c = fma(beta, c, alpha * acc); a partial tile rounds exactly like a full one.
#pragma once
#include <cstdint>

#include "kernels.h"

namespace nt {

template <typename T>
struct GemmKernel {
  const char* isa;
  int mr, nr;       // micro-tile
  int kc, mc, nc;   // cache blocking: k depth, rows of A per packed block, columns of B per block
  // C[0:mv, 0:nv] (row stride ldc) = alpha * A_panel . B_panel (+ beta * C); mv <= mr, nv <= nr.
  void (*tile)(int64_t k, const T* a, const T* b, T* c, int64_t ldc, T alpha, T beta, int64_t mv, int64_t nv);
  // y[i * incy] = alpha * dot(a[i * lda + 0:k], x[0:k]) (+ beta * y) for i < m; x contiguous.
  // Each row's result is independent of m and of where the row sits in the range.
  void (*dot_rows)(int64_t m, int64_t k, const T* a, int64_t lda, const T* x, T alpha, T beta, T* y, int64_t incy);
  // y[j * incy] = alpha * sum_p x[p * incx] * b[p * ldb + j] (+ beta * y) for j < n: one FMA
  // chain per column over p in order, so any split of the columns gives the same bits.
  void (*axpy_rows)(int64_t n, int64_t k, const T* x, int64_t incx, const T* b, int64_t ldb, T alpha, T beta, T* y,
                    int64_t incy);
};

// The scalar (portable C++) set, used when no SIMD ISA fills the slot (NTENSOR_ISA=scalar).
const GemmKernel<float>& gemm_scalar_kernel_f32();
const GemmKernel<double>& gemm_scalar_kernel_f64();

// The set a kernel table provides (its slot, or the scalar set when the slot is empty).
const GemmKernel<float>& gemm_kernel_f32(const KernelTable& table);
const GemmKernel<double>& gemm_kernel_f64(const KernelTable& table);

// gemm_f32 / gemm_f64 with an explicit kernel set (tests compare ISAs through these).
void gemm_with_f32(const GemmKernel<float>& kern, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
                   float alpha, const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
                   int64_t ldc);
void gemm_with_f64(const GemmKernel<double>& kern, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
                   double alpha, const double* a, int64_t lda, const double* b, int64_t ldb, double beta, double* c,
                   int64_t ldc);

}  // namespace nt
