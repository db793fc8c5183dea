// Optimizer steps: checks and threaded runs (see optim.h). Element-wise steps split the
// elements into fixed chunks, 8-bit steps split whole quantization blocks, weight-norm steps
// split rows: every output element belongs to exactly one chunk, so results do not depend on
// the thread count.
#include "optim.h"

#include <algorithm>
#include <cmath>

#include "../core/thread_pool.h"

namespace nt::optim {
namespace {

constexpr int64_t kElementGrain = 1 << 15;

void check_f32(const char* op, const char* arg, const TensorView& t, DType dtype = DType::F32) {
  NT_CHECK(t.dtype == dtype, DType, "[", op, "] ", arg, " must be ", dtype_name(dtype), ", got ", dtype_name(t.dtype));
  NT_CHECK(t.is_contiguous(), Value, "[", op, "] ", arg, " must be contiguous, got a strided view of shape ",
           shape_string(t));
}

void check_numel(const char* op, const char* arg, const TensorView& t, int64_t n) {
  NT_CHECK(t.numel() == n, Shape, "[", op, "] ", arg, " must have ", n, " elements, got ", t.numel(), " (shape ",
           shape_string(t), ")");
}

void check_block(const char* op, int64_t block) {
  NT_CHECK(block >= 1 && block <= kMaxBlock, Value, "[", op, "] block size must be in [1, ", kMaxBlock, "], got ",
           block);
}

int64_t num_blocks(int64_t n, int64_t block) { return (n + block - 1) / block; }

}  // namespace

AdamConstants adam_constants(const char* op, const AdamHyper& h) {
  NT_CHECK(h.step >= 1, Value, "[", op, "] step must be >= 1, got ", h.step);
  NT_CHECK(std::isfinite(h.lr) && std::isfinite(h.eps) && std::isfinite(h.weight_decay), Value, "[", op,
           "] lr, eps and weightDecay must be finite");
  NT_CHECK(h.beta1 >= 0 && h.beta1 < 1 && h.beta2 >= 0 && h.beta2 < 1, Value, "[", op,
           "] betas must be in [0, 1), got ", h.beta1, ", ", h.beta2);
  AdamConstants c;
  c.beta1 = static_cast<float>(h.beta1);
  c.beta2 = static_cast<float>(h.beta2);
  c.one_minus_beta1 = static_cast<float>(1 - h.beta1);
  c.one_minus_beta2 = static_cast<float>(1 - h.beta2);
  // 1 - beta^t in double: for beta2 = 0.999 and small t, f32 would lose digits.
  c.inv_bc1 = static_cast<float>(1 / (1 - std::pow(h.beta1, static_cast<double>(h.step))));
  c.inv_bc2 = static_cast<float>(1 / (1 - std::pow(h.beta2, static_cast<double>(h.step))));
  c.eps = static_cast<float>(h.eps);
  c.lr = static_cast<float>(h.lr);
  c.decay = static_cast<float>(1 - h.lr * h.weight_decay);
  c.direction = h.direction;
  return c;
}

void adam_check(const char* op, const TensorView& target, const TensorView& g, const TensorView& m,
                const TensorView& v) {
  check_f32(op, "grad", g);
  check_f32(op, "target", target);
  check_f32(op, "m", m);
  check_f32(op, "v", v);
  const int64_t n = g.numel();
  check_numel(op, "target", target, n);
  check_numel(op, "m", m, n);
  check_numel(op, "v", v, n);
}

void adam_run(const TensorView& target, const TensorView& g, const TensorView& m, const TensorView& v,
              const AdamConstants& c) {
  const AdamF32 kernel = optim_kernels().adam_f32;
  float *pt = target.ptr<float>(), *pm = m.ptr<float>(), *pv = v.ptr<float>();
  const float* pg = g.ptr<float>();
  parallel_for(g.numel(), kElementGrain, [&](int64_t b, int64_t e) { kernel(pt + b, pg + b, pm + b, pv + b, e - b, c); });
}

void adam8bit_check(const char* op, const TensorView& target, const TensorView& g, const TensorView& m_codes,
                    const TensorView& m_absmax, const TensorView& v_codes, const TensorView& v_absmax, int64_t block) {
  check_block(op, block);
  check_f32(op, "grad", g);
  check_f32(op, "target", target);
  check_f32(op, "mCodes", m_codes, DType::U8);
  check_f32(op, "vCodes", v_codes, DType::U8);
  check_f32(op, "mAbsmax", m_absmax);
  check_f32(op, "vAbsmax", v_absmax);
  const int64_t n = g.numel();
  check_numel(op, "target", target, n);
  check_numel(op, "mCodes", m_codes, n);
  check_numel(op, "vCodes", v_codes, n);
  check_numel(op, "mAbsmax", m_absmax, num_blocks(n, block));
  check_numel(op, "vAbsmax", v_absmax, num_blocks(n, block));
}

void adam8bit_run(const TensorView& target, const TensorView& g, const TensorView& m_codes, const TensorView& m_absmax,
                  const TensorView& v_codes, const TensorView& v_absmax, int64_t block, const AdamConstants& c) {
  const Adam8bitBlock kernel = optim_kernels().adam8bit_block;
  const int64_t n = g.numel();
  float* pt = target.ptr<float>();
  const float* pg = g.ptr<float>();
  uint8_t *mq = m_codes.ptr<uint8_t>(), *vq = v_codes.ptr<uint8_t>();
  float *ma = m_absmax.ptr<float>(), *va = v_absmax.ptr<float>();
  const int64_t grain = std::max<int64_t>(1, kElementGrain / block);
  parallel_for(num_blocks(n, block), grain, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t i = b * block, len = std::min(block, n - i);
      kernel(pt + i, pg + i, mq + i, ma + b, vq + i, va + b, len, c);
    }
  });
}

void quantize_check(const char* op, const TensorView& x, const TensorView& codes, const TensorView& absmax,
                    int64_t block) {
  check_block(op, block);
  check_f32(op, "x", x);
  check_f32(op, "codes", codes, DType::U8);
  check_f32(op, "absmax", absmax);
  check_numel(op, "codes", codes, x.numel());
  check_numel(op, "absmax", absmax, num_blocks(x.numel(), block));
}

void quantize_run(const TensorView& x, const TensorView& codes, const TensorView& absmax, int64_t block,
                  bool is_signed) {
  const QuantizeBlock kernel = optim_kernels().quantize_block;
  const int64_t n = x.numel();
  const float* px = x.ptr<float>();
  uint8_t* pc = codes.ptr<uint8_t>();
  float* pa = absmax.ptr<float>();
  parallel_for(num_blocks(n, block), std::max<int64_t>(1, kElementGrain / block), [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t i = b * block;
      kernel(px + i, pc + i, pa + b, std::min(block, n - i), is_signed);
    }
  });
}

void dequantize_run(const TensorView& codes, const TensorView& absmax, const TensorView& x, int64_t block,
                    bool is_signed) {
  const DequantizeBlock kernel = optim_kernels().dequantize_block;
  const int64_t n = x.numel();
  float* px = x.ptr<float>();
  const uint8_t* pc = codes.ptr<uint8_t>();
  const float* pa = absmax.ptr<float>();
  parallel_for(num_blocks(n, block), std::max<int64_t>(1, kElementGrain / block), [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t i = b * block;
      kernel(pc + i, pa[b], px + i, std::min(block, n - i), is_signed);
    }
  });
}

void weight_norm_check(const char* op, const TensorView& w, const TensorView& g, const TensorView& s,
                       const TensorView* mat, const TensorView* out_mat, const TensorView* vec) {
  check_f32(op, "param", w);
  NT_CHECK(w.ndim == 2, Shape, "[", op, "] param must be 2-D, got shape ", shape_string(w));
  const int64_t rows = w.shape[0];
  check_f32(op, "g", g);
  check_f32(op, "s", s);
  check_numel(op, "g", g, rows);
  check_numel(op, "s", s, rows);
  if (mat) {
    check_f32(op, "grad", *mat);
    NT_CHECK(same_shape(*mat, w), Shape, "[", op, "] grad must have the param's shape ", shape_string(w), ", got ",
             shape_string(*mat));
  }
  if (out_mat) {
    check_f32(op, "out", *out_mat);
    NT_CHECK(same_shape(*out_mat, w), Shape, "[", op, "] out must have the param's shape ", shape_string(w), ", got ",
             shape_string(*out_mat));
  }
  if (vec) {
    check_f32(op, "vector", *vec);
    check_numel(op, "vector", *vec, rows);
  }
}

void weight_norm_init_run(const TensorView& w, const TensorView& g, const TensorView& s, double eps) {
  const int64_t rows = w.shape[0], cols = w.shape[1];
  const float* pw = w.ptr<float>();
  float *pg = g.ptr<float>(), *ps = s.ptr<float>();
  parallel_for(rows, 16, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      double ss = 0;
      for (int64_t j = 0; j < cols; ++j) ss += static_cast<double>(pw[r * cols + j]) * pw[r * cols + j];
      pg[r] = ps[r] = static_cast<float>(std::sqrt(ss + eps));
    }
  });
}

void weight_norm_grad_run(const TensorView& w, const TensorView& g, const TensorView& s, const TensorView& grad,
                          const TensorView& dv, const TensorView& dg) {
  const int64_t rows = w.shape[0], cols = w.shape[1];
  const float *pw = w.ptr<float>(), *pg = g.ptr<float>(), *ps = s.ptr<float>(), *pG = grad.ptr<float>();
  float *pdv = dv.ptr<float>(), *pdg = dg.ptr<float>();
  parallel_for(rows, 16, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* wr = pw + r * cols;
      const float* Gr = pG + r * cols;
      float* dvr = pdv + r * cols;
      const double gi = pg[r];
      const double inv_g = gi != 0 ? 1 / gi : 0;  // g = 0: W = 0 and V̂ is taken as 0
      double dot = 0;
      for (int64_t j = 0; j < cols; ++j) dot += static_cast<double>(wr[j]) * Gr[j];
      dot *= inv_g;  // V̂ · G
      pdg[r] = static_cast<float>(dot);
      const float a = static_cast<float>(gi / ps[r]);
      const float b = static_cast<float>(dot * inv_g);  // (V̂·G) V̂_j = (V̂·G) W_j / g
      for (int64_t j = 0; j < cols; ++j) dvr[j] = a * (Gr[j] - b * wr[j]);
    }
  });
}

void weight_norm_apply_run(const TensorView& w, const TensorView& g, const TensorView& s, const TensorView& uv,
                           const TensorView& ug, double lr, double scale, double weight_decay, double eps) {
  const int64_t rows = w.shape[0], cols = w.shape[1];
  float *pw = w.ptr<float>(), *pg = g.ptr<float>(), *ps = s.ptr<float>();
  const float *pu = uv.ptr<float>(), *pug = ug.ptr<float>();
  const double decay = 1 - lr * weight_decay;
  parallel_for(rows, 16, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      float* wr = pw + r * cols;
      const float* ur = pu + r * cols;
      const double gi = pg[r];
      // V = s W / g, then V' = V decay − lr scale u, all in one factor per term.
      const float a = static_cast<float>(gi != 0 ? ps[r] / gi * decay : 0);
      const float b = static_cast<float>(lr * scale);
      double ss = 0;
      for (int64_t j = 0; j < cols; ++j) {
        const float vj = a * wr[j] - b * ur[j];
        wr[j] = vj;  // V' for now; rescaled below
        ss += static_cast<double>(vj) * vj;
      }
      const double s_new = std::sqrt(ss + eps);
      const double g_new = gi * decay - lr * pug[r];
      const float c = static_cast<float>(g_new / s_new);
      for (int64_t j = 0; j < cols; ++j) wr[j] *= c;
      pg[r] = static_cast<float>(g_new);
      ps[r] = static_cast<float>(s_new);
    }
  });
}

void scaled_update_check(const char* op, const TensorView& p, const TensorView& u) {
  check_f32(op, "param", p);
  check_f32(op, "update", u);
  check_numel(op, "update", u, p.numel());
}

void scaled_update_run(const TensorView& p, const TensorView& u, double lr, double scale, double weight_decay) {
  float* pp = p.ptr<float>();
  const float* pu = u.ptr<float>();
  const float decay = static_cast<float>(1 - lr * weight_decay), step = static_cast<float>(lr * scale);
  parallel_for(p.numel(), kElementGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) pp[i] = pp[i] * decay - step * pu[i];
  });
}

}  // namespace nt::optim
