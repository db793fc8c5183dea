// Shape arithmetic shared by tensors and ops: validation, strides, broadcasting.
import { ntError } from './errors';

export const MAX_DIMS = 8;
/** Largest element count a tensor may have (V8's TypedArray length limit on 64-bit). */
export const MAX_ELEMENTS = 2 ** 32 - 1;

export type Shape = readonly number[];

export function checkShape(op: string, shape: unknown, arg = 'shape'): number[] {
  if (typeof shape === 'number') shape = [shape];
  if (!Array.isArray(shape)) throw ntError('NT_SHAPE', `[${op}] ${arg} must be an array of integers, got ${typeof shape}`);
  if (shape.length > MAX_DIMS) throw ntError('NT_SHAPE', `[${op}] ${arg} has rank ${shape.length}; at most ${MAX_DIMS}`);
  let n = 1;
  for (const d of shape) {
    if (typeof d !== 'number' || !Number.isInteger(d) || d < 0)
      throw ntError('NT_SHAPE', `[${op}] ${arg} must hold non-negative integers, got [${shape.join(', ')}]`);
    n *= d;
  }
  if (n > MAX_ELEMENTS)
    throw ntError('NT_VALUE', `[${op}] ${arg} [${shape.join(', ')}] has ${n} elements; at most ${MAX_ELEMENTS}`);
  return shape.slice() as number[];
}

export function numel(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function contiguousStrides(shape: Shape): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; --i) {
    strides[i] = s;
    s *= shape[i];
  }
  return strides;
}

export function shapeString(shape: Shape): string {
  return `[${shape.join(',')}]`;
}

export function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** numpy broadcasting of two shapes; NT_SHAPE when incompatible. */
export function broadcastShapes(op: string, a: Shape, b: Shape): number[] {
  const n = Math.max(a.length, b.length);
  const out = new Array<number>(n);
  for (let i = 0; i < n; ++i) {
    const da = a[a.length - n + i] ?? 1;
    const db = b[b.length - n + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1)
      throw ntError('NT_SHAPE', `[${op}] shapes ${shapeString(a)} and ${shapeString(b)} do not broadcast`);
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/** Normalises a possibly negative axis; NT_VALUE when out of range. */
export function normalizeAxis(op: string, axis: unknown, ndim: number): number {
  if (typeof axis !== 'number' || !Number.isInteger(axis))
    throw ntError('NT_VALUE', `[${op}] axis must be an integer, got ${String(axis)}`);
  const a = axis < 0 ? axis + ndim : axis;
  if (a < 0 || a >= ndim) throw ntError('NT_VALUE', `[${op}] axis ${axis} out of range for rank ${ndim}`);
  return a;
}
