// Dense SVD (nt.linalg.svd), f32 and f64, tall and wide, thin or full, with or without vectors.
//
// Route (LAPACK gesdd structure):
//   wide inputs are decomposed through their transpose (A^T = V S U^T);
//   m >= 1.6 n: Householder QR first, A = Q R, and the SVD of the n x n R (U = Q U_R);
//   blocked Golub-Kahan bidiagonalization A = Q_B B P^T (two GEMMs per panel);
//   n >= 64: B = U_B S V_B^T by divide and conquer (bidiagonal_dc.h, merges as GEMMs), then
//   U = Q_B U_B and V = P V_B by the blocked reflectors applied to U_B and V_B (GEMMs);
//   n < 64: Q_B and P formed explicitly with blocked reflectors, then the bidiagonal QR
//   iteration (bidiagonal_svd.h) rotates their rows in place: U^T = Q_B^T-rotated, V^T likewise.
// Values only: the same reductions without forming any vectors, then the QR iteration on
// d/e alone (O(n^2), negligible next to the O(mn^2) reduction).
#pragma once
#include <cstdint>

#include "../core/tensor_view.h"

namespace nt::linalg {

// Wall-clock milliseconds per phase of the last call (for benchmarks and diagnosis).
struct SvdPhaseTimes {
  double qr_ms = 0;       // QR of a tall input (0 when not taken)
  double bidiag_ms = 0;   // Householder bidiagonalization
  double form_ms = 0;     // forming Q_B and P^T (QR iteration) / applying them to U_B, V_B (D&C)
  double solve_ms = 0;    // the bidiagonal solve (QR iteration incl. rotating the vectors, or D&C)
  double back_ms = 0;     // applying the QR factor's Q, writing outputs
};

// a: m x n row-major contiguous (not modified). s: min(m, n) values, descending. u: m x ku
// (ku = full ? m : min(m, n)) and vt: kv x n (kv = full ? n : min(m, n)), row-major, or both
// nullptr for values only. Throws NT_VALUE for NaN/Inf, NT_NUMERIC when the iteration fails.
template <typename T>
void svd_dense(int64_t m, int64_t n, const T* a, T* s, T* u, T* vt, bool full, SvdPhaseTimes* times = nullptr);

// Front end of the binding: a 2-D float view (any dtype of the float family, any strides);
// s (1-D, min(m, n)), u and vt (2-D, shapes as above) of dtype f64 for f64 input and f32
// otherwise. u and vt are both null (values only) or both given.
void svd_check(const TensorView& a, const TensorView& s, const TensorView* u, const TensorView* vt, bool full);
void svd_run(const TensorView& a, const TensorView& s, const TensorView* u, const TensorView* vt, bool full);

}  // namespace nt::linalg
