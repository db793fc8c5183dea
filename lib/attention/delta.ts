// nt.attention.delta: delta attention (ALGORITHMS.md §4, DeltaLLM-style temporal sparsity).
//
// Causal. For each (batch, query head) a state keeps q̂, the last propagated query, and the score
// row s[j] = q̂ · k_j of the keys outside the local window. Row by row (query position p):
//   Δ = q_p − q̂; components with |Δ_c| ≤ threshold are dropped (q̂_c kept), the others propagate
//   (q̂_c ← q_p,c); held scores update as s[j] += Σ_{propagated c} Δ_c k_j[c] — keys are kept
//   transposed natively, so each propagated component is one contiguous axpy over the keys and a
//   dropped one costs nothing; keys that just left the window are scored in full with q̂; the
//   last `window` keys (p − window < j ≤ p) get exact scores q_p · k_j; softmax over the whole
//   row, weighted sum of V.
// Sparsity = skipped / total multiply-adds of the out-of-window score computation, where total =
// d × (out-of-window keys) per row (recomputing those scores densely) and skipped = total − done
// (done: the propagated components × held keys + d × keys newly leaving the window). The softmax
// and the weighted sum of V still cost O(seq · d) per row: the saving is in the QKᵀ part only.
// threshold 0 gives dense causal attention up to rounding.
//
// Decode: pass a DeltaState; every call continues the sequence (its queries must start at the
// state's position, = sk − sq, and k/v must extend what it saw before, e.g. a growing cache).
// Prefill and step-by-step decode over the same tokens give the same result.
import { ntError } from '../errors';
import { native } from '../native/loader';
import { checkOptions, describe, runAsync, runSync } from '../ops/common';
import type { OutputPlan } from '../ops/common';
import { Tensor, copyInto } from '../tensor';
import { AttentionOperands, checkQkv, planAttentionOutput, positiveInt, scaleOption } from './common';

const OP = 'attention.delta';

export interface DeltaOptions {
  /** Keys per query scored exactly, the query's own position included (default 64). */
  window?: number;
  /** θ ≥ 0: query-delta components with |Δ| ≤ θ are not propagated. */
  threshold: number;
  /** Score scale (default 1/√d). */
  scale?: number;
  /** Carry the sequence across calls (decode); without it each call starts fresh. */
  state?: DeltaState;
  out?: Tensor;
}

export interface DeltaResult {
  out: Tensor;
  /** Skipped / total multiply-adds of this call's out-of-window scores (0 when there were none). */
  sparsity: number;
  /** Multiply-adds done and the dense count, for aggregating sparsity over calls. */
  done: number;
  dense: number;
}

/** Per-head delta-attention state (q̂, held scores, transposed keys), grown as the sequence grows. */
export class DeltaState {
  private qhat: Tensor | null = null;
  private scores: Tensor | null = null;
  private kt: Tensor | null = null;
  private readonly info = Tensor._wrap(Float64Array.from([0, -1, 0, 0]), 'f64', [4]);
  private dims: number[] | null = null;
  private params: { window: number; threshold: number } | null = null;
  private busy = false;
  private disposed = false;
  /** Multiply-adds done / dense over every call so far. */
  totalDone = 0;
  totalDense = 0;

  /** Position of the next query (0 for a fresh state). */
  get position(): number {
    const p = (this.info._storage as Float64Array)[1];
    return p < 0 ? 0 : p;
  }

  /** Sparsity over every call so far. */
  get sparsity(): number {
    return this.totalDense > 0 ? 1 - this.totalDone / this.totalDense : 0;
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const t of [this.qhat, this.scores, this.kt]) t?.dispose();
    this.info.dispose();
    this.qhat = this.scores = this.kt = null;
  }

  /** @internal Validates the call against the state and grows it to hold sk keys. */
  _prepare(a: AttentionOperands, window: number, threshold: number): Tensor[] {
    if (this.disposed) throw ntError('NT_DISPOSED', `[${OP}] state was disposed`);
    if (this.busy) throw ntError('NT_VALUE', `[${OP}] state is in use by a pending deltaAsync call`);
    if (this.params && (this.params.window !== window || this.params.threshold !== threshold))
      throw ntError('NT_VALUE', `[${OP}] state was started with window ${this.params.window} and threshold ${this.params.threshold}, got ${window} and ${threshold}`);
    const dims = [a.b, a.hq, a.hkv, a.d];
    if (this.dims && dims.some((x, i) => x !== this.dims![i]))
      throw ntError('NT_SHAPE', `[${OP}] state holds [b, hq, hkv, d] = [${this.dims.join(', ')}], got [${dims.join(', ')}]`);
    const info = this.info._storage as Float64Array;
    if (info[1] >= 0 && a.sk - a.sq !== info[1])
      throw ntError('NT_VALUE', `[${OP}] state continues at position ${info[1]}, the queries start at ${a.sk - a.sq} (sk - sq)`);
    if (a.sk < info[0]) throw ntError('NT_VALUE', `[${OP}] state has seen ${info[0]} keys, the call has ${a.sk} (the cache must only grow)`);
    const cap = this.scores ? this.scores.shape[2] : 0;
    if (a.sk > cap || !this.qhat) {
      const ncap = Math.max(a.sk, 2 * cap, 64);
      const scores = Tensor._empty(OP, [a.b, a.hq, ncap], 'f32');
      const kt = Tensor._empty(OP, [a.b, a.hkv, a.d, ncap], 'f32');
      if (this.scores && this.kt && cap > 0) {
        copyInto(OP, this.scores, scores.slice(null, null, [0, cap]));
        copyInto(OP, this.kt, kt.slice(null, null, null, [0, cap]));
      }
      this.scores?.dispose();
      this.kt?.dispose();
      this.scores = scores;
      this.kt = kt;
      if (!this.qhat) this.qhat = Tensor._empty(OP, [a.b, a.hq, a.d], 'f32');
    }
    this.dims = dims;
    this.params = { window, threshold };
    return [this.qhat!, this.scores!, this.kt!, this.info];
  }

  /** @internal */
  _finish(): { done: number; dense: number } {
    const info = this.info._storage as Float64Array;
    this.totalDone += info[2];
    this.totalDense += info[3];
    return { done: info[2], dense: info[3] };
  }

  /** @internal */
  _setBusy(b: boolean): void {
    this.busy = b;
  }
}

interface DeltaCall {
  a: AttentionOperands;
  scale: number;
  window: number;
  threshold: number;
  state: DeltaState;
  own: boolean;
  tensors: Tensor[];
  plan: OutputPlan;
}

function prepare(q: Tensor, k: Tensor, v: Tensor, options: DeltaOptions): DeltaCall {
  const opts = checkOptions<DeltaOptions>(OP, options);
  const window = positiveInt(OP, opts.window, 'window', 64);
  const threshold = opts.threshold;
  if (typeof threshold !== 'number' || !Number.isFinite(threshold) || threshold < 0)
    throw ntError('NT_VALUE', `[${OP}] threshold must be a finite number >= 0, got ${describe(threshold)}`);
  if (opts.state !== undefined && !(opts.state instanceof DeltaState))
    throw ntError('NT_VALUE', `[${OP}] state must be a DeltaState, got ${describe(opts.state)}`);
  const a = checkQkv(OP, q, k, v, true);
  const scale = scaleOption(OP, opts.scale, a.d);
  const own = opts.state === undefined;
  const state = opts.state ?? new DeltaState();
  let tensors: Tensor[];
  try {
    tensors = state._prepare(a, window, threshold);
  } catch (e) {
    if (own) state.dispose();
    throw e;
  }
  let plan: OutputPlan;
  try {
    plan = planAttentionOutput(OP, opts.out, a);
  } catch (e) {
    if (own) state.dispose();
    throw e;
  }
  return { a, scale, window, threshold, state, own, tensors, plan };
}

function args(c: DeltaCall, t: Tensor): unknown[] {
  const { a } = c;
  const [qh, sc, kt, info] = c.tensors;
  return [
    a.q._storage, a.q._metaArray, a.k._storage, a.k._metaArray, a.v._storage, a.v._metaArray, t._storage, t._metaArray,
    qh._storage, qh._metaArray, sc._storage, sc._metaArray, kt._storage, kt._metaArray, info._storage, info._metaArray,
    c.scale, c.window, c.threshold,
  ];
}

function result(c: DeltaCall, out: Tensor): DeltaResult {
  const { done, dense } = c.state._finish();
  if (c.own) c.state.dispose();
  return { out, sparsity: dense > 0 ? 1 - done / dense : 0, done, dense };
}

/** Delta attention (shapes, GQA and dtypes as nt.attention.dense; causal). See the file header. */
export function delta(q: Tensor, k: Tensor, v: Tensor, opts: DeltaOptions): DeltaResult {
  const c = prepare(q, k, v, opts);
  let out: Tensor;
  try {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    out = runSync(c.plan, (t) => (native.attentionDelta as any)(...args(c, t)));
  } catch (e) {
    if (c.own) c.state.dispose();
    throw e;
  }
  return result(c, out);
}

export async function deltaAsync(q: Tensor, k: Tensor, v: Tensor, opts: DeltaOptions): Promise<DeltaResult> {
  const c = prepare(q, k, v, opts);
  c.state._setBusy(true);
  let out: Tensor;
  try {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    out = await runAsync(c.plan, [c.a.q, c.a.k, c.a.v, ...c.tensors], (t) => (native.attentionDeltaAsync as any)(...args(c, t)));
  } catch (e) {
    c.state._setBusy(false);
    if (c.own) c.state.dispose();
    throw e;
  }
  c.state._setBusy(false);
  return result(c, out);
}
