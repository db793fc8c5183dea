// Tensor creation. nt.tensor wraps a TypedArray without copying when its type fits the
// dtype; everything else allocates fresh storage.
import { DType, checkDType, dtypeOfArray, isFloat, isPacked, storageFits, storageLength } from './dtype';
import { ntError } from './errors';
import { checkShape, numel, shapeString } from './shape';
import { Tensor } from './tensor';
import type { Storage } from './native/types';

export type NestedNumbers = number | readonly NestedNumbers[];

export interface TensorOptions {
  shape?: readonly number[];
  dtype?: DType;
}

function inferShape(data: NestedNumbers): number[] {
  const shape: number[] = [];
  let cur: NestedNumbers = data;
  while (Array.isArray(cur)) {
    shape.push(cur.length);
    cur = cur[0];
  }
  return shape;
}

function flatten(data: NestedNumbers, shape: number[], depth: number, out: number[]): void {
  if (depth === shape.length) {
    if (typeof data !== 'number') throw ntError('NT_VALUE', `[tensor] expected a number at depth ${depth}, got ${typeof data}`);
    out.push(data);
    return;
  }
  if (!Array.isArray(data) || data.length !== shape[depth])
    throw ntError('NT_SHAPE', `[tensor] ragged nested array: expected length ${shape[depth]} at depth ${depth}`);
  for (const x of data) flatten(x, shape, depth + 1, out);
}

/**
 * A tensor from a TypedArray (zero-copy when its type fits dtype: Float32Array->f32,
 * Uint16Array->f16/bf16, Uint8Array->u8/u4/i4, ...) or from (nested) number arrays (copied).
 */
export function tensor(data: ArrayBufferView | NestedNumbers, opts: TensorOptions = {}): Tensor {
  if (ArrayBuffer.isView(data)) {
    const own = dtypeOfArray(data);
    if (own === undefined) throw ntError('NT_DTYPE', `[tensor] unsupported TypedArray ${Object.prototype.toString.call(data)}`);
    const dtype = opts.dtype === undefined ? own : checkDType('tensor', opts.dtype);
    const len = (data as Storage).length;
    const shape = checkShape('tensor', opts.shape ?? [isPacked(dtype) ? len * 2 : len]);
    const n = numel(shape);
    if (storageFits(data, dtype)) {
      if (storageLength(dtype, n) !== len)
        throw ntError('NT_SHAPE', `[tensor] shape ${shapeString(shape)} needs ${storageLength(dtype, n)} ${dtype} storage elements, got ${len}`);
      return Tensor._wrap(data as Storage, dtype, shape);
    }
    if (n !== len) throw ntError('NT_SHAPE', `[tensor] shape ${shapeString(shape)} needs ${n} elements, got ${len}`);
    const src = Tensor._wrap(data as Storage, own, shape);
    try {
      return src.astype(dtype);
    } finally {
      src.dispose();
    }
  }
  if (typeof data !== 'number' && !Array.isArray(data))
    throw ntError('NT_VALUE', `[tensor] data must be a TypedArray or (nested) numbers, got ${typeof data}`);
  const dtype = checkDType('tensor', opts.dtype ?? 'f32');
  const inferred = inferShape(data);
  const flat: number[] = [];
  flatten(data, inferred, 0, flat);
  const shape = checkShape('tensor', opts.shape ?? inferred);
  if (numel(shape) !== flat.length)
    throw ntError('NT_SHAPE', `[tensor] shape ${shapeString(shape)} needs ${numel(shape)} elements, got ${flat.length}`);
  const f64 = Tensor._wrap(Float64Array.from(flat), 'f64', shape);
  if (dtype === 'f64') return f64;
  try {
    return f64.astype(dtype);
  } finally {
    f64.dispose();
  }
}

export function zeros(shape: readonly number[] | number, dtype: DType = 'f32'): Tensor {
  return Tensor._empty('zeros', checkShape('zeros', shape), checkDType('zeros', dtype));
}

export function full(shape: readonly number[] | number, value: number, dtype: DType = 'f32'): Tensor {
  const s = checkShape('full', shape);
  const d = checkDType('full', dtype);
  if (typeof value !== 'number') throw ntError('NT_VALUE', `[full] value must be a number, got ${typeof value}`);
  if (!isFloat(d) && !Number.isFinite(value)) throw ntError('NT_VALUE', `[full] ${value} cannot be stored as ${d}`);
  if (d === 'f32' || d === 'f64' || d === 'i32' || d === 'i8' || d === 'u8') {
    const t = Tensor._empty('full', s, d);
    if (value !== 0) t._storage.fill(d === 'i32' || d === 'i8' || d === 'u8' ? saturate(d, value) : value);
    return t;
  }
  // f16/bf16/4-bit: convert one element natively, then replicate its bits
  const one = tensor(new Float64Array([value]), { dtype: 'f64' });
  const cell = one.astype(d);
  one.dispose();
  const t = Tensor._empty('full', s, d);
  if (isPacked(d)) {
    const code = cell._storage[0] & 0xf;
    t._storage.fill(code | (code << 4));
  } else {
    t._storage.fill(cell._storage[0]);
  }
  cell.dispose();
  return t;
}

function saturate(d: 'i32' | 'i8' | 'u8', v: number): number {
  const [lo, hi] = d === 'i32' ? [-(2 ** 31), 2 ** 31 - 1] : d === 'i8' ? [-128, 127] : [0, 255];
  return Math.min(Math.max(Math.trunc(v), lo), hi);
}

export function ones(shape: readonly number[] | number, dtype: DType = 'f32'): Tensor {
  return full(shape, 1, dtype);
}

/** Values start, start+step, ... below stop (numpy semantics); arange(n) counts 0..n-1. */
export function arange(start: number, stop?: number, step = 1, dtype: DType = 'f32'): Tensor {
  if (stop === undefined) {
    stop = start;
    start = 0;
  }
  for (const [k, v] of [['start', start], ['stop', stop], ['step', step]] as const)
    if (typeof v !== 'number' || !Number.isFinite(v)) throw ntError('NT_VALUE', `[arange] ${k} must be a finite number, got ${v}`);
  if (step === 0) throw ntError('NT_VALUE', '[arange] step must not be 0');
  const n = Math.max(0, Math.ceil((stop - start) / step));
  const d = checkDType('arange', dtype);
  const f64 = Tensor._empty('arange', checkShape('arange', [n]), 'f64');
  const s = f64._storage;
  for (let i = 0; i < n; ++i) s[i] = start + i * step;
  if (d === 'f64') return f64;
  try {
    return f64.astype(d);
  } finally {
    f64.dispose();
  }
}

/** n×m identity (m defaults to n). */
export function eye(n: number, dtype: DType = 'f32', m: number = n): Tensor {
  const s = checkShape('eye', [n, m]);
  const d = checkDType('eye', dtype);
  const f = Tensor._empty('eye', s, 'f64');
  for (let i = 0; i < Math.min(n, m); ++i) f._storage[i * m + i] = 1;
  if (d === 'f64') return f;
  try {
    return f.astype(d);
  } finally {
    f.dispose();
  }
}
