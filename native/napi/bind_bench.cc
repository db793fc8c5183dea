// Bindings of the roofline probes (native/core/peak_probe.h) for `ntensor bench`.
//   fmaProbe(dtype: 'f32' | 'f64', threads, iterations) -> { flops, isa, sink }
//   readProbe(x: f32 contiguous, threads)               -> sum of x
//   probeIsa()                                          -> { isa, lanesF32 }
#include <memory>
#include <string>

#include "../core/peak_probe.h"
#include "op.h"

using nt::TensorView;
using nt::napi::OpCall;

NT_NAPI_OP(fmaProbe) {
  const std::string dtype = args.string();
  NT_CHECK(dtype == "f32" || dtype == "f64", Value, "[fmaProbe] dtype must be 'f32' or 'f64', got '", dtype, "'");
  const int32_t threads = args.i32();
  const int64_t iterations = args.i64();
  // threads and iterations are checked by fma_probe itself
  const bool f64 = dtype == "f64";
  auto out = std::make_shared<std::pair<double, double>>();  // flops, sink
  return {[=] { out->first = nt::bench::fma_probe(f64, threads, iterations, &out->second); },
          [out](Napi::Env env) -> Napi::Value {
            Napi::Object o = Napi::Object::New(env);
            o.Set("flops", out->first);
            o.Set("sink", out->second);
            o.Set("isa", nt::bench::probe_isa().name);
            return o;
          }};
}

NT_NAPI_OP(readProbe) {
  const TensorView x = args.tensor();
  const int32_t threads = args.i32();
  NT_CHECK(x.dtype == nt::DType::F32, DType, "[readProbe] x must be f32");
  NT_CHECK(x.is_contiguous(), Value, "[readProbe] x must be contiguous");
  auto sum = std::make_shared<double>(0);
  return {[=] { *sum = nt::bench::read_probe(x.ptr<float>(), x.numel(), threads); },
          [sum](Napi::Env env) -> Napi::Value { return Napi::Number::New(env, *sum); }};
}

NT_NAPI_FUNCTION(probeIsa) {
  const nt::bench::ProbeIsa isa = nt::bench::probe_isa();
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("isa", isa.name);
  o.Set("lanesF32", isa.lanes_f32);
  return o;
}
