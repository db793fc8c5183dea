// GEAR compression and decompression (see gear.h for the exact definition and storage layout).
// One (batch, head) slice per task of the core pool; GEMM and QR run inline inside a task.
#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>
#include <vector>

#include "../core/scratch.h"
#include "../core/thread_pool.h"
#include "../linalg/factor_common.h"
#include "../linalg/qr.h"
#include "../ops/float_block.h"
#include "gear.h"
#include "gear_common.h"

namespace nt::kvcache {

using detail::GroupMap;
using detail::side_get;
using detail::side_put;
using detail::side_round;

int64_t gear_code_bytes(const GearParams& prm, int64_t n, int64_t d) { return (n * d * prm.bits + 7) / 8; }

int64_t gear_groups(const GearParams& prm, int64_t n, int64_t d) {
  if (n == 0 || d == 0) return 0;
  if (prm.layout == GearLayout::Uniform) return 1;
  if (prm.kind == GearKind::Key) return (n + prm.group - 1) / prm.group * d;
  return n * ((d + prm.group - 1) / prm.group);
}

int64_t gear_vectors(const GearParams& prm, int64_t n, int64_t d) { return prm.kind == GearKind::Key ? d : n; }
int64_t gear_vector_length(const GearParams& prm, int64_t n, int64_t d) { return prm.kind == GearKind::Key ? n : d; }

uint64_t gear_slice_seed(uint64_t seed, int64_t slice) {
  // splitmix64 of (seed, slice): distinct, well-mixed Philox keys per slice
  uint64_t z = seed + 0x9E3779B97F4A7C15ull * static_cast<uint64_t>(slice + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

namespace {

void check_part(const char* op, const TensorView& v, const char* name, DType dt, int ndim, const int64_t* shape) {
  bool ok = v.ndim == ndim;
  for (int i = 0; ok && i < ndim; ++i) ok = v.shape[i] == shape[i];
  if (!ok) {
    std::string want = "[";
    for (int i = 0; i < ndim; ++i) want += (i ? "," : "") + std::to_string(shape[i]);
    fail(ErrorCode::Shape, "[", op, "] ", name, " must have shape ", want, "], got ", shape_string(v));
  }
  NT_CHECK(v.dtype == dt, DType, "[", op, "] ", name, " must be ", dtype_name(dt), ", got ", dtype_name(v.dtype));
  NT_CHECK(v.is_contiguous(), Value, "[", op, "] ", name, " must be contiguous");
}

void check_params(const char* op, const GearParams& prm, int64_t n, int64_t d) {
  NT_CHECK(prm.bits == 2 || prm.bits == 4, Value, "[", op, "] bits must be 2 or 4, got ", prm.bits);
  NT_CHECK(prm.group >= 1, Value, "[", op, "] group must be an integer >= 1, got ", prm.group);
  NT_CHECK(prm.rank >= 0 && prm.rank <= std::min(n, d), Value, "[", op, "] rank must be in [0, min(n, d) = ",
           std::min(n, d), "], got ", prm.rank);
  const int64_t len = gear_vector_length(prm, n, d);
  NT_CHECK(prm.outliers >= 0 && 2 * prm.outliers <= len, Value, "[", op,
           "] outliers per side must be in [0, len/2] for vectors of length ", len, ", got ", prm.outliers);
}

}  // namespace

void gear_block_check(const char* op, const GearBlock& blk, const GearParams& prm, int64_t batch, int64_t heads,
                      int64_t n, int64_t d) {
  check_params(op, prm, n, d);
  const DType side = blk.scales.dtype;
  NT_CHECK(side == DType::F16 || side == DType::F32, DType, "[", op, "] scales must be f16 or f32, got ",
           dtype_name(side));
  const int64_t r = prm.rank, k2 = 2 * prm.outliers, nvec = gear_vectors(prm, n, d);
  const int64_t codes[] = {batch, heads, gear_code_bytes(prm, n, d)};
  const int64_t groups[] = {batch, heads, gear_groups(prm, n, d)};
  const int64_t q[] = {batch, heads, n, r};
  const int64_t p[] = {batch, heads, d, r};
  const int64_t o[] = {batch, heads, nvec, k2};
  check_part(op, blk.codes, "codes", DType::U8, 3, codes);
  check_part(op, blk.scales, "scales", side, 3, groups);
  check_part(op, blk.mins, "mins", side, 3, groups);
  check_part(op, blk.q, "q", side, 4, q);
  check_part(op, blk.p, "p", side, 4, p);
  check_part(op, blk.ovals, "outlier values", side, 4, o);
  check_part(op, blk.oidx, "outlier indices", DType::I32, 4, o);
}

void gear_compress_check(const TensorView& x, const GearBlock& blk, const GearParams& prm, int64_t power_iters) {
  const char* op = "llm.gear.compress";
  NT_CHECK(x.ndim == 4, Shape, "[", op, "] expected x of shape [batch, heads, seq, dim], got ", shape_string(x));
  NT_CHECK(dtype_float(x.dtype), DType, "[", op, "] x must be f32, f64, f16 or bf16, got ", dtype_name(x.dtype));
  NT_CHECK(prm.rank == 0 || power_iters >= 1, Value, "[", op, "] powerIters must be an integer >= 1, got ",
           power_iters);
  gear_block_check(op, blk, prm, x.shape[0], x.shape[1], x.shape[2], x.shape[3]);
}

namespace {

// Row t of slice (b, h) of x -> dst (d floats).
void load_row(const TensorView& x, int64_t b, int64_t h, int64_t t, float* dst) {
  const int64_t d = x.shape[3];
  const int64_t off = b * x.strides[0] + h * x.strides[1] + t * x.strides[2];
  if (x.dtype == DType::F64) {
    const double* p = x.ptr<double>() + off;
    for (int64_t j = 0; j < d; ++j) dst[j] = static_cast<float>(p[j * x.strides[3]]);
  } else {
    ops::load_run<float>(ops::elem_ptr(x, off), x.dtype, x.strides[3], d, dst);
  }
}

[[noreturn]] void fail_range(const char* op, const char* what) {
  fail(ErrorCode::Value, "[", op, "] ", what,
       " exceeds the f16 range (max 65504) of the side storage; use storage 'f32'");
}

void compress_slice(const TensorView& xv, const GearBlock& blk, const GearParams& prm, int64_t power_iters,
                    uint64_t seed, int64_t slice_base, int64_t b, int64_t h) {
  const char* op = "llm.gear.compress";
  const int64_t H = xv.shape[1], n = xv.shape[2], d = xv.shape[3], s = b * H + h;
  const DType side = blk.scales.dtype;
  Scratch<float> x(static_cast<size_t>(n * d)), w(static_cast<size_t>(n * d));
  std::vector<uint8_t> is_outlier(static_cast<size_t>(n * d), 0);
  for (int64_t t = 0; t < n; ++t) load_row(xv, b, h, t, x.get() + t * d);
  for (int64_t i = 0; i < n * d; ++i)
    NT_CHECK(std::isfinite(x[i]), Value, "[", op, "] x contains NaN or Inf (slice ", b, ",", h, ")");
  std::copy(x.get(), x.get() + n * d, w.get());

  // S: the k smallest and k largest of each vector in the total order (value, index), replaced in
  // w by the vector's mean.
  const int64_t k = prm.outliers;
  if (k > 0) {
    const int64_t nvec = gear_vectors(prm, n, d), len = gear_vector_length(prm, n, d);
    const bool key = prm.kind == GearKind::Key;
    std::vector<std::pair<float, int32_t>> e(static_cast<size_t>(len));
    const int64_t obase = s * nvec * 2 * k;
    int32_t* oidx = blk.oidx.ptr<int32_t>();
    for (int64_t v = 0; v < nvec; ++v) {
      double sum = 0;
      for (int64_t i = 0; i < len; ++i) {
        const float val = key ? x[i * d + v] : x[v * d + i];
        e[i] = {val, static_cast<int32_t>(i)};
        sum += val;
      }
      const float mean = static_cast<float>(sum / static_cast<double>(len));
      std::nth_element(e.begin(), e.begin() + k, e.end());
      std::sort(e.begin(), e.begin() + k);
      std::nth_element(e.begin() + k, e.end() - k, e.end());
      std::sort(e.end() - k, e.end());
      for (int64_t m = 0; m < 2 * k; ++m) {
        const auto& [val, i] = m < k ? e[m] : e[len - 2 * k + m];
        const int64_t at = obase + v * 2 * k + m;
        oidx[at] = i;
        side_put(blk.ovals, at, val);
        if (!std::isfinite(side_get(blk.ovals, at))) fail_range(op, "an outlier value");
        const int64_t pos = key ? i * d + v : v * d + i;
        w[pos] = mean;
        is_outlier[pos] = 1;
      }
    }
  }

  // D̂: per-group min/max of w, ranges rounded to the side dtype, codes, and w := D̂.
  const int64_t groups = gear_groups(prm, n, d);
  const GroupMap gm(prm, d);
  std::vector<float> lo(static_cast<size_t>(groups), std::numeric_limits<float>::infinity());
  std::vector<float> hi(static_cast<size_t>(groups), -std::numeric_limits<float>::infinity());
  for (int64_t t = 0; t < n; ++t) {
    const int64_t base = gm.row_base(t);
    for (int64_t j = 0; j < d; ++j) {
      const int64_t g = base + gm.col(j);
      lo[g] = std::min(lo[g], w[t * d + j]);
      hi[g] = std::max(hi[g], w[t * d + j]);
    }
  }
  const int qmax = (1 << prm.bits) - 1;
  std::vector<double> lo_s(static_cast<size_t>(groups)), step_s(static_cast<size_t>(groups));
  for (int64_t g = 0; g < groups; ++g) {
    // the range in double: (hi - lo) of two finite floats can overflow f32
    float step = static_cast<float>((static_cast<double>(hi[g]) - lo[g]) / qmax);
    step = side_round(side, std::max(step, kGearMinStep));
    if (step < kGearMinStep) step = kGearMinStep;  // rounding to f16 may fall below the guard
    const float mn = side_round(side, lo[g]);
    if (!std::isfinite(step) || !std::isfinite(mn)) fail_range(op, "a quantization range");
    side_put(blk.scales, s * groups + g, step);
    side_put(blk.mins, s * groups + g, mn);
    lo_s[g] = mn;
    step_s[g] = step;
  }
  const int64_t cb = gear_code_bytes(prm, n, d);
  uint8_t* codes = blk.codes.ptr<uint8_t>() + s * cb;
  std::fill(codes, codes + cb, uint8_t{0});
  for (int64_t t = 0; t < n; ++t) {
    const int64_t base = gm.row_base(t);
    for (int64_t j = 0; j < d; ++j) {
      const int64_t g = base + gm.col(j), e = t * d + j;
      const double v = std::floor((static_cast<double>(w[e]) - lo_s[g]) / step_s[g] + 0.5);
      const int c = static_cast<int>(std::min<double>(std::max<double>(v, 0.0), qmax));
      const int64_t bit = e * prm.bits;
      codes[bit >> 3] = static_cast<uint8_t>(codes[bit >> 3] | (c << (bit & 7)));
      w[e] = static_cast<float>(lo_s[g]) + static_cast<float>(step_s[g]) * static_cast<float>(c);
    }
  }

  // L: power iteration on R = X - D̂ (zero at outliers). Factors kept column-major (Pᵀ: r x d,
  // Qᵀ: r x n row-major), the layout of orthonormal_basis.
  const int64_t r = prm.rank;
  if (r == 0) return;
  for (int64_t e = 0; e < n * d; ++e) w[e] = is_outlier[e] ? 0.0f : x[e] - w[e];
  Scratch<float> pt(static_cast<size_t>(r * d)), qt(static_cast<size_t>(r * n)), basis(static_cast<size_t>(
                                                                                     r * std::max(n, d)));
  linalg::fill_normal_matrix(pt.get(), r, d, gear_slice_seed(seed, slice_base + s));
  for (int64_t it = 0; it < power_iters; ++it) {
    linalg::orthonormal_basis(d, r, pt.get(), d, basis.get(), d);
    // Qᵀ = Pᵀ Rᵀ  (Q = R P)
    linalg::gemm_rm(false, true, r, n, d, 1.0f, basis.get(), d, w.get(), d, 0.0f, qt.get(), n);
    linalg::orthonormal_basis(n, r, qt.get(), n, basis.get(), n);
    std::copy(basis.get(), basis.get() + r * n, qt.get());
    // Pᵀ = Qᵀ R  (P = Rᵀ Q)
    linalg::gemm_rm(false, false, r, d, n, 1.0f, qt.get(), n, w.get(), d, 0.0f, pt.get(), d);
  }
  for (int64_t t = 0; t < n; ++t)
    for (int64_t c = 0; c < r; ++c) side_put(blk.q, (s * n + t) * r + c, qt[c * n + t]);
  for (int64_t j = 0; j < d; ++j)
    for (int64_t c = 0; c < r; ++c) {
      side_put(blk.p, (s * d + j) * r + c, pt[c * d + j]);
      if (!std::isfinite(side_get(blk.p, (s * d + j) * r + c))) fail_range(op, "a low-rank factor");
    }
}

}  // namespace

void gear_compress_run(const TensorView& x, const GearBlock& blk, const GearParams& prm, int64_t power_iters,
                       uint64_t seed, int64_t slice_base) {
  const int64_t B = x.shape[0], H = x.shape[1];
  if (x.shape[2] == 0 || x.shape[3] == 0) return;
  parallel_for(B * H, 1, [&](int64_t s0, int64_t s1) {
    for (int64_t s = s0; s < s1; ++s) compress_slice(x, blk, prm, power_iters, seed, slice_base, s / H, s % H);
  });
}

void gear_decompress_check(const GearBlock& blk, const GearParams& prm, const TensorView& out) {
  const char* op = "llm.gear.decompress";
  NT_CHECK(out.ndim == 4, Shape, "[", op, "] out must be 4-D, got ", shape_string(out));
  NT_CHECK(out.dtype == DType::F32, DType, "[", op, "] out must be f32, got ", dtype_name(out.dtype));
  NT_CHECK(out.is_contiguous(), Value, "[", op, "] out must be contiguous");
  NT_CHECK(blk.codes.ndim == 3 && blk.codes.shape[0] >= out.shape[0], Shape, "[", op, "] codes must be [>= ",
           out.shape[0], ", heads, bytes], got ", shape_string(blk.codes));
  gear_block_check(op, blk, prm, blk.codes.shape[0], out.shape[1], out.shape[2], out.shape[3]);
}

void gear_decompress_run(const GearBlock& blk, const GearParams& prm, const TensorView& out) {
  const int64_t B = out.shape[0], H = out.shape[1], n = out.shape[2], d = out.shape[3];
  if (n == 0 || d == 0) return;
  const int64_t groups = gear_groups(prm, n, d), r = prm.rank, k2 = 2 * prm.outliers;
  const int64_t nvec = gear_vectors(prm, n, d);
  parallel_for(B * H, 1, [&](int64_t s0, int64_t s1) {
    Scratch<float> lo(static_cast<size_t>(groups)), step(static_cast<size_t>(groups));
    std::vector<float> qf(static_cast<size_t>(n * r)), pf(static_cast<size_t>(d * r));
    for (int64_t s = s0; s < s1; ++s) {
      float* o = out.ptr<float>() + s * n * d;
      detail::decode_slice(blk, prm, s, n, d, o, lo.get(), step.get());
      if (r > 0) {
        detail::side_load(blk.q, s * n * r, n * r, qf.data());
        detail::side_load(blk.p, s * d * r, d * r, pf.data());
        for (int64_t t = 0; t < n; ++t)
          for (int64_t j = 0; j < d; ++j) {
            float acc = 0;
            for (int64_t c = 0; c < r; ++c) acc += qf[t * r + c] * pf[j * r + c];
            o[t * d + j] += acc;
          }
      }
      const int32_t* oidx = blk.oidx.ptr<int32_t>() + s * nvec * k2;
      for (int64_t v = 0; v < nvec; ++v)
        for (int64_t m = 0; m < k2; ++m) {
          int64_t t, j;
          detail::outlier_position(prm, v, oidx[v * k2 + m], &t, &j);
          // indices come from the caller's memory: a corrupt one is an error, never a stray write
          NT_CHECK(t >= 0 && t < n && j >= 0 && j < d, Value, "[llm.gear.decompress] outlier index ",
                   oidx[v * k2 + m], " out of range");
          o[t * d + j] = side_get(blk.ovals, s * nvec * k2 + v * k2 + m);
        }
    }
  });
}

}  // namespace nt::kvcache
