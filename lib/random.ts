// Seeded random tensors. The generator is Philox4x32-10 keyed by the 64-bit seed (see
// native/ops/random.h for the exact element mapping): the same seed gives the same values
// on every machine and for any thread count; f32 values are the f64 values rounded.
import { DType, checkDType } from './dtype';
import { ntError } from './errors';
import { native } from './native/loader';
import { checkShape } from './shape';
import { Tensor } from './tensor';

export interface RandomOptions {
  /** Non-negative integer below 2^53. Default: a fresh seed from Math.random (not reproducible). */
  seed?: number;
  /** 'f32' (default) or 'f64'; other float dtypes are converted from f32. */
  dtype?: DType;
}

function seedWords(op: string, seed: number | undefined): [number, number] {
  const s = seed ?? Math.floor(Math.random() * 2 ** 53);
  if (typeof s !== 'number' || !Number.isSafeInteger(s) || s < 0)
    throw ntError('NT_VALUE', `[${op}] seed must be a non-negative safe integer, got ${String(seed)}`);
  return [Math.floor(s / 2 ** 32), s % 2 ** 32];
}

function random(op: string, dist: 0 | 1, shape: readonly number[] | number, opts: RandomOptions): Tensor {
  if (opts === null || typeof opts !== 'object') throw ntError('NT_VALUE', `[${op}] options must be an object`);
  const s = checkShape(op, shape);
  const dtype = checkDType(op, opts.dtype ?? 'f32');
  if (dtype !== 'f32' && dtype !== 'f64' && dtype !== 'f16' && dtype !== 'bf16')
    throw ntError('NT_DTYPE', `[${op}] dtype must be a float type, got ${dtype}`);
  const [hi, lo] = seedWords(op, opts.seed);
  const base = Tensor._empty(op, s, dtype === 'f64' ? 'f64' : 'f32');
  native.fillRandom(base._storage, base._metaArray, dist, hi, lo);
  if (dtype === 'f32' || dtype === 'f64') return base;
  try {
    return base.astype(dtype);
  } finally {
    base.dispose();
  }
}

/** Uniform samples in [0, 1). */
export function rand(shape: readonly number[] | number, opts: RandomOptions = {}): Tensor {
  return random('rand', 0, shape, opts);
}

/** Standard normal samples (Box-Muller). */
export function randn(shape: readonly number[] | number, opts: RandomOptions = {}): Tensor {
  return random('randn', 1, shape, opts);
}
