// Run-time dispatched inner loops of eigh: the fused symmetric matrix-vector kernel of the
// tridiagonalization and the division-bound loops of the secular equation. A scalar reference
// (eigh_kernels.cc) and an AVX2+FMA form (eigh_kernels_avx2.cc), registered with the shared
// ISA dispatch like every other kernel (so NTENSOR_ISA and `ntensor info` cover them);
// test/native/test_eigh.cc checks each supported ISA against the reference.
#pragma once
#include "../cpu/kernels.h"

// The kernels live in the shared dispatch table (native/cpu/kernels.h slots eigh_*):
// eigh_symv_f32/f64: fused lower symmetric matrix-vector kernel over the columns [c0, c1) of
//   an m x m column-major lower triangle: y[c] += a(c, c) x[c] + sum_{r > c} a(r, c) x[r] and
//   y[r] += a(r, c) x[c].
// eigh_secular_sums: sums[0] += sum_j w_j^2 / (p_j - tau), sums[1] += sum_j (w_j / (p_j - tau))^2,
//   sums[2] += sum_j |w_j^2 / (p_j - tau)| over j in [0, n): one evaluation of the secular function.
// eigh_divide_sumsq: out_i = num_i / den_i for i in [0, n); returns sum_i out_i^2.
// Callers use nt::kernels(); tests compare nt::kernels_for("scalar") with each supported ISA.
