// AVX-512 GEMM kernels: f32 tile 12 x 32 (24 zmm accumulators of the 32), f64 tile 12 x 16,
// and the GEMV kernels, from gemm_simd_impl.h; the f32 x bf16/f16 kernels from
// half_gemm_simd_impl.h. Registered as the "avx512" ISA (gemm slots
// only; the other slots keep their AVX2 kernels). On AVX-512 CPUs with two FMA ports this
// doubles the FMA peak over AVX2.
#include <cstdint>

#include "../core/cpu_features.h"
#include "gemm_kernel.h"
#include "half_gemm_kernel.h"
#include "kernels.h"

// The ISA region: only functions defined between here and the pop may use AVX-512.
#if defined(__x86_64__) || defined(_M_X64)
#define NT_HAVE_AVX512_BUILD 1
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512vl,avx512bw,avx2,fma,f16c"))), \
                             apply_to = function)
#elif defined(__GNUC__)
#pragma GCC push_options
#pragma GCC target("avx512f,avx512vl,avx512bw,avx2,fma,f16c")
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"  // GCC 12 false positive inside the intrinsics
#endif
#include <immintrin.h>

namespace nt {
namespace {

struct F32x16 {
  using T = float;
  using vec = __m512;
  static constexpr int W = 16;
  static constexpr int kRegisters = 32;
  static vec zero() { return _mm512_setzero_ps(); }
  static vec load(const T* p) { return _mm512_loadu_ps(p); }
  static void store(T* p, vec v) { _mm512_storeu_ps(p, v); }
  static vec set1(T x) { return _mm512_set1_ps(x); }
  static vec fmadd(vec a, vec b, vec c) { return _mm512_fmadd_ps(a, b, c); }
  static vec mul(vec a, vec b) { return _mm512_mul_ps(a, b); }
  static vec add(vec a, vec b) { return _mm512_add_ps(a, b); }
  static T fma1(T a, T b, T c) { return __builtin_fmaf(a, b, c); }
  // even / odd elements of the 2W values a:b (the x side of Bf16x16::load_pairs)
  static void deinterleave(vec a, vec b, vec& even, vec& odd) {
    const __m512i ie = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i io = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    const vec e = _mm512_permutex2var_ps(a, ie, b);
    odd = _mm512_permutex2var_ps(a, io, b);
    even = e;
  }
  // stored and folded in a fixed order (the cast/extract intrinsics trip a GCC 12 warning)
  static T hsum(vec v) {
    alignas(64) T l[W];
    _mm512_store_ps(l, v);
    for (int w = W / 2; w > 0; w /= 2)
      for (int i = 0; i < w; ++i) l[i] += l[i + w];
    return l[0];
  }
};

struct F64x8 {
  using T = double;
  using vec = __m512d;
  static constexpr int W = 8;
  static vec zero() { return _mm512_setzero_pd(); }
  static vec load(const T* p) { return _mm512_loadu_pd(p); }
  static void store(T* p, vec v) { _mm512_storeu_pd(p, v); }
  static vec set1(T x) { return _mm512_set1_pd(x); }
  static vec fmadd(vec a, vec b, vec c) { return _mm512_fmadd_pd(a, b, c); }
  static vec mul(vec a, vec b) { return _mm512_mul_pd(a, b); }
  static vec add(vec a, vec b) { return _mm512_add_pd(a, b); }
  static T fma1(T a, T b, T c) { return __builtin_fma(a, b, c); }
  static T hsum(vec v) {
    alignas(64) T l[W];
    _mm512_store_pd(l, v);
    for (int w = W / 2; w > 0; w /= 2)
      for (int i = 0; i < w; ++i) l[i] += l[i + w];
    return l[0];
  }
};

// 16 bf16 -> f32: bf16 is the top half of an f32 (zero-extend, shift). The GEMV takes 32 at a
// time as pairs: 32-bit lane j of a 64-byte load holds element 2j (low half) and 2j + 1 (high
// half), so a shift left by 16 widens the even ones and a mask the odd ones, no shuffle.
struct Bf16x16 {
  static constexpr bool kPairs = true;
  static void load_pairs(const uint16_t* p, __m512& even, __m512& odd) {
    const __m512i v = _mm512_loadu_si512(p);
    even = _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
    odd = _mm512_castsi512_ps(_mm512_and_si512(v, _mm512_set1_epi32(static_cast<int>(0xffff0000u))));
  }
  static __m512 load(const uint16_t* p) {
    const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  }
  static float one(uint16_t b) {
    const uint32_t u = static_cast<uint32_t>(b) << 16;
    float f;
    __builtin_memcpy(&f, &u, 4);
    return f;
  }
};

// 16 f16 -> f32 (vcvtph2ps; exact, a signalling NaN comes out quiet, as in half.h).
struct F16x16 {
  static constexpr bool kPairs = false;
  static __m512 load(const uint16_t* p) { return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }
  static float one(uint16_t h) { return _cvtsh_ss(h); }
};

#include "gemm_simd_impl.h"
#include "half_gemm_simd_impl.h"

// Blocking: A micro-panel mr x kc in L1 (18 KiB f32). The f32 B block kc x nc (3 MiB) is larger
// than Zen 5's 1 MiB L2: its panels stream from L3 with the micro-kernel unaffected (measured
// within 2% of L2-resident), while the deeper kc makes fewer passes over C and the wider nc packs
// A once per 2048 columns: 2048² 1 thread +2.5-3% thread-CPU GFLOP/s over kc 256 / nc 1024
// (two interleaved 8-round runs, load ~6-9; 512² and 1024² unchanged). f64: A block mc x kc and
// B block kc x nc (1 MiB) in L2.
const GemmKernel<float> kAvx512F32 = {"avx512", 12, 32, 384, 240, 2048,
                                      gemm_tile<F32x16, 12, 2>, gemv_dot_rows<F32x16>, gemv_axpy_rows<F32x16>};
const GemmKernel<double> kAvx512F64 = {"avx512", 12, 16, 256, 120, 512,
                                       gemm_tile<F64x8, 12, 2>, gemv_dot_rows<F64x8>, gemv_axpy_rows<F64x8>};

const HalfGemmKernel kAvx512Half = {"avx512",
                                    &kAvx512F32,
                                    widen_half_to_f32<F32x16, Bf16x16>,
                                    widen_half_to_f32<F32x16, F16x16>,
                                    half_gemv<F32x16, Bf16x16>,
                                    half_gemv<F32x16, F16x16>};

void fill_gemm_avx512(KernelTable& t) {
  t.gemm_f32_kernel = &kAvx512F32;
  t.gemm_f64_kernel = &kAvx512F64;
  t.half_gemm_kernel = &kAvx512Half;
}

}  // namespace
}  // namespace nt

#if defined(__clang__)
#pragma clang attribute pop
#elif defined(__GNUC__)
#pragma GCC diagnostic pop
#pragma GCC pop_options
#endif
#endif  // x86-64

#ifdef NT_HAVE_AVX512_BUILD
namespace nt {
namespace {
bool gemm_avx512_supported() {
  const CpuFeatures& f = cpu_features();
  return f.avx512f && f.avx512bw && f.avx512vl && f.avx2 && f.fma && f.f16c;
}
}  // namespace
NT_REGISTER_ISA(avx512, 30, gemm_avx512_supported, fill_gemm_avx512);
}  // namespace nt
#endif
