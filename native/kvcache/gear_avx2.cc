// AVX2+FMA forms of the GEAR attention inner loops (see gear_kernels.h). Scores take four queries
// per pass so each row load serves four dot products; the accumulation keeps 32 output lanes of a
// query in registers while the rows stream through. Checked against the portable loops in
// test/native/test_gear.cc.
#include <cstdint>
#include <cstring>

#include "../core/cpu_features.h"
#include "gear_kernels.h"

#include "../cpu/isa_avx2_begin.h"
#ifdef NT_HAVE_AVX2_BUILD

namespace nt::kvcache {
namespace {

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

void scores_avx2(const float* qs, int64_t G, const float* rows, int64_t n, int64_t d, float* S) {
  const int64_t d8 = d & ~int64_t{7};
  for (int64_t t = 0; t < n; ++t) {
    const float* row = rows + t * d;
    int64_t g = 0;
    for (; g + 4 <= G; g += 4) {
      const float* q0 = qs + g * d;
      const float* q1 = q0 + d;
      const float* q2 = q1 + d;
      const float* q3 = q2 + d;
      __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
      for (int64_t j = 0; j < d8; j += 8) {
        const __m256 r = _mm256_loadu_ps(row + j);
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q0 + j), r, a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(q1 + j), r, a1);
        a2 = _mm256_fmadd_ps(_mm256_loadu_ps(q2 + j), r, a2);
        a3 = _mm256_fmadd_ps(_mm256_loadu_ps(q3 + j), r, a3);
      }
      float s0 = hsum(a0), s1 = hsum(a1), s2 = hsum(a2), s3 = hsum(a3);
      for (int64_t j = d8; j < d; ++j) {
        s0 += q0[j] * row[j];
        s1 += q1[j] * row[j];
        s2 += q2[j] * row[j];
        s3 += q3[j] * row[j];
      }
      S[g * n + t] = s0;
      S[(g + 1) * n + t] = s1;
      S[(g + 2) * n + t] = s2;
      S[(g + 3) * n + t] = s3;
    }
    for (; g < G; ++g) {
      const float* q = qs + g * d;
      __m256 a = _mm256_setzero_ps();
      for (int64_t j = 0; j < d8; j += 8) a = _mm256_fmadd_ps(_mm256_loadu_ps(q + j), _mm256_loadu_ps(row + j), a);
      float s = hsum(a);
      for (int64_t j = d8; j < d; ++j) s += q[j] * row[j];
      S[g * n + t] = s;
    }
  }
}

void accumulate_avx2(const float* P, int64_t G, const float* rows, int64_t n, int64_t d, float* acc) {
  for (int64_t g = 0; g < G; ++g) {
    const float* p = P + g * n;
    float* out = acc + g * d;
    int64_t j = 0;
    for (; j + 32 <= d; j += 32) {
      __m256 a0 = _mm256_loadu_ps(out + j), a1 = _mm256_loadu_ps(out + j + 8);
      __m256 a2 = _mm256_loadu_ps(out + j + 16), a3 = _mm256_loadu_ps(out + j + 24);
      for (int64_t t = 0; t < n; ++t) {
        const __m256 w = _mm256_set1_ps(p[t]);
        const float* row = rows + t * d + j;
        a0 = _mm256_fmadd_ps(w, _mm256_loadu_ps(row), a0);
        a1 = _mm256_fmadd_ps(w, _mm256_loadu_ps(row + 8), a1);
        a2 = _mm256_fmadd_ps(w, _mm256_loadu_ps(row + 16), a2);
        a3 = _mm256_fmadd_ps(w, _mm256_loadu_ps(row + 24), a3);
      }
      _mm256_storeu_ps(out + j, a0);
      _mm256_storeu_ps(out + j + 8, a1);
      _mm256_storeu_ps(out + j + 16, a2);
      _mm256_storeu_ps(out + j + 24, a3);
    }
    for (; j + 8 <= d; j += 8) {
      __m256 a = _mm256_loadu_ps(out + j);
      for (int64_t t = 0; t < n; ++t) a = _mm256_fmadd_ps(_mm256_set1_ps(p[t]), _mm256_loadu_ps(rows + t * d + j), a);
      _mm256_storeu_ps(out + j, a);
    }
    for (; j < d; ++j) {
      float a = out[j];
      for (int64_t t = 0; t < n; ++t) a += p[t] * rows[t * d + j];
      out[j] = a;
    }
  }
}

// Codes 16·i .. 16·i + 15 of a byte-aligned run as two vectors of 8 floats.
inline void unpack16(const uint8_t* p, int bits, __m256* f0, __m256* f1) {
  __m128i c;
  if (bits == 4) {
    const __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p));  // 8 bytes
    const __m128i m = _mm_set1_epi8(0x0f);
    c = _mm_unpacklo_epi8(_mm_and_si128(b, m), _mm_and_si128(_mm_srli_epi16(b, 4), m));
  } else {
    int32_t w;
    std::memcpy(&w, p, 4);
    const __m128i b = _mm_cvtsi32_si128(w);  // 4 bytes
    const __m128i m = _mm_set1_epi8(0x03);
    const __m128i p0 = _mm_and_si128(b, m), p1 = _mm_and_si128(_mm_srli_epi16(b, 2), m);
    const __m128i p2 = _mm_and_si128(_mm_srli_epi16(b, 4), m), p3 = _mm_and_si128(_mm_srli_epi16(b, 6), m);
    c = _mm_unpacklo_epi16(_mm_unpacklo_epi8(p0, p1), _mm_unpacklo_epi8(p2, p3));
  }
  *f0 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(c));
  *f1 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(c, 8)));
}

inline float code_at(const uint8_t* codes, int bits, int64_t j) {
  const int64_t bit = j * bits;
  return static_cast<float>((codes[bit >> 3] >> (bit & 7)) & ((1u << bits) - 1));
}

void dequant_channels_avx2(const uint8_t* codes, int bits, int64_t d, const float* lo, const float* step, float* out) {
  int64_t j = 0;
  for (; j + 16 <= d; j += 16) {
    __m256 c0, c1;
    unpack16(codes + j * bits / 8, bits, &c0, &c1);
    _mm256_storeu_ps(out + j, _mm256_fmadd_ps(_mm256_loadu_ps(step + j), c0, _mm256_loadu_ps(lo + j)));
    _mm256_storeu_ps(out + j + 8, _mm256_fmadd_ps(_mm256_loadu_ps(step + j + 8), c1, _mm256_loadu_ps(lo + j + 8)));
  }
  for (; j < d; ++j) out[j] = lo[j] + step[j] * code_at(codes, bits, j);
}

void dequant_scalar_avx2(const uint8_t* codes, int bits, int64_t d, float lo, float step, float* out) {
  const __m256 l = _mm256_set1_ps(lo), st = _mm256_set1_ps(step);
  int64_t j = 0;
  for (; j + 16 <= d; j += 16) {
    __m256 c0, c1;
    unpack16(codes + j * bits / 8, bits, &c0, &c1);
    _mm256_storeu_ps(out + j, _mm256_fmadd_ps(st, c0, l));
    _mm256_storeu_ps(out + j + 8, _mm256_fmadd_ps(st, c1, l));
  }
  for (; j < d; ++j) out[j] = lo + step * code_at(codes, bits, j);
}

}  // namespace
}  // namespace nt::kvcache

#endif
#include "../cpu/isa_avx2_end.h"

namespace nt::kvcache {

const GearKernels* gear_kernels_avx2() {
#ifdef NT_HAVE_AVX2_BUILD
  static const GearKernels k{"avx2", scores_avx2, accumulate_avx2, dequant_channels_avx2, dequant_scalar_avx2};
  const CpuFeatures& f = cpu_features();
  return f.avx2 && f.fma && isa_priority_cap() >= 20 ? &k : nullptr;  // avx2's priority
#else
  return nullptr;
#endif
}

}  // namespace nt::kvcache
