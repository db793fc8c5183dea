// Truncated SVD by random projection (Halko, Martinsson & Tropp 2011, Alg. 4.4 + 5.1) and by
// block power iteration (subspace iteration with Rayleigh-Ritz, for k <= 4 triplets).
#pragma once
#include <cstdint>

#include "../core/tensor_view.h"

namespace nt::linalg {

// nt.linalg.rsvd: a (m x n view, any float dtype/strides) -> u (m x r), s (r), vt (r x n),
// contiguous, f64 for f64 input else f32; r = u's column count. l = min(r + oversample, m, n)
// Gaussian probes: Omega^T (l x n) is Philox normal with `seed` (native/ops/random.h), so the
// result is reproducible and independent of the thread count up to GEMM rounding.
//   Y = A Omega; Q = qr(Y); powerIters times { Q = qr(A (qr(A^T Q))) }; B = Q^T A (l x n);
//   B^T = Q2 R (thin QR) and R^T = U_R S W^T (one-sided Jacobi, f64), so
//   A ~ (Q U_R) S (Q2 W)^T, truncated to r.
void rsvd_check(const TensorView& a, const TensorView& u, const TensorView& s, const TensorView& vt,
                int64_t oversample, int64_t power_iters);
void rsvd_run(const TensorView& a, const TensorView& u, const TensorView& s, const TensorView& vt, int64_t oversample,
              int64_t power_iters, uint64_t seed);

struct PowerIterationResult {
  int64_t iterations = 0;
  bool converged = false;
  double residual = 0;  // max_i ||A v_i - s_i u_i|| / s_0 at the last check (NaN if never checked)
};

// nt.linalg.powerIteration: the top k = u's column count (1..4) singular triplets of a by block
// power iteration on A^T A: V (n x k) starts as orthonormalized Philox normals (seed); each
// iteration is U0 = qr(A V), then the Rayleigh-Ritz SVD U0^T A = P S W^T (Jacobi, f64), U = U0 P,
// V = W, so A^T u_i = s_i v_i holds exactly and ||A v_i - s_i u_i|| measures convergence (it costs
// nothing: it is the next iteration's A V). Stops when that residual is <= tol * s_0 (tol > 0)
// or after `iters` iterations.
void power_iteration_check(const TensorView& a, const TensorView& u, const TensorView& s, const TensorView& vt,
                           int64_t iters, double tol);
PowerIterationResult power_iteration_run(const TensorView& a, const TensorView& u, const TensorView& s,
                                         const TensorView& vt, int64_t iters, double tol, uint64_t seed);

}  // namespace nt::linalg
