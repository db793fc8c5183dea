#include "feature_map.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "../core/thread_pool.h"
#include "linear_view.h"

namespace nt {
namespace {

using linattn::gather_rows;
using linattn::read_elem;
using linattn::scatter_rows;

constexpr double kClamp = 1e-12;  // Hedgehog's lower clamp: keeps φ(q)·φ(k) > 0

// W̃_h as a dense D × f matrix.
template <typename T>
void load_weight(const TensorView& w, int64_t h, std::vector<T>& dst) {
  const int64_t d = w.shape[1], f = w.shape[2];
  dst.resize(static_cast<size_t>(d * f));
  for (int64_t i = 0; i < d; ++i)
    for (int64_t c = 0; c < f; ++c)
      dst[i * f + c] = static_cast<T>(read_elem(w, h * w.strides[0] + i * w.strides[1] + c * w.strides[2]));
}

// Softmax of sign·u into out (length f), max-shifted.
template <typename T>
void signed_softmax(const T* u, int64_t f, T sign, T* out) {
  T m = -INFINITY;
  for (int64_t c = 0; c < f; ++c) m = std::max(m, sign * u[c]);
  T s = 0;
  for (int64_t c = 0; c < f; ++c) s += (out[c] = std::exp(sign * u[c] - m));
  for (int64_t c = 0; c < f; ++c) out[c] /= s;
}

// u = x W (x: D, W: D × f).
template <typename T>
void project(const T* x, const T* w, int64_t d, int64_t f, T* u) {
  std::fill(u, u + f, T(0));
  for (int64_t i = 0; i < d; ++i) {
    const T xi = x[i];
    const T* wr = w + i * f;
    for (int64_t c = 0; c < f; ++c) u[c] += xi * wr[c];
  }
}

const char* kind_name(int32_t kind) {
  switch (static_cast<FeatureMapKind>(kind)) {
    case FeatureMapKind::Hedgehog: return "hedgehog";
    case FeatureMapKind::Identity: return "identity";
    case FeatureMapKind::Relu: return "relu";
    case FeatureMapKind::EluPlusOne: return "elu+1";
  }
  return "?";
}

void check_common(const char* op, const TensorView& x, const TensorView* weight, int64_t out_heads, int64_t features,
                  int32_t kind) {
  NT_CHECK(kind >= 0 && kind <= 3, Value, "[", op, "] kind must be 0..3 (hedgehog, identity, relu, elu+1), got ", kind);
  linattn::check_float_view(op, "x", x, 4);
  NT_CHECK(out_heads > 0 && x.shape[1] > 0 && out_heads % x.shape[1] == 0, Shape, "[", op, "] output heads (",
           out_heads, ") must be a positive multiple of the input heads (", x.shape[1], ")");
  const int64_t d = x.shape[3];
  if (kind == static_cast<int32_t>(FeatureMapKind::Hedgehog)) {
    NT_CHECK(weight != nullptr, Value, "[", op, "] the hedgehog map needs a weight");
    NT_CHECK(weight->dtype == DType::F32 || weight->dtype == DType::F64, DType, "[", op,
             "] weight must be f32 or f64");
    NT_CHECK(weight->ndim == 3 && weight->shape[0] == out_heads && weight->shape[1] == d && weight->shape[2] > 0,
             Shape, "[", op, "] weight must have shape [", out_heads, ", ", d, ", f > 0], got ", shape_string(*weight));
    NT_CHECK(features == 2 * weight->shape[2], Shape, "[", op, "] hedgehog gives 2f = ", 2 * weight->shape[2],
             " features, the output has ", features);
  } else {
    NT_CHECK(weight == nullptr, Value, "[", op, "] the ", kind_name(kind), " map takes no weight");
    NT_CHECK(features == d, Shape, "[", op, "] the ", kind_name(kind), " map keeps dim ", d, ", the output has ",
             features, " features");
  }
}

}  // namespace

void feature_map_check(const TensorView& x, const TensorView* weight, const TensorView& out, int32_t kind) {
  const char* op = "attention.featureMap";
  linattn::check_float_view(op, "out", out, 4);
  check_common(op, x, weight, out.shape[1], out.shape[3], kind);
  linattn::check_dims(op, "out", out, x.shape[0], out.shape[1], x.shape[2], out.shape[3]);
}

namespace {

template <typename T>
void feature_map_impl(const TensorView& x, const TensorView* weight, const TensorView& out, int32_t kind) {
  using V = std::vector<T>;
  const T clamp = static_cast<T>(kClamp);
  const int64_t batch = x.shape[0], hx = x.shape[1], n = x.shape[2], d = x.shape[3];
  const int64_t hout = out.shape[1], feat = out.shape[3], group = hout / hx;
  const auto k = static_cast<FeatureMapKind>(kind);
  // One task per (batch, output head): each writes only its own output rows.
  parallel_for(batch * hout, 1, [&](int64_t begin, int64_t end) {
    V w, xr(static_cast<size_t>(d)), u, row(static_cast<size_t>(feat));
    for (int64_t task = begin; task < end; ++task) {
      const int64_t b = task / hout, h = task % hout;
      if (k == FeatureMapKind::Hedgehog) {
        load_weight(*weight, h, w);
        u.resize(static_cast<size_t>(feat / 2));
      }
      const int64_t f = feat / 2;
      for (int64_t i = 0; i < n; ++i) {
        gather_rows(x, b, h / group, i, 1, xr.data());
        switch (k) {
          case FeatureMapKind::Hedgehog:
            project(xr.data(), w.data(), d, f, u.data());
            signed_softmax(u.data(), f, T(1), row.data());
            signed_softmax(u.data(), f, T(-1), row.data() + f);
            for (auto& e : row) e = std::max(e, clamp);
            break;
          case FeatureMapKind::Identity: row = xr; break;
          case FeatureMapKind::Relu:
            for (int64_t c = 0; c < d; ++c) row[c] = std::max(xr[c], T(0));
            break;
          case FeatureMapKind::EluPlusOne:
            for (int64_t c = 0; c < d; ++c) row[c] = xr[c] > 0 ? xr[c] + 1 : std::exp(xr[c]);
            break;
        }
        scatter_rows(out, b, h, i, 1, row.data());
      }
    }
  });
}

}  // namespace

void feature_map_run(const TensorView& x, const TensorView* weight, const TensorView& out, int32_t kind) {
  if (linattn::all_f32({&x, weight, &out})) feature_map_impl<float>(x, weight, out, kind);
  else feature_map_impl<double>(x, weight, out, kind);
}

void feature_map_backward_check(const TensorView& x, const TensorView* weight, const TensorView& grad,
                                const TensorView& dx, const TensorView* dweight, int32_t kind) {
  const char* op = "attention.featureMapBackward";
  linattn::check_float_view(op, "grad", grad, 4);
  check_common(op, x, weight, grad.shape[1], grad.shape[3], kind);
  linattn::check_dims(op, "grad", grad, x.shape[0], grad.shape[1], x.shape[2], grad.shape[3]);
  linattn::check_float_view(op, "dx", dx, 4);
  linattn::check_dims(op, "dx", dx, x.shape[0], x.shape[1], x.shape[2], x.shape[3]);
  if (kind == static_cast<int32_t>(FeatureMapKind::Hedgehog)) {
    NT_CHECK(dweight != nullptr, Value, "[", op, "] the hedgehog map needs a dweight output");
    NT_CHECK(dweight->dtype == DType::F32 || dweight->dtype == DType::F64, DType, "[", op,
             "] dweight must be f32 or f64");
    NT_CHECK(dweight->ndim == 3 && dweight->shape[0] == weight->shape[0] && dweight->shape[1] == weight->shape[1] &&
                 dweight->shape[2] == weight->shape[2],
             Shape, "[", op, "] dweight must have the weight's shape ", shape_string(*weight), ", got ",
             shape_string(*dweight));
  } else {
    NT_CHECK(dweight == nullptr, Value, "[", op, "] the ", kind_name(kind), " map takes no dweight");
  }
}

namespace {

template <typename T>
void feature_map_backward_impl(const TensorView& x, const TensorView* weight, const TensorView& grad,
                               const TensorView& dx, const TensorView* dweight, int32_t kind) {
  using V = std::vector<T>;
  const T clamp = static_cast<T>(kClamp);
  const int64_t batch = x.shape[0], hx = x.shape[1], n = x.shape[2], d = x.shape[3];
  const int64_t hout = grad.shape[1], feat = grad.shape[3], group = hout / hx, f = feat / 2;
  const auto k = static_cast<FeatureMapKind>(kind);
  // One task per input head: it owns dx of that head and dweight of the output heads that read it.
  parallel_for(hx, 1, [&](int64_t begin, int64_t end) {
    V w, dw, xr(static_cast<size_t>(d)), g(static_cast<size_t>(feat)), u(static_cast<size_t>(f)),
        a(static_cast<size_t>(feat)), du(static_cast<size_t>(f));
    V dxh(static_cast<size_t>(batch * n * d));
    for (int64_t hi = begin; hi < end; ++hi) {
      std::fill(dxh.begin(), dxh.end(), T(0));
      for (int64_t h = hi * group; h < (hi + 1) * group; ++h) {
        if (k == FeatureMapKind::Hedgehog) {
          load_weight(*weight, h, w);
          dw.assign(static_cast<size_t>(d * f), T(0));
        }
        for (int64_t b = 0; b < batch; ++b) {
          for (int64_t i = 0; i < n; ++i) {
            gather_rows(x, b, hi, i, 1, xr.data());
            gather_rows(grad, b, h, i, 1, g.data());
            T* acc = dxh.data() + (b * n + i) * d;
            switch (k) {
              case FeatureMapKind::Hedgehog: {
                project(xr.data(), w.data(), d, f, u.data());
                signed_softmax(u.data(), f, T(1), a.data());
                signed_softmax(u.data(), f, T(-1), a.data() + f);
                // The clamp is flat below 1e-12: no gradient flows through clamped entries.
                for (int64_t c = 0; c < feat; ++c)
                  if (a[c] < clamp) g[c] = 0;
                // Softmax Jacobian: du = s ⊙ (g − s·g), with the minus sign of the second half.
                T sa = 0, sb = 0;
                for (int64_t c = 0; c < f; ++c) {
                  sa += a[c] * g[c];
                  sb += a[f + c] * g[f + c];
                }
                for (int64_t c = 0; c < f; ++c) du[c] = a[c] * (g[c] - sa) - a[f + c] * (g[f + c] - sb);
                for (int64_t r = 0; r < d; ++r) {
                  T s = 0;
                  const T* wr = w.data() + r * f;
                  T* dwr = dw.data() + r * f;
                  for (int64_t c = 0; c < f; ++c) {
                    s += wr[c] * du[c];
                    dwr[c] += xr[r] * du[c];
                  }
                  acc[r] += s;
                }
                break;
              }
              case FeatureMapKind::Identity:
                for (int64_t c = 0; c < d; ++c) acc[c] += g[c];
                break;
              case FeatureMapKind::Relu:
                for (int64_t c = 0; c < d; ++c) acc[c] += xr[c] > 0 ? g[c] : T(0);
                break;
              case FeatureMapKind::EluPlusOne:
                for (int64_t c = 0; c < d; ++c) acc[c] += xr[c] > 0 ? g[c] : g[c] * std::exp(xr[c]);
                break;
            }
          }
        }
        if (k == FeatureMapKind::Hedgehog) {
          for (int64_t r = 0; r < d; ++r)
            for (int64_t c = 0; c < f; ++c)
              linattn::write_elem(*dweight, h * dweight->strides[0] + r * dweight->strides[1] + c * dweight->strides[2],
                                  dw[r * f + c]);
        }
      }
      for (int64_t b = 0; b < batch; ++b) scatter_rows(dx, b, hi, 0, n, dxh.data() + b * n * d);
    }
  });
}

}  // namespace

void feature_map_backward_run(const TensorView& x, const TensorView* weight, const TensorView& grad,
                              const TensorView& dx, const TensorView* dweight, int32_t kind) {
  if (linattn::all_f32({&x, weight, &grad, &dx, dweight})) feature_map_backward_impl<float>(x, weight, grad, dx, dweight, kind);
  else feature_map_backward_impl<double>(x, weight, grad, dx, dweight, kind);
}

}  // namespace nt
