// Binding of nt.quant.matmul (native/quant/qmatmul.h): out = x · dequant(q)ᵀ.
// (x, codes, scales, zeros, gIdx | null, out, bits, groupSize, int8Activations), tensors as (storage, meta)
// pairs; x f32 [m, k] and out f32 [m, n] may have any strides; the QTensor parts must be
// contiguous (as QTensor keeps them). Everything is re-validated here so a direct call can
// never crash.
#include "../quant/qmatmul.h"
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
