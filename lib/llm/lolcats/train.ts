// LoLCATs stage 1 (ALGORITHMS.md §5): attention transfer. Only φ_q, φ_k and p (γ) train;
// the loss is 1000 · MSE(hybrid output, softmax output) over all heads and positions (the
// output before o_proj), minimised with Adam (lr 1e-2) using the analytic backward pass of
// hybrid attention.
import { hybrid } from '../../attention';
import { ntError } from '../../errors';
import { Tensor } from '../../tensor';
import { Adam } from '../optim/adam';
import type { HybridLayer } from './layer';

/** One layer's attention inputs for one sequence: q [1, hq, n, d], k/v [1, hkv, n, d] (after RoPE). */
export interface AttentionSample {
  q: Tensor;
  k: Tensor;
  v: Tensor;
}

/** The loss scale of LoLCATs' attention transfer. */
export const LOSS_SCALE = 1000;

/**
 * Causal softmax attention of a sample: hybrid attention whose window covers the whole
 * sequence has no linear part and its γ cancels, which is exactly softmax attention.
 */
export function softmaxAttention(s: AttentionSample): Tensor {
  return hybrid(s.q, s.k, s.v, { window: Math.max(1, s.k.shape[2]), featureMap: 'relu', gamma: 1 });
}

/** 1000 · mean((y − target)²), and optionally its gradient w.r.t. y (f32, y's shape). */
function mse(y: Tensor, target: Tensor, withGrad: boolean): { loss: number; grad: Tensor | null } {
  const a = y.data as Float32Array;
  const b = target.data as Float32Array;
  const n = a.length;
  const grad = withGrad ? Tensor._empty('llm.lolcats.mse', y.shape, 'f32') : null;
  const g = grad?.data as Float32Array | undefined;
  let s = 0;
  const k = (2 * LOSS_SCALE) / Math.max(1, n);
  for (let i = 0; i < n; ++i) {
    const d = a[i] - b[i];
    s += d * d;
    if (g) g[i] = k * d;
  }
  return { loss: (LOSS_SCALE * s) / Math.max(1, n), grad };
}

/** Softmax targets of samples, computed once (dispose them with disposeTargets). */
export function softmaxTargets(samples: readonly AttentionSample[]): Tensor[] {
  return samples.map(softmaxAttention);
}

/** Mean attention-transfer loss (1000 · MSE) of a layer over samples. */
export function transferLoss(layer: HybridLayer, samples: readonly AttentionSample[], targets?: readonly Tensor[]): number {
  if (samples.length === 0) throw ntError('NT_VALUE', '[llm.lolcats.transferLoss] needs at least one sample');
  let total = 0;
  samples.forEach((s, i) => {
    const t = targets ? targets[i] : softmaxAttention(s);
    const y = layer.attend(s.q, s.k, s.v);
    total += mse(y, t, false).loss;
    y.dispose();
    if (!targets) t.dispose();
  });
  return total / samples.length;
}

export interface TrainLayerOptions {
  /** Adam steps (one sample per step, cycling through the training samples). */
  steps: number;
  /** Adam learning rate (default 1e-2, as LoLCATs). */
  lr?: number;
  /** Called after every step with the step's training loss. */
  onStep?(step: number, loss: number): void;
}

/**
 * Trains layer.weightQ, layer.weightK and layer.p in place on samples; returns the training
 * loss of every step (before that step's update).
 */
export function trainLayer(layer: HybridLayer, samples: readonly AttentionSample[], opts: TrainLayerOptions): number[] {
  const op = 'llm.lolcats.trainLayer';
  if (!Number.isInteger(opts.steps) || opts.steps < 0) throw ntError('NT_VALUE', `[${op}] steps must be an integer >= 0, got ${String(opts.steps)}`);
  if (samples.length === 0) throw ntError('NT_VALUE', `[${op}] needs at least one training sample`);
  const lr = opts.lr ?? 1e-2;
  const targets = softmaxTargets(samples);
  const adam = new Adam([layer.weightQ, layer.weightK, layer.p], { lr });
  const history: number[] = [];
  try {
    for (let step = 0; step < opts.steps; ++step) {
      const i = step % samples.length;
      const s = samples[i];
      const y = layer.attend(s.q, s.k, s.v);
      const { loss, grad } = mse(y, targets[i], true);
      y.dispose();
      const g = layer.backward(s.q, s.k, s.v, grad as Tensor);
      (grad as Tensor).dispose();
      const dp = Tensor._empty(op, [layer.heads], 'f32');
      (dp.data as Float32Array).set(g.dp);
      try {
        adam.step([g.dWeightQ as Tensor, g.dWeightK as Tensor, dp]);
      } finally {
        for (const t of [g.dq, g.dk, g.dv, g.dWeightQ, g.dWeightK, dp]) t?.dispose();
      }
      history.push(loss);
      opts.onStep?.(step, loss);
    }
  } finally {
    adam.dispose();
    for (const t of targets) t.dispose();
  }
  return history;
}
