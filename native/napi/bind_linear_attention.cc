// Bindings of the linear-attention area (native/attention/{feature_map,linear_attention}.h):
// feature maps, linear / LoLCATs-hybrid attention forward, backward and the decode step.
// An absent optional tensor is passed as (null, null).
#include <optional>

#include "../attention/feature_map.h"
#include "../attention/linear_attention.h"
#include "op.h"

using nt::TensorView;

namespace {

const TensorView* ptr(const std::optional<TensorView>& t) { return t ? &*t : nullptr; }

// (q|null, k|null, v, phiQ, phiK, gamma|null): the common head of the attention ops; the
// optional views live in `keep` so the pointers in the returned struct stay valid.
struct Inputs {
  std::optional<TensorView> q, k, gamma;
  nt::LinearAttentionInputs in;
};

Inputs read_inputs(nt::napi::Args& args) {
  Inputs r;
  r.q = args.optional_tensor();
  r.k = args.optional_tensor();
  r.in.v = args.tensor();
  r.in.phi_q = args.tensor();
  r.in.phi_k = args.tensor();
  r.gamma = args.optional_tensor();
  return r;
}

// window, eps, scale (after the op-specific arguments)
void read_params(nt::napi::Args& args, Inputs& r) {
  r.in.window = args.i64();
  r.in.eps = args.f64();
  r.in.scale = args.f64();
}

void link(Inputs& r) {
  r.in.q = ptr(r.q);
  r.in.k = ptr(r.k);
  r.in.gamma = ptr(r.gamma);
}

}  // namespace

// (x, weight|null, out, kind)
NT_NAPI_OP(featureMap) {
  const TensorView x = args.tensor();
  const std::optional<TensorView> weight = args.optional_tensor();
  const TensorView out = args.tensor();
  const int32_t kind = args.i32();
  nt::feature_map_check(x, ptr(weight), out, kind);
  return {[=] { nt::feature_map_run(x, ptr(weight), out, kind); }, {}};
}

// (x, weight|null, grad, dx, dweight|null, kind)
NT_NAPI_OP(featureMapBackward) {
  const TensorView x = args.tensor();
  const std::optional<TensorView> weight = args.optional_tensor();
  const TensorView grad = args.tensor(), dx = args.tensor();
  const std::optional<TensorView> dweight = args.optional_tensor();
  const int32_t kind = args.i32();
  nt::feature_map_backward_check(x, ptr(weight), grad, dx, ptr(dweight), kind);
  return {[=] { nt::feature_map_backward_run(x, ptr(weight), grad, dx, ptr(dweight), kind); }, {}};
}

// (q|null, k|null, v, phiQ, phiK, gamma|null, out, window, eps, scale)
NT_NAPI_OP(linearAttention) {
  Inputs r = read_inputs(args);
  const TensorView out = args.tensor();
  read_params(args, r);
  link(r);
  nt::linear_attention_check("attention.linear", r.in, out);
  return {[=]() mutable {
            link(r);
            nt::linear_attention_run(r.in, out);
          },
          {}};
}

// (q|null, k|null, v, phiQ, phiK, gamma|null, grad, dq|null, dk|null, dv, dphiQ, dphiK, dgamma|null, window, eps, scale)
NT_NAPI_OP(linearAttentionBackward) {
  Inputs r = read_inputs(args);
  const TensorView grad = args.tensor();
  const std::optional<TensorView> dq = args.optional_tensor(), dk = args.optional_tensor();
  const TensorView dv = args.tensor(), dphi_q = args.tensor(), dphi_k = args.tensor();
  const std::optional<TensorView> dgamma = args.optional_tensor();
  read_params(args, r);
  link(r);
  auto grads = [=] {
    nt::LinearAttentionGrads g;
    g.dq = ptr(dq);
    g.dk = ptr(dk);
    g.dv = dv;
    g.dphi_q = dphi_q;
    g.dphi_k = dphi_k;
    g.dgamma = ptr(dgamma);
    return g;
  };
  nt::linear_attention_backward_check(r.in, grad, grads());
  return {[=]() mutable {
            link(r);
            nt::linear_attention_backward_run(r.in, grad, grads());
          },
          {}};
}

// (q|null, k|null, v, phiQ, phiK, gamma|null, s, z, ringK|null, ringV|null, ringPhiK|null, position, out,
//  window, eps, scale)
NT_NAPI_OP(linearAttentionStep) {
  Inputs r = read_inputs(args);
  const TensorView s = args.tensor(), z = args.tensor();
  const std::optional<TensorView> ring_k = args.optional_tensor(), ring_v = args.optional_tensor(),
                                  ring_phi_k = args.optional_tensor();
  const int64_t position = args.i64();
  const TensorView out = args.tensor();
  read_params(args, r);
  link(r);
  auto state = [=] {
    nt::LinearAttentionState st;
    st.s = s;
    st.z = z;
    st.ring_k = ptr(ring_k);
    st.ring_v = ptr(ring_v);
    st.ring_phi_k = ptr(ring_phi_k);
    st.position = position;
    return st;
  };
  nt::linear_attention_step_check(r.in, state(), out);
  return {[=]() mutable {
            link(r);
            nt::linear_attention_step_run(r.in, state(), out);
          },
          {}};
}
