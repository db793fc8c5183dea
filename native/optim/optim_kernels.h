// Inner loops of the optimizer steps (native/optim/optim.h) in their own small dispatch
// table: a scalar reference (optim_kernels.cc) and an AVX2+FMA form (optim_kernels_avx2.cc),
// each registered with OptimIsaRegistration and chosen at run time like native/cpu/kernels.h
// (NTENSOR_ISA=scalar caps the choice for testing the references). test/native/test_optim.cc
// checks every supported ISA against the scalar table and a float64 reference.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace nt::optim {

// One Adam step's constants (f32, as every kernel computes in f32).
//   m <- b1 m + (1 - b1) g;   v <- b2 v + (1 - b2) g^2
//   u  = (m * inv_bc1) / (sqrt(v * inv_bc2) + eps)      inv_bc = 1 / (1 - b^t), t >= 1
//   direction: out = u     else (AdamW, decoupled decay): p <- p * decay - lr * u,
//                          decay = 1 - lr * weight_decay
struct AdamConstants {
  float beta1, beta2, one_minus_beta1, one_minus_beta2;
  float inv_bc1, inv_bc2, eps, lr, decay;
  bool direction;
};

// Block-wise dynamic 8-bit state: 256 sorted code values in [-1, 1] (signed, first moment) or
// [0, 1] (unsigned, second moment); a block's values x are stored as the index of the code
// nearest to x / absmax (ties to the lower code), with absmax = max |x| of the block (f32).
constexpr int kCodeSize = 256;
constexpr int64_t kMaxBlock = 2048;
// The bitsandbytes "dynamic" map (create_dynamic_map(signed, 7, 8)): for each decade
// i = 0..6, the midpoints of linspace(0.1, 1, 2^i + 1) (signed, both signs) or of
// linspace(0.1, 1, 2^(i+1) + 1) (unsigned) scaled by 10^(i-6), plus 0 and 1. Sorted ascending.
const float* dynamic_code(bool is_signed);
// Largest gap between adjacent codes: the round-trip error of a value is at most
// absmax * max_code_gap / 2 (nearest rounding), the bound the tests check.
float max_code_gap(bool is_signed);

// Fused Adam over n contiguous elements (target = p, or the direction output).
using AdamF32 = void (*)(float* target, const float* g, float* m, float* v, int64_t n, const AdamConstants& c);
// Fused 8-bit Adam over one block of n <= kMaxBlock elements: dequantize both moments
// (codes * absmax), update them, write the target, re-quantize with the new absmax.
using Adam8bitBlock = void (*)(float* target, const float* g, uint8_t* m_codes, float* m_absmax, uint8_t* v_codes,
                               float* v_absmax, int64_t n, const AdamConstants& c);
// Quantize one block (x -> codes, *absmax) and dequantize (codes, absmax -> x).
using QuantizeBlock = void (*)(const float* x, uint8_t* codes, float* absmax, int64_t n, bool is_signed);
using DequantizeBlock = void (*)(const uint8_t* codes, float absmax, float* x, int64_t n, bool is_signed);

struct OptimKernels {
  const char* isa = "scalar";  // the best ISA that filled a slot
  AdamF32 adam_f32 = nullptr;
  Adam8bitBlock adam8bit_block = nullptr;
  QuantizeBlock quantize_block = nullptr;
  DequantizeBlock dequantize_block = nullptr;
};

struct OptimIsaRegistration {
  const char* name;
  int priority;  // the same scale as native/cpu/kernels.h registrations (scalar 0, avx2 above)
  bool (*supported)();
  void (*fill)(OptimKernels& table);
  OptimIsaRegistration(const char* n, int p, bool (*s)(), void (*f)(OptimKernels&));
};

// The table in use (highest-priority supported ISA per slot, capped by NTENSOR_ISA).
const OptimKernels& optim_kernels();
// One ISA's slots over the scalar ones (tests); NT_UNSUPPORTED when unknown or unsupported.
OptimKernels optim_kernels_for(const std::string& isa);
// Registered ISAs this CPU supports, best first.
std::vector<std::string> optim_supported_isas();

}  // namespace nt::optim
