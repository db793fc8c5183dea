// Binding of nt.linalg.eigh (native/linalg/eigh.h). Registered with NT_NAPI_OP, so the addon
// also exports eighAsync (compute on a libuv worker, storages pinned).
#include <optional>

#include "../linalg/eigh.h"
#include "op.h"

using nt::TensorView;

// (a, values, vectors | null, first): values [k] and vectors [n, k] are written.
NT_NAPI_OP(eigh) {
  const TensorView a = args.tensor(), values = args.tensor();
  std::optional<TensorView> vectors;
  if (args.has_tensor()) {
    vectors = args.tensor();
  } else {
    args.skip();
    args.skip();
  }
  const int64_t first = args.i64();
  nt::eigh_check(a, values, vectors ? &*vectors : nullptr, first);
  return {[=] { nt::eigh_run(a, values, vectors ? &*vectors : nullptr, first); }, {}};
}
