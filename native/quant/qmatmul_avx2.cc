// AVX2+FMA kernels of the quantized matmul (see qmatmul_kernels.h). Split-order chunk: 8 code
// bytes = 16 columns, decoded as one ymm of low nibbles (even columns) and one of high nibbles.
// vpermps has only 8 entries here, so the GEMV subtracts each group's zero from the codes in
// the integer domain (q − zero is exact as a float), multiplies by x and applies the scale
// once per group:
//   y = sum_g scale_g · dot(q_g − zero_g, x_g)
// Folding the zero after the dot (dot(q, x) − zero·sum(x)) would cancel catastrophically when
// x holds a large value against a code equal to the zero point (a weight that dequantizes to
// 0): the two f32 products are huge and their difference is rounding noise. The panel
// dequantizer computes scale · (q − zero) per element, rounded as dequantize_value.
#include <cstdint>
#include <cstring>

#include "../core/cpu_features.h"
#include "qmatmul_kernels.h"

#include "../cpu/isa_avx2_begin.h"
#ifdef NT_HAVE_AVX2_BUILD

namespace nt::quant {
namespace {

constexpr int kSplit = 16;  // columns per chunk
constexpr int kNr = 2;      // tile: up to 4 rows of x x 2 weight rows = 8 ymm accumulators

inline float scale_at(const QWeight& w, int64_t i) {
  return w.scales_f16 ? _cvtsh_ss(static_cast<const uint16_t*>(w.scales)[i]) : static_cast<const float*>(w.scales)[i];
}

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// The 8 code bytes of chunk c as 8 dwords; the partial last chunk of a row is read through a
// zeroed copy (never past the row) and its columns >= cols are masked to code 0.
inline __m256i load_chunk(const uint8_t* codes, int64_t c, int64_t full, int64_t cols) {
  if (c < full) return _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(codes + c * 8)));
  const int64_t rem = cols - c * kSplit;  // 1..15 columns
  uint8_t buf[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  std::memcpy(buf, codes + c * 8, static_cast<size_t>((rem + 1) / 2));
  if (rem & 1) buf[rem / 2] &= 0x0f;  // the high nibble of the last byte is column `cols`
  return _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(buf)));
}

// ---- fused GEMV ----

template <int MB>
void gemv4_mb(const QWeight& w, int64_t r0, int64_t r1, const float* xs, int64_t ldx, QmmOut y) {
  const int64_t rb = w.row_bytes(), groups = w.groups(), cols = w.cols;
  const int64_t full = cols / kSplit, nchunks = (cols + kSplit - 1) / kSplit;
  const int64_t per_group = groups == 1 ? nchunks : w.group_size / kSplit;
  const __m256i nib = _mm256_set1_epi32(0x0f);
  for (int64_t r = r0; r < r1; ++r) {
    const uint8_t* codes = w.codes + r * rb;
    __m256 tot[MB];
#pragma GCC unroll 4
    for (int i = 0; i < MB; ++i) tot[i] = _mm256_setzero_ps();
    for (int64_t g = 0; g < groups; ++g) {
      __m256 a0[MB], a1[MB];
#pragma GCC unroll 4
      for (int i = 0; i < MB; ++i) a0[i] = a1[i] = _mm256_setzero_ps();
      const int64_t c0 = g * per_group, c1 = c0 + per_group < nchunks ? c0 + per_group : nchunks;
      const __m256i zero = _mm256_set1_epi32(w.zeros[r * groups + g]);
      for (int64_t c = c0; c < c1; ++c) {
        // columns past `cols` in the last chunk read code 0 and x 0: (0 − zero) · 0 = 0
        const __m256i t = load_chunk(codes, c, full, cols);
        const __m256 lo = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_and_si256(t, nib), zero));
        const __m256 hi = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_srli_epi32(t, 4), zero));
#pragma GCC unroll 4
        for (int i = 0; i < MB; ++i) {
          a0[i] = _mm256_fmadd_ps(lo, _mm256_loadu_ps(xs + i * ldx + c * kSplit), a0[i]);
          a1[i] = _mm256_fmadd_ps(hi, _mm256_loadu_ps(xs + i * ldx + c * kSplit + 8), a1[i]);
        }
      }
      const __m256 sv = _mm256_set1_ps(scale_at(w, r * groups + g));
#pragma GCC unroll 4
      for (int i = 0; i < MB; ++i) tot[i] = _mm256_fmadd_ps(sv, _mm256_add_ps(a0[i], a1[i]), tot[i]);
    }
#pragma GCC unroll 4
    for (int i = 0; i < MB; ++i) y.p[i * y.s0 + r * y.s1] = hsum(tot[i]);
  }
}

void gemv4(const QWeight& w, int64_t r0, int64_t r1, const float* xs, int64_t ldx, int64_t m, QmmOut y) {
  switch (m) {
    case 1: return gemv4_mb<1>(w, r0, r1, xs, ldx, y);
    case 2: return gemv4_mb<2>(w, r0, r1, xs, ldx, y);
    case 3: return gemv4_mb<3>(w, r0, r1, xs, ldx, y);
    default: return gemv4_mb<4>(w, r0, r1, xs, ldx, y);
  }
}

// ---- panel dequantization ----

void dequant4(const QWeight& w, int64_t r0, int64_t nrows, int64_t k0, int64_t kc, float* dst, int64_t ldd) {
  const int64_t rb = w.row_bytes(), groups = w.groups(), cols = w.cols;
  const int64_t full = cols / kSplit;
  const int64_t c_begin = k0 / kSplit, c_end = (k0 + kc) / kSplit;
  const int64_t nchunks = (cols + kSplit - 1) / kSplit;
  const int64_t per_group = groups == 1 ? c_end + 1 : w.group_size / kSplit;
  const __m256i nib = _mm256_set1_epi32(0x0f);
  for (int64_t r = 0; r < nrows; ++r) {
    const int64_t row = r0 + r;
    const uint8_t* codes = w.codes + row * rb;
    float* out = dst + r * ldd - k0;
    for (int64_t c = c_begin; c < c_end;) {
      const int64_t g = c / per_group;
      const __m256 sv = _mm256_set1_ps(scale_at(w, row * groups + g));
      const __m256 zv = _mm256_set1_ps(static_cast<float>(w.zeros[row * groups + g]));
      const int64_t ce = (g + 1) * per_group < c_end ? (g + 1) * per_group : c_end;
      for (; c < ce; ++c) {
        if (c >= nchunks) {  // padding chunk past the row (kc reaches the padded width)
          _mm256_storeu_ps(out + c * kSplit, _mm256_setzero_ps());
          _mm256_storeu_ps(out + c * kSplit + 8, _mm256_setzero_ps());
          continue;
        }
        const __m256i t = load_chunk(codes, c, full, cols);
        __m256 lo = _mm256_mul_ps(sv, _mm256_sub_ps(_mm256_cvtepi32_ps(_mm256_and_si256(t, nib)), zv));
        __m256 hi = _mm256_mul_ps(sv, _mm256_sub_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32(t, 4)), zv));
        if (c == full) {  // partial last chunk: lanes of columns >= cols are 0
          const int64_t rem = cols - c * kSplit;
          const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
          const __m256 lo_ok = _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(int((rem + 1) / 2)), lane));
          const __m256 hi_ok = _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(int(rem / 2)), lane));
          lo = _mm256_and_ps(lo, lo_ok);
          hi = _mm256_and_ps(hi, hi_ok);
        }
        _mm256_storeu_ps(out + c * kSplit, lo);
        _mm256_storeu_ps(out + c * kSplit + 8, hi);
      }
    }
  }
}

// ---- dot-form micro-kernel ----

template <int MV>
void tile_mv(int64_t kc, const float* x, int64_t ldx, const float* w, int64_t ldw, int64_t nv, QmmOut y,
             bool accumulate) {
  __m256 acc[MV][kNr];
#pragma GCC unroll 4
  for (int i = 0; i < MV; ++i)
#pragma GCC unroll 2
    for (int j = 0; j < kNr; ++j) acc[i][j] = _mm256_setzero_ps();
  for (int64_t p = 0; p < kc; p += 8) {
    __m256 xv[MV];
#pragma GCC unroll 4
    for (int i = 0; i < MV; ++i) xv[i] = _mm256_loadu_ps(x + i * ldx + p);
#pragma GCC unroll 2
    for (int j = 0; j < kNr; ++j) {
      const __m256 wv = _mm256_loadu_ps(w + j * ldw + p);
#pragma GCC unroll 4
      for (int i = 0; i < MV; ++i) acc[i][j] = _mm256_fmadd_ps(xv[i], wv, acc[i][j]);
    }
  }
#pragma GCC unroll 4
  for (int i = 0; i < MV; ++i)
    for (int64_t j = 0; j < nv; ++j) {
      const float s = hsum(acc[i][j]);
      float& out = y.p[i * y.s0 + j * y.s1];
      out = accumulate ? out + s : s;
    }
}

void tile(int64_t kc, const float* x, int64_t ldx, int64_t mv, const float* w, int64_t ldw, int64_t nv, QmmOut y,
          bool accumulate) {
  switch (mv) {
    case 1: return tile_mv<1>(kc, x, ldx, w, ldw, nv, y, accumulate);
    case 2: return tile_mv<2>(kc, x, ldx, w, ldw, nv, y, accumulate);
    case 3: return tile_mv<3>(kc, x, ldx, w, ldw, nv, y, accumulate);
    default: return tile_mv<4>(kc, x, ldx, w, ldw, nv, y, accumulate);
  }
}

// ---- int8-activation kernel ----

#include "qmatmul_i8_ymm.h"
#include "qmatmul_i8_impl.h"

// ---- 8-bit codes ----

struct Q8Ymm {
  using fvec = __m256;
  using ivec = __m256i;
  static constexpr int kLanes = 8, kRegs = 16;
  static ivec widen(const uint8_t* p) { return _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))); }
  static ivec widen_part(const uint8_t* p, int64_t n) {
    alignas(16) uint8_t b[16] = {};
    for (int64_t u = 0; u < n; ++u) b[u] = p[u];
    return _mm256_cvtepu8_epi32(_mm_load_si128(reinterpret_cast<const __m128i*>(b)));
  }
  static ivec isub(ivec a, ivec b) { return _mm256_sub_epi32(a, b); }
  static ivec set1_i(int v) { return _mm256_set1_epi32(v); }
  static fvec to_float(ivec v) { return _mm256_cvtepi32_ps(v); }
  static fvec fzero() { return _mm256_setzero_ps(); }
  static fvec set1(float v) { return _mm256_set1_ps(v); }
  static fvec fmadd(fvec a, fvec b, fvec c) { return _mm256_fmadd_ps(a, b, c); }
  static fvec mul(fvec a, fvec b) { return _mm256_mul_ps(a, b); }
  static fvec load_f(const float* p) { return _mm256_loadu_ps(p); }
  static void store_f(float* p, fvec v) { _mm256_storeu_ps(p, v); }
  static float hsum(fvec v) { return nt::quant::hsum(v); }
  static float scale(const QWeight& w, int64_t i) { return scale_at(w, i); }
};

#include "qmatmul_q8_impl.h"

const QmmKernels kAvx2 = {"avx2", kSplit, 4, kNr, tile, dequant4, gemv4, qmm_avx2_gemv4_i8, 2 * I8Ymm<false>::kBytes,
                         "avx2 vpmaddubsw ymm", q8_gemv<Q8Ymm>, q8_dequant<Q8Ymm>, Q8Ymm::kLanes};

}  // namespace

void qmm_avx2_gemv4_i8(const QWeight& w, int64_t r0, int64_t r1, const QmmI8X& x, int64_t m, QmmOut y) {
  i8_gemv4<I8Ymm<false>>(w, r0, r1, x, m, y);
}

}  // namespace nt::quant

#endif  // NT_HAVE_AVX2_BUILD
#include "../cpu/isa_avx2_end.h"

#ifdef NT_HAVE_AVX2_BUILD
namespace nt::quant {
namespace {
bool qmm_avx2_supported() {
  const CpuFeatures& f = cpu_features();
  return f.avx2 && f.fma && f.f16c;
}
}  // namespace
static QmmRegistration nt_qmm_registration_avx2("avx2", 20, qmm_avx2_supported, &kAvx2);
// The same set with the AVX-VNNI int8 kernel (vpdpbusd on ymm), where the CPU has it.
const QmmKernels kAvx2Vnni = {"avx2vnni", kAvx2.split, kAvx2.mr, kAvx2.nr, kAvx2.tile, kAvx2.dequant4,
                              kAvx2.gemv4, qmm_avxvnni_gemv4_i8, kAvx2.i8_split, "avx-vnni vpdpbusd ymm",
                              kAvx2.gemv8, kAvx2.dequant8, kAvx2.q8_lanes};
static QmmRegistration nt_qmm_registration_avx2vnni("avx2vnni", 21, qmm_avxvnni_supported, &kAvx2Vnni);
}  // namespace nt::quant
#endif
