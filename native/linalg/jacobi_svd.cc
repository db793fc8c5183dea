// One-sided Jacobi SVD (see jacobi_svd.h).
#include "jacobi_svd.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "../core/error.h"

namespace nt::linalg {
namespace {

constexpr int kMaxSweeps = 60;

double dot(int64_t n, const double* x, const double* y) {
  double s0 = 0, s1 = 0;
  int64_t i = 0;
  for (; i + 2 <= n; i += 2) {
    s0 += x[i] * y[i];
    s1 += x[i + 1] * y[i + 1];
  }
  if (i < n) s0 += x[i] * y[i];
  return s0 + s1;
}

// x := x - (y . x) y for each of the `count` unit vectors y (length n, stride n).
void project_out(int64_t n, double* x, const double* ys, int64_t count) {
  for (int64_t r = 0; r < count; ++r) {
    const double* y = ys + r * n;
    const double f = dot(n, y, x);
    for (int64_t i = 0; i < n; ++i) x[i] -= f * y[i];
  }
}

// Columns 0..count-1 of `cols` (length n each) are orthonormal; make column `count` a unit
// vector orthogonal to them: its own direction if it survives two Gram-Schmidt passes with at
// least half its norm, else the first coordinate vector that does.
void orthonormal_completion(int64_t n, double* cols, int64_t count) {
  double* x = cols + count * n;
  const double before = std::sqrt(dot(n, x, x));
  if (before > 0 && std::isfinite(before)) {
    for (int64_t i = 0; i < n; ++i) x[i] /= before;
    project_out(n, x, cols, count);
    project_out(n, x, cols, count);
    const double after = std::sqrt(dot(n, x, x));
    if (after > 0.5) {
      for (int64_t i = 0; i < n; ++i) x[i] /= after;
      return;
    }
  }
  for (int64_t t = 0; t < n; ++t) {
    std::fill(x, x + n, 0.0);
    x[t] = 1;
    project_out(n, x, cols, count);
    project_out(n, x, cols, count);
    const double after = std::sqrt(dot(n, x, x));
    if (after > 0.5) {
      for (int64_t i = 0; i < n; ++i) x[i] /= after;
      return;
    }
  }
}

}  // namespace

void jacobi_svd(int64_t m, int64_t n, const double* a, int64_t lda, double* u, int64_t ldu, double* s, double* vt,
                int64_t ldvt) {
  const int64_t p = std::min(m, n);
  if (p == 0) return;
  // Orthogonalize the p columns of A (m >= n) or of A^T (m < n): length `len` each.
  const bool tr = m < n;
  const int64_t len = tr ? n : m;
  std::vector<double> g(static_cast<size_t>(len * p)), v(static_cast<size_t>(p * p), 0.0);
  double big = 0;
  for (int64_t j = 0; j < p; ++j)
    for (int64_t i = 0; i < len; ++i) {
      const double x = tr ? a[j * lda + i] : a[i * lda + j];
      g[j * len + i] = x;
      big = std::max(big, std::fabs(x));
    }
  // Unit scale keeps the squared norms inside the exponent range.
  const double scale = big > 0 ? big : 1;
  for (double& x : g) x /= scale;
  for (int64_t j = 0; j < p; ++j) v[j * p + j] = 1;

  const double tol = std::sqrt(static_cast<double>(len)) * 2.220446049250313e-16;
  bool converged = false;
  for (int sweep = 0; sweep < kMaxSweeps && !converged; ++sweep) {
    converged = true;
    for (int64_t i = 0; i + 1 < p; ++i)
      for (int64_t j = i + 1; j < p; ++j) {
        double* gi = g.data() + i * len;
        double* gj = g.data() + j * len;
        const double alpha = dot(len, gi, gi), beta = dot(len, gj, gj), gamma = dot(len, gi, gj);
        if (gamma == 0 || std::fabs(gamma) <= tol * std::sqrt(alpha) * std::sqrt(beta)) continue;
        converged = false;
        // The rotation that zeroes the (i, j) entry of G^T G, smaller angle (|t| <= 1).
        const double zeta = (beta - alpha) / (2 * gamma);
        const double t = std::fabs(zeta) > 1e150 ? 0.5 / zeta
                                                  : std::copysign(1.0, zeta) / (std::fabs(zeta) + std::sqrt(1 + zeta * zeta));
        const double c = 1 / std::sqrt(1 + t * t), sn = c * t;
        for (int64_t r = 0; r < len; ++r) {
          const double x = gi[r], y = gj[r];
          gi[r] = c * x - sn * y;
          gj[r] = sn * x + c * y;
        }
        double* vi = v.data() + i * p;
        double* vj = v.data() + j * p;
        for (int64_t r = 0; r < p; ++r) {
          const double x = vi[r], y = vj[r];
          vi[r] = c * x - sn * y;
          vj[r] = sn * x + c * y;
        }
      }
  }
  NT_CHECK(converged, Numeric, "[linalg.jacobiSvd] one-sided Jacobi did not converge in ", kMaxSweeps, " sweeps");

  std::vector<double> sigma(static_cast<size_t>(p));
  for (int64_t j = 0; j < p; ++j) sigma[j] = std::sqrt(dot(len, g.data() + j * len, g.data() + j * len));
  std::vector<int64_t> order(static_cast<size_t>(p));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t x, int64_t y) { return sigma[x] > sigma[y]; });

  // Left vectors of the orthogonalized side, sorted; the tiny ones are re-orthogonalized (and
  // exact zeros completed) so the factor is orthonormal whatever the rank.
  std::vector<double> w(static_cast<size_t>(len * p));
  const double tiny = sigma[order[0]] * 1e-12;
  for (int64_t r = 0; r < p; ++r) {
    const double* src = g.data() + order[r] * len;
    double* dst = w.data() + r * len;
    const double sg = sigma[order[r]];
    if (sg > tiny) {
      for (int64_t i = 0; i < len; ++i) dst[i] = src[i] / sg;
    } else {
      std::copy(src, src + len, dst);
      orthonormal_completion(len, w.data(), r);
    }
    s[r] = sg * scale;
  }
  // A V = G  =>  A = (G / sigma) diag(sigma) V^T; for A^T the roles of U and V swap.
  for (int64_t r = 0; r < p; ++r) {
    const double* wr = w.data() + r * len;
    const double* vr = v.data() + order[r] * p;
    if (!tr) {
      for (int64_t i = 0; i < m; ++i) u[i * ldu + r] = wr[i];
      for (int64_t i = 0; i < n; ++i) vt[r * ldvt + i] = vr[i];
    } else {
      for (int64_t i = 0; i < m; ++i) u[i * ldu + r] = vr[i];
      for (int64_t i = 0; i < n; ++i) vt[r * ldvt + i] = wr[i];
    }
  }
}

}  // namespace nt::linalg
