// Round-to-nearest group quantization (ALGORITHMS.md §2) of the rows of W into the QTensor
// layout of group_quant.h. One row per task: every output element has one writer, so the
// result does not depend on the thread count.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "../core/thread_pool.h"
#include "../ops/float_block.h"
#include "group_quant.h"
#include "quant_ops.h"
#include "quant_util.h"

namespace nt::quant {
namespace {
constexpr const char* kOp = "quant.quantize";

// Row r of W as f32 (f64 is rounded to f32: the grid is computed in f32).
void load_row(const TensorView& w, int64_t r, float* x, std::vector<double>& tmp) {
  const int64_t cols = w.shape[1];
  const char* p = ops::elem_ptr(w, r * w.strides[0]);
  if (w.dtype == DType::F64) {
    tmp.resize(size_t(cols));
    ops::load_run<double>(p, w.dtype, w.strides[1], cols, tmp.data());
    for (int64_t c = 0; c < cols; ++c) x[c] = static_cast<float>(tmp[c]);
  } else {
    ops::load_run<float>(p, w.dtype, w.strides[1], cols, x);
  }
}
}  // namespace

void rtn_check(const TensorView& w, const QParts& q) {
  check_parts(kOp, q);
  NT_CHECK(dtype_float(w.dtype), DType, "[", kOp, "] w must be f32, f64, f16 or bf16, got ", dtype_name(w.dtype));
  NT_CHECK(w.ndim == 2 && w.shape[0] == q.rows && w.shape[1] == q.cols, Shape, "[", kOp, "] w must have shape [", q.rows,
           ",", q.cols, "], got ", shape_string(w));
  NT_CHECK(!q.has_gidx, Value, "[", kOp, "] round-to-nearest writes no gIdx");
}

void rtn_run(const TensorView& w, const QParts& q, bool symmetric) {
  const int64_t rows = q.rows, cols = q.cols, gs = q.group_size;
  if (rows == 0 || cols == 0) return;
  const int bits = q.bits;
  const int64_t groups = group_count(cols, gs);
  const int64_t row_bytes = code_row_bytes(cols, bits);
  const bool f16 = q.scales.dtype == DType::F16;
  const auto round_scale = [f16](float s) { return f16 ? f16_to_f32(f32_to_f16(s)) : s; };
  // First non-finite column / first non-finite scale per row, reported in row order afterwards.
  std::vector<int64_t> bad_col(size_t(rows), -1), bad_group(size_t(rows), -1);

  parallel_for(rows, std::max<int64_t>(1, 16384 / cols), [&](int64_t begin, int64_t end) {
    std::vector<float> x(static_cast<size_t>(cols));
    std::vector<double> tmp;
    for (int64_t r = begin; r < end; ++r) {
      load_row(w, r, x.data(), tmp);
      const auto nonfinite = std::find_if(x.begin(), x.end(), [](float v) { return !std::isfinite(v); });
      if (nonfinite != x.end()) {
        bad_col[size_t(r)] = nonfinite - x.begin();
        continue;
      }
      uint8_t* crow = code_row(q.codes, r);
      std::memset(crow, 0, size_t(row_bytes));  // write_code merges nibbles into existing bytes
      uint8_t* zrow = q.zeros.bytes();
      for (int64_t g = 0; g < groups; ++g) {
        const int64_t c0 = g * gs, c1 = std::min(cols, c0 + gs);
        const auto [lo, hi] = std::minmax_element(x.begin() + c0, x.begin() + c1);
        const GroupParams p = group_params(*lo, *hi, bits, symmetric, round_scale);
        if (!std::isfinite(p.scale)) {
          bad_group[size_t(r)] = g;
          break;
        }
        store_scale(q.scales, r, g, p.scale);
        zrow[at2(q.zeros, r, g)] = uint8_t(p.zero);
        for (int64_t c = c0; c < c1; ++c) write_code(crow, c, bits, quantize_value(x[size_t(c)], p, bits));
      }
    }
  });

  for (int64_t r = 0; r < rows; ++r) {
    if (bad_col[size_t(r)] >= 0) {
      const int64_t c = bad_col[size_t(r)];
      const double v = ops::load_one(ops::elem_ptr(w, r * w.strides[0] + c * w.strides[1]), w.dtype);
      fail(ErrorCode::Value, "[", kOp, "] w must be finite (in f32), got w[", r, ", ", c, "] = ", v);
    }
    NT_CHECK(bad_group[size_t(r)] < 0, Value, "[", kOp, "] the scale of row ", r, ", group ", bad_group[size_t(r)],
             " overflows ", f16 ? "f16 (use scaleDtype 'f32')" : "f32", ": the group's range is too large");
  }
}

}  // namespace nt::quant
