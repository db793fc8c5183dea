// nt.quant.accumulateCovariance: the native step of calibration statistics (used by
// nt.llm.covariance, which owns the state): for activations x [..., dim] (rows are tokens),
//   gram += XᵀX, sumSq[j] += Σ_t x_tj², sumAbs[j] += Σ_t |x_tj|   (all f64, in place)
// without keeping x. XᵀX is formed per block of 256 tokens by the f32 GEMM (f16/bf16/f32 values
// are exact in f32) and summed in f64, so rounding does not grow with the token count; f64 x
// uses the f64 GEMM (native/quant/covariance.cc). NaN/Inf in x is NT_VALUE and leaves the
// state unchanged.
import { ntError } from '../errors';
import { native } from '../native/loader';
import { checkFloat, checkTensor, describe } from '../ops/common';
import { Tensor } from '../tensor';
import { keep } from './gptq';

const OP = 'llm.covariance.update';

export interface CovarianceState {
  /** f64 [dim, dim], contiguous; null to keep only the column statistics. */
  gram: Tensor | null;
  /** f64 [dim], contiguous. */
  sumSq: Tensor;
  /** f64 [dim], contiguous. */
  sumAbs: Tensor;
  /**
   * true: updates add into gram's lower triangle only and leave the upper one stale, saving a
   * dim² pass per update; symmetrizeCovariance completes gram before it is read. Default false.
   */
  lowerOnly?: boolean;
}

function checkState(op: string, s: CovarianceState): number {
  if (s === null || typeof s !== 'object') throw ntError('NT_VALUE', `[${op}] state must be an object, got ${describe(s)}`);
  const dim = s.sumSq instanceof Tensor ? s.sumSq.shape[0] : -1;
  const check = (t: unknown, name: string, shape: number[]) => {
    const x = checkTensor(op, t, name);
    if (x.dtype !== 'f64') throw ntError('NT_DTYPE', `[${op}] ${name} must be f64, got ${x.dtype}`);
    if (x.ndim !== shape.length || x.shape.some((d, i) => d !== shape[i]) || !x.isContiguous)
      throw ntError('NT_SHAPE', `[${op}] ${name} must be a contiguous [${shape}], got [${x.shape}]`);
  };
  check(s.sumSq, 'sumSq', [dim]);
  check(s.sumAbs, 'sumAbs', [dim]);
  if (s.gram !== null) check(s.gram, 'gram', [dim, dim]);
  return dim;
}

function prepare(op: string, x: unknown, s: CovarianceState): Tensor {
  const dim = checkState(op, s);
  const t = checkTensor(op, x, 'x');
  checkFloat(op, t, 'x');
  if (t.ndim < 1 || t.shape[t.ndim - 1] !== dim)
    throw ntError('NT_SHAPE', `[${op}] x must be [..., ${dim}], got [${t.shape}]`);
  return t;
}

function rowsOf(t: Tensor): number {
  return t.shape.slice(0, -1).reduce((a, b) => a * b, 1);
}

function args(x: Tensor, s: CovarianceState) {
  return [
    x._storage, x._metaArray,
    s.gram ? s.gram._storage : null, s.gram ? s.gram._metaArray : null,
    s.sumSq._storage, s.sumSq._metaArray,
    s.sumAbs._storage, s.sumAbs._metaArray,
    s.lowerOnly !== true,
  ] as const;
}

/** An empty update: the native call then only mirrors gram's lower triangle into the upper one. */
const noRows = (op: string, s: CovarianceState) => Tensor._empty(op, [0, checkState(op, s)], 'f32');

/** Completes gram's upper triangle from the lower one (a state updated with lowerOnly). */
export function symmetrizeCovariance(state: CovarianceState, op = OP): void {
  const x = noRows(op, state);
  try {
    native.covarianceUpdate(...args(x, { ...state, lowerOnly: false }));
  } finally {
    x.dispose();
  }
}

/** symmetrizeCovariance on a worker thread. */
export async function symmetrizeCovarianceAsync(state: CovarianceState, op = OP): Promise<void> {
  const x = noRows(op, state);
  try {
    await native.covarianceUpdateAsync(...args(x, { ...state, lowerOnly: false }));
  } finally {
    keep([state]);
    x.dispose();
  }
}

/** Adds x's second moments to the state in place; returns the number of tokens (rows) added. */
export function accumulateCovariance(x: Tensor, state: CovarianceState, op = OP): number {
  const t = prepare(op, x, state);
  native.covarianceUpdate(...args(t, state));
  return rowsOf(t);
}

/** accumulateCovariance on a worker thread. */
export async function accumulateCovarianceAsync(x: Tensor, state: CovarianceState, op = OP): Promise<number> {
  const t = prepare(op, x, state);
  try {
    await native.covarianceUpdateAsync(...args(t, state));
  } finally {
    keep([x, state]);
  }
  return rowsOf(t);
}
