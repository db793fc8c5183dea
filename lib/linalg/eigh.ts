// nt.linalg.eigh: symmetric eigendecomposition A = V diag(values) V^T.
//
// Only the lower triangle of `a` (a[i][j], i >= j) is read; the upper triangle is ignored
// (it is still checked for NaN/Inf). f32 and f64 compute in their own dtype (the tridiagonal
// stage always runs in float64); f16/bf16 inputs are converted to f32 and give f32 results.
// Algorithm (LAPACK syevd): blocked Householder tridiagonalization, divide and conquer on the
// tridiagonal matrix (implicit QL when only values are asked for), blocked back-transformation.
import { isFloat } from '../dtype';
import { ntError } from '../errors';
import { native } from '../native/loader';
import { checkOptions, checkTensor, describe } from '../ops/common';
import { shapeString } from '../shape';
import { Tensor } from '../tensor';

export interface EighOptions {
  /** How many eigenpairs to return (0..n); default all n. */
  k?: number;
  /** Which end of the spectrum the k pairs come from; default 'largest'. Either way the result is ascending. */
  which?: 'largest' | 'smallest';
  /** Compute eigenvectors (default true). false: values only, vectors is null. */
  vectors?: boolean;
}

export interface EighResult {
  /** The eigenvalues, ascending: shape [k]. */
  values: Tensor;
  /** Unit eigenvectors in the columns, shape [n, k]: vectors[:, i] pairs with values[i]. */
  vectors: Tensor;
}

export interface EighValuesResult {
  values: Tensor;
  vectors: null;
}

const OP = 'linalg.eigh';

interface Plan {
  input: Tensor;
  /** The f32 copy of an f16/bf16 input, disposed after the call. */
  converted: Tensor | null;
  n: number;
  k: number;
  first: number;
  withVectors: boolean;
}

function plan(a: unknown, opts: unknown): Plan {
  const t = checkTensor(OP, a, 'a');
  const o = checkOptions<EighOptions>(OP, opts);
  if (t.ndim !== 2) throw ntError('NT_SHAPE', `[${OP}] expected a 2-D tensor, got shape ${shapeString(t.shape)}`);
  if (t.shape[0] !== t.shape[1])
    throw ntError('NT_SHAPE', `[${OP}] expected a square matrix, got shape ${shapeString(t.shape)}`);
  if (!isFloat(t.dtype)) throw ntError('NT_DTYPE', `[${OP}] a must be f32, f64, f16 or bf16, got ${t.dtype}`);
  const n = t.shape[0];
  let k = n;
  if (o.k !== undefined) {
    if (typeof o.k !== 'number' || !Number.isInteger(o.k) || o.k < 0 || o.k > n)
      throw ntError('NT_VALUE', `[${OP}] k must be an integer in [0, ${n}], got ${describe(o.k)}`);
    k = o.k;
  }
  const which = o.which ?? 'largest';
  if (which !== 'largest' && which !== 'smallest')
    throw ntError('NT_VALUE', `[${OP}] which must be 'largest' or 'smallest', got ${describe(o.which)}`);
  if (o.vectors !== undefined && typeof o.vectors !== 'boolean')
    throw ntError('NT_VALUE', `[${OP}] vectors must be a boolean, got ${describe(o.vectors)}`);
  const withVectors = o.vectors ?? true;
  const converted = t.dtype === 'f16' || t.dtype === 'bf16' ? t.astype('f32') : null;
  return { input: converted ?? t, converted, n, k, first: which === 'largest' ? n - k : 0, withVectors };
}

function outputs(p: Plan): { values: Tensor; vectors: Tensor | null } {
  const values = Tensor._empty(OP, [p.k], p.input.dtype);
  let vectors: Tensor | null = null;
  try {
    if (p.withVectors) vectors = Tensor._empty(OP, [p.n, p.k], p.input.dtype);
  } catch (e) {
    values.dispose();
    throw e;
  }
  return { values, vectors };
}

function nativeArgs(p: Plan, values: Tensor, vectors: Tensor | null) {
  return [
    p.input._storage,
    p.input._metaArray,
    values._storage,
    values._metaArray,
    vectors ? vectors._storage : null,
    vectors ? vectors._metaArray : null,
    p.first,
  ] as const;
}

/**
 * Eigenvalues (ascending) and eigenvectors of the symmetric matrix `a` (lower triangle read).
 * `{ k, which }` selects the k largest (default) or smallest pairs, still in ascending order.
 * Errors: NT_SHAPE (not a square 2-D tensor), NT_DTYPE (not a float dtype), NT_VALUE (NaN/Inf in a,
 * bad options), NT_DISPOSED, NT_NUMERIC (an iteration did not converge).
 */
export function eigh(a: Tensor, opts: EighOptions & { vectors: false }): EighValuesResult;
export function eigh(a: Tensor, opts?: EighOptions): EighResult;
export function eigh(a: Tensor, opts?: EighOptions): EighResult | EighValuesResult {
  const p = plan(a, opts);
  try {
    const { values, vectors } = outputs(p);
    try {
      native.eigh(...nativeArgs(p, values, vectors));
    } catch (e) {
      values.dispose();
      vectors?.dispose();
      throw e;
    }
    return { values, vectors } as EighResult | EighValuesResult;
  } finally {
    p.converted?.dispose();
  }
}

/** eigh on a worker thread (the event loop stays free); same options, results and errors. */
export async function eighAsync(a: Tensor, opts: EighOptions & { vectors: false }): Promise<EighValuesResult>;
export async function eighAsync(a: Tensor, opts?: EighOptions): Promise<EighResult>;
export async function eighAsync(a: Tensor, opts?: EighOptions): Promise<EighResult | EighValuesResult> {
  const p = plan(a, opts);
  try {
    const { values, vectors } = outputs(p);
    try {
      await native.eighAsync(...nativeArgs(p, values, vectors));
    } catch (e) {
      values.dispose();
      vectors?.dispose();
      throw e;
    }
    return { values, vectors } as EighResult | EighValuesResult;
  } finally {
    // the addon pins the storages while the job runs; the converted copy is freed once it is done
    p.converted?.dispose();
  }
}
