// nt.linalg.rsvd (randomized truncated SVD, Halko-Martinsson-Tropp) and nt.linalg.powerIteration
// (top k <= 4 singular triplets by block power iteration). See native/linalg/rsvd.h.
import { ntError } from '../errors';
import { native } from '../native/loader';
import type { NativePowerIterationInfo } from '../native/contract-factor';
import { checkOptions, describe } from '../ops/common';
import { Tensor } from '../tensor';
import { callNative, callNativeAsync, checkMatrix, intOption, resultDType, seedWords } from './factor-util';

export interface RsvdOptions {
  /** Extra random probes beyond the rank (default 10): more is more accurate and slower. */
  oversample?: number;
  /** Power (subspace) iterations, each followed by re-orthonormalization (default 2). */
  powerIters?: number;
  /** Seed of the Gaussian test matrix (non-negative safe integer); default: fresh random. */
  seed?: number;
}

export interface RsvdResult {
  /** [m, rank], orthonormal columns. */
  U: Tensor;
  /** [rank], descending, >= 0. */
  S: Tensor;
  /** [rank, n], orthonormal rows. */
  Vt: Tensor;
}

interface RsvdCall {
  a: Tensor;
  out: RsvdResult;
  oversample: number;
  powerIters: number;
  seed: [number, number];
}

function allocTriplets(op: string, a: Tensor, k: number): RsvdResult {
  const [m, n] = a.shape;
  const dtype = resultDType(a);
  return {
    U: Tensor._empty(op, [m, k], dtype),
    S: Tensor._empty(op, [k], dtype),
    Vt: Tensor._empty(op, [k, n], dtype),
  };
}

function prepareRsvd(a: Tensor, rank: number, opts: RsvdOptions | undefined): RsvdCall {
  const op = 'linalg.rsvd';
  const o = checkOptions<RsvdOptions>(op, opts);
  const x = checkMatrix(op, a, 'a');
  const p = Math.min(x.shape[0], x.shape[1]);
  if (typeof rank !== 'number' || !Number.isInteger(rank) || rank < 1 || rank > p)
    throw ntError('NT_VALUE', `[${op}] rank must be an integer in [1, min(m, n) = ${p}], got ${describe(rank)}`);
  const oversample = intOption(op, 'oversample', o.oversample, 10, 0);
  const powerIters = intOption(op, 'powerIters', o.powerIters, 2, 0);
  const seed = seedWords(op, o.seed);
  return { a: x, out: allocTriplets(op, x, rank), oversample, powerIters, seed };
}

const outputs = (r: RsvdResult) => [r.U, r.S, r.Vt];

/**
 * Rank-`rank` truncated SVD A ~ U diag(S) Vt by random projection (Halko, Martinsson & Tropp
 * 2011): l = min(rank + oversample, m, n) Gaussian probes (nt's Philox normals with `seed`, so the
 * same seed gives the same result on any thread count up to rounding), powerIters power
 * iterations with QR re-orthonormalization after every product, then the SVD of the small
 * projected matrix by one-sided Jacobi in f64. Accurate when the spectrum decays past the rank
 * (error ~ (s_{l+1}/s_rank)^(2 powerIters + 1)). f64 input computes in f64, others in f32.
 * rank must be an integer in [1, min(m, n)]; NaN/Inf in `a` is NT_VALUE.
 */
export function rsvd(a: Tensor, rank: number, opts?: RsvdOptions): RsvdResult {
  const c = prepareRsvd(a, rank, opts);
  const { U, S, Vt } = c.out;
  callNative(outputs(c.out), () =>
    native.rsvd(c.a._storage, c.a._metaArray, U._storage, U._metaArray, S._storage, S._metaArray, Vt._storage, Vt._metaArray, c.oversample, c.powerIters, c.seed[0], c.seed[1]),
  );
  return c.out;
}

/** rsvd on a worker thread. */
export async function rsvdAsync(a: Tensor, rank: number, opts?: RsvdOptions): Promise<RsvdResult> {
  const c = prepareRsvd(a, rank, opts);
  const { U, S, Vt } = c.out;
  await callNativeAsync(outputs(c.out), [c.a], () =>
    native.rsvdAsync(c.a._storage, c.a._metaArray, U._storage, U._metaArray, S._storage, S._metaArray, Vt._storage, Vt._metaArray, c.oversample, c.powerIters, c.seed[0], c.seed[1]),
  );
  return c.out;
}

export interface PowerIterationOptions {
  /** Number of singular triplets, 1..min(4, m, n) (default 1). */
  k?: number;
  /** Maximum iterations, >= 1 (default 100). */
  iters?: number;
  /**
   * Stop when max_i ||A v_i - s_i u_i|| <= tol * s_0. Default 1e-5 for f32/f16/bf16 input, 1e-10
   * for f64; 0 runs exactly `iters` iterations (no convergence test, `converged` is false).
   */
  tol?: number;
  /** Seed of the random start (non-negative safe integer); default: fresh random. */
  seed?: number;
}

export interface PowerIterationResult extends RsvdResult {
  /** Iterations run (each: one product with A and one with A^T, then Rayleigh-Ritz). */
  iterations: number;
  /** The residual test passed (a fixed budget that ran out is not an error: check this). */
  converged: boolean;
  /** max_i ||A v_i - s_i u_i|| / s_0 at the last test (NaN when tol is 0). */
  residual: number;
}

interface PowerCall {
  a: Tensor;
  out: RsvdResult;
  iters: number;
  tol: number;
  seed: [number, number];
}

function preparePower(a: Tensor, opts: PowerIterationOptions | undefined): PowerCall {
  const op = 'linalg.powerIteration';
  const o = checkOptions<PowerIterationOptions>(op, opts);
  const x = checkMatrix(op, a, 'a');
  const kmax = Math.min(4, x.shape[0], x.shape[1]);
  if (kmax < 1) throw ntError('NT_VALUE', `[${op}] a must have at least one row and one column, got shape [${x.shape.join(',')}]`);
  const k = intOption(op, 'k', o.k, 1, 1, kmax);
  const iters = intOption(op, 'iters', o.iters, 100, 1);
  const tol = o.tol === undefined ? (x.dtype === 'f64' ? 1e-10 : 1e-5) : o.tol;
  if (typeof tol !== 'number' || !Number.isFinite(tol) || tol < 0)
    throw ntError('NT_VALUE', `[${op}] tol must be a finite number >= 0, got ${describe(o.tol)}`);
  const seed = seedWords(op, o.seed);
  return { a: x, out: allocTriplets(op, x, k), iters, tol, seed };
}

function withInfo(out: RsvdResult, info: NativePowerIterationInfo): PowerIterationResult {
  return { ...out, iterations: info.iterations, converged: info.converged, residual: info.residual };
}

/**
 * The top k <= 4 singular triplets of a general matrix (for a symmetric positive semidefinite
 * matrix: its top eigenpairs, U = V) by block power iteration on A^T A with QR
 * re-orthonormalization and a Rayleigh-Ritz step every iteration: A^T u_i = s_i v_i holds to
 * rounding, and iteration stops when ||A v_i - s_i u_i|| <= tol s_0. Convergence rate per
 * iteration ~ (s_k / s_{k-1})^2 for the last pair: use rsvd for larger ranks or small gaps.
 */
export function powerIteration(a: Tensor, opts?: PowerIterationOptions): PowerIterationResult {
  const c = preparePower(a, opts);
  const { U, S, Vt } = c.out;
  const info = callNative(outputs(c.out), () =>
    native.powerIteration(c.a._storage, c.a._metaArray, U._storage, U._metaArray, S._storage, S._metaArray, Vt._storage, Vt._metaArray, c.iters, c.tol, c.seed[0], c.seed[1]),
  );
  return withInfo(c.out, info);
}

/** powerIteration on a worker thread. */
export async function powerIterationAsync(a: Tensor, opts?: PowerIterationOptions): Promise<PowerIterationResult> {
  const c = preparePower(a, opts);
  const { U, S, Vt } = c.out;
  const info = await callNativeAsync(outputs(c.out), [c.a], () =>
    native.powerIterationAsync(c.a._storage, c.a._metaArray, U._storage, U._metaArray, S._storage, S._metaArray, Vt._storage, Vt._metaArray, c.iters, c.tol, c.seed[0], c.seed[1]),
  );
  return withInfo(c.out, info);
}
