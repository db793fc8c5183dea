// Streaming second moments of layer inputs (nt.llm.covariance): gram += XᵀX, sum_sq += Σ_t x_tj²,
// sum_abs += Σ_t |x_tj|, all in f64, without keeping X.
//
// Precision: f32/f16/bf16 rows are exact in f32, so XᵀX is formed by the f32 GEMM over blocks
// of kRowBlock tokens and each block's product is added into the f64 sums. An entry of one block
// carries at most ~kRowBlock·2⁻²⁴ relative rounding (of Σ|x_ti x_tj|, typically √kRowBlock times
// less); summing the blocks in f64 keeps that bound independent of the token count, which is
// what an f32 running sum would not (its error grows with n). The f32 GEMM is about twice the
// speed of the f64 one (twice the SIMD lanes) and this is the hot loop of calibration. f64
// input keeps its precision with the f64 GEMM.
// Only the lower triangle is formed (panels of kPanel columns, rows from the panel down), then
// mirrored (tiled, in parallel), so the result is exactly symmetric; an owner that reads gram
// rarely (nt.llm.covariance) skips the mirror per update and asks for it once.
#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "../core/scratch.h"
#include "../core/thread_pool.h"
#include "../cpu/gemm.h"
#include "../ops/float_block.h"
#include "gptq.h"

namespace nt::quant {
namespace {

constexpr const char* kOp = "llm.covariance.update";
// 1024 tokens per f32 block and 512-column panels. At dim 5632 a 2048-row update took 341 ms with
// 256 / 256 blocks and panels; 265-284 ms with 1024 / 512 and a mirror per update; 215 ms with
// the rows read in place, the column sums split over the team, the accumulator mirroring once
// when read and 2048-row blocks (2048: 48-51 -> 37 ms; AMD EPYC Zen 5, 2 threads, same run).
// Blocks stay at 1024 rows: 2048 changed XᵀX's rounding enough to flip SparseGPT 2:4 mask
// choices, moving the demo's 2:4 row by +0.2% perplexity. Typical rounding per block stays
// ~√1024·2⁻²⁴ ≈ 2e-6 of Σ|x_ti x_tj|, within the tests' f64-reference bounds.
constexpr int64_t kRowBlock = 1024;
constexpr int64_t kPanel = 512;

// Leading-index walk over the rows (all axes but the last) of a strided view.
struct RowWalk {
  const TensorView& v;
  int64_t row_offset(int64_t r) const {
    int64_t off = 0;
    for (int d = v.ndim - 2; d >= 0; --d) {
      off += (r % v.shape[d]) * v.strides[d];
      r /= v.shape[d];
    }
    return off;
  }
};

// dst = row of x at element offset off, as T (f64 rows as f64, the others through f32).
template <typename T>
void load_row(const TensorView& v, int64_t off, int64_t dim, T* dst, std::vector<double>& td, std::vector<float>& tf) {
  const char* p = ops::elem_ptr(v, off);
  const int64_t s = v.strides[v.ndim - 1];
  if (v.dtype == DType::F64) {
    if constexpr (std::is_same_v<T, double>) return ops::load_run<double>(p, v.dtype, s, dim, dst);
    td.resize(size_t(dim));
    ops::load_run<double>(p, v.dtype, s, dim, td.data());
    for (int64_t j = 0; j < dim; ++j) dst[j] = static_cast<T>(td[size_t(j)]);
  } else {
    if constexpr (std::is_same_v<T, float>) return ops::load_run<float>(p, v.dtype, s, dim, dst);
    tf.resize(size_t(dim));
    ops::load_run<float>(p, v.dtype, s, dim, tf.data());
    for (int64_t j = 0; j < dim; ++j) dst[j] = tf[size_t(j)];
  }
}

// bad[r] = 1 for the rows in [r0, r1) holding a NaN or ±Inf.
template <typename T>
void mark_nonfinite(const TensorView& x, const RowWalk& walk, int64_t dim, int64_t r0, int64_t r1, uint8_t* bad) {
  std::vector<T> row(static_cast<size_t>(dim));
  std::vector<double> td;
  std::vector<float> tf;
  for (int64_t r = r0; r < r1; ++r) {
    load_row<T>(x, walk.row_offset(r), dim, row.data(), td, tf);
    T acc = 0;
    for (int64_t j = 0; j < dim; ++j) acc += row[size_t(j)] * T(0);  // NaN iff some x is NaN/Inf
    bad[r] = !(acc == T(0));
  }
}

void gemm_t(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb, float* c,
            int64_t ldc) {
  gemm_f32(true, false, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, ldc);
}
void gemm_t(int64_t m, int64_t n, int64_t k, const double* a, int64_t lda, const double* b, int64_t ldb, double* c,
            int64_t ldc) {
  gemm_f64(true, false, m, n, k, 1.0, a, lda, b, ldb, 0.0, c, ldc);
}

// sq[j] += Σ_i x_ij², ab[j] += Σ_i |x_ij| over the nb rows of a (row stride ld), in f64; columns
// split over the team (each output summed by one thread, rows in order).
template <typename T>
void column_moments(const T* a, int64_t nb, int64_t dim, int64_t ld, double* sq, double* ab) {
  parallel_for(dim, 256, [&](int64_t j0, int64_t j1) {
    for (int64_t i = 0; i < nb; ++i) {
      const T* row = a + i * ld;
      for (int64_t j = j0; j < j1; ++j) {
        const double v = row[j];
        sq[j] += v * v;
        ab[j] += std::fabs(v);
      }
    }
  });
}

template <typename T>
void accumulate(const TensorView& x, int64_t rows, int64_t dim, double* gram, double* sq, double* ab) {
  const RowWalk walk{x};
  const int64_t rb = std::min(kRowBlock, rows);
  // rows of a contiguous input of the GEMM's type are used where they are; others are copied
  const bool in_place = x.is_contiguous() && (std::is_same_v<T, float> ? x.dtype == DType::F32 : x.dtype == DType::F64);
  Scratch<T> a(in_place ? 0 : static_cast<size_t>(rb * dim));
  const int64_t pw = std::min(kPanel, dim);
  Scratch<T> tile(gram ? static_cast<size_t>(dim * pw) : 0);
  std::vector<double> td;
  std::vector<float> tf;
  for (int64_t r0 = 0; r0 < rows; r0 += rb) {
    const int64_t nb = std::min(rb, rows - r0);
    const T* block = a.get();
    if (in_place) {
      block = x.ptr<T>() + r0 * dim;
    } else {
      for (int64_t i = 0; i < nb; ++i) load_row<T>(x, walk.row_offset(r0 + i), dim, a.get() + i * dim, td, tf);
    }
    column_moments(block, nb, dim, dim, sq, ab);
    if (!gram) continue;
    for (int64_t j0 = 0; j0 < dim; j0 += pw) {
      const int64_t w = std::min(pw, dim - j0), m = dim - j0;
      // tile[i, c] = Σ_t a[t, j0 + i] a[t, j0 + c]: rows j0.. of columns j0..j0+w of XᵀX
      gemm_t(m, w, nb, block + j0, dim, block + j0, dim, tile.get(), w);
      parallel_for(m, std::max<int64_t>(1, 4096 / w), [&](int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; ++i) {
          double* g = gram + (j0 + i) * dim + j0;
          const T* t = tile.get() + i * w;
          const int64_t cmax = std::min(w, i + 1);  // lower triangle (c ≤ row)
          for (int64_t c = 0; c < cmax; ++c) g[c] += static_cast<double>(t[c]);
        }
      });
    }
  }
}

// Upper triangle = lower triangle, in kMirrorTile² tiles with block rows in parallel. The
// plain loop read a column of a row-major dim² matrix per row (a cache miss per element, single
// threaded): at dim 5632 it cost ~0.3 s per update, more than a 256-token block's GEMM. Each
// task writes only the upper part of its own rows and reads only the lower triangle: no races.
constexpr int64_t kMirrorTile = 64;
void mirror_lower(double* g, int64_t dim) {
  const int64_t tiles = (dim + kMirrorTile - 1) / kMirrorTile;
  parallel_for(tiles, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t i0 = b * kMirrorTile, i1 = std::min(dim, i0 + kMirrorTile);
      for (int64_t j0 = i0; j0 < dim; j0 += kMirrorTile) {
        const int64_t j1 = std::min(dim, j0 + kMirrorTile);
        for (int64_t i = i0; i < i1; ++i)
          for (int64_t j = std::max(j0, i + 1); j < j1; ++j) g[i * dim + j] = g[j * dim + i];
      }
    }
  });
}

}  // namespace

void covariance_check(const TensorView& x, const TensorView* gram, const TensorView& sum_sq,
                      const TensorView& sum_abs) {
  NT_CHECK(dtype_float(x.dtype), DType, "[", kOp, "] x must be f32, f64, f16 or bf16, got ", dtype_name(x.dtype));
  NT_CHECK(x.ndim >= 1, Shape, "[", kOp, "] x must be [..., dim], got a scalar");
  const int64_t dim = sum_sq.ndim == 1 ? sum_sq.shape[0] : -1;
  NT_CHECK(x.shape[x.ndim - 1] == dim, Shape, "[", kOp, "] x must be [..., ", dim, "], got ", shape_string(x));
  auto check_state = [&](const TensorView& v, const char* name, int ndim) {
    NT_CHECK(v.dtype == DType::F64, DType, "[", kOp, "] ", name, " must be f64, got ", dtype_name(v.dtype));
    const bool ok = v.ndim == ndim && v.shape[0] == dim && (ndim == 1 || v.shape[1] == dim);
    NT_CHECK(ok && v.is_contiguous(), Shape, "[", kOp, "] ", name, " must be a contiguous f64 ",
             ndim == 1 ? "[dim]" : "[dim, dim]", " with dim = ", dim, ", got ", shape_string(v));
  };
  check_state(sum_sq, "sumSq", 1);
  check_state(sum_abs, "sumAbs", 1);
  if (gram) check_state(*gram, "gram", 2);
}

void covariance_run(const TensorView& x, const TensorView* gram, const TensorView& sum_sq, const TensorView& sum_abs,
                    bool symmetrize) {
  const int64_t dim = x.shape[x.ndim - 1];
  double* g = gram ? gram->ptr<double>() : nullptr;
  if (x.numel() == 0) {
    if (g && symmetrize) mirror_lower(g, dim);
    return;
  }
  const int64_t rows = x.numel() / dim;
  const RowWalk walk{x};
  // Refuse NaN/Inf before touching the sums, so a failed update leaves them unchanged.
  std::vector<uint8_t> bad(static_cast<size_t>(rows), 0);
  parallel_for(rows, std::max<int64_t>(1, 16384 / dim), [&](int64_t r0, int64_t r1) {
    if (x.dtype == DType::F64) mark_nonfinite<double>(x, walk, dim, r0, r1, bad.data());
    else mark_nonfinite<float>(x, walk, dim, r0, r1, bad.data());
  });
  const auto first_bad = std::find(bad.begin(), bad.end(), uint8_t(1));
  NT_CHECK(first_bad == bad.end(), Value, "[", kOp, "] x contains NaN or Inf (token row ", first_bad - bad.begin(), ")");

  if (x.dtype == DType::F64) accumulate<double>(x, rows, dim, g, sum_sq.ptr<double>(), sum_abs.ptr<double>());
  else accumulate<float>(x, rows, dim, g, sum_sq.ptr<double>(), sum_abs.ptr<double>());
  if (g && symmetrize) mirror_lower(g, dim);
}

}  // namespace nt::quant
