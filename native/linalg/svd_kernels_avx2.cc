// AVX2+FMA versions of the SVD hot loops (see svd_kernels.h). Compiled for AVX2 through
// isa_avx2_begin.h and used only when cpu_features() reports AVX2 and FMA.
#include <cmath>
#include <cstdint>

#include "../core/cpu_features.h"
#include "../cpu/kernels.h"
#include "svd_kernels.h"

#include "../cpu/isa_avx2_begin.h"
#ifdef NT_HAVE_AVX2_BUILD

namespace nt::svd_detail {
namespace {

// Lane traits (structs, not lambdas, so every function inherits the AVX2 target).
struct F32x8 {
  using T = float;
  using V = __m256;
  static constexpr int kLanes = 8;
  static V load(const T* p) { return _mm256_loadu_ps(p); }
  static void store(T* p, V v) { _mm256_storeu_ps(p, v); }
  static V set1(T x) { return _mm256_set1_ps(x); }
  static V zero() { return _mm256_setzero_ps(); }
  static V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static V fnma(V a, V b, V c) { return _mm256_fnmadd_ps(a, b, c); }  // c - a b
  static V mul(V a, V b) { return _mm256_mul_ps(a, b); }
  static V add(V a, V b) { return _mm256_add_ps(a, b); }
  static T hsum(V v) {
    __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
    lo = _mm_add_ps(lo, hi);
    lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_add_ss(lo, _mm_shuffle_ps(lo, lo, 1));
    return _mm_cvtss_f32(lo);
  }
};
struct F64x4 {
  using T = double;
  using V = __m256d;
  static constexpr int kLanes = 4;
  static V load(const T* p) { return _mm256_loadu_pd(p); }
  static void store(T* p, V v) { _mm256_storeu_pd(p, v); }
  static V set1(T x) { return _mm256_set1_pd(x); }
  static V zero() { return _mm256_setzero_pd(); }
  static V fma(V a, V b, V c) { return _mm256_fmadd_pd(a, b, c); }
  static V fnma(V a, V b, V c) { return _mm256_fnmadd_pd(a, b, c); }
  static V mul(V a, V b) { return _mm256_mul_pd(a, b); }
  static V add(V a, V b) { return _mm256_add_pd(a, b); }
  static T hsum(V v) {
    __m128d lo = _mm256_castpd256_pd128(v), hi = _mm256_extractf128_pd(v, 1);
    lo = _mm_add_pd(lo, hi);
    lo = _mm_add_sd(lo, _mm_unpackhi_pd(lo, lo));
    return _mm_cvtsd_f64(lo);
  }
};

// y[0:nc] += sum_r x[r] M[r, 0:nc], one fused multiply-add per row in row order for every
// column (vector lanes and scalar tail alike), so the result never depends on the blocking.
template <class L>
void gemv_t_block(int64_t nr, int64_t nc, const typename L::T* M, int64_t ld, const typename L::T* x,
                  typename L::T* y) {
  using T = typename L::T;
  constexpr int W = L::kLanes;
  int64_t r = 0;
  for (; r + 4 <= nr; r += 4) {
    const T* a0 = M + r * ld;
    const T* a1 = a0 + ld;
    const T* a2 = a1 + ld;
    const T* a3 = a2 + ld;
    const auto x0 = L::set1(x[r]), x1 = L::set1(x[r + 1]), x2 = L::set1(x[r + 2]), x3 = L::set1(x[r + 3]);
    int64_t c = 0;
    for (; c + W <= nc; c += W) {
      auto v = L::load(y + c);
      v = L::fma(x0, L::load(a0 + c), v);
      v = L::fma(x1, L::load(a1 + c), v);
      v = L::fma(x2, L::load(a2 + c), v);
      v = L::fma(x3, L::load(a3 + c), v);
      L::store(y + c, v);
    }
    for (; c < nc; ++c) {
      T v = y[c];
      v = std::fma(x[r], a0[c], v);
      v = std::fma(x[r + 1], a1[c], v);
      v = std::fma(x[r + 2], a2[c], v);
      v = std::fma(x[r + 3], a3[c], v);
      y[c] = v;
    }
  }
  for (; r < nr; ++r) {
    const T* a0 = M + r * ld;
    const auto x0 = L::set1(x[r]);
    int64_t c = 0;
    for (; c + W <= nc; c += W) L::store(y + c, L::fma(x0, L::load(a0 + c), L::load(y + c)));
    for (; c < nc; ++c) y[c] = std::fma(x[r], a0[c], y[c]);
  }
}

template <class L>
typename L::T dot(const typename L::T* a, const typename L::T* b, int64_t n) {
  using T = typename L::T;
  constexpr int W = L::kLanes;
  auto s0 = L::zero(), s1 = L::zero(), s2 = L::zero(), s3 = L::zero();
  int64_t i = 0;
  for (; i + 4 * W <= n; i += 4 * W) {
    s0 = L::fma(L::load(a + i), L::load(b + i), s0);
    s1 = L::fma(L::load(a + i + W), L::load(b + i + W), s1);
    s2 = L::fma(L::load(a + i + 2 * W), L::load(b + i + 2 * W), s2);
    s3 = L::fma(L::load(a + i + 3 * W), L::load(b + i + 3 * W), s3);
  }
  for (; i + W <= n; i += W) s0 = L::fma(L::load(a + i), L::load(b + i), s0);
  T acc = L::hsum(L::add(L::add(s0, s1), L::add(s2, s3)));
  for (; i < n; ++i) acc = std::fma(a[i], b[i], acc);
  return acc;
}

// One sweep over NV vectors of columns starting at col: the row block being rotated into
// the next one is carried in registers, so each element is loaded and stored once per sweep.
template <class L, int NV>
void sweep_vectors(typename L::T* X, int64_t ld, int64_t col, const RotationSweep& w, const typename L::T* cs,
                   const typename L::T* sn) {
  using V = typename L::V;
  constexpr int W = L::kLanes;
  V carry[NV];
  if (w.forward) {
    typename L::T* row = X + w.first * ld + col;
    for (int v = 0; v < NV; ++v) carry[v] = L::load(row + v * W);
    for (int64_t j = 0; j < w.count; ++j) {
      const V c = L::set1(cs[w.offset + j]), s = L::set1(sn[w.offset + j]);
      typename L::T* next = row + ld;
      for (int v = 0; v < NV; ++v) {
        const V x = carry[v], y = L::load(next + v * W);
        L::store(row + v * W, L::fma(c, x, L::mul(s, y)));
        carry[v] = L::fnma(s, x, L::mul(c, y));
      }
      row = next;
    }
    for (int v = 0; v < NV; ++v) L::store(row + v * W, carry[v]);
  } else {
    typename L::T* row = X + (w.first + w.count) * ld + col;
    for (int v = 0; v < NV; ++v) carry[v] = L::load(row + v * W);
    for (int64_t j = w.count - 1; j >= 0; --j) {
      const V c = L::set1(cs[w.offset + j]), s = L::set1(sn[w.offset + j]);
      typename L::T* prev = row - ld;
      for (int v = 0; v < NV; ++v) {
        const V x = L::load(prev + v * W), y = carry[v];
        L::store(row + v * W, L::fnma(s, x, L::mul(c, y)));
        carry[v] = L::fma(c, x, L::mul(s, y));
      }
      row = prev;
    }
    for (int v = 0; v < NV; ++v) L::store(row + v * W, carry[v]);
  }
}

template <class L, int NV>
void sweeps_vectors(typename L::T* X, int64_t ld, int64_t col, const RotationSweep* sweeps, int64_t nsweeps,
                    const typename L::T* cs, const typename L::T* sn) {
  for (int64_t q = 0; q < nsweeps; ++q) sweep_vectors<L, NV>(X, ld, col, sweeps[q], cs, sn);
}

template <class L>
void sweeps(typename L::T* X, int64_t ld, int64_t c0, int64_t c1, const RotationSweep* sw, int64_t nsweeps,
            const typename L::T* cs, const typename L::T* sn) {
  using T = typename L::T;
  constexpr int W = L::kLanes;
  int64_t col = c0;
  // Groups of 8, 4, 2, 1 vectors, then single columns.
  for (; col + 8 * W <= c1; col += 8 * W) sweeps_vectors<L, 8>(X, ld, col, sw, nsweeps, cs, sn);
  if (col + 4 * W <= c1) {
    sweeps_vectors<L, 4>(X, ld, col, sw, nsweeps, cs, sn);
    col += 4 * W;
  }
  if (col + 2 * W <= c1) {
    sweeps_vectors<L, 2>(X, ld, col, sw, nsweeps, cs, sn);
    col += 2 * W;
  }
  if (col + W <= c1) {
    sweeps_vectors<L, 1>(X, ld, col, sw, nsweeps, cs, sn);
    col += W;
  }
  for (; col < c1; ++col) {
    for (int64_t q = 0; q < nsweeps; ++q) {
      const RotationSweep& w = sw[q];
      for (int64_t t = 0; t < w.count; ++t) {
        const int64_t j = w.forward ? t : w.count - 1 - t;
        const T c = cs[w.offset + j], s = sn[w.offset + j];
        T* x = X + (w.first + j) * ld + col;
        T* y = x + ld;
        const T xv = *x, yv = *y;
        *x = std::fma(c, xv, s * yv);
        *y = std::fma(-s, xv, c * yv);
      }
    }
  }
}

void gemv_t_f32(int64_t nr, int64_t nc, const float* M, int64_t ld, const float* x, float* y) {
  gemv_t_block<F32x8>(nr, nc, M, ld, x, y);
}
void gemv_t_f64(int64_t nr, int64_t nc, const double* M, int64_t ld, const double* x, double* y) {
  gemv_t_block<F64x4>(nr, nc, M, ld, x, y);
}
float dot_f32(const float* a, const float* b, int64_t n) { return dot<F32x8>(a, b, n); }
double dot_f64(const double* a, const double* b, int64_t n) { return dot<F64x4>(a, b, n); }
void sweeps_f32(float* X, int64_t ld, int64_t c0, int64_t c1, const RotationSweep* sw, int64_t ns, const float* cs,
                const float* sn) {
  sweeps<F32x8>(X, ld, c0, c1, sw, ns, cs, sn);
}
void sweeps_f64(double* X, int64_t ld, int64_t c0, int64_t c1, const RotationSweep* sw, int64_t ns,
                const double* cs, const double* sn) {
  sweeps<F64x4>(X, ld, c0, c1, sw, ns, cs, sn);
}

}  // namespace
}  // namespace nt::svd_detail

#endif  // NT_HAVE_AVX2_BUILD
#include "../cpu/isa_avx2_end.h"

#ifdef NT_HAVE_AVX2_BUILD
namespace nt::svd_detail {
namespace {

bool svd_avx2_supported() {
  const CpuFeatures& f = cpu_features();
  return f.avx2 && f.fma;
}

void fill_svd_avx2(KernelTable& t) {
  t.svd_gemv_t_f32 = gemv_t_f32;
  t.svd_gemv_t_f64 = gemv_t_f64;
  t.svd_dot_f32 = dot_f32;
  t.svd_dot_f64 = dot_f64;
  t.svd_sweeps_f32 = sweeps_f32;
  t.svd_sweeps_f64 = sweeps_f64;
}

static IsaRegistration nt_isa_registration_svd_avx2("avx2", 20, svd_avx2_supported, fill_svd_avx2);

}  // namespace
}  // namespace nt::svd_detail
#endif
