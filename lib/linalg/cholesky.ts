// nt.linalg.cholesky / choleskyInverse / choleskySolve: blocked left-looking Cholesky (GEMM
// updates), potri-style inverse, and the two triangular solves (see native/linalg/cholesky.h).
import { native } from '../native/loader';
import { checkOptions } from '../ops/common';
import { Tensor } from '../tensor';
import { boolOption, callNative, callNativeAsync, checkSquare, resultDType } from './factor-util';
import { solveTriangular, solveTriangularAsync } from './solve';

export interface CholeskyOptions {
  /**
   * true (default): the factor is lower triangular L with A = L L^T, and only the lower triangle
   * of the input is read. false: the factor is upper triangular U = L^T with A = U^T U, and only
   * the upper triangle is read.
   */
  lower?: boolean;
}

interface FactorCall {
  a: Tensor;
  out: Tensor;
  upper: boolean;
}

function prepare(op: string, a: Tensor, arg: string, opts: CholeskyOptions | undefined): FactorCall {
  const o = checkOptions<CholeskyOptions>(op, opts);
  const x = checkSquare(op, a, arg);
  const lower = boolOption(op, 'lower', o.lower, true);
  return { a: x, out: Tensor._empty(op, x.shape, resultDType(x)), upper: !lower };
}

/**
 * Cholesky factor of a symmetric positive definite matrix: L (lower, A = L L^T) or, with
 * { lower: false }, U = L^T. Only the triangle named by `lower` is read (the other is ignored,
 * NaN included). f64 input computes in f64, f32/f16/bf16 in f32. A matrix that is not positive
 * definite is NT_NUMERIC naming the first failing pivot (0-based: the leading minor of order
 * pivot + 1 is not positive definite) and its value; non-square is NT_SHAPE; NaN/Inf is NT_VALUE.
 */
export function cholesky(a: Tensor, opts?: CholeskyOptions): Tensor {
  const c = prepare('linalg.cholesky', a, 'a', opts);
  callNative([c.out], () => native.cholesky(c.a._storage, c.a._metaArray, c.out._storage, c.out._metaArray, c.upper));
  return c.out;
}

/** cholesky on a worker thread. */
export async function choleskyAsync(a: Tensor, opts?: CholeskyOptions): Promise<Tensor> {
  const c = prepare('linalg.cholesky', a, 'a', opts);
  await callNativeAsync([c.out], [c.a], () =>
    native.choleskyAsync(c.a._storage, c.a._metaArray, c.out._storage, c.out._metaArray, c.upper),
  );
  return c.out;
}

/**
 * A^-1 from the Cholesky factor of A (LAPACK potri): L^-1 by blocked triangular inversion, then
 * L^-T L^-1; the result is exactly symmetric. `l` is lower (default) or, with { lower: false },
 * the upper factor U; only that triangle is read. A zero on its diagonal is NT_NUMERIC.
 */
export function choleskyInverse(l: Tensor, opts?: CholeskyOptions): Tensor {
  const c = prepare('linalg.choleskyInverse', l, 'l', opts);
  callNative([c.out], () => native.choleskyInverse(c.a._storage, c.a._metaArray, c.out._storage, c.out._metaArray, c.upper));
  return c.out;
}

/** choleskyInverse on a worker thread. */
export async function choleskyInverseAsync(l: Tensor, opts?: CholeskyOptions): Promise<Tensor> {
  const c = prepare('linalg.choleskyInverse', l, 'l', opts);
  await callNativeAsync([c.out], [c.a], () =>
    native.choleskyInverseAsync(c.a._storage, c.a._metaArray, c.out._storage, c.out._metaArray, c.upper),
  );
  return c.out;
}

/**
 * X with A X = B given the Cholesky factor of A (lower L, or upper U with { lower: false }):
 * two triangular solves. b is [n] or [n, k]; errors as solveTriangular.
 */
export function choleskySolve(l: Tensor, b: Tensor, opts?: CholeskyOptions): Tensor {
  const lower = boolOption('linalg.choleskySolve', 'lower', checkOptions<CholeskyOptions>('linalg.choleskySolve', opts).lower, true);
  // L L^T x = b: L y = b, L^T x = y.  U^T U x = b: U^T y = b, U x = y.
  const y = solveTriangular(l, b, { lower, trans: !lower });
  try {
    return solveTriangular(l, y, { lower, trans: lower });
  } finally {
    y.dispose();
  }
}

/** choleskySolve on a worker thread. */
export async function choleskySolveAsync(l: Tensor, b: Tensor, opts?: CholeskyOptions): Promise<Tensor> {
  const lower = boolOption('linalg.choleskySolve', 'lower', checkOptions<CholeskyOptions>('linalg.choleskySolve', opts).lower, true);
  const y = await solveTriangularAsync(l, b, { lower, trans: !lower });
  try {
    return await solveTriangularAsync(l, y, { lower, trans: lower });
  } finally {
    y.dispose();
  }
}
