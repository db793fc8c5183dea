// The portable (scalar) GEAR kernels: the W = 1 instantiation of gear_simd_impl.h, the reference
// the SIMD tables are tested against, and the selection of the table in use.
#include <cstdint>
#include <cstring>

#include "../core/cpu_features.h"
#include "gear.h"
#include "gear_kernels.h"

namespace nt::kvcache {
namespace {

struct ScalarV {
  using vec = float;
  static constexpr int W = 1;
  static constexpr int kRegs = 16;
  using veci = int32_t;  // unused: W = 1 never takes the phase layout
  static vec zero() { return 0.0f; }
  static vec load(const float* p) { return *p; }
  static void store(float* p, vec v) { *p = v; }
  static vec set1(float x) { return x; }
  static vec fmadd(vec a, vec b, vec c) { return a * b + c; }
  static vec mul(vec a, vec b) { return a * b; }
  static float hsum(vec v) { return v; }
  static void hsum4(vec a, vec b, vec c, vec d, float* out) {
    out[0] = a;
    out[1] = b;
    out[2] = c;
    out[3] = d;
  }
};

#include "gear_simd_impl.h"

}  // namespace

const GearKernels& gear_kernels_portable() {
  static const GearKernels k = make_gear_kernels<ScalarV>("portable");
  return k;
}

const GearKernels& gear_kernels() {
  static const GearKernels& k = gear_kernels_avx512()  ? *gear_kernels_avx512()
                                : gear_kernels_avx2() ? *gear_kernels_avx2()
                                                      : gear_kernels_portable();
  return k;
}

}  // namespace nt::kvcache
