// Argument unmarshalling with a cursor. A tensor crosses the boundary as two values:
// its storage TypedArray and a Float64Array `meta` = [dtype, ndim, offset, shape..., strides...]
// (built once per Tensor in lib/tensor). Views are bounds-checked against their storage
// here, so kernels can trust them even if the native module is called directly.
#pragma once
#include <napi.h>
#include <optional>
#include <string>
#include <vector>
#include "../core/tensor_view.h"

namespace nt::napi {

class Args {
 public:
  Args(const Napi::CallbackInfo& info, const char* op) : info_(info), op_(op) {}

  TensorView tensor();              // consumes (storage, meta)
  bool has_tensor() const;          // next value is a tensor (not undefined/null)
  // An optional tensor: (storage, meta), or (null, null) for none; consumes both values.
  std::optional<TensorView> optional_tensor() {
    if (has_tensor()) return tensor();
    pos_ += 2;
    return std::nullopt;
  }
  // The same into *out (left untouched when absent): whether it was given.
  bool optional_tensor(TensorView* out) {
    const std::optional<TensorView> t = optional_tensor();
    if (t) *out = *t;
    return t.has_value();
  }
  int64_t i64();                    // safe integer
  int32_t i32();
  double f64();
  bool boolean();
  std::string string();
  Napi::Value value();              // raw, for op-specific shapes
  bool is_absent() const;           // next is undefined/null/missing
  void skip() { ++pos_; }
  size_t position() const { return pos_; }
  const char* op() const { return op_; }
  Napi::Env env() const { return info_.Env(); }

  // Storage objects seen so far, pinned by async workers for the duration of a job.
  const std::vector<Napi::Value>& pinned() const { return pinned_; }

 private:
  Napi::Value next(const char* expected);
  const Napi::CallbackInfo& info_;
  const char* op_;
  size_t pos_ = 0;
  std::vector<Napi::Value> pinned_;
};

}  // namespace nt::napi
