// Tridiagonal eigensolvers: implicit QL (values only, and the leaves of divide and conquer)
// and Cuppen's divide and conquer with the Gu-Eisenstat eigenvector formula.
// References: LAPACK dstedc/dlaed0-4 (structure and deflation rule); R.-C. Li, "Solving
// secular equations stably and efficiently" (1993) for the middle-way rational step;
// Gu & Eisenstat, SIMAX 16 (1995) for the recomputed weights (Löwner's theorem).
#include "tridiagonal_dc.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <numeric>
#include <vector>

#include "../core/error.h"
#include "../core/thread_pool.h"
#include "../cpu/gemm.h"
#include "eigh_kernels.h"

namespace nt {
namespace {

constexpr double kEps = DBL_EPSILON;

// sqrt(a^2 + b^2): the plain form when it neither overflows nor underflows (the inner loop of QL
// runs it per rotation; std::hypot costs several times more).
inline double pythag(double a, double b) {
  const double s = a * a + b * b;
  if (s > 1e-280 && s < 1e280) return std::sqrt(s);
  return std::hypot(a, b);
}

// Column-major C[m x n] = alpha op(A) op(B) + beta C through the row-major gemm: the row-major
// view of a column-major matrix is its transpose, so C^T = op(B)^T op(A)^T.
inline void gemm_cm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha, const double* a, int64_t lda,
                    const double* b, int64_t ldb, double beta, double* c, int64_t ldc) {
  gemm_f64(tb, ta, n, m, k, alpha, b, ldb, a, lda, beta, c, ldc);
}

// Implicit QL with Wilkinson shifts (the EISPACK tql2 / JAMA form). z == nullptr: values only.
// Convergence test is relative to the largest |d| + |e| seen so far (absolute accuracy eps*||T||).
void ql_implicit(int64_t n, double* d, const double* e_in, double* z, int64_t ldz) {
  if (n <= 0) return;
  std::vector<double> e(n, 0.0);
  for (int64_t i = 0; i + 1 < n; ++i) e[i] = e_in[i];
  double f = 0, tst1 = 0;
  for (int64_t l = 0; l < n; ++l) {
    tst1 = std::max(tst1, std::fabs(d[l]) + std::fabs(e[l]));
    int64_t m = l;
    while (m < n - 1 && std::fabs(e[m]) > kEps * tst1) ++m;
    if (m > l) {
      int iter = 0;
      do {
        NT_CHECK(++iter <= 100, Numeric, "[linalg.eigh] tridiagonal QL iteration did not converge for eigenvalue ", l);
        double g = d[l];
        double p = (d[l + 1] - g) / (2.0 * e[l]);
        double r = std::hypot(p, 1.0);
        if (p < 0) r = -r;
        d[l] = e[l] / (p + r);
        d[l + 1] = e[l] * (p + r);
        const double dl1 = d[l + 1];
        double h = g - d[l];
        for (int64_t i = l + 2; i < n; ++i) d[i] -= h;
        f += h;
        p = d[m];
        double c = 1, c2 = 1, c3 = 1, s = 0, s2 = 0;
        const double el1 = e[l + 1];
        for (int64_t i = m - 1; i >= l; --i) {
          c3 = c2;
          c2 = c;
          s2 = s;
          g = c * e[i];
          h = c * p;
          r = pythag(p, e[i]);
          e[i + 1] = s * r;
          s = e[i] / r;
          c = p / r;
          p = c * d[i] - s * g;
          d[i + 1] = h + s * (c * g + s * d[i]);
          if (z) {
            double* zi = z + i * ldz;
            double* zi1 = zi + ldz;
            for (int64_t k = 0; k < n; ++k) {
              const double t = zi1[k];
              zi1[k] = s * zi[k] + c * t;
              zi[k] = c * zi[k] - s * t;
            }
          }
        }
        p = -s * s2 * c3 * el1 * e[l] / dl1;
        e[l] = s * p;
        d[l] = c * p;
        NT_CHECK(std::isfinite(d[l]) && std::isfinite(e[l]), Numeric,
                 "[linalg.eigh] tridiagonal QL iteration produced a non-finite value");
      } while (std::fabs(e[l]) > kEps * tst1);
    }
    d[l] += f;
    e[l] = 0;
  }
  // ascending order (selection sort: n is small when vectors are accumulated; values-only uses std::sort)
  if (!z) {
    std::sort(d, d + n);
    return;
  }
  for (int64_t i = 0; i + 1 < n; ++i) {
    int64_t k = i;
    for (int64_t j = i + 1; j < n; ++j)
      if (d[j] < d[k]) k = j;
    if (k != i) {
      std::swap(d[i], d[k]);
      std::swap_ranges(z + i * ldz, z + i * ldz + n, z + k * ldz);
    }
  }
}

}  // namespace

// The step models f near tau by c + s/(dl_a - x) + S/(dl_b - x) with the two poles that bracket
// the root (the last two poles for the last root), matching f, and the derivatives of the left
// and right parts separately (Li's middle way); steps leaving the bracket fall back to bisection.
double secular_root(int64_t k, const double* dl, const double* w, double rho, int64_t i, double* delta,
                    const double* sq, double* tau_out, int64_t* origin_out, const char* op) {
  // pole differences dl_j - dl_o; from the square roots (the SVD's poles d^2) as a product
  // of a difference and a sum, exact to a few ulps even where d_j^2 and d_o^2 round alike
  auto diff = [&](int64_t j, int64_t o) { return sq ? (sq[j] - sq[o]) * (sq[j] + sq[o]) : dl[j] - dl[o]; };
  if (k == 1) {
    const double tau = rho * w[0] * w[0];
    delta[0] = -tau;
    if (tau_out) *tau_out = tau;
    if (origin_out) *origin_out = 0;
    return dl[0] + tau;
  }
  const double rhoinv = 1.0 / rho;
  const bool last = i == k - 1;
  const SecularSums sums_of = kernels().eigh_secular_sums;
  int64_t org;
  double lo, hi, tau;
  if (!last) {
    // which half of (dl_i, dl_{i+1}) holds the root decides the origin
    for (int64_t j = 0; j < k; ++j) delta[j] = diff(j, i);
    const double half = delta[i + 1] / 2;
    double sm[3] = {0, 0, 0};
    sums_of(delta, w, k, half, sm);
    if (rhoinv + sm[0] >= 0) {
      org = i;
      lo = 0;
      hi = half;
      tau = half;
    } else {
      org = i + 1;
      lo = sq ? half - delta[i + 1] : (dl[i] + half) - dl[i + 1];
      hi = 0;
      tau = lo;
    }
  } else {
    org = k - 1;
    double wsum = 0;
    for (int64_t j = 0; j < k; ++j) wsum += w[j] * w[j];
    lo = 0;
    hi = rho * wsum;  // f(hi) >= 0: every pole lies left of hi
    tau = hi / 2;
  }
  const double base = dl[org];
  // the two model poles: the bracketing pair, or the last two for the last root
  const int64_t ia = last ? k - 2 : i;
  const int64_t ib = ia + 1;
  if (org != i || last)
    for (int64_t j = 0; j < k; ++j) delta[j] = diff(j, org);
  const double pa = delta[ia], pb = delta[ib];
  bool converged = false;
  for (int iter = 0; iter < 400; ++iter) {
    double left[3] = {0, 0, 0}, right[3] = {0, 0, 0};
    sums_of(delta, w, ia + 1, tau, left);
    sums_of(delta + ib, w + ib, k - ib, tau, right);
    const double psi = left[0], dpsi = left[1], phi = right[0], dphi = right[1], erretm = left[2] + right[2];
    const double f = rhoinv + psi + phi;
    const double df = dpsi + dphi;
    if (!std::isfinite(f)) break;
    if (std::fabs(f) <= kEps * (10 * erretm + 2 * rhoinv + 3 * std::fabs(tau) * df)) {
      converged = true;
      break;
    }
    if (f < 0) lo = std::max(lo, tau);
    else hi = std::min(hi, tau);
    if (hi - lo <= 2 * kEps * std::max(std::fabs(lo), std::fabs(hi))) {
      converged = true;
      break;
    }
    double next = NAN;
    if (iter < 40) {
      const double da = pa - tau, db = pb - tau;
      const double c = f - da * dpsi - db * dphi;
      const double a = (da + db) * f - da * db * df;
      const double b = da * db * f;
      // roots of c x^2 - a x + b = 0, stably; keep the smaller step that stays inside the bracket
      double r1 = NAN, r2 = NAN;
      if (c == 0) {
        if (a != 0) r1 = b / a;
      } else {
        const double sq = std::sqrt(std::fabs(a * a - 4 * b * c));
        const double q = a >= 0 ? (a + sq) / 2 : (a - sq) / 2;
        r1 = q / c;
        if (q != 0) r2 = b / q;
      }
      for (const double eta : {r1, r2}) {
        const double t = tau + eta;
        if (std::isfinite(t) && t > lo && t < hi && (std::isnan(next) || std::fabs(eta) < std::fabs(next - tau))) next = t;
      }
      if (std::isnan(next) && df > 0) {  // Newton, if it stays inside
        const double t = tau - f / df;
        if (t > lo && t < hi) next = t;
      }
    }
    if (std::isnan(next)) next = lo + (hi - lo) / 2;
    if (next == tau) {
      converged = true;
      break;
    }
    tau = next;
  }
  NT_CHECK(converged, Numeric, "[", op, "] secular equation did not converge for root ", i, " of ", k);
  for (int64_t j = 0; j < k; ++j) delta[j] -= tau;
  if (tau_out) *tau_out = tau;
  if (origin_out) *origin_out = org;
  return base + tau;
}

namespace {

// One merge: on entry d[0..m) and d[m..n) hold the eigenvalues (in any order) of the two torn
// halves and the diagonal blocks of q their eigenvectors; beta is the coupling e[m-1] that was
// torn off. On exit d holds the eigenvalues of the whole block (the secular roots first, then the
// deflated ones; tridiagonal_eigen_dc sorts once at the end) and q the matching eigenvectors.
void dc_merge(int64_t n, int64_t m, double* d, double* q, int64_t ldq, double beta) {
  for (int64_t j = 0; j < m; ++j) std::fill(q + j * ldq + m, q + j * ldq + n, 0.0);
  for (int64_t j = m; j < n; ++j) std::fill(q + j * ldq, q + j * ldq + m, 0.0);
  // T = Q (D + rho z z^T) Q^T, z = [last row of Q1; sign(beta) first row of Q2] / sqrt(2), ||z|| = 1
  const double rho = 2 * std::fabs(beta);
  const double zs2 = (beta < 0 ? -1.0 : 1.0) / std::sqrt(2.0);
  // the halves come back unsorted (sorting every merge's output would cost two passes over q)
  std::vector<int64_t> col(n);
  std::iota(col.begin(), col.end(), int64_t{0});
  std::sort(col.begin(), col.end(), [&](int64_t x, int64_t y) { return d[x] < d[y] || (d[x] == d[y] && x < y); });
  std::vector<double> ds(n), zs(n);
  std::vector<int> type(n);  // 1: rows [0, m) only, 3: rows [m, n) only, 2: both
  double dmax = 0, zmax = 0;
  for (int64_t t = 0; t < n; ++t) {
    const int64_t c = col[t];
    ds[t] = d[c];
    zs[t] = c < m ? q[(m - 1) + c * ldq] / std::sqrt(2.0) : zs2 * q[m + c * ldq];
    type[t] = c < m ? 1 : 3;
    dmax = std::max(dmax, std::fabs(ds[t]));
    zmax = std::max(zmax, std::fabs(zs[t]));
  }
  const double tol = 8 * kEps * std::max(dmax, zmax);
  // deflation (LAPACK dlaed2): a negligible weight leaves (d, column) as they are; two poles
  // closer than tol / |cs| are rotated so that one weight vanishes
  std::vector<int64_t> keep, gone;  // indices into the sorted arrays
  keep.reserve(n);
  int64_t pj = -1;
  for (int64_t t = 0; t < n; ++t) {
    if (rho * std::fabs(zs[t]) <= tol) {
      gone.push_back(t);
      continue;
    }
    if (pj < 0) {
      pj = t;
      continue;
    }
    double s = zs[pj], c = zs[t];
    const double tau = std::hypot(c, s);
    const double diff = ds[t] - ds[pj];
    c /= tau;
    s = -s / tau;
    if (std::fabs(diff * c * s) <= tol) {
      zs[t] = tau;
      zs[pj] = 0;
      if (type[t] != type[pj]) type[t] = 2;
      double* qp = q + col[pj] * ldq;
      double* qt = q + col[t] * ldq;
      for (int64_t r = 0; r < n; ++r) {
        const double x = qp[r], y = qt[r];
        qp[r] = c * x + s * y;
        qt[r] = c * y - s * x;
      }
      const double dp = ds[pj] * c * c + ds[t] * s * s;
      ds[t] = ds[pj] * s * s + ds[t] * c * c;
      ds[pj] = dp;
      gone.push_back(pj);
    } else {
      keep.push_back(pj);
    }
    pj = t;
  }
  if (pj >= 0) keep.push_back(pj);
  const int64_t k = static_cast<int64_t>(keep.size());

  std::vector<double> lam(k);
  // the deflated pairs are set aside; the roots' vectors then go straight into q's first k columns
  const int64_t nd = static_cast<int64_t>(gone.size());
  std::vector<double> dvals(nd), dcols(n * nd);
  for (int64_t b = 0; b < nd; ++b) {
    dvals[b] = ds[gone[b]];
    std::memcpy(dcols.data() + b * n, q + col[gone[b]] * ldq, n * sizeof(double));
  }
  if (k > 0) {
    std::vector<double> dl(k), w(k);
    for (int64_t i = 0; i < k; ++i) {
      dl[i] = ds[keep[i]];
      w[i] = zs[keep[i]];
    }
    // roots; delta row j = dl - lambda_j
    std::vector<double> delta(k * k);
    parallel_for(k, 8, [&](int64_t j0, int64_t j1) {
      for (int64_t j = j0; j < j1; ++j) lam[j] = secular_root(k, dl.data(), w.data(), rho, j, delta.data() + j * k);
    });
    // Gu-Eisenstat: the weights for which the computed roots are exact,
    // zhat_i^2 = -prod_j (dl_i - lambda_j) / prod_{j != i} (dl_i - dl_j), sign of w_i
    std::vector<double> zhat(k);
    parallel_for(k, 64, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) zhat[i] = delta[i * k + i];
      for (int64_t j = 0; j < k; ++j) {
        const double* dj = delta.data() + j * k;
        const double dlj = dl[j];
        // i == j is skipped: two plain loops that vectorise
        for (int64_t i = i0; i < std::min(i1, j); ++i) zhat[i] *= dj[i] / (dl[i] - dlj);
        for (int64_t i = std::max(i0, j + 1); i < i1; ++i) zhat[i] *= dj[i] / (dl[i] - dlj);
      }
      for (int64_t i = i0; i < i1; ++i) zhat[i] = std::copysign(std::sqrt(std::fabs(zhat[i])), w[i]);
    });
    // group the poles by row support so each half of the product skips the zero blocks
    std::vector<int64_t> order;
    order.reserve(k);
    for (int g : {1, 2, 3})
      for (int64_t i = 0; i < k; ++i)
        if (type[keep[i]] == g) order.push_back(i);
    std::vector<int64_t> pos(k);
    for (int64_t g = 0; g < k; ++g) pos[order[g]] = g;
    int64_t n1 = 0, n2 = 0;
    for (int64_t i = 0; i < k; ++i) {
      n1 += type[keep[i]] == 1;
      n2 += type[keep[i]] == 2;
    }
    std::vector<double> ug(k * k);  // column j: the eigenvector of root j, rows in the grouped pole order
    parallel_for(k, 16, [&](int64_t j0, int64_t j1) {
      std::vector<double> s(k);
      const DivideSumsq divide_sumsq = kernels().eigh_divide_sumsq;
      for (int64_t j = j0; j < j1; ++j) {
        const double nrm = divide_sumsq(zhat.data(), delta.data() + j * k, s.data(), k);
        const double inv = 1.0 / std::sqrt(nrm);
        double* u = ug.data() + j * k;
        for (int64_t i = 0; i < k; ++i) u[pos[i]] = s[i] * inv;
      }
    });
    // gather the old columns in grouped order and multiply: top rows use groups 1-2, bottom 2-3
    std::vector<double> qc(n * k);
    for (int64_t g = 0; g < k; ++g) std::memcpy(qc.data() + g * n, q + col[keep[order[g]]] * ldq, n * sizeof(double));
    const int64_t top = n1 + n2, bottom = k - n1;
    if (top > 0) gemm_cm(false, false, m, k, top, 1.0, qc.data(), n, ug.data(), k, 0.0, q, ldq);
    if (bottom > 0) gemm_cm(false, false, n - m, k, bottom, 1.0, qc.data() + m + n1 * n, n, ug.data() + n1, k, 0.0, q + m, ldq);
    if (top == 0)
      for (int64_t j = 0; j < k; ++j) std::fill(q + j * ldq, q + j * ldq + m, 0.0);
    if (bottom == 0)
      for (int64_t j = 0; j < k; ++j) std::fill(q + j * ldq + m, q + j * ldq + n, 0.0);
  }
  for (int64_t j = 0; j < k; ++j) d[j] = lam[j];
  for (int64_t b = 0; b < nd; ++b) {
    d[k + b] = dvals[b];
    std::memcpy(q + (k + b) * ldq, dcols.data() + b * n, n * sizeof(double));
  }
}

void dc_solve(int64_t n, double* d, double* e, double* q, int64_t ldq) {
  if (n <= kTridiagonalLeafSize) {
    tridiagonal_eigen_ql(n, d, e, q, ldq);
    return;
  }
  const int64_t m = n / 2;
  const double beta = e[m - 1];
  d[m - 1] -= std::fabs(beta);
  d[m] -= std::fabs(beta);
  // the halves are independent: on two threads they run side by side (nested parallel loops
  // then run inline, which changes nothing in the arithmetic)
  auto half = [&](int64_t h) {
    if (h == 0) dc_solve(m, d, e, q, ldq);
    else dc_solve(n - m, d + m, e + m, q + m + m * ldq, ldq);
  };
  if (n >= 128) {
    parallel_for(2, 1, [&](int64_t h0, int64_t h1) {
      for (int64_t h = h0; h < h1; ++h) half(h);
    });
  } else {
    half(0);
    half(1);
  }
  dc_merge(n, m, d, q, ldq, beta);
}

}  // namespace

void tridiagonal_eigen_ql(int64_t n, double* d, double* e, double* z, int64_t ldz) {
  for (int64_t j = 0; j < n; ++j) {
    std::fill(z + j * ldz, z + j * ldz + n, 0.0);
    z[j + j * ldz] = 1.0;
  }
  ql_implicit(n, d, e, z, ldz);
}

void tridiagonal_eigenvalues(int64_t n, double* d, double* e) { ql_implicit(n, d, e, nullptr, 0); }

void tridiagonal_eigen_dc(int64_t n, double* d, double* e, double* z, int64_t ldz) {
  if (n <= 0) return;
  dc_solve(n, d, e, z, ldz);
  // ascending order: permute the columns in place, one cycle at a time
  std::vector<int64_t> perm(n);
  std::iota(perm.begin(), perm.end(), int64_t{0});
  std::sort(perm.begin(), perm.end(), [&](int64_t x, int64_t y) { return d[x] < d[y] || (d[x] == d[y] && x < y); });
  std::vector<double> dsorted(n), tmp(n);
  for (int64_t j = 0; j < n; ++j) dsorted[j] = d[perm[j]];
  std::copy(dsorted.begin(), dsorted.end(), d);
  std::vector<char> placed(n, 0);
  for (int64_t s = 0; s < n; ++s) {
    if (placed[s] || perm[s] == s) continue;
    // column j takes old column perm[j]
    std::memcpy(tmp.data(), z + s * ldz, n * sizeof(double));
    int64_t j = s;
    while (perm[j] != s) {
      std::memcpy(z + j * ldz, z + perm[j] * ldz, n * sizeof(double));
      placed[j] = 1;
      j = perm[j];
    }
    std::memcpy(z + j * ldz, tmp.data(), n * sizeof(double));
    placed[j] = 1;
  }
}

}  // namespace nt
