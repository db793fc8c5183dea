// AVX2+FMA forms of the eigh kernels (see eigh_kernels.h). The symmetric matrix-vector kernel
// takes four columns at a time: each row block loads x and y once and serves four dot products
// and four axpys, which keeps the loop on the matrix stream instead of on the load ports. The
// secular-equation loops are bound by division throughput: four lanes per vdivpd.
// Checked against the scalar references in test/native/test_eigh.cc.
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "../core/cpu_features.h"
#include "eigh_kernels.h"

#include "../cpu/isa_avx2_begin.h"
#ifdef NT_HAVE_AVX2_BUILD

namespace nt {
namespace {

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
inline double hsum(__m256d v) {
  __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
  s = _mm_add_sd(s, _mm_unpackhi_pd(s, s));
  return _mm_cvtsd_f64(s);
}

// Vector traits: V holds L lanes of T.
struct F32 {
  using T = float;
  using V = __m256;
  static constexpr int L = 8;
  static V load(const T* p) { return _mm256_loadu_ps(p); }
  static void store(T* p, V v) { _mm256_storeu_ps(p, v); }
  static V set1(T x) { return _mm256_set1_ps(x); }
  static V zero() { return _mm256_setzero_ps(); }
  static V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static T sum(V v) { return hsum(v); }
};
struct F64 {
  using T = double;
  using V = __m256d;
  static constexpr int L = 4;
  static V load(const T* p) { return _mm256_loadu_pd(p); }
  static void store(T* p, V v) { _mm256_storeu_pd(p, v); }
  static V set1(T x) { return _mm256_set1_pd(x); }
  static V zero() { return _mm256_setzero_pd(); }
  static V fma(V a, V b, V c) { return _mm256_fmadd_pd(a, b, c); }
  static T sum(V v) { return hsum(v); }
};

template <class S>
void symv_columns_avx2(const typename S::T* a, int64_t lda, int64_t m, int64_t c0, int64_t c1,
                       const typename S::T* x, typename S::T* y) {
  using T = typename S::T;
  using V = typename S::V;
  int64_t c = c0;
  for (; c + 4 <= c1; c += 4) {
    const T* a0 = a + c * lda;
    const T* a1 = a0 + lda;
    const T* a2 = a1 + lda;
    const T* a3 = a2 + lda;
    const T* col[4] = {a0, a1, a2, a3};
    T dots[4] = {0, 0, 0, 0};
    // the 4 x 4 triangle at the top of the four columns
    for (int j = 0; j < 4; ++j) {
      const T* aj = col[j];
      const T xj = x[c + j];
      y[c + j] += aj[c + j] * xj;
      for (int64_t r = c + j + 1; r < c + 4; ++r) {
        dots[j] += aj[r] * x[r];
        y[r] += aj[r] * xj;
      }
    }
    const V xb0 = S::set1(x[c]), xb1 = S::set1(x[c + 1]), xb2 = S::set1(x[c + 2]), xb3 = S::set1(x[c + 3]);
    V s0 = S::zero(), s1 = S::zero(), s2 = S::zero(), s3 = S::zero();
    int64_t r = c + 4;
    for (; r + S::L <= m; r += S::L) {
      const V xv = S::load(x + r);
      V yv = S::load(y + r);
      const V v0 = S::load(a0 + r), v1 = S::load(a1 + r), v2 = S::load(a2 + r), v3 = S::load(a3 + r);
      s0 = S::fma(v0, xv, s0);
      s1 = S::fma(v1, xv, s1);
      s2 = S::fma(v2, xv, s2);
      s3 = S::fma(v3, xv, s3);
      yv = S::fma(v0, xb0, yv);
      yv = S::fma(v1, xb1, yv);
      yv = S::fma(v2, xb2, yv);
      yv = S::fma(v3, xb3, yv);
      S::store(y + r, yv);
    }
    T t0 = 0, t1 = 0, t2 = 0, t3 = 0;
    for (; r < m; ++r) {
      const T xr = x[r];
      t0 += a0[r] * xr;
      t1 += a1[r] * xr;
      t2 += a2[r] * xr;
      t3 += a3[r] * xr;
      y[r] += a0[r] * x[c] + a1[r] * x[c + 1] + a2[r] * x[c + 2] + a3[r] * x[c + 3];
    }
    y[c] += dots[0] + S::sum(s0) + t0;
    y[c + 1] += dots[1] + S::sum(s1) + t1;
    y[c + 2] += dots[2] + S::sum(s2) + t2;
    y[c + 3] += dots[3] + S::sum(s3) + t3;
  }
  for (; c < c1; ++c) {
    const T* ac = a + c * lda;
    const T xc = x[c];
    const V xb = S::set1(xc);
    V s = S::zero();
    int64_t r = c + 1;
    for (; r + S::L <= m; r += S::L) {
      const V v = S::load(ac + r);
      s = S::fma(v, S::load(x + r), s);
      S::store(y + r, S::fma(v, xb, S::load(y + r)));
    }
    T t = 0;
    for (; r < m; ++r) {
      t += ac[r] * x[r];
      y[r] += ac[r] * xc;
    }
    y[c] += ac[c] * xc + S::sum(s) + t;
  }
}

void symv_columns_f32_avx2(const float* a, int64_t lda, int64_t m, int64_t c0, int64_t c1, const float* x, float* y) {
  symv_columns_avx2<F32>(a, lda, m, c0, c1, x, y);
}
void symv_columns_f64_avx2(const double* a, int64_t lda, int64_t m, int64_t c0, int64_t c1, const double* x,
                           double* y) {
  symv_columns_avx2<F64>(a, lda, m, c0, c1, x, y);
}

void secular_sums_avx2(const double* p, const double* w, int64_t n, double tau, double* sums) {
  const __m256d vt = _mm256_set1_pd(tau);
  const __m256d sign = _mm256_set1_pd(-0.0);
  __m256d s0 = _mm256_setzero_pd(), s1 = s0, d0 = s0, d1 = s0, a0 = s0, a1 = s0;
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {  // two independent chains hide the division latency
    const __m256d w0 = _mm256_loadu_pd(w + j), w1 = _mm256_loadu_pd(w + j + 4);
    const __m256d t0 = _mm256_div_pd(w0, _mm256_sub_pd(_mm256_loadu_pd(p + j), vt));
    const __m256d t1 = _mm256_div_pd(w1, _mm256_sub_pd(_mm256_loadu_pd(p + j + 4), vt));
    const __m256d e0 = _mm256_mul_pd(w0, t0), e1 = _mm256_mul_pd(w1, t1);
    s0 = _mm256_add_pd(s0, e0);
    s1 = _mm256_add_pd(s1, e1);
    d0 = _mm256_fmadd_pd(t0, t0, d0);
    d1 = _mm256_fmadd_pd(t1, t1, d1);
    a0 = _mm256_add_pd(a0, _mm256_andnot_pd(sign, e0));
    a1 = _mm256_add_pd(a1, _mm256_andnot_pd(sign, e1));
  }
  double s = hsum(_mm256_add_pd(s0, s1)), ds = hsum(_mm256_add_pd(d0, d1)), abs = hsum(_mm256_add_pd(a0, a1));
  for (; j < n; ++j) {
    const double t = w[j] / (p[j] - tau);
    const double term = w[j] * t;
    s += term;
    ds += t * t;
    abs += term < 0 ? -term : term;
  }
  sums[0] += s;
  sums[1] += ds;
  sums[2] += abs;
}

double divide_sumsq_avx2(const double* num, const double* den, double* out, int64_t n) {
  __m256d s0 = _mm256_setzero_pd(), s1 = s0;
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256d q0 = _mm256_div_pd(_mm256_loadu_pd(num + i), _mm256_loadu_pd(den + i));
    const __m256d q1 = _mm256_div_pd(_mm256_loadu_pd(num + i + 4), _mm256_loadu_pd(den + i + 4));
    _mm256_storeu_pd(out + i, q0);
    _mm256_storeu_pd(out + i + 4, q1);
    s0 = _mm256_fmadd_pd(q0, q0, s0);
    s1 = _mm256_fmadd_pd(q1, q1, s1);
  }
  double s = hsum(_mm256_add_pd(s0, s1));
  for (; i < n; ++i) {
    out[i] = num[i] / den[i];
    s += out[i] * out[i];
  }
  return s;
}

}  // namespace
}  // namespace nt

#endif  // NT_HAVE_AVX2_BUILD
#include "../cpu/isa_avx2_end.h"

#ifdef NT_HAVE_AVX2_BUILD
namespace nt {
namespace {

bool eigh_avx2_supported() {
  const CpuFeatures& f = cpu_features();
  return f.avx2 && f.fma;
}

void fill_eigh_avx2(KernelTable& t) {
  t.eigh_symv_f32 = symv_columns_f32_avx2;
  t.eigh_symv_f64 = symv_columns_f64_avx2;
  t.eigh_secular_sums = secular_sums_avx2;
  t.eigh_divide_sumsq = divide_sumsq_avx2;
}

}  // namespace

static IsaRegistration nt_isa_registration_eigh_avx2("avx2", 20, eigh_avx2_supported, fill_eigh_avx2);

}  // namespace nt
#endif
