// softmax and rmsnorm against float64 references (rmsnorm also against HF LlamaRMSNorm's f32
// evaluation order), strided views, in place, IEEE edge cases and every error path.
import * as nt from '../../lib';
import { native } from '../../lib/native/loader';
import { errorOf } from '../helpers/reference';
import { EPS, FLOAT_DTYPES, FloatDType, Tol, expectClose, fromValues, randomTensor, ravel, unravel, values } from './helpers';

/** Applies f to every row along `axis` of the float64 values v (row-major, `shape`). */
function mapRows(v: Float64Array, shape: readonly number[], axis: number, f: (row: number[]) => number[]): Float64Array {
  const out = new Float64Array(v.length);
  const outer = shape.filter((_, i) => i !== axis);
  const rows = outer.reduce((a, b) => a * b, 1);
  for (let r = 0; r < rows; ++r) {
    const idx = unravel(r, outer);
    const at = (k: number) => ravel([...idx.slice(0, axis), k, ...idx.slice(axis)], shape);
    const row = Array.from({ length: shape[axis] }, (_, k) => v[at(k)]);
    f(row).forEach((y, k) => (out[at(k)] = y));
  }
  return out;
}

const softmaxRef = (row: number[]) => {
  const m = Math.max(...row);
  const e = row.map((x) => Math.exp(x - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
};

// Tolerances of the nn family. softmax f32: x - max rounds to f32 (relative error up to
// |x - max| 2^-24 after exp; inputs here span 10), exp <= 1 ulp, the scale 2 roundings.
// rmsnorm f32: 2 ulp of the HF-order f32 evaluation. f16/bf16: half an ulp of the dtype.
const SOFTMAX_TOL: Record<FloatDType, Tol> = {
  f32: { rtol: 1.5e-6, atol: 1e-30 },
  f64: { rtol: 1e-14, atol: 1e-300 },
  f16: { rtol: EPS.f16 * 1.05 + 1.5e-6, atol: 2 ** -25 },
  bf16: { rtol: EPS.bf16 * 1.05, atol: 1e-38 },
};
const RMS_TOL: Record<FloatDType, Tol> = {
  f32: { rtol: 2 * 2 ** -23, atol: 0 },
  f64: { rtol: 1e-15, atol: 0 },
  f16: { rtol: EPS.f16 * 1.05 + 4e-7, atol: 2 ** -25 },
  bf16: { rtol: EPS.bf16 * 1.05 + 4e-7, atol: 0 },
};

describe('softmax', () => {
  it('matches the float64 reference along any axis, for every dtype', () => {
    for (const dtype of FLOAT_DTYPES)
      for (const [shape, axis] of [[[1031], 0], [[33, 17], 0], [[33, 17], 1], [[5, 7, 9], 1], [[4, 3, 129], -1], [[40, 70], 0]] as [number[], number][]) {
        const x = randomTensor(shape, dtype, shape.length + axis, -5, 5);
        const y = nt.softmax(x, axis);
        expect(y.shape).toEqual(shape);
        expect(y.dtype).toBe(dtype);
        const a = axis < 0 ? axis + shape.length : axis;
        expectClose(values(y), mapRows(values(x), shape, a, softmaxRef), SOFTMAX_TOL[dtype], `softmax ${dtype} ${shape} axis ${axis}`);
        [x, y].forEach((t) => t.dispose());
      }
  });

  it('defaults to the last axis, works on strided views, strided outputs and in place', () => {
    const X = randomTensor([17, 40], 'f32', 1, -5, 5);
    const x = X.transpose().slice([3, 36]); // [33, 17], last-axis stride 40
    const want = mapRows(values(x), [33, 17], 1, softmaxRef);
    expectClose(values(nt.softmax(x)), want, SOFTMAX_TOL.f32);
    const O = nt.zeros([17, 33]);
    nt.softmax(x, -1, { out: O.transpose() });
    expectClose(values(O.transpose()), want, SOFTMAX_TOL.f32);
    const y = x.clone();
    expect(nt.softmax(y, 1, { out: y })).toBe(y);
    expectClose(values(y), want, SOFTMAX_TOL.f32);
    const h = randomTensor([6, 9], 'bf16', 2);
    const wantH = mapRows(values(h), [6, 9], 0, softmaxRef);
    nt.softmax(h, 0, { out: h });
    expectClose(values(h), wantH, SOFTMAX_TOL.bf16);
  });

  it('is stable for large magnitudes and follows IEEE for NaN and infinities', () => {
    const x = fromValues([1000, 1001, -1000, 0, /* row 2 */ 1, NaN, 2, 3, /* row 3 */ -Infinity, 0, -Infinity, 0,
      /* row 4 */ -Infinity, -Infinity, -Infinity, -Infinity, /* row 5 */ Infinity, 1, 2, 3], [5, 4], 'f32');
    const y = Array.from(values(nt.softmax(x)));
    const e = Math.exp(-1);
    expectClose(y.slice(0, 4), [e / (1 + e), 1 / (1 + e), 0, 0], { rtol: 1e-6, atol: 0 });
    expect(y.slice(4, 8).every(Number.isNaN)).toBe(true); // a NaN poisons its row only
    expect(y.slice(8, 12)).toEqual([0, 0.5, 0, 0.5]);
    expect(y.slice(12, 16).every(Number.isNaN)).toBe(true); // all -inf: 0/0
    expect(y.slice(16, 20).every(Number.isNaN)).toBe(true); // +inf - +inf
    const f64 = nt.softmax(fromValues([800, -800, 0], [3], 'f64'));
    expect(values(f64)[0]).toBe(1);
  });

  it('handles empty tensors', () => {
    expect(nt.softmax(nt.zeros([0, 5])).shape).toEqual([0, 5]);
    expect(nt.softmax(nt.zeros([3, 0]), 1).shape).toEqual([3, 0]);
  });

  it('rejects bad arguments with coded errors', () => {
    const x = nt.ones([2, 3]);
    expect(errorOf(() => nt.softmax(x, 2))).toMatchObject({ code: 'NT_VALUE', message: '[softmax] axis 2 out of range for rank 2' });
    expect(errorOf(() => nt.softmax(nt.tensor(new Float32Array([1]), { shape: [] })))).toMatchObject({ code: 'NT_VALUE', message: '[softmax] axis -1 out of range for rank 0' });
    expect(errorOf(() => nt.softmax(nt.ones([3], 'i32')))).toMatchObject({ code: 'NT_DTYPE', message: '[softmax] x must be f32, f64, f16 or bf16, got i32' });
    const out = nt.full([2, 3], 8, 'f64');
    expect(errorOf(() => nt.softmax(x, -1, { out }))).toMatchObject({ code: 'NT_DTYPE', message: '[softmax] out must be f32, got f64' });
    expect(Array.from(values(out))).toEqual([8, 8, 8, 8, 8, 8]);
    expect(errorOf(() => nt.softmax(x, -1, { out: nt.zeros([3, 2]) }))).toMatchObject({ code: 'NT_SHAPE', message: '[softmax] out must have shape [2,3], got [3,2]' });
    x.dispose();
    expect(errorOf(() => nt.softmax(x))).toMatchObject({ code: 'NT_DISPOSED', message: '[softmax] x was disposed' });
  });
});

/** HF LlamaRMSNorm in f32: variance = mean(x^2); x * rsqrt(variance + eps); weight * that. */
function rmsHf(dtype: FloatDType, eps: number, w: number[]) {
  const f = dtype === 'f64' ? (v: number) => v : Math.fround;
  return (row: number[]) => {
    const ms = row.reduce((a, x) => a + x * x, 0) / row.length;
    const r = f(1 / Math.sqrt(ms + eps));
    return row.map((x, i) => f(f(x * r) * w[i]));
  };
}

describe('rmsnorm', () => {
  it('matches HF LlamaRMSNorm (f32 evaluation order) for every dtype and odd sizes', () => {
    for (const dtype of FLOAT_DTYPES)
      for (const shape of [[1031], [7, 33], [2, 3, 129], [5, 1]]) {
        const k = shape[shape.length - 1];
        const x = randomTensor(shape, dtype, k, -3, 3);
        const w = randomTensor([k], dtype, k + 1, 0.5, 1.5);
        const y = nt.rmsnorm(x, w);
        expect(y.shape).toEqual(shape);
        expect(y.dtype).toBe(dtype);
        const want = mapRows(values(x), shape, shape.length - 1, rmsHf(dtype === 'f64' ? 'f64' : 'f32', 1e-5, Array.from(values(w))));
        expectClose(values(y), want, RMS_TOL[dtype], `rmsnorm ${dtype} ${shape}`);
        // and the exact float64 formula, within the dtype's tolerance
        const exact = mapRows(values(x), shape, shape.length - 1, rmsHf('f64', 1e-5, Array.from(values(w))));
        expectClose(values(y), exact, { rtol: dtype === 'f64' ? 1e-15 : 4 * EPS[dtype], atol: 0 });
        [x, w, y].forEach((t) => t.dispose());
      }
  });

  it('works on strided rows, a strided weight (native), in place, and honours eps', () => {
    const X = randomTensor([33, 5], 'f32', 3);
    const x = X.transpose(); // [5, 33], last-axis stride 5
    const w = randomTensor([33], 'f32', 4, 0.5, 1.5);
    const want = mapRows(values(x), [5, 33], 1, rmsHf('f32', 1e-6, Array.from(values(w))));
    expectClose(values(nt.rmsnorm(x, w, 1e-6)), want, RMS_TOL.f32);
    const y = x.clone();
    expect(nt.rmsnorm(y, w, 1e-6, { out: y })).toBe(y);
    expectClose(values(y), want, RMS_TOL.f32);
    // weight stored every other element (stride 2), straight through the native op
    const w2 = new Float32Array(66);
    const wv = w.data as Float32Array;
    for (let i = 0; i < 33; ++i) w2[2 * i] = wv[i];
    const out = nt.zeros([5, 33]);
    native.rmsnorm(x._storage, x._metaArray, w2, new Float64Array([0, 1, 0, 33, 2]), out._storage, out._metaArray, 1e-6);
    expectClose(values(out), want, RMS_TOL.f32);
    // a zero row: eps keeps it finite
    const z = nt.rmsnorm(nt.zeros([2, 4]), nt.ones([4]));
    expect(Array.from(values(z))).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    expect(values(nt.rmsnorm(nt.zeros([1, 4]), nt.ones([4]), 0)).every(Number.isNaN)).toBe(true); // 0 * inf
  });

  it('rejects bad arguments with coded errors', () => {
    const x = nt.ones([2, 4]);
    const w = nt.ones([4]);
    expect(errorOf(() => nt.rmsnorm(x, nt.ones([4], 'f64')))).toMatchObject({ code: 'NT_DTYPE', message: "[rmsnorm] weight must have x's dtype f32, got f64" });
    expect(errorOf(() => nt.rmsnorm(x, nt.ones([3])))).toMatchObject({ code: 'NT_SHAPE', message: '[rmsnorm] weight must have shape [4] (the last extent of x [2,4]), got [3]' });
    expect(errorOf(() => nt.rmsnorm(x, nt.ones([1, 4])))).toMatchObject({ code: 'NT_SHAPE' });
    expect(errorOf(() => nt.rmsnorm(nt.tensor(new Float32Array([1]), { shape: [] }), nt.ones([1])))).toMatchObject({ code: 'NT_SHAPE', message: '[rmsnorm] x must have at least one axis, got a 0-d tensor' });
    for (const eps of [-1, NaN, Infinity, '1' as never])
      expect(errorOf(() => nt.rmsnorm(x, w, eps))).toMatchObject({ code: 'NT_VALUE', message: `[rmsnorm] eps must be a finite number >= 0, got ${String(eps)}` });
    const out = nt.full([4, 2], 3);
    expect(errorOf(() => nt.rmsnorm(x, w, 1e-5, { out }))).toMatchObject({ code: 'NT_SHAPE', message: '[rmsnorm] out must have shape [2,4], got [4,2]' });
    expect(Array.from(values(out)).every((v) => v === 3)).toBe(true);
    w.dispose();
    expect(errorOf(() => nt.rmsnorm(x, w))).toMatchObject({ code: 'NT_DISPOSED', message: '[rmsnorm] weight was disposed' });
    expect(errorOf(() => native.rmsnorm(x._storage, x._metaArray, x._storage, x._metaArray, x._storage, x._metaArray, 1e-5))).toMatchObject({ code: 'NT_SHAPE' });
  });
});
