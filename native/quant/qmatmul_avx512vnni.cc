// The AVX-512 VNNI int8-activation kernel of the quantized matmul: the shared family
// (qmatmul_i8_impl.h) over the 512-bit traits (qmatmul_zmm.h), one chunk = 64 code bytes = 128
// columns, vpdpbusd for the dots. Registered by qmatmul_avx512.cc as "avx512vnni" (the avx512 set plus this kernel), so
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

#include "qmatmul_zmm.h"
#include "qmatmul_i8_impl.h"

}  // namespace

void qmm_avx512vnni_gemv4_i8(const QWeight& w, int64_t r0, int64_t r1, const QmmI8X& x, int64_t m, QmmOut y) {
  i8_gemv4<QmmZmm<true>>(w, r0, r1, x, m, y);
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
