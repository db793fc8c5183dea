// 2:4 structured pruning by magnitude or Wanda score (ALGORITHMS.md §2): in every 4
// consecutive input columns of a row, the 2 lowest-scoring weights become 0. Scores are
// computed in f64 (|w| exact from any float dtype, times the f64 norm), so the choice is
// reproducible against a float64 reference; ties keep the lower column. Kept weights are
// copied bit for bit. One row per task.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "../core/thread_pool.h"
#include "../ops/float_block.h"
#include "quant_ops.h"
#include "quant_util.h"

namespace nt::quant {
namespace {
constexpr const char* kOp = "quant.prune24";
constexpr char kZero[8] = {0, 0, 0, 0, 0, 0, 0, 0};

// One element's bytes (2, 4 or 8), with fixed-size copies the compiler turns into moves.
inline void copy_element(char* dst, const char* src, int64_t bytes) {
  switch (bytes) {
    case 2: std::memcpy(dst, src, 2); break;
    case 4: std::memcpy(dst, src, 4); break;
    default: std::memcpy(dst, src, 8); break;
  }
}

void load_row_f64(const TensorView& w, int64_t r, double* x, std::vector<float>& tmp) {
  const int64_t cols = w.shape[1];
  const char* p = ops::elem_ptr(w, r * w.strides[0]);
  if (w.dtype == DType::F64) return ops::load_run<double>(p, w.dtype, w.strides[1], cols, x);
  tmp.resize(size_t(cols));
  ops::load_run<float>(p, w.dtype, w.strides[1], cols, tmp.data());
  for (int64_t c = 0; c < cols; ++c) x[c] = tmp[size_t(c)];
}
}  // namespace

void prune24_check(const TensorView& w, const TensorView* norms, const TensorView& out) {
  NT_CHECK(dtype_float(w.dtype), DType, "[", kOp, "] w must be f32, f64, f16 or bf16, got ", dtype_name(w.dtype));
  NT_CHECK(w.ndim == 2, Shape, "[", kOp, "] w must be 2-D [rows, cols], got ", shape_string(w));
  NT_CHECK(w.shape[1] % 4 == 0, Shape, "[", kOp, "] w must have a multiple of 4 columns, got ", w.shape[1]);
  check_2d(kOp, out, "out", w.dtype, w.shape[0], w.shape[1]);
  if (!norms) return;
  NT_CHECK(dtype_float(norms->dtype), DType, "[", kOp, "] inputNorms must be f32, f64, f16 or bf16, got ",
           dtype_name(norms->dtype));
  NT_CHECK(norms->ndim == 1 && norms->shape[0] == w.shape[1], Shape, "[", kOp, "] inputNorms must have shape [",
           w.shape[1], "], got ", shape_string(*norms));
}

void prune24_run(const TensorView& w, const TensorView* norms, const TensorView& out) {
  const int64_t rows = w.shape[0], cols = w.shape[1];
  if (rows == 0 || cols == 0) return;
  std::vector<double> scale(size_t(cols), 1.0);
  if (norms) {
    for (int64_t c = 0; c < cols; ++c) {
      const double v = ops::load_one(ops::elem_ptr(*norms, c * norms->strides[0]), norms->dtype);
      NT_CHECK(std::isfinite(v) && v >= 0, Value, "[", kOp, "] inputNorms must be finite and >= 0, got inputNorms[", c,
               "] = ", v);
      scale[size_t(c)] = v;
    }
  }
  const int64_t eb = dtype_bits(w.dtype) / 8;
  std::vector<int64_t> bad_col(size_t(rows), -1);
  parallel_for(rows, std::max<int64_t>(1, 16384 / cols), [&](int64_t begin, int64_t end) {
    std::vector<double> x(static_cast<size_t>(cols));
    std::vector<float> tmp;
    for (int64_t r = begin; r < end; ++r) {
      load_row_f64(w, r, x.data(), tmp);
      const auto nonfinite = std::find_if(x.begin(), x.end(), [](double v) { return !std::isfinite(v); });
      if (nonfinite != x.end()) {
        bad_col[size_t(r)] = nonfinite - x.begin();
        continue;
      }
      for (int64_t c0 = 0; c0 < cols; c0 += 4) {
        double s[4];
        for (int i = 0; i < 4; ++i) s[i] = std::fabs(x[size_t(c0 + i)]) * scale[size_t(c0 + i)];
        for (int i = 0; i < 4; ++i) {
          // rank = how many of the 4 beat column i (higher score, or equal score at a lower column)
          int rank = 0;
          for (int j = 0; j < 4; ++j) rank += s[j] > s[i] || (s[j] == s[i] && j < i);
          const int64_t c = c0 + i;
          char* dst = ops::elem_ptr(out, r * out.strides[0] + c * out.strides[1]);
          const char* src = ops::elem_ptr(w, r * w.strides[0] + c * w.strides[1]);
          if (rank < 2) copy_element(dst, src, eb);
          else copy_element(dst, kZero, eb);  // +0 in every float format
        }
      }
    }
  });
  for (int64_t r = 0; r < rows; ++r) {
    if (bad_col[size_t(r)] < 0) continue;
    const int64_t c = bad_col[size_t(r)];
    fail(ErrorCode::Value, "[", kOp, "] w must be finite, got w[", r, ", ", c, "] = ",
         ops::load_one(ops::elem_ptr(w, r * w.strides[0] + c * w.strides[1]), w.dtype));
  }
}

}  // namespace nt::quant
