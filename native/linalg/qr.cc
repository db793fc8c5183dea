// Blocked Householder QR (see qr.h).
#include "qr.h"

#include <algorithm>
#include <cstring>

#include "../core/scratch.h"
#include "factor_common.h"
#include "householder.h"

namespace nt::linalg {
namespace {

// Panel width: the trailing update is two GEMMs with inner dimension kQrBlock, and the recursive
// panel factorization is itself mostly GEMM, so a wide panel costs little.
constexpr int64_t kQrBlock = 48;

// geqrt3: factors a (m x n, m >= n) in place and writes the n x n upper-triangular T of the
// reflectors (H_0 ... H_{n-1} = I - V T V^T). Split the columns in two halves, factor the left,
// apply it to the right (one block application), factor the right, and join the two T's:
// T12 = -T11 (V1^T V2) T22.
// Panels this narrow are factored unblocked: below it the recursion's GEMM calls cost more in
// overhead than they save.
constexpr int64_t kQrPanelBase = 16;

template <typename T>
void qr_panel_recursive(int64_t m, int64_t n, T* a, int64_t lda, T* t, int64_t ldt) {
  if (n <= kQrPanelBase) {
    // Narrow enough for the unblocked form (LAPACK geqr2): each reflector is applied to the
    // few columns right of it at once, then T comes from V^T V (larft).
    Scratch<T> tau(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      T* col = a + i + i * lda;
      tau[i] = householder_generate(m - i, col[0], col + 1, 1);
      if (i + 1 < n && tau[i] != T(0)) {
        const T diag = col[0];
        col[0] = T(1);
        householder_apply_left(m - i, n - i - 1, col, tau[i], col + lda, lda);
        col[0] = diag;
      }
    }
    if (n == 1) {
      t[0] = tau[0];
      return;
    }
    Scratch<T> v(static_cast<size_t>(m * n)), work(static_cast<size_t>(n * n));
    householder_copy_v(m, n, a, lda, v.get(), m);
    householder_form_t(m, n, v.get(), m, tau.get(), t, ldt, work.get());
    return;
  }
  const int64_t n1 = n / 2, n2 = n - n1;
  T* a2 = a + n1 * lda;
  T* t11 = t;
  T* t12 = t + n1 * ldt;
  T* t22 = t + n1 + n1 * ldt;
  qr_panel_recursive(m, n1, a, lda, t11, ldt);
  Scratch<T> v1(static_cast<size_t>(m * n1));
  householder_copy_v(m, n1, a, lda, v1.get(), m);
  {
    Scratch<T> work(static_cast<size_t>(2 * n1 * n2));
    householder_apply_block(ReflectSide::Left, true, m, n2, n1, v1.get(), m, t11, ldt, a2, lda, work.get());
  }
  qr_panel_recursive(m - n1, n2, a2 + n1, lda, t22, ldt);
  Scratch<T> v2(static_cast<size_t>((m - n1) * n2));
  householder_copy_v(m - n1, n2, a2 + n1, lda, v2.get(), m - n1);
  // V1's rows 0..n1-1 meet V2's zeros, so only rows n1.. contribute to V1^T V2
  gemm_cm(true, false, n1, n2, m - n1, T(1), v1.get() + n1, m, v2.get(), m - n1, T(0), t12, ldt);
  triangular_upper_multiply_right(false, n1, n2, t22, ldt, t12, ldt);
  triangular_upper_multiply_left(false, n1, n2, t11, ldt, t12, ldt);
  for (int64_t j = 0; j < n2; ++j)
    for (int64_t i = 0; i < n1; ++i) t12[i + j * ldt] = -t12[i + j * ldt];
  for (int64_t j = 0; j < n1; ++j)
    for (int64_t i = n1; i < n; ++i) t[i + j * ldt] = T(0);
}

}  // namespace

template <typename T>
void householder_qr(int64_t m, int64_t n, T* a, int64_t lda, T* tau) {
  const int64_t k = std::min(m, n);
  if (k == 0) return;
  const int64_t nb = std::min(kQrBlock, k);
  Scratch<T> tb(static_cast<size_t>(nb * nb));
  Scratch<T> v(static_cast<size_t>(m * nb));
  Scratch<T> work(static_cast<size_t>(2 * nb * std::max<int64_t>(n, 1)));
  for (int64_t j = 0; j < k; j += nb) {
    const int64_t jb = std::min(nb, k - j);
    T* panel = a + j + j * lda;
    qr_panel_recursive(m - j, jb, panel, lda, tb.get(), nb);
    for (int64_t i = 0; i < jb; ++i) tau[j + i] = tb[i + i * nb];
    if (j + jb < n) {
      householder_copy_v(m - j, jb, panel, lda, v.get(), m - j);
      householder_apply_block(ReflectSide::Left, true, m - j, n - j - jb, jb, v.get(), m - j, tb.get(), nb,
                              panel + jb * lda, lda, work.get());
    }
  }
}

template <typename T>
void householder_form_q(int64_t m, int64_t ncols, int64_t k, const T* a, int64_t lda, const T* tau, T* q,
                        int64_t ldq) {
  for (int64_t j = 0; j < ncols; ++j) {
    T* col = q + j * ldq;
    std::fill(col, col + m, T(0));
    if (j < m) col[j] = T(1);
  }
  if (k == 0) return;
  const int64_t nb = std::min(kQrBlock, k);
  Scratch<T> tb(static_cast<size_t>(nb * nb));
  Scratch<T> v(static_cast<size_t>(m * nb));
  Scratch<T> work(static_cast<size_t>(2 * nb * std::max<int64_t>(ncols, nb)));
  // Backward over the blocks of householder_qr: when block j is applied, the columns left of j
  // are still those of the identity, which the block does not touch, so only Q(j:, j:) changes.
  for (int64_t j = (k - 1) / nb * nb; j >= 0; j -= nb) {
    const int64_t jb = std::min(nb, k - j);
    householder_copy_v(m - j, jb, a + j + j * lda, lda, v.get(), m - j);
    householder_form_t(m - j, jb, v.get(), m - j, tau + j, tb.get(), nb, work.get());
    householder_apply_block(ReflectSide::Left, false, m - j, ncols - j, jb, v.get(), m - j, tb.get(), nb,
                            q + j + j * ldq, ldq, work.get());
  }
}

template <typename T>
void orthonormal_basis(int64_t m, int64_t n, T* x, int64_t ldx, T* q, int64_t ldq) {
  Scratch<T> tau(static_cast<size_t>(std::max<int64_t>(n, 1)));
  householder_qr(m, n, x, ldx, tau.get());
  householder_form_q(m, n, n, x, ldx, tau.get(), q, ldq);
}

#define NT_QR_INSTANTIATE(T)                                                                          \
  template void householder_qr<T>(int64_t, int64_t, T*, int64_t, T*);                                 \
  template void householder_form_q<T>(int64_t, int64_t, int64_t, const T*, int64_t, const T*, T*, int64_t); \
  template void orthonormal_basis<T>(int64_t, int64_t, T*, int64_t, T*, int64_t);
NT_QR_INSTANTIATE(float)
NT_QR_INSTANTIATE(double)
#undef NT_QR_INSTANTIATE

namespace {

template <typename T>
void qr_typed(const TensorView& av, const TensorView& qv, const TensorView& rv) {
  const int64_t m = av.shape[0], n = av.shape[1];
  const int64_t k = std::min(m, n), kq = qv.shape[1];
  Scratch<T> a(static_cast<size_t>(m * n));
  load_matrix<T>("linalg.qr", av, a.get(), std::max<int64_t>(m, 1), true);
  Scratch<T> tau(static_cast<size_t>(std::max<int64_t>(k, 1)));
  householder_qr(m, n, a.get(), m, tau.get());

  // R: the upper triangle, exact zeros below it (and in the extra rows of the complete form)
  T* r = rv.ptr<T>();
  for (int64_t i = 0; i < kq; ++i)
    for (int64_t j = 0; j < n; ++j) r[i * n + j] = (i <= j && i < m) ? a[i + j * m] : T(0);

  Scratch<T> qcm(static_cast<size_t>(m * kq));
  householder_form_q(m, kq, k, a.get(), m, tau.get(), qcm.get(), m);
  T* q = qv.ptr<T>();
  for (int64_t j = 0; j < kq; ++j)
    for (int64_t i = 0; i < m; ++i) q[i * kq + j] = qcm[i + j * m];
}

}  // namespace

void qr_check(const TensorView& a, const TensorView& q, const TensorView& r) {
  check_matrix_input("linalg.qr", a, "a");
  const int64_t m = a.shape[0], n = a.shape[1];
  const DType dt = compute_dtype(a.dtype);
  NT_CHECK(q.ndim == 2 && (q.shape[1] == std::min(m, n) || q.shape[1] == m), Shape,
           "[linalg.qr] q must have shape [", m, ",", std::min(m, n), "] (reduced) or [", m, ",", m,
           "] (complete), got ", shape_string(q));
  const int64_t kq = q.shape[1];
  check_output("linalg.qr", q, "q", 2, m, kq, dt);
  check_output("linalg.qr", r, "r", 2, kq, n, dt);
}

void qr_run(const TensorView& a, const TensorView& q, const TensorView& r) {
  if (q.dtype == DType::F64) qr_typed<double>(a, q, r);
  else qr_typed<float>(a, q, r);
}

}  // namespace nt::linalg
