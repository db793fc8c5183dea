// Bindings of the factorization routines (native/linalg: QR, Cholesky, triangular solve,
// Cholesky inverse, randomized SVD, power iteration). Outputs are allocated by lib/linalg and
// passed in (contiguous, f64 for f64 input else f32); options come last as plain values.
#include <memory>

#include "../linalg/cholesky.h"
#include "../linalg/qr.h"
#include "../linalg/rsvd.h"
#include "../linalg/triangular.h"
#include "op.h"

using nt::TensorView;
using nt::napi::Args;
using nt::napi::OpCall;

namespace {

uint64_t seed_from(Args& args) {
  const int64_t hi = args.i64(), lo = args.i64();
  NT_CHECK(hi >= 0 && hi <= 0xffffffffLL && lo >= 0 && lo <= 0xffffffffLL, Value, "[", args.op(),
           "] seed words must be uint32");
  return (static_cast<uint64_t>(hi) << 32) | static_cast<uint64_t>(lo);
}

}  // namespace

// qr(a, q, r): q is [m, min(m,n)] (reduced) or [m, m] (complete), r is [q's columns, n]
NT_NAPI_OP(qr) {
  const TensorView a = args.tensor(), q = args.tensor(), r = args.tensor();
  nt::linalg::qr_check(a, q, r);
  return {[=] { nt::linalg::qr_run(a, q, r); }, {}};
}

// cholesky(a, out, upper)
NT_NAPI_OP(cholesky) {
  const TensorView a = args.tensor(), out = args.tensor();
  const bool upper = args.boolean();
  nt::linalg::cholesky_check(a, out);
  return {[=] { nt::linalg::cholesky_run(a, out, upper); }, {}};
}

// choleskyInverse(l, out, upper)
NT_NAPI_OP(choleskyInverse) {
  const TensorView l = args.tensor(), out = args.tensor();
  const bool upper = args.boolean();
  nt::linalg::cholesky_inverse_check(l, out);
  return {[=] { nt::linalg::cholesky_inverse_run(l, out, upper); }, {}};
}

// solveTriangular(a, b, x, lower, trans, unitDiagonal)
NT_NAPI_OP(solveTriangular) {
  const TensorView a = args.tensor(), b = args.tensor(), x = args.tensor();
  const bool lower = args.boolean(), trans = args.boolean(), unit = args.boolean();
  nt::linalg::solve_triangular_check(a, b, x);
  return {[=] { nt::linalg::solve_triangular_run(a, b, x, lower, trans, unit); }, {}};
}

// rsvd(a, u, s, vt, oversample, powerIters, seedHi, seedLo): rank = u's column count
NT_NAPI_OP(rsvd) {
  const TensorView a = args.tensor(), u = args.tensor(), s = args.tensor(), vt = args.tensor();
  const int64_t oversample = args.i64(), power_iters = args.i64();
  const uint64_t seed = seed_from(args);
  nt::linalg::rsvd_check(a, u, s, vt, oversample, power_iters);
  return {[=] { nt::linalg::rsvd_run(a, u, s, vt, oversample, power_iters, seed); }, {}};
}

// powerIteration(a, u, s, vt, iters, tol, seedHi, seedLo) -> { iterations, converged, residual }
NT_NAPI_OP(powerIteration) {
  const TensorView a = args.tensor(), u = args.tensor(), s = args.tensor(), vt = args.tensor();
  const int64_t iters = args.i64();
  const double tol = args.f64();
  const uint64_t seed = seed_from(args);
  nt::linalg::power_iteration_check(a, u, s, vt, iters, tol);
  auto result = std::make_shared<nt::linalg::PowerIterationResult>();
  return {[=] { *result = nt::linalg::power_iteration_run(a, u, s, vt, iters, tol, seed); },
          [result](Napi::Env env) -> Napi::Value {
            Napi::Object o = Napi::Object::New(env);
            o.Set("iterations", static_cast<double>(result->iterations));
            o.Set("converged", result->converged);
            o.Set("residual", result->residual);
            return o;
          }};
}
