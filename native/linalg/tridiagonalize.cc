// Blocked Householder tridiagonalization (LAPACK dsytrd/dlatrd, lower) and the blocked
// back-transformation of eigenvectors (dormtr through compact WY). Half of the
// tridiagonalization flops are the symmetric matrix-vector products of the panel (memory-bound:
// one pass over the trailing lower triangle per column), the other half the rank-2b trailing
// updates, which go through gemm. Both run on one Team (team.h) that lives for the whole
// reduction, so the ~2n parallel steps do not each pay for waking the pool.
#include "tridiagonalize.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>

#include "../core/scratch.h"
#include "../core/thread_pool.h"
#include "../cpu/gemm.h"
#include "eigh_kernels.h"
#include "../core/team.h"

namespace nt {
namespace {

constexpr int64_t kPanel = 32;       // reflectors per panel (the rank of each trailing update is 2 kPanel)
constexpr int64_t kUpdateCols = 128; // column block of the lower-triangular trailing update
constexpr int64_t kBackBlock = 128;   // reflectors per compact-WY block of the back-transformation
constexpr int64_t kSymvMaxPieces = 8;

inline void gemm_rm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
                    const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  gemm_f32(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
inline void gemm_rm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha, const double* a, int64_t lda,
                    const double* b, int64_t ldb, double beta, double* c, int64_t ldc) {
  gemm_f64(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
// Column-major C = alpha op(A) op(B) + beta C (the row-major view of C is C^T = op(B)^T op(A)^T).
template <typename T>
inline void gemm_cm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda, const T* b,
                    int64_t ldb, T beta, T* c, int64_t ldc) {
  gemm_rm(tb, ta, n, m, k, alpha, b, ldb, a, lda, beta, c, ldc);
}

template <typename T>
T dot(int64_t n, const T* x, const T* y) {
  T s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += x[i] * y[i];
    s1 += x[i + 1] * y[i + 1];
    s2 += x[i + 2] * y[i + 2];
    s3 += x[i + 3] * y[i + 3];
  }
  for (; i < n; ++i) s0 += x[i] * y[i];
  return (s0 + s1) + (s2 + s3);
}

template <typename T>
inline void axpy(int64_t n, T alpha, const T* x, T* y) {
  for (int64_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}

// 2-norm without overflow or harmful underflow: f32 accumulates in f64, f64 scales by max |x|.
inline double nrm2(int64_t n, const float* x) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += static_cast<double>(x[i]) * x[i];
  return std::sqrt(s);
}
inline double nrm2(int64_t n, const double* x) {
  double mx = 0;
  for (int64_t i = 0; i < n; ++i) mx = std::max(mx, std::fabs(x[i]));
  if (mx == 0 || !std::isfinite(mx)) return mx;
  const double inv = 1.0 / mx;
  double s = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double t = x[i] * inv;
    s += t * t;
  }
  return mx * std::sqrt(s);
}

// Householder reflector (LAPACK dlarfg): H [alpha; x] = [beta; 0] with H = I - tau [1; v][1; v]^T;
// x (len - 1 entries) is overwritten by v. Returns tau (0 when there is nothing to annihilate).
template <typename T>
T larfg(int64_t len, T alpha, T* x, T* beta) {
  *beta = alpha;
  if (len <= 1) return 0;
  const double xnorm = nrm2(len - 1, x);
  if (xnorm == 0) return 0;
  const double b = -std::copysign(std::hypot(static_cast<double>(alpha), xnorm), static_cast<double>(alpha));
  const T tau = static_cast<T>((b - alpha) / b);
  const T scale = static_cast<T>(1.0 / (alpha - b));
  for (int64_t i = 0; i < len - 1; ++i) x[i] *= scale;
  *beta = static_cast<T>(b);
  return tau;
}

template <typename T>
struct Kernel;
template <>
struct Kernel<float> {
  static SymvColumnsF32 get() { return kernels().eigh_symv_f32; }
};
template <>
struct Kernel<double> {
  static SymvColumnsF64 get() { return kernels().eigh_symv_f64; }
};

// Number of independently accumulated column pieces of an m x m symv: a function of m only.
inline int64_t symv_pieces(int64_t m) {
  const int64_t area = m * (m + 1) / 2;
  return std::clamp<int64_t>(area / 8192, 1, kSymvMaxPieces);
}

// y = A x; work holds kSymvMaxPieces * m elements. The pieces run on the team.
template <typename T>
void symv_lower_work(Team& team, int64_t m, const T* a, int64_t lda, const T* x, T* y, T* work) {
  const auto kernel = Kernel<T>::get();
  const int64_t pieces = symv_pieces(m);
  if (pieces == 1) {
    std::fill(y, y + m, T(0));
    kernel(a, lda, m, 0, m, x, y);
    return;
  }
  // equal-area column cuts (column c holds m - c elements), on multiples of 4
  int64_t cut[kSymvMaxPieces + 1];
  cut[0] = 0;
  for (int64_t p = 1; p < pieces; ++p) {
    const double frac = 1.0 - std::sqrt(1.0 - static_cast<double>(p) / pieces);
    cut[p] = std::clamp<int64_t>(static_cast<int64_t>(frac * m) / 4 * 4, cut[p - 1], m);
  }
  cut[pieces] = m;
  team.run(pieces, [&](int64_t p) {
    T* yp = work + p * m;
    std::fill(yp + cut[p], yp + m, T(0));
    kernel(a, lda, m, cut[p], cut[p + 1], x, yp);
  });
  std::copy(work, work + m, y);
  for (int64_t p = 1; p < pieces; ++p) {
    const T* yp = work + p * m;
    for (int64_t r = cut[p]; r < m; ++r) y[r] += yp[r];
  }
}

// Panel of b columns of the m x m trailing matrix A (LAPACK dlatrd, lower): reduces columns
// 0..b-1 and returns W (m x b, column-major) such that the trailing update is
// A(b:m, b:m) -= V W^T + W V^T with V the reflectors stored below the subdiagonal
// (their unit entries are set to 1 in A on exit; the caller restores e there).
template <typename T>
void panel(Team& team, int64_t m, int64_t b, T* A, int64_t lda, T* W, int64_t ldw, T* d, T* e, T* tau, T* work) {
  for (int64_t i = 0; i < b; ++i) {
    T* ai = A + i * lda;
    // bring column i up to date with the panel's earlier reflectors
    for (int64_t j = 0; j < i; ++j) {
      const T* aj = A + j * lda;
      const T* wj = W + j * ldw;
      const T wij = wj[i], aij = aj[i];
      for (int64_t r = i; r < m; ++r) ai[r] -= aj[r] * wij + wj[r] * aij;
    }
    d[i] = ai[i];
    T beta;
    tau[i] = larfg(m - i - 1, ai[i + 1], ai + i + 2, &beta);
    e[i] = beta;
    ai[i + 1] = 1;
    const int64_t len = m - i - 1;
    const T* v = ai + i + 1;
    T* wi = W + i * ldw;
    T* w = wi + i + 1;
    symv_lower_work(team, len, A + (i + 1) * (lda + 1), lda, v, w, work);
    if (i > 0) {
      T* t = wi;  // W(0:i, i) is free: a temporary of i entries
      for (int64_t j = 0; j < i; ++j) t[j] = dot(len, W + j * ldw + i + 1, v);
      for (int64_t j = 0; j < i; ++j) axpy(len, -t[j], A + j * lda + i + 1, w);
      for (int64_t j = 0; j < i; ++j) t[j] = dot(len, A + j * lda + i + 1, v);
      for (int64_t j = 0; j < i; ++j) axpy(len, -t[j], W + j * ldw + i + 1, w);
    }
    const T ti = tau[i];
    for (int64_t r = 0; r < len; ++r) w[r] *= ti;
    const T alpha = static_cast<T>(-0.5) * ti * dot(len, w, v);
    axpy(len, alpha, v, w);
  }
}

}  // namespace

template <typename T>
void tridiagonalize(int64_t n, T* a, int64_t lda, T* d, T* e, T* tau) {
  if (n <= 0) return;
  Scratch<T> wbuf(static_cast<size_t>(n * kPanel));
  Scratch<T> vw(static_cast<size_t>(n * 2 * kPanel)), wv(static_cast<size_t>(n * 2 * kPanel));
  Scratch<T> work(static_cast<size_t>(kSymvMaxPieces * n));
  // one team (team.h) for the whole reduction: the panel's symv pieces and the trailing update's column
  // blocks (each a single-threaded gemm: nested pool calls run inline) are its steps
  Team::lead([&](Team& team) {
    for (int64_t p = 0; p < n - 1; p += kPanel) {
      const int64_t b = std::min(kPanel, n - 1 - p);
      const int64_t m = n - p;
      T* A = a + p + p * lda;
      T* W = wbuf.get();
      panel(team, m, b, A, lda, W, m, d + p, e + p, tau + p, work.get());
      // A(b:m, b:m) -= [V W] [W V]^T on the lower triangle, one column block per task
      const int64_t mm = m - b;
      T* VW = vw.get();
      T* WV = wv.get();
      for (int64_t j = 0; j < b; ++j) {
        std::memcpy(VW + j * mm, A + j * lda + b, mm * sizeof(T));
        std::memcpy(VW + (b + j) * mm, W + j * m + b, mm * sizeof(T));
        std::memcpy(WV + j * mm, W + j * m + b, mm * sizeof(T));
        std::memcpy(WV + (b + j) * mm, A + j * lda + b, mm * sizeof(T));
      }
      T* At = A + b + b * lda;
      const int64_t cols = mm < 512 ? kUpdateCols / 2 : kUpdateCols;  // enough blocks to share
      team.run((mm + cols - 1) / cols, [&](int64_t blk) {
        const int64_t c0 = blk * cols, c1 = std::min(c0 + cols, mm);
        gemm_cm<T>(false, true, mm - c0, c1 - c0, 2 * b, T(-1), VW + c0, mm, WV + c0, mm, T(1), At + c0 + c0 * lda, lda);
      });
      for (int64_t j = 0; j < b; ++j) A[(j + 1) + j * lda] = e[p + j];
    }
  });
  d[n - 1] = a[(n - 1) * (lda + 1)];
  tau[n - 1] = 0;
}

template <typename T>
void apply_tridiagonal_q(int64_t n, const T* a, int64_t lda, const T* tau, T* v, int64_t k, int64_t ldv) {
  const int64_t nr = n - 1;  // reflectors H(0..n-2)
  if (nr <= 0 || k <= 0) return;
  const int64_t nb = kBackBlock;
  Scratch<T> y(static_cast<size_t>(n * nb)), g(nb * nb), t(nb * nb), w1(static_cast<size_t>(nb * k)),
      w2(static_cast<size_t>(nb * k));
  // Q V = H(0) (H(1) (... H(n-2) V)): blocks from the last to the first
  for (int64_t j0 = (nr - 1) / nb * nb; j0 >= 0; j0 -= nb) {
    const int64_t bw = std::min(nb, nr - j0);
    const int64_t rows = n - 1 - j0;  // rows j0+1 .. n-1
    T* Y = y.get();                    // rows x bw, row-major, unit lower trapezoidal
    for (int64_t r = 0; r < rows; ++r) {
      T* yr = Y + r * bw;
      for (int64_t c = 0; c < bw; ++c) yr[c] = r < c ? T(0) : r == c ? T(1) : a[(j0 + 1 + r) + (j0 + c) * lda];
    }
    // T (upper triangular) of H(j0)...H(j0+bw-1) = I - Y T Y^T (LAPACK dlarft, forward), from G = Y^T Y
    T* G = g.get();
    gemm_rm(true, false, bw, bw, rows, T(1), Y, bw, Y, bw, T(0), G, bw);
    T* Tm = t.get();
    std::fill(Tm, Tm + bw * bw, T(0));
    for (int64_t c = 0; c < bw; ++c) {
      const T tc = tau[j0 + c];
      Tm[c * bw + c] = tc;
      if (c == 0) continue;
      T tmp[kBackBlock];
      for (int64_t r = 0; r < c; ++r) tmp[r] = -tc * G[r * bw + c];
      for (int64_t r = 0; r < c; ++r) {
        T s = 0;
        for (int64_t q = r; q < c; ++q) s += Tm[r * bw + q] * tmp[q];
        Tm[r * bw + c] = s;
      }
    }
    T* vs = v + (j0 + 1) * ldv;
    gemm_rm(true, false, bw, k, rows, T(1), Y, bw, vs, ldv, T(0), w1.get(), k);
    gemm_rm(false, false, bw, k, bw, T(1), Tm, bw, w1.get(), k, T(0), w2.get(), k);
    gemm_rm(false, false, rows, k, bw, T(-1), Y, bw, w2.get(), k, T(1), vs, ldv);
  }
}

template void tridiagonalize<float>(int64_t, float*, int64_t, float*, float*, float*);
template void tridiagonalize<double>(int64_t, double*, int64_t, double*, double*, double*);
template void apply_tridiagonal_q<float>(int64_t, const float*, int64_t, const float*, float*, int64_t, int64_t);
template void apply_tridiagonal_q<double>(int64_t, const double*, int64_t, const double*, double*, int64_t, int64_t);

}  // namespace nt
