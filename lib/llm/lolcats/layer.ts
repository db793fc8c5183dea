// One attention layer's LoLCATs parameters: Hedgehog maps φ_q, φ_k (W̃ [heads, headDim, f],
// φ_k starting as a copy of φ_q) and p (γ = sigmoid(p) per head, p₀ = logit(0.1)), with the
// hybrid attention they define (ALGORITHMS.md §4-5).
import { hybrid, hybridBackward, HybridGrads, hedgehogInit, logit, sigmoid } from '../../attention';
import { ntError } from '../../errors';
import { Tensor } from '../../tensor';

export interface HybridLayerOptions {
  /** Sliding-window length (default 64). */
  window?: number;
  /** Hedgehog columns f per map (2f features; default 64). */
  features?: number;
  /** Initial γ (default 0.1: p₀ = logit(0.1)). */
  gamma?: number;
}

export class HybridLayer {
  /** φ_q weight W̃_q [heads, headDim, f] (f32, trained in place). */
  readonly weightQ: Tensor;
  /** φ_k weight W̃_k [heads, headDim, f] (f32, trained in place). */
  readonly weightK: Tensor;
  /** p [heads] (f32): γ_h = sigmoid(p_h), trained in place. */
  readonly p: Tensor;
  readonly window: number;

  constructor(weightQ: Tensor, weightK: Tensor, p: Tensor, window: number) {
    const op = 'llm.lolcats.HybridLayer';
    if (weightQ.ndim !== 3 || weightK.ndim !== 3 || weightQ.shape.some((d, i) => d !== weightK.shape[i]))
      throw ntError('NT_SHAPE', `[${op}] weightQ and weightK must be [heads, headDim, f] of one shape`);
    if (p.ndim !== 1 || p.shape[0] !== weightQ.shape[0]) throw ntError('NT_SHAPE', `[${op}] p must have shape [${weightQ.shape[0]}]`);
    if (!Number.isSafeInteger(window) || window < 1) throw ntError('NT_VALUE', `[${op}] window must be an integer >= 1, got ${window}`);
    this.weightQ = weightQ;
    this.weightK = weightK;
    this.p = p;
    this.window = window;
  }

  /** Fresh parameters: tiled-identity Hedgehog weights (φ_k = φ_q) and p = logit(gamma). */
  static init(heads: number, headDim: number, opts: HybridLayerOptions = {}): HybridLayer {
    const { window = 64, features = 64, gamma = 0.1 } = opts;
    if (!(gamma > 0 && gamma < 1)) throw ntError('NT_VALUE', `[llm.lolcats.HybridLayer.init] gamma must be in (0, 1), got ${gamma}`);
    const wq = hedgehogInit(heads, headDim, features, 'f32');
    const wk = wq.clone();
    const p = Tensor._empty('llm.lolcats.HybridLayer.init', [heads], 'f32');
    (p.data as Float32Array).fill(logit(gamma));
    return new HybridLayer(wq, wk, p, window);
  }

  get heads(): number {
    return this.weightQ.shape[0];
  }

  /** γ per head. */
  gamma(): number[] {
    return Array.from(this.p.data as Float32Array, sigmoid);
  }

  private options() {
    return {
      window: this.window,
      featureMap: { q: { kind: 'hedgehog' as const, weight: this.weightQ }, k: { kind: 'hedgehog' as const, weight: this.weightK } },
      gamma: this.gamma(),
    };
  }

  /** Hybrid attention of q [b, heads, n, d], k/v [b, kvHeads, n, d] with these maps. */
  attend(q: Tensor, k: Tensor, v: Tensor): Tensor {
    return hybrid(q, k, v, this.options());
  }

  /** Gradients of Σ grad ⊙ attend(q, k, v) (dWeightQ, dWeightK, dp are the trainable ones). */
  backward(q: Tensor, k: Tensor, v: Tensor, grad: Tensor): HybridGrads {
    return hybridBackward(q, k, v, grad, this.options());
  }

  clone(): HybridLayer {
    return new HybridLayer(this.weightQ.clone(), this.weightK.clone(), this.p.clone(), this.window);
  }

  dispose(): void {
    for (const t of [this.weightQ, this.weightK, this.p]) if (!t.isDisposed) t.dispose();
  }
}
