#include "bidiagonalize.h"
#include "householder.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "../core/scratch.h"
#include "../cpu/gemm.h"
#include "svd_kernels.h"
#include "../core/team.h"

namespace nt::svd_detail {
namespace {

constexpr int64_t kBlock = 32;  // panel width of QR, bidiagonalization and reflector blocks
constexpr int64_t kTeamMinWork = 1 << 16;  // trailing-matrix size from which a panel runs on a team

inline void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
                 const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  if (m > 0 && n > 0) gemm_f32(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
inline void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha, const double* a, int64_t lda,
                 const double* b, int64_t ldb, double beta, double* c, int64_t ldc) {
  if (m > 0 && n > 0) gemm_f64(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}


// Explicit V (mr x jb, row-major): ones on the diagonal, zeros above, the stored reflectors below.
template <typename T>
void copy_v(int64_t mr, int64_t jb, const T* src, int64_t ld, T* v) {
  for (int64_t r = 0; r < mr; ++r)
    for (int64_t j = 0; j < jb; ++j) v[r * jb + j] = r < j ? T(0) : r == j ? T(1) : src[r * ld + j];
}

// larft: upper triangular T (jb x jb) with H_0 ... H_{jb-1} = I - V T V^T, from G = V^T V:
// T(0:i, i) = -tau_i T(0:i, 0:i) G(0:i, i).
template <typename T>
void form_t(int64_t mr, int64_t jb, const T* v, const T* tau, T* t, T* g) {
  gemm(true, false, jb, jb, mr, T(1), v, jb, v, jb, T(0), g, jb);
  for (int64_t i = 0; i < jb; ++i) {
    for (int64_t r = 0; r < i; ++r) {
      T s = 0;
      for (int64_t q = r; q < i; ++q) s += t[r * jb + q] * g[q * jb + i];
      t[r * jb + i] = -tau[i] * s;
    }
    t[i * jb + i] = tau[i];
    for (int64_t r = i + 1; r < jb; ++r) t[r * jb + i] = 0;
  }
}

// C (mr x nc) := (I - V op(T) V^T) C with op(T) = T (apply H) or T^T (apply H^T): three GEMMs.
template <typename T>
void apply_block(int64_t mr, int64_t jb, const T* v, const T* t, bool transpose, T* c, int64_t ldc, int64_t nc,
                 T* w, T* w2) {
  gemm(true, false, jb, nc, mr, T(1), v, jb, c, ldc, T(0), w, nc);
  gemm(transpose, false, jb, nc, jb, T(1), t, jb, w, nc, T(0), w2, nc);
  gemm(false, false, mr, nc, jb, T(-1), v, jb, w2, nc, T(1), c, ldc);
}

}  // namespace

template <typename T>
void qr_factor(int64_t m, int64_t n, T* a, int64_t lda, T* tau) {
  if (n <= 0) return;
  Scratch<T> vb(static_cast<size_t>(m * kBlock)), tm(kBlock * kBlock), g(kBlock * kBlock);
  Scratch<T> w(static_cast<size_t>(kBlock * n)), w2(static_cast<size_t>(kBlock * n));
  Scratch<T> v(static_cast<size_t>(m)), wr(kBlock);
  for (int64_t j0 = 0; j0 < n; j0 += kBlock) {
    const int64_t jb = std::min(kBlock, n - j0), jend = j0 + jb;
    // Panel: unblocked Householder on columns j0 .. jend-1.
    for (int64_t j = j0; j < jend; ++j) {
      T alpha = a[j * lda + j];
      tau[j] = linalg::householder_generate(m - j, alpha, a + (j + 1) * lda + j, lda);
      a[j * lda + j] = alpha;
      if (j + 1 < jend && tau[j] != T(0)) {
        v[0] = 1;
        for (int64_t r = 1; r < m - j; ++r) v[r] = a[(j + r) * lda + j];
        const int64_t nc = jend - j - 1;
        gemv_t(m - j, nc, T(1), a + j * lda + j + 1, lda, v.get(), T(0), wr.get());
        for (int64_t r = 0; r < m - j; ++r) {
          const T f = tau[j] * v[r];
          T* row = a + (j + r) * lda + j + 1;
          for (int64_t c = 0; c < nc; ++c) row[c] -= f * wr[c];
        }
      }
    }
    if (jend < n) {
      const int64_t mr = m - j0;
      copy_v(mr, jb, a + j0 * lda + j0, lda, vb.get());
      form_t(mr, jb, vb.get(), tau + j0, tm.get(), g.get());
      apply_block(mr, jb, vb.get(), tm.get(), true, a + j0 * lda + jend, lda, n - jend, w.get(), w2.get());
    }
  }
}

template <typename T>
void reflectors_apply(int64_t rows, int64_t k, const T* v, int64_t ldv, const T* tau, T* c, int64_t ldc,
                      int64_t cols, bool c_is_identity) {
  if (k <= 0 || rows <= 0 || cols <= 0) return;
  Scratch<T> vb(static_cast<size_t>(rows * kBlock)), tm(kBlock * kBlock), g(kBlock * kBlock);
  Scratch<T> w(static_cast<size_t>(kBlock * cols)), w2(static_cast<size_t>(kBlock * cols));
  const int64_t nblocks = (k + kBlock - 1) / kBlock;
  for (int64_t b = nblocks - 1; b >= 0; --b) {
    const int64_t j0 = b * kBlock, jb = std::min(kBlock, k - j0), mr = rows - j0;
    const int64_t c0 = c_is_identity ? j0 : 0;
    if (mr <= 0 || cols - c0 <= 0) continue;
    copy_v(mr, jb, v + j0 * ldv + j0, ldv, vb.get());
    form_t(mr, jb, vb.get(), tau + j0, tm.get(), g.get());
    apply_block(mr, jb, vb.get(), tm.get(), false, c + j0 * ldc + c0, ldc, cols - c0, w.get(), w2.get());
  }
}

// Blocked gebrd (m >= n). The panel (labrd) keeps X^T (nb x mm) and Y^T (nb x nn) row-major so
// that each new x_i, y_i is a contiguous row; the two big matrix-vector products per column
// (A^T u and A v over the whole trailing matrix) are the memory-bound part and run through
// the parallel gemv kernels.
template <typename T>
void bidiagonalize(int64_t m, int64_t n, T* a, int64_t lda, T* d, T* e, T* tauq, T* taup) {
  if (n <= 0) return;
  Scratch<T> xt(static_cast<size_t>(kBlock * m)), yt(static_cast<size_t>(kBlock * n));
  Scratch<T> u(static_cast<size_t>(m)), t(static_cast<size_t>(m)), tmp(kBlock + 1), tmp2(kBlock + 1);
  for (int64_t i0 = 0; i0 < n; i0 += kBlock) {
    T* A = a + i0 * lda + i0;
    const int64_t mm = m - i0, nn = n - i0, nb = std::min(kBlock, nn);
    T* XT = xt.get();
    T* YT = yt.get();
    const int64_t ldx = mm, ldy = nn;
    // The panel's ~10 matrix-vector products per column are too short to wake the pool for
    // each: one team (team.h) stays awake for the whole panel. The trailing gemm runs outside.
    // Small trailing matrices keep the plain (inline) products and wake no one.
    auto panel = [&](Team* tm) {
      for (int64_t i = 0; i < nb; ++i) {
        // Column i of the panel, updated by the previous reflectors of the panel:
        // A(i:mm, i) -= A(i:mm, 0:i) Y(i, 0:i)^T + X(i:mm, 0:i) A(0:i, i).
        if (i > 0) {
          for (int64_t j = 0; j < i; ++j) tmp[j] = YT[j * ldy + i];
          for (int64_t j = 0; j < i; ++j) tmp2[j] = A[j * lda + i];
          gemv_n(tm, mm - i, i, T(1), A + i * lda, lda, tmp.get(), T(0), t.get());
          gemv_t(tm, i, mm - i, T(1), XT + i, ldx, tmp2.get(), T(1), t.get());
          for (int64_t r = 0; r < mm - i; ++r) A[(i + r) * lda + i] -= t[r];
        }
        T alpha = A[i * lda + i];
        tauq[i0 + i] = linalg::householder_generate(mm - i, alpha, A + (i + 1) * lda + i, lda);
        d[i0 + i] = alpha;
        A[i * lda + i] = T(1);
        u[0] = 1;
        for (int64_t r = 1; r < mm - i; ++r) u[r] = A[(i + r) * lda + i];
        if (i + 1 >= nn) {
          taup[i0 + i] = 0;
          continue;
        }
        const int64_t nc = nn - i - 1;
        // y_i = tauq (A^T u - Y A_panel^T u - A_top^T X^T u), stored in Y^T row i, entries i+1..nn.
        T* y = YT + i * ldy + i + 1;
        gemv_t(tm, mm - i, nc, T(1), A + i * lda + i + 1, lda, u.get(), T(0), y);
        if (i > 0) {
          gemv_t(tm, mm - i, i, T(1), A + i * lda, lda, u.get(), T(0), tmp.get());
          gemv_t(tm, i, nc, T(-1), YT + i + 1, ldy, tmp.get(), T(1), y);
          gemv_n(tm, i, mm - i, T(1), XT + i, ldx, u.get(), T(0), tmp.get());
          gemv_t(tm, i, nc, T(-1), A + i + 1, lda, tmp.get(), T(1), y);
        }
        for (int64_t c = 0; c < nc; ++c) y[c] *= tauq[i0 + i];
        // Row i: A(i, i+1:nn) -= Y(i+1:nn, 0:i+1) A(i, 0:i+1)^T + A(0:i, i+1:nn)^T X(i, 0:i)^T.
        T* arow = A + i * lda + i + 1;
        gemv_t(tm, i + 1, nc, T(-1), YT + i + 1, ldy, A + i * lda, T(1), arow);
        if (i > 0) {
          for (int64_t j = 0; j < i; ++j) tmp[j] = XT[j * ldx + i];
          gemv_t(tm, i, nc, T(-1), A + i + 1, lda, tmp.get(), T(1), arow);
        }
        T beta = arow[0];
        taup[i0 + i] = linalg::householder_generate(nc, beta, arow + 1, 1);
        e[i0 + i] = beta;
        arow[0] = T(1);
        // x_i = taup (A v - A_panel Y^T v - X A_top v), stored in X^T row i, entries i+1..mm.
        T* x = XT + i * ldx + i + 1;
        const int64_t mr = mm - i - 1;
        gemv_n(tm, mr, nc, T(1), A + (i + 1) * lda + i + 1, lda, arow, T(0), x);
        gemv_n(tm, i + 1, nc, T(1), YT + i + 1, ldy, arow, T(0), tmp.get());
        gemv_n(tm, mr, i + 1, T(-1), A + (i + 1) * lda, lda, tmp.get(), T(1), x);
        if (i > 0) {
          gemv_n(tm, i, nc, T(1), A + i + 1, lda, arow, T(0), tmp.get());
          gemv_t(tm, i, mr, T(-1), XT + i + 1, ldx, tmp.get(), T(1), x);
        }
        for (int64_t r = 0; r < mr; ++r) x[r] *= taup[i0 + i];
      }
    };
    if (mm * nn >= kTeamMinWork) {
      Team::lead([&](Team& team) { panel(&team); });
    } else {
      panel(nullptr);
    }
    // Trailing update A(nb:mm, nb:nn) -= U Y^T + X V^T (the unit of v_{nb-1} sits at
    // A(nb-1, nb), still 1 here).
    if (nb < nn) {
      gemm(false, false, mm - nb, nn - nb, nb, T(-1), A + nb * lda, lda, YT + nb, ldy, T(1), A + nb * lda + nb, lda);
      gemm(true, false, mm - nb, nn - nb, nb, T(-1), XT + nb, ldx, A + nb, lda, T(1), A + nb * lda + nb, lda);
    }
    for (int64_t i = 0; i < nb; ++i) {
      A[i * lda + i] = d[i0 + i];
      if (i + 1 < nn) A[i * lda + i + 1] = e[i0 + i];
    }
  }
}

#define NT_SVD_INSTANTIATE(T)                                                                        \
  template void qr_factor<T>(int64_t, int64_t, T*, int64_t, T*);                                     \
  template void reflectors_apply<T>(int64_t, int64_t, const T*, int64_t, const T*, T*, int64_t, int64_t, \
                                    bool);                                                           \
  template void bidiagonalize<T>(int64_t, int64_t, T*, int64_t, T*, T*, T*, T*);
NT_SVD_INSTANTIATE(float)
NT_SVD_INSTANTIATE(double)
#undef NT_SVD_INSTANTIATE

}  // namespace nt::svd_detail
