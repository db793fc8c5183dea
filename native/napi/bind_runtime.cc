// Runtime introspection and settings: build flavor, CPU features, chosen kernels,
// threads, CUDA devices, and the no-op op used to measure call overhead.
#include <napi.h>

#include "../core/cpu_features.h"
#include "../core/page_advice.h"
#include "../core/thread_pool.h"
#include "../attention/attention_kernels.h"
#include "../cpu/kernels.h"
#include "../kvcache/gear_kernels.h"
#include "../optim/optim_kernels.h"
#include "../cuda/cuda.h"
#include "op.h"

using nt::napi::Args;
using nt::napi::OpCall;

NT_NAPI_FUNCTION(runtimeInfo) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("flavor", nt::cuda::compiled() ? "cuda" : "cpu");
  Napi::Array features = Napi::Array::New(env);
  uint32_t i = 0;
  for (const std::string& f : nt::cpu_feature_names()) features.Set(i++, f);
  o.Set("features", features);
  Napi::Array isas = Napi::Array::New(env);
  i = 0;
  for (const std::string& s : nt::supported_isas()) isas.Set(i++, s);
  o.Set("isas", isas);
  Napi::Object kernels = Napi::Object::New(env);
  for (const auto& [slot, isa] : nt::kernel_choices()) kernels.Set(slot, isa);
  o.Set("kernels", kernels);
  // the kernel families with their own tables (the int4 matmul's: quantKernelInfo)
  Napi::Object tables = Napi::Object::New(env);
  tables.Set("attention", nt::attention_kernels().isa);
  tables.Set("gear", nt::kvcache::gear_kernels().isa);
  tables.Set("optim", nt::optim::optim_kernels().isa);
  o.Set("tables", tables);
  o.Set("threads", nt::num_threads());
#ifdef __VERSION__
  o.Set("compiler", __VERSION__);
#endif
  return o;
}

NT_NAPI_FUNCTION(cudaDevices) {
  Napi::Env env = info.Env();
  std::string status;
  auto devices = nt::cuda::devices(&status);
  Napi::Object o = Napi::Object::New(env);
  o.Set("compiled", nt::cuda::compiled());
  o.Set("status", status);
  Napi::Array list = Napi::Array::New(env);
  for (size_t k = 0; k < devices.size(); ++k) {
    Napi::Object d = Napi::Object::New(env);
    d.Set("index", devices[k].index);
    d.Set("name", devices[k].name);
    d.Set("computeCapability", std::to_string(devices[k].major) + "." + std::to_string(devices[k].minor));
    d.Set("totalMemory", static_cast<double>(devices[k].total_memory));
    d.Set("multiprocessors", devices[k].multiprocessors);
    list.Set(static_cast<uint32_t>(k), d);
  }
  o.Set("devices", list);
  return o;
}

NT_NAPI_FUNCTION(setNumThreads) {
  NT_CHECK(info.Length() >= 1 && info[0].IsNumber(), Value, "[setNumThreads] n must be a number");
  nt::set_num_threads(info[0].As<Napi::Number>().Int32Value());
  return Napi::Number::New(info.Env(), nt::num_threads());
}

// adviseHugePages(typedArray): called by lib/tensor.ts on fresh storages of >= 4 MiB.
NT_NAPI_FUNCTION(adviseHugePages) {
  NT_CHECK(info.Length() >= 1 && info[0].IsTypedArray(), Value, "[adviseHugePages] expected a TypedArray");
  Napi::TypedArray a = info[0].As<Napi::TypedArray>();
  void* data = static_cast<uint8_t*>(a.ArrayBuffer().Data()) + a.ByteOffset();
  return Napi::Boolean::New(info.Env(), nt::advise_huge_pages(data, a.ByteLength()));
}

NT_NAPI_FUNCTION(getNumThreads) { return Napi::Number::New(info.Env(), nt::num_threads()); }

// noop(t): unmarshals and bounds-checks one tensor and does nothing: the floor of every op.
NT_NAPI_OP(noop) {
  args.tensor();
  return {};
}

// cudaAdd(a, b, out): f32 contiguous tensors of equal length, through the device.
NT_NAPI_OP(cudaAdd) {
  nt::TensorView a = args.tensor(), b = args.tensor(), out = args.tensor();
  for (const nt::TensorView* t : {&a, &b, &out}) {
    NT_CHECK(t->dtype == nt::DType::F32, DType, "[cudaAdd] expected f32, got ", nt::dtype_name(t->dtype));
    NT_CHECK(t->is_contiguous(), Value, "[cudaAdd] expected contiguous tensors");
  }
  NT_CHECK(a.numel() == b.numel() && a.numel() == out.numel(), Shape, "[cudaAdd] length mismatch: ",
           a.numel(), ", ", b.numel(), ", ", out.numel());
  return {[=] { nt::cuda::add_f32(a.ptr<float>(), b.ptr<float>(), out.ptr<float>(), static_cast<size_t>(a.numel())); }, {}};
}
