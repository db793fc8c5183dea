// AVX-512 versions of the bidiagonalization's matrix-vector kernels (see svd_kernels.h):
// gemv_t and dot, f32 and f64, the same loops as svd_kernels_avx2.cc on 512-bit vectors
// (one fused multiply-add per element in the same order per column, so gemv_t's result never
// depends on the blocking). Registered as the "avx512" ISA for these slots only; the rotation
// sweeps keep their AVX2 kernels (the divide-and-conquer route leaves them 25-column leaves).
#include <cmath>
#include <cstdint>

#include "../core/cpu_features.h"
#include "../cpu/kernels.h"
#include "svd_kernels.h"

// The ISA region: only functions defined between here and the pop may use AVX-512.
#if defined(__x86_64__) || defined(_M_X64)
#define NT_HAVE_SVD_AVX512_BUILD 1
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512vl,avx2,fma"))), apply_to = function)
#elif defined(__GNUC__)
#pragma GCC push_options
#pragma GCC target("avx512f,avx512vl,avx2,fma")
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"  // GCC 12 false positive inside the intrinsics
#endif
#include <immintrin.h>

namespace nt::svd_detail {
namespace {

struct F32x16 {
  using T = float;
  using V = __m512;
  static constexpr int kLanes = 16;
  static V load(const T* p) { return _mm512_loadu_ps(p); }
  static void store(T* p, V v) { _mm512_storeu_ps(p, v); }
  static V set1(T x) { return _mm512_set1_ps(x); }
  static V zero() { return _mm512_setzero_ps(); }
  static V fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static V add(V a, V b) { return _mm512_add_ps(a, b); }
  static T hsum(V v) { return _mm512_reduce_add_ps(v); }
};
struct F64x8 {
  using T = double;
  using V = __m512d;
  static constexpr int kLanes = 8;
  static V load(const T* p) { return _mm512_loadu_pd(p); }
  static void store(T* p, V v) { _mm512_storeu_pd(p, v); }
  static V set1(T x) { return _mm512_set1_pd(x); }
  static V zero() { return _mm512_setzero_pd(); }
  static V fma(V a, V b, V c) { return _mm512_fmadd_pd(a, b, c); }
  static V add(V a, V b) { return _mm512_add_pd(a, b); }
  static T hsum(V v) { return _mm512_reduce_add_pd(v); }
};

// y[0:nc] += sum_r x[r] M[r, 0:nc], rows in order, one fma per row per column.
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

void gemv_t_f32(int64_t nr, int64_t nc, const float* M, int64_t ld, const float* x, float* y) {
  gemv_t_block<F32x16>(nr, nc, M, ld, x, y);
}
void gemv_t_f64(int64_t nr, int64_t nc, const double* M, int64_t ld, const double* x, double* y) {
  gemv_t_block<F64x8>(nr, nc, M, ld, x, y);
}
float dot_f32(const float* a, const float* b, int64_t n) { return dot<F32x16>(a, b, n); }
double dot_f64(const double* a, const double* b, int64_t n) { return dot<F64x8>(a, b, n); }

}  // namespace
}  // namespace nt::svd_detail

#if defined(__clang__)
#pragma clang attribute pop
#elif defined(__GNUC__)
#pragma GCC diagnostic pop
#pragma GCC pop_options
#endif
#endif  // x86-64

#ifdef NT_HAVE_SVD_AVX512_BUILD
namespace nt::svd_detail {
namespace {

bool svd_avx512_supported() {
  const CpuFeatures& f = cpu_features();
  return f.avx512f && f.avx512vl && f.avx2 && f.fma;
}

void fill_svd_avx512(KernelTable& t) {
  t.svd_gemv_t_f32 = gemv_t_f32;
  t.svd_gemv_t_f64 = gemv_t_f64;
  t.svd_dot_f32 = dot_f32;
  t.svd_dot_f64 = dot_f64;
}

static IsaRegistration nt_isa_registration_svd_avx512("avx512", 30, svd_avx512_supported, fill_svd_avx512);

}  // namespace
}  // namespace nt::svd_detail
#endif
