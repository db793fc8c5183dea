// nt.linalg.eigh front end: checks, the working copy, and the three phases (see eigh.h).
#include "eigh.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <vector>

#include "../core/scratch.h"
#include "tridiagonal_dc.h"
#include "tridiagonalize.h"

namespace nt {
namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

constexpr int64_t kTile = 64;

template <typename T>
void run(const TensorView& a, const TensorView& values, const TensorView* vectors, int64_t first,
         EighPhaseTimes* times) {
  const int64_t n = a.shape[0];
  const int64_t k = values.shape[0];
  if (n == 0) return;
  auto t0 = Clock::now();
  const T* src = a.ptr<T>();
  const int64_t s0 = a.strides[0], s1 = a.strides[1];
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j)
      NT_CHECK(std::isfinite(src[i * s0 + j * s1]), Value, "[linalg.eigh] input contains NaN or Inf (at [", i, ", ", j,
               "])");
  // column-major working copy of the lower triangle: work(i, j) = a[i][j], i >= j (tiled: the
  // source is read along rows, the copy written along columns)
  Scratch<T> work(static_cast<size_t>(n * n));
  T* w = work.get();
  for (int64_t jb = 0; jb < n; jb += kTile)
    for (int64_t ib = jb; ib < n; ib += kTile)
      for (int64_t i = ib; i < std::min(ib + kTile, n); ++i)
        for (int64_t j = jb; j < std::min({jb + kTile, n, i + 1}); ++j) w[i + j * n] = src[i * s0 + j * s1];
  if (times) times->copy = seconds_since(t0);

  t0 = Clock::now();
  std::vector<T> d(n), e(n), tau(n);
  tridiagonalize<T>(n, w, n, d.data(), e.data(), tau.data());
  if (times) times->tridiagonalize = seconds_since(t0);

  // the tridiagonal problem in float64, scaled by a power of two (exact) so its largest entry is
  // in [0.5, 1): no overflow or underflow in the rotations and the secular equation
  t0 = Clock::now();
  std::vector<double> dd(n), ee(n, 0.0);
  double mx = 0;
  for (int64_t i = 0; i < n; ++i) {
    dd[i] = d[i];
    if (i + 1 < n) ee[i] = e[i];
    mx = std::max({mx, std::fabs(dd[i]), std::fabs(ee[i])});
  }
  int ex = 0;
  if (mx > 0) std::frexp(mx, &ex);
  for (int64_t i = 0; i < n; ++i) {
    dd[i] = std::ldexp(dd[i], -ex);
    ee[i] = std::ldexp(ee[i], -ex);
  }
  T* vals = values.ptr<T>();
  if (!vectors) {
    tridiagonal_eigenvalues(n, dd.data(), ee.data());
    for (int64_t c = 0; c < k; ++c) vals[c] = static_cast<T>(std::ldexp(dd[first + c], ex));
    if (times) times->tridiagonal_solve = seconds_since(t0);
    return;
  }
  Scratch<double> z(static_cast<size_t>(n * n));
  tridiagonal_eigen_dc(n, dd.data(), ee.data(), z.get(), n);
  for (int64_t c = 0; c < k; ++c) vals[c] = static_cast<T>(std::ldexp(dd[first + c], ex));
  if (times) times->tridiagonal_solve = seconds_since(t0);

  // selected tridiagonal eigenvectors into the row-major output, then V = Q Z in place
  t0 = Clock::now();
  T* v = vectors->ptr<T>();
  const double* zp = z.get() + first * n;
  for (int64_t rb = 0; rb < n; rb += kTile)
    for (int64_t cb = 0; cb < k; cb += kTile)
      for (int64_t r = rb; r < std::min(rb + kTile, n); ++r)
        for (int64_t c = cb; c < std::min(cb + kTile, k); ++c) v[r * k + c] = static_cast<T>(zp[r + c * n]);
  apply_tridiagonal_q<T>(n, w, n, tau.data(), v, k, k);
  if (times) times->back_transform = seconds_since(t0);
}

}  // namespace

void eigh_check(const TensorView& a, const TensorView& values, const TensorView* vectors, int64_t first) {
  NT_CHECK(a.ndim == 2, Shape, "[linalg.eigh] expected a 2-D tensor, got shape ", shape_string(a));
  NT_CHECK(a.shape[0] == a.shape[1], Shape, "[linalg.eigh] expected a square matrix, got shape ", shape_string(a));
  NT_CHECK(a.dtype == DType::F32 || a.dtype == DType::F64, DType, "[linalg.eigh] expected f32 or f64, got ",
           dtype_name(a.dtype));
  const int64_t n = a.shape[0];
  NT_CHECK(values.ndim == 1 && values.shape[0] <= n && values.is_contiguous(), Shape,
           "[linalg.eigh] values must be a contiguous 1-D tensor of at most ", n, " elements, got shape ",
           shape_string(values));
  NT_CHECK(values.dtype == a.dtype, DType, "[linalg.eigh] values must be ", dtype_name(a.dtype), ", got ",
           dtype_name(values.dtype));
  const int64_t k = values.shape[0];
  NT_CHECK(first >= 0 && first + k <= n, Value, "[linalg.eigh] first index must be in [0, ", n - k, "], got ", first);
  if (vectors) {
    NT_CHECK(vectors->ndim == 2 && vectors->shape[0] == n && vectors->shape[1] == k && vectors->is_contiguous(), Shape,
             "[linalg.eigh] vectors must be a contiguous [", n, ", ", k, "] tensor, got shape ", shape_string(*vectors));
    NT_CHECK(vectors->dtype == a.dtype, DType, "[linalg.eigh] vectors must be ", dtype_name(a.dtype), ", got ",
             dtype_name(vectors->dtype));
  }
}

void eigh_run(const TensorView& a, const TensorView& values, const TensorView* vectors, int64_t first,
              EighPhaseTimes* times) {
  if (a.dtype == DType::F32) run<float>(a, values, vectors, first, times);
  else run<double>(a, values, vectors, first, times);
}

}  // namespace nt
