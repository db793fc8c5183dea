// The attention kernel registry and the scalar reference set (W = 1 traits over the same
// templates as the SIMD files, so the reference differs from them only in vector width).
#include "attention_kernels.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <string>
#include <vector>

#include "../core/cpu_features.h"
#include "../core/error.h"

namespace nt {
namespace {

std::vector<const AttentionIsa*>& registry() {
  static std::vector<const AttentionIsa*> r;
  return r;
}

struct ScalarV {
  using vec = float;
  static constexpr int W = 1;
  static vec zero() { return 0.0f; }
  static vec load(const float* p) { return *p; }
  static void store(float* p, vec v) { *p = v; }
  static vec set1(float x) { return x; }
  static vec fmadd(vec a, vec b, vec c) { return std::fma(a, b, c); }
  static float fma1(float a, float b, float c) { return std::fma(a, b, c); }
  static vec mul(vec a, vec b) { return a * b; }
  static vec add(vec a, vec b) { return a + b; }
  static vec sub(vec a, vec b) { return a - b; }
  static vec max(vec a, vec b) { return a > b ? a : b; }
  static constexpr int kRegs = 16;
  static float hsum(vec v) { return v; }
  static void hsum4(vec a, vec b, vec c, vec d, float* out) {
    out[0] = a;
    out[1] = b;
    out[2] = c;
    out[3] = d;
  }
  static float hmax(vec v) { return v; }
  static vec exp_neg(vec v) { return std::exp(v); }
  static float exp1(float v) { return std::exp(v); }
};

#include "attention_simd_impl.h"

const AttentionKernels kScalar = make_attention_kernels<ScalarV, 4, 4>("scalar");
bool scalar_supported() { return true; }

std::vector<const AttentionIsa*> sorted_supported() {
  std::vector<const AttentionIsa*> isas;
  for (const AttentionIsa* isa : registry())
    if (isa->supported()) isas.push_back(isa);
  std::sort(isas.begin(), isas.end(), [](auto* a, auto* b) { return a->priority > b->priority; });
  return isas;
}

}  // namespace

AttentionIsa::AttentionIsa(const char* n, int p, bool (*s)(), const AttentionKernels* k)
    : name(n), priority(p), supported(s), kernels(k) {
  registry().push_back(this);
}

static AttentionIsa nt_attention_scalar("scalar", 0, scalar_supported, &kScalar);

const AttentionKernels& attention_kernels() {
  static const AttentionKernels* chosen = [] {
    const int cap = isa_priority_cap();
    for (const AttentionIsa* isa : sorted_supported())
      if (isa->priority <= cap) return isa->kernels;
    return &kScalar;
  }();
  return *chosen;
}

const AttentionKernels& attention_kernels_for(const std::string& name) {
  for (const AttentionIsa* isa : registry()) {
    if (isa->name != name) continue;
    NT_CHECK(isa->supported(), Unsupported, "[attention] ISA '", name, "' is not supported by this CPU");
    return *isa->kernels;
  }
  fail(ErrorCode::Unsupported, "[attention] unknown ISA '", name, "'");
}

std::vector<std::string> attention_isas() {
  std::vector<std::string> out;
  for (const AttentionIsa* isa : sorted_supported()) out.emplace_back(isa->name);
  return out;
}

}  // namespace nt
