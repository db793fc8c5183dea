// Scalar references of the optimizer kernels (see optim_kernels.h), the dynamic 8-bit code
// maps, and the optimizer kernels' own ISA dispatch.
#include "optim_kernels.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <vector>

#include "../core/cpu_features.h"
#include "../core/error.h"

namespace nt::optim {
namespace {

std::vector<float> make_dynamic_code(bool is_signed) {
  // create_dynamic_map(signed, max_exponent_bits = 7, total_bits = 8) of bitsandbytes,
  // computed in double and rounded once to f32.
  std::vector<double> data;
  for (int i = 0; i < 7; ++i) {
    const int items = is_signed ? (1 << i) + 1 : (1 << (i + 1)) + 1;
    const double scale = std::pow(10.0, i - 6);
    for (int j = 0; j + 1 < items; ++j) {
      const double b0 = 0.1 + 0.9 * j / (items - 1), b1 = 0.1 + 0.9 * (j + 1) / (items - 1);
      const double mean = (b0 + b1) / 2;
      data.push_back(scale * mean);
      if (is_signed) data.push_back(-scale * mean);
    }
  }
  data.push_back(0.0);
  data.push_back(1.0);
  std::sort(data.begin(), data.end());
  std::vector<float> code(data.begin(), data.end());
  return code;  // 2 * 127 + 2 = 256 (signed) or 254 + 2 (unsigned) values
}

const std::vector<float>& code_table(bool is_signed) {
  static const std::vector<float> s = make_dynamic_code(true), u = make_dynamic_code(false);
  return is_signed ? s : u;
}

// Index of the code nearest to y (ties to the lower one): a branch-free binary search for the
// last code <= y, then a comparison with its upper neighbour. The AVX2 form does the same
// comparisons on 8 lanes with gathers, so both give the same index for the same y.
inline uint8_t nearest_code(const float* code, float y) {
  int lo = 0;
  for (int step = 128; step >= 1; step >>= 1)
    if (code[lo + step] <= y) lo += step;
  if (lo < kCodeSize - 1 && code[lo + 1] - y < y - code[lo]) ++lo;
  return static_cast<uint8_t>(lo);
}

void quantize_block_scalar(const float* x, uint8_t* codes, float* absmax, int64_t n, bool is_signed) {
  const float* code = dynamic_code(is_signed);
  float amax = 0;
  for (int64_t i = 0; i < n; ++i) amax = std::max(amax, std::fabs(x[i]));
  *absmax = amax;
  // All-zero block: every value is the code 0 (absmax 0 dequantizes anything to 0 anyway).
  const float inv = amax > 0 ? amax : 1.0f;
  for (int64_t i = 0; i < n; ++i) codes[i] = nearest_code(code, x[i] / inv);
}

void dequantize_block_scalar(const uint8_t* codes, float absmax, float* x, int64_t n, bool is_signed) {
  const float* code = dynamic_code(is_signed);
  for (int64_t i = 0; i < n; ++i) x[i] = code[codes[i]] * absmax;
}

inline float adam_element(float* target, float g, float& m, float& v, const AdamConstants& c, int64_t i) {
  m = c.beta1 * m + c.one_minus_beta1 * g;
  v = c.beta2 * v + c.one_minus_beta2 * (g * g);
  const float u = (m * c.inv_bc1) / (std::sqrt(v * c.inv_bc2) + c.eps);
  target[i] = c.direction ? u : target[i] * c.decay - c.lr * u;
  return u;
}

void adam_f32_scalar(float* target, const float* g, float* m, float* v, int64_t n, const AdamConstants& c) {
  for (int64_t i = 0; i < n; ++i) adam_element(target, g[i], m[i], v[i], c, i);
}

void adam8bit_block_scalar(float* target, const float* g, uint8_t* m_codes, float* m_absmax, uint8_t* v_codes,
                           float* v_absmax, int64_t n, const AdamConstants& c) {
  float mb[kMaxBlock], vb[kMaxBlock];
  dequantize_block_scalar(m_codes, *m_absmax, mb, n, true);
  dequantize_block_scalar(v_codes, *v_absmax, vb, n, false);
  for (int64_t i = 0; i < n; ++i) adam_element(target, g[i], mb[i], vb[i], c, i);
  quantize_block_scalar(mb, m_codes, m_absmax, n, true);
  quantize_block_scalar(vb, v_codes, v_absmax, n, false);
}

bool always() { return true; }

void fill_scalar(OptimKernels& t) {
  t.adam_f32 = adam_f32_scalar;
  t.adam8bit_block = adam8bit_block_scalar;
  t.quantize_block = quantize_block_scalar;
  t.dequantize_block = dequantize_block_scalar;
}

std::vector<const OptimIsaRegistration*>& registry() {
  static std::vector<const OptimIsaRegistration*> r;
  return r;
}

void merge(OptimKernels& into, const OptimKernels& t) {
  if (t.adam_f32) into.adam_f32 = t.adam_f32;
  if (t.adam8bit_block) into.adam8bit_block = t.adam8bit_block;
  if (t.quantize_block) into.quantize_block = t.quantize_block;
  if (t.dequantize_block) into.dequantize_block = t.dequantize_block;
}

OptimKernels select_table() {
  // NTENSOR_ISA caps the priority on the scale every registry shares
  const int cap = isa_priority_cap();
  std::vector<const OptimIsaRegistration*> isas = registry();
  std::sort(isas.begin(), isas.end(), [](auto* a, auto* b) { return a->priority < b->priority; });
  OptimKernels table;
  for (const OptimIsaRegistration* isa : isas) {
    if (isa->priority > cap || !isa->supported()) continue;
    OptimKernels t;
    isa->fill(t);
    merge(table, t);
    table.isa = isa->name;  // ascending priority: the last one merged is the best
  }
  return table;
}

}  // namespace

static OptimIsaRegistration nt_optim_isa_scalar("scalar", 0, always, fill_scalar);

const float* dynamic_code(bool is_signed) { return code_table(is_signed).data(); }

float max_code_gap(bool is_signed) {
  const std::vector<float>& c = code_table(is_signed);
  float gap = 0;
  for (size_t i = 1; i < c.size(); ++i) gap = std::max(gap, c[i] - c[i - 1]);
  return gap;
}

OptimIsaRegistration::OptimIsaRegistration(const char* n, int p, bool (*s)(), void (*f)(OptimKernels&))
    : name(n), priority(p), supported(s), fill(f) {
  registry().push_back(this);
}

const OptimKernels& optim_kernels() {
  static const OptimKernels table = select_table();
  return table;
}

OptimKernels optim_kernels_for(const std::string& name) {
  OptimKernels table;
  bool found = false;
  for (const OptimIsaRegistration* isa : registry())
    if (isa->name == std::string("scalar")) isa->fill(table);
  for (const OptimIsaRegistration* isa : registry()) {
    if (isa->name != name) continue;
    NT_CHECK(isa->supported(), Unsupported, "[optim.kernels] ISA '", name, "' is not supported by this CPU");
    OptimKernels t;
    isa->fill(t);
    merge(table, t);
    found = true;
  }
  NT_CHECK(found, Unsupported, "[optim.kernels] unknown ISA '", name, "'");
  return table;
}

std::vector<std::string> optim_supported_isas() {
  std::vector<const OptimIsaRegistration*> isas = registry();
  std::sort(isas.begin(), isas.end(), [](auto* a, auto* b) { return a->priority > b->priority; });
  std::vector<std::string> out;
  for (const OptimIsaRegistration* isa : isas)
    if (isa->supported() && std::find(out.begin(), out.end(), isa->name) == out.end()) out.emplace_back(isa->name);
  return out;
}

}  // namespace nt::optim
