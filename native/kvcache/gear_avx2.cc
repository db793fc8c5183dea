// AVX2+FMA instantiation of the GEAR kernels (gear_simd_impl.h): 8 lanes, 16 registers.
// Checked against the portable table in test/native/test_gear.cc and test/llm/gear*.test.ts.
#include <cstdint>
#include <cstring>

#include "../core/cpu_features.h"
#include "gear_kernels.h"

#include "../cpu/isa_avx2_begin.h"
#ifdef NT_HAVE_AVX2_BUILD

namespace nt::kvcache {
namespace {

struct Avx2V {
  using vec = __m256;
  static constexpr int W = 8;
  static constexpr int kRegs = 16;
  using veci = __m256i;
  static veci bytes(const uint8_t* p) { return _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))); }
  // x holds zero-extended bytes: the lowest field needs no shift, the highest no mask
  static vec field(veci x, int shift, int mask) {
    if (shift == 0) return _mm256_cvtepi32_ps(_mm256_and_si256(x, _mm256_set1_epi32(mask)));
    if ((255 >> shift) <= mask) return _mm256_cvtepi32_ps(_mm256_srli_epi32(x, shift));
    return _mm256_cvtepi32_ps(_mm256_and_si256(_mm256_srli_epi32(x, shift), _mm256_set1_epi32(mask)));
  }
  static void deinterleave2(vec a, vec b, vec& even, vec& odd) {
    const __m256i split = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);  // evens low, odds high
    const __m256 pa = _mm256_permutevar8x32_ps(a, split), pb = _mm256_permutevar8x32_ps(b, split);
    even = _mm256_permute2f128_ps(pa, pb, 0x20);
    odd = _mm256_permute2f128_ps(pa, pb, 0x31);
  }
  static vec zero() { return _mm256_setzero_ps(); }
  static vec load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, vec v) { _mm256_storeu_ps(p, v); }
  static vec set1(float x) { return _mm256_set1_ps(x); }
  static vec fmadd(vec a, vec b, vec c) { return _mm256_fmadd_ps(a, b, c); }
  static vec mul(vec a, vec b) { return _mm256_mul_ps(a, b); }
  static float hsum(vec v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  // lane i = the sum of v[i]'s lanes, for 8 vectors: a transpose-and-add tree
  __attribute__((always_inline)) static vec tsum(const vec* v) {
    __m256 t[4], x[2];
    for (int m = 0; m < 4; ++m)
      t[m] = _mm256_add_ps(_mm256_unpacklo_ps(v[2 * m], v[2 * m + 1]), _mm256_unpackhi_ps(v[2 * m], v[2 * m + 1]));
    for (int m = 0; m < 2; ++m) {
      const __m256d a = _mm256_castps_pd(t[2 * m]), b = _mm256_castps_pd(t[2 * m + 1]);
      x[m] = _mm256_add_ps(_mm256_castpd_ps(_mm256_unpacklo_pd(a, b)), _mm256_castpd_ps(_mm256_unpackhi_pd(a, b)));
    }
    return _mm256_add_ps(_mm256_permute2f128_ps(x[0], x[1], 0x20), _mm256_permute2f128_ps(x[0], x[1], 0x31));
  }
  static vec add(vec a, vec b) { return _mm256_add_ps(a, b); }
  static void hsum4(vec a, vec b, vec c, vec d, float* out) {
    const __m256 abcd = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));
    _mm_storeu_ps(out, _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1)));
  }
  // 8 codes from 4 bytes: low and high nibbles interleaved back into element order
  static vec codes4(const uint8_t* p) {
    int32_t w;
    std::memcpy(&w, p, 4);
    const __m128i b = _mm_cvtsi32_si128(w), m = _mm_set1_epi8(0x0f);
    const __m128i c = _mm_unpacklo_epi8(_mm_and_si128(b, m), _mm_and_si128(_mm_srli_epi16(b, 4), m));
    return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(c));
  }
  // 8 codes from 2 bytes
  static vec codes2(const uint8_t* p) {
    uint16_t w;
    std::memcpy(&w, p, 2);
    const __m128i b = _mm_cvtsi32_si128(w), m = _mm_set1_epi8(0x03);
    const __m128i p0 = _mm_and_si128(b, m), p1 = _mm_and_si128(_mm_srli_epi16(b, 2), m);
    const __m128i p2 = _mm_and_si128(_mm_srli_epi16(b, 4), m), p3 = _mm_and_si128(_mm_srli_epi16(b, 6), m);
    const __m128i c = _mm_unpacklo_epi16(_mm_unpacklo_epi8(p0, p1), _mm_unpacklo_epi8(p2, p3));
    return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(c));
  }
};

#include "gear_simd_impl.h"

}  // namespace
}  // namespace nt::kvcache

#endif
#include "../cpu/isa_avx2_end.h"

namespace nt::kvcache {

const GearKernels* gear_kernels_avx2() {
#ifdef NT_HAVE_AVX2_BUILD
  static const GearKernels k = make_gear_kernels<Avx2V>("avx2");
  const CpuFeatures& f = cpu_features();
  return f.avx2 && f.fma && isa_priority_cap() >= 20 ? &k : nullptr;  // avx2's priority
#else
  return nullptr;
#endif
}

}  // namespace nt::kvcache
