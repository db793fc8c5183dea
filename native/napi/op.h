// How an op is exposed to JS. A binder unmarshals arguments on the JS thread and returns an
// OpCall: `compute` touches only plain memory (safe on a worker thread) and `result` turns
// its outcome into a JS value on the JS thread. Every op registered with NT_NAPI_OP is
// exported twice: `name` (synchronous) and `nameAsync` (a Promise; a libuv worker runs
// compute while the input/output storages are pinned by persistent references).
#pragma once
#include <napi.h>
#include <functional>
#include "args.h"

namespace nt::napi {

struct OpCall {
  std::function<void()> compute;
  std::function<Napi::Value(Napi::Env)> result;  // empty: resolves to undefined
};

using OpBinder = OpCall (*)(Args& args);
using PlainFunction = Napi::Value (*)(const Napi::CallbackInfo& info);

struct OpRegistration {
  OpRegistration(const char* name, OpBinder binder);
};
struct FunctionRegistration {
  FunctionRegistration(const char* name, PlainFunction fn);
};

// Called once from the module's Init.
void export_registered(Napi::Env env, Napi::Object exports);

}  // namespace nt::napi

// NT_NAPI_OP(sum) { auto x = args.tensor(); ...; return { [=] { ... } }; }
#define NT_NAPI_OP(name)                                                              \
  static ::nt::napi::OpCall nt_bind_##name(::nt::napi::Args& args);                   \
  static ::nt::napi::OpRegistration nt_op_registration_##name(#name, nt_bind_##name); \
  static ::nt::napi::OpCall nt_bind_##name([[maybe_unused]] ::nt::napi::Args& args)

// NT_NAPI_FUNCTION(info) { ... use info ...; return value; }  (synchronous only, guarded)
#define NT_NAPI_FUNCTION(name)                                                                    \
  static Napi::Value nt_fn_##name(const Napi::CallbackInfo& info);                                \
  static ::nt::napi::FunctionRegistration nt_fn_registration_##name(#name, nt_fn_##name);         \
  static Napi::Value nt_fn_##name([[maybe_unused]] const Napi::CallbackInfo& info)
