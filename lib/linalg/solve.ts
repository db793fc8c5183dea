// nt.linalg.solveTriangular: blocked substitution (one GEMM per 64-row block; see
// native/linalg/triangular.h).
import { ntError } from '../errors';
import { native } from '../native/loader';
import { checkFloat, checkOptions, checkTensor } from '../ops/common';
import { shapeString } from '../shape';
import { Tensor } from '../tensor';
import { boolOption, callNative, callNativeAsync, checkSquare, resultDType } from './factor-util';

export interface SolveTriangularOptions {
  /** a is lower triangular (default true); false: upper. Only that triangle of a is read. */
  lower?: boolean;
  /** Solve A^T X = B instead of A X = B (default false). */
  trans?: boolean;
  /** Take the diagonal of a as ones without reading it (default false). */
  unitDiagonal?: boolean;
}

interface SolveCall {
  a: Tensor;
  b: Tensor;
  x: Tensor;
  lower: boolean;
  trans: boolean;
  unit: boolean;
}

const OP = 'linalg.solveTriangular';

function prepare(a: Tensor, b: Tensor, opts: SolveTriangularOptions | undefined): SolveCall {
  const o = checkOptions<SolveTriangularOptions>(OP, opts);
  const A = checkSquare(OP, a, 'a');
  const B = checkTensor(OP, b, 'b');
  if (B.ndim !== 1 && B.ndim !== 2) throw ntError('NT_SHAPE', `[${OP}] expected b to be 1-D or 2-D, got shape ${shapeString(B.shape)}`);
  checkFloat(OP, B, 'b');
  const n = A.shape[0];
  if (B.shape[0] !== n)
    throw ntError('NT_SHAPE', `[${OP}] b must have ${n} rows (a is ${shapeString(A.shape)}), got shape ${shapeString(B.shape)}`);
  const dtype = resultDType(A);
  if (resultDType(B) !== dtype)
    throw ntError('NT_DTYPE', `[${OP}] a and b must both be f64 or both be f32/f16/bf16, got ${A.dtype} and ${B.dtype}`);
  const lower = boolOption(OP, 'lower', o.lower, true);
  const trans = boolOption(OP, 'trans', o.trans, false);
  const unit = boolOption(OP, 'unitDiagonal', o.unitDiagonal, false);
  return { a: A, b: B, x: Tensor._empty(OP, B.shape, dtype), lower, trans, unit };
}

/**
 * X with op(A) X = B, op(A) = A or A^T (options.trans), A triangular (options.lower; only that
 * triangle is read). b: a vector [n] or a matrix [n, k]; X has b's shape. f64 when a and b are
 * f64, f32 when both are f32/f16/bf16 (mixing f64 with the others is NT_DTYPE). A zero on the
 * diagonal is NT_NUMERIC naming its index; NaN/Inf in the triangle read or in b is NT_VALUE.
 */
export function solveTriangular(a: Tensor, b: Tensor, opts?: SolveTriangularOptions): Tensor {
  const c = prepare(a, b, opts);
  callNative([c.x], () =>
    native.solveTriangular(c.a._storage, c.a._metaArray, c.b._storage, c.b._metaArray, c.x._storage, c.x._metaArray, c.lower, c.trans, c.unit),
  );
  return c.x;
}

/** solveTriangular on a worker thread. */
export async function solveTriangularAsync(a: Tensor, b: Tensor, opts?: SolveTriangularOptions): Promise<Tensor> {
  const c = prepare(a, b, opts);
  await callNativeAsync([c.x], [c.a, c.b], () =>
    native.solveTriangularAsync(
      c.a._storage,
      c.a._metaArray,
      c.b._storage,
      c.b._metaArray,
      c.x._storage,
      c.x._metaArray,
      c.lower,
      c.trans,
      c.unit,
    ),
  );
  return c.x;
}
