// Row gather from a QTensor (a quantized embedding table): out[i, :] = dequantize(q)[ids[i], :],
// x̂ = scale · (code − zero) with the group of column c given by gIdx[c] or c / groupSize,
// computed with the same f32 products as quant.dequantize (dequantize.cc), so a gathered row
// is bit-identical to that row of the full dequantization. Rows are dequantized in f32 and
// stored converted to out's dtype (f32, f16, bf16 rounded; f64 widened exactly), as
// gatherRows converts a float table's rows. One output row per task.
//
// ids and gIdx are validated again on the worker, each value read once (ids as each row is
// gathered, gIdx into a snapshot): an async caller may mutate them between the check on the
// JS thread and the run, and neither may then index outside the tables.
#include <algorithm>
#include <vector>

#include "../core/scratch.h"
#include "../core/thread_pool.h"
#include "../ops/float_block.h"
#include "group_quant.h"
#include "quant_ops.h"
#include "quant_util.h"

namespace nt::quant {
namespace {
constexpr const char* kOp = "quant.gatherRows";

int32_t id_at(const TensorView& ids, int64_t i) {
  return static_cast<const int32_t*>(ids.data)[ids.offset + i * ids.strides[0]];
}

int32_t checked_id(const QParts& q, const TensorView& ids, int64_t i) {
  const int32_t id = id_at(ids, i);
  NT_CHECK(id >= 0 && id < q.rows, Value, "[", kOp, "] ids[", i, "] = ", id, " is out of range for a table of ", q.rows,
           " rows");
  return id;
}

void check_ids(const QParts& q, const TensorView& ids) {
  for (int64_t i = 0; i < ids.shape[0]; ++i) checked_id(q, ids, i);
}

// The group of every column (empty without gIdx), each value read once and checked.
std::vector<int32_t> gidx_snapshot(const QParts& q) {
  std::vector<int32_t> out;
  if (!q.has_gidx) return out;
  const int64_t groups = group_count(q.cols, q.group_size);
  const int32_t* g = static_cast<const int32_t*>(q.gidx.data) + q.gidx.offset;
  out.resize(static_cast<size_t>(q.cols));
  for (int64_t c = 0; c < q.cols; ++c) {
    const int32_t v = g[c * q.gidx.strides[0]];
    NT_CHECK(v >= 0 && v < groups, Value, "[", kOp, "] gIdx[", c, "] = ", v, " is outside [0, ", groups, ")");
    out[size_t(c)] = v;
  }
  return out;
}

// dst[0, cols) = row r of dequantize(q). `params` holds one entry per group; gidx is the
// checked snapshot (nullptr without gIdx).
void dequantize_row(const QParts& q, int64_t r, const int32_t* gidx, GroupParams* params, float* dst) {
  const int64_t cols = q.cols, gs = q.group_size, groups = group_count(cols, gs);
  const int bits = q.bits;
  for (int64_t g = 0; g < groups; ++g) params[g] = {load_scale(q.scales, r, g), q.zeros.bytes()[at2(q.zeros, r, g)]};
  const uint8_t* crow = code_row(q.codes, r);
  if (gidx) {
    for (int64_t c = 0; c < cols; ++c) dst[c] = dequantize_value(read_code(crow, c, bits), params[gidx[c]]);
    return;
  }
  if (bits == 8) {
    for (int64_t g = 0; g < groups; ++g) {
      const GroupParams p = params[g];
      for (int64_t c = g * gs, c1 = std::min(cols, c + gs); c < c1; ++c) dst[c] = dequantize_value(crow[c], p);
    }
    return;
  }
  // Nibble codes (2..4 bits): the group's 16 grid values, then one lookup per code; the table
  // holds the very products dequantize_value forms, so the values are identical.
  float lut[16];
  for (int64_t g = 0; g < groups; ++g) {
    for (int v = 0; v < 16; ++v) lut[v] = dequantize_value(v, params[g]);
    int64_t c = g * gs;
    const int64_t c1 = std::min(cols, c + gs);
    if (c < c1 && (c & 1)) {  // a group starting mid-byte (odd group size)
      dst[c] = lut[crow[c >> 1] >> 4];
      ++c;
    }
    for (; c + 1 < c1; c += 2) {
      const uint8_t b = crow[c >> 1];
      dst[c] = lut[b & 15];
      dst[c + 1] = lut[b >> 4];
    }
    if (c < c1) dst[c] = lut[crow[c >> 1] & 15];
  }
}

}  // namespace

void gather_rows_check(const QParts& q, const TensorView& ids, const TensorView& out) {
  check_parts(kOp, q);
  NT_CHECK(ids.dtype == DType::I32, DType, "[", kOp, "] ids must be i32, got ", dtype_name(ids.dtype));
  NT_CHECK(ids.ndim == 1, Shape, "[", kOp, "] ids must be 1-D, got ", shape_string(ids));
  NT_CHECK(out.dtype == DType::F32 || out.dtype == DType::F16 || out.dtype == DType::BF16 || out.dtype == DType::F64, DType,
           "[", kOp, "] out must be f32, f16, bf16 or f64, got ", dtype_name(out.dtype));
  NT_CHECK(out.ndim == 2 && out.shape[0] == ids.shape[0] && out.shape[1] == q.cols, Shape, "[", kOp,
           "] out must have shape [", ids.shape[0], ",", q.cols, "], got ", shape_string(out));
  check_ids(q, ids);
}

void gather_rows_run(const QParts& q, const TensorView& ids, const TensorView& out) {
  const int64_t n = ids.shape[0], cols = q.cols;
  if (n == 0 || cols == 0) return;
  const std::vector<int32_t> gidx = gidx_snapshot(q);
  const int32_t* gp = gidx.empty() ? nullptr : gidx.data();
  const int64_t groups = group_count(cols, q.group_size);
  const int64_t os = out.strides[1];
  const bool direct = out.dtype == DType::F32 && os == 1;  // dequantize straight into out
  parallel_for(n, std::max<int64_t>(1, 16384 / cols), [&](int64_t begin, int64_t end) {
    std::vector<GroupParams> params(static_cast<size_t>(groups));
    Scratch<float> row(direct ? 0 : static_cast<size_t>(cols));
    for (int64_t i = begin; i < end; ++i) {
      const int64_t r = checked_id(q, ids, i);
      char* o = ops::elem_ptr(out, i * out.strides[0]);
      if (direct) {
        dequantize_row(q, r, gp, params.data(), reinterpret_cast<float*>(o));
        continue;
      }
      dequantize_row(q, r, gp, params.data(), row.get());
      if (out.dtype == DType::F64) {
        double* d = reinterpret_cast<double*>(o);
        for (int64_t c = 0; c < cols; ++c) d[c * os] = row.get()[c];
      } else {
        ops::store_run<float>(row.get(), o, out.dtype, os, cols);
      }
    }
  });
}

}  // namespace nt::quant
