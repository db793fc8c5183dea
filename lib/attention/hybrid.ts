// LoLCATs hybrid attention (ALGORITHMS.md §4, last bullet). For the query at position n:
// keys in the sliding window (the last `window` keys, n included) get γ·exp(q·k·scale − c_n),
// c_n = the max of the window's logits; keys before the window get φ(q)·φ(k) (no rescale);
// y_n = Σ weights·v / Σ weights. γ = sigmoid(p) per head (LoLCATs starts at p₀ = logit(0.1)).
// The same definition serves prefill (chunked, native) and decode (HybridAttentionState:
// linear state over keys that left the window + the window's raw k/v). With window >= the
// sequence there is no linear part and γ cancels: the result is softmax attention.
import { ntError } from '../errors';
import { checkOptions, describe } from '../ops/common';
import { Tensor } from '../tensor';
import type { FeatureMaps } from './feature-map';
import { AttentionGrads, AttentionProblem, LinearAttentionState, checkProblem, runBackward, runForward, runForwardAsync } from './linear';

export interface HybridOptions {
  /** Sliding-window length (>= 1; the query's own key included). */
  window: number;
  /** φ for the keys before the window: one map, or { q, k } (LoLCATs trains both). */
  featureMap: FeatureMaps;
  /** γ per query head (or one number for all heads), in (0, 1] typically: sigmoid(p). */
  gamma: number | readonly number[] | Float64Array | Float32Array | Tensor;
  /** Softmax logit scale (default 1/√d). */
  scale?: number;
  out?: Tensor;
}

/** γ = sigmoid(p). */
export function sigmoid(p: number): number {
  return 1 / (1 + Math.exp(-p));
}
/** p = logit(γ): LoLCATs initialises p₀ = logit(0.1). */
export function logit(g: number): number {
  return Math.log(g / (1 - g));
}

function resolveGamma(op: string, g: unknown, heads: number): Float64Array {
  let vals: ArrayLike<number>;
  if (typeof g === 'number') vals = new Array<number>(heads).fill(g);
  else if (g instanceof Tensor) {
    g._check(op, 'gamma');
    if (g.ndim !== 1 || (g.dtype !== 'f32' && g.dtype !== 'f64'))
      throw ntError('NT_VALUE', `[${op}] gamma must be a 1-D f32/f64 tensor, got ${describe(g)}`);
    vals = g.toArray() as number[];
  } else if (Array.isArray(g) || g instanceof Float64Array || g instanceof Float32Array) vals = g as ArrayLike<number>;
  else throw ntError('NT_VALUE', `[${op}] gamma must be a number, an array or a tensor of one value per head, got ${describe(g)}`);
  if (vals.length !== heads) throw ntError('NT_VALUE', `[${op}] gamma must have one value per query head (${heads}), got ${vals.length}`);
  const out = Float64Array.from(vals);
  for (const x of out) if (!Number.isFinite(x) || x < 0) throw ntError('NT_VALUE', `[${op}] gamma values must be finite and >= 0, got ${x}`);
  return out;
}

function checkWindow(op: string, w: unknown): number {
  if (typeof w !== 'number' || !Number.isSafeInteger(w) || w < 1)
    throw ntError('NT_VALUE', `[${op}] window must be an integer >= 1, got ${describe(w)}`);
  return w;
}

function hybridProblem(op: string, q: unknown, k: unknown, v: unknown, options: unknown): AttentionProblem {
  const opts = checkOptions<HybridOptions>(op, options);
  const window = checkWindow(op, opts.window);
  const heads = q instanceof Tensor && !q.isDisposed && q.ndim === 4 ? q.shape[1] : 0;
  // q is validated by checkProblem; resolve gamma only once the head count is known to be real
  const p = checkProblem(op, q, k, v, opts.featureMap, { window, eps: 0, scale: opts.scale, gamma: null });
  p.gamma = resolveGamma(op, opts.gamma, heads);
  return p;
}

const HYBRID = 'attention.hybrid';

/**
 * LoLCATs hybrid attention -> [batch, hq, sq, dv] (f64 for f64 inputs, else f32).
 * @example nt.attention.hybrid(q, k, v, { window: 64, featureMap: { q: mapQ, k: mapK }, gamma: 0.1 })
 */
export function hybrid(q: Tensor, k: Tensor, v: Tensor, options: HybridOptions): Tensor {
  const opts = checkOptions<HybridOptions>(HYBRID, options);
  return runForward(hybridProblem(HYBRID, q, k, v, opts), opts.out);
}

/** hybrid on a worker thread. */
export async function hybridAsync(q: Tensor, k: Tensor, v: Tensor, options: HybridOptions): Promise<Tensor> {
  const opts = checkOptions<HybridOptions>(HYBRID, options);
  return runForwardAsync(hybridProblem(HYBRID, q, k, v, opts), opts.out);
}

export interface HybridGrads extends AttentionGrads {
  dGamma: Float64Array;
  /** dL/dp for γ = sigmoid(p): dγ · γ(1 − γ). */
  dp: Float64Array;
}

/** Analytic gradients of Σ grad ⊙ hybrid(q, k, v) w.r.t. q, k, v, the Hedgehog weights, γ and p. */
export function hybridBackward(q: Tensor, k: Tensor, v: Tensor, grad: Tensor, options: HybridOptions): HybridGrads {
  const p = hybridProblem('attention.hybridBackward', q, k, v, options);
  const g = runBackward(p, grad);
  const dGamma = g.dGamma as Float64Array;
  const gamma = p.gamma as Float64Array;
  const dp = dGamma.map((x, h) => x * gamma[h] * (1 - gamma[h]));
  return { ...g, dGamma, dp };
}

export interface HybridStateOptions {
  window: number;
  featureMap: FeatureMaps;
  gamma: HybridOptions['gamma'];
  scale?: number;
}

/** The recurrent (decode) form of hybrid attention; step() output equals the prefill's rows. */
export class HybridAttentionState extends LinearAttentionState {
  protected readonly op: string = 'attention.HybridAttentionState';
  private readonly gammaSpec: unknown;

  constructor(options: HybridStateOptions) {
    const opts = checkOptions<HybridStateOptions>('attention.HybridAttentionState', options);
    super({ featureMap: opts.featureMap, eps: 0 });
    this.window = checkWindow(this.op, opts.window);
    if (opts.scale !== undefined && (typeof opts.scale !== 'number' || !Number.isFinite(opts.scale)))
      throw ntError('NT_VALUE', `[${this.op}] scale must be a finite number, got ${describe(opts.scale)}`);
    this.scale = opts.scale;
    this.gammaSpec = opts.gamma;
    if (opts.gamma === undefined) throw ntError('NT_VALUE', `[${this.op}] gamma is required`);
  }

  step(q: Tensor, k: Tensor, v: Tensor): Tensor {
    if (this.gamma === null && q instanceof Tensor && !q.isDisposed && q.ndim === 4)
      this.gamma = resolveGamma(`${this.op}.step`, this.gammaSpec, q.shape[1]);
    return super.step(q, k, v);
  }
}
