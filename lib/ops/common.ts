// Shared by every op family: argument checks, the output plan ({ out } validation, fresh
// allocation, overlap handling) and the sync/async call wrappers.
//
// Aliasing rule: out may be exactly the same view as an input of the same shape (in place)
// for the elementwise ops, softmax and rmsnorm. Any other overlap between out and an input
// (same storage, intersecting element ranges) is resolved by computing into a temporary and
// copying it into out afterwards, so the result is always as if the inputs were read first.
import { DType, isFloat } from '../dtype';
import { ntError } from '../errors';
import type { Meta, Storage } from '../native/types';
import { sameShape, shapeString } from '../shape';
import { Tensor, copyInto } from '../tensor';

export interface OutOptions {
  /** Write the result here (validated before anything is written) and return it. */
  out?: Tensor;
}

/** The storage-level description of an operand, possibly a broadcast (stride-0) view. */
export interface Operand {
  storage: Storage;
  meta: Meta;
  dtype: DType;
  shape: readonly number[];
  strides: readonly number[];
  offset: number;
}

export function checkTensor(op: string, t: unknown, arg: string): Tensor {
  if (!(t instanceof Tensor)) throw ntError('NT_VALUE', `[${op}] ${arg} must be a Tensor, got ${describe(t)}`);
  return t._check(op, arg);
}

export function checkFloat(op: string, t: Tensor, arg: string): void {
  if (!isFloat(t.dtype)) throw ntError('NT_DTYPE', `[${op}] ${arg} must be f32, f64, f16 or bf16, got ${t.dtype}`);
}

export function checkOptions<T extends object>(op: string, opts: unknown): T {
  if (opts === undefined) return {} as T;
  if (opts === null || typeof opts !== 'object' || Array.isArray(opts) || opts instanceof Tensor)
    throw ntError('NT_VALUE', `[${op}] options must be an object, got ${describe(opts)}`);
  return opts as T;
}

export function describe(v: unknown): string {
  if (v instanceof Tensor) return v.toString();
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `${typeof v} ${String(v)}`;
}

export function tensorOperand(t: Tensor): Operand {
  return { storage: t._storage, meta: t._metaArray, dtype: t.dtype, shape: t.shape, strides: t.strides, offset: t.offset };
}

export function makeMeta(dtypeCode: number, shape: readonly number[], strides: readonly number[], offset: number): Meta {
  const n = shape.length;
  const m = new Float64Array(3 + 2 * n);
  m[0] = dtypeCode;
  m[1] = n;
  m[2] = offset;
  for (let i = 0; i < n; ++i) {
    m[3 + i] = shape[i];
    m[3 + n + i] = strides[i];
  }
  return m;
}

/** First and last storage element a view can touch ([0, -1] when it has no elements). */
function span(v: Operand): [number, number] {
  let lo = v.offset;
  let hi = v.offset;
  for (let i = 0; i < v.shape.length; ++i) {
    if (v.shape[i] === 0) return [0, -1];
    const d = (v.shape[i] - 1) * v.strides[i];
    if (d < 0) lo += d;
    else hi += d;
  }
  return [lo, hi];
}

function exactAlias(a: Operand, b: Operand): boolean {
  return (
    a.storage === b.storage &&
    a.dtype === b.dtype &&
    a.offset === b.offset &&
    sameShape(a.shape, b.shape) &&
    a.shape.every((d, i) => d === 1 || a.strides[i] === b.strides[i])
  );
}

function overlaps(a: Operand, b: Operand): boolean {
  if (a.storage !== b.storage) return false;
  const [alo, ahi] = span(a);
  const [blo, bhi] = span(b);
  return alo <= ahi && blo <= bhi && alo <= bhi && blo <= ahi;
}

export interface OutputPlan {
  /** What the native op writes into: out, a fresh tensor, or a temporary. */
  target: Tensor;
  /** Copies a temporary into out (when one was needed) and returns the result. */
  finish(): Tensor;
  /** Frees what the plan allocated; out itself is left untouched. */
  abort(): void;
}

/**
 * Validates opts.out against the result's shape and dtype (NT_VALUE / NT_DISPOSED / NT_SHAPE /
 * NT_DTYPE, before anything is written) or allocates a fresh output.
 */
export function planOutput(
  op: string,
  out: unknown,
  shape: readonly number[],
  dtype: DType,
  inputs: readonly Operand[],
  inPlaceOk: boolean,
): OutputPlan {
  if (out === undefined) {
    const fresh = Tensor._empty(op, shape, dtype);
    return { target: fresh, finish: () => fresh, abort: () => fresh.dispose() };
  }
  if (!(out instanceof Tensor)) throw ntError('NT_VALUE', `[${op}] out must be a Tensor, got ${describe(out)}`);
  out._check(op, 'out');
  if (!sameShape(out.shape, shape))
    throw ntError('NT_SHAPE', `[${op}] out must have shape ${shapeString(shape)}, got ${shapeString(out.shape)}`);
  if (out.dtype !== dtype) throw ntError('NT_DTYPE', `[${op}] out must be ${dtype}, got ${out.dtype}`);
  const o = tensorOperand(out);
  const clash = inputs.some((x) => overlaps(o, x) && !(inPlaceOk && exactAlias(o, x)));
  if (!clash) return { target: out, finish: () => out, abort: () => {} };
  const temp = Tensor._empty(op, shape, dtype);
  return {
    target: temp,
    finish: () => {
      try {
        return copyInto(op, temp, out);
      } finally {
        temp.dispose();
      }
    },
    abort: () => temp.dispose(),
  };
}

export function runSync(plan: OutputPlan, call: (target: Tensor) => void): Tensor {
  try {
    call(plan.target);
  } catch (e) {
    plan.abort();
    throw e;
  }
  return plan.finish();
}

/**
 * Runs the native Async twin. `keep` (the input tensors) stays referenced until the promise
 * settles; the addon pins the storages themselves for the duration of the job.
 */
export async function runAsync(
  plan: OutputPlan,
  keep: readonly unknown[],
  call: (target: Tensor) => Promise<void>,
): Promise<Tensor> {
  try {
    await call(plan.target);
  } catch (e) {
    plan.abort();
    throw e;
  } finally {
    keepAlive(keep);
  }
  return plan.finish();
}

let sink: unknown;
function keepAlive(values: readonly unknown[]): void {
  sink = values;
  sink = undefined;
}
