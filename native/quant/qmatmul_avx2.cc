// AVX2+FMA+F16C kernel set of the quantized matmul (qmatmul_kernels.h): the 256-bit traits
// (qmatmul_ymm.h) instantiated over the kernel families, plus the registrations of "avx2" and
// "avx2vnni" (the same set with the AVX-VNNI int8 kernel of qmatmul_avxvnni.cc).
//   2/3/4-bit codes, f32 activations (qmatmul_f4_impl.h): chunk of 8 code bytes = 16 columns,
//     q − zero in the integer domain, the scale once per group; panel tile 4 x 2 (8 ymm
//     accumulators of the 16).
//   8-bit codes (qmatmul_q8_impl.h); int8 activations (qmatmul_i8_impl.h, vpmaddubsw).
#include <cstdint>

#include "../core/cpu_features.h"
#include "qmatmul_kernels.h"

#include "../cpu/isa_avx2_begin.h"
#ifdef NT_HAVE_AVX2_BUILD

namespace nt::quant {
namespace {

#include "qmatmul_ymm.h"
#include "qmatmul_f4_impl.h"
#include "qmatmul_i8_impl.h"
#include "qmatmul_q8_impl.h"

using Ymm = QmmYmm<false>;
constexpr int kNr = 2;  // tile: up to 4 rows of x x 2 weight rows = 8 ymm accumulators

const QmmKernels kAvx2 = {"avx2", 2 * Ymm::kLanes, 4, kNr, f32_tile<Ymm, kNr>, f4_dequant<Ymm>, f4_gemv<Ymm>,
                         qmm_avx2_gemv4_i8, 2 * Ymm::kBytes, "avx2 vpmaddubsw ymm", q8_gemv<Ymm>, q8_dequant<Ymm>,
                         Ymm::kLanes};

}  // namespace

void qmm_avx2_gemv4_i8(const QWeight& w, int64_t r0, int64_t r1, const QmmI8X& x, int64_t m, QmmOut y) {
  i8_gemv4<Ymm>(w, r0, r1, x, m, y);
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
