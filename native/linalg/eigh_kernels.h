// Run-time dispatched inner loops of eigh: the fused symmetric matrix-vector kernel of the
// tridiagonalization and the division-bound loops of the secular equation. A scalar reference
// (eigh_kernels.cc) and an AVX2+FMA form (eigh_kernels_avx2.cc), chosen once per process
// (NTENSOR_ISA=scalar forces the reference); test/native/test_eigh.cc checks one against the other.
#pragma once
#include <cstdint>

namespace nt {

// Fused lower symmetric matrix-vector kernel over the columns [c0, c1) of an m x m column-major
// lower triangle: y[c] += a(c, c) x[c] + sum_{r > c} a(r, c) x[r] and y[r] += a(r, c) x[c].
using SymvColumnsF32 = void (*)(const float* a, int64_t lda, int64_t m, int64_t c0, int64_t c1, const float* x, float* y);
using SymvColumnsF64 = void (*)(const double* a, int64_t lda, int64_t m, int64_t c0, int64_t c1, const double* x,
                                double* y);
// sums[0] += sum_j w_j^2 / (p_j - tau), sums[1] += sum_j (w_j / (p_j - tau))^2,
// sums[2] += sum_j |w_j^2 / (p_j - tau)| over j in [0, n): one evaluation of the secular function.
using SecularSums = void (*)(const double* p, const double* w, int64_t n, double tau, double* sums);
// out_i = num_i / den_i for i in [0, n); returns sum_i out_i^2.
using DivideSumsq = double (*)(const double* num, const double* den, double* out, int64_t n);

struct EighKernels {
  SymvColumnsF32 symv_f32;
  SymvColumnsF64 symv_f64;
  SecularSums secular_sums;
  DivideSumsq divide_sumsq;
  const char* isa;
};

// AVX2+FMA when the CPU has it (and NTENSOR_ISA is not "scalar"), else the scalar reference.
const EighKernels& eigh_kernels();
const EighKernels& eigh_kernels_scalar();

}  // namespace nt
