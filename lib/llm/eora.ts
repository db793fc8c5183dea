// EoRA: compensate a compressed weight's error with a low-rank adapter found in the eigenspace
// of the calibration activations (ALGORITHMS.md §1), and the two baselines that ship beside it.
//
// Given W [d_out, d_in], its compressed form Wc (dequantized and/or pruned, dense) and the
// calibration covariance C = XᵀX / n, find B [d_out, r], A [r, d_in] minimising
// ‖(W − Wc − BA) Xᵀ‖_F. With C = Q Λ Qᵀ and Q' = Q diag(√λ), ‖ΔW Xᵀ‖²_F = n·‖ΔW Q'‖²_F, so the
// best rank-r truncation of ΔW' = ΔW Q' mapped back by Q'⁻¹ = diag(1/√λ) Qᵀ is optimal in the
// activation-weighted norm. Directions with λ ≤ cutoff = max(λ_max, 0)·τ (τ = eigenFloor, 1e-8 by
// default: the noise floor of a covariance summed in f64 from f32 block products, with margin)
// carry no activation energy: both √λ and 1/√λ are set to 0 there (a truncated pseudo-inverse,
// never a general inverse); how many were dropped and the share of Σλ they held are reported.
// (A cutoff of d_in·ε_f32, a singular-value tolerance applied to eigenvalues, dropped almost
// every direction of layers whose outlier channels put λ_max at 10⁴-10⁶ × the median.)
//   method 'svd':   rank-r SVD of ΔW itself (optimal in the plain Frobenius norm).
//   method 'act-s': SVD of ΔW diag(s), s_j = mean_t |x_tj|; A = √S V_rᵀ diag(1/s) (1/0 := 0).
// The covariance is the plain mean XᵀX / n (the published code uses a decaying running sum:
// the scale cancels but the weighting of batches does not, and the math assumes the mean).
import { ntError } from '../errors';
import { eigh, eighAsync } from '../linalg/eigh';
import { matmul, matmulAsync } from '../linalg/matmul';
import { rsvd, rsvdAsync } from '../linalg/rsvd';
import { svd, svdAsync } from '../linalg/svd';
import { mul, mulAsync, sub, subAsync } from '../ops/binary';
import { checkOptions, checkTensor, describe } from '../ops/common';
import { sum, sumAsync } from '../ops/reduce';
import { dequantize } from '../quant/dequantize';
import { quantize } from '../quant/quantize';
import { shapeString } from '../shape';
import { Tensor } from '../tensor';
import { Job, inline, runAsync, runSync, step } from '../job';

export type CompensationMethod = 'eora' | 'svd' | 'act-s';

export interface EoraOptions {
  /** Adapter rank r (1 … min(d_out, d_in)); 64 is a sane default for 4096-wide layers. */
  rank: number;
  /** 'exact' (full SVD, the reference) or 'randomized' (the fast path); default: exact up to 1024 columns. */
  svd?: 'exact' | 'randomized';
  /** Randomized SVD settings (see nt.linalg.rsvd). */
  oversample?: number;
  powerIters?: number;
  seed?: number;
  /** Quantize the factors themselves (RTN, group-wise along their input dimension). */
  factorBits?: 2 | 3 | 4 | 8;
  /** Group size of the factor quantization (default 128, or the whole row when shorter). */
  factorGroupSize?: 32 | 64 | 128 | 'row';
  /** EoRA's eigenvalue cutoff relative to λ_max, τ in [0, 1) (default 1e-8; ALGORITHMS.md §1 step 3). */
  eigenFloor?: number;
}

/** The f64 eigendecomposition C = Q diag(λ) Qᵀ of a calibration covariance (see covarianceEigen). */
export interface CovarianceEigen {
  /** λ, f64 [d_in]. */
  values: Tensor;
  /** Q, f64 [d_in, d_in], eigenvectors in the columns (vectors[:, i] pairs with values[i]). */
  vectors: Tensor;
  dispose(): void;
}

export interface CompensationOptions extends EoraOptions {
  method: CompensationMethod;
  /** XᵀX / n [d_in, d_in] (any float dtype; eigendecomposed in f64): 'eora' needs it or `eigen`. */
  covariance?: Tensor;
  /**
   * 'eora': the covariance already decomposed (covarianceEigen), instead of `covariance`.
   * Linears fed the same input (q/k/v, gate/up) share one covariance: decomposing it once
   * saves an O(d_in³) f64 eigh per extra linear, and gives the same adapters.
   */
  eigen?: CovarianceEigen;
  /** mean_t |x_tj| [d_in]: needed by 'act-s'. */
  meanAbs?: Tensor;
}

export interface Compensation {
  /** [r, d_in] f32: the adapter's down projection (PEFT lora_A). */
  A: Tensor;
  /** [d_out, r] f32: the up projection (PEFT lora_B); y += (x Aᵀ) Bᵀ. */
  B: Tensor;
  method: CompensationMethod;
  rank: number;
  /** Eigen-directions of C dropped by the guard (eora only; 0 otherwise). */
  droppedDirections: number;
  /** Σ dropped λ / Σ λ: the activation energy the dropped directions held (eora only; 0 otherwise). */
  droppedEnergy: number;
  /** The r singular values that were kept, descending. */
  singularValues: Float64Array;
  /** Bytes of the factors as stored (f32, or codes + scales + zeros when quantized). */
  bytes: number;
  dispose(): void;
}

const OP = 'llm.eora';
/** Default τ of the eigenvalue cutoff max(λ_max, 0)·τ (ALGORITHMS.md §1 step 3). */
const DEFAULT_EIGEN_FLOOR = 1e-8;

interface Plan {
  W: Tensor;
  Wc: Tensor;
  method: CompensationMethod;
  rank: number;
  randomized: boolean;
  opts: EoraOptions;
  covariance?: Tensor;
  eigen?: CovarianceEigen;
  meanAbs?: Tensor;
}

function plan(op: string, W: unknown, Wc: unknown, o: CompensationOptions): Plan {
  const w = checkTensor(op, W, 'W');
  const wc = checkTensor(op, Wc, 'Wc');
  if (w.ndim !== 2) throw ntError('NT_SHAPE', `[${op}] W must be 2-D [d_out, d_in], got shape ${shapeString(w.shape)}`);
  if (wc.ndim !== 2 || wc.shape[0] !== w.shape[0] || wc.shape[1] !== w.shape[1])
    throw ntError('NT_SHAPE', `[${op}] Wc must have W's shape ${shapeString(w.shape)}, got ${shapeString(wc.shape)}`);
  for (const [t, name] of [[w, 'W'], [wc, 'Wc']] as const)
    if (t.dtype !== 'f32' && t.dtype !== 'f64' && t.dtype !== 'f16' && t.dtype !== 'bf16')
      throw ntError('NT_DTYPE', `[${op}] ${name} must be a float tensor, got ${t.dtype}`);
  const [dOut, dIn] = w.shape;
  const maxRank = Math.min(dOut, dIn);
  if (typeof o.rank !== 'number' || !Number.isInteger(o.rank) || o.rank < 1 || o.rank > maxRank)
    throw ntError('NT_VALUE', `[${op}] rank must be an integer in [1, ${maxRank}], got ${describe(o.rank)}`);
  if (!['eora', 'svd', 'act-s'].includes(o.method))
    throw ntError('NT_VALUE', `[${op}] method must be 'eora', 'svd' or 'act-s', got ${describe(o.method)}`);
  if (o.svd !== undefined && o.svd !== 'exact' && o.svd !== 'randomized')
    throw ntError('NT_VALUE', `[${op}] svd must be 'exact' or 'randomized', got ${describe(o.svd)}`);
  if (o.eigenFloor !== undefined && !(typeof o.eigenFloor === 'number' && o.eigenFloor >= 0 && o.eigenFloor < 1))
    throw ntError('NT_VALUE', `[${op}] eigenFloor must be a number in [0, 1), got ${describe(o.eigenFloor)}`);
  if (o.factorBits !== undefined && ![2, 3, 4, 8].includes(o.factorBits))
    throw ntError('NT_VALUE', `[${op}] factorBits must be 2, 3, 4 or 8, got ${describe(o.factorBits)}`);
  let covariance: Tensor | undefined;
  let eigen: CovarianceEigen | undefined;
  let meanAbs: Tensor | undefined;
  if (o.method === 'eora') {
    if (o.covariance !== undefined && o.eigen !== undefined) throw ntError('NT_VALUE', `[${op}] give the covariance or its eigen decomposition, not both`);
    if (o.eigen !== undefined) eigen = checkEigen(op, o.eigen, dIn);
    else {
      if (o.covariance === undefined) throw ntError('NT_VALUE', `[${op}] method 'eora' needs the calibration covariance (or its eigen decomposition)`);
      covariance = checkTensor(op, o.covariance, 'covariance');
      if (covariance.ndim !== 2 || covariance.shape[0] !== dIn || covariance.shape[1] !== dIn)
        throw ntError('NT_SHAPE', `[${op}] covariance must be [${dIn}, ${dIn}] (d_in × d_in), got ${shapeString(covariance.shape)}`);
    }
  } else if (o.eigen !== undefined) throw ntError('NT_VALUE', `[${op}] eigen is used by method 'eora' only, got method '${o.method}'`);
  if (o.method === 'act-s') {
    if (o.meanAbs === undefined) throw ntError('NT_VALUE', `[${op}] method 'act-s' needs meanAbs (mean |x| per input column)`);
    meanAbs = checkTensor(op, o.meanAbs, 'meanAbs');
    if (meanAbs.ndim !== 1 || meanAbs.shape[0] !== dIn)
      throw ntError('NT_SHAPE', `[${op}] meanAbs must be [${dIn}], got ${shapeString(meanAbs.shape)}`);
  }
  const randomized = o.svd === undefined ? maxRank > 1024 : o.svd === 'randomized';
  return { W: w, Wc: wc, method: o.method, rank: o.rank, randomized, opts: o, covariance, eigen, meanAbs };
}

function checkEigen(op: string, e: unknown, dIn: number): CovarianceEigen {
  if (e === null || typeof e !== 'object') throw ntError('NT_VALUE', `[${op}] eigen must be { values, vectors } (from covarianceEigen), got ${describe(e)}`);
  const { values, vectors } = e as CovarianceEigen;
  const v = checkTensor(op, values, 'eigen.values');
  const q = checkTensor(op, vectors, 'eigen.vectors');
  if (v.ndim !== 1 || v.shape[0] !== dIn || q.ndim !== 2 || q.shape[0] !== dIn || q.shape[1] !== dIn)
    throw ntError('NT_SHAPE', `[${op}] eigen must hold values [${dIn}] and vectors [${dIn}, ${dIn}], got ${shapeString(v.shape)} and ${shapeString(q.shape)}`);
  for (const [t, name] of [[v, 'values'], [q, 'vectors']] as const)
    if (t.dtype !== 'f64') throw ntError('NT_DTYPE', `[${op}] eigen.${name} must be f64 (covarianceEigen's output), got ${t.dtype}`);
  return e as CovarianceEigen;
}

const EIGEN_OP = 'llm.covarianceEigen';

function* eigenSteps(cov: unknown): Job<CovarianceEigen> {
  const c = checkTensor(EIGEN_OP, cov, 'covariance');
  if (c.ndim !== 2 || c.shape[0] !== c.shape[1]) throw ntError('NT_SHAPE', `[${EIGEN_OP}] covariance must be square [d_in, d_in], got ${shapeString(c.shape)}`);
  const c64 = c.dtype === 'f64' ? c : c.astype('f64');
  try {
    const { values, vectors } = yield* step(() => eigh(c64), () => eighAsync(c64));
    return {
      values,
      vectors,
      dispose() {
        values.dispose();
        vectors.dispose();
      },
    };
  } finally {
    dropIfNew(c64, c);
  }
}

/** The f64 eigendecomposition of a covariance, for compensate's `eigen` (one per shared input). */
export function covarianceEigen(covariance: Tensor): CovarianceEigen {
  return runSync(eigenSteps(covariance));
}

/** covarianceEigen with the eigh on a worker thread. */
export function covarianceEigenAsync(covariance: Tensor): Promise<CovarianceEigen> {
  return runAsync(eigenSteps(covariance));
}

const f32 = (t: Tensor): Tensor => (t.dtype === 'f32' ? t : t.astype('f32'));
const dropIfNew = (t: Tensor, original: Tensor): void => {
  if (t !== original) t.dispose();
};

/** Reads a small tensor as float64 numbers. */
function numbers(t: Tensor): Float64Array {
  const out = new Float64Array(t.size);
  const flat = t.contiguous();
  const d = flat.astype('f64');
  out.set(d.data as Float64Array);
  if (flat !== t) flat.dispose();
  d.dispose();
  return out;
}

function fromNumbers(values: Float64Array, shape: number[]): Tensor {
  const t = Tensor._empty(OP, shape, 'f32');
  (t.data as Float32Array).set(values);
  return t;
}

/** Eigen-scaling of the covariance: Q·diag(√λ) and Q·diag(1/√λ) (f32), with the guard applied. */
function* eigenScaling(p: Plan, floor: number): Job<{ scaled: Tensor; inverseScaled: Tensor; dropped: number; droppedEnergy: number }> {
  const given = p.eigen; // the caller's: read, never disposed here
  const e = given ?? (yield* eigenSteps(p.covariance!));
  let q: Tensor;
  let lambda: Float64Array;
  try {
    lambda = numbers(e.values);
    if (lambda.some((l) => !Number.isFinite(l))) throw ntError('NT_VALUE', `[${OP}] the covariance has non-finite eigenvalues`);
    q = e.vectors.astype('f32');
  } finally {
    if (!given) e.dispose();
  }
  const n = lambda.length;
  // eigh sorts ascending; a max that does not rely on it keeps a caller's eigen safe too
  const lambdaMax = lambda.reduce((m, l) => Math.max(m, l), n > 0 ? lambda[0] : 0);
  const cutoff = Math.max(lambdaMax, 0) * floor;
  const root = new Float64Array(n);
  const inverseRoot = new Float64Array(n);
  let dropped = 0;
  let energy = 0;
  let droppedSum = 0;
  for (let j = 0; j < n; ++j) {
    energy += Math.max(lambda[j], 0);
    if (lambda[j] > cutoff) {
      root[j] = Math.sqrt(lambda[j]);
      inverseRoot[j] = 1 / root[j];
    } else {
      dropped++;
      droppedSum += Math.max(lambda[j], 0);
    }
  }
  const droppedEnergy = energy > 0 ? droppedSum / energy : 0;
  const r = fromNumbers(root, [1, n]);
  const ir = fromNumbers(inverseRoot, [1, n]);
  let scaled: Tensor | null = null;
  try {
    // d_in² products: on a worker in the async driver, like the GEMMs around them
    scaled = yield* step(() => mul(q, r), () => mulAsync(q, r));
    const inverseScaled = yield* step(() => mul(q, ir), () => mulAsync(q, ir));
    const out = { scaled, inverseScaled, dropped, droppedEnergy };
    scaled = null;
    return out;
  } finally {
    scaled?.dispose();
    q.dispose();
    r.dispose();
    ir.dispose();
  }
}

/** Top-r SVD triplets of m (exact or randomized). */
function* topSingular(m: Tensor, p: Plan): Job<{ U: Tensor; S: Float64Array; Vt: Tensor }> {
  const r = p.rank;
  if (p.randomized) {
    const o = { oversample: p.opts.oversample, powerIters: p.opts.powerIters ?? 4, seed: p.opts.seed ?? 0 };
    const res = yield* step(() => rsvd(m, r, o), () => rsvdAsync(m, r, o));
    const S = numbers(res.S);
    res.S.dispose();
    return { U: res.U, S, Vt: res.Vt };
  }
  const res = yield* step(() => svd(m, { full: false }), () => svdAsync(m, { full: false }));
  const firstColumns = res.U!.slice(null, [0, r]);
  const firstRows = res.Vt!.slice([0, r]);
  const U = firstColumns.contiguous();
  const Vt = firstRows.contiguous();
  firstColumns.dispose();
  firstRows.dispose();
  const S = numbers(res.S).slice(0, r);
  res.U!.dispose();
  res.Vt!.dispose();
  res.S.dispose();
  return { U, S, Vt };
}

/** Quantize-then-dequantize a factor (RTN); returns the dense factor and its stored bytes. */
function roundTripFactor(f: Tensor, bits: 2 | 3 | 4 | 8, group: EoraOptions['factorGroupSize']): { dense: Tensor; bytes: number } {
  const cols = f.shape[1];
  const groupSize = group ?? (cols >= 128 ? 128 : 'row');
  const q = quantize(f, { bits, groupSize: groupSize === 'row' || groupSize <= cols ? groupSize : 'row', method: 'rtn' });
  const dense = dequantize(q);
  const bytes = q.bytes;
  q.dispose();
  return { dense, bytes };
}

function* compensationSteps(p: Plan): Job<Compensation> {
  const w = f32(p.W);
  const wc = f32(p.Wc);
  let delta: Tensor;
  try {
    delta = yield* step(() => sub(w, wc), () => subAsync(w, wc));
  } finally {
    dropIfNew(w, p.W);
    dropIfNew(wc, p.Wc);
  }
  // target = ΔW · M (M = Q' for eora, diag(s) for act-s, I for svd); A = √S Vᵀ · back (back = M⁺)
  let target = delta;
  let back: Tensor | null = null; // multiplies A from the right: A = (√S Vt) · back
  let backTransposed = false;
  let dropped = 0;
  let droppedEnergy = 0;
  try {
    if (p.method === 'eora') {
      const e = yield* eigenScaling(p, p.opts.eigenFloor ?? DEFAULT_EIGEN_FLOOR);
      dropped = e.dropped;
      droppedEnergy = e.droppedEnergy;
      target = yield* step(() => matmul(delta, e.scaled), () => matmulAsync(delta, e.scaled));
      e.scaled.dispose();
      back = e.inverseScaled; // Q diag(1/√λ): A = (√S Vt) · (Q diag(1/√λ))ᵀ
      backTransposed = true;
    } else if (p.method === 'act-s') {
      const s = numbers(p.meanAbs!);
      if (s.some((v) => !Number.isFinite(v) || v < 0))
        throw ntError('NT_VALUE', `[${OP}] meanAbs must be finite and non-negative`);
      const inv = s.map((v) => (v > 0 ? 1 / v : 0));
      const sRow = fromNumbers(s, [1, s.length]);
      target = mul(delta, sRow);
      sRow.dispose();
      back = fromNumbers(inv, [1, inv.length]);
    }
    const { U, S, Vt } = yield* topSingular(target, p);
    const root = S.map((v) => Math.sqrt(Math.max(v, 0)));
    const rootRow = fromNumbers(root, [1, p.rank]);
    const B = mul(U, rootRow);
    rootRow.dispose();
    U.dispose();
    const rootCol = fromNumbers(root, [p.rank, 1]);
    const scaledVt = mul(Vt, rootCol);
    rootCol.dispose();
    Vt.dispose();
    let A: Tensor;
    if (back === null) A = scaledVt;
    else if (backTransposed) {
      const b = back;
      A = yield* step(() => matmul(scaledVt, b, { transB: true }), () => matmulAsync(scaledVt, b, { transB: true }));
      scaledVt.dispose();
    } else {
      A = mul(scaledVt, back);
      scaledVt.dispose();
    }
    let bytes = (A.size + B.size) * 4;
    if (p.opts.factorBits !== undefined) {
      const qa = roundTripFactor(A, p.opts.factorBits, p.opts.factorGroupSize);
      const qb = roundTripFactor(B, p.opts.factorBits, p.opts.factorGroupSize);
      A.dispose();
      B.dispose();
      A = qa.dense;
      bytes = qa.bytes + qb.bytes;
      return result(p, A, qb.dense, dropped, droppedEnergy, S, bytes);
    }
    return result(p, A, B, dropped, droppedEnergy, S, bytes);
  } finally {
    if (target !== delta) target.dispose();
    delta.dispose();
    back?.dispose();
  }
}

function result(p: Plan, A: Tensor, B: Tensor, dropped: number, droppedEnergy: number, S: Float64Array, bytes: number): Compensation {
  return {
    A,
    B,
    method: p.method,
    rank: p.rank,
    droppedDirections: dropped,
    droppedEnergy,
    singularValues: S,
    bytes,
    dispose() {
      A.dispose();
      B.dispose();
    },
  };
}

/** Low-rank compensation of W − Wc by EoRA or a baseline (same rank, same output form). */
export function compensate(W: Tensor, Wc: Tensor, opts: CompensationOptions): Compensation {
  const p = plan('llm.compensate', W, Wc, checkOptions<CompensationOptions>('llm.compensate', opts));
  return runSync(compensationSteps(p));
}

/** compensate with the heavy steps (eigh, GEMMs, SVD) on worker threads. */
export async function compensateAsync(W: Tensor, Wc: Tensor, opts: CompensationOptions): Promise<Compensation> {
  const p = plan('llm.compensate', W, Wc, checkOptions<CompensationOptions>('llm.compensate', opts));
  return runAsync(compensationSteps(p));
}

/** EoRA (API.md: nt.llm.eora(W, Wc, cov, { rank })): B [d_out, r], A [r, d_in] with W ≈ Wc + BA. */
export function eora(W: Tensor, Wc: Tensor, covariance: Tensor, opts: EoraOptions): Compensation {
  return compensate(W, Wc, { ...checkOptions<EoraOptions>(OP, opts), method: 'eora', covariance });
}

export async function eoraAsync(W: Tensor, Wc: Tensor, covariance: Tensor, opts: EoraOptions): Promise<Compensation> {
  return compensateAsync(W, Wc, { ...checkOptions<EoraOptions>(OP, opts), method: 'eora', covariance });
}

/**
 * The activation-weighted error ‖E Xᵀ‖_F / √n = √trace(E C Eᵀ) of E = W − Wc − BA (pass no
 * adapter for the compression error alone), from the covariance C = XᵀX / n. Float64 throughout.
 * Wc = null measures the signal ‖W Xᵀ‖_F / √n itself.
 */
export function activationError(W: Tensor, Wc: Tensor | null, covariance: Tensor, adapter?: { A: Tensor; B: Tensor }): number {
  return runSync(activationErrorSteps(W, Wc, covariance, adapter));
}

/** activationError with the f64 GEMM (d_out·d_in² multiply-adds) on a worker thread. */
export function activationErrorAsync(W: Tensor, Wc: Tensor | null, covariance: Tensor, adapter?: { A: Tensor; B: Tensor }): Promise<number> {
  return runAsync(activationErrorSteps(W, Wc, covariance, adapter));
}

function* activationErrorSteps(W: Tensor, Wc: Tensor | null, covariance: Tensor, adapter?: { A: Tensor; B: Tensor }): Job<number> {
  const op = 'llm.activationError';
  const e = yield* residualSteps(op, W, Wc, adapter);
  const given = checkTensor(op, covariance, 'covariance');
  if (given.ndim !== 2 || given.shape[0] !== e.shape[1] || given.shape[1] !== e.shape[1]) {
    e.dispose();
    throw ntError('NT_SHAPE', `[${op}] covariance must be [${e.shape[1]}, ${e.shape[1]}], got ${shapeString(covariance.shape)}`);
  }
  const c = given.dtype === 'f64' ? given : given.astype('f64');
  const owned: Tensor[] = [e];
  if (c !== given) owned.push(c);
  try {
    const ec = yield* step(() => matmul(e, c), () => matmulAsync(e, c));
    owned.push(ec);
    yield* step(() => mul(ec, e, { out: ec }), () => mulAsync(ec, e, { out: ec }));
    const sumT = yield* step(() => sum(ec), () => sumAsync(ec));
    owned.push(sumT);
    const total = (sumT.data as Float64Array)[0];
    return Math.sqrt(Math.max(total, 0));
  } finally {
    owned.forEach((t) => t.dispose());
  }
}

/** The three activation norms a compression report shows (see activationErrors). */
export interface ActivationErrors {
  /** ‖W Xᵀ‖_F / √n. */
  signal: number;
  /** ‖(W − Wc) Xᵀ‖_F / √n. */
  compressed: number;
  /** ‖(W − Wc − BA) Xᵀ‖_F / √n (= compressed without an adapter). */
  compensated: number;
}

/**
 * activationError's three norms from two d_out·d_in² f64 GEMMs instead of three: with
 * E = W − Wc and EC = E·C,
 *   ‖(E − BA)Xᵀ‖²/n = tr(E C Eᵀ) − 2·Σ A ∘ (Bᵀ·EC) + Σ B ∘ (B·(A C Aᵀ)),
 * whose extra terms cost r·d_in² and r·d_out·d_in. The expansion subtracts: its absolute
 * error is about ε_f64·‖E Xᵀ‖²/n, negligible unless the adapter removes all but ~1e-12 of the
 * error energy (then the result is ~1e-8 of the compressed error instead of its exact tiny value).
 */
export function activationErrors(W: Tensor, Wc: Tensor, covariance: Tensor, adapter?: { A: Tensor; B: Tensor }): ActivationErrors {
  return runSync(activationErrorsSteps(W, Wc, covariance, adapter));
}

/** activationErrors with the GEMMs on worker threads. */
export function activationErrorsAsync(W: Tensor, Wc: Tensor, covariance: Tensor, adapter?: { A: Tensor; B: Tensor }): Promise<ActivationErrors> {
  return runAsync(activationErrorsSteps(W, Wc, covariance, adapter));
}

function* activationErrorsSteps(W: Tensor, Wc: Tensor, covariance: Tensor, adapter?: { A: Tensor; B: Tensor }): Job<ActivationErrors> {
  const op = 'llm.activationErrors';
  const owned: Tensor[] = [];
  const keep = <T extends Tensor>(t: T): T => (owned.push(t), t);
  // Σ a ∘ b over all elements, in f64 on a worker
  const dot = function* (a: Tensor, b: Tensor): Job<number> {
    const prod = keep(yield* step(() => mul(a, b), () => mulAsync(a, b)));
    const total = keep(yield* step(() => sum(prod), () => sumAsync(prod)));
    return (total.data as Float64Array)[0];
  };
  const mm = (a: Tensor, b: Tensor, opts?: { transA?: boolean; transB?: boolean }) => step(() => matmul(a, b, opts), () => matmulAsync(a, b, opts));
  try {
    const e = keep(yield* residualSteps(op, W, Wc));
    const given = checkTensor(op, covariance, 'covariance');
    if (given.ndim !== 2 || given.shape[0] !== e.shape[1] || given.shape[1] !== e.shape[1])
      throw ntError('NT_SHAPE', `[${op}] covariance must be [${e.shape[1]}, ${e.shape[1]}], got ${shapeString(covariance.shape)}`);
    let a: Tensor | undefined;
    let b: Tensor | undefined;
    if (adapter) {
      a = keep(checkTensor(op, adapter.A, 'A').astype('f64'));
      b = keep(checkTensor(op, adapter.B, 'B').astype('f64'));
      if (a.ndim !== 2 || b.ndim !== 2 || b.shape[0] !== e.shape[0] || a.shape[1] !== e.shape[1] || a.shape[0] !== b.shape[1])
        throw ntError('NT_SHAPE', `[${op}] adapter must be B [${e.shape[0]}, r], A [r, ${e.shape[1]}], got B ${shapeString(adapter.B.shape)}, A ${shapeString(adapter.A.shape)}`);
    }
    const c = given.dtype === 'f64' ? given : keep(given.astype('f64'));
    const w = keep(checkTensor(op, W, 'W').astype('f64'));
    const wc = keep(yield* mm(w, c));
    const signal2 = yield* dot(wc, w);
    const ec = keep(yield* mm(e, c));
    const before2 = yield* dot(ec, e);
    let after2 = before2;
    if (a && b) {
      const btEc = keep(yield* mm(b, ec, { transA: true })); // Bᵀ·EC [r, d_in]
      const cross = yield* dot(a, btEc);
      const ac = keep(yield* mm(a, c)); // A·C [r, d_in]
      const m = keep(yield* mm(ac, a, { transB: true })); // A C Aᵀ [r, r]
      const bm = keep(yield* mm(b, m)); // B·M [d_out, r]
      after2 = before2 - 2 * cross + (yield* dot(bm, b));
    }
    const root = (v: number) => Math.sqrt(Math.max(v, 0));
    return { signal: root(signal2), compressed: root(before2), compensated: root(after2) };
  } finally {
    owned.forEach((t) => t.dispose());
  }
}

/** ‖W − Wc − BA‖_F in float64. */
export function weightError(W: Tensor, Wc: Tensor, adapter?: { A: Tensor; B: Tensor }): number {
  const e = runSync(residualSteps('llm.weightError', W, Wc, adapter));
  const total = (e.data as Float64Array).reduce((a, v) => a + v * v, 0);
  e.dispose();
  return Math.sqrt(total);
}

/** E = W − Wc − BA in f64 (W itself when Wc is null and there is no adapter). */
function* residualSteps(op: string, W: Tensor, Wc: Tensor | null, adapter?: { A: Tensor; B: Tensor }): Job<Tensor> {
  const w = checkTensor(op, W, 'W').astype('f64');
  if (Wc !== null && Wc !== undefined) {
    const wc = checkTensor(op, Wc, 'Wc').astype('f64');
    if (w.ndim !== 2 || wc.ndim !== 2 || w.shape[0] !== wc.shape[0] || w.shape[1] !== wc.shape[1]) {
      w.dispose();
      wc.dispose();
      throw ntError('NT_SHAPE', `[${op}] W and Wc must be 2-D of one shape, got ${shapeString(W.shape)} and ${shapeString(Wc.shape)}`);
    }
    try {
      yield* step(() => sub(w, wc, { out: w }), () => subAsync(w, wc, { out: w }));
    } catch (err) {
      w.dispose();
      throw err;
    } finally {
      wc.dispose();
    }
  } else if (w.ndim !== 2) {
    w.dispose();
    throw ntError('NT_SHAPE', `[${op}] W must be 2-D, got ${shapeString(W.shape)}`);
  }
  if (!adapter) return w;
  const a = checkTensor(op, adapter.A, 'A').astype('f64');
  const b = checkTensor(op, adapter.B, 'B').astype('f64');
  try {
    if (a.ndim !== 2 || b.ndim !== 2 || b.shape[0] !== w.shape[0] || a.shape[1] !== w.shape[1] || a.shape[0] !== b.shape[1])
      throw ntError('NT_SHAPE', `[${op}] adapter must be B [${w.shape[0]}, r], A [r, ${w.shape[1]}], got B ${shapeString(adapter.B.shape)}, A ${shapeString(adapter.A.shape)}`);
    const ba = yield* step(() => matmul(b, a), () => matmulAsync(b, a));
    try {
      yield* step(() => sub(w, ba, { out: w }), () => subAsync(w, ba, { out: w }));
    } finally {
      ba.dispose();
    }
    return w;
  } catch (err) {
    w.dispose();
    throw err;
  } finally {
    a.dispose();
    b.dispose();
  }
}
