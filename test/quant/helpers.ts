// Shared by the nt.quant tests: seeded weights in any float dtype, float64 readback, an exact
// float32 emulation of the group grid (group_quant.h) and the tolerance table.
import * as nt from '../../lib';
import { uniform } from '../helpers/reference';

export type FloatDType = 'f32' | 'f64' | 'f16' | 'bf16';

/** Seeded uniform values in [lo, hi) as a tensor of `dtype`. */
export function randomTensor(shape: number[], dtype: FloatDType, seed: number, lo = -1, hi = 1): nt.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return nt.tensor(uniform(n, seed, lo, hi), { shape, dtype });
}

/** The logical elements of any view, row-major, as float64. */
export function values(t: nt.Tensor): Float64Array {
  const c = t.astype('f64');
  try {
    return (c.data as Float64Array).slice();
  } finally {
    c.dispose();
  }
}

/** Round half to even (C nearbyint in the default mode, torch.round). */
export function roundEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x - Math.trunc(x)) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** x rounded to the nearest IEEE binary16 value (ties to even; overflow -> ±Infinity). */
export function roundF16(x: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  const a = Math.abs(x);
  const e = Math.max(Math.floor(Math.log2(a)), -14);
  const ulp = 2 ** (e - 10);
  const r = roundEven(a / ulp) * ulp;
  return Math.sign(x) * (r >= 65520 ? Infinity : r);
}

export interface RefParams {
  scale: number;
  zero: number;
}

/** group_params of group_quant.h, emulated exactly in float32 (Math.fround after each op). */
export function refGroupParams(lo: number, hi: number, bits: number, symmetric: boolean, f16: boolean): RefParams {
  const f = Math.fround;
  const maxq = 2 ** bits - 1;
  const round = (s: number) => (f16 ? roundF16(s) : s);
  lo = Math.min(lo, 0);
  hi = Math.max(hi, 0);
  if (symmetric) {
    let scale = round(f(f(2 * Math.max(-lo, hi)) / maxq));
    if (!(scale > 0)) scale = 1;
    return { scale, zero: 2 ** (bits - 1) };
  }
  let scale = round(f(f(hi - lo) / maxq));
  if (!(scale > 0)) scale = 1;
  return { scale, zero: Math.min(Math.max(roundEven(f(-lo / scale)), 0), maxq) };
}

export function refQuantizeValue(x: number, p: RefParams, bits: number): number {
  return Math.min(Math.max(roundEven(Math.fround(x / p.scale)) + p.zero, 0), 2 ** bits - 1);
}

/**
 * Reference RTN of one row-major [rows, cols] f32-rounded weight: codes (unpacked), scales,
 * zeros per [rows, groups].
 */
export function refRtn(w: ArrayLike<number>, rows: number, cols: number, bits: number, gs: number, symmetric: boolean, f16: boolean) {
  const groups = Math.ceil(cols / gs);
  const codes = new Int32Array(rows * cols);
  const scales = new Float64Array(rows * groups);
  const zeros = new Int32Array(rows * groups);
  for (let r = 0; r < rows; ++r) {
    for (let g = 0; g < groups; ++g) {
      const c0 = g * gs;
      const c1 = Math.min(cols, c0 + gs);
      let lo = Infinity;
      let hi = -Infinity;
      for (let c = c0; c < c1; ++c) {
        const x = Math.fround(w[r * cols + c]);
        lo = Math.min(lo, x);
        hi = Math.max(hi, x);
      }
      const p = refGroupParams(lo, hi, bits, symmetric, f16);
      scales[r * groups + g] = p.scale;
      zeros[r * groups + g] = p.zero;
      for (let c = c0; c < c1; ++c) codes[r * cols + c] = refQuantizeValue(Math.fround(w[r * cols + c]), p, bits);
    }
  }
  return { codes, scales, zeros, groups };
}

/** The codes of a QTensor unpacked to one integer per column. */
export function unpackCodes(q: nt.quant.QTensor): Int32Array {
  const [rows, cols] = q.shape;
  const bytes = q.codes.data as Uint8Array;
  const rb = nt.quant.QTensor.codeRowBytes(cols, q.bits);
  const out = new Int32Array(rows * cols);
  for (let r = 0; r < rows; ++r)
    for (let c = 0; c < cols; ++c) {
      const b = bytes[r * rb + (q.bits === 8 ? c : c >> 1)];
      out[r * cols + c] = q.bits === 8 ? b : c & 1 ? b >> 4 : b & 15;
    }
  return out;
}

/**
 * Tolerances of the quant family. |w − dequant(q)| per element is at most
 *   stepFraction · scale                      (half a step: round to nearest)
 * + f16Clip · maxq · scale (f16 scales only: the f16-rounded scale can shrink the covered
 *                           range by up to 2^-11 relative, clipping the extreme weights)
 * + atol                                     (f32 arithmetic of the dequantization)
 */
export const TOL = {
  stepFraction: 0.5 * (1 + 2 ** -20),
  f16Clip: 2 ** -11,
  atol: 1e-6,
};

/** Expects a rejection/throw with this code and a message naming the op. */
export function expectCode(fn: () => unknown, code: string, re: RegExp): void {
  let err: { code?: string; message: string } | undefined;
  try {
    fn();
  } catch (e) {
    err = e as { code?: string; message: string };
  }
  expect(err).toBeDefined();
  expect(err!.code).toBe(code);
  expect(err!.message).toMatch(re);
}

export async function expectRejects(p: Promise<unknown>, code: string, re: RegExp): Promise<void> {
  let err: { code?: string; message: string } | undefined;
  try {
    await p;
  } catch (e) {
    err = e as { code?: string; message: string };
  }
  expect(err).toBeDefined();
  expect(err!.code).toBe(code);
  expect(err!.message).toMatch(re);
}
