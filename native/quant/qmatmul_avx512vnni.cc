// The int8-activation kernel of the quantized matmul (AVX-512 VNNI; see qmatmul_kernels.h
// gemv4_i8): x is quantized per row and weight group to int8 (symmetric, scale amax / 127) and
// every group's dot product with the 4-bit codes is exact integer arithmetic:
//   y = sum_g scale_g · sx_g · (sum_c q_c · xq_c − zero_g · sum_c xq_c)
// One chunk = 64 code bytes = 128 columns: the low nibbles (even columns) and the high nibbles
// (odd columns) are two vectors of 64 unsigned bytes, each multiplied with 64 signed x bytes by
// one vpdpbusd (4 products per int32 lane). Registered as "avx512vnni" (the avx512 set plus this
// kernel), so NTENSOR_ISA=avx512 turns it off. 2 or 4 weight rows go together (each x load serves
// all of them), the per-group float factors are formed 16 groups at a time in vectors, and the
// next rows' codes are prefetched (gemv4_i8_block).
#include <cstdint>

#include "../core/cpu_features.h"
#include "qmatmul_kernels.h"

#if defined(__x86_64__) || defined(_M_X64)
#define NT_HAVE_QMM_VNNI_BUILD 1
#include <cpuid.h>
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512vl,avx512bw,avx512vnni,avx2,fma,f16c"))), \
                             apply_to = function)
#elif defined(__GNUC__)
#pragma GCC push_options
#pragma GCC target("avx512f,avx512vl,avx512bw,avx512vnni,avx2,fma,f16c")
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"  // GCC 12 false positive inside the intrinsics
#endif
#include <immintrin.h>

namespace nt::quant {
namespace {

// Software prefetch distance for the codes (into L2), in blocks of RB rows ahead (the RB rows
// of a block are one contiguous run of RB · row_bytes bytes, so "the same offset RB rows later"
// walks the stream).
// Measured on the 2-core AVX-512 VNNI machine with weights streamed from DRAM: without it the
// 4 interleaved row streams run at ~8 GB/s per core; with it (to L2) at ~13 GB/s (~90% of the
// core's plain read bandwidth). 2 blocks ahead and T0 measured the same or slightly slower.
constexpr int64_t kPfBlocks = 1;

// RB consecutive weight rows against MB rows of x. Per 16 groups the float factors
// f = scale · sx are formed in vectors (vcvtph2ps of 16 f16 scales at once) and parked in a small
// buffer that the per-group FMA reads by broadcast; the zero-point term −f · zero · sq of those 16
// groups is folded into the accumulator with one vector FMA. Each row's arithmetic is the same
// sequence whatever RB is (rows only interleave), so results do not depend on the row blocking.
template <int MB, int RB>
__attribute__((always_inline)) inline void gemv4_i8_block(const QWeight& w, int64_t r, const int8_t* xq, int64_t ldq,
                                                          const float* sx, const int32_t* sq, QmmOut y) {
  const int64_t rb = w.row_bytes(), groups = w.groups(), cols = w.cols;
  const int64_t full = cols / kQmmI8Chunk, nchunks = (cols + kQmmI8Chunk - 1) / kQmmI8Chunk;
  const int64_t per_group = groups == 1 ? nchunks : w.group_size / kQmmI8Chunk;
  const int64_t tail_bytes = rb - full * 64;  // bytes of the partial last chunk (0: none)
  const __mmask64 tail = tail_bytes >= 64 ? ~__mmask64(0) : (__mmask64(1) << tail_bytes) - 1;
  const __m512i nib = _mm512_set1_epi8(0x0f);
  const int64_t pf = kPfBlocks * RB * rb;
  const uint8_t* codes = w.codes + r * rb;
  alignas(64) float fac[RB][MB][16];
  __m512 accf[RB][MB];
#pragma GCC unroll 4
  for (int j = 0; j < RB; ++j)
#pragma GCC unroll 4
    for (int i = 0; i < MB; ++i) accf[j][i] = _mm512_setzero_ps();
  for (int64_t gb = 0; gb < groups; gb += 16) {
    const int64_t ng = groups - gb < 16 ? groups - gb : 16;
    const __mmask16 gm = static_cast<__mmask16>((1u << ng) - 1);
    __m512 sxv[MB], sqv[MB];
#pragma GCC unroll 4
    for (int i = 0; i < MB; ++i) {
      sxv[i] = _mm512_maskz_loadu_ps(gm, sx + i * groups + gb);
      sqv[i] = _mm512_cvtepi32_ps(_mm512_maskz_loadu_epi32(gm, sq + i * groups + gb));
    }
#pragma GCC unroll 4
    for (int j = 0; j < RB; ++j) {
      const int64_t o = (r + j) * groups + gb;
      const __m512 sc = w.scales_f16
                            ? _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(gm, static_cast<const uint16_t*>(w.scales) + o))
                            : _mm512_maskz_loadu_ps(gm, static_cast<const float*>(w.scales) + o);
      const __m512 zf = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(gm, w.zeros + o)));
#pragma GCC unroll 4
      for (int i = 0; i < MB; ++i) {
        const __m512 f = _mm512_mul_ps(sc, sxv[i]);
        _mm512_store_ps(fac[j][i], f);
        accf[j][i] = _mm512_fnmadd_ps(_mm512_mul_ps(f, zf), sqv[i], accf[j][i]);
      }
    }
    for (int64_t gi = 0; gi < ng; ++gi) {
      const int64_t g = gb + gi;
      __m512i acc[RB][MB];
#pragma GCC unroll 4
      for (int j = 0; j < RB; ++j)
#pragma GCC unroll 4
        for (int i = 0; i < MB; ++i) acc[j][i] = _mm512_setzero_si512();
      const int64_t c0 = g * per_group, c1 = c0 + per_group < nchunks ? c0 + per_group : nchunks;
      for (int64_t c = c0; c < c1; ++c) {
        const int8_t* xr = xq + c * kQmmI8Chunk;
#pragma GCC unroll 4
        for (int j = 0; j < RB; ++j) {
          const uint8_t* p = codes + j * rb + c * 64;
          _mm_prefetch(reinterpret_cast<const char*>(p + pf), _MM_HINT_T1);
          const __m512i v = c < full ? _mm512_loadu_si512(p) : _mm512_maskz_loadu_epi8(tail, p);
          const __m512i lo = _mm512_and_si512(v, nib);
          const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), nib);
#pragma GCC unroll 4
          for (int i = 0; i < MB; ++i) {
            acc[j][i] = _mm512_dpbusd_epi32(acc[j][i], lo, _mm512_loadu_si512(xr + i * ldq));
            acc[j][i] = _mm512_dpbusd_epi32(acc[j][i], hi, _mm512_loadu_si512(xr + i * ldq + 64));
          }
        }
      }
#pragma GCC unroll 4
      for (int j = 0; j < RB; ++j)
#pragma GCC unroll 4
        for (int i = 0; i < MB; ++i)
          accf[j][i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc[j][i]), _mm512_set1_ps(fac[j][i][gi]), accf[j][i]);
    }
  }
#pragma GCC unroll 4
  for (int j = 0; j < RB; ++j)
#pragma GCC unroll 4
    for (int i = 0; i < MB; ++i) y.p[i * y.s0 + (r + j) * y.s1] = _mm512_reduce_add_ps(accf[j][i]);
}

template <int MB>
void gemv4_i8_mb(const QWeight& w, int64_t r0, int64_t r1, const int8_t* xq, int64_t ldq, const float* sx,
                 const int32_t* sq, QmmOut y) {
  // rows per block: 4 share each x load for m <= 2 (RB · MB int32 + RB · MB f32 accumulators
  // stay within the 32 zmm registers), 2 for m = 3, 4
  constexpr int RB = MB <= 2 ? 4 : 2;
  int64_t r = r0;
  for (; r + RB <= r1; r += RB) gemv4_i8_block<MB, RB>(w, r, xq, ldq, sx, sq, y);
  for (; r < r1; ++r) gemv4_i8_block<MB, 1>(w, r, xq, ldq, sx, sq, y);
}

}  // namespace

void qmm_vnni_gemv4_i8(const QWeight& w, int64_t r0, int64_t r1, const int8_t* xq, int64_t ldq, const float* sx,
                       const int32_t* sq, int64_t m, QmmOut y) {
  switch (m) {
    case 1: return gemv4_i8_mb<1>(w, r0, r1, xq, ldq, sx, sq, y);
    case 2: return gemv4_i8_mb<2>(w, r0, r1, xq, ldq, sx, sq, y);
    case 3: return gemv4_i8_mb<3>(w, r0, r1, xq, ldq, sx, sq, y);
    default: return gemv4_i8_mb<4>(w, r0, r1, xq, ldq, sx, sq, y);
  }
}

}  // namespace nt::quant

#if defined(__clang__)
#pragma clang attribute pop
#elif defined(__GNUC__)
#pragma GCC diagnostic pop
#pragma GCC pop_options
#endif
#endif  // x86-64

#ifdef NT_HAVE_QMM_VNNI_BUILD
namespace nt::quant {

bool qmm_vnni_supported() {
  const CpuFeatures& f = cpu_features();
  if (!(f.avx512f && f.avx512bw && f.avx512vl && f.avx2 && f.fma && f.f16c)) return false;  // also checks OS zmm state
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
  return (c >> 11) & 1;  // CPUID.(EAX=7,ECX=0):ECX[11] AVX512_VNNI
}

}  // namespace nt::quant
#endif
