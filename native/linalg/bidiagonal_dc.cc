// Divide-and-conquer bidiagonal SVD (see bidiagonal_dc.h). Notation follows LAPACK lasd1-3:
// a node covers rows r0 .. r0+n-1 and columns r0 .. r0+n-1+sqre of B (sqre = 1: one extra
// column, what a left half has: the coupling e to the middle row's column). Splitting at the
// middle row nl,
//   B = [B1 0; alpha e_nl^T beta e_0^T; 0 B2],  B1 = U1 [D1 0] V1^T (nl x nl+1),
//                                              B2 = U2 [D2 0] V2^T (nr x nr+sqre),
// so B = diag(U1, 1, U2) M diag(V1, V2)^T with M = [z^T; 0 D] after moving the middle row
// first: z = [alpha * last row of V1, beta * first row of V2], D = diag(0, D1, D2). The
// singular values of M are the roots s_i of 1 + sum_j z_j^2 / (d_j^2 - s^2) (d_0 = 0), its
// right vectors v_i ~ z_j / (d_j^2 - s_i^2), its left ones u_i ~ [-1; d_j z_j / (d_j^2 - s_i^2)].
#include "bidiagonal_dc.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <numeric>
#include <vector>

#include "../core/error.h"
#include "../core/page_advice.h"
#include "../core/scratch.h"
#include "../core/thread_pool.h"
#include "../cpu/gemm.h"
#include "bidiagonal_svd.h"
#include "eigh_kernels.h"
#include "tridiagonal_dc.h"

namespace nt::svd_detail {
namespace {

constexpr const char* kOp = "linalg.svd";
constexpr double kEps = DBL_EPSILON;

// Column-major C (m x n) = A (m x k) B (k x n) through the row-major gemm (C^T = B^T A^T).
inline void gemm_cm(int64_t m, int64_t n, int64_t k, const double* a, int64_t lda, const double* b, int64_t ldb,
                    double* c, int64_t ldc) {
  gemm_f64(false, false, n, m, k, 1.0, b, ldb, a, lda, 0.0, c, ldc);
}

// x <- c x + s y, y <- c y - s x over n elements.
inline void rotate(int64_t n, double* x, double* y, double c, double s) {
  for (int64_t i = 0; i < n; ++i) {
    const double a = x[i], b = y[i];
    x[i] = c * a + s * b;
    y[i] = c * b - s * a;
  }
}

struct Problem {
  double* d;
  double* e;
  double* u;
  int64_t ldu;
  double* v;
  int64_t ldv;
};

// A leaf: the QR iteration on the node's block. With the extra column (sqre), rotations from
// the right first chase its entry up and out (B G = [B' 0], G accumulated into V), so the
// square B' goes to the QR iteration and G's last column is the node's null vector.
void solve_leaf(const Problem& p, int64_t r0, int64_t n, int sqre) {
  const int64_t m = n + sqre;
  double* u = p.u + r0 + r0 * p.ldu;
  double* v = p.v + r0 + r0 * p.ldv;
  for (int64_t j = 0; j < n; ++j) {
    std::fill(u + j * p.ldu, u + j * p.ldu + n, 0.0);
    u[j + j * p.ldu] = 1;
  }
  for (int64_t j = 0; j < m; ++j) {
    std::fill(v + j * p.ldv, v + j * p.ldv + m, 0.0);
    v[j + j * p.ldv] = 1;
  }
  std::vector<double> d(p.d + r0, p.d + r0 + n), e(static_cast<size_t>(n), 0.0);
  for (int64_t i = 0; i + 1 < n; ++i) e[i] = p.e[r0 + i];
  if (sqre) {
    double f = p.e[r0 + n - 1];  // the entry (j, n) being chased, j from n - 1 up to 0
    for (int64_t j = n - 1; j >= 0 && f != 0; --j) {
      const double r = std::hypot(d[j], f);
      const double c = d[j] / r, s = f / r;
      d[j] = r;
      // columns j, n of V: v_j <- c v_j + s v_n, v_n <- c v_n - s v_j (the same G as on B)
      rotate(m, v + j * p.ldv, v + n * p.ldv, c, s);
      if (j > 0) {
        f = -s * e[j - 1];
        e[j - 1] *= c;
      }
    }
  }
  // bidiagonal_svd rotates rows of U^T / V^T: in column-major U and V those are the columns.
  const bool ok = bidiagonal_svd<double>(n, d.data(), e.data(), u, p.ldu, n, v, p.ldv, m, kEps / 2);
  NT_CHECK(ok, Numeric, "[", kOp, "] the bidiagonal QR iteration did not converge (leaf of ", n, ")");
  std::copy(d.begin(), d.end(), p.d + r0);
}

// Workspace (doubles) of a merge of n rows: the gathered old vectors (n x n and n+1 x n) and
// a k x k block (the secular differences, then M's right vectors in place). The halves of a
// node split the node's workspace (3 (n/2 + 1)^2 <= 3 (n + 1)^2 / 2), so one allocation
// serves the whole tree (and the final sort).
int64_t merge_work(int64_t n) { return 3 * (n + 1) * (n + 1); }

// The merge of a node whose halves are solved (d, u, v blocks hold their SVDs). On return the
// node's d holds its singular values (roots first, then the deflated ones: the parent sorts),
// its u block (n x n) and v block (m x m, the null vector last when sqre) the vectors.
void merge(const Problem& p, int64_t r0, int64_t nl, int64_t nr, int sqre, double alpha, double beta, double* work) {
  const int64_t n = nl + nr + 1, m = n + sqre, o2 = nl + 1;  // o2: first row / column of the right half
  double* d = p.d + r0;
  double* u = p.u + r0 + r0 * p.ldu;
  double* v = p.v + r0 + r0 * p.ldv;
  const int64_t ldu = p.ldu, ldv = p.ldv;
  // Scale to 1 (LAPACK lasd1) so tolerances are absolute and nothing over/underflows.
  double scale = std::max(std::fabs(alpha), std::fabs(beta));
  for (int64_t i = 0; i < n; ++i)
    if (i != nl) scale = std::max(scale, std::fabs(d[i]));
  if (scale == 0) {  // B = 0 on this node: any orthogonal bases will do
    for (int64_t j = 0; j < n; ++j) {
      std::fill(u + j * ldu, u + j * ldu + n, 0.0);
      u[j + j * ldu] = 1;
      d[j] = 0;
    }
    for (int64_t j = 0; j < m; ++j) {
      std::fill(v + j * ldv, v + j * ldv + m, 0.0);
      v[j + j * ldv] = 1;
    }
    return;
  }
  alpha /= scale;
  beta /= scale;
  // Candidates, in place: column c of the u and v blocks, completed with zeros to full length.
  // c < nl: the left half's; c = nl: the middle row (pole 0, left vector e_nl, right vector
  // V1's null column); c > nl: the right half's; v's column m - 1 (sqre): V2's null column.
  // type: 1 left rows only, 3 right rows only, 2 both (a rotation mixed the halves), 0 middle.
  std::vector<double> cd(n), cz(n);
  std::vector<int> type(n);
  for (int64_t c = 0; c < n; ++c) {
    double* uc = u + c * ldu;
    double* vc = v + c * ldv;
    if (c <= nl) {
      cz[c] = alpha * vc[nl];
      std::fill(vc + o2, vc + m, 0.0);
    } else {
      cz[c] = beta * vc[o2];
      std::fill(vc, vc + o2, 0.0);
    }
    if (c < nl) std::fill(uc + nl, uc + n, 0.0);
    if (c == nl) {
      std::fill(uc, uc + n, 0.0);
      uc[nl] = 1;
    }
    if (c > nl) std::fill(uc, uc + o2, 0.0);
    cd[c] = c == nl ? 0.0 : d[c] / scale;
    type[c] = c < nl ? 1 : c == nl ? 0 : 3;
  }
  double dmax = 0;
  for (int64_t c = 0; c < n; ++c) dmax = std::max(dmax, cd[c]);
  const double tol = 8 * kEps * std::max({std::fabs(alpha), std::fabs(beta), dmax});
  // The extra column of a left-half node: its weight is rotated into the middle candidate's,
  // leaving a zero column whose right vector is the node's null vector (LAPACK lasd2).
  if (sqre) {
    double* vn = v + (m - 1) * ldv;
    std::fill(vn, vn + o2, 0.0);
    const double zm = beta * vn[o2];
    const double r = std::hypot(cz[nl], zm);
    double c = 1, s = 0;
    if (r > tol) {
      c = cz[nl] / r;
      s = zm / r;
      cz[nl] = r;
    } else {
      cz[nl] = tol;
    }
    rotate(m, v + nl * ldv, vn, c, s);
  } else if (std::fabs(cz[nl]) <= tol) {
    cz[nl] = tol;  // a weight of at most tol changes B by at most tol; the pole 0 stays
  }
  // Deflation in ascending pole order: a negligible weight leaves its candidate as it is; two
  // poles closer than tol are rotated (left and right vectors alike) so one weight vanishes.
  std::vector<int64_t> order;
  order.reserve(n - 1);
  for (int64_t c = 0; c < n; ++c)
    if (c != nl) order.push_back(c);
  std::stable_sort(order.begin(), order.end(), [&](int64_t x, int64_t y) { return cd[x] < cd[y]; });
  std::vector<int64_t> keep{nl}, gone;
  keep.reserve(n);
  int64_t pj = -1;
  for (const int64_t j : order) {
    if (std::fabs(cz[j]) <= tol) {
      gone.push_back(j);
      continue;
    }
    if (pj < 0) {
      pj = j;
      continue;
    }
    if (cd[j] - cd[pj] <= tol) {
      const double tau = std::hypot(cz[j], cz[pj]);
      const double c = cz[j] / tau, s = -cz[pj] / tau;
      cz[j] = tau;
      cz[pj] = 0;
      if (type[j] != type[pj]) type[j] = 2;
      rotate(n, u + pj * ldu, u + j * ldu, c, s);
      rotate(m, v + pj * ldv, v + j * ldv, c, s);
      gone.push_back(pj);
    } else {
      keep.push_back(pj);
    }
    pj = j;
  }
  if (pj >= 0) keep.push_back(pj);
  const int64_t k = static_cast<int64_t>(keep.size()), nd = static_cast<int64_t>(gone.size());
  double* cu = work;           // n x n: kept candidates' u columns (grouped), then the deflated
  double* cv = cu + n * n;     // m x n: the same for v
  double* delta = cv + m * n;  // k x k: row j = pl - s_j^2, then column j of vm
  // Poles: dl ascending, dl[0] = 0; the smallest other pole at least tol / 2 away from it.
  std::vector<double> dl(k), pl(k), w(k);
  double znorm = 0;
  for (int64_t i = 0; i < k; ++i) {
    dl[i] = cd[keep[i]];
    znorm = std::hypot(znorm, cz[keep[i]]);
  }
  if (k > 1 && dl[1] <= tol / 2) dl[1] = tol / 2;
  for (int64_t i = 0; i < k; ++i) {
    pl[i] = dl[i] * dl[i];
    w[i] = cz[keep[i]] / znorm;
  }
  const double rho = znorm * znorm;
  // Roots in the squared variable, each delta to full relative accuracy.
  std::vector<double> sigma(k);
  parallel_for(k, 8, [&](int64_t j0, int64_t j1) {
    for (int64_t j = j0; j < j1; ++j) {
      double tau = 0;
      int64_t org = 0;
      secular_root(k, pl.data(), w.data(), rho, j, delta + j * k, dl.data(), &tau, &org, kOp);
      // s = sqrt(d_o^2 + tau) without cancelling d_o
      sigma[j] = dl[org] + tau / (dl[org] + std::sqrt(pl[org] + tau));
    }
  });
  // Gu-Eisenstat: the weights for which the computed roots are exact (Löwner),
  // zhat_i^2 = prod_j (pl_i - s_j^2) / prod_{j != i} (pl_i - pl_j), sign of w_i (scaled by rho).
  std::vector<double> zhat(k);
  parallel_for(k, 64, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) zhat[i] = delta[i * k + i];
    for (int64_t j = 0; j < k; ++j) {
      const double* dj = delta + j * k;
      const double dlj = dl[j];
      // i == j is skipped: two plain loops that vectorise
      for (int64_t i = i0; i < std::min(i1, j); ++i) zhat[i] *= dj[i] / ((dl[i] - dlj) * (dl[i] + dlj));
      for (int64_t i = std::max(i0, j + 1); i < i1; ++i) zhat[i] *= dj[i] / ((dl[i] - dlj) * (dl[i] + dlj));
    }
    for (int64_t i = i0; i < i1; ++i) zhat[i] = std::copysign(std::sqrt(std::fabs(zhat[i])), w[i]);
  });
  // Group the kept candidates by row support: [left only, middle, both, right only], so each
  // GEMM below skips the zero blocks. In V the middle candidate spans both halves when sqre.
  std::vector<int64_t> grouped;
  grouped.reserve(k);
  for (int g : {1, 0, 2, 3})
    for (int64_t i = 0; i < k; ++i)
      if (type[keep[i]] == g) grouped.push_back(i);
  std::vector<int64_t> pos(k);
  for (int64_t g = 0; g < k; ++g) pos[grouped[g]] = g;
  int64_t n1 = 0, n2 = 0;
  for (int64_t i = 0; i < k; ++i) {
    n1 += type[keep[i]] == 1;
    n2 += type[keep[i]] == 2;
  }
  const int64_t mid = n1;  // grouped position of the middle candidate
  // M's singular vectors: vm(:, j) = zhat / (pl - s_j^2) / nv_j (rows in grouped order, over
  // delta's row j), um(:, j) = [-1 (middle); dl * zhat / (pl - s_j^2)] / nu_j = [-1/nu_j;
  // dl * vm(:, j) * nv_j / nu_j]: U's products use dl-scaled old columns and vm, then scale
  // column j by ru_j = nv_j / nu_j and set the middle row to -1 / nu_j.
  double* vm = delta;
  std::vector<double> ru(k), umid(k);
  parallel_for(k, 16, [&](int64_t j0, int64_t j1) {
    std::vector<double> s(k);
    const DivideSumsq divide_sumsq = kernels().eigh_divide_sumsq;
    for (int64_t j = j0; j < j1; ++j) {
      const double nv = std::sqrt(divide_sumsq(zhat.data(), delta + j * k, s.data(), k));
      double nu = 1;
      for (int64_t i = 1; i < k; ++i) nu += (dl[i] * s[i]) * (dl[i] * s[i]);
      nu = std::sqrt(nu);
      ru[j] = nv / nu;
      umid[j] = -1 / nu;
      double* vj = vm + j * k;
      for (int64_t i = 0; i < k; ++i) vj[pos[i]] = s[i] / nv;
    }
  });
  // Old vectors: the kept in grouped order (u's scaled by their pole), then the deflated (the
  // products overwrite the blocks).
  for (int64_t g = 0; g < k + nd; ++g) {
    const int64_t c = g < k ? keep[grouped[g]] : gone[g - k];
    const double* uc = u + c * ldu;
    double* cug = cu + g * n;
    if (g < k) {
      const double f = dl[grouped[g]];
      for (int64_t i = 0; i < n; ++i) cug[i] = f * uc[i];
    } else {
      std::memcpy(cug, uc, n * sizeof(double));
    }
    std::memcpy(cv + g * m, v + c * ldv, m * sizeof(double));
  }
  // U: rows [0, nl) from groups left/middle/both (the middle column is zero there), rows
  // [nl+1, n) from groups both/right, then the column scaling and the middle row.
  const int64_t top = n1 + 1 + n2, ubot = k - n1 - 1;
  gemm_cm(nl, k, top, cu, n, vm, k, u, ldu);
  if (ubot > 0)
    gemm_cm(nr, k, ubot, cu + o2 + (mid + 1) * n, n, vm + mid + 1, k, u + o2, ldu);
  else
    for (int64_t j = 0; j < k; ++j) std::fill(u + o2 + j * ldu, u + n + j * ldu, 0.0);
  for (int64_t j = 0; j < k; ++j) {
    double* uj = u + j * ldu;
    for (int64_t i = 0; i < n; ++i) uj[i] *= ru[j];
    uj[nl] = umid[j];
  }
  // V: rows [0, nl] from left/middle/both, rows [nl+1, m) from both/right (and the middle
  // candidate when sqre rotated the right half's null vector into it).
  gemm_cm(nl + 1, k, top, cv, m, vm, k, v, ldv);
  const int64_t vfirst = sqre ? mid : mid + 1, vbot = k - vfirst;
  if (vbot > 0)
    gemm_cm(m - o2, k, vbot, cv + o2 + vfirst * m, m, vm + vfirst, k, v + o2, ldv);
  else
    for (int64_t j = 0; j < k; ++j) std::fill(v + o2 + j * ldv, v + m + j * ldv, 0.0);
  // The deflated keep their value and vectors; v's column m - 1 already holds the null vector.
  for (int64_t j = 0; j < k; ++j) d[j] = sigma[j] * scale;
  for (int64_t b = 0; b < nd; ++b) {
    d[k + b] = cd[gone[b]] * scale;
    std::memcpy(u + (k + b) * ldu, cu + (k + b) * n, n * sizeof(double));
    std::memcpy(v + (k + b) * ldv, cv + (k + b) * m, m * sizeof(double));
  }
}

void solve(const Problem& p, int64_t r0, int64_t n, int sqre, double* work) {
  if (n <= kBidiagonalLeafSize) {
    solve_leaf(p, r0, n, sqre);
    return;
  }
  const int64_t nl = n / 2, nr = n - nl - 1;
  const double alpha = p.d[r0 + nl], beta = p.e[r0 + nl];
  // the halves are independent: on two threads side by side (nested loops then run inline),
  // each in its half of the workspace
  double* const half_work[2] = {work, work + merge_work(n) / 2};
  auto half = [&](int64_t h) {
    if (h == 0)
      solve(p, r0, nl, 1, half_work[0]);
    else
      solve(p, r0 + nl + 1, nr, sqre, half_work[1]);
  };
  if (n >= 128) {
    parallel_for(2, 1, [&](int64_t h0, int64_t h1) {
      for (int64_t h = h0; h < h1; ++h) half(h);
    });
  } else {
    half(0);
    half(1);
  }
  merge(p, r0, nl, nr, sqre, alpha, beta, work);
}

}  // namespace

void bidiagonal_svd_dc(int64_t n, double* d, double* e, double* u, int64_t ldu, double* v, int64_t ldv) {
  if (n <= 0) return;
  // Scaled to max |entry| = 1 (LAPACK bdsdc): the leaves' QR iteration treats entries near the
  // underflow threshold as zero, which near 1e-300 would be a relative error.
  double scale = 0;
  for (int64_t i = 0; i < n; ++i) scale = std::max(scale, std::fabs(d[i]));
  for (int64_t i = 0; i + 1 < n; ++i) scale = std::max(scale, std::fabs(e[i]));
  if (scale > 0)
    for (int64_t i = 0; i < n; ++i) {
      d[i] /= scale;
      if (i + 1 < n) e[i] /= scale;
    }
  const Problem p{d, e, u, ldu, v, ldv};
  const int64_t wn = merge_work(n);
  Scratch<double> work(static_cast<size_t>(wn));
  advise_huge_pages(work.get(), static_cast<size_t>(wn) * sizeof(double));  // first touch: few faults
  solve(p, 0, n, 0, work.get());
  if (scale > 0)
    for (int64_t i = 0; i < n; ++i) d[i] *= scale;
  // descending order: permute the columns of u and v alike
  std::vector<int64_t> perm(n);
  std::iota(perm.begin(), perm.end(), int64_t{0});
  std::stable_sort(perm.begin(), perm.end(), [&](int64_t x, int64_t y) { return d[x] > d[y]; });
  std::vector<double> ds(n);
  double* tu = work.get();
  double* tv = tu + n * n;
  for (int64_t j = 0; j < n; ++j) {
    ds[j] = d[perm[j]];
    std::memcpy(tu + j * n, u + perm[j] * ldu, n * sizeof(double));
    std::memcpy(tv + j * n, v + perm[j] * ldv, n * sizeof(double));
  }
  std::copy(ds.begin(), ds.end(), d);
  for (int64_t j = 0; j < n; ++j) {
    std::memcpy(u + j * ldu, tu + j * n, n * sizeof(double));
    std::memcpy(v + j * ldv, tv + j * n, n * sizeof(double));
  }
}

}  // namespace nt::svd_detail
