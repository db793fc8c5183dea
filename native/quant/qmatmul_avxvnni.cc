// The AVX-VNNI int8-activation kernel of the quantized matmul: the shared family
// (qmatmul_i8_impl.h) over the 256-bit traits with vpdpbusd on ymm (Alder Lake and later, Zen 5),
// registered by qmatmul_avx2.cc as the "avx2vnni" set (the avx2 set plus this kernel), so
// NTENSOR_ISA=avx2 turns it off. One vpdpbusd does the work of vpmaddubsw + vpmaddwd + vpaddd.
#include <cstdint>

#include "../core/cpu_features.h"
#include "qmatmul_kernels.h"

#if defined(__x86_64__) || defined(_M_X64)
#define NT_HAVE_QMM_AVXVNNI_BUILD 1
#include <cpuid.h>
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c,avxvnni"))), apply_to = function)
#elif defined(__GNUC__)
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c,avxvnni")
#endif
#include <immintrin.h>

namespace nt::quant {
namespace {

#include "qmatmul_ymm.h"
#include "qmatmul_i8_impl.h"

}  // namespace

void qmm_avxvnni_gemv4_i8(const QWeight& w, int64_t r0, int64_t r1, const QmmI8X& x, int64_t m, QmmOut y) {
  i8_gemv4<QmmYmm<true>>(w, r0, r1, x, m, y);
}

}  // namespace nt::quant

#if defined(__clang__)
#pragma clang attribute pop
#elif defined(__GNUC__)
#pragma GCC pop_options
#endif
#endif  // x86-64

#ifdef NT_HAVE_QMM_AVXVNNI_BUILD
namespace nt::quant {

bool qmm_avxvnni_supported() {
  const CpuFeatures& f = cpu_features();
  if (!(f.avx2 && f.fma && f.f16c)) return false;  // also checks the OS's ymm state
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid_count(7, 1, &a, &b, &c, &d)) return false;
  return (a >> 4) & 1;  // CPUID.(EAX=7,ECX=1):EAX[4] AVX-VNNI
}

}  // namespace nt::quant
#endif
