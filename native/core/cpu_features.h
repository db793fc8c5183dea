// Run-time CPU feature detection (cpuid + xgetbv on x86, compile-time on ARM).
#pragma once
#include <string>
#include <vector>

namespace nt {

struct CpuFeatures {
  bool sse42 = false, avx = false, avx2 = false, fma = false, f16c = false;
  bool avx512f = false, avx512bw = false, avx512vl = false, avx512bf16 = false;
  bool neon = false;
};

// Detected once; OS support for the register state (XCR0) is checked, not just cpuid bits.
const CpuFeatures& cpu_features();
std::vector<std::string> cpu_feature_names();

// The ceiling NTENSOR_ISA puts on every kernel registry's priority (scalar 0, avx2 20,
// avx2vnni 21, avx512 30, avx512vnni 31): a registry picks its best supported set at or below
// it. Unset or an unknown name: no ceiling (the TypeScript loader warns about an unknown name).
// CI runs the kernel suites once per level so the paths a CPU does not pick by default are
// tested too.
int isa_priority_cap();

}  // namespace nt
