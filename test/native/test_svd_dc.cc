// Divide-and-conquer bidiagonal SVD (linalg/bidiagonal_dc.h) against its invariants and an
// independent solver: B V = U S and B^T U = V S to eps ||B||, U and V orthogonal, values
// descending and equal to the QR iteration's (bidiagonal_svd.h, values only) to eps ||B||, on
// random, graded (1e-12 .. 1), repeated, clustered, zero, rank-deficient, split and extreme-
// scale bidiagonals of sizes across the leaf size and the split levels; then the dense SVD
// above the divide-and-conquer crossover (tall, wide, full; graded, repeated, rank-deficient,
// all-equal and two-cluster singular values known by construction).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <vector>

#include "check.h"
#include "linalg/bidiagonal_dc.h"
#include "linalg/bidiagonal_svd.h"
#include "linalg/svd.h"

using nt::svd_detail::bidiagonal_svd;
using nt::svd_detail::bidiagonal_svd_dc;

namespace {

// Tolerances (one table), in units of eps * ||B|| (f64):
//   residuals ||B V - U S||, ||B^T U - V S|| (max abs)   <= 64 n^0.5
//   orthogonality max |U^T U - I|, |V^T V - I|           <= 64 n^0.5 (relative to 1)
//   |s_dc - s_qr|                                        <= 64 n^0.5
constexpr double kEps = 2.220446049250313e-16;
double tol_of(int64_t n) { return 64 * std::sqrt(static_cast<double>(n)) * kEps; }

struct Bidiagonal {
  std::vector<double> d, e;  // e: n - 1 entries (stored n, last unused)
};

Bidiagonal random_bidiagonal(int64_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> dist;
  Bidiagonal b{std::vector<double>(n), std::vector<double>(n, 0.0)};
  for (auto& x : b.d) x = dist(rng);
  for (int64_t i = 0; i + 1 < n; ++i) b.e[i] = dist(rng);
  return b;
}

struct Result {
  double resid = 0, orth = 0, values = 0;
  bool sorted = true;
  std::vector<double> s;
};

Result check(const Bidiagonal& b) {
  const int64_t n = static_cast<int64_t>(b.d.size());
  Result r;
  double norm = 0;
  for (int64_t i = 0; i < n; ++i) norm = std::max(norm, std::fabs(b.d[i]) + (i + 1 < n ? std::fabs(b.e[i]) : 0.0));
  std::vector<double> d = b.d, e = b.e, u(n * n, NAN), v(n * n, NAN);
  bidiagonal_svd_dc(n, d.data(), e.data(), u.data(), n, v.data(), n);
  r.s = d;
  // B V - U S and B^T U - V S, column j of U and V at u + j * n
  for (int64_t j = 0; j < n; ++j) {
    const double* uj = u.data() + j * n;
    const double* vj = v.data() + j * n;
    for (int64_t i = 0; i < n; ++i) {
      const double bv = b.d[i] * vj[i] + (i + 1 < n ? b.e[i] * vj[i + 1] : 0.0);
      const double btu = b.d[i] * uj[i] + (i > 0 ? b.e[i - 1] * uj[i - 1] : 0.0);
      r.resid = std::max({r.resid, std::fabs(bv - uj[i] * d[j]), std::fabs(btu - vj[i] * d[j])});
    }
  }
  if (norm > 0) r.resid /= norm;
  for (int64_t p = 0; p < n; ++p)
    for (int64_t q = 0; q <= p; ++q) {
      double su = 0, sv = 0;
      for (int64_t i = 0; i < n; ++i) {
        su += u[p * n + i] * u[q * n + i];
        sv += v[p * n + i] * v[q * n + i];
      }
      r.orth = std::max({r.orth, std::fabs(su - (p == q)), std::fabs(sv - (p == q))});
    }
  for (int64_t i = 0; i < n; ++i) r.sorted = r.sorted && d[i] >= 0 && (i == 0 || d[i] <= d[i - 1]);
  // the reference on B / ||B|| (near underflow the QR iteration's thresholds are absolute)
  std::vector<double> dq = b.d, eq = b.e;
  const double sc = norm > 0 ? norm : 1;
  for (auto& x : dq) x /= sc;
  for (auto& x : eq) x /= sc;
  const bool ok = bidiagonal_svd<double>(n, dq.data(), eq.data(), static_cast<double*>(nullptr), 0, 0,
                                         static_cast<double*>(nullptr), 0, 0, kEps / 2);
  CHECK(ok);
  for (int64_t i = 0; i < n; ++i) r.values = std::max(r.values, std::fabs(d[i] - dq[i] * sc));
  if (norm > 0) r.values /= norm;
  return r;
}

void expect_good(const char* what, const Bidiagonal& b) {
  const int64_t n = static_cast<int64_t>(b.d.size());
  const Result r = check(b);
  const double tol = tol_of(n);
  const bool ok = r.resid <= tol && r.orth <= tol && r.values <= tol && r.sorted;
  if (!ok)
    std::printf("  %s n=%lld: resid %.3g orth %.3g values %.3g (tol %.3g) sorted %d\n", what, (long long)n, r.resid,
                r.orth, r.values, tol, r.sorted);
  CHECK(ok);
}

const int64_t kSizes[] = {1, 2, 3, 24, 25, 26, 27, 51, 64, 101, 129, 257, 401};

}  // namespace

TEST_CASE(dc_random_bidiagonals) {
  unsigned seed = 100;
  for (const int64_t n : kSizes) expect_good("random", random_bidiagonal(n, seed++));
}

TEST_CASE(dc_graded_values_1e_12_to_1) {
  // d_i = +-10^(-12 i / (n-1)), e_i half the geometric mean of its neighbours: singular values
  // spread over 1e-12 .. 1; absolute accuracy eps ||B|| for all, and the large ones relative.
  for (const int64_t n : {26, 77, 203}) {
    Bidiagonal b = random_bidiagonal(n, 7 + n);
    for (int64_t i = 0; i < n; ++i) b.d[i] = std::copysign(std::pow(10.0, -12.0 * i / (n - 1)), b.d[i]);
    for (int64_t i = 0; i + 1 < n; ++i) b.e[i] = 0.5 * std::sqrt(std::fabs(b.d[i] * b.d[i + 1]));
    expect_good("graded", b);
    // and reversed (the small end first)
    std::reverse(b.d.begin(), b.d.end());
    std::reverse(b.e.begin(), b.e.begin() + (n - 1));
    expect_good("graded reversed", b);
    const Result r = check(b);
    std::vector<double> dq = b.d, eq = b.e;
    bidiagonal_svd<double>(n, dq.data(), eq.data(), static_cast<double*>(nullptr), 0, 0,
                           static_cast<double*>(nullptr), 0, 0, kEps / 2);
    CHECK(dq[n - 1] < 1e-10);  // the spread is real
    for (int64_t i = 0; i < n; ++i)
      if (dq[i] >= 1e-3) CHECK(std::fabs(r.s[i] - dq[i]) <= tol_of(n) * 1e3 * dq[i]);
  }
}

TEST_CASE(dc_repeated_and_clustered_values) {
  for (const int64_t n : {27, 64, 129}) {
    // identity: every weight is zero, every candidate deflates
    Bidiagonal b{std::vector<double>(n, 1.0), std::vector<double>(n, 0.0)};
    expect_good("identity", b);
    // equal poles with tiny couplings: close-pole deflation
    for (int64_t i = 0; i + 1 < n; ++i) b.e[i] = 1e-18 * (1 + i % 3);
    expect_good("clustered 1e-18", b);
    for (int64_t i = 0; i + 1 < n; ++i) b.e[i] = 1e-9 * (1 + i % 5);
    expect_good("clustered 1e-9", b);
    // two copies of the same bidiagonal, uncoupled: every value exactly twice, poles from both halves
    const int64_t h = n / 2;
    Bidiagonal half = random_bidiagonal(h, 3 * n);
    Bidiagonal two{std::vector<double>(2 * h), std::vector<double>(2 * h, 0.0)};
    for (int64_t i = 0; i < h; ++i) {
      two.d[i] = two.d[h + i] = half.d[i];
      if (i + 1 < h) two.e[i] = two.e[h + i] = half.e[i];
    }
    expect_good("doubled", two);
    // the doubled one with a middle row in between (the split row couples both copies)
    Bidiagonal three{std::vector<double>(2 * h + 1), std::vector<double>(2 * h + 1, 0.0)};
    for (int64_t i = 0; i < h; ++i) {
      three.d[i] = three.d[h + 1 + i] = half.d[i];
      if (i + 1 < h) three.e[i] = three.e[h + 1 + i] = half.e[i];
    }
    three.d[h] = 0.5;
    three.e[h - 1] = 1e-3;
    three.e[h] = 2e-3;
    expect_good("doubled with a middle row", three);
  }
}

TEST_CASE(dc_zero_rank_deficient_and_split) {
  for (const int64_t n : {1, 2, 26, 60, 131}) {
    Bidiagonal z{std::vector<double>(n, 0.0), std::vector<double>(n, 0.0)};
    const Result r = check(z);
    CHECK(r.orth <= tol_of(n) && r.resid == 0);
    for (double x : r.s) CHECK(x == 0);
    // zeros on the diagonal (first, last, the split rows of several levels): rank-deficient
    Bidiagonal b = random_bidiagonal(n, 50 + n);
    for (int64_t i : {int64_t{0}, n - 1, n / 2, n / 4, (3 * n) / 4}) b.d[std::min(i, n - 1)] = 0;
    expect_good("zero diagonal entries", b);
    // a zero superdiagonal at the split and zero alpha and beta
    Bidiagonal c = random_bidiagonal(n, 90 + n);
    if (n > 2) {
      c.d[n / 2] = 0;
      c.e[n / 2] = 0;
      c.e[n / 2 - 1] = 0;
    }
    expect_good("split", c);
    // a lower-rank block: an entire half zero
    Bidiagonal h = random_bidiagonal(n, 130 + n);
    for (int64_t i = 0; i < n / 2; ++i) h.d[i] = h.e[i] = 0;
    expect_good("half zero", h);
  }
}

TEST_CASE(dc_extreme_scales) {
  for (const double scale : {1e-150, 1e150, 1e-300}) {
    Bidiagonal b = random_bidiagonal(97, 11);
    for (auto& x : b.d) x *= scale;
    for (auto& x : b.e) x *= scale;
    expect_good("scaled", b);
  }
}

TEST_CASE(dense_svd_above_the_crossover) {
  // A = Q1 diag(s) Q2^T with known s (Q from Householder products): values to eps ||A||,
  // reconstruction and orthogonality, tall, wide, square, thin and full.
  const int64_t shapes[][2] = {{70, 70}, {131, 97}, {97, 131}, {257, 129}, {201, 201}};
  unsigned seed = 500;
  for (auto& sh : shapes) {
    const int64_t m = sh[0], n = sh[1], k = std::min(m, n);
    std::mt19937 rng(seed++);
    std::normal_distribution<double> dist;
    auto orth = [&](int64_t r) {
      std::vector<double> q(r * r, 0.0);
      for (int64_t i = 0; i < r; ++i) q[i * r + i] = 1;
      for (int h = 0; h < 6; ++h) {
        std::vector<double> w(r);
        double ww = 0;
        for (auto& x : w) ww += (x = dist(rng)) * x;
        for (int64_t j = 0; j < r; ++j) {
          double dot = 0;
          for (int64_t i = 0; i < r; ++i) dot += w[i] * q[i * r + j];
          for (int64_t i = 0; i < r; ++i) q[i * r + j] -= 2 * dot * w[i] / ww;
        }
      }
      return q;
    };
    const auto q1 = orth(m), q2 = orth(n);
    for (int variant = 0; variant < 5; ++variant) {
      // 0 graded 1e-12 .. 1, 1 repeated (blocks of 4 equal values), 2 rank k/3, 3 all equal
      // (orthogonal), 4 two clusters 1 and 1e-8
      std::vector<double> sv(k);
      for (int64_t i = 0; i < k; ++i)
        sv[i] = variant == 0   ? std::pow(10.0, -12.0 * i / (k - 1))
                : variant == 1 ? 1.0 + (k - i) / 4
                : variant == 2 ? (i < k / 3 ? 1.0 + i : 0.0)
                : variant == 3 ? 1.0
                               : (i < k / 2 ? 1.0 : 1e-8);
      std::sort(sv.begin(), sv.end(), std::greater<double>());
      std::vector<double> a(m * n, 0.0);
      for (int64_t p = 0; p < k; ++p)
        for (int64_t i = 0; i < m; ++i)
          for (int64_t j = 0; j < n; ++j) a[i * n + j] += q1[i * m + p] * sv[p] * q2[j * n + p];
      for (bool full : {false, true}) {
        const int64_t ku = full ? m : k, kv = full ? n : k;
        std::vector<double> s(k), u(m * ku), vt(kv * n);
        nt::linalg::svd_dense<double>(m, n, a.data(), s.data(), u.data(), vt.data(), full);
        double err = 0, orth_err = 0;
        for (int64_t p = 0; p < k; ++p) err = std::max(err, std::fabs(s[p] - sv[p]));
        double rec = 0;
        for (int64_t i = 0; i < m; ++i)
          for (int64_t j = 0; j < n; ++j) {
            double acc = 0;
            for (int64_t p = 0; p < k; ++p) acc += u[i * ku + p] * s[p] * vt[p * n + j];
            rec = std::max(rec, std::fabs(acc - a[i * n + j]));
          }
        for (int64_t p = 0; p < ku; ++p)
          for (int64_t q = 0; q <= p; ++q) {
            double acc = 0;
            for (int64_t i = 0; i < m; ++i) acc += u[i * ku + p] * u[i * ku + q];
            orth_err = std::max(orth_err, std::fabs(acc - (p == q)));
          }
        for (int64_t p = 0; p < kv; ++p)
          for (int64_t q = 0; q <= p; ++q) {
            double acc = 0;
            for (int64_t j = 0; j < n; ++j) acc += vt[p * n + j] * vt[q * n + j];
            orth_err = std::max(orth_err, std::fabs(acc - (p == q)));
          }
        const double tol = tol_of(std::max(m, n)) * 4;
        const bool ok = err <= tol * sv[0] && rec <= tol * sv[0] && orth_err <= tol;
        if (!ok)
          std::printf("  %lldx%lld variant %d full %d: values %.3g recon %.3g orth %.3g (tol %.3g)\n", (long long)m,
                      (long long)n, variant, full, err / sv[0], rec / sv[0], orth_err, tol);
        CHECK(ok);
      }
    }
  }
}

TEST_MAIN()
