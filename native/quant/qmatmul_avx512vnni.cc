// The int8-activation kernel of the quantized matmul (AVX-512 VNNI; see qmatmul_kernels.h
// gemv4_i8): x is quantized per row and weight group to int8 (symmetric, scale amax / 127) and
// every group's dot product with the 4-bit codes is exact integer arithmetic:
//   y = sum_g scale_g · sx_g · (sum_c q_c · xq_c − zero_g · sum_c xq_c)
// One chunk = 64 code bytes = 128 columns: the low nibbles (even columns) and the high nibbles
// (odd columns) are two vectors of 64 unsigned bytes, each multiplied with 64 signed x bytes by
// one vpdpbusd (4 products per int32 lane). Registered as "avx512vnni" (the avx512 set plus this
// kernel), so NTENSOR_ISA=avx512 turns it off.
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

inline float scale_at(const QWeight& w, int64_t i) {
  return w.scales_f16 ? _cvtsh_ss(static_cast<const uint16_t*>(w.scales)[i]) : static_cast<const float*>(w.scales)[i];
}

template <int MB>
void gemv4_i8_mb(const QWeight& w, int64_t r0, int64_t r1, const int8_t* xq, int64_t ldq, const float* sx,
                 const int32_t* sq, QmmOut y) {
  const int64_t rb = w.row_bytes(), groups = w.groups(), cols = w.cols;
  const int64_t full = cols / kQmmI8Chunk, nchunks = (cols + kQmmI8Chunk - 1) / kQmmI8Chunk;
  const int64_t per_group = groups == 1 ? nchunks : w.group_size / kQmmI8Chunk;
  const int64_t tail_bytes = rb - full * 64;  // bytes of the partial last chunk (0: none)
  const __mmask64 tail = tail_bytes >= 64 ? ~__mmask64(0) : (__mmask64(1) << tail_bytes) - 1;
  const __m512i nib = _mm512_set1_epi8(0x0f);
  for (int64_t r = r0; r < r1; ++r) {
    const uint8_t* codes = w.codes + r * rb;
    __m512 accf[MB];
    float zterm[MB];
#pragma GCC unroll 4
    for (int i = 0; i < MB; ++i) {
      accf[i] = _mm512_setzero_ps();
      zterm[i] = 0.0f;
    }
    for (int64_t g = 0; g < groups; ++g) {
      __m512i acc[MB];
#pragma GCC unroll 4
      for (int i = 0; i < MB; ++i) acc[i] = _mm512_setzero_si512();
      const int64_t c0 = g * per_group, c1 = c0 + per_group < nchunks ? c0 + per_group : nchunks;
      for (int64_t c = c0; c < c1; ++c) {
        const __m512i v = c < full ? _mm512_loadu_si512(codes + c * 64) : _mm512_maskz_loadu_epi8(tail, codes + c * 64);
        const __m512i lo = _mm512_and_si512(v, nib);
        const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), nib);
#pragma GCC unroll 4
        for (int i = 0; i < MB; ++i) {
          const int8_t* xr = xq + i * ldq + c * kQmmI8Chunk;
          acc[i] = _mm512_dpbusd_epi32(acc[i], lo, _mm512_loadu_si512(xr));
          acc[i] = _mm512_dpbusd_epi32(acc[i], hi, _mm512_loadu_si512(xr + 64));
        }
      }
      const float s = scale_at(w, r * groups + g);
      const float z = static_cast<float>(w.zeros[r * groups + g]);
#pragma GCC unroll 4
      for (int i = 0; i < MB; ++i) {
        const float f = s * sx[i * groups + g];
        accf[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc[i]), _mm512_set1_ps(f), accf[i]);
        zterm[i] += f * z * static_cast<float>(sq[i * groups + g]);
      }
    }
#pragma GCC unroll 4
    for (int i = 0; i < MB; ++i) y.p[i * y.s0 + r * y.s1] = _mm512_reduce_add_ps(accf[i]) - zterm[i];
  }
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
