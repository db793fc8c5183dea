// Shared by the ops tests: seeded inputs in any float dtype, float64 readback of any view,
// float64 references (incl. an accurate erfc, which Math lacks) and the tolerance tables.
import * as nt from '../../lib';
import { uniform } from '../helpers/reference';

export type FloatDType = 'f32' | 'f64' | 'f16' | 'bf16';
export const FLOAT_DTYPES: FloatDType[] = ['f32', 'f64', 'f16', 'bf16'];
export const ODD_SIZES = [1, 7, 33, 129, 1031];

/** Seeded uniform values in [lo, hi) as a tensor of `dtype` (rounded to it). */
export function randomTensor(shape: number[], dtype: FloatDType, seed: number, lo = -1, hi = 1): nt.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return nt.tensor(uniform(n, seed, lo, hi), { shape, dtype });
}

/** Tensor from float64 values (rounded to dtype). */
export function fromValues(values: ArrayLike<number>, shape: number[], dtype: FloatDType): nt.Tensor {
  return nt.tensor(Float64Array.from(values), { shape, dtype });
}

/** The logical elements of any view (strided, any dtype) in row-major order, as float64. */
export function values(t: nt.Tensor): Float64Array {
  const c = t.astype('f64');
  try {
    return (c.data as Float64Array).slice();
  } finally {
    c.dispose();
  }
}

/** Unit roundoff of each dtype (half an ulp at 1). */
export const EPS: Record<FloatDType, number> = { f32: 2 ** -24, f64: 2 ** -53, f16: 2 ** -11, bf16: 2 ** -8 };

export interface Tol {
  rtol: number;
  atol: number;
}

/** Expects |got - want| <= atol + rtol |want| elementwise (NaN matches NaN, inf matches inf). */
export function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, tol: Tol, label = ''): void {
  expect(got.length).toBe(want.length);
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < want.length; ++i) {
    const g = got[i];
    const w = want[i];
    if (Number.isNaN(w) || Number.isNaN(g) || !Number.isFinite(w) || !Number.isFinite(g)) {
      if (!Object.is(g, w) && !(g === w)) {
        worst = i;
        worstExcess = Infinity;
        break;
      }
      continue;
    }
    const excess = Math.abs(g - w) - (tol.atol + tol.rtol * Math.abs(w));
    if (excess > worstExcess) {
      worstExcess = excess;
      worst = i;
    }
  }
  if (worst >= 0) {
    throw new Error(
      `${label} element ${worst}: got ${got[worst]}, want ${want[worst]} (rtol ${tol.rtol}, atol ${tol.atol}, |diff| ${Math.abs(got[worst] - want[worst])})`,
    );
  }
}

// ---- float64 references -----------------------------------------------------------------

/**
 * erfc(z) to ~1e-15 relative: the Taylor series of erf for |z| < 0.8 (where 1 - erf does not
 * cancel), the continued fraction beyond (2000 terms below z = 2, 150 above: converged to double
 * precision).
 */
export function erfc(z: number): number {
  if (Number.isNaN(z)) return NaN;
  if (z < 0) return 2 - erfc(-z);
  if (z < 0.8) {
    let term = z;
    let sum = z;
    for (let n = 1; n < 60; ++n) {
      term *= (-z * z) / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    return 1 - (2 / Math.sqrt(Math.PI)) * sum;
  }
  if (z > 27) return 0;
  // erfc(z) = exp(-z^2)/sqrt(pi) * 1/(z + (1/2)/(z + 1/(z + (3/2)/(z + ...)))), evaluated backwards
  let k = z;
  for (let i = z < 2 ? 2000 : 150; i >= 1; --i) k = z + i / 2 / k;
  return Math.exp(-z * z) / (Math.sqrt(Math.PI) * k);
}

export const ref = {
  exp: (x: number) => Math.exp(x),
  log: (x: number) => Math.log(x),
  sqrt: (x: number) => Math.sqrt(x),
  silu: (x: number) => (x >= 0 ? x / (1 + Math.exp(-x)) : (x * Math.exp(x)) / (1 + Math.exp(x))),
  gelu: (x: number) => 0.5 * x * erfc(-x / Math.SQRT2),
  geluTanh: (x: number) => {
    const v = 2 * Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x);
    return v >= 0 ? x / (1 + Math.exp(-v)) : (x * Math.exp(v)) / (1 + Math.exp(v));
  },
};

/** Row-major multi-index of flat position k. */
export function unravel(k: number, shape: readonly number[]): number[] {
  const idx = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; --d) {
    idx[d] = k % shape[d];
    k = Math.floor(k / shape[d]);
  }
  return idx;
}

/** Flat position of a multi-index. */
export function ravel(idx: readonly number[], shape: readonly number[]): number {
  let k = 0;
  for (let d = 0; d < shape.length; ++d) k = k * shape[d] + idx[d];
  return k;
}

/** Seconds-free memory check: the live counters after `fn` equal those before. */
export function expectNoLeak(fn: () => void): void {
  const before = nt.memory();
  fn();
  expect(nt.memory()).toEqual(before);
}
