// Low-rank gradient projection optimizers: GaLore (Zhao et al. 2024) and GradNormLoRP
// (weight normalisation + GaLore-style projection of the direction gradient), ALGORITHMS.md §6.
//
// For a 2-D parameter (m x n) with gradient G (GaLore) or ∂V (GradNormLoRP), every updateGap
// steps starting at step 0 the projector is refreshed from the top-r singular vectors of that
// gradient (randomized SVD by default) and the smaller side is projected:
//   m >= n ('right'): P = V_r^T [r, n], R = G P^T [m, r], back-projection N P
//   m <  n ('left'):  P = U_r [m, r],   R = P^T G [r, n], back-projection P N
// Adam runs on R (the moments have R's shape, f32 or 8-bit), N is its direction, and the
// parameter moves by lr * scale * back-projection. Moments are kept across refreshes (as
// published); reprojectMoments maps them into the new basis instead: with the change of basis
// C = P_old P_new^T (right) or P_new^T P_old (left), m <- m C (or C m) and v <- v (C ⊙ C)
// (or (C ⊙ C) v), which keeps v >= 0. Parameters that are not 2-D get plain Adam.
import { ntError } from '../../errors';
import { mul } from '../../ops/binary';
import { checkOptions } from '../../ops/common';
import { scaledUpdate, weightNormApply, weightNormGrad, weightNormInit } from '../../ops/optim-steps';
import { matmul } from '../../linalg/matmul';
import { rsvd } from '../../linalg/rsvd';
import { svd } from '../../linalg/svd';
import { Tensor } from '../../tensor';
import { blockSizeOption } from './adam';
import { MomentPolicy, Moments, createMoments, disposeMoments, momentBytes, readMoments, stepMoments, writeMoments } from './moments';
import { AdamOptions, Optimizer, boolOpt, intOpt, numberOption, tensorBytes } from './optimizer';

export interface GaLoreOptions extends AdamOptions {
  /** Projection rank r (default 128; capped at min(m, n) per parameter). */
  rank?: number;
  /** Steps between projector refreshes T (default 200); refreshes happen at steps 0, T, 2T, ... */
  updateGap?: number;
  /** α: the back-projected update is multiplied by it (default 0.25). */
  scale?: number;
  /** How the top-r singular vectors are found: 'rsvd' (default, nt.linalg.rsvd) or 'svd' (exact, nt.linalg.svd). */
  projector?: 'rsvd' | 'svd';
  /** rsvd oversampling (default 10) and power iterations (default 2). */
  oversample?: number;
  powerIters?: number;
  /** Seed of the rsvd test matrices (default 0): refresh k of parameter i uses seed + 7919 k + i. */
  seed?: number;
  /** Map the moments into the new basis at a refresh instead of keeping them (default false). */
  reprojectMoments?: boolean;
  /** Store the Adam moments in 8 bits (block-wise dynamic; tensors < minSize8bit stay f32). */
  eightBit?: boolean;
  blockSize?: 2048 | 256;
  minSize8bit?: number;
}

export interface GradNormLoRPOptions extends GaLoreOptions {
  /** ε inside every row norm ||V|| = sqrt(sum V² + ε) (default 1e-8). */
  normEps?: number;
}

interface Projected {
  kind: 'lowrank';
  rows: number;
  cols: number;
  rank: number;
  side: 'right' | 'left';
  P: Tensor | null;
  moments: Moments;
  refreshes: number;
}

interface Dense {
  kind: 'dense';
  moments: Moments;
}

interface NormState {
  g: Tensor;
  s: Tensor;
  gMoments: Moments;
}

type Slot = Projected | Dense;

interface LowRankConfig {
  rank: number;
  updateGap: number;
  scale: number;
  projector: 'rsvd' | 'svd';
  oversample: number;
  powerIters: number;
  seed: number;
  reprojectMoments: boolean;
  policy: MomentPolicy;
}

function resolveLowRank(op: string, o: GaLoreOptions): LowRankConfig {
  const projector = o.projector ?? 'rsvd';
  if (projector !== 'rsvd' && projector !== 'svd')
    throw ntError('NT_VALUE', `[${op}] projector must be 'rsvd' or 'svd', got ${String(o.projector)}`);
  const eightBit = boolOpt(op, 'eightBit', o.eightBit, false);
  return {
    rank: intOpt(op, 'rank', o.rank, 128, 1),
    updateGap: intOpt(op, 'updateGap', o.updateGap, 200, 1),
    scale: numberOption(op, 'scale', o.scale, 0.25, (x) => x >= 0, '>= 0'),
    projector,
    oversample: intOpt(op, 'oversample', o.oversample, 10, 0),
    powerIters: intOpt(op, 'powerIters', o.powerIters, 2, 0),
    seed: intOpt(op, 'seed', o.seed, 0, 0),
    reprojectMoments: boolOpt(op, 'reprojectMoments', o.reprojectMoments, false),
    policy: { eightBit, blockSize: blockSizeOption(op, o.blockSize), minSize8bit: intOpt(op, 'minSize8bit', o.minSize8bit, 4096, 0) },
  };
}

/** The top-r singular subspace of a (m x n) on the smaller side: V_r^T [r, n] (right) or U_r [m, r] (left). */
function topSingularSubspace(a: Tensor, rank: number, side: 'right' | 'left', cfg: LowRankConfig, seed: number): Tensor {
  if (cfg.projector === 'rsvd') {
    const { U, S, Vt } = rsvd(a, rank, { oversample: cfg.oversample, powerIters: cfg.powerIters, seed });
    S.dispose();
    if (side === 'right') {
      U.dispose();
      return Vt;
    }
    Vt.dispose();
    return U;
  }
  const { U, S, Vt } = svd(a);
  S.dispose();
  try {
    const view = side === 'right' ? Vt!.slice([0, rank]) : U!.slice(null, [0, rank]);
    const out = view.contiguous();
    view.dispose();
    return out;
  } finally {
    U!.dispose();
    Vt!.dispose();
  }
}

abstract class LowRankOptimizer extends Optimizer {
  protected slots: Slot[];
  protected readonly cfg: LowRankConfig;

  protected constructor(op: string, params: Tensor[], options: GaLoreOptions | undefined, defaultEps: number) {
    super(op, params, options, defaultEps);
    this.cfg = resolveLowRank(op, checkOptions<GaLoreOptions>(op, options));
    this.slots = this.params.map((p) => {
      if (p.ndim !== 2 || p.size === 0) return { kind: 'dense', moments: createMoments(op, p.size, this.cfg.policy) };
      const [rows, cols] = p.shape;
      const rank = Math.min(this.cfg.rank, rows, cols);
      const side = rows >= cols ? 'right' : 'left';
      const rShape = side === 'right' ? rows * rank : rank * cols;
      return { kind: 'lowrank', rows, cols, rank, side, P: null, moments: createMoments(op, rShape, this.cfg.policy), refreshes: 0 };
    });
  }

  /** 'right' (P = V_r^T, m >= n), 'left' (P = U_r, m < n), or null for a parameter with plain Adam. */
  side(i: number): 'right' | 'left' | null {
    this.alive('side', i);
    const s = this.slots[i];
    return s.kind === 'lowrank' ? s.side : null;
  }

  /** A copy of the current projector of params[i] (null before the first step or for plain Adam). */
  projector(i: number): Tensor | null {
    this.alive('projector', i);
    const s = this.slots[i];
    return s.kind === 'lowrank' && s.P ? s.P.clone() : null;
  }

  /** The moments of params[i] (of the projected gradient for 2-D parameters) as f32 copies. */
  moments(i: number): { m: Tensor; v: Tensor } {
    this.alive('moments', i);
    return readMoments(this.slots[i].moments);
  }

  stateBytes(): number {
    return this.slots.reduce((sum, s) => sum + momentBytes(s.moments) + (s.kind === 'lowrank' && s.P ? tensorBytes(s.P) : 0), 0);
  }

  protected releaseState(): void {
    for (const s of this.slots) {
      disposeMoments(s.moments);
      if (s.kind === 'lowrank') s.P?.dispose();
    }
    this.slots = [];
  }

  /**
   * The low-rank Adam direction of `grad` (m x n) mapped back to m x n and scaled by nothing
   * yet: refreshes the projector on schedule, projects, steps the moments, back-projects.
   */
  protected projectedDirection(i: number, s: Projected, grad: Tensor, t: number): Tensor {
    if ((t - 1) % this.cfg.updateGap === 0) this.refresh(i, s, grad);
    const P = s.P!;
    const g2 = grad.ndim === 2 ? grad : grad.reshape([s.rows, s.cols]);
    const R = s.side === 'right' ? matmul(g2, P, { transB: true }) : matmul(P, g2, { transA: true });
    if (g2 !== grad) g2.dispose();
    const N = Tensor._empty(this.op, R.shape, 'f32');
    try {
      stepMoments(N, R, s.moments, this.hyper, t, true);
      return s.side === 'right' ? matmul(N, P) : matmul(P, N);
    } finally {
      R.dispose();
      N.dispose();
    }
  }

  private refresh(i: number, s: Projected, grad: Tensor): void {
    const seed = this.cfg.seed + 7919 * s.refreshes + i;
    const g2 = grad.ndim === 2 ? grad : grad.reshape([s.rows, s.cols]);
    const Pn = topSingularSubspace(g2, s.rank, s.side, this.cfg, seed);
    if (g2 !== grad) g2.dispose();
    if (this.cfg.reprojectMoments && s.P) this.reproject(s, s.P, Pn);
    s.P?.dispose();
    s.P = Pn;
    s.refreshes++;
  }

  private reproject(s: Projected, Po: Tensor, Pn: Tensor): void {
    const C = s.side === 'right' ? matmul(Po, Pn, { transB: true }) : matmul(Pn, Po, { transA: true });
    const C2 = mul(C, C);
    const { m, v } = readMoments(s.moments);
    const shape = s.side === 'right' ? [s.rows, s.rank] : [s.rank, s.cols];
    const m2 = m.reshape(shape);
    const v2 = v.reshape(shape);
    m.dispose();
    v.dispose();
    try {
      const mn = s.side === 'right' ? matmul(m2, C) : matmul(C, m2);
      const vn = s.side === 'right' ? matmul(v2, C2) : matmul(C2, v2);
      const mf = mn.reshape([mn.size]);
      const vf = vn.reshape([vn.size]);
      mn.dispose();
      vn.dispose();
      s.moments = writeMoments(s.moments, mf, vf);
    } finally {
      m2.dispose();
      v2.dispose();
      C.dispose();
      C2.dispose();
    }
  }
}

/**
 * GaLore: Adam on the low-rank projection of each 2-D gradient (see the file comment); the
 * parameter moves by p <- p (1 - lr wd) - lr scale back-projection. State per 2-D parameter:
 * the moments of R (r x max(m, n), f32 or 8-bit) and the projector (r x min(m, n), f32).
 */
export class GaLore extends LowRankOptimizer {
  constructor(params: Tensor[], options?: GaLoreOptions) {
    super('llm.optim.GaLore', params, options, 1e-6);
  }

  protected updateParam(i: number, p: Tensor, g: Tensor, t: number): void {
    const s = this.slots[i];
    if (s.kind === 'dense') {
      stepMoments(p, g, s.moments, this.hyper, t, false);
      return;
    }
    const update = this.projectedDirection(i, s, g, t);
    try {
      scaledUpdate(p, update, { lr: this.hyper.lr, scale: this.cfg.scale, weightDecay: this.hyper.weightDecay });
    } finally {
      update.dispose();
    }
  }
}

/**
 * GradNormLoRP: each 2-D parameter is reparameterised as W = g ⊙ V / ||V||_row (ε in every
 * norm); ∂g = Σ_row(G ⊙ V̂) gets full Adam, ∂V = (g/||V||)(G − (V̂·G)_row V̂) gets GaLore's
 * low-rank Adam (projector from ∂V), and W is rebuilt from the updated g and V. V is never
 * stored: the parameter holds g ⊙ V̂ and the optimizer keeps g and s = ||V|| per row, so
 * V = s W / g (native/optim/optim.h). State per 2-D parameter: GaLore's plus g, s and the
 * moments of g (4 x rows f32).
 */
export class GradNormLoRP extends LowRankOptimizer {
  private norms: (NormState | null)[];
  readonly normEps: number;

  constructor(params: Tensor[], options?: GradNormLoRPOptions) {
    super('llm.optim.GradNormLoRP', params, options, 1e-6);
    const o = checkOptions<GradNormLoRPOptions>(this.op, options);
    this.normEps = numberOption(this.op, 'normEps', o.normEps, 1e-8, (x) => x > 0, '> 0');
    this.norms = this.slots.map((s, i) => {
      if (s.kind !== 'lowrank') return null;
      const { g, s: norm } = weightNormInit(this.params[i], this.normEps);
      return { g, s: norm, gMoments: createMoments(this.op, s.rows, { ...this.cfg.policy, eightBit: false }) };
    });
  }

  /** Copies of the magnitude g [rows] and of s = ||V|| [rows] of params[i] (null for plain Adam). */
  weightNorm(i: number): { g: Tensor; s: Tensor } | null {
    this.alive('weightNorm', i);
    const n = this.norms[i];
    return n ? { g: n.g.clone(), s: n.s.clone() } : null;
  }

  stateBytes(): number {
    let bytes = super.stateBytes();
    for (const n of this.norms) if (n) bytes += tensorBytes(n.g) + tensorBytes(n.s) + momentBytes(n.gMoments);
    return bytes;
  }

  protected releaseState(): void {
    super.releaseState();
    for (const n of this.norms) {
      if (!n) continue;
      n.g.dispose();
      n.s.dispose();
      disposeMoments(n.gMoments);
    }
    this.norms = [];
  }

  protected updateParam(i: number, p: Tensor, grad: Tensor, t: number): void {
    const s = this.slots[i];
    const n = this.norms[i];
    if (s.kind === 'dense' || !n) {
      stepMoments(p, grad, s.moments, this.hyper, t, false);
      return;
    }
    const dV = Tensor._empty(this.op, [s.rows, s.cols], 'f32');
    const dg = Tensor._empty(this.op, [s.rows], 'f32');
    const ug = Tensor._empty(this.op, [s.rows], 'f32');
    let uV: Tensor | null = null;
    try {
      weightNormGrad(p, n.g, n.s, grad, dV, dg);
      uV = this.projectedDirection(i, s, dV, t);
      stepMoments(ug, dg, n.gMoments, this.hyper, t, true);
      weightNormApply(p, n.g, n.s, uV, ug, { lr: this.hyper.lr, scale: this.cfg.scale, weightDecay: this.hyper.weightDecay, eps: this.normEps });
    } finally {
      dV.dispose();
      dg.dispose();
      ug.dispose();
      uV?.dispose();
    }
  }
}
