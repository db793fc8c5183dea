#include "cpu_features.h"

#include <cstdlib>

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__)
#define NT_X86 1
#if defined(_MSC_VER)
#include <intrin.h>
#else
#include <cpuid.h>
#endif
#endif

namespace nt {
namespace {

#ifdef NT_X86
void cpuid(unsigned leaf, unsigned sub, unsigned r[4]) {
#if defined(_MSC_VER)
  __cpuidex(reinterpret_cast<int*>(r), static_cast<int>(leaf), static_cast<int>(sub));
#else
  __cpuid_count(leaf, sub, r[0], r[1], r[2], r[3]);
#endif
}

unsigned long long xgetbv0() {
#if defined(_MSC_VER)
  return _xgetbv(0);
#else
  unsigned eax, edx;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<unsigned long long>(edx) << 32) | eax;
#endif
}
#endif

CpuFeatures detect() {
  CpuFeatures f;
#ifdef NT_X86
  unsigned r[4];
  cpuid(0, 0, r);
  const unsigned max_leaf = r[0];
  cpuid(1, 0, r);
  const bool osxsave = (r[2] >> 27) & 1;
  f.sse42 = (r[2] >> 20) & 1;
  const bool avx_bit = (r[2] >> 28) & 1, fma_bit = (r[2] >> 12) & 1, f16c_bit = (r[2] >> 29) & 1;
  const unsigned long long xcr0 = osxsave ? xgetbv0() : 0;
  const bool ymm_state = (xcr0 & 0x6) == 0x6;            // SSE + AVX state saved by the OS
  const bool zmm_state = (xcr0 & 0xe6) == 0xe6;          // + opmask, ZMM_Hi256, Hi16_ZMM
  f.avx = avx_bit && ymm_state;
  f.fma = fma_bit && f.avx;
  f.f16c = f16c_bit && f.avx;
  if (max_leaf >= 7) {
    cpuid(7, 0, r);
    f.avx2 = ((r[1] >> 5) & 1) && f.avx;
    f.avx512f = ((r[1] >> 16) & 1) && zmm_state;
    f.avx512bw = ((r[1] >> 30) & 1) && f.avx512f;
    f.avx512vl = ((r[1] >> 31) & 1) && f.avx512f;
    cpuid(7, 1, r);
    f.avx512bf16 = ((r[0] >> 5) & 1) && f.avx512f;
  }
#elif defined(__aarch64__) || defined(__ARM_NEON)
  f.neon = true;
#endif
  return f;
}

}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures f = detect();
  return f;
}

std::vector<std::string> cpu_feature_names() {
  const CpuFeatures& f = cpu_features();
  std::vector<std::string> out;
  auto add = [&](bool on, const char* name) { if (on) out.emplace_back(name); };
  add(f.sse42, "sse4.2");
  add(f.avx, "avx");
  add(f.avx2, "avx2");
  add(f.fma, "fma");
  add(f.f16c, "f16c");
  add(f.avx512f, "avx512f");
  add(f.avx512bw, "avx512bw");
  add(f.avx512vl, "avx512vl");
  add(f.avx512bf16, "avx512bf16");
  add(f.neon, "neon");
  return out;
}

int isa_priority_cap() {
  static const int cap = [] {
    const char* env = std::getenv("NTENSOR_ISA");
    if (!env || !*env) return 1 << 30;
    const std::string name(env);
    if (name == "scalar") return 0;
    if (name == "avx2") return 20;
    if (name == "avx2vnni") return 21;
    if (name == "avx512") return 30;
    if (name == "avx512vnni") return 31;
    return 1 << 30;
  }();
  return cap;
}

}  // namespace nt
