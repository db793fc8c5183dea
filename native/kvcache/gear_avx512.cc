// AVX-512 instantiation of the GEAR kernels (gear_simd_impl.h): 16 lanes, 32 registers, so a
// pass keeps 4 queries x 4 tokens of scores (or 4 queries x 64 value columns) in registers.
#include <cstdint>
#include <cstring>

#include "../core/cpu_features.h"
#include "gear_kernels.h"

#if defined(__x86_64__) || defined(_M_X64)
#define NT_HAVE_AVX512_GEAR 1
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512vl,avx512bw,avx2,fma,f16c"))), apply_to = function)
#elif defined(__GNUC__)
#pragma GCC push_options
#pragma GCC target("avx512f,avx512vl,avx512bw,avx2,fma,f16c")
#endif
#include <immintrin.h>

namespace nt::kvcache {
namespace {

struct Avx512V {
  using vec = __m512;
  static constexpr int W = 16;
  static constexpr int kRegs = 32;
  using veci = __m512i;
  static veci bytes(const uint8_t* p) { return _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
  // x holds zero-extended bytes: the lowest field needs no shift, the highest no mask
  static vec field(veci x, int shift, int mask) {
    if (shift == 0) return _mm512_cvtepi32_ps(_mm512_and_si512(x, _mm512_set1_epi32(mask)));
    if ((255 >> shift) <= mask) return _mm512_cvtepi32_ps(_mm512_srli_epi32(x, shift));
    return _mm512_cvtepi32_ps(_mm512_and_si512(_mm512_srli_epi32(x, shift), _mm512_set1_epi32(mask)));
  }
  static void deinterleave2(vec a, vec b, vec& even, vec& odd) {
    const __m512i ie = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    even = _mm512_permutex2var_ps(a, ie, b);
    odd = _mm512_permutex2var_ps(a, _mm512_add_epi32(ie, _mm512_set1_epi32(1)), b);
  }
  static vec zero() { return _mm512_setzero_ps(); }
  static vec load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, vec v) { _mm512_storeu_ps(p, v); }
  static vec set1(float x) { return _mm512_set1_ps(x); }
  static vec fmadd(vec a, vec b, vec c) { return _mm512_fmadd_ps(a, b, c); }
  static __m256 fold(vec v) {
    return _mm256_add_ps(_mm512_castps512_ps256(v), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
  }
  static vec mul(vec a, vec b) { return _mm512_mul_ps(a, b); }
  static float hsum(vec v) {
    const __m256 h = fold(v);
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  // lane i = the sum of v[i]'s lanes, for 16 vectors: a transpose-and-add tree (45 ops for 16
  // sums, left in one vector; four hsum4 take ~52 and leave them in scalars)
  __attribute__((always_inline)) static vec tsum(const vec* v) {
    __m512 t[8], x[4];
    for (int m = 0; m < 8; ++m)
      t[m] = _mm512_add_ps(_mm512_unpacklo_ps(v[2 * m], v[2 * m + 1]), _mm512_unpackhi_ps(v[2 * m], v[2 * m + 1]));
    for (int m = 0; m < 4; ++m) {
      const __m512d a = _mm512_castps_pd(t[2 * m]), b = _mm512_castps_pd(t[2 * m + 1]);
      x[m] = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(a, b)), _mm512_castpd_ps(_mm512_unpackhi_pd(a, b)));
    }
    const __m512 y0 = _mm512_add_ps(_mm512_shuffle_f32x4(x[0], x[1], 0x44), _mm512_shuffle_f32x4(x[0], x[1], 0xee));
    const __m512 y1 = _mm512_add_ps(_mm512_shuffle_f32x4(x[2], x[3], 0x44), _mm512_shuffle_f32x4(x[2], x[3], 0xee));
    return _mm512_add_ps(_mm512_shuffle_f32x4(y0, y1, 0x88), _mm512_shuffle_f32x4(y0, y1, 0xdd));
  }
  static vec add(vec a, vec b) { return _mm512_add_ps(a, b); }
  static void hsum4(vec a, vec b, vec c, vec d, float* out) {
    const __m256 abcd = _mm256_hadd_ps(_mm256_hadd_ps(fold(a), fold(b)), _mm256_hadd_ps(fold(c), fold(d)));
    _mm_storeu_ps(out, _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1)));
  }
  // 16 codes from 8 bytes: low and high nibbles interleaved back into element order
  static vec codes4(const uint8_t* p) {
    const __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)), m = _mm_set1_epi8(0x0f);
    const __m128i c = _mm_unpacklo_epi8(_mm_and_si128(b, m), _mm_and_si128(_mm_srli_epi16(b, 4), m));
    return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(c));
  }
  // 16 codes from 4 bytes
  static vec codes2(const uint8_t* p) {
    int32_t w;
    std::memcpy(&w, p, 4);
    const __m128i b = _mm_cvtsi32_si128(w), m = _mm_set1_epi8(0x03);
    const __m128i p0 = _mm_and_si128(b, m), p1 = _mm_and_si128(_mm_srli_epi16(b, 2), m);
    const __m128i p2 = _mm_and_si128(_mm_srli_epi16(b, 4), m), p3 = _mm_and_si128(_mm_srli_epi16(b, 6), m);
    const __m128i c = _mm_unpacklo_epi16(_mm_unpacklo_epi8(p0, p1), _mm_unpacklo_epi8(p2, p3));
    return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(c));
  }
};

#include "gear_simd_impl.h"

}  // namespace
}  // namespace nt::kvcache

#if defined(__clang__)
#pragma clang attribute pop
#elif defined(__GNUC__)
#pragma GCC pop_options
#endif
#endif  // x86-64

namespace nt::kvcache {

const GearKernels* gear_kernels_avx512() {
#ifdef NT_HAVE_AVX512_GEAR
  static const GearKernels k = make_gear_kernels<Avx512V>("avx512");
  const CpuFeatures& f = cpu_features();
  const bool ok = f.avx512f && f.avx512bw && f.avx512vl && f.avx2 && f.fma && f.f16c;
  return ok && isa_priority_cap() >= 30 ? &k : nullptr;  // avx512's priority
#else
  return nullptr;
#endif
}

}  // namespace nt::kvcache
