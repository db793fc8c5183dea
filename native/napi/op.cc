#include "op.h"

#include <memory>
#include <string>
#include <vector>

#include "guard.h"

namespace nt::napi {
namespace {

struct OpEntry { const char* name; OpBinder binder; };
struct FnEntry { const char* name; PlainFunction fn; };

std::vector<OpEntry>& ops() { static std::vector<OpEntry> v; return v; }
std::vector<FnEntry>& functions() { static std::vector<FnEntry> v; return v; }

class OpWorker : public Napi::AsyncWorker {
 public:
  OpWorker(Napi::Env env, OpCall call, const std::vector<Napi::Value>& pins)
      : Napi::AsyncWorker(env, "ntensor"), call_(std::move(call)), deferred_(Napi::Promise::Deferred::New(env)) {
    for (const Napi::Value& v : pins) pins_.push_back(Napi::Persistent(v.As<Napi::Object>()));
  }
  Napi::Promise promise() { return deferred_.Promise(); }

  void Execute() override {
    try {
      if (call_.compute) call_.compute();
    } catch (const Error& e) {
      fail(e.code(), e.what());
    } catch (const std::bad_alloc&) {
      fail(ErrorCode::OOM, "out of memory");
    } catch (const std::exception& e) {
      fail(ErrorCode::Internal, std::string("internal error: ") + e.what());
    }
  }

  void OnOK() override {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    try {
      deferred_.Resolve(call_.result ? call_.result(env) : env.Undefined());
    } catch (const Error& e) {
      deferred_.Reject(make_error(env, e.code(), e.what()).Value());
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    }
  }

  void OnError(const Napi::Error&) override {
    Napi::HandleScope scope(Env());
    deferred_.Reject(make_error(Env(), code_, message_).Value());
  }

 private:
  void fail(ErrorCode code, const std::string& message) {
    code_ = code;
    message_ = message;
    SetError(message);
  }

  OpCall call_;
  Napi::Promise::Deferred deferred_;
  std::vector<Napi::ObjectReference> pins_;
  ErrorCode code_ = ErrorCode::Internal;
  std::string message_;
};

Napi::Value run_sync(const Napi::CallbackInfo& info) {
  const OpEntry* entry = static_cast<const OpEntry*>(info.Data());
  return guarded(info, [&]() -> Napi::Value {
    Args args(info, entry->name);
    OpCall call = entry->binder(args);
    if (call.compute) call.compute();
    return call.result ? call.result(info.Env()) : info.Env().Undefined();
  });
}

// Argument errors reject the promise too, so callers handle one failure channel.
Napi::Value run_async(const Napi::CallbackInfo& info) {
  const OpEntry* entry = static_cast<const OpEntry*>(info.Data());
  Napi::Env env = info.Env();
  try {
    Args args(info, entry->name);
    OpCall call = entry->binder(args);
    auto* worker = new OpWorker(env, std::move(call), args.pinned());
    Napi::Promise promise = worker->promise();
    worker->Queue();
    return promise;
  } catch (const Error& e) {
    auto d = Napi::Promise::Deferred::New(env);
    d.Reject(make_error(env, e.code(), e.what()).Value());
    return d.Promise();
  } catch (const std::bad_alloc&) {
    auto d = Napi::Promise::Deferred::New(env);
    d.Reject(make_error(env, ErrorCode::OOM, "out of memory").Value());
    return d.Promise();
  }
}

Napi::Value run_function(const Napi::CallbackInfo& info) {
  const FnEntry* entry = static_cast<const FnEntry*>(info.Data());
  return guarded(info, [&] { return entry->fn(info); });
}

}  // namespace

Napi::Error make_error(Napi::Env env, ErrorCode code, const std::string& message) {
  Napi::Error err;
  switch (code) {
    case ErrorCode::DType: err = Napi::TypeError::New(env, message); break;
    case ErrorCode::Shape: case ErrorCode::Value: err = Napi::RangeError::New(env, message); break;
    default: err = Napi::Error::New(env, message); break;
  }
  err.Set("code", Napi::String::New(env, error_code_name(code)));
  return err;
}

OpRegistration::OpRegistration(const char* name, OpBinder binder) { ops().push_back({name, binder}); }
FunctionRegistration::FunctionRegistration(const char* name, PlainFunction fn) { functions().push_back({name, fn}); }

void export_registered(Napi::Env env, Napi::Object exports) {
  for (const OpEntry& e : ops()) {
    exports.Set(e.name, Napi::Function::New(env, run_sync, e.name, const_cast<OpEntry*>(&e)));
    std::string async_name = std::string(e.name) + "Async";
    exports.Set(async_name, Napi::Function::New(env, run_async, async_name, const_cast<OpEntry*>(&e)));
  }
  for (const FnEntry& e : functions())
    exports.Set(e.name, Napi::Function::New(env, run_function, e.name, const_cast<FnEntry*>(&e)));
}

}  // namespace nt::napi
