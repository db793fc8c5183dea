// Binding of matmul (native/cpu/gemm_matmul.h): (a, b, out, transA, transB, alpha, beta).
// The TS layer widens a 16-bit a to f32 (a 16-bit b with an f32 a goes to the mixed-precision
// GEMM as stored), copies layouts without a unit stride and allocates out; everything is
// re-validated here so a direct call can never crash.
#include <cmath>

#include "../cpu/gemm_matmul.h"
#include "op.h"

NT_NAPI_OP(matmul) {
  const nt::TensorView a = args.tensor(), b = args.tensor(), out = args.tensor();
  const bool trans_a = args.boolean(), trans_b = args.boolean();
  const double alpha = args.f64(), beta = args.f64();
  NT_CHECK(std::isfinite(alpha) && std::isfinite(beta), Value, "[matmul] alpha and beta must be finite, got ", alpha,
           " and ", beta);
  nt::matmul_check(a, b, out, trans_a, trans_b);
  return {[=] { nt::matmul_run(a, b, out, trans_a, trans_b, alpha, beta); }, {}};
}
