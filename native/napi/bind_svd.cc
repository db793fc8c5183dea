// Bindings of the dense SVD (native/linalg/svd.h). Outputs are allocated in TS and passed in.
//   svd(a, s, u, vt, full: boolean)   U, S, V^T
//   svdValues(a, s)                   S only
#include "../linalg/svd.h"
#include "op.h"

using nt::TensorView;
using nt::napi::OpCall;

NT_NAPI_OP(svd) {
  const TensorView a = args.tensor(), s = args.tensor(), u = args.tensor(), vt = args.tensor();
  const bool full = args.boolean();
  nt::linalg::svd_check(a, s, &u, &vt, full);
  return {[=] { nt::linalg::svd_run(a, s, &u, &vt, full); }, {}};
}

NT_NAPI_OP(svdValues) {
  const TensorView a = args.tensor(), s = args.tensor();
  nt::linalg::svd_check(a, s, nullptr, nullptr, false);
  return {[=] { nt::linalg::svd_run(a, s, nullptr, nullptr, false); }, {}};
}
