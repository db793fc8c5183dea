// AVX-512 kernel set of the quantized matmul (qmatmul_kernels.h): the 512-bit traits
// (qmatmul_zmm.h) instantiated over the kernel families, registered as "avx512" and, with the
// AVX-512 VNNI int8 kernel of qmatmul_avx512vnni.cc, "avx512vnni".
//   2/3/4-bit codes, f32 activations (qmatmul_f4_impl.h): chunk of 16 code bytes = 32 columns,
//     decoded by a vpermps lookup in the group's 16-entry table of scale · (q − zero); panel
//     tile 4 x 6 (24 zmm accumulators of the 32).
//   8-bit codes (qmatmul_q8_impl.h).
// Its int8-activation kernel is the AVX2 one (qmatmul_avx2.cc, chunk 64 columns).
#include <cstdint>

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

#include "qmatmul_zmm.h"
#include "qmatmul_f4_impl.h"
#include "qmatmul_q8_impl.h"

using Zmm = QmmZmm<false>;
constexpr int kNr = 6;  // tile: up to 4 rows of x x 6 weight rows = 24 zmm accumulators

const QmmKernels kAvx512 = {"avx512", 2 * Zmm::kLanes, 4, kNr, f32_tile<Zmm, kNr>, f4_dequant<Zmm>, f4_gemv<Zmm>,
                           qmm_avx2_gemv4_i8, 64, "avx2 vpmaddubsw ymm", q8_gemv<Zmm>, q8_dequant<Zmm>,
                           Zmm::kLanes};

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
