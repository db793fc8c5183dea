// Rotary position embedding, as Hugging Face's LlamaRotaryEmbedding + apply_rotary_pos_emb:
// freqs = inv_freq ⊗ positions in f32, emb = cat(freqs, freqs), cos/sin of it in f32, then
// q * cos + rotate_half(q) * sin with rotate_half(q) = cat(-q[h:], q[:h]). Doing the same
// roundings (f32 angle, f32 cos/sin, products rounded before the sum) keeps the result
// within an ulp of HF's for any position; the f64 path is the float64 reference form.
#include <cmath>
#include <vector>

#include "../core/scratch.h"
#include "../core/thread_pool.h"
#include "float_block.h"
#include "model_ops.h"

namespace nt::ops {
namespace {

template <typename T>
void rope_typed(const TensorView& x, const TensorView& inv_freq, const TensorView& out, int64_t position_offset) {
  const int nd = x.ndim;
  const int64_t seq = x.shape[nd - 2], d = x.shape[nd - 1], h = d / 2;
  // cos/sin table [seq, h], shared by every leading index (heads, batch).
  std::vector<T> inv(static_cast<size_t>(h));
  for (int64_t i = 0; i < h; ++i)
    inv[i] = static_cast<T>(load_one(elem_ptr(inv_freq, i * inv_freq.strides[0]), inv_freq.dtype));
  std::vector<T> cs(static_cast<size_t>(seq * h)), sn(static_cast<size_t>(seq * h));
  parallel_for(seq, std::max<int64_t>(1, 4096 / std::max<int64_t>(h, 1)), [&](int64_t b, int64_t e) {
    for (int64_t s = b; s < e; ++s) {
      const T p = static_cast<T>(position_offset + s);  // HF casts positions to f32 as well
      for (int64_t i = 0; i < h; ++i) {
        const T angle = p * inv[i];
        cs[s * h + i] = static_cast<T>(std::cos(static_cast<double>(angle)));
        sn[s * h + i] = static_cast<T>(std::sin(static_cast<double>(angle)));
      }
    }
  });
  int64_t outer = 1;
  for (int k = 0; k < nd - 2; ++k) outer *= x.shape[k];
  const int64_t rows = outer * seq;
  const int64_t sx = x.strides[nd - 1], so = out.strides[nd - 1];
  parallel_for(rows, std::max<int64_t>(1, 8192 / std::max<int64_t>(d, 1)), [&](int64_t b, int64_t e) {
    Scratch<T> src(d), dst(d);
    for (int64_t r = b; r < e; ++r) {
      const int64_t s = r % seq;
      int64_t rem = r / seq, xo = s * x.strides[nd - 2], oo = s * out.strides[nd - 2];
      for (int k = nd - 3; k >= 0; --k) {
        const int64_t ik = rem % x.shape[k];
        rem /= x.shape[k];
        xo += ik * x.strides[k];
        oo += ik * out.strides[k];
      }
      // Load the whole row first: out may be x itself.
      load_run<T>(elem_ptr(x, xo), x.dtype, sx, d, src.get());
      const T* c = &cs[s * h];
      const T* sv = &sn[s * h];
      T* y = dst.get();
      const T* v = src.get();
      for (int64_t i = 0; i < h; ++i) {
        const T a = v[i] * c[i], bq = v[i + h] * sv[i];
        const T a2 = v[i + h] * c[i], b2 = v[i] * sv[i];
        y[i] = a - bq;
        y[i + h] = a2 + b2;
      }
      store_run<T>(y, elem_ptr(out, oo), out.dtype, so, d);
    }
  });
}

}  // namespace

void rope_check(const TensorView& x, const TensorView& inv_freq, const TensorView& out, int64_t position_offset) {
  const TensorView* views[2] = {&x, &out};
  const char* names[2] = {"x", "out"};
  check_float_family("rope", views, names, 2);
  NT_CHECK(x.ndim >= 2, Shape, "[rope] x must be [..., seq, d] (at least 2-D), got ", shape_string(x));
  const int64_t d = x.shape[x.ndim - 1];
  NT_CHECK(d % 2 == 0, Shape, "[rope] the last extent d of x must be even, got ", d, " (x ", shape_string(x), ")");
  check_same_shape("rope", x, "x", out, "out");
  NT_CHECK(inv_freq.dtype == DType::F32 || inv_freq.dtype == DType::F64, DType, "[rope] invFreq must be f32 or f64, got ",
           dtype_name(inv_freq.dtype));
  NT_CHECK(inv_freq.ndim == 1 && inv_freq.shape[0] == d / 2, Shape, "[rope] invFreq must have shape [", d / 2,
           "] (d / 2 for x ", shape_string(x), "), got ", shape_string(inv_freq));
  NT_CHECK(position_offset >= 0, Value, "[rope] positionOffset must be >= 0, got ", position_offset);
  NT_CHECK(position_offset + x.shape[x.ndim - 2] <= (int64_t(1) << 24), Value,
           "[rope] positions must stay below 2^24 (exact in f32), got offset ", position_offset, " + seq ",
           x.shape[x.ndim - 2]);
}

void rope_run(const TensorView& x, const TensorView& inv_freq, const TensorView& out, int64_t position_offset) {
  if (x.numel() == 0) return;
  if (x.dtype == DType::F64) rope_typed<double>(x, inv_freq, out, position_offset);
  else rope_typed<float>(x, inv_freq, out, position_offset);
}

}  // namespace nt::ops
