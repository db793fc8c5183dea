// GGUF ops: the header (parsed and validated natively, native/io/gguf.h) as JS values, and
// the block decoders the loader (lib/io/gguf.ts) runs on mapped tensor bytes. Messages
// start with "[<op>] "; lib/io rewrites the op name to the public one.
#include <napi.h>

#include <cmath>
#include <memory>
#include <string>

#include "../io/file.h"
#include "../io/gguf.h"
#include "../io/gguf_decode.h"
#include "op.h"

using nt::napi::Args;
using nt::napi::OpCall;

namespace {

template <typename F>
void gguf_guard(const char* op, F&& f) {
  try {
    f();
  } catch (const nt::Error& e) {
    throw nt::Error(e.code(), std::string("[") + op + "] " + e.what());
  }
}

constexpr double kMaxSafe = 9007199254740991.0;  // 2^53 - 1

Napi::Value to_js(Napi::Env env, const nt::io::GgufValue& v) {
  using T = nt::io::GgufValueType;
  switch (v.type) {
    case T::U8: case T::U16: case T::U32: return Napi::Number::New(env, static_cast<double>(v.u));
    case T::I8: case T::I16: case T::I32: return Napi::Number::New(env, static_cast<double>(v.i));
    case T::U64:
      // integers past 2^53 would lose digits as numbers
      if (static_cast<double>(v.u) > kMaxSafe) return Napi::BigInt::New(env, static_cast<uint64_t>(v.u));
      return Napi::Number::New(env, static_cast<double>(v.u));
    case T::I64:
      if (std::fabs(static_cast<double>(v.i)) > kMaxSafe) return Napi::BigInt::New(env, static_cast<int64_t>(v.i));
      return Napi::Number::New(env, static_cast<double>(v.i));
    case T::F32: case T::F64: return Napi::Number::New(env, v.f);
    case T::Bool: return Napi::Boolean::New(env, v.u != 0);
    case T::String: return Napi::String::New(env, v.s);
    case T::Array: {
      Napi::Array a = Napi::Array::New(env, v.items.size());
      for (size_t i = 0; i < v.items.size(); ++i) a.Set(static_cast<uint32_t>(i), to_js(env, v.items[i]));
      return a;
    }
  }
  return env.Undefined();
}

uint64_t view_bytes(const nt::TensorView& v) { return static_cast<uint64_t>(v.numel()) * (nt::dtype_bits(v.dtype) / 8); }

void check_plain(const char* op, const char* name, const nt::TensorView& v, nt::DType d) {
  NT_CHECK(v.dtype == d, DType, "[", op, "] ", name, " must be ", nt::dtype_name(d), ", got ", nt::dtype_name(v.dtype));
  NT_CHECK(v.is_contiguous(), Value, "[", op, "] ", name, " must be contiguous");
}

}  // namespace

// ggufHeader(path) -> { version, alignment, dataStart, fileBytes, metadata: [{key, type, itemType?, value}],
//                       tensors: [{name, dims (ggml order), typeId, type, offset, bytes}] }
NT_NAPI_OP(ggufHeader) {
  const std::string path = args.string();
  gguf_guard(args.op(), [&] { nt::io::check_path(path); });
  auto file = std::make_shared<nt::io::GgufFile>();
  return {[=] { gguf_guard("ggufHeader", [&] { *file = nt::io::read_gguf_file(path); }); },
          [=](Napi::Env env) -> Napi::Value {
            Napi::Object o = Napi::Object::New(env);
            o.Set("version", file->version);
            o.Set("alignment", file->alignment);
            o.Set("dataStart", static_cast<double>(file->data_start));
            o.Set("fileBytes", static_cast<double>(file->file_bytes));
            Napi::Array md = Napi::Array::New(env, file->kv.size());
            for (size_t i = 0; i < file->kv.size(); ++i) {
              const nt::io::GgufKv& kv = file->kv[i];
              Napi::Object e = Napi::Object::New(env);
              e.Set("key", kv.key);
              e.Set("type", nt::io::gguf_value_type_name(kv.value.type));
              if (kv.value.type == nt::io::GgufValueType::Array)
                e.Set("itemType", nt::io::gguf_value_type_name(kv.value.item_type));
              e.Set("value", to_js(env, kv.value));
              md.Set(static_cast<uint32_t>(i), e);
            }
            Napi::Array ts = Napi::Array::New(env, file->tensors.size());
            for (size_t i = 0; i < file->tensors.size(); ++i) {
              const nt::io::GgufTensorInfo& t = file->tensors[i];
              Napi::Object e = Napi::Object::New(env);
              e.Set("name", t.name);
              Napi::Array dims = Napi::Array::New(env, t.dims.size());
              for (size_t d = 0; d < t.dims.size(); ++d) dims.Set(static_cast<uint32_t>(d), static_cast<double>(t.dims[d]));
              e.Set("dims", dims);
              e.Set("typeId", t.type);
              e.Set("type", nt::io::ggml_type_info(t.type)->name);
              e.Set("offset", static_cast<double>(t.offset));
              e.Set("bytes", static_cast<double>(t.bytes));
              ts.Set(static_cast<uint32_t>(i), e);
            }
            o.Set("metadata", md);
            o.Set("tensors", ts);
            return o;
          }};
}

// ggufDequantize(typeId, src u8 [bytes], out f32 [n]): the blocks of src decoded into out.
NT_NAPI_OP(ggufDequantize) {
  const int32_t type = args.i32();
  const nt::TensorView src = args.tensor();
  const nt::TensorView out = args.tensor();
  check_plain(args.op(), "src", src, nt::DType::U8);
  check_plain(args.op(), "out", out, nt::DType::F32);
  const nt::io::GgmlType* info = type >= 0 ? nt::io::ggml_type_info(static_cast<uint32_t>(type)) : nullptr;
  NT_CHECK(info, Value, "[ggufDequantize] unknown ggml type ", type);
  NT_CHECK(nt::io::gguf_can_dequantize(info->id), Unsupported, "[ggufDequantize] ggml type ", info->name,
           " cannot be dequantized");
  const int64_t n = out.numel();
  NT_CHECK(n % info->block_size == 0 && view_bytes(src) == static_cast<uint64_t>(n / info->block_size) * info->type_size,
           Shape, "[ggufDequantize] ", view_bytes(src), " bytes of ", info->name, " do not hold ", n, " elements");
  return {[=] {
            nt::io::gguf_dequantize(info->id, src.ptr<uint8_t>(), n, out.ptr<float>());
          },
          {}};
}

// ggufRepack(typeId, src u8, rows, cols, codes u8, scales f16, zeros u8): Q4_0 / Q8_0 blocks into QTensor parts.
NT_NAPI_OP(ggufRepack) {
  const int32_t type = args.i32();
  const nt::TensorView src = args.tensor();
  const int64_t rows = args.i64(), cols = args.i64();
  const nt::TensorView codes = args.tensor(), scales = args.tensor(), zeros = args.tensor();
  check_plain(args.op(), "src", src, nt::DType::U8);
  check_plain(args.op(), "codes", codes, nt::DType::U8);
  check_plain(args.op(), "scales", scales, nt::DType::F16);
  check_plain(args.op(), "zeros", zeros, nt::DType::U8);
  NT_CHECK(type >= 0 && nt::io::gguf_can_repack(static_cast<uint32_t>(type)), Unsupported,
           "[ggufRepack] ggml type ", type, " has no QTensor form (Q4_0 and Q8_0 do)");
  const bool four = type == 2;
  NT_CHECK(rows > 0 && cols > 0 && cols % 32 == 0, Shape, "[ggufRepack] bad matrix [", rows, ", ", cols, "]");
  const uint64_t groups = static_cast<uint64_t>(rows) * (cols / 32);
  NT_CHECK(view_bytes(src) == groups * (four ? 18 : 34), Shape, "[ggufRepack] src has ", view_bytes(src),
           " bytes, not the size of [", rows, ", ", cols, "]");
  NT_CHECK(view_bytes(codes) == static_cast<uint64_t>(rows) * (four ? cols / 2 : cols) && view_bytes(scales) == groups * 2 &&
               view_bytes(zeros) == groups,
           Shape, "[ggufRepack] the QTensor parts do not match [", rows, ", ", cols, "]");
  return {[=] {
            nt::io::gguf_repack(static_cast<uint32_t>(type), src.ptr<uint8_t>(), rows, cols, codes.ptr<uint8_t>(),
                                scales.ptr<uint16_t>(), zeros.ptr<uint8_t>());
          },
          {}};
}
