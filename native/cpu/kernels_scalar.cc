// Scalar reference kernels: the portable baseline every SIMD slot is tested against.
#include <cmath>
#include <cstdint>

#include "../core/half.h"
#include "kernels.h"

namespace nt {
namespace {

void f16_to_f32_scalar(const uint16_t* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = f16_to_f32(src[i]);
}
void f32_to_f16_scalar(const float* src, uint16_t* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = f32_to_f16(src[i]);
}
void bf16_to_f32_scalar(const uint16_t* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(src[i]);
}
void f32_to_bf16_scalar(const float* src, uint16_t* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = f32_to_bf16(src[i]);
}

bool always() { return true; }

void fill_scalar(KernelTable& t) {
  t.f16_to_f32 = f16_to_f32_scalar;
  t.f32_to_f16 = f32_to_f16_scalar;
  t.bf16_to_f32 = bf16_to_f32_scalar;
  t.f32_to_bf16 = f32_to_bf16_scalar;
}

}  // namespace

NT_REGISTER_ISA(scalar, 0, always, fill_scalar);

}  // namespace nt
