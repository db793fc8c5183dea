// add, sub, mul, div with numpy broadcasting. Operands: two tensors of one float dtype
// (f32, f64, f16, bf16), or a tensor and a JS number. f16/bf16 compute in f32 and round the
// result once; a number operand is used in f32 for f32/f16/bf16 tensors (it is not first
// rounded to f16/bf16) and in f64 for f64 tensors. IEEE semantics: NaN and Inf propagate.
import { DTYPE_CODE, DType } from '../dtype';
import { ntError } from '../errors';
import { native } from '../native/loader';
import { broadcastShapes, sameShape } from '../shape';
import { Tensor } from '../tensor';
import {
  Operand,
  OutOptions,
  OutputPlan,
  checkFloat,
  checkOptions,
  describe,
  makeMeta,
  planOutput,
  runAsync,
  runSync,
  tensorOperand,
} from './common';

type BinaryName = 'add' | 'sub' | 'mul' | 'div';

/** A tensor viewed with `shape` (stride 0 on broadcast axes), without creating a Tensor. */
function broadcastOperand(op: string, t: Tensor, shape: readonly number[]): Operand {
  if (sameShape(t.shape, shape)) return tensorOperand(t);
  const lead = shape.length - t.ndim;
  const strides = shape.map((_, i) => {
    const d = i - lead;
    return d < 0 || t.shape[d] === 1 ? 0 : t.strides[d];
  });
  return {
    storage: t._storage,
    meta: makeMeta(DTYPE_CODE[t.dtype], shape, strides, t.offset),
    dtype: t.dtype,
    shape,
    strides,
    offset: t.offset,
  };
}

/** A JS number as a one-element operand broadcast (stride 0) over `shape`. */
function scalarOperand(v: number, dtype: DType, shape: readonly number[]): Operand {
  const computeDtype: DType = dtype === 'f64' ? 'f64' : 'f32';
  const storage = computeDtype === 'f64' ? new Float64Array([v]) : new Float32Array([v]);
  const strides = shape.map(() => 0);
  return { storage, meta: makeMeta(DTYPE_CODE[computeDtype], shape, strides, 0), dtype: computeDtype, shape, strides, offset: 0 };
}

function operandTensor(op: string, v: unknown, arg: string): Tensor | undefined {
  if (typeof v === 'number') return undefined;
  if (!(v instanceof Tensor)) throw ntError('NT_VALUE', `[${op}] ${arg} must be a Tensor or a number, got ${describe(v)}`);
  return v._check(op, arg);
}

interface BinaryCall {
  a: Operand;
  b: Operand;
  plan: OutputPlan;
  keep: unknown[];
}

function prepare(op: BinaryName, a: Tensor | number, b: Tensor | number, options: OutOptions | undefined): BinaryCall {
  const opts = checkOptions<OutOptions>(op, options);
  const aNum = typeof a === 'number';
  const bNum = typeof b === 'number';
  if (aNum && bNum) throw ntError('NT_VALUE', `[${op}] at least one operand must be a Tensor, got two numbers`);
  const ta = operandTensor(op, a, 'a');
  const tb = operandTensor(op, b, 'b');
  if (ta) checkFloat(op, ta, 'a');
  if (tb) checkFloat(op, tb, 'b');
  if (ta && tb && ta.dtype !== tb.dtype)
    throw ntError('NT_DTYPE', `[${op}] a and b must have the same dtype, got ${ta.dtype} and ${tb.dtype}`);
  const dtype = (ta ?? tb)!.dtype;
  const shape = ta && tb ? broadcastShapes(op, ta.shape, tb.shape) : (ta ?? tb)!.shape.slice();
  const oa = ta ? broadcastOperand(op, ta, shape) : scalarOperand(a as number, dtype, shape);
  const ob = tb ? broadcastOperand(op, tb, shape) : scalarOperand(b as number, dtype, shape);
  const inputs = [ta ? oa : undefined, tb ? ob : undefined].filter((x): x is Operand => x !== undefined);
  const plan = planOutput(op, opts.out, shape, dtype, inputs, true);
  return { a: oa, b: ob, plan, keep: [ta, tb] };
}

function binary(op: BinaryName, a: Tensor | number, b: Tensor | number, opts?: OutOptions): Tensor {
  const c = prepare(op, a, b, opts);
  return runSync(c.plan, (t) => native[op](c.a.storage, c.a.meta, c.b.storage, c.b.meta, t._storage, t._metaArray));
}

async function binaryAsync(op: BinaryName, a: Tensor | number, b: Tensor | number, opts?: OutOptions): Promise<Tensor> {
  const c = prepare(op, a, b, opts);
  const fn = native[`${op}Async`];
  return runAsync(c.plan, c.keep, (t) => fn(c.a.storage, c.a.meta, c.b.storage, c.b.meta, t._storage, t._metaArray));
}

/** a + b, broadcast like numpy. `out` may be a or b itself (in place). */
export function add(a: Tensor | number, b: Tensor | number, opts?: OutOptions): Tensor {
  return binary('add', a, b, opts);
}
/** a - b, broadcast like numpy. */
export function sub(a: Tensor | number, b: Tensor | number, opts?: OutOptions): Tensor {
  return binary('sub', a, b, opts);
}
/** a * b, broadcast like numpy. */
export function mul(a: Tensor | number, b: Tensor | number, opts?: OutOptions): Tensor {
  return binary('mul', a, b, opts);
}
/** a / b, broadcast like numpy (IEEE: x / 0 is +-Inf or NaN). */
export function div(a: Tensor | number, b: Tensor | number, opts?: OutOptions): Tensor {
  return binary('div', a, b, opts);
}

export function addAsync(a: Tensor | number, b: Tensor | number, opts?: OutOptions): Promise<Tensor> {
  return binaryAsync('add', a, b, opts);
}
export function subAsync(a: Tensor | number, b: Tensor | number, opts?: OutOptions): Promise<Tensor> {
  return binaryAsync('sub', a, b, opts);
}
export function mulAsync(a: Tensor | number, b: Tensor | number, opts?: OutOptions): Promise<Tensor> {
  return binaryAsync('mul', a, b, opts);
}
export function divAsync(a: Tensor | number, b: Tensor | number, opts?: OutOptions): Promise<Tensor> {
  return binaryAsync('div', a, b, opts);
}
