// The trainable tail of a LLaMA decoder with hand-written backward passes, composed from nt
// ops (f32 or f64, the dtype of the inputs): for residual-stream states h [N, d] entering the
// last decoder layer's MLP,
//   a = rmsnorm(h, postNorm);  z = silu(a Wgᵀ) ⊙ (a Wuᵀ);  h2 = h + z Wdᵀ
//   f = rmsnorm(h2, finalNorm);  logits = f Wlmᵀ;  loss = mean_i −log softmax(logits_i)[y_i]
// Every block's backward is its own function (checked against finite differences in
// test/llm/train.test.ts). Gradients are returned for every parameter and for h.
import { ntError } from '../../errors';
import { matmul } from '../../linalg/matmul';
import { add, div, mul, sub } from '../../ops/binary';
import { checkTensor } from '../../ops/common';
import { rmsnorm, softmax } from '../../ops/nn';
import { sum } from '../../ops/reduce';
import { exp, silu, sqrt } from '../../ops/unary';
import { shapeString } from '../../shape';
import type { Tensor } from '../../tensor';

export interface HeadParams {
  /** post_attention_layernorm weight [d]. */
  postNorm: Tensor;
  /** mlp.gate_proj [I, d], mlp.up_proj [I, d], mlp.down_proj [d, I]. */
  gate: Tensor;
  up: Tensor;
  down: Tensor;
  /** model.norm weight [d]. */
  finalNorm: Tensor;
  /** lm_head [V, d]. */
  lmHead: Tensor;
}

export const HEAD_PARAM_NAMES = ['postNorm', 'gate', 'up', 'down', 'finalNorm', 'lmHead'] as const;
export type HeadParamName = (typeof HEAD_PARAM_NAMES)[number];
export type HeadGrads = Record<HeadParamName, Tensor> & { h: Tensor };

/** Collects temporaries and disposes them at the end of a block. */
class Scope {
  private items: Tensor[] = [];
  keep<T extends Tensor>(t: T): T {
    this.items.push(t);
    return t;
  }
  dispose(): void {
    for (const t of this.items) t.dispose();
    this.items = [];
  }
}

/** 1 / sqrt(mean_j x_ij² + eps) per row, [N, 1]. */
function inverseRms(x: Tensor, eps: number, s: Scope): Tensor {
  const d = x.shape[x.ndim - 1];
  const ms = s.keep(div(s.keep(sum(s.keep(mul(x, x)), { axis: 1, keepdims: true })), d));
  return s.keep(div(1, s.keep(sqrt(s.keep(add(ms, eps))))));
}

/**
 * RMSNorm backward: y = x̂ ⊙ w with x̂ = x r, r = 1/sqrt(mean(x²) + eps) per row.
 * dw = Σ_rows dy ⊙ x̂;  dx = r (dy⊙w − x̂ · mean_j(dy⊙w ⊙ x̂)).
 */
export function rmsnormBackward(x: Tensor, w: Tensor, dy: Tensor, eps: number): { dx: Tensor; dw: Tensor } {
  const s = new Scope();
  try {
    const d = x.shape[x.ndim - 1];
    const r = inverseRms(x, eps, s);
    const xhat = s.keep(mul(x, r));
    const dyw = s.keep(mul(dy, w));
    const proj = s.keep(div(s.keep(sum(s.keep(mul(dyw, xhat)), { axis: 1, keepdims: true })), d));
    const dx = mul(s.keep(sub(dyw, s.keep(mul(xhat, proj)))), r);
    const dw = sum(s.keep(mul(dy, xhat)), 0);
    return { dx, dw };
  } finally {
    s.dispose();
  }
}

/** σ(z) = 1 / (1 + exp(−z)). */
function sigmoid(z: Tensor, s: Scope): Tensor {
  return s.keep(div(1, s.keep(add(s.keep(exp(s.keep(mul(z, -1)))), 1))));
}

/**
 * SwiGLU MLP backward for y = (silu(a Wgᵀ) ⊙ a Wuᵀ) Wdᵀ given dy: dWd = dyᵀ z, dz = dy Wd,
 * dgate = dz ⊙ up ⊙ σ(g)(1 + g(1 − σ(g))), dup = dz ⊙ silu(g), dWg = dgateᵀ a, dWu = dupᵀ a,
 * da = dgate Wg + dup Wu.
 */
export function swigluBackward(
  a: Tensor, gate: Tensor, up: Tensor, down: Tensor, dy: Tensor,
): { da: Tensor; dGate: Tensor; dUp: Tensor; dDown: Tensor } {
  const s = new Scope();
  try {
    const g = s.keep(matmul(a, gate, { transB: true }));
    const u = s.keep(matmul(a, up, { transB: true }));
    const sg = s.keep(silu(g));
    const z = s.keep(mul(sg, u));
    const dDown = matmul(dy, z, { transA: true });
    const dz = s.keep(matmul(dy, down));
    const sig = sigmoid(g, s);
    // silu'(g) = σ(g) (1 + g (1 − σ(g)))
    const dsilu = s.keep(mul(sig, s.keep(add(s.keep(mul(g, s.keep(sub(1, sig)))), 1))));
    const dg = s.keep(mul(s.keep(mul(dz, u)), dsilu));
    const du = s.keep(mul(dz, sg));
    const dGate = matmul(dg, a, { transA: true });
    const dUp = matmul(du, a, { transA: true });
    const da = matmul(dg, gate);
    matmul(du, up, { out: da, beta: 1 });
    return { da, dGate, dUp, dDown };
  } finally {
    s.dispose();
  }
}

/**
 * Mean cross-entropy of logits [N, V] against targets, and dlogits = (softmax − onehot) / N.
 * −log p is computed as logsumexp − logit with the max subtracted (stable).
 */
export function crossEntropy(logits: Tensor, targets: Int32Array): { loss: number; dlogits: Tensor } {
  const [n, V] = logits.shape;
  const lc = logits.astype('f64');
  const ld = lc.data as Float64Array;
  let loss = 0;
  for (let i = 0; i < n; ++i) {
    let mx = -Infinity;
    for (let j = 0; j < V; ++j) mx = Math.max(mx, ld[i * V + j]);
    let se = 0;
    for (let j = 0; j < V; ++j) se += Math.exp(ld[i * V + j] - mx);
    loss += mx + Math.log(se) - ld[i * V + targets[i]];
  }
  lc.dispose();
  // p − onehot in place on the fresh softmax output, then / N.
  const p = softmax(logits, 1);
  const pd = p.data as Float32Array | Float64Array;
  for (let i = 0; i < n; ++i) pd[i * V + targets[i]] -= 1;
  const dlogits = div(p, n);
  p.dispose();
  return { loss: loss / n, dlogits };
}

export interface HeadForward {
  loss: number;
  logits: Tensor;
}

function checkHead(op: string, params: HeadParams, h: Tensor, targets: Int32Array): void {
  for (const k of HEAD_PARAM_NAMES) checkTensor(op, params[k], k);
  checkTensor(op, h, 'h');
  if (h.ndim !== 2) throw ntError('NT_SHAPE', `[${op}] h must be [tokens, hidden], got ${shapeString(h.shape)}`);
  const [n, d] = h.shape;
  const I = params.gate.shape[0];
  const V = params.lmHead.shape[0];
  const expect: [HeadParamName, number[]][] = [
    ['postNorm', [d]], ['gate', [I, d]], ['up', [I, d]], ['down', [d, I]], ['finalNorm', [d]], ['lmHead', [V, d]],
  ];
  for (const [k, shape] of expect) {
    const t = params[k];
    if (t.ndim !== shape.length || t.shape.some((x, i) => x !== shape[i]))
      throw ntError('NT_SHAPE', `[${op}] ${k} must have shape ${shapeString(shape)}, got ${shapeString(t.shape)}`);
    if (t.dtype !== h.dtype) throw ntError('NT_DTYPE', `[${op}] ${k} must have h's dtype ${h.dtype}, got ${t.dtype}`);
  }
  if (!(targets instanceof Int32Array) || targets.length !== n)
    throw ntError('NT_VALUE', `[${op}] targets must be an Int32Array of ${n} token ids`);
  for (let i = 0; i < n; ++i)
    if (targets[i] < 0 || targets[i] >= V) throw ntError('NT_VALUE', `[${op}] targets[${i}] = ${targets[i]} is outside the vocabulary 0..${V - 1}`);
}

/** The head's activations up to the final norm, kept in `s` (the backward pass reuses them). */
function headActivations(params: HeadParams, h: Tensor, eps: number, s: Scope) {
  const a = s.keep(rmsnorm(h, params.postNorm, eps));
  const g = s.keep(matmul(a, params.gate, { transB: true }));
  const u = s.keep(matmul(a, params.up, { transB: true }));
  const z = s.keep(mul(s.keep(silu(g)), u));
  const h2 = s.keep(add(h, s.keep(matmul(z, params.down, { transB: true }))));
  const f = s.keep(rmsnorm(h2, params.finalNorm, eps));
  return { a, g, u, z, h2, f };
}

/** Loss (and logits) of the head on h [N, d] with next-token targets [N]. */
export function headForward(params: HeadParams, h: Tensor, targets: Int32Array, eps: number): HeadForward {
  checkHead('llm.train.headForward', params, h, targets);
  const s = new Scope();
  try {
    const { f } = headActivations(params, h, eps, s);
    const logits = matmul(f, params.lmHead, { transB: true });
    const ce = crossEntropy(logits, targets);
    ce.dlogits.dispose();
    return { loss: ce.loss, logits };
  } finally {
    s.dispose();
  }
}

/** Loss and the gradient of the mean cross-entropy w.r.t. every head parameter and h. */
export function headLossAndGrads(params: HeadParams, h: Tensor, targets: Int32Array, eps: number): { loss: number; grads: HeadGrads } {
  checkHead('llm.train.headLossAndGrads', params, h, targets);
  const s = new Scope();
  try {
    const { a, g, u, z, h2, f } = headActivations(params, h, eps, s);
    const logits = s.keep(matmul(f, params.lmHead, { transB: true }));
    const { loss, dlogits } = crossEntropy(logits, targets);
    s.keep(dlogits);
    const lmHead = matmul(dlogits, f, { transA: true });
    const df = s.keep(matmul(dlogits, params.lmHead));
    const fin = rmsnormBackward(h2, params.finalNorm, df, eps);
    s.keep(fin.dx);
    const mlp = swigluBackward(a, params.gate, params.up, params.down, fin.dx);
    s.keep(mlp.da);
    const pre = rmsnormBackward(h, params.postNorm, mlp.da, eps);
    // h feeds both the residual (dh2 directly) and the MLP branch (through the post norm).
    const dh = add(fin.dx, pre.dx);
    pre.dx.dispose();
    return {
      loss,
      grads: { postNorm: pre.dw, gate: mlp.dGate, up: mlp.dUp, down: mlp.dDown, finalNorm: fin.dw, lmHead, h: dh },
    };
  } finally {
    s.dispose();
  }
}

