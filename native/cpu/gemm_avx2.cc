// AVX2 + FMA GEMM kernels: f32 tile 6 x 16 (12 ymm accumulators), f64 tile 6 x 8, and the
// GEMV kernels, all from gemm_simd_impl.h; the f32 x bf16/f16 kernels (F16C widening) from
// half_gemm_simd_impl.h. Registered as the "avx2" ISA's gemm slots.
#include <cstdint>

#include "../core/cpu_features.h"
#include "gemm_kernel.h"
#include "half_gemm_kernel.h"
#include "kernels.h"

#include "isa_avx2_begin.h"
#ifdef NT_HAVE_AVX2_BUILD

namespace nt {
namespace {

struct F32x8 {
  using T = float;
  using vec = __m256;
  static constexpr int W = 8;
  static constexpr int kRegisters = 16;
  static vec zero() { return _mm256_setzero_ps(); }
  static vec load(const T* p) { return _mm256_loadu_ps(p); }
  static void store(T* p, vec v) { _mm256_storeu_ps(p, v); }
  static vec set1(T x) { return _mm256_set1_ps(x); }
  static vec fmadd(vec a, vec b, vec c) { return _mm256_fmadd_ps(a, b, c); }
  static vec mul(vec a, vec b) { return _mm256_mul_ps(a, b); }
  static vec add(vec a, vec b) { return _mm256_add_ps(a, b); }
  static T fma1(T a, T b, T c) { return __builtin_fmaf(a, b, c); }
  // ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)): a fixed order
  static T hsum(vec v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
};

struct F64x4 {
  using T = double;
  using vec = __m256d;
  static constexpr int W = 4;
  static vec zero() { return _mm256_setzero_pd(); }
  static vec load(const T* p) { return _mm256_loadu_pd(p); }
  static void store(T* p, vec v) { _mm256_storeu_pd(p, v); }
  static vec set1(T x) { return _mm256_set1_pd(x); }
  static vec fmadd(vec a, vec b, vec c) { return _mm256_fmadd_pd(a, b, c); }
  static vec mul(vec a, vec b) { return _mm256_mul_pd(a, b); }
  static vec add(vec a, vec b) { return _mm256_add_pd(a, b); }
  static T fma1(T a, T b, T c) { return __builtin_fma(a, b, c); }
  static T hsum(vec v) {
    __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    s = _mm_add_sd(s, _mm_unpackhi_pd(s, s));
    return _mm_cvtsd_f64(s);
  }
};

// 8 bf16 -> f32: bf16 is the top half of an f32 (zero-extend, shift).
struct Bf16x8 {
  static constexpr bool kPairs = false;  // the zero-extend load measured faster here (Zen 5)
  static __m256 load(const uint16_t* p) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  }
  static float one(uint16_t b) {
    const uint32_t u = static_cast<uint32_t>(b) << 16;
    float f;
    __builtin_memcpy(&f, &u, 4);
    return f;
  }
};

// 8 f16 -> f32 with F16C (exact; a signalling NaN comes out quiet, as in half.h).
struct F16x8 {
  static constexpr bool kPairs = false;
  static __m256 load(const uint16_t* p) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
  static float one(uint16_t h) { return _cvtsh_ss(h); }
};

#include "gemm_simd_impl.h"
#include "half_gemm_simd_impl.h"

// Blocking: A micro-panel mr x kc in L1, A block mc x kc (288 KiB) in L2, the f32 B block kc x nc
// (3 MiB) streamed from L3, as the AVX-512 set does: kc 384 / nc 2048 over 256 / 1024 measured
// +1.7-2.9% at 2048² and +0.3-0.8% at 1024² in paired runs (Zen 5 capped to AVX2, 1 and 2 threads).
const GemmKernel<float> kAvx2F32 = {"avx2", 6, 16, 384, 192, 2048,
                                    gemm_tile<F32x8, 6, 2>, gemv_dot_rows<F32x8>, gemv_axpy_rows<F32x8>};
const GemmKernel<double> kAvx2F64 = {"avx2", 6, 8, 256, 96, 512,
                                     gemm_tile<F64x4, 6, 2>, gemv_dot_rows<F64x4>, gemv_axpy_rows<F64x4>};

const HalfGemmKernel kAvx2Half = {"avx2",
                                  &kAvx2F32,
                                  widen_half_to_f32<F32x8, Bf16x8>,
                                  widen_half_to_f32<F32x8, F16x8>,
                                  half_gemv<F32x8, Bf16x8>,
                                  half_gemv<F32x8, F16x8>};

void fill_gemm_avx2(KernelTable& t) {
  t.gemm_f32_kernel = &kAvx2F32;
  t.gemm_f64_kernel = &kAvx2F64;
  t.half_gemm_kernel = &kAvx2Half;
}

}  // namespace
}  // namespace nt

#endif  // NT_HAVE_AVX2_BUILD
#include "isa_avx2_end.h"

#ifdef NT_HAVE_AVX2_BUILD
namespace nt {
namespace {
bool gemm_avx2_supported() {
  const CpuFeatures& f = cpu_features();
  return f.avx2 && f.fma && f.f16c;
}
}  // namespace
// Same name and priority as kernels_avx2.cc: both fill slots of the "avx2" ISA.
static IsaRegistration nt_isa_registration_gemm_avx2("avx2", 20, gemm_avx2_supported, fill_gemm_avx2);
}  // namespace nt
#endif
