// File I/O ops: safetensors and .npy headers, reads into JS-allocated tensors, atomic
// writes. All are ops, so each has an Async twin whose file work runs on a libuv worker
// (lib/io's loadSafetensorsAsync / loadNpyAsync). Messages start with "[<op>] <path>: ";
// lib/io rewrites the op name to the public one (io.loadSafetensors, ...).
#include <napi.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "../io/file.h"
#include "../io/tensor_file.h"
#include "op.h"

using nt::napi::Args;
using nt::napi::OpCall;

namespace {

// Prefixes native errors thrown on the worker with the op name (binders do it inline).
template <typename F>
void op_guard(const char* op, F&& f) {
  try {
    f();
  } catch (const nt::Error& e) {
    throw nt::Error(e.code(), std::string("[") + op + "] " + e.what());
  }
}

std::string path_arg(Args& args) {
  const std::string path = args.string();
  op_guard(args.op(), [&] { nt::io::check_path(path); });
  return path;
}

Napi::Array shape_array(Napi::Env env, const std::vector<uint64_t>& shape) {
  Napi::Array a = Napi::Array::New(env, shape.size());
  for (size_t i = 0; i < shape.size(); ++i) a.Set(static_cast<uint32_t>(i), static_cast<double>(shape[i]));
  return a;
}

Napi::Value loads_as(Napi::Env env, nt::io::StoredType t) {
  nt::DType d;
  if (!nt::io::stored_default_dtype(t, &d)) return env.Null();
  return Napi::String::New(env, nt::dtype_name(d));
}

// Consumes (name, storage, meta) triples until the arguments end.
std::vector<std::pair<std::string, nt::TensorView>> named_tensors(Args& args) {
  std::vector<std::pair<std::string, nt::TensorView>> out;
  while (!args.is_absent()) {
    std::string name = args.string();
    nt::TensorView v = args.tensor();
    out.emplace_back(std::move(name), v);
  }
  return out;
}

void check_load_target(const char* op, const std::string& name, const nt::TensorView& v) {
  NT_CHECK(!nt::dtype_packed(v.dtype), Unsupported, "[", op, "] ", name, ": cannot load into packed ",
           nt::dtype_name(v.dtype));
  NT_CHECK(v.is_contiguous(), Value, "[", op, "] ", name, ": the output must be contiguous");
}

}  // namespace

// safetensorsHeader(path) -> { tensors: [{name, dtype, loadAs, shape, begin, end}], metadata: [[k, v]], ... }
NT_NAPI_OP(safetensorsHeader) {
  const std::string path = path_arg(args);
  auto file = std::make_shared<nt::io::SafetensorsFile>();
  return {[=] { op_guard("safetensorsHeader", [&] { *file = nt::io::read_safetensors_header_file(path); }); },
          [=](Napi::Env env) -> Napi::Value {
            Napi::Object o = Napi::Object::New(env);
            Napi::Array tensors = Napi::Array::New(env, file->header.tensors.size());
            uint32_t i = 0;
            for (const nt::io::SafetensorsEntry& e : file->header.tensors) {
              Napi::Object t = Napi::Object::New(env);
              t.Set("name", e.name);
              t.Set("dtype", nt::io::stored_name(e.type));
              t.Set("loadAs", loads_as(env, e.type));
              t.Set("shape", shape_array(env, e.shape));
              t.Set("begin", static_cast<double>(e.begin));
              t.Set("end", static_cast<double>(e.end));
              tensors.Set(i++, t);
            }
            Napi::Array metadata = Napi::Array::New(env, file->header.metadata.size());
            i = 0;
            for (const auto& [k, v] : file->header.metadata) {
              Napi::Array pair = Napi::Array::New(env, 2);
              pair.Set(0u, k);
              pair.Set(1u, v);
              metadata.Set(i++, pair);
            }
            o.Set("tensors", tensors);
            o.Set("metadata", metadata);
            o.Set("headerBytes", static_cast<double>(file->header_bytes));
            o.Set("dataStart", static_cast<double>(file->data_start));
            o.Set("fileBytes", static_cast<double>(file->file_bytes));
            return o;
          }};
}

// safetensorsRead(path, name, storage, meta, name, storage, meta, ...): each output is a
// contiguous tensor of the stored shape; its dtype selects the conversion.
NT_NAPI_OP(safetensorsRead) {
  const std::string path = path_arg(args);
  std::vector<nt::io::TensorTarget> targets;
  for (auto& [name, v] : named_tensors(args)) {
    check_load_target(args.op(), "tensor '" + name + "'", v);
    targets.push_back({name, v});
  }
  return {[=] { op_guard("safetensorsRead", [&] { nt::io::read_safetensors_tensors(path, targets); }); }, {}};
}

// safetensorsSave(path, metadata: string[] (k, v, k, v...), name, storage, meta, ...)
NT_NAPI_OP(safetensorsSave) {
  const std::string path = path_arg(args);
  Napi::Value md = args.value();
  NT_CHECK(md.IsArray(), Value, "[safetensorsSave] metadata must be an array of strings");
  Napi::Array mda = md.As<Napi::Array>();
  NT_CHECK(mda.Length() % 2 == 0, Value, "[safetensorsSave] metadata must hold key, value pairs");
  nt::io::StringPairs metadata;
  for (uint32_t i = 0; i < mda.Length(); i += 2) {
    Napi::Value k = mda.Get(i), v = mda.Get(i + 1);
    NT_CHECK(k.IsString() && v.IsString(), Value, "[safetensorsSave] metadata keys and values must be strings");
    metadata.emplace_back(k.As<Napi::String>().Utf8Value(), v.As<Napi::String>().Utf8Value());
  }
  auto tensors = named_tensors(args);
  for (const auto& [name, v] : tensors)
    NT_CHECK(!nt::dtype_packed(v.dtype), Unsupported, "[safetensorsSave] tensor '", name, "' has dtype ",
             nt::dtype_name(v.dtype), ", which safetensors cannot store");
  return {[=] { op_guard("safetensorsSave", [&] { nt::io::write_safetensors_file(path, tensors, metadata); }); }, {}};
}

// safetensorsIndex(path) -> { names: string[], files: string[] } from model.safetensors.index.json
NT_NAPI_OP(safetensorsIndex) {
  const std::string path = path_arg(args);
  auto map = std::make_shared<nt::io::StringPairs>();
  return {[=] { op_guard("safetensorsIndex", [&] { *map = nt::io::read_safetensors_index(path); }); },
          [=](Napi::Env env) -> Napi::Value {
            Napi::Array names = Napi::Array::New(env, map->size()), files = Napi::Array::New(env, map->size());
            for (size_t i = 0; i < map->size(); ++i) {
              names.Set(static_cast<uint32_t>(i), (*map)[i].first);
              files.Set(static_cast<uint32_t>(i), (*map)[i].second);
            }
            Napi::Object o = Napi::Object::New(env);
            o.Set("names", names);
            o.Set("files", files);
            return o;
          }};
}

// npyHeader(path) -> { descr, dtype, loadAs, fortranOrder, shape, version, dataOffset, fileBytes }
NT_NAPI_OP(npyHeader) {
  const std::string path = path_arg(args);
  auto file = std::make_shared<nt::io::NpyFile>();
  return {[=] { op_guard("npyHeader", [&] { *file = nt::io::read_npy_header_file(path); }); },
          [=](Napi::Env env) -> Napi::Value {
            const nt::io::NpyHeader& h = file->header;
            Napi::Object o = Napi::Object::New(env);
            o.Set("descr", h.descr);
            o.Set("dtype", nt::io::stored_name(h.type));
            o.Set("loadAs", loads_as(env, h.type));
            o.Set("fortranOrder", h.fortran_order);
            o.Set("shape", shape_array(env, h.shape));
            o.Set("version", std::to_string(h.major) + "." + std::to_string(h.minor));
            o.Set("dataOffset", static_cast<double>(h.data_offset));
            o.Set("fileBytes", static_cast<double>(file->file_bytes));
            return o;
          }};
}

// npyRead(path, storage, meta): the output has the stored shape (reversed for fortran_order).
NT_NAPI_OP(npyRead) {
  const std::string path = path_arg(args);
  const nt::TensorView out = args.tensor();
  check_load_target(args.op(), "array", out);
  return {[=] { op_guard("npyRead", [&] { nt::io::read_npy_file(path, out); }); }, {}};
}

// npySave(path, storage, meta): any view; written C-order.
NT_NAPI_OP(npySave) {
  const std::string path = path_arg(args);
  const nt::TensorView t = args.tensor();
  NT_CHECK(!nt::dtype_packed(t.dtype) && t.dtype != nt::DType::BF16, Unsupported, "[npySave] dtype ",
           nt::dtype_name(t.dtype), " has no .npy equivalent");
  return {[=] { op_guard("npySave", [&] { nt::io::write_npy_file(path, t); }); }, {}};
}
