// Binding of nt.quant.matmul (native/quant/qmatmul.h): out = x · dequant(q)ᵀ, and of the
// queries of which kernels it runs (quantMatmulPath, quantKernelInfo).
// (x, codes, scales, zeros, gIdx | null, out, bits, groupSize, int8Activations), tensors as (storage, meta)
// pairs; x f32 [m, k] and out f32 [m, n] may have any strides; the QTensor parts must be
// contiguous (as QTensor keeps them). Everything is re-validated here so a direct call can
// never crash.
#include <napi.h>

#include "../quant/qmatmul.h"
#include "../quant/qmatmul_kernels.h"
#include "../quant/quant_ops.h"
#include "op.h"

using nt::TensorView;
using nt::quant::QParts;

namespace {

constexpr const char* kOp = "quant.matmul";

void check_contiguous(const TensorView& t, const char* name) {
  NT_CHECK(t.is_contiguous(), Value, "[", kOp, "] ", name, " must be contiguous, got strides of shape ",
           nt::shape_string(t));
}

}  // namespace

NT_NAPI_OP(quantMatmul) {
  QParts q;
  const TensorView x = args.tensor();
  q.codes = args.tensor();
  q.scales = args.tensor();
  q.zeros = args.tensor();
  if (args.has_tensor()) {
    q.gidx = args.tensor();
    q.has_gidx = true;
  } else {
    args.skip();
    args.skip();
  }
  const TensorView out = args.tensor();
  q.bits = args.i32();
  q.group_size = args.i64();
  const bool int8_activations = args.boolean();

  NT_CHECK(x.dtype == nt::DType::F32, DType, "[", kOp, "] x must be f32, got ", nt::dtype_name(x.dtype));
  NT_CHECK(x.ndim == 2, Shape, "[", kOp, "] x must be 2-D [m, k], got ", nt::shape_string(x));
  NT_CHECK(q.codes.ndim == 2, Shape, "[", kOp, "] codes must be 2-D [rows, bytes], got ", nt::shape_string(q.codes));
  q.rows = q.codes.shape[0];
  q.cols = x.shape[1];
  nt::quant::check_parts(kOp, q);
  check_contiguous(q.codes, "codes");
  check_contiguous(q.scales, "scales");
  check_contiguous(q.zeros, "zeros");
  if (q.has_gidx) check_contiguous(q.gidx, "gIdx");
  NT_CHECK(out.dtype == nt::DType::F32, DType, "[", kOp, "] out must be f32, got ", nt::dtype_name(out.dtype));
  NT_CHECK(out.ndim == 2 && out.shape[0] == x.shape[0] && out.shape[1] == q.rows, Shape, "[", kOp,
           "] out must have shape [", x.shape[0], ",", q.rows, "], got ", nt::shape_string(out));

  nt::quant::QWeight w;
  w.codes = q.codes.bytes() + q.codes.offset;
  w.scales_f16 = q.scales.dtype == nt::DType::F16;
  w.scales = w.scales_f16 ? static_cast<const void*>(q.scales.ptr<uint16_t>()) : static_cast<const void*>(q.scales.ptr<float>());
  w.zeros = q.zeros.bytes() + q.zeros.offset;
  w.g_idx = q.has_gidx ? q.gidx.ptr<int32_t>() : nullptr;
  w.rows = q.rows;
  w.cols = q.cols;
  w.bits = q.bits;
  w.group_size = q.group_size;
  const nt::quant::QmmIn xin{x.ptr<float>(), x.strides[0], x.strides[1]};
  const nt::quant::QmmOut yout{out.ptr<float>(), out.strides[0], out.strides[1]};
  const int64_t m = x.shape[0];
  return {[=] { nt::quant::qmatmul_f32(w, xin, m, yout, int8_activations); }, {}};
}

// quantMatmulPath(bits, groupSize, cols, hasGIdx, int8Activations) -> { kernel, int8, fallback }:
// the path quantMatmul takes for a weight of that layout (lib/quant/matmul.ts validates first).
NT_NAPI_FUNCTION(quantMatmulPath) {
  NT_CHECK(info.Length() >= 5 && info[0].IsNumber() && info[1].IsNumber() && info[2].IsNumber() && info[3].IsBoolean() &&
               info[4].IsBoolean(),
           Value, "[quant.matmulPath] expected (bits, groupSize, cols, hasGIdx, int8Activations)");
  nt::quant::QWeight w;
  w.bits = info[0].As<Napi::Number>().Int32Value();
  w.group_size = info[1].As<Napi::Number>().Int64Value();
  w.cols = info[2].As<Napi::Number>().Int64Value();
  NT_CHECK(w.group_size >= 1 && w.cols >= 0, Value, "[quant.matmulPath] groupSize must be >= 1 and cols >= 0, got ",
           w.group_size, ", ", w.cols);
  static const int32_t any_gidx = 0;
  w.g_idx = info[3].As<Napi::Boolean>().Value() ? &any_gidx : nullptr;  // only its presence is read
  const nt::quant::QmmPath p = nt::quant::qmm_path(w, info[4].As<Napi::Boolean>().Value());
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("kernel", p.kernel);
  o.Set("int8", p.int8);
  o.Set("fallback", p.fallback ? Napi::Value(Napi::String::New(env, p.fallback)) : env.Null());
  o.Set("int8Chunk", p.i8_split);
  return o;
}

// quantKernelInfo() -> { sets, inUse, int8Kernel }: the quantized-matmul kernel sets this CPU
// supports (best first), the one in use (NTENSOR_ISA caps it) and its int8 kernel (null: none).
NT_NAPI_FUNCTION(quantKernelInfo) {
  Napi::Env env = info.Env();
  Napi::Array sets = Napi::Array::New(env);
  uint32_t i = 0;
  for (const std::string& s : nt::quant::qmm_supported_isas()) sets.Set(i++, s);
  const nt::quant::QmmKernels& k = nt::quant::qmm_kernels();
  Napi::Object o = Napi::Object::New(env);
  o.Set("sets", sets);
  o.Set("inUse", k.isa);
  o.Set("int8Kernel", k.gemv4_i8 ? Napi::Value(Napi::String::New(env, std::string(k.i8_kernel) + ", " +
                                                                          std::to_string(k.i8_split) + "-column chunks"))
                                 : env.Null());
  return o;
}
