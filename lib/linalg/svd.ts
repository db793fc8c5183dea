// nt.linalg.svd: dense singular value decomposition A = U diag(S) Vt.
//
// f32 and f64 compute in their own dtype; f16/bf16 inputs are read as f32 and give f32
// results. Any strided 2-D view is accepted. Algorithm (LAPACK gesdd structure, see
// native/linalg/svd.h): QR first when m >= 1.6 n, blocked Householder bidiagonalization
// (GEMM trailing updates), then for min(m, n) >= 64 the divide-and-conquer bidiagonal SVD
// (Gu-Eisenstat merges as GEMMs) with the Householder factors applied to its vectors; below
// that, the Demmel-Kahan bidiagonal QR iteration rotating the formed factors in vectorised
// batches. Wide matrices are decomposed through their transpose.
import { isFloat } from '../dtype';
import { ntError } from '../errors';
import { native } from '../native/loader';
import { checkOptions, checkTensor, describe } from '../ops/common';
import { shapeString } from '../shape';
import { Tensor } from '../tensor';

export interface SvdOptions {
  /**
   * false (default): thin factors, U [m, k] and Vt [k, n] with k = min(m, n).
   * true: full orthogonal U [m, m] and Vt [n, n] (the extra columns/rows complete the bases).
   */
  full?: boolean;
  /** Compute U and Vt (default true). false: singular values only; U and Vt are undefined. */
  computeUV?: boolean;
}

export interface SvdResult {
  /** Left singular vectors in the columns: [m, k] (thin) or [m, m] (full). Undefined when computeUV is false. */
  U?: Tensor;
  /** Singular values, descending and >= 0: [k], k = min(m, n). */
  S: Tensor;
  /** Right singular vectors in the rows: [k, n] (thin) or [n, n] (full). Undefined when computeUV is false. */
  Vt?: Tensor;
}

const OP = 'linalg.svd';
const OPTION_KEYS = new Set(['full', 'computeUV']);

interface Plan {
  a: Tensor;
  S: Tensor;
  U?: Tensor;
  Vt?: Tensor;
  full: boolean;
}

function prepare(a: unknown, options: unknown): Plan {
  const opts = checkOptions<SvdOptions>(OP, options);
  for (const key of Object.keys(opts))
    if (!OPTION_KEYS.has(key)) throw ntError('NT_VALUE', `[${OP}] unknown option '${key}' (expected full, computeUV)`);
  const full = opts.full ?? false;
  const computeUV = opts.computeUV ?? true;
  if (typeof full !== 'boolean') throw ntError('NT_VALUE', `[${OP}] full must be a boolean, got ${describe(full)}`);
  if (typeof computeUV !== 'boolean')
    throw ntError('NT_VALUE', `[${OP}] computeUV must be a boolean, got ${describe(computeUV)}`);
  const t = checkTensor(OP, a, 'a');
  if (t.ndim !== 2) throw ntError('NT_SHAPE', `[${OP}] expected a 2-D tensor, got shape ${shapeString(t.shape)}`);
  if (!isFloat(t.dtype))
    throw ntError('NT_DTYPE', `[${OP}] expected a float tensor (f32, f64, f16, bf16), got ${t.dtype}`);
  const [m, n] = t.shape;
  const k = Math.min(m, n);
  const dtype = t.dtype === 'f64' ? 'f64' : 'f32';
  const S = Tensor._empty(OP, [k], dtype);
  if (!computeUV) return { a: t, S, full };
  const U = Tensor._empty(OP, [m, full ? m : k], dtype);
  const Vt = Tensor._empty(OP, [full ? n : k, n], dtype);
  return { a: t, S, U, Vt, full };
}

function release(p: Plan): void {
  p.S.dispose();
  p.U?.dispose();
  p.Vt?.dispose();
}

function result(p: Plan): SvdResult {
  return p.U ? { U: p.U, S: p.S, Vt: p.Vt } : { S: p.S };
}

/**
 * Singular value decomposition a = U diag(S) Vt of a 2-D float tensor (tall or wide).
 * Singular vectors are unique only up to sign (and to rotation within repeated values):
 * compare them by subspace. Errors: NT_SHAPE (not 2-D), NT_DTYPE (integer input), NT_VALUE
 * (NaN/Inf in a, bad options), NT_DISPOSED, NT_NUMERIC (the iteration did not converge).
 */
export function svd(a: Tensor, opts?: SvdOptions): SvdResult {
  const p = prepare(a, opts);
  try {
    if (p.U && p.Vt)
      native.svd(p.a._storage, p.a._metaArray, p.S._storage, p.S._metaArray, p.U._storage, p.U._metaArray,
        p.Vt._storage, p.Vt._metaArray, p.full);
    else native.svdValues(p.a._storage, p.a._metaArray, p.S._storage, p.S._metaArray);
  } catch (e) {
    release(p);
    throw e;
  }
  return result(p);
}

/** svd on a worker thread (the event loop stays free); same result as svd. */
export async function svdAsync(a: Tensor, opts?: SvdOptions): Promise<SvdResult> {
  const p = prepare(a, opts);
  try {
    if (p.U && p.Vt)
      await native.svdAsync(p.a._storage, p.a._metaArray, p.S._storage, p.S._metaArray, p.U._storage,
        p.U._metaArray, p.Vt._storage, p.Vt._metaArray, p.full);
    else await native.svdValuesAsync(p.a._storage, p.a._metaArray, p.S._storage, p.S._metaArray);
  } catch (e) {
    release(p);
    throw e;
  } finally {
    keep = p.a;
    keep = undefined;
  }
  return result(p);
}

let keep: unknown;
