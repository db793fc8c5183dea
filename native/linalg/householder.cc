// Householder reflectors and their compact WY block form (see householder.h). Column-major.
#include "householder.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "../core/scratch.h"
#include "../core/thread_pool.h"
#include "factor_common.h"

namespace nt::linalg {
namespace {

// ||x||_2 without overflow or harmful underflow: f32 sums squares in f64 (no f32 value can
// overflow there); f64 rescales by the largest magnitude when the plain sum could leave range.
template <typename T>
double norm2(int64_t n, const T* x, int64_t inc) {
  if constexpr (std::is_same_v<T, float>) {
    double s = 0;
    for (int64_t i = 0; i < n; ++i) s += static_cast<double>(x[i * inc]) * x[i * inc];
    return std::sqrt(s);
  } else {
    double big = 0;
    for (int64_t i = 0; i < n; ++i) big = std::max(big, std::fabs(x[i * inc]));
    if (big == 0) return 0;
    if (big > 1e-150 && big < 1e150) {
      double s = 0;
      for (int64_t i = 0; i < n; ++i) s += x[i * inc] * x[i * inc];
      return std::sqrt(s);
    }
    double s = 0;
    for (int64_t i = 0; i < n; ++i) {
      const double r = x[i * inc] / big;
      s += r * r;
    }
    return big * std::sqrt(s);
  }
}

// Grain (columns per task) so that one task does at least ~64K flops.
inline int64_t column_grain(int64_t rows) { return std::max<int64_t>(1, 65536 / std::max<int64_t>(rows, 1)); }

}  // namespace

template <typename T>
T householder_generate(int64_t n, T& alpha, T* x, int64_t incx) {
  if (n <= 1) return T(0);
  double xnorm = norm2(n - 1, x, incx);
  if (xnorm == 0) return T(0);
  // LAPACK larfg: beta = -sign(alpha) ||[alpha; x]||, rescaled while |beta| is below the
  // smallest number whose reciprocal is representable (so 1 / (alpha - beta) stays finite).
  const T safmin = std::numeric_limits<T>::min() / std::numeric_limits<T>::epsilon();
  double beta = -std::copysign(std::hypot(static_cast<double>(alpha), xnorm), static_cast<double>(alpha));
  int knt = 0;
  if (std::fabs(beta) < safmin) {
    const T rsafmn = T(1) / safmin;
    do {
      ++knt;
      for (int64_t i = 0; i < n - 1; ++i) x[i * incx] *= rsafmn;
      beta *= rsafmn;
      alpha *= rsafmn;
    } while (std::fabs(beta) < safmin && knt < 20);
    xnorm = norm2(n - 1, x, incx);
    beta = -std::copysign(std::hypot(static_cast<double>(alpha), xnorm), static_cast<double>(alpha));
  }
  const T tau = static_cast<T>((beta - alpha) / beta);
  const T scale = static_cast<T>(1.0 / (static_cast<double>(alpha) - beta));
  for (int64_t i = 0; i < n - 1; ++i) x[i * incx] *= scale;
  for (int j = 0; j < knt; ++j) beta *= safmin;
  alpha = static_cast<T>(beta);
  return tau;
}

template <typename T>
void householder_apply_left(int64_t m, int64_t n, const T* v, T tau, T* c, int64_t ldc) {
  if (tau == T(0) || m <= 0 || n <= 0) return;
  parallel_for(n, column_grain(m), [&](int64_t j0, int64_t j1) {
    for (int64_t j = j0; j < j1; ++j) {
      T* col = c + j * ldc;
      // four partial sums: shorter dependency chains, and the compiler can pack them
      T s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      int64_t i = 0;
      for (; i + 4 <= m; i += 4) {
        s0 += v[i] * col[i];
        s1 += v[i + 1] * col[i + 1];
        s2 += v[i + 2] * col[i + 2];
        s3 += v[i + 3] * col[i + 3];
      }
      for (; i < m; ++i) s0 += v[i] * col[i];
      const T f = tau * ((s0 + s1) + (s2 + s3));
      for (i = 0; i < m; ++i) col[i] -= f * v[i];
    }
  });
}

template <typename T>
void householder_copy_v(int64_t m, int64_t k, const T* a, int64_t lda, T* v, int64_t ldv) {
  for (int64_t j = 0; j < k; ++j) {
    T* vj = v + j * ldv;
    const T* aj = a + j * lda;
    for (int64_t i = 0; i < std::min(j, m); ++i) vj[i] = T(0);
    if (j < m) vj[j] = T(1);
    for (int64_t i = j + 1; i < m; ++i) vj[i] = aj[i];
  }
}

template <typename T>
void triangular_upper_multiply_left(bool transpose, int64_t k, int64_t n, const T* t, int64_t ldt, T* w,
                                    int64_t ldw) {
  if (k <= 0 || n <= 0) return;
  parallel_for(n, column_grain(k * k / 2 + 1), [&](int64_t j0, int64_t j1) {
    for (int64_t j = j0; j < j1; ++j) {
      T* x = w + j * ldw;
      if (!transpose) {
        // x_i = sum_{l >= i} T(i, l) x_l: ascending i reads only not-yet-updated x_l
        for (int64_t i = 0; i < k; ++i) {
          T s = 0;
          for (int64_t l = i; l < k; ++l) s += t[i + l * ldt] * x[l];
          x[i] = s;
        }
      } else {
        // x_i = sum_{l <= i} T(l, i) x_l: descending i
        for (int64_t i = k - 1; i >= 0; --i) {
          const T* ti = t + i * ldt;
          T s = 0;
          for (int64_t l = 0; l <= i; ++l) s += ti[l] * x[l];
          x[i] = s;
        }
      }
    }
  });
}

template <typename T>
void triangular_upper_multiply_right(bool transpose, int64_t m, int64_t k, const T* t, int64_t ldt, T* w,
                                     int64_t ldw) {
  if (k <= 0 || m <= 0) return;
  parallel_for(m, std::max<int64_t>(1, 65536 / (k * k / 2 + 1)), [&](int64_t r0, int64_t r1) {
    if (!transpose) {
      // W(:, j) = sum_{i <= j} W(:, i) T(i, j): descending j
      for (int64_t j = k - 1; j >= 0; --j) {
        T* wj = w + j * ldw;
        const T tjj = t[j + j * ldt];
        for (int64_t r = r0; r < r1; ++r) wj[r] *= tjj;
        for (int64_t i = 0; i < j; ++i) {
          const T tij = t[i + j * ldt];
          const T* wi = w + i * ldw;
          for (int64_t r = r0; r < r1; ++r) wj[r] += wi[r] * tij;
        }
      }
    } else {
      // W(:, j) = sum_{i >= j} W(:, i) T(j, i): ascending j
      for (int64_t j = 0; j < k; ++j) {
        T* wj = w + j * ldw;
        const T tjj = t[j + j * ldt];
        for (int64_t r = r0; r < r1; ++r) wj[r] *= tjj;
        for (int64_t i = j + 1; i < k; ++i) {
          const T tji = t[j + i * ldt];
          const T* wi = w + i * ldw;
          for (int64_t r = r0; r < r1; ++r) wj[r] += wi[r] * tji;
        }
      }
    }
  });
}

template <typename T>
void householder_form_t(int64_t m, int64_t k, const T* v, int64_t ldv, const T* tau, T* t, int64_t ldt, T* work) {
  if (k <= 0) return;
  // S = V^T V in one GEMM; then column i of T is -tau_i T(0:i, 0:i) S(0:i, i) (larft).
  gemm_cm(true, false, k, k, m, T(1), v, ldv, v, ldv, T(0), work, k);
  for (int64_t i = 0; i < k; ++i) {
    T* ti = t + i * ldt;
    for (int64_t r = i + 1; r < k; ++r) ti[r] = T(0);
    if (tau[i] == T(0)) {
      for (int64_t r = 0; r <= i; ++r) ti[r] = T(0);
      continue;
    }
    for (int64_t r = 0; r < i; ++r) ti[r] = -tau[i] * work[r + i * k];
    // ti(0:i) = T(0:i, 0:i) ti(0:i): ascending rows read only entries not yet overwritten
    for (int64_t r = 0; r < i; ++r) {
      T s = 0;
      for (int64_t l = r; l < i; ++l) s += t[r + l * ldt] * ti[l];
      ti[r] = s;
    }
    ti[i] = tau[i];
  }
}

template <typename T>
void householder_apply_block(ReflectSide side, bool transpose, int64_t m, int64_t n, int64_t k, const T* v,
                             int64_t ldv, const T* t, int64_t ldt, T* c, int64_t ldc, T* work) {
  if (m <= 0 || n <= 0 || k <= 0) return;
  // All three products go through GEMM: T's zero strict lower triangle lets the triangular
  // multiply run as a dense k x k GEMM (twice the flops of trmm, but at GEMM speed rather than
  // a scalar loop's). work holds two k x n (or m x k) buffers.
  T* w1 = work;
  if (side == ReflectSide::Left) {
    // H C = C - V (T (V^T C)); H^T C uses T^T
    T* w2 = work + k * n;
    gemm_cm(true, false, k, n, m, T(1), v, ldv, c, ldc, T(0), w1, k);
    gemm_cm(transpose, false, k, n, k, T(1), t, ldt, w1, k, T(0), w2, k);
    gemm_cm(false, false, m, n, k, T(-1), v, ldv, w2, k, T(1), c, ldc);
  } else {
    // C H = C - ((C V) T) V^T; C H^T uses T^T
    T* w2 = work + m * k;
    gemm_cm(false, false, m, k, n, T(1), c, ldc, v, ldv, T(0), w1, m);
    gemm_cm(false, transpose, m, k, k, T(1), w1, m, t, ldt, T(0), w2, m);
    gemm_cm(false, true, m, n, k, T(-1), w2, m, v, ldv, T(1), c, ldc);
  }
}

#define NT_HOUSEHOLDER_INSTANTIATE(T)                                                                            \
  template T householder_generate<T>(int64_t, T&, T*, int64_t);                                                 \
  template void householder_apply_left<T>(int64_t, int64_t, const T*, T, T*, int64_t);                          \
  template void householder_copy_v<T>(int64_t, int64_t, const T*, int64_t, T*, int64_t);                        \
  template void householder_form_t<T>(int64_t, int64_t, const T*, int64_t, const T*, T*, int64_t, T*);          \
  template void householder_apply_block<T>(ReflectSide, bool, int64_t, int64_t, int64_t, const T*, int64_t,     \
                                           const T*, int64_t, T*, int64_t, T*);                                 \
  template void triangular_upper_multiply_left<T>(bool, int64_t, int64_t, const T*, int64_t, T*, int64_t);      \
  template void triangular_upper_multiply_right<T>(bool, int64_t, int64_t, const T*, int64_t, T*, int64_t);
NT_HOUSEHOLDER_INSTANTIATE(float)
NT_HOUSEHOLDER_INSTANTIATE(double)
#undef NT_HOUSEHOLDER_INSTANTIATE

}  // namespace nt::linalg
