// nt.matmul with f32 activations and 16-bit (bf16 / f16) weights, computed by the
// mixed-precision kernel (the weight is read as stored, never widened into a copy): against a
// float64 reference built in JS from the weight's own 16-bit patterns, at odd sizes on both
// sides of the GEMV / packed-GEMM switch (m <= 32 with transB), every layout, views, batches,
// alpha/beta/out, IEEE NaN/Inf, thread-count independence, the async twin, DenseLinear with
// 16-bit weights, and the error paths (matched by `code`: the addon's errors come from
// another realm).
//
// Tolerance (one table): |C - C_ref| <= TOL * k * (|alpha| sum_p |a_ip w_pj| + |beta c0|): the
// 16-bit weights widen to f32 exactly, so only the f32 accumulation rounds (gamma_k ~ k u),
// with a factor 2 of headroom for the alpha/beta roundings.
import * as nt from '../../lib';
import { DenseLinear } from '../../lib/model/linear';
import { bf16Decode, errorOf, f16Decode, uniform } from '../helpers/reference';
import { expectNoLeak, values } from '../ops/helpers';

type Half = 'bf16' | 'f16';
const HALVES: Half[] = ['bf16', 'f16'];
const TOL = 2 * 2 ** -24;

let seed = 1;
const f32 = (shape: number[]): nt.Tensor => nt.tensor(uniform(shape.reduce((a, b) => a * b, 1), seed++), { shape, dtype: 'f32' });
const half = (shape: number[], dtype: Half): nt.Tensor =>
  nt.tensor(uniform(shape.reduce((a, b) => a * b, 1), seed++, -2, 2), { shape, dtype });

interface Mat {
  rows: number;
  cols: number;
  v: Float64Array;
}

/** The values of a contiguous 16-bit tensor, decoded from its bit patterns. */
function decoded(t: nt.Tensor): Mat {
  const bits = t.data as Uint16Array;
  const decode = t.dtype === 'bf16' ? bf16Decode : f16Decode;
  return { rows: t.shape[t.ndim - 2], cols: t.shape[t.ndim - 1], v: Float64Array.from(bits, decode) };
}

function plain(t: nt.Tensor): Mat {
  return { rows: t.shape[t.ndim - 2], cols: t.shape[t.ndim - 1], v: values(t) };
}

function transposed(x: Mat): Mat {
  const v = new Float64Array(x.v.length);
  for (let i = 0; i < x.rows; ++i) for (let j = 0; j < x.cols; ++j) v[j * x.rows + i] = x.v[i * x.cols + j];
  return { rows: x.cols, cols: x.rows, v };
}

function entry(x: Mat, batch: number): Mat {
  const size = x.rows * x.cols;
  return { rows: x.rows, cols: x.cols, v: x.v.slice(batch * size, (batch + 1) * size) };
}

/** Expects got (row-major values of C) = alpha A B + beta C0 within the bound. */
function expectProduct(got: Float64Array, A: Mat, B: Mat, opts: { alpha?: number; beta?: number; C0?: Float64Array } = {}): void {
  const { rows: m, cols: k } = A;
  const n = B.cols;
  const alpha = opts.alpha ?? 1;
  const beta = opts.beta ?? 0;
  expect(got.length).toBe(m * n);
  let worst = '';
  for (let i = 0; i < m && !worst; ++i)
    for (let j = 0; j < n; ++j) {
      let ref = 0;
      let mag = 0;
      for (let p = 0; p < k; ++p) {
        const t = A.v[i * k + p] * B.v[p * n + j];
        ref += t;
        mag += Math.abs(t);
      }
      const c0 = beta === 0 || !opts.C0 ? 0 : opts.C0[i * n + j];
      ref = alpha * ref + beta * c0;
      mag = Math.abs(alpha) * mag + Math.abs(beta * c0);
      const err = Math.abs(got[i * n + j] - ref);
      if (!(err <= TOL * Math.max(k, 1) * mag + 1e-300)) {
        worst = `C[${i},${j}] = ${got[i * n + j]}, expected ${ref} (bound ${TOL * k * mag})`;
        break;
      }
    }
  expect(worst).toBe('');
}

describe('f32 x 16-bit weights matches the float64 reference of the 16-bit values', () => {
  for (const dt of HALVES)
    test(`${dt} weights [n, k] with transB (the Linear layout) at odd sizes`, () => {
      for (const m of [1, 2, 3, 4, 5, 17, 32, 33, 64])
        for (const n of [1, 7, 33, 129])
          for (const k of m > 17 ? [7, 255] : [1, 7, 31, 33, 255, 1030]) {
            const x = f32([m, k]);
            const w = half([n, k], dt);
            const y = nt.matmul(x, w, { transB: true });
            expect(y.dtype).toBe('f32');
            expect(y.shape).toEqual([m, n]);
            expectProduct(values(y), plain(x), transposed(decoded(w)));
            for (const t of [x, w, y]) t.dispose();
          }
    });

  test.each(HALVES)('%s weights stored [k, n] (no transB) and transposed activations', (dt) => {
    for (const [m, n, k] of [
      [1, 129, 33],
      [3, 7, 255],
      [40, 33, 70],
    ]) {
      const w = half([k, n], dt);
      const xt = f32([k, m]);
      expectProduct(values(nt.matmul(xt, w, { transA: true })), transposed(plain(xt)), decoded(w));
      const x = f32([m, k]);
      expectProduct(values(nt.matmul(x, w)), plain(x), decoded(w));
    }
  });

  test.each(HALVES)('%s weight views: transposed and sliced views are read in place, others through a copy', (dt) => {
    const x = f32([3, 70]);
    // a column-major weight: w = base^T [70, 33], read in place with flipped transposition
    const base = half([33, 70], dt);
    expectProduct(values(nt.matmul(x, base.transpose(1, 0))), plain(x), transposed(decoded(base)));
    // a [40, 70] window of a [40, 90] weight: leading dimension 90
    const wide = half([40, 90], dt);
    const Wd = decoded(wide);
    const S: Mat = { rows: 40, cols: 70, v: new Float64Array(40 * 70) };
    for (let i = 0; i < 40; ++i) for (let j = 0; j < 70; ++j) S.v[i * 70 + j] = Wd.v[i * 90 + 5 + j];
    expectProduct(values(nt.matmul(x, wide.slice(null, [5, 75]), { transB: true })), plain(x), transposed(S));
    // [2, 9, 12] with strides [1, 24, 2]: no unit stride on the last two axes, so a copy
    const odd = half([9, 12, 2], dt);
    const w = odd.transpose(2, 0, 1);
    expect(w.strides).toEqual([1, 24, 2]);
    const O = decoded(odd); // element (b, i, j) of w is odd[i, j, b]
    const xb = f32([2, 4, 12]);
    expectNoLeak(() => {
      const y = nt.matmul(xb, w, { transB: true });
      for (let b = 0; b < 2; ++b) {
        const Wb: Mat = { rows: 9, cols: 12, v: new Float64Array(9 * 12) };
        for (let i = 0; i < 9; ++i) for (let j = 0; j < 12; ++j) Wb.v[i * 12 + j] = O.v[(i * 12 + j) * 2 + b];
        expectProduct(entry(plain(y), b).v, entry(plain(xb), b), transposed(Wb));
      }
      y.dispose();
    });
  });

  test.each(HALVES)('%s: batched activations share a 2-D weight; a 3-D weight pairs per batch', (dt) => {
    const x = f32([3, 5, 40]);
    const w = half([33, 40], dt);
    const y = nt.matmul(x, w, { transB: true });
    expect(y.shape).toEqual([3, 5, 33]);
    const X = plain(x);
    const W = transposed(decoded(w));
    for (let b = 0; b < 3; ++b) expectProduct(entry(plain(y), b).v, entry(X, b), W);
    const w3 = half([2, 7, 40], dt);
    const x1 = f32([1, 4, 40]);
    const y3 = nt.matmul(x1, w3, { transB: true });
    expect(y3.shape).toEqual([2, 4, 7]);
    const W3 = decoded(w3);
    for (let b = 0; b < 2; ++b) expectProduct(entry(plain(y3), b).v, plain(x1), transposed(entry(W3, b)));
  });

  test.each(HALVES)('%s: alpha, beta and out (row-major and a transposed out view)', (dt) => {
    for (const m of [2, 9]) {
      const x = f32([m, 50]);
      const w = half([17, 50], dt);
      const out = f32([m, 17]);
      const C0 = values(out);
      expect(nt.matmul(x, w, { transB: true, out, alpha: -0.5, beta: 1.5 })).toBe(out);
      expectProduct(values(out), plain(x), transposed(decoded(w)), { alpha: -0.5, beta: 1.5, C0 });
      const outT = f32([17, m]);
      const view = outT.transpose(1, 0); // column-major [m, 17]
      const V0 = values(view);
      nt.matmul(x, w, { transB: true, out: view, alpha: 2, beta: -1 });
      expectProduct(values(view), plain(x), transposed(decoded(w)), { alpha: 2, beta: -1, C0: V0 });
    }
  });

  test.each(HALVES)('%s activations times weights of that dtype widen only the activations (same bits as f32 activations)', (dt) => {
    const a = half([3, 45], dt);
    const w = half([20, 45], dt);
    const a32 = a.astype('f32');
    expect(values(nt.matmul(a, w, { transB: true }))).toEqual(values(nt.matmul(a32, w, { transB: true })));
  });

  test('the 16-bit weight is never widened into a copy', () => {
    const x = f32([4, 64]);
    const xs = f32([20, 64]);
    const w = half([32, 64], 'bf16');
    const astype = jest.spyOn(w, 'astype');
    try {
      nt.matmul(x, w, { transB: true }).dispose();
      nt.matmul(xs, w, { transB: true }).dispose();
      expect(astype).not.toHaveBeenCalled();
    } finally {
      astype.mockRestore();
    }
  });
});

describe('IEEE values, threads and async', () => {
  test.each(HALVES)('%s: NaN and Inf propagate through both paths', (dt) => {
    for (const m of [1, 3, 30]) {
      const x = f32([m, 40]);
      const bits = new Uint16Array(25 * 40).fill(dt === 'bf16' ? 0x3f00 : 0x3800); // 0.5
      bits[6 * 40 + 11] = dt === 'bf16' ? 0x7fc0 : 0x7e00; // NaN in weight row 6
      const w = nt.tensor(bits, { shape: [25, 40], dtype: dt });
      const xs = x.data as Float32Array;
      xs[(m - 1) * 40 + 3] = Infinity;
      const y = values(nt.matmul(x, w, { transB: true }));
      for (let i = 0; i < m; ++i) expect(y[i * 25 + 6]).toBeNaN();
      for (let j = 0; j < 25; ++j) if (j !== 6) expect(y[(m - 1) * 25 + j]).toBe(Infinity);
      if (m > 1) expect(Number.isFinite(y[0])).toBe(true);
    }
  });

  test('1 and 2 threads give bit-identical results (GEMV and packed paths)', () => {
    const before = nt.getNumThreads();
    try {
      for (const [m, n, k] of [
        [1, 3000, 700],
        [4, 1500, 1030],
        [19, 800, 300],
        [300, 200, 300],
        [600, 130, 260],
      ])
        for (const dt of HALVES) {
          const x = f32([m, k]);
          const w = half([n, k], dt);
          nt.setNumThreads(1);
          const y1 = values(nt.matmul(x, w, { transB: true }));
          nt.setNumThreads(2);
          const y2 = values(nt.matmul(x, w, { transB: true }));
          expect(y2.findIndex((v, i) => !Object.is(v, y1[i]))).toBe(-1); // bit-identical (toEqual is slow on 100k+ values)
        }
    } finally {
      nt.setNumThreads(before);
    }
  });

  test('matmulAsync equals matmul and frees its temporaries', async () => {
    const x = f32([2, 300]);
    const w = half([90, 300], 'bf16');
    const sync = values(nt.matmul(x, w, { transB: true }));
    const before = nt.memory();
    const y = await nt.matmulAsync(x, w, { transB: true });
    expect(values(y)).toEqual(sync);
    y.dispose();
    expect(nt.memory()).toEqual(before);
  });
});

describe('DenseLinear with 16-bit weights', () => {
  test.each(HALVES)('a %s weight runs forward and forwardAsync through the mixed kernel', async (dt) => {
    const w = half([24, 40], dt);
    const W = transposed(decoded(w));
    const lin = new DenseLinear(w);
    expect([lin.inFeatures, lin.outFeatures]).toEqual([40, 24]);
    for (const rows of [1, 7]) {
      const x = f32([rows, 40]);
      expectProduct(values(lin.forward(x)), plain(x), W);
      expectProduct(values(await lin.forwardAsync(x)), plain(x), W);
    }
    lin.dispose();
    expect(w.isDisposed).toBe(true);
  });

  test('a weight that is not f32, bf16 or f16 is refused with NT_DTYPE', () => {
    expect(errorOf(() => new DenseLinear(nt.zeros([4, 4], 'i32'))).code).toBe('NT_DTYPE');
    expect(errorOf(() => new DenseLinear(nt.zeros([4, 4], 'f64'))).code).toBe('NT_DTYPE');
  });
});

describe('errors', () => {
  test('weight dtype, shape mismatch and disposed tensors are coded errors that leak nothing', () => {
    const x = f32([3, 8]);
    const w = half([5, 8], 'bf16');
    const i32 = nt.zeros([5, 8], 'i32');
    const narrow = half([5, 9], 'f16');
    const x64 = nt.zeros([3, 8], 'f64');
    const x16 = half([3, 8], 'f16');
    const out16 = nt.zeros([3, 5], 'f16');
    expectNoLeak(() => {
      expect(errorOf(() => nt.matmul(x, i32, { transB: true })).code).toBe('NT_DTYPE');
      expect(errorOf(() => nt.matmul(x, narrow, { transB: true })).code).toBe('NT_SHAPE');
      expect(errorOf(() => nt.matmul(x64, w, { transB: true })).code).toBe('NT_DTYPE');
      expect(errorOf(() => nt.matmul(x16, w, { transB: true })).code).toBe('NT_DTYPE');
      expect(errorOf(() => nt.matmul(x, w, { transB: true, out: out16 })).code).toBe('NT_DTYPE');
    });
    const gone = half([5, 8], 'f16');
    gone.dispose();
    expect(errorOf(() => nt.matmul(x, gone, { transB: true }))).toMatchObject({ code: 'NT_DISPOSED', message: '[matmul] b was disposed' });
  });

  test('the native op re-validates a direct call with mixed dtypes', () => {
    const { native } = require('../../lib/native/loader') as typeof import('../../lib/native/loader');
    const x = f32([2, 8]);
    const w = half([4, 8], 'bf16');
    const wrongOut = nt.zeros([2, 4], 'f64');
    expect(errorOf(() => native.matmul(x._storage, x._metaArray, w._storage, w._metaArray, wrongOut._storage, wrongOut._metaArray, false, true, 1, 0)).code).toBe('NT_DTYPE');
    const d = nt.zeros([2, 8], 'f64');
    expect(errorOf(() => native.matmul(d._storage, d._metaArray, w._storage, w._metaArray, wrongOut._storage, wrongOut._metaArray, false, true, 1, 0)).code).toBe('NT_DTYPE');
  });
});
