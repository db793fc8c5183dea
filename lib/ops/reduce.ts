// Reductions: sum, mean, max, min, argmax, norm — over one axis or over every element
// (axis omitted), with keepdims. Inputs f32/f64/f16/bf16; the result has the input's dtype
// (argmax: i32 indices). Accumulation is f64 for every dtype, in fixed 64K-element pieces
// combined in order, so results do not depend on the thread count.
// Empty reductions: sum (and the 1- and 2-norms) of nothing is 0; mean, max, min, argmax and
// the inf-norm of an empty axis raise NT_VALUE (there is no value to return).
// NaN: sum/mean/norm follow IEEE (NaN in, NaN out); max, min and the inf-norm return NaN
// when the reduced elements contain one; argmax returns the index of the first NaN.
// Ties in argmax go to the first index (-0 and +0 tie).
import { ntError } from '../errors';
import { native } from '../native/loader';
import { normalizeAxis, numel, shapeString } from '../shape';
import type { Tensor } from '../tensor';
import { OutOptions, OutputPlan, checkFloat, checkOptions, checkTensor, planOutput, runAsync, runSync, tensorOperand } from './common';

export interface ReduceOptions extends OutOptions {
  /** Axis to reduce (negative counts from the end); omitted: every element. */
  axis?: number;
  /** Keep the reduced axis (or every axis, for a full reduction) as extent 1. */
  keepdims?: boolean;
}

export interface NormOptions extends ReduceOptions {
  /** 2 (default, Euclidean), 1 (sum of |x|) or Infinity (max |x|). */
  ord?: 1 | 2 | number;
}

type ReduceName = 'sum' | 'mean' | 'max' | 'min' | 'argmax' | 'norm';

interface ReduceCall {
  x: Tensor;
  axis: number | null;
  ord: number;
  plan: OutputPlan;
}

function prepare(op: ReduceName, x: Tensor, axisOrOpts: number | NormOptions | undefined): ReduceCall {
  const opts: NormOptions =
    typeof axisOrOpts === 'number' ? { axis: axisOrOpts } : checkOptions<NormOptions>(op, axisOrOpts);
  const t = checkTensor(op, x, 'x');
  checkFloat(op, t, 'x');
  const keepdims = opts.keepdims ?? false;
  if (typeof keepdims !== 'boolean') throw ntError('NT_VALUE', `[${op}] keepdims must be a boolean, got ${String(keepdims)}`);
  const ord = opts.ord ?? 2;
  if (op === 'norm' && ord !== 1 && ord !== 2 && ord !== Infinity)
    throw ntError('NT_VALUE', `[norm] ord must be 1, 2 or Infinity, got ${String(ord)}`);
  const axis = opts.axis === undefined ? null : normalizeAxis(op, opts.axis, t.ndim);
  let shape: number[];
  let reduced: number;
  if (axis === null) {
    shape = keepdims ? t.shape.map(() => 1) : [];
    reduced = t.size;
  } else {
    shape = keepdims ? t.shape.map((d, i) => (i === axis ? 1 : d)) : t.shape.filter((_, i) => i !== axis);
    reduced = t.shape[axis];
  }
  const needsElements = op === 'mean' || op === 'max' || op === 'min' || op === 'argmax' || (op === 'norm' && ord === Infinity);
  if (needsElements && reduced === 0 && numel(shape) > 0) {
    const what = axis === null ? `an empty tensor ${shapeString(t.shape)}` : `axis ${axis} of extent 0 (shape ${shapeString(t.shape)})`;
    throw ntError('NT_VALUE', `[${op}] cannot reduce ${what}: the result is undefined`);
  }
  if (op === 'argmax' && reduced > 2 ** 31 - 1)
    throw ntError('NT_VALUE', `[argmax] ${reduced} elements exceed the i32 index range`);
  const plan = planOutput(op, opts.out, shape, op === 'argmax' ? 'i32' : t.dtype, [tensorOperand(t)], false);
  return { x: t, axis, ord, plan };
}

function reduce(op: ReduceName, x: Tensor, axisOrOpts?: number | NormOptions): Tensor {
  const c = prepare(op, x, axisOrOpts);
  return runSync(c.plan, (t) =>
    op === 'norm'
      ? native.norm(c.x._storage, c.x._metaArray, t._storage, t._metaArray, c.axis, c.ord)
      : native[op](c.x._storage, c.x._metaArray, t._storage, t._metaArray, c.axis),
  );
}

async function reduceAsync(op: ReduceName, x: Tensor, axisOrOpts?: number | NormOptions): Promise<Tensor> {
  const c = prepare(op, x, axisOrOpts);
  return runAsync(c.plan, [c.x], (t) =>
    op === 'norm'
      ? native.normAsync(c.x._storage, c.x._metaArray, t._storage, t._metaArray, c.axis, c.ord)
      : native[`${op}Async`](c.x._storage, c.x._metaArray, t._storage, t._metaArray, c.axis),
  );
}

/** Sum over `axis` (or every element). sum(x, 1) is sum(x, { axis: 1 }). */
export function sum(x: Tensor, axisOrOpts?: number | ReduceOptions): Tensor {
  return reduce('sum', x, axisOrOpts);
}
/** Arithmetic mean over `axis` (or every element). */
export function mean(x: Tensor, axisOrOpts?: number | ReduceOptions): Tensor {
  return reduce('mean', x, axisOrOpts);
}
/** Maximum over `axis` (or every element); NaN if any reduced element is NaN. */
export function max(x: Tensor, axisOrOpts?: number | ReduceOptions): Tensor {
  return reduce('max', x, axisOrOpts);
}
/** Minimum over `axis` (or every element); NaN if any reduced element is NaN. */
export function min(x: Tensor, axisOrOpts?: number | ReduceOptions): Tensor {
  return reduce('min', x, axisOrOpts);
}
/** i32 index of the maximum along `axis` (flat row-major index when axis is omitted). */
export function argmax(x: Tensor, axisOrOpts?: number | ReduceOptions): Tensor {
  return reduce('argmax', x, axisOrOpts);
}
/** Vector norm over `axis` (or every element): ord 2 (default), 1 or Infinity. */
export function norm(x: Tensor, opts?: NormOptions): Tensor {
  return reduce('norm', x, opts);
}

export function sumAsync(x: Tensor, axisOrOpts?: number | ReduceOptions): Promise<Tensor> {
  return reduceAsync('sum', x, axisOrOpts);
}
export function meanAsync(x: Tensor, axisOrOpts?: number | ReduceOptions): Promise<Tensor> {
  return reduceAsync('mean', x, axisOrOpts);
}
export function maxAsync(x: Tensor, axisOrOpts?: number | ReduceOptions): Promise<Tensor> {
  return reduceAsync('max', x, axisOrOpts);
}
export function minAsync(x: Tensor, axisOrOpts?: number | ReduceOptions): Promise<Tensor> {
  return reduceAsync('min', x, axisOrOpts);
}
export function argmaxAsync(x: Tensor, axisOrOpts?: number | ReduceOptions): Promise<Tensor> {
  return reduceAsync('argmax', x, axisOrOpts);
}
export function normAsync(x: Tensor, opts?: NormOptions): Promise<Tensor> {
  return reduceAsync('norm', x, opts);
}
