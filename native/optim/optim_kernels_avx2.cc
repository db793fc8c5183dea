// AVX2+FMA forms of the optimizer kernels (see optim_kernels.h): 8 lanes per step, tails run
// the same vector code on a padded copy. The nearest-code search is the scalar reference's
// binary search on 8 lanes (the same comparisons against the same code values, so the same
// indices for the same input; the moments themselves may differ from the scalar table's by
// FMA rounding before they are quantized). Checked against the scalar table in test/native/test_optim.cc.
#include <cmath>
#include <cstdint>
#include <cstring>

#include "../core/cpu_features.h"
#include "optim_kernels.h"

#include "../cpu/isa_avx2_begin.h"
#ifdef NT_HAVE_AVX2_BUILD

namespace nt::optim {
namespace {

struct AdamVec {
  __m256 b1, b2, omb1, omb2, ibc1, ibc2, eps, lr, decay;
  bool direction;
  explicit AdamVec(const AdamConstants& c)
      : b1(_mm256_set1_ps(c.beta1)), b2(_mm256_set1_ps(c.beta2)), omb1(_mm256_set1_ps(c.one_minus_beta1)),
        omb2(_mm256_set1_ps(c.one_minus_beta2)), ibc1(_mm256_set1_ps(c.inv_bc1)), ibc2(_mm256_set1_ps(c.inv_bc2)),
        eps(_mm256_set1_ps(c.eps)), lr(_mm256_set1_ps(c.lr)), decay(_mm256_set1_ps(c.decay)), direction(c.direction) {}
};

// 8 elements: updates m, v in place and writes the target.
inline void adam8(const AdamVec& k, float* target, const float* g, float* m, float* v) {
  const __m256 gv = _mm256_loadu_ps(g);
  const __m256 mv = _mm256_fmadd_ps(k.b1, _mm256_loadu_ps(m), _mm256_mul_ps(k.omb1, gv));
  const __m256 vv = _mm256_fmadd_ps(k.b2, _mm256_loadu_ps(v), _mm256_mul_ps(k.omb2, _mm256_mul_ps(gv, gv)));
  _mm256_storeu_ps(m, mv);
  _mm256_storeu_ps(v, vv);
  const __m256 denom = _mm256_add_ps(_mm256_sqrt_ps(_mm256_mul_ps(vv, k.ibc2)), k.eps);
  const __m256 u = _mm256_div_ps(_mm256_mul_ps(mv, k.ibc1), denom);
  if (k.direction) {
    _mm256_storeu_ps(target, u);
  } else {
    const __m256 p = _mm256_loadu_ps(target);
    _mm256_storeu_ps(target, _mm256_fnmadd_ps(k.lr, u, _mm256_mul_ps(p, k.decay)));
  }
}

void adam_f32_avx2(float* target, const float* g, float* m, float* v, int64_t n, const AdamConstants& c) {
  const AdamVec k(c);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) adam8(k, target + i, g + i, m + i, v + i);
  if (i < n) {
    const int64_t r = n - i;
    float tb[8] = {0}, gb[8] = {0}, mb[8] = {0}, vb[8] = {0};
    std::memcpy(tb, target + i, r * 4);
    std::memcpy(gb, g + i, r * 4);
    std::memcpy(mb, m + i, r * 4);
    std::memcpy(vb, v + i, r * 4);
    adam8(k, tb, gb, mb, vb);
    std::memcpy(target + i, tb, r * 4);
    std::memcpy(m + i, mb, r * 4);
    std::memcpy(v + i, vb, r * 4);
  }
}

inline __m256 abs8(__m256 x) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), x); }

inline float hmax(__m256 v) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// The first six levels of the binary search (steps 128 ... 4) read their thresholds from
// registers instead of memory: level k has 2^(k-1) candidate thresholds code[lo + step], and up
// to 32 of them are selected with permutes and sign-bit blends. Only the last two levels and
// the final neighbour comparison gather, 4 gathers per 8 values instead of 10.
struct SearchTable {
  __m256 l1, l2, l3, l4, l5[2], l6[4];
  explicit SearchTable(const float* code) {
    l1 = _mm256_set1_ps(code[128]);
    float t[32];
    auto fill = [&](int step, int count) {
      for (int k = 0; k < count; ++k) t[k] = code[step + 2 * step * k];
      for (int k = count; k < 8; ++k) t[k] = 0;  // padding lanes are never selected
    };
    fill(64, 2);
    l2 = _mm256_loadu_ps(t);
    fill(32, 4);
    l3 = _mm256_loadu_ps(t);
    fill(16, 8);
    l4 = _mm256_loadu_ps(t);
    for (int k = 0; k < 16; ++k) t[k] = code[8 + 16 * k];
    l5[0] = _mm256_loadu_ps(t);
    l5[1] = _mm256_loadu_ps(t + 8);
    for (int k = 0; k < 32; ++k) t[k] = code[4 + 8 * k];
    for (int r = 0; r < 4; ++r) l6[r] = _mm256_loadu_ps(t + 8 * r);
  }
};

inline __m256i search_step(__m256i lo, __m256 threshold, __m256 y, int step) {
  const __m256i le = _mm256_castps_si256(_mm256_cmp_ps(threshold, y, _CMP_LE_OQ));
  return _mm256_add_epi32(lo, _mm256_and_si256(le, _mm256_set1_epi32(step)));
}

// Picks lane (k & 7) of a, or of b when bit `bit` of k is set.
inline __m256 select2(__m256 a, __m256 b, __m256i k, int bit) {
  const __m256 mask = _mm256_castsi256_ps(_mm256_slli_epi32(k, 31 - bit));
  return _mm256_blendv_ps(_mm256_permutevar8x32_ps(a, k), _mm256_permutevar8x32_ps(b, k), mask);
}

// Code indices of 8 normalised values (see nearest_code in optim_kernels.cc), written as bytes.
inline void nearest8(const float* code, const SearchTable& st, __m256 y, uint8_t* out) {
  __m256i lo = search_step(_mm256_setzero_si256(), st.l1, y, 128);
  lo = search_step(lo, _mm256_permutevar8x32_ps(st.l2, _mm256_srli_epi32(lo, 7)), y, 64);
  lo = search_step(lo, _mm256_permutevar8x32_ps(st.l3, _mm256_srli_epi32(lo, 6)), y, 32);
  lo = search_step(lo, _mm256_permutevar8x32_ps(st.l4, _mm256_srli_epi32(lo, 5)), y, 16);
  __m256i k = _mm256_srli_epi32(lo, 4);
  lo = search_step(lo, select2(st.l5[0], st.l5[1], k, 3), y, 8);
  k = _mm256_srli_epi32(lo, 3);
  const __m256 t01 = select2(st.l6[0], st.l6[1], k, 3), t23 = select2(st.l6[2], st.l6[3], k, 3);
  const __m256 t6 = _mm256_blendv_ps(t01, t23, _mm256_castsi256_ps(_mm256_slli_epi32(k, 27)));
  lo = search_step(lo, t6, y, 4);
  for (int step = 2; step >= 1; step >>= 1) {
    const __m256i s = _mm256_set1_epi32(step);
    lo = search_step(lo, _mm256_i32gather_ps(code, _mm256_add_epi32(lo, s), 4), y, step);
  }
  const __m256i hi = _mm256_min_epi32(_mm256_add_epi32(lo, _mm256_set1_epi32(1)), _mm256_set1_epi32(kCodeSize - 1));
  const __m256 c0 = _mm256_i32gather_ps(code, lo, 4), c1 = _mm256_i32gather_ps(code, hi, 4);
  const __m256i up = _mm256_castps_si256(_mm256_cmp_ps(_mm256_sub_ps(c1, y), _mm256_sub_ps(y, c0), _CMP_LT_OQ));
  lo = _mm256_add_epi32(lo, _mm256_and_si256(up, _mm256_sub_epi32(hi, lo)));
  // Low byte of each 32-bit lane -> 8 contiguous bytes.
  const __m256i bytes = _mm256_shuffle_epi8(
      lo, _mm256_setr_epi8(0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 0, 4, 8, 12, -1, -1, -1, -1, -1,
                           -1, -1, -1, -1, -1, -1, -1));
  const __m256i packed = _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 1, 1, 1, 1, 1));
  _mm_storel_epi64(reinterpret_cast<__m128i*>(out), _mm256_castsi256_si128(packed));
}

void quantize_block_avx2(const float* x, uint8_t* codes, float* absmax, int64_t n, bool is_signed) {
  const float* code = dynamic_code(is_signed);
  __m256 mx = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) mx = _mm256_max_ps(mx, abs8(_mm256_loadu_ps(x + i)));
  float amax = hmax(mx);
  for (int64_t j = i; j < n; ++j) amax = std::fmax(amax, std::fabs(x[j]));
  *absmax = amax;
  const __m256 inv = _mm256_set1_ps(amax > 0 ? amax : 1.0f);
  const SearchTable st(code);
  for (i = 0; i + 8 <= n; i += 8) nearest8(code, st, _mm256_div_ps(_mm256_loadu_ps(x + i), inv), codes + i);
  if (i < n) {
    float xb[8] = {0};
    uint8_t cb[8];
    std::memcpy(xb, x + i, (n - i) * 4);
    nearest8(code, st, _mm256_div_ps(_mm256_loadu_ps(xb), inv), cb);
    std::memcpy(codes + i, cb, n - i);
  }
}

inline __m256 dequant8(const float* code, const uint8_t* c, __m256 scale) {
  const __m256i idx = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(c)));
  return _mm256_mul_ps(_mm256_i32gather_ps(code, idx, 4), scale);
}

void dequantize_block_avx2(const uint8_t* codes, float absmax, float* x, int64_t n, bool is_signed) {
  const float* code = dynamic_code(is_signed);
  const __m256 scale = _mm256_set1_ps(absmax);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, dequant8(code, codes + i, scale));
  if (i < n) {
    uint8_t cb[8] = {0};
    float xb[8];
    std::memcpy(cb, codes + i, n - i);
    _mm256_storeu_ps(xb, dequant8(code, cb, scale));
    std::memcpy(x + i, xb, (n - i) * 4);
  }
}

void adam8bit_block_avx2(float* target, const float* g, uint8_t* m_codes, float* m_absmax, uint8_t* v_codes,
                         float* v_absmax, int64_t n, const AdamConstants& c) {
  alignas(32) float mb[kMaxBlock];
  alignas(32) float vb[kMaxBlock];
  dequantize_block_avx2(m_codes, *m_absmax, mb, n, true);
  dequantize_block_avx2(v_codes, *v_absmax, vb, n, false);
  adam_f32_avx2(target, g, mb, vb, n, c);
  quantize_block_avx2(mb, m_codes, m_absmax, n, true);
  quantize_block_avx2(vb, v_codes, v_absmax, n, false);
}

bool optim_avx2_supported() {
  const CpuFeatures& f = cpu_features();
  return f.avx2 && f.fma && f.f16c;
}

void fill_optim_avx2(OptimKernels& t) {
  t.adam_f32 = adam_f32_avx2;
  t.adam8bit_block = adam8bit_block_avx2;
  t.quantize_block = quantize_block_avx2;
  t.dequantize_block = dequantize_block_avx2;
}

}  // namespace

static OptimIsaRegistration nt_optim_isa_avx2("avx2", 20, optim_avx2_supported, fill_optim_avx2);

}  // namespace nt::optim

#endif  // NT_HAVE_AVX2_BUILD
#include "../cpu/isa_avx2_end.h"
