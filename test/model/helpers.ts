// Shared by the model tests: seeded inputs, float64 readback, fixture locations and the
// tolerance table of the model runner. Imports lib modules directly (not the package index).
import * as fs from 'fs';
import * as path from 'path';
import { tensor } from '../../lib/creation';
import { PACKAGE_ROOT } from '../../lib/native/loader';
import type { Tensor } from '../../lib/tensor';
import { uniform } from '../helpers/reference';

export type FloatDType = 'f32' | 'f64' | 'f16' | 'bf16';

/** The committed f16 copy of the fixture (every machine) and the f32 original (only where ../shared exists). */
export const FIXTURE_F16 = path.join(PACKAGE_ROOT, 'fixtures', 'tinyllama-fortunes');
export const FIXTURE_F32 = path.resolve(PACKAGE_ROOT, '..', 'shared', 'fixtures', 'tinyllama-fortunes');
export const HAVE_F32 = fs.existsSync(path.join(FIXTURE_F32, 'model.safetensors'));

export function randomTensor(shape: number[], dtype: FloatDType, seed: number, lo = -1, hi = 1): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return tensor(uniform(n, seed, lo, hi), { shape, dtype });
}

/** The logical elements of any view as float64, row-major. */
export function values(t: Tensor): Float64Array {
  const c = t.astype('f64');
  try {
    return (c.data as Float64Array).slice();
  } finally {
    c.dispose();
  }
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; ++i) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}

export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; ++i) m = Math.max(m, Math.abs(a[i]));
  return m;
}

/** Captures a thrown error's code and message (addon errors come from another realm). */
export function errorOf(fn: () => unknown): { code?: string; message: string } {
  try {
    fn();
  } catch (e) {
    return { code: (e as { code?: string }).code, message: String((e as Error).message) };
  }
  throw new Error('expected an error, none was thrown');
}

export async function asyncErrorOf(p: Promise<unknown>): Promise<{ code?: string; message: string }> {
  try {
    await p;
  } catch (e) {
    return { code: (e as { code?: string }).code, message: String((e as Error).message) };
  }
  throw new Error('expected a rejection, none came');
}

/**
 * Tolerances of the model runner (one table). Each entry says where the number comes from.
 */
export const TOL = {
  /** rope f64 vs the float64 reference: a few ulps of f64. */
  ropeF64: 1e-12,
  /**
   * rope f32/f16/bf16 input vs the float64 reference, per unit of max|x|: HF's f32 angle
   * p·f carries a relative error ~2^-23 (f32 inv_freq and product), i.e. ~1.2e-7·p radians,
   * which moves each output by up to 2·max|x| times that; plus a few f32 roundings.
   */
  ropeF32: (maxPos: number) => 2.5e-7 * (maxPos + 1) + 1e-6,
  /** Logits vs Hugging Face transformers for the f32 fixture (the bound; measured 1.9e-5). */
  logitsF32: 1e-3,
  /**
   * Logits of the f16 copy vs the f32 reference: weights rounded to f16 carry a relative
   * error up to u = 2^-11; a logit of size L moves by at most about u·L if the errors on its
   * path were aligned, and less when they average. Bound: u · max|reference logit|
   * (1.15e-2 for this fixture, max|logit| = 23.5; measured 3.5e-3, mean 6e-4).
   */
  logitsF16PerMaxLogit: 2 ** -11,
  /** Cache decode vs prefill logits, f32: different summation shapes (~3e-5 measured at |logit| ≈ 20). */
  decodeVsPrefill: 2e-4,
  /**
   * Mean NLL per byte vs reference_ppl.json. f32: the logits agree to ~3e-5, averaged over
   * 4095 tokens (measured 3e-8): 1e-5. f16: per-token NLL moves by ~mean|Δlogit| (6e-4) with
   * random sign, averaging down by 1/sqrt(4095) to ~1e-5; 1e-3 leaves a wide margin
   * (measured 2.6e-6).
   */
  nllF32: 1e-5,
  nllF16: 1e-3,
} as const;
