// The one place where C++ errors become JS errors. Every exported function runs inside
// guarded(): nt::Error -> TypeError (NT_DTYPE) / RangeError (NT_SHAPE, NT_VALUE) / Error,
// with `code` set; std::bad_alloc -> NT_OOM; anything else -> NT_INTERNAL.
#pragma once
#include <napi.h>
#include <new>
#include <string>
#include "../core/error.h"

namespace nt::napi {

Napi::Error make_error(Napi::Env env, ErrorCode code, const std::string& message);

template <typename F>
Napi::Value guarded(const Napi::CallbackInfo& info, F&& body) {
  Napi::Env env = info.Env();
  try {
    return body();
  } catch (const Napi::Error&) {
    throw;  // already a JS error (e.g. a pending exception from a JS callback)
  } catch (const Error& e) {
    throw make_error(env, e.code(), e.what());
  } catch (const std::bad_alloc&) {
    throw make_error(env, ErrorCode::OOM, "out of memory");
  } catch (const std::exception& e) {
    throw make_error(env, ErrorCode::Internal, std::string("internal error: ") + e.what());
  }
}

}  // namespace nt::napi
