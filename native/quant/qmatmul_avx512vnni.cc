// The AVX-512 VNNI int8-activation kernel of the quantized matmul: the shared family
// (qmatmul_i8_impl.h) over zmm, one chunk = 64 code bytes = 128 columns, vpdpbusd for the
// dots. Registered by qmatmul_avx512.cc as "avx512vnni" (the avx512 set plus this kernel), so
// NTENSOR_ISA=avx512 turns it off.
// Prefetch (in the family): the codes one row block ahead, into L2. Measured on the 2-core
// AVX-512 VNNI machine with weights streamed from DRAM: without it the 4 interleaved row streams
// run at ~8 GB/s per core; with it at ~13 GB/s (~90% of the core's plain read bandwidth); 2
// blocks ahead and T0 measured the same or slightly slower.
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

struct I8Zmm {
  using ivec = __m512i;
  using fvec = __m512;
  static constexpr int kBytes = 64, kLanes = 16, kRegs = 32;

  static ivec load_bytes(const void* p) { return _mm512_loadu_si512(p); }
  static ivec load_bytes_part(const uint8_t* p, int64_t n) {
    return _mm512_maskz_loadu_epi8((__mmask64(1) << n) - 1, p);  // n < 64
  }
  static ivec low_nibbles(ivec v) { return _mm512_and_si512(v, _mm512_set1_epi8(0x0f)); }
  static ivec high_nibbles(ivec v) { return _mm512_and_si512(_mm512_srli_epi16(v, 4), _mm512_set1_epi8(0x0f)); }
  static ivec dot2(ivec acc, ivec u0, ivec s0, ivec u1, ivec s1) {
    return _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(acc, u0, s0), u1, s1);
  }
  static ivec izero() { return _mm512_setzero_si512(); }
  static fvec fzero() { return _mm512_setzero_ps(); }
  static fvec to_float(ivec v) { return _mm512_cvtepi32_ps(v); }
  static fvec fmadd(fvec a, fvec b, fvec c) { return _mm512_fmadd_ps(a, b, c); }
  static fvec fnmadd(fvec a, fvec b, fvec c) { return _mm512_fnmadd_ps(a, b, c); }
  static fvec mul(fvec a, fvec b) { return _mm512_mul_ps(a, b); }
  static fvec set1(float v) { return _mm512_set1_ps(v); }
  static float hsum(fvec v) { return _mm512_reduce_add_ps(v); }
  static fvec load_f(const float* p) { return _mm512_loadu_ps(p); }
  static fvec load_f16(const uint16_t* p) { return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }
  static fvec load_u8(const uint8_t* p) {
    return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
  }
  static fvec load_i32(const int32_t* p) { return _mm512_cvtepi32_ps(_mm512_loadu_si512(p)); }
  static void store_f(float* p, fvec v) { _mm512_store_ps(p, v); }
  static fvec lane_groups(fvec t, int first, int shift) {
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    return _mm512_permutexvar_ps(_mm512_add_epi32(_mm512_srl_epi32(lane, _mm_cvtsi32_si128(shift)), _mm512_set1_epi32(first)), t);
  }
};

#include "qmatmul_i8_impl.h"

}  // namespace

void qmm_avx512vnni_gemv4_i8(const QWeight& w, int64_t r0, int64_t r1, const QmmI8X& x, int64_t m, QmmOut y) {
  i8_gemv4<I8Zmm>(w, r0, r1, x, m, y);
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

bool qmm_avx512vnni_supported() {
  const CpuFeatures& f = cpu_features();
  if (!(f.avx512f && f.avx512bw && f.avx512vl && f.avx2 && f.fma && f.f16c)) return false;  // also checks OS zmm state
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
  return (c >> 11) & 1;  // CPUID.(EAX=7,ECX=0):ECX[11] AVX512_VNNI
}

}  // namespace nt::quant
#endif
