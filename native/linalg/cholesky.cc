// Cholesky factorization, triangular inverse and Cholesky inverse (see cholesky.h). Row-major.
#include "cholesky.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "../core/scratch.h"
#include "../core/thread_pool.h"
#include "factor_common.h"

namespace nt::linalg {
namespace {

constexpr int64_t kCholeskyBlock = 64;

// Unblocked Cholesky of the kb x kb diagonal block (its Schur complement already formed).
template <typename T>
int64_t cholesky_unblocked(int64_t kb, T* a, int64_t lda, double* pivot) {
  for (int64_t j = 0; j < kb; ++j) {
    T* rj = a + j * lda;
    T d = rj[j];
    for (int64_t t = 0; t < j; ++t) d -= rj[t] * rj[t];
    // !(d > 0) also catches NaN; an infinite d cannot be a valid pivot either
    if (!(d > T(0)) || !std::isfinite(d)) {
      *pivot = static_cast<double>(d);
      return j;
    }
    const T ljj = std::sqrt(d);
    rj[j] = ljj;
    for (int64_t i = j + 1; i < kb; ++i) {
      T* ri = a + i * lda;
      T s = ri[j];
      for (int64_t t = 0; t < j; ++t) s -= ri[t] * rj[t];
      ri[j] = s / ljj;
    }
  }
  return -1;
}

}  // namespace

template <typename T>
int64_t cholesky_lower(int64_t n, T* a, int64_t lda, double* pivot) {
  // Left-looking by block columns (LAPACK potrf, lower): block k first receives the updates of
  // every block left of it as two GEMMs with inner dimension k0 (the large one), then is
  // factored: the diagonal block by substitution, the panel below by a row-parallel solve.
  for (int64_t k0 = 0; k0 < n; k0 += kCholeskyBlock) {
    const int64_t kb = std::min(kCholeskyBlock, n - k0), k1 = k0 + kb;
    T* diag = a + k0 * lda + k0;
    if (k0 > 0) gemm_rm(false, true, kb, kb, k0, T(-1), a + k0 * lda, lda, a + k0 * lda, lda, T(1), diag, lda);
    const int64_t bad = cholesky_unblocked(kb, diag, lda, pivot);
    if (bad >= 0) return k0 + bad;
    if (k1 == n) break;
    T* panel = a + k1 * lda + k0;
    if (k0 > 0)
      gemm_rm(false, true, n - k1, kb, k0, T(-1), a + k1 * lda, lda, a + k0 * lda, lda, T(1), panel, lda);
    // X L11^T = A21, one row of X per task item: x_c = (a_c - sum_{t<c} x_t L11(c, t)) / L11(c, c)
    parallel_for(n - k1, std::max<int64_t>(1, 16384 / (kb * kb)), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        T* x = panel + r * lda;
        for (int64_t c = 0; c < kb; ++c) {
          const T* lc = diag + c * lda;
          T s = x[c];
          for (int64_t t = 0; t < c; ++t) s -= x[t] * lc[t];
          x[c] = s / lc[c];
        }
      }
    });
  }
  return -1;
}

template <typename T>
void triangular_lower_inverse(int64_t n, T* l, int64_t lda) {
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = i + 1; j < n; ++j) l[i * lda + j] = T(0);
  // By block rows: with X_tl = inv(L_tl) done, the next block row [L_r L_d] becomes
  // [-X_d L_r X_tl, X_d], X_d = inv(L_d): two GEMMs (X_tl's zero upper triangle included).
  const int64_t nb = kCholeskyBlock;
  Scratch<T> d(static_cast<size_t>(nb * nb));
  Scratch<T> tmp(static_cast<size_t>(nb * std::max<int64_t>(n, 1)));
  for (int64_t k0 = 0; k0 < n; k0 += nb) {
    const int64_t kb = std::min(nb, n - k0);
    T* ld = l + k0 * lda + k0;
    for (int64_t i = 0; i < kb; ++i)
      for (int64_t j = 0; j < kb; ++j) d[i * kb + j] = ld[i * lda + j];
    // X_d column by column: X(j, j) = 1 / L(j, j), X(i, j) = -(sum_{j<=t<i} L(i, t) X(t, j)) / L(i, i)
    for (int64_t j = 0; j < kb; ++j) {
      ld[j * lda + j] = T(1) / d[j * kb + j];
      for (int64_t i = j + 1; i < kb; ++i) {
        T s = 0;
        for (int64_t t = j; t < i; ++t) s += d[i * kb + t] * ld[t * lda + j];
        ld[i * lda + j] = -s / d[i * kb + i];
      }
    }
    if (k0 == 0) continue;
    T* lr = l + k0 * lda;
    gemm_rm(false, false, kb, k0, k0, T(1), lr, lda, l, lda, T(0), tmp.get(), k0);
    gemm_rm(false, false, kb, k0, kb, T(-1), ld, lda, tmp.get(), k0, T(0), lr, lda);
  }
}

#define NT_CHOLESKY_INSTANTIATE(T)                                      \
  template int64_t cholesky_lower<T>(int64_t, T*, int64_t, double*);    \
  template void triangular_lower_inverse<T>(int64_t, T*, int64_t);
NT_CHOLESKY_INSTANTIATE(float)
NT_CHOLESKY_INSTANTIATE(double)
#undef NT_CHOLESKY_INSTANTIATE

namespace {

void check_square(const char* op, const TensorView& a, const char* arg) {
  check_matrix_input(op, a, arg);
  NT_CHECK(a.shape[0] == a.shape[1], Shape, "[", op, "] expected a square matrix, got shape ", shape_string(a));
}

// The lower triangle of the working copy: a's lower triangle, or the transpose of its upper
// triangle (a column-major load of the upper part is the row-major transpose).
template <typename T>
void load_lower(const char* op, const TensorView& a, T* w, bool upper) {
  const int64_t n = a.shape[0];
  load_matrix<T>(op, a, w, std::max<int64_t>(n, 1), upper, upper ? Part::Upper : Part::Lower);
}

template <typename T>
void cholesky_typed(const TensorView& av, const TensorView& out, bool upper) {
  const int64_t n = av.shape[0];
  Scratch<T> w(static_cast<size_t>(n * n));
  load_lower<T>("linalg.cholesky", av, w.get(), upper);
  double pivot = 0;
  const int64_t bad = cholesky_lower(n, w.get(), n, &pivot);
  NT_CHECK(bad < 0, Numeric, "[linalg.cholesky] matrix is not positive definite: pivot ", bad, " is ", pivot);
  T* o = out.ptr<T>();
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) {
      if (!upper) o[i * n + j] = j <= i ? w[i * n + j] : T(0);
      else o[i * n + j] = j >= i ? w[j * n + i] : T(0);
    }
}

template <typename T>
void cholesky_inverse_typed(const TensorView& lv, const TensorView& out, bool upper) {
  const int64_t n = lv.shape[0];
  Scratch<T> x(static_cast<size_t>(n * n));
  load_lower<T>("linalg.choleskyInverse", lv, x.get(), upper);
  for (int64_t i = 0; i < n; ++i)
    NT_CHECK(x[i * n + i] != T(0), Numeric, "[linalg.choleskyInverse] factor is singular: diagonal element ", i,
             " is 0");
  triangular_lower_inverse(n, x.get(), n);
  // A^-1 = X^T X with X = L^-1 lower: block row i0..i1 of the lower half is
  // X(i0:, i0:i1)^T X(i0:, 0:i1) (rows of X above i0 are zero in columns >= i0), then mirror.
  T* c = out.ptr<T>();
  for (int64_t i0 = 0; i0 < n; i0 += kCholeskyBlock) {
    const int64_t i1 = std::min(n, i0 + kCholeskyBlock);
    gemm_rm(true, false, i1 - i0, i1, n - i0, T(1), x.get() + i0 * n + i0, n, x.get() + i0 * n, n, T(0),
            c + i0 * n, n);
  }
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = i + 1; j < n; ++j) c[i * n + j] = c[j * n + i];
}

}  // namespace

void cholesky_check(const TensorView& a, const TensorView& out) {
  check_square("linalg.cholesky", a, "a");
  check_output("linalg.cholesky", out, "out", 2, a.shape[0], a.shape[0], compute_dtype(a.dtype));
}

void cholesky_run(const TensorView& a, const TensorView& out, bool upper) {
  if (out.dtype == DType::F64) cholesky_typed<double>(a, out, upper);
  else cholesky_typed<float>(a, out, upper);
}

void cholesky_inverse_check(const TensorView& l, const TensorView& out) {
  check_square("linalg.choleskyInverse", l, "l");
  check_output("linalg.choleskyInverse", out, "out", 2, l.shape[0], l.shape[0], compute_dtype(l.dtype));
}

void cholesky_inverse_run(const TensorView& l, const TensorView& out, bool upper) {
  if (out.dtype == DType::F64) cholesky_inverse_typed<double>(l, out, upper);
  else cholesky_inverse_typed<float>(l, out, upper);
}

}  // namespace nt::linalg
