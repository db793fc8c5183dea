// Tensor-level ops: copy/convert (contiguous, clone, astype) and random fills.
#include "../ops/copy.h"
#include "../ops/random.h"
#include "op.h"

NT_NAPI_OP(copy) {
  nt::TensorView src = args.tensor(), dst = args.tensor();
  NT_CHECK(nt::same_shape(src, dst), Shape, "[copy] shapes differ: ", nt::shape_string(src), " vs ",
           nt::shape_string(dst));
  return {[=] { nt::copy_convert(src, dst); }, {}};
}

// fillRandom(out, distribution: 0 uniform [0,1) | 1 standard normal, seedHi, seedLo)
NT_NAPI_OP(fillRandom) {
  nt::TensorView out = args.tensor();
  const int32_t dist = args.i32();
  const int64_t hi = args.i64(), lo = args.i64();
  NT_CHECK(dist == 0 || dist == 1, Value, "[random] unknown distribution ", dist);
  NT_CHECK(hi >= 0 && hi <= 0xffffffffLL && lo >= 0 && lo <= 0xffffffffLL, Value,
           "[random] seed words must be uint32, got ", hi, " and ", lo);
  NT_CHECK(out.dtype == nt::DType::F32 || out.dtype == nt::DType::F64, DType, "[random] expected f32 or f64 output, got ",
           nt::dtype_name(out.dtype));
  NT_CHECK(out.is_contiguous(), Value, "[random] output must be contiguous");
  const uint64_t seed = (static_cast<uint64_t>(hi) << 32) | static_cast<uint64_t>(lo);
  return {[=] { nt::fill_random(out, dist == 0 ? nt::Distribution::Uniform : nt::Distribution::Normal, seed); }, {}};
}
