// Train the head (head.ts) with each optimizer for the same number of steps from the same
// start, recording the training loss curve, a held-out loss and the optimizer-state bytes.
import { ntError } from '../../errors';
import type { Tensor } from '../../tensor';
import { Adam, Adam8bit } from '../optim/adam';
import { GaLore, GradNormLoRP } from '../optim/lowrank';
import type { Optimizer } from '../optim/optimizer';
import { HEAD_PARAM_NAMES, HeadParams, headForward, headLossAndGrads } from './head';

export const TRAIN_METHODS = ['Adam', 'Adam8bit', 'GaLore', 'GradNormLoRP', 'GradNormLoRP8bit'] as const;
export type TrainMethod = (typeof TRAIN_METHODS)[number];

export interface TrainCompareOptions {
  steps: number;
  lr?: number;
  rank?: number;
  updateGap?: number;
  /** GaLore/GradNormLoRP α (default 0.25). */
  scale?: number;
  methods?: readonly TrainMethod[];
  eps?: number;
  /** Quantization block of the 8-bit methods (default 2048; 256 for small layers). */
  blockSize?: 2048 | 256;
  onStep?(method: TrainMethod, step: number, loss: number): void;
}

export interface TrainRun {
  method: TrainMethod;
  /** Training loss before each step and after the last one (steps + 1 values). */
  losses: number[];
  /** Held-out loss after the last step (NaN without held-out data). */
  evalLoss: number;
  /** Held-out loss of the starting weights (the same for every method; NaN without held-out data). */
  evalLossStart: number;
  stateBytes: number;
  seconds: number;
}

export function makeOptimizer(method: TrainMethod, params: Tensor[], o: { lr: number; rank: number; updateGap: number; scale: number; blockSize: 2048 | 256 }): Optimizer {
  const low = { lr: o.lr, rank: o.rank, updateGap: o.updateGap, scale: o.scale, seed: 1, blockSize: o.blockSize };
  switch (method) {
    case 'Adam': return new Adam(params, { lr: o.lr });
    case 'Adam8bit': return new Adam8bit(params, { lr: o.lr, blockSize: o.blockSize });
    case 'GaLore': return new GaLore(params, low);
    case 'GradNormLoRP': return new GradNormLoRP(params, low);
    case 'GradNormLoRP8bit': return new GradNormLoRP(params, { ...low, eightBit: true });
  }
}

/** Runs every method from copies of `init` on (h, targets); held-out (evalH, evalTargets) is optional. */
export function trainCompare(
  init: HeadParams, h: Tensor, targets: Int32Array, opts: TrainCompareOptions,
  evalH?: Tensor, evalTargets?: Int32Array,
): TrainRun[] {
  const steps = opts.steps;
  if (!Number.isInteger(steps) || steps < 1) throw ntError('NT_VALUE', `[llm.train.trainCompare] steps must be an integer >= 1, got ${String(steps)}`);
  const eps = opts.eps ?? 1e-5;
  const cfg = { lr: opts.lr ?? 1e-3, rank: opts.rank ?? 64, updateGap: opts.updateGap ?? 50, scale: opts.scale ?? 0.25, blockSize: opts.blockSize ?? 2048 };
  const runs: TrainRun[] = [];
  let evalLossStart = NaN;
  if (evalH && evalTargets) {
    const ev = headForward(init, evalH, evalTargets, eps);
    ev.logits.dispose();
    evalLossStart = ev.loss;
  }
  for (const method of opts.methods ?? TRAIN_METHODS) {
    const params = {} as HeadParams;
    for (const k of HEAD_PARAM_NAMES) params[k] = init[k].clone();
    const list = HEAD_PARAM_NAMES.map((k) => params[k]);
    const opt = makeOptimizer(method, list, cfg);
    const losses: number[] = [];
    const t0 = process.hrtime.bigint();
    try {
      for (let s = 0; s < steps; ++s) {
        const { loss, grads } = headLossAndGrads(params, h, targets, eps);
        losses.push(loss);
        opts.onStep?.(method, s, loss);
        try {
          opt.step(HEAD_PARAM_NAMES.map((k) => grads[k]));
        } finally {
          for (const t of Object.values(grads)) t.dispose();
        }
      }
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      const last = headForward(params, h, targets, eps);
      last.logits.dispose();
      losses.push(last.loss);
      let evalLoss = NaN;
      if (evalH && evalTargets) {
        const ev = headForward(params, evalH, evalTargets, eps);
        ev.logits.dispose();
        evalLoss = ev.loss;
      }
      runs.push({ method, losses, evalLoss, evalLossStart, stateBytes: opt.stateBytes(), seconds });
    } finally {
      opt.dispose();
      for (const t of list) t.dispose();
    }
  }
  return runs;
}
