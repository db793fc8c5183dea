#include "bidiagonal_svd.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <utility>
#include <vector>

#include "../core/thread_pool.h"
#include "svd_kernels.h"

namespace nt::svd_detail {
namespace {

// lartg (LAPACK 3.10): c, s, r with [c s; -s c] [f; g] = [r; 0], c >= 0 when f != 0.
inline void lartg(double f, double g, double& c, double& s, double& r) {
  if (g == 0) {
    c = 1;
    s = 0;
    r = f;
    return;
  }
  if (f == 0) {
    c = 0;
    s = g > 0 ? 1 : -1;
    r = std::abs(g);
    return;
  }
  static const double rtmin = std::sqrt(DBL_MIN), rtmax = std::sqrt(DBL_MAX / 2);
  const double f1 = std::abs(f), g1 = std::abs(g);
  if (f1 > rtmin && f1 < rtmax && g1 > rtmin && g1 < rtmax) {
    const double dd = std::sqrt(f * f + g * g);
    c = f1 / dd;
    r = std::copysign(dd, f);
    s = g / r;
  } else {
    const double u = std::min(DBL_MAX, std::max(DBL_MIN, std::max(f1, g1)));
    const double fs = f / u, gs = g / u;
    const double dd = std::sqrt(fs * fs + gs * gs);
    c = std::abs(fs) / dd;
    r = std::copysign(dd, f);
    s = gs / r;
    r *= u;
  }
}

inline double sign(double a, double b) { return std::copysign(std::abs(a), b); }

// las2: singular values of [f g; 0 h].
void las2(double f, double g, double h, double& ssmin, double& ssmax) {
  const double fa = std::abs(f), ga = std::abs(g), ha = std::abs(h);
  const double fhmn = std::min(fa, ha), fhmx = std::max(fa, ha);
  if (fhmn == 0) {
    ssmin = 0;
    if (fhmx == 0) {
      ssmax = ga;
    } else {
      const double mx = std::max(fhmx, ga), mn = std::min(fhmx, ga);
      ssmax = mx * std::sqrt(1 + (mn / mx) * (mn / mx));
    }
  } else if (ga < fhmx) {
    const double as = 1 + fhmn / fhmx, at = (fhmx - fhmn) / fhmx, au = (ga / fhmx) * (ga / fhmx);
    const double c = 2 / (std::sqrt(as * as + au) + std::sqrt(at * at + au));
    ssmin = fhmn * c;
    ssmax = fhmx / c;
  } else {
    const double au = fhmx / ga;
    if (au == 0) {
      ssmin = (fhmn * fhmx) / ga;
      ssmax = ga;
    } else {
      const double as = 1 + fhmn / fhmx, at = (fhmx - fhmn) / fhmx;
      const double c = 1 / (std::sqrt(1 + (as * au) * (as * au)) + std::sqrt(1 + (at * au) * (at * au)));
      ssmin = (fhmn * c) * au;
      ssmin = ssmin + ssmin;
      ssmax = ga / (c + c);
    }
  }
}

// lasv2: SVD of [f g; 0 h] = [csl -snl; snl csl] diag(ssmax, ssmin) [csr snr; -snr csr]^T... as LAPACK.
void lasv2(double f, double g, double h, double& ssmin, double& ssmax, double& snr, double& csr, double& snl,
           double& csl) {
  double ft = f, fa = std::abs(ft), ht = h, ha = std::abs(h);
  int pmax = 1;
  const bool swap = ha > fa;
  if (swap) {
    pmax = 3;
    std::swap(ft, ht);
    std::swap(fa, ha);
  }
  const double gt = g, ga = std::abs(gt);
  double clt, crt, slt, srt;
  if (ga == 0) {
    ssmin = ha;
    ssmax = fa;
    clt = 1;
    crt = 1;
    slt = 0;
    srt = 0;
  } else {
    bool gasmal = true;
    if (ga > fa) {
      pmax = 2;
      if (fa / ga < DBL_EPSILON / 2) {
        gasmal = false;
        ssmax = ga;
        ssmin = ha > 1 ? fa / (ga / ha) : (fa / ga) * ha;
        clt = 1;
        slt = ht / gt;
        srt = 1;
        crt = ft / gt;
      }
    }
    if (gasmal) {
      const double dd = fa - ha;
      double l = dd == fa ? 1.0 : dd / fa;
      const double m = gt / ft;
      double t = 2 - l;
      const double mm = m * m, tt = t * t;
      const double s = std::sqrt(tt + mm);
      const double r = l == 0 ? std::abs(m) : std::sqrt(l * l + mm);
      const double a = 0.5 * (s + r);
      ssmin = ha / a;
      ssmax = fa * a;
      if (mm == 0) {
        if (l == 0) {
          t = sign(2, ft) * sign(1, gt);
        } else {
          t = gt / sign(dd, ft) + m / t;
        }
      } else {
        t = (m / (s + t) + m / (r + l)) * (1 + a);
      }
      l = std::sqrt(t * t + 4);
      crt = 2 / l;
      srt = t / l;
      clt = (crt + srt * m) / a;
      slt = (ht / ft) * srt / a;
    }
  }
  if (swap) {
    csl = srt;
    snl = crt;
    csr = slt;
    snr = clt;
  } else {
    csl = clt;
    snl = slt;
    csr = crt;
    snr = srt;
  }
  double tsign = 1;
  if (pmax == 1) tsign = sign(1, csr) * sign(1, csl) * sign(1, f);
  if (pmax == 2) tsign = sign(1, snr) * sign(1, csl) * sign(1, g);
  if (pmax == 3) tsign = sign(1, snr) * sign(1, snl) * sign(1, h);
  ssmax = sign(ssmax, tsign);
  ssmin = sign(ssmin, tsign * sign(1, f) * sign(1, h));
}

// Rotation sweeps waiting to be applied to U^T and V^T. Applying many sweeps per pass keeps
// each column block in cache across sweeps and pays the thread hand-off once per batch.
template <typename T>
class SweepQueue {
 public:
  SweepQueue(T* ut, int64_t ldu, int64_t ucols, T* vt, int64_t ldv, int64_t vcols, int64_t n)
      : ut_(ut), ldu_(ldu), ucols_(ut ? ucols : 0), vt_(vt), ldv_(ldv), vcols_(vt ? vcols : 0),
        limit_(std::max<int64_t>(4096, 4 * n)) {}

  bool active() const { return ucols_ > 0 || vcols_ > 0; }

  // Starts a sweep of `count` rotations on rows first .. first+count.
  void begin(int64_t first, int64_t count, bool forward) {
    usw_.push_back({first, count, static_cast<int64_t>(uc_.size()), forward});
    vsw_.push_back({first, count, static_cast<int64_t>(vc_.size()), forward});
    uc_.resize(uc_.size() + count);
    us_.resize(us_.size() + count);
    vc_.resize(vc_.size() + count);
    vs_.resize(vs_.size() + count);
  }
  // Rotation j (0-based within the current sweep).
  void set(int64_t j, double cu, double su, double cv, double sv) {
    const int64_t ou = usw_.back().offset + j, ov = vsw_.back().offset + j;
    uc_[ou] = static_cast<T>(cu);
    us_[ou] = static_cast<T>(su);
    vc_[ov] = static_cast<T>(cv);
    vs_[ov] = static_cast<T>(sv);
  }
  void end() {
    if (static_cast<int64_t>(uc_.size()) >= limit_) flush();
  }

  void flush() {
    if (usw_.empty()) return;
    constexpr int64_t B = rotation_block<T>();
    const int64_t ub = (ucols_ + B - 1) / B, vb = (vcols_ + B - 1) / B;
    const int64_t rows = static_cast<int64_t>(uc_.size());
    const int64_t grain = std::max<int64_t>(1, (1 << 16) / std::max<int64_t>(1, rows * B));
    parallel_for(ub + vb, grain, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) {
        if (b < ub) {
          const int64_t c0 = b * B;
          apply_sweeps(ut_, ldu_, c0, std::min(ucols_, c0 + B), usw_.data(), static_cast<int64_t>(usw_.size()),
                       uc_.data(), us_.data());
        } else {
          const int64_t c0 = (b - ub) * B;
          apply_sweeps(vt_, ldv_, c0, std::min(vcols_, c0 + B), vsw_.data(), static_cast<int64_t>(vsw_.size()),
                       vc_.data(), vs_.data());
        }
      }
    });
    usw_.clear();
    vsw_.clear();
    uc_.clear();
    us_.clear();
    vc_.clear();
    vs_.clear();
  }

 private:
  T* ut_;
  int64_t ldu_, ucols_;
  T* vt_;
  int64_t ldv_, vcols_;
  int64_t limit_;
  std::vector<RotationSweep> usw_, vsw_;
  std::vector<T> uc_, us_, vc_, vs_;
};

}  // namespace

template <typename T>
bool bidiagonal_svd(int64_t n, double* d, double* e, T* ut, int64_t ldu, int64_t ucols, T* vt, int64_t ldv,
                    int64_t vcols, double eps) {
  if (n <= 0) return true;
  SweepQueue<T> q(ut, ldu, ucols, vt, ldv, vcols, n);
  const bool vectors = q.active();
  constexpr int maxitr = 6;
  const double unfl = DBL_MIN;
  const double tolmul = std::max(10.0, std::min(100.0, std::pow(eps, -0.125)));
  const double tol = tolmul * eps;
  // Threshold for negligible entries, relative to an estimate of the smallest singular value.
  double smax = 0;
  for (int64_t i = 0; i < n; ++i) smax = std::max(smax, std::abs(d[i]));
  for (int64_t i = 0; i + 1 < n; ++i) smax = std::max(smax, std::abs(e[i]));
  double sminoa = std::abs(d[0]);
  if (sminoa != 0) {
    double mu = sminoa;
    for (int64_t i = 1; i < n; ++i) {
      mu = std::abs(d[i]) * (mu / (mu + std::abs(e[i - 1])));
      sminoa = std::min(sminoa, mu);
      if (sminoa == 0) break;
    }
  }
  sminoa = sminoa / std::sqrt(static_cast<double>(n));
  const double thresh = std::max(tol * sminoa, maxitr * static_cast<double>(n) * n * unfl);
  const double maxit = static_cast<double>(maxitr) * n * n;
  double iter = 0;
  int64_t oldll = -1, oldm = -1;
  int idir = 0;
  int64_t m = n - 1;
  while (m > 0) {
    if (iter > maxit) {
      q.flush();
      return false;
    }
    // Find the bottom unreduced block d[ll..m].
    smax = std::abs(d[m]);
    int64_t ll = 0;
    bool split = false;
    for (int64_t lll = 1; lll <= m; ++lll) {
      ll = m - lll;
      const double abss = std::abs(d[ll]), abse = std::abs(e[ll]);
      if (abse <= thresh) {
        split = true;
        break;
      }
      smax = std::max(smax, std::max(abss, abse));
    }
    if (split) {
      e[ll] = 0;
      if (ll == m - 1) {
        --m;
        continue;
      }
      ++ll;
    } else {
      ll = 0;
    }
    if (ll == m - 1) {
      // 2 x 2 block: closed form.
      double sigmn, sigmx, sinr, cosr, sinl, cosl;
      lasv2(d[m - 1], e[m - 1], d[m], sigmn, sigmx, sinr, cosr, sinl, cosl);
      d[m - 1] = sigmx;
      e[m - 1] = 0;
      d[m] = sigmn;
      if (vectors) {
        q.begin(m - 1, 1, true);
        q.set(0, cosl, sinl, cosr, sinr);
        q.end();
      }
      m -= 2;
      continue;
    }
    // A new block: chase the bulge from the larger end.
    if (ll > oldm || m < oldll) idir = std::abs(d[ll]) >= std::abs(d[m]) ? 1 : 2;
    // Convergence tests.
    double sminl = 0;
    bool deflated = false;
    if (idir == 1) {
      if (std::abs(e[m - 1]) <= tol * std::abs(d[m])) {
        e[m - 1] = 0;
        continue;
      }
      double mu = std::abs(d[ll]);
      sminl = mu;
      for (int64_t l = ll; l < m; ++l) {
        if (std::abs(e[l]) <= tol * mu) {
          e[l] = 0;
          deflated = true;
          break;
        }
        mu = std::abs(d[l + 1]) * (mu / (mu + std::abs(e[l])));
        sminl = std::min(sminl, mu);
      }
    } else {
      if (std::abs(e[ll]) <= tol * std::abs(d[ll])) {
        e[ll] = 0;
        continue;
      }
      double mu = std::abs(d[m]);
      sminl = mu;
      for (int64_t l = m - 1; l >= ll; --l) {
        if (std::abs(e[l]) <= tol * mu) {
          e[l] = 0;
          deflated = true;
          break;
        }
        mu = std::abs(d[l]) * (mu / (mu + std::abs(e[l])));
        sminl = std::min(sminl, mu);
      }
    }
    if (deflated) continue;
    oldll = ll;
    oldm = m;
    // Shift: zero when it would not be resolved relative to the smallest singular value.
    double shift = 0, r = 0;
    if (static_cast<double>(n) * tol * (sminl / smax) > std::max(eps, 0.01 * tol)) {
      double sll;
      if (idir == 1) {
        sll = std::abs(d[ll]);
        las2(d[m - 1], e[m - 1], d[m], shift, r);
      } else {
        sll = std::abs(d[m]);
        las2(d[ll], e[ll], d[ll + 1], shift, r);
      }
      if (sll > 0 && (shift / sll) * (shift / sll) < eps) shift = 0;
    }
    iter += static_cast<double>(m - ll);
    const int64_t count = m - ll;
    if (vectors) q.begin(ll, count, idir == 1);
    if (shift == 0) {
      if (idir == 1) {
        double cs = 1, sn = 0, oldcs = 1, oldsn = 0;
        for (int64_t i = ll; i < m; ++i) {
          lartg(d[i] * cs, e[i], cs, sn, r);
          if (i > ll) e[i - 1] = oldsn * r;
          lartg(oldcs * r, d[i + 1] * sn, oldcs, oldsn, d[i]);
          if (vectors) q.set(i - ll, oldcs, oldsn, cs, sn);
        }
        const double h = d[m] * cs;
        d[m] = h * oldcs;
        e[m - 1] = h * oldsn;
        if (std::abs(e[m - 1]) <= thresh) e[m - 1] = 0;
      } else {
        double cs = 1, sn = 0, oldcs = 1, oldsn = 0;
        for (int64_t i = m; i > ll; --i) {
          lartg(d[i] * cs, e[i - 1], cs, sn, r);
          if (i < m) e[i] = oldsn * r;
          lartg(oldcs * r, d[i - 1] * sn, oldcs, oldsn, d[i]);
          if (vectors) q.set(i - ll - 1, cs, -sn, oldcs, -oldsn);
        }
        const double h = d[ll] * cs;
        d[ll] = h * oldcs;
        e[ll] = h * oldsn;
        if (std::abs(e[ll]) <= thresh) e[ll] = 0;
      }
    } else {
      if (idir == 1) {
        double f = (std::abs(d[ll]) - shift) * (sign(1, d[ll]) + shift / d[ll]);
        double g = e[ll];
        for (int64_t i = ll; i < m; ++i) {
          double cosr, sinr, cosl, sinl;
          lartg(f, g, cosr, sinr, r);
          if (i > ll) e[i - 1] = r;
          f = cosr * d[i] + sinr * e[i];
          e[i] = cosr * e[i] - sinr * d[i];
          g = sinr * d[i + 1];
          d[i + 1] = cosr * d[i + 1];
          lartg(f, g, cosl, sinl, r);
          d[i] = r;
          f = cosl * e[i] + sinl * d[i + 1];
          d[i + 1] = cosl * d[i + 1] - sinl * e[i];
          if (i < m - 1) {
            g = sinl * e[i + 1];
            e[i + 1] = cosl * e[i + 1];
          }
          if (vectors) q.set(i - ll, cosl, sinl, cosr, sinr);
        }
        e[m - 1] = f;
        if (std::abs(e[m - 1]) <= thresh) e[m - 1] = 0;
      } else {
        double f = (std::abs(d[m]) - shift) * (sign(1, d[m]) + shift / d[m]);
        double g = e[m - 1];
        for (int64_t i = m; i > ll; --i) {
          double cosr, sinr, cosl, sinl;
          lartg(f, g, cosr, sinr, r);
          if (i < m) e[i] = r;
          f = cosr * d[i] + sinr * e[i - 1];
          e[i - 1] = cosr * e[i - 1] - sinr * d[i];
          g = sinr * d[i - 1];
          d[i - 1] = cosr * d[i - 1];
          lartg(f, g, cosl, sinl, r);
          d[i] = r;
          f = cosl * e[i - 1] + sinl * d[i - 1];
          d[i - 1] = cosl * d[i - 1] - sinl * e[i - 1];
          if (i > ll + 1) {
            g = sinl * e[i - 2];
            e[i - 2] = cosl * e[i - 2];
          }
          if (vectors) q.set(i - ll - 1, cosr, -sinr, cosl, -sinl);
        }
        e[ll] = f;
        if (std::abs(e[ll]) <= thresh) e[ll] = 0;
      }
    }
    if (vectors) q.end();
  }
  q.flush();
  // Non-negative values (flip the matching row of V^T), then sort descending.
  for (int64_t i = 0; i < n; ++i) {
    if (d[i] < 0) {
      d[i] = -d[i];
      if (vt)
        for (int64_t c = 0; c < vcols; ++c) vt[i * ldv + c] = -vt[i * ldv + c];
    }
  }
  for (int64_t i = 0; i + 1 < n; ++i) {
    int64_t best = i;
    for (int64_t j = i + 1; j < n; ++j)
      if (d[j] > d[best]) best = j;
    if (best == i) continue;
    std::swap(d[i], d[best]);
    if (ut) std::swap_ranges(ut + i * ldu, ut + i * ldu + ucols, ut + best * ldu);
    if (vt) std::swap_ranges(vt + i * ldv, vt + i * ldv + vcols, vt + best * ldv);
  }
  return true;
}

template bool bidiagonal_svd<float>(int64_t, double*, double*, float*, int64_t, int64_t, float*, int64_t, int64_t,
                                    double);
template bool bidiagonal_svd<double>(int64_t, double*, double*, double*, int64_t, int64_t, double*, int64_t,
                                     int64_t, double);

}  // namespace nt::svd_detail
