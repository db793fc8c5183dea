import type { Meta, Storage } from './types';

/** Plain (synchronous-only) native functions of the factor area. */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface FactorFunctions {}

/** What powerIteration reports besides its outputs. */
export interface NativePowerIterationInfo {
  iterations: number;
  converged: boolean;
  /** max_i ||A v_i - s_i u_i|| / s_0 at the last check; NaN when never checked (tol 0). */
  residual: number;
}

/**
 * Native ops of the factor area (the addon also exports an Async twin of each). Inputs are any
 * 2-D float view; outputs are fresh contiguous tensors, f64 for f64 input else f32.
 */
export interface FactorOps {
  /** q: [m, min(m,n)] (reduced) or [m, m] (complete); r: [q's columns, n]. */
  qr(a: Storage, am: Meta, q: Storage, qm: Meta, r: Storage, rm: Meta): void;
  /** out = L (A = L L^T, lower triangle of a read) or U = L^T (upper: the upper triangle read). */
  cholesky(a: Storage, am: Meta, out: Storage, om: Meta, upper: boolean): void;
  /** out = A^-1 from its Cholesky factor l (lower, or upper when `upper`). */
  choleskyInverse(l: Storage, lm: Meta, out: Storage, om: Meta, upper: boolean): void;
  /** x (b's shape) solves op(A) x = b; b is [n] or [n, k]. */
  solveTriangular(
    a: Storage,
    am: Meta,
    b: Storage,
    bm: Meta,
    x: Storage,
    xm: Meta,
    lower: boolean,
    trans: boolean,
    unitDiagonal: boolean,
  ): void;
  /** Rank = u's column count; seed = seedHi * 2^32 + seedLo. */
  rsvd(
    a: Storage,
    am: Meta,
    u: Storage,
    um: Meta,
    s: Storage,
    sm: Meta,
    vt: Storage,
    vtm: Meta,
    oversample: number,
    powerIters: number,
    seedHi: number,
    seedLo: number,
  ): void;
  /** k = u's column count (1..4). */
  powerIteration(
    a: Storage,
    am: Meta,
    u: Storage,
    um: Meta,
    s: Storage,
    sm: Meta,
    vt: Storage,
    vtm: Meta,
    iters: number,
    tol: number,
    seedHi: number,
    seedLo: number,
  ): NativePowerIterationInfo;
}

export const FACTOR_FUNCTIONS: Record<keyof FactorFunctions, true> = {};
export const FACTOR_OPS: Record<keyof FactorOps, true> = {
  qr: true,
  cholesky: true,
  choleskyInverse: true,
  solveTriangular: true,
  rsvd: true,
  powerIteration: true,
};
