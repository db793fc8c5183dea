// How an op is exposed to JS. A binder unmarshals arguments on the JS thread and returns an
// OpCall: `compute` touches only plain memory (safe on a worker thread) and `result` turns
// its outcome into a JS value on the JS thread. Every op registered with NT_NAPI_OP is
// exported twice: `name` (synchronous) and `nameAsync` (a Promise; a libuv worker runs
// compute while the input/output storages are pinned by persistent references).
#pragma once
#include <napi.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <thread>

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

// Progress of a long op. A binder takes the JS callback with progress_arg(args) and captures
// the handle in compute, which calls report(done, total) from its own thread (not from inside a
// parallel_for). The callback (done, total) => void runs on the JS thread: directly during a
// synchronous call; through a thread-safe function in an Async call, where every report is
// delivered, in order, before the promise settles. A callback that throws stops the op at its
// next report, and the call throws (the promise rejects with) the callback's error. Without a
// callback (undefined/null) report() does nothing. At most one progress argument per op.
class Progress : public std::enable_shared_from_this<Progress> {
 public:
  void report(int64_t done, int64_t total);

  // Internal, called by the op runner (op.cc) on the JS thread. fn may be empty (no callback).
  explicit Progress(Napi::Function fn);
  void bind_sync();
  void bind_async(Napi::Env env);
  bool is_async() const { return async_; }
  // Async: settles `deferred` with the outcome (or the callback's error) once every queued
  // report has run, then releases the thread-safe function.
  void finish_async(Napi::Promise::Deferred deferred, bool ok, Napi::Value outcome);

 private:
  struct Report { int64_t done, total; };
  void deliver(Napi::Env env, Napi::Function fn, int64_t done, int64_t total);
  void settle(Napi::Env env);

  bool has_fn_ = false;
  Napi::FunctionReference fn_;             // sync mode; moved into tsfn_ by bind_async
  Napi::ThreadSafeFunction tsfn_;
  bool async_ = false;
  std::thread::id js_thread_;
  std::atomic<bool> stopped_{false};       // the callback threw: stop at the next report
  Napi::ObjectReference callback_error_;   // [error] (JS thread only)
  Napi::ObjectReference outcome_;          // [value or error] awaiting settlement
  bool outcome_ok_ = true;
  std::unique_ptr<Napi::Promise::Deferred> deferred_;
};
using ProgressPtr = std::shared_ptr<Progress>;

// Consumes the next argument: a function (done, total) => void, or undefined/null (no
// progress; the handle is still valid and report() is a no-op). Anything else is NT_VALUE.
ProgressPtr progress_arg(Args& args);

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
