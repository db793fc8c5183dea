#include "svd.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "../core/error.h"
#include "../core/scratch.h"
#include "../core/thread_pool.h"
#include "bidiagonal_dc.h"
#include "bidiagonal_svd.h"
#include "bidiagonalize.h"
#include "factor_common.h"
#include "householder.h"

namespace nt::linalg {
namespace {

using svd_detail::bidiagonal_svd;
using svd_detail::bidiagonal_svd_dc;
using svd_detail::bidiagonalize;
using svd_detail::qr_factor;
using svd_detail::reflectors_apply;

constexpr const char* kOp = "linalg.svd";

// From this n up, the vectors of the bidiagonal problem come from divide and conquer and are
// then multiplied by Q_B and P (LAPACK gesdd); below it, the QR iteration rotates the formed
// Q_B and P^T (gesvd), which is faster on small blocks.
constexpr int64_t kDivideConquerMin = 64;

// A strided destination matrix.
template <typename T>
struct Dest {
  T* p = nullptr;
  int64_t s0 = 0, s1 = 0;
};

// dst(i, j) = src[i * rs + j * cs] for a rows x cols matrix, tiled so that transposed reads
// stay in cache.
template <typename T, typename S>
void write_matrix(const Dest<T>& dst, int64_t rows, int64_t cols, const S* src, int64_t rs, int64_t cs) {
  constexpr int64_t B = 32;
  for (int64_t i0 = 0; i0 < rows; i0 += B)
    for (int64_t j0 = 0; j0 < cols; j0 += B)
      for (int64_t i = i0; i < std::min(rows, i0 + B); ++i)
        for (int64_t j = j0; j < std::min(cols, j0 + B); ++j)
          dst.p[i * dst.s0 + j * dst.s1] = static_cast<T>(src[i * rs + j * cs]);
}

template <typename T>
void write_identity(const Dest<T>& dst, int64_t rows, int64_t cols) {
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) dst.p[i * dst.s0 + j * dst.s1] = i == j ? T(1) : T(0);
}

class Stopwatch {
 public:
  double lap() {
    const auto now = std::chrono::steady_clock::now();
    const double ms = std::chrono::duration<double, std::milli>(now - last_).count();
    last_ = now;
    return ms;
  }

 private:
  std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
};

// C (rows x cols, column-major, ldc) := H_0 H_1 ... H_{k-1} C for the reflectors of a
// factorization (reflector j: 1 at row j, then the entries below it of column j of v, tau[j])
// in compact-WY blocks of kBackBlock from the last (LAPACK ormbr/ormqr), three GEMMs each.
// v_row_major: v is row-major (element (i, j) at v[i * ldv + j]: bidiagonalize's left
// reflectors); otherwise column-major (v[i + j * ldv]).
constexpr int64_t kBackBlock = 64;
template <typename T>
void reflectors_apply_cm(int64_t rows, int64_t k, const T* v, int64_t ldv, bool v_row_major, const T* tau, T* c,
                         int64_t ldc, int64_t cols) {
  if (rows <= 0 || k <= 0 || cols <= 0) return;
  const int64_t nb = std::min(kBackBlock, k);
  Scratch<T> vb(static_cast<size_t>(rows * nb)), t(static_cast<size_t>(nb * nb)), tw(static_cast<size_t>(nb * nb)),
      work(static_cast<size_t>(2 * nb * cols));
  for (int64_t j0 = (k - 1) / nb * nb; j0 >= 0; j0 -= nb) {
    const int64_t jb = std::min(nb, k - j0), mr = rows - j0;
    if (mr <= 0) continue;
    if (v_row_major) {
      // explicit unit lower trapezoidal panel from the row-major storage (one pass over its rows)
      for (int64_t i = 0; i < mr; ++i) {
        const T* src = v + (j0 + i) * ldv + j0;
        for (int64_t j = 0; j < jb; ++j) vb[i + j * mr] = i > j ? src[j] : i == j ? T(1) : T(0);
      }
    } else {
      linalg::householder_copy_v(mr, jb, v + j0 + j0 * ldv, ldv, vb.get(), mr);
    }
    linalg::householder_form_t(mr, jb, vb.get(), mr, tau + j0, t.get(), jb, tw.get());
    linalg::householder_apply_block(linalg::ReflectSide::Left, false, mr, cols, jb, vb.get(), mr, t.get(), jb, c + j0,
                                    ldc, work.get());
  }
}

// SVD of the m x n (m >= n >= 1) row-major matrix a (lda = n, destroyed) by bidiagonalization.
// d: n values. With vectors: ut (ku x m) gets U^T (rows n..ku-1 complete the basis of the
// full U) and vt (n x n) gets V^T.
template <typename T>
void svd_bidiagonal_route(int64_t m, int64_t n, T* a, int64_t ku, double* d, T* ut, T* vt, SvdPhaseTimes& times,
                          Stopwatch& clock) {
  Scratch<T> dd(static_cast<size_t>(n)), ee(static_cast<size_t>(n)), tauq(static_cast<size_t>(n)),
      taup(static_cast<size_t>(n));
  bidiagonalize(m, n, a, n, dd.get(), ee.get(), tauq.get(), taup.get());
  times.bidiag_ms += clock.lap();
  std::vector<double> e(static_cast<size_t>(n), 0.0);
  for (int64_t i = 0; i < n; ++i) d[i] = dd[i];
  for (int64_t i = 0; i + 1 < n; ++i) e[i] = ee[i];
  const bool vectors = ut != nullptr;
  if (vectors && n >= kDivideConquerMin) {
    // B = U_B S V_B^T by divide and conquer (f64), then U = Q_B [U_B 0; 0 I] and V = P V_B by
    // the reflectors applied to the small factors (LAPACK ormbr): GEMMs throughout.
    Scratch<double> ub(static_cast<size_t>(n * n)), vb(static_cast<size_t>(n * n));
    bidiagonal_svd_dc(n, d, e.data(), ub.get(), n, vb.get(), n);
    times.solve_ms += clock.lap();
    // Column-major U (m x ku) is row-major U^T, what ut holds; likewise V and vt: the
    // reflectors go straight onto them, no transposes. Two independent jobs side by side
    // (their gemms then run inline).
    parallel_for(2, 1, [&](int64_t b0, int64_t b1) {
      for (int64_t job = b0; job < b1; ++job) {
        if (job == 0) {
          // U = Q_B [U_B 0; 0 I]
          for (int64_t j = 0; j < ku; ++j) {
            T* uj = ut + j * m;
            if (j < n) {
              for (int64_t i = 0; i < n; ++i) uj[i] = static_cast<T>(ub[i + j * n]);
              std::fill(uj + n, uj + m, T(0));
            } else {
              std::fill(uj, uj + m, T(0));
              uj[j] = T(1);
            }
          }
          reflectors_apply_cm(m, n, a, n, true, tauq.get(), ut, m, ku);
        } else {
          // V = diag(1, P') V_B; P's reflectors, right of the superdiagonal of row j of a, are
          // column j of the column-major view at a + 1 with leading dimension n
          for (int64_t i = 0; i < n * n; ++i) vt[i] = static_cast<T>(vb[i]);
          if (n > 1) reflectors_apply_cm(n - 1, n - 1, a + 1, n, false, taup.get(), vt + 1, n, n);
        }
      }
    });
    times.form_ms += clock.lap();
    return;
  }
  if (vectors) {
    // Q_B and P^T are independent: on two threads each is formed serially beside the other
    // (the gemms inside run inline), which beats sharing each of their thin gemms.
    parallel_for(2, 1, [&](int64_t b0, int64_t b1) {
      for (int64_t job = b0; job < b1; ++job) {
        if (job == 0) {
          // Q_B (m x ku) from the left reflectors, transposed into ut.
          Scratch<T> q(static_cast<size_t>(m * ku));
          std::fill(q.get(), q.get() + m * ku, T(0));
          for (int64_t i = 0; i < std::min(m, ku); ++i) q[i * ku + i] = T(1);
          reflectors_apply(m, n, a, n, tauq.get(), q.get(), ku, ku, true);
          for (int64_t i0 = 0; i0 < m; i0 += 32)
            for (int64_t j0 = 0; j0 < ku; j0 += 32)
              for (int64_t i = i0; i < std::min(m, i0 + 32); ++i)
                for (int64_t j = j0; j < std::min(ku, j0 + 32); ++j) ut[j * m + i] = q[i * ku + j];
        } else {
          // P = diag(1, P'), P' from the right reflectors copied into column storage; vt = P^T.
          std::fill(vt, vt + n * n, T(0));
          vt[0] = T(1);
          if (n > 1) {
            const int64_t n1 = n - 1;
            Scratch<T> rv(static_cast<size_t>(n1 * n1)), p(static_cast<size_t>(n1 * n1));
            for (int64_t j = 0; j < n1; ++j)
              for (int64_t r = j + 1; r < n1; ++r) rv[r * n1 + j] = a[j * n + r + 1];
            std::fill(p.get(), p.get() + n1 * n1, T(0));
            for (int64_t i = 0; i < n1; ++i) p[i * n1 + i] = T(1);
            reflectors_apply(n1, n1, rv.get(), n1, taup.get(), p.get(), n1, n1, true);
            for (int64_t r = 0; r < n1; ++r)
              for (int64_t c = 0; c < n1; ++c) vt[(r + 1) * n + c + 1] = p[c * n1 + r];
          }
        }
      }
    });
    times.form_ms += clock.lap();
  }
  const double eps = std::numeric_limits<T>::epsilon() / 2;
  const bool ok = vectors ? bidiagonal_svd<T>(n, d, e.data(), ut, m, m, vt, n, n, eps)
                          : bidiagonal_svd<T>(n, d, e.data(), nullptr, 0, 0, nullptr, 0, 0, eps);
  NT_CHECK(ok, Numeric, "[", kOp, "] the bidiagonal QR iteration did not converge (n = ", n, ")");
  times.solve_ms += clock.lap();
}

// Core: b is the m x n (m >= n) row-major matrix to decompose (destroyed); `wide` says b is
// the transpose of the caller's matrix, so U and V^T swap roles on output.
template <typename T>
void svd_core(int64_t m, int64_t n, T* b, bool wide, bool full, Dest<T> s, const Dest<T>* u, const Dest<T>* vt,
              SvdPhaseTimes& times) {
  Stopwatch clock;
  const bool vectors = u != nullptr;
  const int64_t m0 = wide ? n : m, n0 = wide ? m : n;  // the caller's shape
  if (n == 0) {
    if (vectors && full) {
      write_identity(*u, m0, m0);
      write_identity(*vt, n0, n0);
    }
    return;
  }
  const int64_t ku = full ? m : n;
  std::vector<double> d(static_cast<size_t>(n));
  // Tall enough that QR first saves work (LAPACK's crossover is about 1.6).
  const bool qr_first = 5 * m >= 8 * n && n > 1;
  std::vector<T> tau;
  Scratch<T> r(qr_first ? static_cast<size_t>(n * n) : 0);
  T* work = b;
  int64_t wm = m;
  if (qr_first) {
    tau.resize(static_cast<size_t>(n));
    qr_factor(m, n, b, n, tau.data());
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j) r[i * n + j] = j >= i ? b[i * n + j] : T(0);
    work = r.get();
    wm = n;
    times.qr_ms += clock.lap();
  }
  const int64_t wku = qr_first ? n : ku;  // rows of U^T the bidiagonal route builds
  Scratch<T> ut(vectors ? static_cast<size_t>(wku * wm) : 0), vtb(vectors ? static_cast<size_t>(n * n) : 0);
  svd_bidiagonal_route<T>(wm, n, work, wku, d.data(), vectors ? ut.get() : nullptr, vectors ? vtb.get() : nullptr,
                          times, clock);
  for (int64_t i = 0; i < n; ++i) s.p[i * s.s0] = static_cast<T>(d[i]);
  if (!vectors) return;
  // U of b: ub(i, j) = src[i * urs + j * ucs], m x ku.
  const T* src = ut.get();
  int64_t urs = 1, ucs = m;
  Scratch<T> c(qr_first ? static_cast<size_t>(m * ku) : 0);
  if (qr_first) {
    // U = Q [U_R 0; 0 I] (the identity block only for the full U).
    std::fill(c.get(), c.get() + m * ku, T(0));
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j) c[i * ku + j] = ut[j * n + i];
    for (int64_t i = n; i < ku; ++i) c[i * ku + i] = T(1);
    reflectors_apply(m, n, b, n, tau.data(), c.get(), ku, ku, false);
    src = c.get();
    urs = ku;
    ucs = 1;
  }
  if (!wide) {
    write_matrix(*u, m, ku, src, urs, ucs);
    write_matrix(*vt, n, n, vtb.get(), n, int64_t{1});
  } else {
    write_matrix(*u, n, n, vtb.get(), int64_t{1}, n);  // U = V_b
    write_matrix(*vt, ku, m, src, ucs, urs);            // V^T = U_b^T
  }
  times.back_ms += clock.lap();
}

template <typename T>
Dest<T> dest_of(const TensorView& v) {
  Dest<T> d;
  d.p = v.ptr<T>();
  d.s0 = v.strides[0];
  d.s1 = v.ndim > 1 ? v.strides[1] : 0;
  return d;
}

template <typename T>
void svd_run_typed(const TensorView& a, const TensorView& s, const TensorView* u, const TensorView* vt, bool full) {
  const int64_t m0 = a.shape[0], n0 = a.shape[1];
  const bool wide = m0 < n0;
  const int64_t m = std::max(m0, n0), n = std::min(m0, n0);
  Scratch<T> b(static_cast<size_t>(m * n));
  // Wide: load the transpose, b[j * m0 + i] = a(i, j), i.e. column-major with ld = m0 = n.
  if (m * n > 0) load_matrix<T>(kOp, a, b.get(), n, wide);
  Dest<T> ds = dest_of<T>(s);
  SvdPhaseTimes times;
  if (u) {
    const Dest<T> du = dest_of<T>(*u), dv = dest_of<T>(*vt);
    svd_core<T>(m, n, b.get(), wide, full, ds, &du, &dv, times);
  } else {
    svd_core<T>(m, n, b.get(), wide, full, ds, nullptr, nullptr, times);
  }
}

std::string dims(const TensorView& t) { return shape_string(t); }

}  // namespace

template <typename T>
void svd_dense(int64_t m0, int64_t n0, const T* a, T* s, T* u, T* vt, bool full, SvdPhaseTimes* times) {
  const bool wide = m0 < n0;
  const int64_t m = std::max(m0, n0), n = std::min(m0, n0);
  Scratch<T> b(static_cast<size_t>(m * n));
  bool finite = true;
  for (int64_t i = 0; i < m0; ++i)
    for (int64_t j = 0; j < n0; ++j) {
      const T x = a[i * n0 + j];
      finite = finite && std::isfinite(x);
      if (wide)
        b[j * m0 + i] = x;
      else
        b[i * n0 + j] = x;
    }
  NT_CHECK(finite, Value, "[", kOp, "] input contains NaN or Inf");
  const int64_t k = n, ku = full ? m0 : k, kv = full ? n0 : k;
  Dest<T> ds{s, 1, 0};
  Dest<T> du{u, ku, 1}, dv{vt, n0, 1};
  (void)kv;
  SvdPhaseTimes local;
  svd_core<T>(m, n, b.get(), wide, full, ds, u ? &du : nullptr, u ? &dv : nullptr, times ? *times : local);
}

template void svd_dense<float>(int64_t, int64_t, const float*, float*, float*, float*, bool, SvdPhaseTimes*);
template void svd_dense<double>(int64_t, int64_t, const double*, double*, double*, double*, bool, SvdPhaseTimes*);

void svd_check(const TensorView& a, const TensorView& s, const TensorView* u, const TensorView* vt, bool full) {
  NT_CHECK(a.ndim == 2, Shape, "[", kOp, "] expected a 2-D tensor, got shape ", dims(a));
  NT_CHECK(a.dtype == DType::F32 || a.dtype == DType::F64 || a.dtype == DType::F16 || a.dtype == DType::BF16,
           DType, "[", kOp, "] expected a float tensor (f32, f64, f16, bf16), got ", dtype_name(a.dtype));
  const DType out = a.dtype == DType::F64 ? DType::F64 : DType::F32;
  const int64_t m = a.shape[0], n = a.shape[1], k = std::min(m, n);
  NT_CHECK(s.ndim == 1 && s.shape[0] == k, Shape, "[", kOp, "] s must have shape [", k, "], got ", dims(s));
  NT_CHECK(s.dtype == out, DType, "[", kOp, "] s must be ", dtype_name(out), ", got ", dtype_name(s.dtype));
  NT_CHECK((u == nullptr) == (vt == nullptr), Value, "[", kOp, "] u and vt must both be given or both be absent");
  if (!u) return;
  const int64_t ku = full ? m : k, kv = full ? n : k;
  NT_CHECK(u->ndim == 2 && u->shape[0] == m && u->shape[1] == ku, Shape, "[", kOp, "] u must have shape [", m, ",",
           ku, "], got ", dims(*u));
  NT_CHECK(vt->ndim == 2 && vt->shape[0] == kv && vt->shape[1] == n, Shape, "[", kOp, "] vt must have shape [", kv,
           ",", n, "], got ", dims(*vt));
  NT_CHECK(u->dtype == out && vt->dtype == out, DType, "[", kOp, "] u and vt must be ", dtype_name(out), ", got ",
           dtype_name(u->dtype), " and ", dtype_name(vt->dtype));
}

void svd_run(const TensorView& a, const TensorView& s, const TensorView* u, const TensorView* vt, bool full) {
  if (a.dtype == DType::F64)
    svd_run_typed<double>(a, s, u, vt, full);
  else
    svd_run_typed<float>(a, s, u, vt, full);
}

}  // namespace nt::linalg
