// GPTQ (Frantar et al., 2022) on the shared group grid (group_quant.h). ALGORITHMS.md §2.
//
// 1. H from the caller (2XᵀX/n); a dead input (H_jj = 0) gets H_jj = 1 and W[:, j] = 0.
// 2. staticGroups: every group's grid is fixed now, from W as given (original column order).
// 3. actOrder: columns are visited in order of descending diag H (stable: ties keep their order).
// 4. U = upper Cholesky factor of (H + λ·mean(diag H)·I)⁻¹ (obs.cc; λ grows on failure).
// 5. The blocked sweep (obs.h): column j is rounded to its group's grid; the rounding error is
//    spread over the columns not yet visited through row j of U.
// Dynamic grids (no staticGroups) are computed when the sweep reaches the first column of a group,
// from that group's current weights, i.e. after every update from the columns already quantized.
// (The reference reads the group from W, which inside a block lacks the updates from the block's
// own earlier columns when groupsize < blocksize; the sweep's block alignment makes every
// group's weights current here.) With actOrder, groups are runs of groupSize visited columns and
// g_idx maps each original column to its group.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <numeric>
#include <vector>

#include "../core/half.h"
#include "../core/scratch.h"
#include "gptq.h"
#include "group_quant.h"

namespace nt::quant {
namespace {

constexpr const char* kOp = "quant.gptq";

void check_float_matrix(const TensorView& v, const char* name) {
  NT_CHECK(dtype_float(v.dtype), DType, "[", kOp, "] ", name, " must be f32, f64, f16 or bf16, got ",
           dtype_name(v.dtype));
  NT_CHECK(v.ndim == 2, Shape, "[", kOp, "] ", name, " must be 2-D, got shape ", shape_string(v));
}

void check_output(const TensorView& v, const char* name, DType d, int64_t r, int64_t c) {
  if (d == DType::F32)  // scales: f32 or f16
    NT_CHECK(v.dtype == DType::F32 || v.dtype == DType::F16, DType, "[", kOp, "] ", name, " must be f32 or f16, got ",
             dtype_name(v.dtype));
  else
    NT_CHECK(v.dtype == d, DType, "[", kOp, "] ", name, " must be ", dtype_name(d), ", got ", dtype_name(v.dtype));
  const bool ok = v.ndim == 2 && v.shape[0] == r && v.shape[1] == c;
  NT_CHECK(ok, Shape, "[", kOp, "] ", name, " must have shape [", r, ",", c, "], got ", shape_string(v));
  NT_CHECK(v.is_contiguous(), Value, "[", kOp, "] ", name, " must be contiguous");
}

float round_scale_f16(float s) { return f16_to_f32(f32_to_f16(s)); }
float round_scale_f32(float s) { return s; }

}  // namespace

void gptq_check(const TensorView& w, const TensorView& h, const TensorView& codes, const TensorView& scales,
                const TensorView& zeros, const TensorView* g_idx, const GptqOptions& o) {
  check_float_matrix(w, "w");
  check_float_matrix(h, "hessian");
  const int64_t rows = w.shape[0], cols = w.shape[1];
  NT_CHECK(h.shape[0] == cols && h.shape[1] == cols, Shape, "[", kOp, "] hessian must have shape [", cols, ",", cols,
           "] for w of shape ", shape_string(w), ", got ", shape_string(h));
  NT_CHECK(o.bits == 2 || o.bits == 3 || o.bits == 4 || o.bits == 8, Value, "[", kOp, "] bits must be 2, 3, 4 or 8, got ",
           o.bits);
  NT_CHECK(o.group_size >= 1, Value, "[", kOp, "] groupSize must be >= 1, got ", o.group_size);
  NT_CHECK(o.block_size >= 1, Value, "[", kOp, "] blockSize must be >= 1, got ", o.block_size);
  NT_CHECK(std::isfinite(o.damp) && o.damp >= 0, Value, "[", kOp, "] damp must be a finite number >= 0, got ", o.damp);
  const int64_t groups = group_count(cols, o.group_size);
  check_output(codes, "codes", DType::U8, rows, code_row_bytes(cols, o.bits));
  check_output(scales, "scales", DType::F32, rows, groups);
  check_output(zeros, "zeros", DType::U8, rows, groups);
  const bool want_gidx = o.act_order && !o.static_groups;
  NT_CHECK((g_idx != nullptr) == want_gidx, Value, "[", kOp, "] g_idx must be given exactly when actOrder is set without ",
           "staticGroups");
  if (g_idx) {
    NT_CHECK(g_idx->dtype == DType::I32, DType, "[", kOp, "] g_idx must be i32, got ", dtype_name(g_idx->dtype));
    NT_CHECK(g_idx->ndim == 1 && g_idx->shape[0] == cols && g_idx->is_contiguous(), Shape, "[", kOp,
             "] g_idx must be a contiguous [", cols, "], got ", shape_string(*g_idx));
  }
}

void gptq_run(const TensorView& wv, const TensorView& hv, const TensorView& codes, const TensorView& scales,
              const TensorView& zeros, const TensorView* g_idx, const GptqOptions& o, const ProgressFn& progress) {
  const int64_t rows = wv.shape[0], cols = wv.shape[1];
  const int bits = o.bits;
  const int64_t gsize = o.group_size;
  const int64_t groups = group_count(cols, gsize);
  const int64_t code_bytes = code_row_bytes(cols, bits);
  const bool f16_scales = scales.dtype == DType::F16;
  auto round_scale = f16_scales ? round_scale_f16 : round_scale_f32;

  // Working copies: W (f32, original column order for now) and H (f64).
  Scratch<float> w(static_cast<size_t>(std::max<int64_t>(rows * cols, 1)));
  NT_CHECK(load_dense<float>(wv, w.get()), Value, "[", kOp, "] w contains NaN or Inf");
  Scratch<double> h(static_cast<size_t>(std::max<int64_t>(cols * cols, 1)));
  std::vector<uint8_t> dead(static_cast<size_t>(cols));
  load_hessian(kOp, hv, h.get(), dead.data());
  for (int64_t j = 0; j < cols; ++j)
    if (dead[size_t(j)])
      for (int64_t r = 0; r < rows; ++r) w[r * cols + j] = 0.0f;

  uint8_t* code_base = codes.ptr<uint8_t>();
  uint8_t* zero_base = zeros.ptr<uint8_t>();
  if (rows * code_bytes > 0) std::memset(code_base, 0, static_cast<size_t>(rows * code_bytes));
  auto store_params = [&](int64_t r, int64_t g, GroupParams p) {
    if (f16_scales) scales.ptr<uint16_t>()[r * groups + g] = f32_to_f16(p.scale);
    else scales.ptr<float>()[r * groups + g] = p.scale;
    zero_base[r * groups + g] = static_cast<uint8_t>(p.zero);
  };
  // min/max of n values; the grid of a group.
  auto params_of = [&](const float* x, int64_t stride, int64_t n) {
    float lo = x[0], hi = x[0];
    for (int64_t i = 1; i < n; ++i) {
      lo = std::min(lo, x[i * stride]);
      hi = std::max(hi, x[i * stride]);
    }
    return group_params(lo, hi, bits, o.symmetric, round_scale);
  };
  // An f16 scale that overflows is refused, as RTN does (the first row in row order).
  std::atomic<int64_t> overflow_row{rows};
  auto note_overflow = [&](int64_t r, GroupParams p) {
    if (std::isfinite(p.scale)) return;
    int64_t cur = overflow_row.load();
    while (r < cur && !overflow_row.compare_exchange_weak(cur, r)) {
    }
  };
  auto check_overflow = [&] {
    NT_CHECK(overflow_row.load() == rows, Value, "[", kOp, "] a group scale of row ", overflow_row.load(),
             " exceeds the f16 range; use scaleDtype 'f32'");
  };

  // Static groups: fixed grids from W as given, original column order.
  std::vector<GroupParams> fixed;
  if (o.static_groups && rows > 0 && cols > 0) {
    fixed.resize(static_cast<size_t>(rows * groups));
    parallel_for(rows, std::max<int64_t>(1, 16384 / cols), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r)
        for (int64_t g = 0; g < groups; ++g) {
          const int64_t c0 = g * gsize, c1 = std::min(cols, c0 + gsize);
          const GroupParams p = params_of(w.get() + r * cols + c0, 1, c1 - c0);
          note_overflow(r, p);
          fixed[size_t(r * groups + g)] = p;
          store_params(r, g, p);
        }
    });
    check_overflow();
  }

  // Visiting order: perm[k] = the original column visited k-th.
  std::vector<int64_t> perm(static_cast<size_t>(cols));
  std::iota(perm.begin(), perm.end(), int64_t(0));
  if (o.act_order) {
    std::stable_sort(perm.begin(), perm.end(),
                     [&](int64_t a, int64_t b) { return h[a * cols + a] > h[b * cols + b]; });
    Scratch<float> wp(static_cast<size_t>(std::max<int64_t>(rows * cols, 1)));
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t k = 0; k < cols; ++k) wp[r * cols + k] = w[r * cols + perm[size_t(k)]];
    std::memcpy(w.get(), wp.get(), static_cast<size_t>(rows * cols) * sizeof(float));
    Scratch<double> hp(static_cast<size_t>(std::max<int64_t>(cols * cols, 1)));
    for (int64_t i = 0; i < cols; ++i)
      for (int64_t k = 0; k < cols; ++k) hp[i * cols + k] = h[perm[size_t(i)] * cols + perm[size_t(k)]];
    std::memcpy(h.get(), hp.get(), static_cast<size_t>(cols * cols) * sizeof(double));
  }
  if (g_idx) {
    int32_t* gi = g_idx->ptr<int32_t>();
    for (int64_t k = 0; k < cols; ++k) gi[perm[size_t(k)]] = static_cast<int32_t>(k / gsize);
  }

  Scratch<float> u(static_cast<size_t>(std::max<int64_t>(cols * cols, 1)));
  inverse_hessian_factor(kOp, h.get(), cols, o.damp, u.get());

  // Dynamic groups follow the visiting order (group k / gsize at visited column k); static ones
  // stay with the original columns.
  std::vector<GroupParams> current(static_cast<size_t>(rows));
  auto target = [&](int64_t r, int64_t k, float* wr) -> float {
    GroupParams p;
    if (o.static_groups) {
      p = fixed[size_t(r * groups + perm[size_t(k)] / gsize)];
    } else {
      if (k % gsize == 0) {
        p = params_of(wr + k, 1, std::min(cols, k + gsize) - k);
        note_overflow(r, p);
        current[size_t(r)] = p;
        store_params(r, k / gsize, p);
      }
      p = current[size_t(r)];
    }
    const int q = quantize_value(wr[k], p, bits);
    write_code(code_base + r * code_bytes, perm[size_t(k)], bits, q);
    return dequantize_value(q, p);
  };
  const int64_t align = o.static_groups ? 1 : gsize;
  ProgressFn each_block = [&](int64_t done, int64_t total) {
    check_overflow();
    if (progress) progress(done, total);
  };
  obs_sweep(w.get(), rows, cols, u.get(), o.block_size, align, target, each_block);
  if (cols == 0 && progress) progress(0, 0);
}

}  // namespace nt::quant
