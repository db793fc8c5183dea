// Causal linear attention with a feature map (ALGORITHMS.md §4):
//   y_n = φ(q_n)ᵀ S_n / (φ(q_n)ᵀ z_n + ε),  S_n = Σ_{i≤n} φ(k_i) v_iᵀ,  z_n = Σ_{i≤n} φ(k_i),
// chunked for prefill (native, float64 accumulation), the recurrent form for decode
// (LinearAttentionState), and the backward pass w.r.t. q, k, v and the Hedgehog weights.
// The LoLCATs hybrid (hybrid.ts) shares this core with a sliding softmax window.
// Shapes: q [batch, hq, sq, d], k [batch, hkv, sk, d], v [batch, hkv, sk, dv], hkv | hq,
// sq <= sk, queries aligned bottom-right (query i sits at position sk − sq + i).
import { ntError } from '../errors';
import { native } from '../native/loader';
import { add } from '../ops/binary';
import { checkFloat, checkOptions, checkTensor, describe, planOutput, tensorOperand } from '../ops/common';
import { shapeString } from '../shape';
import { Tensor } from '../tensor';
import type { DType } from '../dtype';
import { FeatureMaps, ResolvedMap, applyMap, applyMapBackward, computeView, resolveMap, splitMaps } from './feature-map';

/** The validated problem shared by linear and hybrid attention. */
export interface AttentionProblem {
  op: string;
  q: Tensor;
  k: Tensor;
  v: Tensor;
  mapQ: ResolvedMap;
  mapK: ResolvedMap;
  window: number;
  eps: number;
  scale: number;
  gamma: Float64Array | null;
  dtype: DType;
  hq: number;
}

function check4d(op: string, t: unknown, arg: string): Tensor {
  const x = checkTensor(op, t, arg);
  checkFloat(op, x, arg);
  if (x.ndim !== 4) throw ntError('NT_SHAPE', `[${op}] ${arg} must be 4-D [batch, heads, seq, dim], got shape ${shapeString(x.shape)}`);
  return x;
}

/** Validates q, k, v (shapes, GQA, causal alignment) and the feature maps. */
export function checkProblem(
  op: string,
  qIn: unknown,
  kIn: unknown,
  vIn: unknown,
  maps: unknown,
  extra: { window: number; eps: number; scale: unknown; gamma: Float64Array | null; needsKeys?: boolean },
): AttentionProblem {
  const q = check4d(op, qIn, 'q');
  const k = check4d(op, kIn, 'k');
  const v = check4d(op, vIn, 'v');
  const [b, hq, sq, d] = q.shape;
  const [bk, hkv, sk, dk] = k.shape;
  if (bk !== b || v.shape[0] !== b)
    throw ntError('NT_SHAPE', `[${op}] q, k and v must share the batch, got ${shapeString(q.shape)}, ${shapeString(k.shape)}, ${shapeString(v.shape)}`);
  if (dk !== d) throw ntError('NT_SHAPE', `[${op}] q and k must share the head dim, got ${shapeString(q.shape)} and ${shapeString(k.shape)}`);
  if (v.shape[1] !== hkv || v.shape[2] !== sk)
    throw ntError('NT_SHAPE', `[${op}] v must have k's heads and length [${b}, ${hkv}, ${sk}, dv], got ${shapeString(v.shape)}`);
  if (hkv < 1 || hq % hkv !== 0) throw ntError('NT_SHAPE', `[${op}] kv heads (${hkv}) must divide query heads (${hq})`);
  if (sq > sk) throw ntError('NT_SHAPE', `[${op}] queries (${sq}) must not outnumber keys (${sk})`);
  let scale = 1 / Math.sqrt(d);
  if (extra.scale !== undefined) {
    if (typeof extra.scale !== 'number' || !Number.isFinite(extra.scale))
      throw ntError('NT_VALUE', `[${op}] scale must be a finite number, got ${describe(extra.scale)}`);
    scale = extra.scale;
  }
  const split = splitMaps(op, maps);
  const mapQ = resolveMap(op, split.q, 'featureMap.q', d, hq);
  const mapK = resolveMap(op, split.k, 'featureMap.k', d, hq);
  if (mapQ.features !== mapK.features)
    throw ntError('NT_SHAPE', `[${op}] the q and k maps must give the same number of features, got ${mapQ.features} and ${mapK.features}`);
  const dtype: DType = q.dtype === 'f64' && k.dtype === 'f64' && v.dtype === 'f64' ? 'f64' : 'f32';
  return { op, q, k, v, mapQ, mapK, window: extra.window, eps: extra.eps, scale, gamma: extra.gamma, dtype, hq };
}

export function checkEps(op: string, v: unknown, dflt: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw ntError('NT_VALUE', `[${op}] eps must be a finite number >= 0, got ${describe(v)}`);
  return v;
}

function gammaTensor(p: AttentionProblem): Tensor | null {
  if (!p.gamma) return null;
  const t = Tensor._empty(p.op, [p.hq], 'f64');
  (t.data as Float64Array).set(p.gamma);
  return t;
}

type Call = { args: unknown[]; temps: Tensor[] };

/** φq, φk and the native argument head (q, k, v, φq, φk, gamma) of a problem. */
function prepare(p: AttentionProblem): Call & { phiQ: Tensor; phiK: Tensor } {
  const temps: Tensor[] = [];
  try {
    const q = computeView(p.q, temps);
    const k = computeView(p.k, temps);
    const v = computeView(p.v, temps);
    const phiQ = applyMap(q, p.mapQ, p.hq, p.dtype);
    temps.push(phiQ);
    const phiK = applyMap(k, p.mapK, p.hq, p.dtype);
    temps.push(phiK);
    const g = gammaTensor(p);
    if (g) temps.push(g);
    const win = p.window > 0;
    const args = [
      win ? q._storage : null, win ? q._metaArray : null, win ? k._storage : null, win ? k._metaArray : null,
      v._storage, v._metaArray, phiQ._storage, phiQ._metaArray, phiK._storage, phiK._metaArray,
      g?._storage ?? null, g?._metaArray ?? null,
    ];
    return { args, temps, phiQ, phiK };
  } catch (e) {
    for (const t of temps) t.dispose();
    throw e;
  }
}

function outShape(p: AttentionProblem): number[] {
  return [p.q.shape[0], p.hq, p.q.shape[2], p.v.shape[3]];
}

/** Forward of a validated problem into opts.out or a fresh tensor. */
export function runForward(p: AttentionProblem, out: unknown): Tensor {
  const plan = planOutput(p.op, out, outShape(p), p.dtype, [p.q, p.k, p.v].map(tensorOperand), false);
  let call: Call | undefined;
  try {
    call = prepare(p);
    const t = plan.target;
    (native.linearAttention as (...a: unknown[]) => void)(...call.args, t._storage, t._metaArray, p.window, p.eps, p.scale);
  } catch (e) {
    plan.abort();
    throw e;
  } finally {
    for (const t of call?.temps ?? []) t.dispose();
  }
  return plan.finish();
}

/** The forward on a worker thread (the inputs stay referenced until it settles). */
export async function runForwardAsync(p: AttentionProblem, out: unknown): Promise<Tensor> {
  const plan = planOutput(p.op, out, outShape(p), p.dtype, [p.q, p.k, p.v].map(tensorOperand), false);
  let call: Call | undefined;
  try {
    call = prepare(p);
    const t = plan.target;
    await (native.linearAttentionAsync as (...a: unknown[]) => Promise<void>)(...call.args, t._storage, t._metaArray, p.window, p.eps, p.scale);
  } catch (e) {
    plan.abort();
    throw e;
  } finally {
    for (const t of call?.temps ?? []) t.dispose();
    keepAlive([p.q, p.k, p.v]);
  }
  return plan.finish();
}

let sink: unknown;
function keepAlive(values: readonly unknown[]): void {
  sink = values;
  sink = undefined;
}

export interface AttentionGrads {
  dq: Tensor;
  dk: Tensor;
  dv: Tensor;
  /** Gradient w.r.t. the query map's Hedgehog weight (null for parameter-free maps). */
  dWeightQ: Tensor | null;
  /** Gradient w.r.t. the key map's Hedgehog weight (null for parameter-free maps). */
  dWeightK: Tensor | null;
  /** dL/dγ per head (hybrid only, else null). */
  dGamma: Float64Array | null;
}

/** Analytic gradients of Σ grad ⊙ y for a validated problem (dtype f64 for f64 inputs, else f32). */
export function runBackward(p: AttentionProblem, gradIn: unknown): AttentionGrads {
  const grad = check4d(p.op, gradIn, 'grad');
  const want = outShape(p);
  if (grad.shape.some((d, i) => d !== want[i]))
    throw ntError('NT_SHAPE', `[${p.op}] grad must have the output's shape ${shapeString(want)}, got ${shapeString(grad.shape)}`);
  const [b, hq, sq, d] = p.q.shape;
  const [, hkv, sk, dv] = p.v.shape;
  const F = p.mapQ.features;
  const win = p.window > 0;
  const owned: Tensor[] = [];
  const mk = (shape: number[]) => {
    const t = Tensor._empty(p.op, shape, p.dtype);
    owned.push(t);
    return t;
  };
  const call = prepare(p);
  const temps = call.temps;
  try {
    const g = computeView(grad, temps);
    const dqWin = win ? mk([b, hq, sq, d]) : null;
    const dkWin = win ? mk([b, hkv, sk, d]) : null;
    const dV = mk([b, hkv, sk, dv]);
    const dPhiQ = mk([b, hq, sq, F]);
    const dPhiK = mk([b, hq, sk, F]);
    const dGamma = win ? Tensor._empty(p.op, [hq], 'f64') : null;
    if (dGamma) temps.push(dGamma);
    (native.linearAttentionBackward as (...a: unknown[]) => void)(
      ...call.args, g._storage, g._metaArray,
      dqWin?._storage ?? null, dqWin?._metaArray ?? null, dkWin?._storage ?? null, dkWin?._metaArray ?? null,
      dV._storage, dV._metaArray, dPhiQ._storage, dPhiQ._metaArray, dPhiK._storage, dPhiK._metaArray,
      dGamma?._storage ?? null, dGamma?._metaArray ?? null, p.window, p.eps, p.scale,
    );
    const qv = computeView(p.q, temps);
    const kv = computeView(p.k, temps);
    const mq = applyMapBackward(qv, p.mapQ, dPhiQ, p.dtype);
    owned.push(mq.dx);
    if (mq.dWeight) owned.push(mq.dWeight);
    const mkk = applyMapBackward(kv, p.mapK, dPhiK, p.dtype);
    owned.push(mkk.dx);
    if (mkk.dWeight) owned.push(mkk.dWeight);
    let dq = mq.dx;
    let dk = mkk.dx;
    if (dqWin && dkWin) {
      dq = add(mq.dx, dqWin);
      owned.push(dq);
      dk = add(mkk.dx, dkWin);
      owned.push(dk);
    }
    const result: AttentionGrads = {
      dq,
      dk,
      dv: dV,
      dWeightQ: mq.dWeight,
      dWeightK: mkk.dWeight,
      dGamma: dGamma ? Float64Array.from(dGamma.data as Float64Array) : null,
    };
    const keep = new Set<Tensor>([dq, dk, dV, ...(mq.dWeight ? [mq.dWeight] : []), ...(mkk.dWeight ? [mkk.dWeight] : [])]);
    for (const t of owned) if (!keep.has(t)) t.dispose();
    return result;
  } catch (e) {
    for (const t of owned) if (!t.isDisposed) t.dispose();
    throw e;
  } finally {
    for (const t of temps) if (!t.isDisposed) t.dispose();
  }
}

export interface LinearOptions {
  /** The feature map(s): one for q and k, or { q, k }. Hedgehog weights have one head per query head. */
  featureMap: FeatureMaps;
  /** Added to the denominator φ(q)ᵀz (default 1e-6). */
  eps?: number;
  /** Write the result here (validated first). */
  out?: Tensor;
}

const LINEAR = 'attention.linear';

function linearProblem(op: string, q: unknown, k: unknown, v: unknown, options: unknown): AttentionProblem {
  const opts = checkOptions<LinearOptions>(op, options);
  return checkProblem(op, q, k, v, opts.featureMap, { window: 0, eps: checkEps(op, opts.eps, 1e-6), scale: undefined, gamma: null });
}

/**
 * Causal linear attention y = φ(q)ᵀS / (φ(q)ᵀz + ε) -> [batch, hq, sq, dv] (f64 for f64 inputs, else f32).
 * @example nt.attention.linear(q, k, v, { featureMap: 'elu+1' })
 */
export function linear(q: Tensor, k: Tensor, v: Tensor, options: LinearOptions): Tensor {
  const opts = checkOptions<LinearOptions>(LINEAR, options);
  return runForward(linearProblem(LINEAR, q, k, v, opts), opts.out);
}

/** linear on a worker thread. */
export async function linearAsync(q: Tensor, k: Tensor, v: Tensor, options: LinearOptions): Promise<Tensor> {
  const opts = checkOptions<LinearOptions>(LINEAR, options);
  return runForwardAsync(linearProblem(LINEAR, q, k, v, opts), opts.out);
}

/** Gradients of Σ grad ⊙ linear(q, k, v) w.r.t. q, k, v and the Hedgehog weights. */
export function linearBackward(q: Tensor, k: Tensor, v: Tensor, grad: Tensor, options: LinearOptions): Omit<AttentionGrads, 'dGamma'> {
  const op = 'attention.linearBackward';
  const { dGamma: _unused, ...rest } = runBackward(linearProblem(op, q, k, v, options), grad);
  return rest;
}

// ---------------------------------------------------------------- recurrent decode

export interface RecurrentOptions {
  featureMap: FeatureMaps;
  eps?: number;
}

/**
 * The recurrent (decode) form: per (batch, query head) the state S = Σ φ(k) vᵀ, z = Σ φ(k)
 * in float64 — and, for the hybrid, the last `window` raw keys/values — updated token by
 * token. step(q, k, v) consumes T >= 1 new tokens and returns their outputs; the result
 * equals the prefill over the whole sequence. Owns its state tensors: dispose() it.
 */
export class LinearAttentionState {
  protected readonly op: string = 'attention.LinearAttentionState';
  protected maps: unknown;
  protected eps: number;
  protected window = 0;
  protected gamma: Float64Array | null = null;
  protected scale: number | undefined;
  private tensors: Tensor[] = [];
  private s: Tensor | null = null;
  private z: Tensor | null = null;
  private rings: [Tensor, Tensor, Tensor] | null = null;
  private shapeKey = '';
  private position = 0;
  private disposed = false;

  constructor(options: RecurrentOptions) {
    const opts = checkOptions<RecurrentOptions>(this.op, options);
    splitMaps(this.op, opts.featureMap);
    this.maps = opts.featureMap;
    this.eps = checkEps(this.op, opts.eps, 1e-6);
  }

  /** Tokens consumed so far. */
  get length(): number {
    return this.position;
  }

  step(q: Tensor, k: Tensor, v: Tensor): Tensor {
    if (this.disposed) throw ntError('NT_DISPOSED', `[${this.op}.step] the state was disposed`);
    const p = checkProblem(`${this.op}.step`, q, k, v, this.maps, { window: this.window, eps: this.eps, scale: this.scale, gamma: this.gamma });
    if (p.q.shape[2] !== p.k.shape[2])
      throw ntError('NT_SHAPE', `[${p.op}] a step takes as many keys as queries, got ${p.q.shape[2]} and ${p.k.shape[2]}`);
    const [b, hq, , d] = p.q.shape;
    const [, hkv, , dv] = p.v.shape;
    const F = p.mapQ.features;
    const key = [b, hq, hkv, d, dv, F].join(',');
    if (this.s === null) {
      const zeros = (shape: number[]) => {
        const t = Tensor._empty(this.op, shape, 'f64');
        (t.data as Float64Array).fill(0);
        this.tensors.push(t);
        return t;
      };
      this.s = zeros([b, hq, F, dv]);
      this.z = zeros([b, hq, F]);
      const w = this.window;
      if (w > 0) this.rings = [zeros([b, hkv, w, d]), zeros([b, hkv, w, dv]), zeros([b, hq, w, F])];
      this.shapeKey = key;
    } else if (key !== this.shapeKey) {
      throw ntError('NT_SHAPE', `[${p.op}] the step's shapes do not match the state's (batch, heads, kv heads, dims, features = ${this.shapeKey}), got ${key}`);
    }
    const call = prepare(p);
    let out: Tensor | undefined;
    try {
      out = Tensor._empty(p.op, outShape(p), p.dtype);
      const s = this.s;
      const z = this.z as Tensor;
      const r = this.rings;
      (native.linearAttentionStep as (...a: unknown[]) => void)(
        ...call.args, s._storage, s._metaArray, z._storage, z._metaArray,
        r?.[0]._storage ?? null, r?.[0]._metaArray ?? null, r?.[1]._storage ?? null, r?.[1]._metaArray ?? null,
        r?.[2]._storage ?? null, r?.[2]._metaArray ?? null, this.position, out._storage, out._metaArray, p.window, p.eps, p.scale,
      );
    } catch (e) {
      out?.dispose();
      throw e;
    } finally {
      for (const t of call.temps) t.dispose();
    }
    this.position += p.q.shape[2];
    return out;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const t of this.tensors) t.dispose();
    this.tensors = [];
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
