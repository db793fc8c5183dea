// Shared by the factorization wrappers (qr, cholesky, solve, rsvd): argument and option checks,
// seeds, and calling the native op so that fresh outputs are freed when it fails.
import type { DType } from '../dtype';
import { ntError } from '../errors';
import { checkFloat, checkTensor, describe } from '../ops/common';
import { shapeString } from '../shape';
import type { Tensor } from '../tensor';

/** A 2-D float tensor (NT_VALUE if not a Tensor, NT_DISPOSED, NT_SHAPE, NT_DTYPE). */
export function checkMatrix(op: string, t: unknown, arg: string): Tensor {
  const x = checkTensor(op, t, arg);
  if (x.ndim !== 2) throw ntError('NT_SHAPE', `[${op}] expected ${arg} to be a 2-D tensor, got shape ${shapeString(x.shape)}`);
  checkFloat(op, x, arg);
  return x;
}

export function checkSquare(op: string, t: unknown, arg: string): Tensor {
  const x = checkMatrix(op, t, arg);
  if (x.shape[0] !== x.shape[1])
    throw ntError('NT_SHAPE', `[${op}] expected ${arg} to be a square matrix, got shape ${shapeString(x.shape)}`);
  return x;
}

/** Results are f64 for f64 input and f32 for f32/f16/bf16 (half inputs compute in f32). */
export function resultDType(t: Tensor): DType {
  return t.dtype === 'f64' ? 'f64' : 'f32';
}

export function boolOption(op: string, name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw ntError('NT_VALUE', `[${op}] ${name} must be a boolean, got ${describe(value)}`);
  return value;
}

export function intOption(op: string, name: string, value: unknown, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `in [${min}, ${max}]`;
    throw ntError('NT_VALUE', `[${op}] ${name} must be an integer ${range}, got ${describe(value)}`);
  }
  return value;
}

/** [hi, lo] 32-bit words of a seed (a non-negative safe integer; default: a fresh random one). */
export function seedWords(op: string, seed: unknown): [number, number] {
  const s = seed === undefined ? Math.floor(Math.random() * 2 ** 53) : seed;
  if (typeof s !== 'number' || !Number.isSafeInteger(s) || s < 0)
    throw ntError('NT_VALUE', `[${op}] seed must be a non-negative safe integer, got ${describe(seed)}`);
  return [Math.floor(s / 2 ** 32), s % 2 ** 32];
}

/** Runs the native call; on failure frees the outputs allocated for it and rethrows. */
export function callNative<R>(outputs: readonly Tensor[], call: () => R): R {
  try {
    return call();
  } catch (e) {
    for (const t of outputs) t.dispose();
    throw e;
  }
}

let sink: unknown;

/**
 * Async twin of callNative: `keep` (the inputs) stays referenced until the promise settles (the
 * addon pins the storages themselves while the worker runs).
 */
export async function callNativeAsync<R>(outputs: readonly Tensor[], keep: readonly unknown[], call: () => Promise<R>): Promise<R> {
  try {
    return await call();
  } catch (e) {
    for (const t of outputs) t.dispose();
    throw e;
  } finally {
    sink = keep;
    sink = undefined;
  }
}
