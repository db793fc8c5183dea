#include "args.h"

#include <cmath>
#include "../core/error.h"

namespace nt::napi {
namespace {

bool storage_matches(DType d, napi_typedarray_type t) {
  switch (d) {
    case DType::F32: return t == napi_float32_array;
    case DType::F64: return t == napi_float64_array;
    case DType::F16: case DType::BF16: return t == napi_uint16_array;
    case DType::I8: return t == napi_int8_array;
    case DType::U8: case DType::U4: case DType::I4: return t == napi_uint8_array;
    case DType::I32: return t == napi_int32_array;
  }
  return false;
}

size_t typedarray_element_size(napi_typedarray_type t) {
  switch (t) {
    case napi_int8_array: case napi_uint8_array: case napi_uint8_clamped_array: return 1;
    case napi_int16_array: case napi_uint16_array: return 2;
    case napi_int32_array: case napi_uint32_array: case napi_float32_array: return 4;
    default: return 8;
  }
}

}  // namespace

Napi::Value Args::next(const char* expected) {
  NT_CHECK(pos_ < info_.Length(), Value, "[", op_, "] missing argument ", pos_, " (", expected, ")");
  return info_[pos_++];
}

bool Args::is_absent() const {
  return pos_ >= info_.Length() || info_[pos_].IsUndefined() || info_[pos_].IsNull();
}

bool Args::has_tensor() const { return !is_absent() && info_[pos_].IsTypedArray(); }

TensorView Args::tensor() {
  const size_t at = pos_;
  Napi::Value storage = next("tensor storage");
  Napi::Value meta_value = next("tensor meta");
  napi_env env = info_.Env();
  NT_CHECK(storage.IsTypedArray(), DType, "[", op_, "] argument ", at, " must be a TypedArray");
  NT_CHECK(meta_value.IsTypedArray(), Value, "[", op_, "] argument ", at + 1, " must be a Float64Array meta");

  napi_typedarray_type meta_type;
  size_t meta_len;
  void* meta_data;
  napi_get_typedarray_info(env, meta_value, &meta_type, &meta_len, &meta_data, nullptr, nullptr);
  NT_CHECK(meta_type == napi_float64_array && meta_len >= 3, Value, "[", op_, "] malformed tensor meta");
  const double* meta = static_cast<const double*>(meta_data);

  TensorView v;
  NT_CHECK(meta[0] >= 0 && meta[0] < kNumDTypes && meta[0] == std::floor(meta[0]), DType, "[", op_,
           "] unknown dtype code ", meta[0]);
  v.dtype = static_cast<DType>(static_cast<int32_t>(meta[0]));
  NT_CHECK(meta[1] >= 0 && meta[1] <= kMaxDims && meta[1] == std::floor(meta[1]), Shape, "[", op_,
           "] rank ", meta[1], " out of range");
  v.ndim = static_cast<int>(meta[1]);
  NT_CHECK(meta_len == 3 + 2 * static_cast<size_t>(v.ndim), Value, "[", op_, "] malformed tensor meta");
  auto as_int = [&](double d) {
    NT_CHECK(std::fabs(d) <= 9007199254740991.0 && d == std::floor(d), Value, "[", op_,
             "] non-integer tensor meta ", d);
    return static_cast<int64_t>(d);
  };
  v.offset = as_int(meta[2]);
  for (int i = 0; i < v.ndim; ++i) {
    v.shape[i] = as_int(meta[3 + i]);
    v.strides[i] = as_int(meta[3 + v.ndim + i]);
  }

  napi_typedarray_type type;
  size_t length;
  void* data;
  napi_get_typedarray_info(env, storage, &type, &length, &data, nullptr, nullptr);
  NT_CHECK(storage_matches(v.dtype, type), DType, "[", op_, "] storage TypedArray does not match dtype ",
           dtype_name(v.dtype));
  v.data = data;
  v.storage_bytes = static_cast<uint64_t>(length) * typedarray_element_size(type);
  std::string what = std::string("[") + op_ + "] argument " + std::to_string(at);
  v.check_bounds(what.c_str());
  pinned_.push_back(storage);
  return v;
}

int64_t Args::i64() {
  Napi::Value x = next("integer");
  NT_CHECK(x.IsNumber(), Value, "[", op_, "] argument ", pos_ - 1, " must be an integer");
  double d = x.As<Napi::Number>().DoubleValue();
  NT_CHECK(std::fabs(d) <= 9007199254740991.0 && d == std::floor(d), Value, "[", op_, "] argument ",
           pos_ - 1, " must be an integer, got ", d);
  return static_cast<int64_t>(d);
}

int32_t Args::i32() {
  int64_t v = i64();
  NT_CHECK(v >= INT32_MIN && v <= INT32_MAX, Value, "[", op_, "] argument ", pos_ - 1, " out of int32 range");
  return static_cast<int32_t>(v);
}

double Args::f64() {
  Napi::Value x = next("number");
  NT_CHECK(x.IsNumber(), Value, "[", op_, "] argument ", pos_ - 1, " must be a number");
  return x.As<Napi::Number>().DoubleValue();
}

bool Args::boolean() {
  Napi::Value x = next("boolean");
  NT_CHECK(x.IsBoolean(), Value, "[", op_, "] argument ", pos_ - 1, " must be a boolean");
  return x.As<Napi::Boolean>().Value();
}

std::string Args::string() {
  Napi::Value x = next("string");
  NT_CHECK(x.IsString(), Value, "[", op_, "] argument ", pos_ - 1, " must be a string");
  return x.As<Napi::String>().Utf8Value();
}

Napi::Value Args::value() { return next("value"); }

}  // namespace nt::napi
