// AVX-512 kernels of the quantized matmul (see qmatmul_kernels.h). Split-order chunk: 16 code
// bytes = 32 columns, decoded as one zmm of low nibbles (even columns) and one of high nibbles
// (odd columns). A group's 16 dequantized values scale · (q − zero), q = 0..15, sit in one
// register and vpermps looks the codes up in it (it reads only the low 4 bits of each index,
// so the low nibble needs no mask): per chunk one vpmovzxbd, one shift and two vpermps give 32
// dequantized weights, rounded exactly as dequantize_value (group_quant.h) rounds them.
// Its int8-activation kernel is the AVX2 one (qmatmul_avx2.cc); avx512vnni has its own.
#include <cstdint>
#include <cstring>

#include "../core/cpu_features.h"
#include "qmatmul_kernels.h"

// The ISA region: only functions defined between here and the pop may use AVX-512.
#if defined(__x86_64__) || defined(_M_X64)
#define NT_HAVE_QMM_AVX512_BUILD 1
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512vl,avx512bw,avx2,fma,f16c"))), \
                             apply_to = function)
#elif defined(__GNUC__)
#pragma GCC push_options
#pragma GCC target("avx512f,avx512vl,avx512bw,avx2,fma,f16c")
// GCC 12 reports its own _mm512_undefined_* placeholders inside the intrinsics as
// "may be used uninitialized" once they are inlined here: a false positive.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

namespace nt::quant {
namespace {

constexpr int kSplit = 32;  // columns per chunk
constexpr int kNr = 6;      // tile: up to 4 rows of x x 6 weight rows = 24 zmm accumulators

inline float scale_at(const QWeight& w, int64_t i) {
  return w.scales_f16 ? _cvtsh_ss(static_cast<const uint16_t*>(w.scales)[i]) : static_cast<const float*>(w.scales)[i];
}

// scale · (q − zero) for q = 0..15, one rounding each (as dequantize_value).
inline __m512 group_table(const QWeight& w, int64_t row, int64_t g, int64_t groups) {
  const __m512 iota = _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const float z = static_cast<float>(w.zeros[row * groups + g]);
  return _mm512_mul_ps(_mm512_set1_ps(scale_at(w, row * groups + g)), _mm512_sub_ps(iota, _mm512_set1_ps(z)));
}

// The last chunk of a row when cols % 32 != 0: bytes past the row are not read and the lanes
// of columns >= cols come out 0 (whatever the padding nibbles and scales hold).
struct TailChunk {
  __mmask16 bytes = 0, lo = 0, hi = 0;
  explicit TailChunk(int64_t cols) {
    const int64_t rem = cols % kSplit;  // columns in the last chunk (0: no partial chunk)
    bytes = static_cast<__mmask16>((1u << ((rem + 1) / 2)) - 1);
    lo = bytes;
    hi = static_cast<__mmask16>((1u << (rem / 2)) - 1);
  }
};

// ---- fused GEMV ----

template <int MB>
__attribute__((always_inline)) inline void gemv_chunk(__m512 lo, __m512 hi, const float* xs, int64_t ldx, __m512* a0,
                                                      __m512* a1) {
#pragma GCC unroll 4
  for (int i = 0; i < MB; ++i) {
    a0[i] = _mm512_fmadd_ps(lo, _mm512_loadu_ps(xs + i * ldx), a0[i]);
    a1[i] = _mm512_fmadd_ps(hi, _mm512_loadu_ps(xs + i * ldx + 16), a1[i]);
  }
}

template <int MB>
void gemv4_mb(const QWeight& w, int64_t r0, int64_t r1, const float* xs, int64_t ldx, QmmOut y) {
  const int64_t rb = w.row_bytes(), groups = w.groups(), cols = w.cols;
  const int64_t full = cols / kSplit, nchunks = (cols + kSplit - 1) / kSplit;
  const int64_t per_group = groups == 1 ? nchunks : w.group_size / kSplit;
  const TailChunk tail(cols);
  const __m512 iota = _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  alignas(64) float sbuf[16], zbuf[16];
  for (int64_t r = r0; r < r1; ++r) {
    const uint8_t* codes = w.codes + r * rb;
    // two accumulator sets (even / odd chunks) per row of x: independent FMA chains
    __m512 a0[MB], a1[MB], b0[MB], b1[MB];
#pragma GCC unroll 4
    for (int i = 0; i < MB; ++i) a0[i] = a1[i] = b0[i] = b1[i] = _mm512_setzero_ps();
    for (int64_t gb = 0; gb < groups; gb += 16) {
      // 16 groups' scales and zeros converted at once (vcvtph2ps, vpmovzxbd); the per-group table
      // reads them back by broadcast: (iota − zero) · scale, the same single rounding as before
      const int64_t ng = groups - gb < 16 ? groups - gb : 16;
      const __mmask16 gm = static_cast<__mmask16>((1u << ng) - 1);
      const int64_t o = r * groups + gb;
      _mm512_store_ps(sbuf, w.scales_f16
                                ? _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(gm, static_cast<const uint16_t*>(w.scales) + o))
                                : _mm512_maskz_loadu_ps(gm, static_cast<const float*>(w.scales) + o));
      _mm512_store_ps(zbuf, _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(gm, w.zeros + o))));
      for (int64_t gi = 0; gi < ng; ++gi) {
        const int64_t g = gb + gi;
        const __m512 tbl = _mm512_mul_ps(_mm512_set1_ps(sbuf[gi]), _mm512_sub_ps(iota, _mm512_set1_ps(zbuf[gi])));
        const int64_t c0 = g * per_group, c1 = c0 + per_group < nchunks ? c0 + per_group : nchunks;
        const int64_t cf = c1 < full ? c1 : full;  // chunks [c0, cf) are whole
        int64_t c = c0;
        for (; c + 2 <= cf; c += 2) {
          // 2 rows (4 KiB at k = 4096) ahead, into L2: ~15% faster than 1 KiB into L1 from DRAM
          _mm_prefetch(reinterpret_cast<const char*>(codes + c * 16 + 4096), _MM_HINT_T1);
          const __m512i t0 = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(codes + c * 16)));
          const __m512i t1 = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(codes + c * 16 + 16)));
          gemv_chunk<MB>(_mm512_permutexvar_ps(t0, tbl), _mm512_permutexvar_ps(_mm512_srli_epi32(t0, 4), tbl),
                         xs + c * kSplit, ldx, a0, a1);
          gemv_chunk<MB>(_mm512_permutexvar_ps(t1, tbl), _mm512_permutexvar_ps(_mm512_srli_epi32(t1, 4), tbl),
                         xs + (c + 1) * kSplit, ldx, b0, b1);
        }
        for (; c < cf; ++c) {
          const __m512i t = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(codes + c * 16)));
          gemv_chunk<MB>(_mm512_permutexvar_ps(t, tbl), _mm512_permutexvar_ps(_mm512_srli_epi32(t, 4), tbl),
                         xs + c * kSplit, ldx, a0, a1);
        }
        if (c < c1) {  // the partial last chunk of the row
          const __m512i t = _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(tail.bytes, codes + c * 16));
          gemv_chunk<MB>(_mm512_maskz_permutexvar_ps(tail.lo, t, tbl),
                         _mm512_maskz_permutexvar_ps(tail.hi, _mm512_srli_epi32(t, 4), tbl), xs + c * kSplit, ldx, a0,
                         a1);
        }
      }
    }
#pragma GCC unroll 4
    for (int i = 0; i < MB; ++i)
      y.p[i * y.s0 + r * y.s1] =
          _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0[i], a1[i]), _mm512_add_ps(b0[i], b1[i])));
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
  const int64_t per_group = groups == 1 ? c_end + 1 : w.group_size / kSplit;
  const TailChunk tail(cols);
  for (int64_t r = 0; r < nrows; ++r) {
    const int64_t row = r0 + r;
    const uint8_t* codes = w.codes + row * rb;
    float* out = dst + r * ldd - k0;
    for (int64_t c = c_begin; c < c_end;) {
      const int64_t g = c / per_group;
      const __m512 tbl = group_table(w, row, g, groups);
      int64_t ce = (g + 1) * per_group < c_end ? (g + 1) * per_group : c_end;
      const int64_t cf = ce < full ? ce : full;
      for (; c < cf; ++c) {
        const __m512i t = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(codes + c * 16)));
        _mm512_storeu_ps(out + c * kSplit, _mm512_permutexvar_ps(t, tbl));
        _mm512_storeu_ps(out + c * kSplit + 16, _mm512_permutexvar_ps(_mm512_srli_epi32(t, 4), tbl));
      }
      if (c < ce) {  // c == full: the partial last chunk of the row
        const __m512i t = _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(tail.bytes, codes + c * 16));
        _mm512_storeu_ps(out + c * kSplit, _mm512_maskz_permutexvar_ps(tail.lo, t, tbl));
        _mm512_storeu_ps(out + c * kSplit + 16, _mm512_maskz_permutexvar_ps(tail.hi, _mm512_srli_epi32(t, 4), tbl));
        ++c;
      }
    }
  }
}

// ---- dot-form micro-kernel ----

template <int MV>
void tile_mv(int64_t kc, const float* x, int64_t ldx, const float* w, int64_t ldw, int64_t nv, QmmOut y,
             bool accumulate) {
  __m512 acc[MV][kNr];
#pragma GCC unroll 4
  for (int i = 0; i < MV; ++i)
#pragma GCC unroll 6
    for (int j = 0; j < kNr; ++j) acc[i][j] = _mm512_setzero_ps();
  for (int64_t p = 0; p < kc; p += 16) {
    __m512 xv[MV];
#pragma GCC unroll 4
    for (int i = 0; i < MV; ++i) xv[i] = _mm512_loadu_ps(x + i * ldx + p);
#pragma GCC unroll 6
    for (int j = 0; j < kNr; ++j) {
      const __m512 wv = _mm512_loadu_ps(w + j * ldw + p);
#pragma GCC unroll 4
      for (int i = 0; i < MV; ++i) acc[i][j] = _mm512_fmadd_ps(xv[i], wv, acc[i][j]);
    }
  }
#pragma GCC unroll 4
  for (int i = 0; i < MV; ++i)
    for (int64_t j = 0; j < nv; ++j) {
      const float s = _mm512_reduce_add_ps(acc[i][j]);
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

// ---- 8-bit codes ----

struct Q8Zmm {
  using fvec = __m512;
  using ivec = __m512i;
  static constexpr int kLanes = 16, kRegs = 32;
  static ivec widen(const uint8_t* p) { return _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
  static ivec widen_part(const uint8_t* p, int64_t n) {  // n < 16: masked, never reads past p + n
    return _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(static_cast<__mmask16>((1u << n) - 1), p));
  }
  static ivec isub(ivec a, ivec b) { return _mm512_sub_epi32(a, b); }
  static ivec set1_i(int v) { return _mm512_set1_epi32(v); }
  static fvec to_float(ivec v) { return _mm512_cvtepi32_ps(v); }
  static fvec fzero() { return _mm512_setzero_ps(); }
  static fvec set1(float v) { return _mm512_set1_ps(v); }
  static fvec fmadd(fvec a, fvec b, fvec c) { return _mm512_fmadd_ps(a, b, c); }
  static fvec mul(fvec a, fvec b) { return _mm512_mul_ps(a, b); }
  static fvec load_f(const float* p) { return _mm512_loadu_ps(p); }
  static void store_f(float* p, fvec v) { _mm512_storeu_ps(p, v); }
  static float hsum(fvec v) { return _mm512_reduce_add_ps(v); }
  static float scale(const QWeight& w, int64_t i) { return scale_at(w, i); }
};

#include "qmatmul_q8_impl.h"

const QmmKernels kAvx512 = {"avx512", kSplit, 4, kNr, tile, dequant4, gemv4, qmm_avx2_gemv4_i8, 64,
                           "avx2 vpmaddubsw ymm", q8_gemv<Q8Zmm>, q8_dequant<Q8Zmm>, Q8Zmm::kLanes};

}  // namespace
}  // namespace nt::quant

#if defined(__clang__)
#pragma clang attribute pop
#elif defined(__GNUC__)
#pragma GCC diagnostic pop
#pragma GCC pop_options
#endif
#endif  // x86-64

#ifdef NT_HAVE_QMM_AVX512_BUILD
namespace nt::quant {
namespace {
bool qmm_avx512_supported() {
  const CpuFeatures& f = cpu_features();
  return f.avx512f && f.avx512bw && f.avx512vl && f.avx2 && f.fma && f.f16c;
}
}  // namespace
static QmmRegistration nt_qmm_registration_avx512("avx512", 30, qmm_avx512_supported, &kAvx512);
// The same set with the AVX-512 VNNI int8 kernel, where the CPU has it.
const QmmKernels kAvx512Vnni = {"avx512vnni", kAvx512.split, kAvx512.mr, kAvx512.nr, kAvx512.tile,
                                kAvx512.dequant4, kAvx512.gemv4, qmm_avx512vnni_gemv4_i8, 128,
                                "avx512-vnni vpdpbusd zmm", kAvx512.gemv8, kAvx512.dequant8,
                                kAvx512.q8_lanes};
static QmmRegistration nt_qmm_registration_avx512vnni("avx512vnni", 31, qmm_avx512vnni_supported, &kAvx512Vnni);
}  // namespace nt::quant
#endif
