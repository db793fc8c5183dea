#include "op.h"

#include <memory>
#include <string>
#include <vector>

#include "../core/storage.h"
#include "guard.h"

namespace nt::napi {
namespace {

struct OpEntry { const char* name; OpBinder binder; };
struct FnEntry { const char* name; PlainFunction fn; };

std::vector<OpEntry>& ops() { static std::vector<OpEntry> v; return v; }
std::vector<FnEntry>& functions() { static std::vector<FnEntry> v; return v; }

// The progress handle taken by the binder running on this (the JS) thread, if any.
thread_local ProgressPtr* t_progress_slot = nullptr;

// Runs a binder with a slot for progress_arg; the slot is cleared however the binder exits.
OpCall bind_with_progress(const OpEntry* entry, Args& args, ProgressPtr& progress) {
  struct SlotGuard {
    explicit SlotGuard(ProgressPtr* p) { t_progress_slot = p; }
    ~SlotGuard() { t_progress_slot = nullptr; }
  } guard(&progress);
  return entry->binder(args);
}

class OpWorker : public Napi::AsyncWorker {
 public:
  OpWorker(Napi::Env env, OpCall call, const std::vector<Napi::Value>& pins, ProgressPtr progress)
      : Napi::AsyncWorker(env, "ntensor"),
        call_(std::move(call)),
        deferred_(Napi::Promise::Deferred::New(env)),
        progress_(std::move(progress)) {
    for (const Napi::Value& v : pins) {
      pins_.push_back(Napi::Persistent(v.As<Napi::Object>()));
      // native storage stays allocated while the worker uses it, even if dispose() runs meanwhile.
      // Blocks are found by the start of their ArrayBuffer, not the TypedArray's data: a tensor
      // borrowing a subarray (nt.tensor(view.data)) starts mid-block and would go unheld.
      void* data = nullptr;
      napi_value buffer = nullptr;
      if (v.IsTypedArray() && napi_get_typedarray_info(env, v, nullptr, nullptr, nullptr, &buffer, nullptr) == napi_ok &&
          napi_get_arraybuffer_info(env, buffer, &data, nullptr) == napi_ok && data != nullptr)
        if (StorageBlock* b = storage_find(data)) {
          storage_hold(b);
          holds_.push_back(b);
        }
    }
  }
  ~OpWorker() override {
    for (StorageBlock* b : holds_) storage_drop(b);
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
      settle(true, call_.result ? call_.result(env) : env.Undefined());
    } catch (const Error& e) {
      settle(false, make_error(env, e.code(), e.what()).Value());
    } catch (const Napi::Error& e) {
      settle(false, e.Value());
    }
  }

  void OnError(const Napi::Error&) override {
    Napi::HandleScope scope(Env());
    settle(false, make_error(Env(), code_, message_).Value());
  }

 private:
  // With an async progress callback the promise settles only after its queued reports ran.
  void settle(bool ok, Napi::Value v) {
    if (progress_ && progress_->is_async()) return progress_->finish_async(deferred_, ok, v);
    if (ok) deferred_.Resolve(v);
    else deferred_.Reject(v);
  }

  void fail(ErrorCode code, const std::string& message) {
    code_ = code;
    message_ = message;
    SetError(message);
  }

  OpCall call_;
  Napi::Promise::Deferred deferred_;
  ProgressPtr progress_;
  std::vector<Napi::ObjectReference> pins_;
  std::vector<StorageBlock*> holds_;
  ErrorCode code_ = ErrorCode::Internal;
  std::string message_;
};

Napi::Value run_sync(const Napi::CallbackInfo& info) {
  const OpEntry* entry = static_cast<const OpEntry*>(info.Data());
  return guarded(info, [&]() -> Napi::Value {
    Args args(info, entry->name);
    ProgressPtr progress;
    OpCall call = bind_with_progress(entry, args, progress);
    if (progress) progress->bind_sync();
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
    ProgressPtr progress;
    OpCall call = bind_with_progress(entry, args, progress);
    if (progress) progress->bind_async(env);
    auto* worker = new OpWorker(env, std::move(call), args.pinned(), std::move(progress));
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

Progress::Progress(Napi::Function fn) : has_fn_(!fn.IsEmpty()) {
  if (has_fn_) fn_ = Napi::Persistent(fn);
}

void Progress::bind_sync() { js_thread_ = std::this_thread::get_id(); }

void Progress::bind_async(Napi::Env env) {
  if (!has_fn_) return;
  async_ = true;
  // The finalizer runs once the function is released and its queue drained; it owns a
  // reference so the handle outlives every queued report.
  tsfn_ = Napi::ThreadSafeFunction::New(
      env, fn_.Value(), "ntensor.progress", 0, 1, this,
      [](Napi::Env e, ProgressPtr* keep, Progress* self) {
        self->settle(e);
        delete keep;
      },
      new ProgressPtr(shared_from_this()));
  fn_.Reset();
}

void Progress::report(int64_t done, int64_t total) {
  if (!has_fn_) return;
  if (!async_) {
    if (std::this_thread::get_id() != js_thread_) return;  // only the JS thread may call JS
    Napi::Env env = fn_.Env();
    Napi::HandleScope scope(env);
    // A throwing callback propagates as Napi::Error out of compute; the guard rethrows it.
    fn_.Call({Napi::Number::New(env, static_cast<double>(done)), Napi::Number::New(env, static_cast<double>(total))});
    return;
  }
  // The message is never seen: settle() rejects with the callback's own error instead.
  if (stopped_.load()) fail(ErrorCode::Value, "progress callback threw");
  auto* data = new Report{done, total};
  const napi_status status = tsfn_.NonBlockingCall(data, [this](Napi::Env env, Napi::Function fn, Report* r) {
    const Report rep = *r;
    delete r;
    if (env != nullptr) deliver(env, fn, rep.done, rep.total);
  });
  if (status != napi_ok) delete data;  // not queued (the environment is shutting down)
}

void Progress::deliver(Napi::Env env, Napi::Function fn, int64_t done, int64_t total) {
  if (stopped_.load()) return;
  try {
    fn.Call({Napi::Number::New(env, static_cast<double>(done)), Napi::Number::New(env, static_cast<double>(total))});
  } catch (const Napi::Error& e) {
    Napi::Array holder = Napi::Array::New(env, 1);
    holder.Set(0u, e.Value());
    callback_error_ = Napi::Persistent(static_cast<Napi::Object>(holder));
    stopped_.store(true);
  }
}

void Progress::finish_async(Napi::Promise::Deferred deferred, bool ok, Napi::Value outcome) {
  Napi::Env env = deferred.Env();
  Napi::Array holder = Napi::Array::New(env, 1);
  holder.Set(0u, outcome);
  outcome_ = Napi::Persistent(static_cast<Napi::Object>(holder));
  outcome_ok_ = ok;
  deferred_ = std::make_unique<Napi::Promise::Deferred>(deferred);
  tsfn_.Release();
}

void Progress::settle(Napi::Env env) {
  if (!deferred_) return;  // released without finish_async (cannot happen: the worker always finishes)
  Napi::HandleScope scope(env);
  if (!callback_error_.IsEmpty()) deferred_->Reject(callback_error_.Value().Get(0u));
  else if (outcome_ok_) deferred_->Resolve(outcome_.Value().Get(0u));
  else deferred_->Reject(outcome_.Value().Get(0u));
  callback_error_.Reset();
  outcome_.Reset();
  deferred_.reset();
}

ProgressPtr progress_arg(Args& args) {
  NT_CHECK(t_progress_slot != nullptr && !*t_progress_slot, Internal, "[", args.op(),
           "] progress_arg outside a binder or twice in one op");
  Napi::Function fn;
  if (args.is_absent()) {
    args.skip();
  } else {
    Napi::Value v = args.value();
    NT_CHECK(v.IsFunction(), Value, "[", args.op(), "] onProgress must be a function");
    fn = v.As<Napi::Function>();
  }
  *t_progress_slot = std::make_shared<Progress>(fn);
  return *t_progress_slot;
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
