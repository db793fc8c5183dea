// Inner loops of attention over a GEAR cache block (dequantized rows in an L1-sized scratch):
// scores of G queries against n rows, and the probability-weighted accumulation of n rows. A
// portable form (gear_attention.cc) and an AVX2+FMA form (gear_avx2.cc), chosen once at run time
// from the CPU features (capped by NTENSOR_ISA, see isa_priority_cap). Each output element is owned by one call, so results do not depend on
// the thread count. (A candidate for the shared NT_KERNEL_SLOTS table of native/cpu/kernels.h.)
#pragma once
#include <cstdint>

namespace nt::kvcache {

struct GearKernels {
  const char* isa;
  // S[g * n + t] = dot(qs[g * d ...], rows[t * d ...]) for g < G, t < n
  void (*scores)(const float* qs, int64_t G, const float* rows, int64_t n, int64_t d, float* S);
  // acc[g * d + j] += sum_t P[g * n + t] * rows[t * d + j]
  void (*accumulate)(const float* P, int64_t G, const float* rows, int64_t n, int64_t d, float* acc);
  // out[j] = lo[j] + step[j] * code_j for the d codes packed from byte `codes` on (bits 2|4,
  // element j at bit j·bits, low bits first): per-channel ranges (KIVI keys)
  void (*dequant_channels)(const uint8_t* codes, int bits, int64_t d, const float* lo, const float* step, float* out);
  // the same with one range for all d codes (KIVI value groups, uniform)
  void (*dequant_scalar)(const uint8_t* codes, int bits, int64_t d, float lo, float step, float* out);
};

const GearKernels& gear_kernels();
const GearKernels& gear_kernels_portable();
// nullptr when this build has no AVX2 form or the CPU lacks AVX2/FMA.
const GearKernels* gear_kernels_avx2();

}  // namespace nt::kvcache
