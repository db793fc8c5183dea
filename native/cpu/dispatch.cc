#include "kernels.h"

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <string>
#include <vector>

#include "../core/cpu_features.h"
#include "../core/error.h"

namespace nt {
namespace {

std::vector<const IsaRegistration*>& registry() {
  static std::vector<const IsaRegistration*> r;
  return r;
}

struct Selection {
  KernelTable table;
  std::vector<std::pair<std::string, std::string>> choices;
};

// Merge ISAs in ascending priority so a better ISA overwrites the slots it fills.
Selection select(int max_priority) {
  std::vector<const IsaRegistration*> isas = registry();
  std::sort(isas.begin(), isas.end(), [](auto* a, auto* b) { return a->priority < b->priority; });
  Selection sel;
  for (const IsaRegistration* isa : isas) {
    if (isa->priority > max_priority || !isa->supported()) continue;
    KernelTable t;
    isa->fill(t);
#define NT_KERNEL_MERGE(type, slot) \
    if (t.slot) { sel.table.slot = t.slot; }
    NT_KERNEL_SLOTS(NT_KERNEL_MERGE)
#undef NT_KERNEL_MERGE
  }
  // Record the provider of each slot (re-walk; cheap, done once).
  for (const IsaRegistration* isa : isas) {
    if (isa->priority > max_priority || !isa->supported()) continue;
    KernelTable t;
    isa->fill(t);
#define NT_KERNEL_NAME(type, slot)                                                  \
    if (t.slot && t.slot == sel.table.slot) {                                       \
      auto it = std::find_if(sel.choices.begin(), sel.choices.end(),                \
                             [](auto& c) { return c.first == #slot; });             \
      if (it == sel.choices.end()) sel.choices.emplace_back(#slot, isa->name);      \
      else it->second = isa->name;                                                  \
    }
    NT_KERNEL_SLOTS(NT_KERNEL_NAME)
#undef NT_KERNEL_NAME
  }
  return sel;
}

const Selection& selection() {
  static const Selection sel = select(isa_priority_cap());
  return sel;
}

}  // namespace

IsaRegistration::IsaRegistration(const char* n, int p, bool (*s)(), void (*f)(KernelTable&))
    : name(n), priority(p), supported(s), fill(f) {
  registry().push_back(this);
}

const KernelTable& kernels() { return selection().table; }

std::vector<std::pair<std::string, std::string>> kernel_choices() { return selection().choices; }

KernelTable kernels_for(const std::string& name) {
  // Several files may register under one ISA name (kernels_avx2.cc and gemm_avx2.cc both
  // fill "avx2" slots): apply every registration of that name over the scalar ones.
  std::vector<const IsaRegistration*> scalar, chosen;
  for (const IsaRegistration* isa : registry()) {
    if (isa->name == std::string("scalar")) scalar.push_back(isa);
    if (isa->name == name) chosen.push_back(isa);
  }
  NT_CHECK(!chosen.empty(), Unsupported, "[kernels] unknown ISA '", name, "'");
  NT_CHECK(chosen.front()->supported(), Unsupported, "[kernels] ISA '", name, "' is not supported by this CPU");
  KernelTable table;
  for (const IsaRegistration* isa : scalar) isa->fill(table);
  for (const IsaRegistration* isa : chosen) {
    KernelTable t;
    isa->fill(t);
#define NT_KERNEL_OVERRIDE(type, slot) if (t.slot) table.slot = t.slot;
    NT_KERNEL_SLOTS(NT_KERNEL_OVERRIDE)
#undef NT_KERNEL_OVERRIDE
  }
  return table;
}

std::vector<std::string> supported_isas() {
  std::vector<const IsaRegistration*> isas = registry();
  std::sort(isas.begin(), isas.end(), [](auto* a, auto* b) { return a->priority > b->priority; });
  std::vector<std::string> out;
  for (const IsaRegistration* isa : isas)
    if (isa->supported() && std::find(out.begin(), out.end(), isa->name) == out.end()) out.emplace_back(isa->name);
  return out;
}

}  // namespace nt
