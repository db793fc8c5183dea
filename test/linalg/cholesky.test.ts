// nt.linalg.cholesky / choleskyInverse / choleskySolve: A = L L^T, agreement with a float64
// reference, triangles read, non-SPD pivots, inverses, views, threads, async, errors.
import * as nt from '../../lib';
import { errorOf } from '../helpers/reference';
import {
  Dt,
  TOL,
  choleskyRef,
  disposeAll,
  identity,
  isLowerExact,
  isUpperExact,
  matmul,
  maxAbs,
  read,
  rejectionOf,
  relErr,
  spd,
  spdWithSpectrum,
  sub,
  toTensor,
  transpose,
  uniformM,
} from './factor-helpers';

const DTYPES: Dt[] = ['f32', 'f64'];

describe('linalg.cholesky', () => {
  for (const dtype of DTYPES)
    for (const n of [1, 2, 7, 33, 64, 65, 129, 300])
      it(`factors a ${n}x${n} ${dtype} SPD matrix: A = L L^T, L lower with exact zeros, close to the f64 reference`, () => {
        const a = spd(n, 300 + n);
        const t = toTensor(a, dtype);
        const L = nt.linalg.cholesky(t);
        try {
          expect(L.shape).toEqual([n, n]);
          expect(L.dtype).toBe(dtype);
          const l = read(L);
          expect(isLowerExact(l)).toBe(true);
          expect(relErr(matmul(l, l, false, true), read(t))).toBeLessThanOrEqual(TOL[dtype].recon);
          expect(relErr(l, choleskyRef(read(t)))).toBeLessThanOrEqual(TOL[dtype].vsRef);
        } finally {
          disposeAll(t, L);
        }
      });

  for (const dtype of DTYPES)
    it(`returns U = L^T with { lower: false } (${dtype}), reading only the upper triangle`, () => {
      const a = spd(40, 7);
      // poison the triangle that must not be read
      const up = { ...a, data: a.data.slice() };
      for (let i = 0; i < 40; ++i) for (let j = 0; j < i; ++j) up.data[i * 40 + j] = NaN;
      const t = toTensor(up, dtype);
      const U = nt.linalg.cholesky(t, { lower: false });
      try {
        const u = read(U);
        expect(isUpperExact(u)).toBe(true);
        expect(relErr(matmul(u, u, true, false), a)).toBeLessThanOrEqual(TOL[dtype].recon);
      } finally {
        disposeAll(t, U);
      }
    });

  it('reads only the lower triangle by default (NaN above the diagonal is ignored)', () => {
    const a = spd(30, 8);
    const lo = { ...a, data: a.data.slice() };
    for (let i = 0; i < 30; ++i) for (let j = i + 1; j < 30; ++j) lo.data[i * 30 + j] = NaN;
    const t = toTensor(lo, 'f64');
    const L = nt.linalg.cholesky(t);
    const l = read(L);
    expect(relErr(matmul(l, l, false, true), a)).toBeLessThanOrEqual(TOL.f64.recon);
    disposeAll(t, L);
  });

  it('handles an ill-conditioned SPD matrix (cond 1e10) in f64 with a small backward error', () => {
    const lambda = Array.from({ length: 60 }, (_, i) => 10 ** (-10 * (i / 59)));
    const a = spdWithSpectrum(lambda, 4);
    const t = toTensor(a, 'f64');
    const L = nt.linalg.cholesky(t);
    const l = read(L);
    expect(relErr(matmul(l, l, false, true), a)).toBeLessThanOrEqual(1e-14 * 60);
    disposeAll(t, L);
  });

  it('factors the identity into itself and 0x0 into 0x0', () => {
    const e = nt.eye(9, 'f32');
    const L = nt.linalg.cholesky(e);
    expect(Array.from(L.data)).toEqual(Array.from(e.data));
    const z = nt.zeros([0, 0]);
    const Z = nt.linalg.cholesky(z);
    expect(Z.shape).toEqual([0, 0]);
    disposeAll(e, L, z, Z);
  });

  it('reads a transposed view (the upper triangle of the view is the lower of the base)', () => {
    const a = spd(50, 9);
    const base = toTensor(a, 'f32');
    const v = base.transpose(1, 0);
    const L = nt.linalg.cholesky(v);
    const c = v.contiguous();
    const L2 = nt.linalg.cholesky(c);
    expect(Array.from(L.data)).toEqual(Array.from(L2.data));
    disposeAll(base, v, L, c, L2);
  });

  it('gives the same factor to rounding for 1 and 2 threads, and choleskyAsync equals cholesky', async () => {
    const t = toTensor(spd(200, 10), 'f64');
    const before = nt.getNumThreads();
    try {
      nt.setNumThreads(1);
      const one = nt.linalg.cholesky(t);
      nt.setNumThreads(2);
      const two = nt.linalg.cholesky(t);
      expect(relErr(read(one), read(two))).toBeLessThanOrEqual(1e-14);
      const p = await nt.linalg.choleskyAsync(t);
      expect(Array.from(p.data)).toEqual(Array.from(two.data));
      disposeAll(one, two, p);
    } finally {
      nt.setNumThreads(before);
      t.dispose();
    }
  });

  describe('non-SPD input', () => {
    for (const dtype of DTYPES)
      it(`names the first failing pivot and its value (${dtype}) with NT_NUMERIC`, () => {
        // diag(1..7, -0.0123, 9): the leading minor of order 8 fails at pivot 7
        const n = 9;
        const d = identity(n);
        for (let i = 0; i < n; ++i) d.data[i * n + i] = i + 1;
        d.data[7 * n + 7] = -0.0123;
        const t = toTensor(d, dtype);
        const base = nt.memory();
        const e = errorOf(() => nt.linalg.cholesky(t));
        expect(e.code).toBe('NT_NUMERIC');
        expect(e.message).toMatch(/^\[linalg\.cholesky\] matrix is not positive definite: pivot 7 is -0\.0123/);
        expect(nt.memory().tensors).toBe(base.tensors);
        t.dispose();
      });

    it('finds the failing pivot of a dense indefinite matrix past the first block (index 100)', () => {
      // SPD 150x150 with the Schur complement pivot at 100 made negative: A(100,100) lowered by
      // more than the pivot's value
      const a = spd(150, 12);
      const l = choleskyRef(a);
      const pivot = l.data[100 * 150 + 100] ** 2;
      a.data[100 * 150 + 100] -= pivot + 0.5;
      const t = toTensor(a, 'f64');
      const e = errorOf(() => nt.linalg.cholesky(t));
      expect(e.code).toBe('NT_NUMERIC');
      const m = /pivot (\d+) is (\S+)/.exec(e.message)!;
      expect(Number(m[1])).toBe(100);
      expect(Number(m[2])).toBeCloseTo(-0.5, 10);
      t.dispose();
    });

    it('rejects a singular PSD matrix (zero pivot) and a negative definite one', () => {
      const z = nt.zeros([3, 3], 'f64');
      expect(errorOf(() => nt.linalg.cholesky(z)).message).toMatch(/pivot 0 is 0$/);
      const neg = nt.tensor([-1, 0, 0, -1], { shape: [2, 2], dtype: 'f32' });
      expect(errorOf(() => nt.linalg.cholesky(neg)).message).toMatch(/pivot 0 is -1$/);
      disposeAll(z, neg);
    });

    it('rejects asynchronously with the same error', async () => {
      const neg = nt.tensor([4, 2, 2, -3], { shape: [2, 2], dtype: 'f64' });
      const r = await rejectionOf(nt.linalg.choleskyAsync(neg));
      expect(r.code).toBe('NT_NUMERIC');
      expect(r.message).toMatch(/pivot 1 is -4$/);
      neg.dispose();
    });
  });

  describe('errors', () => {
    it('rejects non-square, non-2-D, integer, disposed, NaN and bad options', () => {
      const rect = nt.zeros([3, 4]);
      let e = errorOf(() => nt.linalg.cholesky(rect));
      expect(e.code).toBe('NT_SHAPE');
      expect(e.message).toBe('[linalg.cholesky] expected a to be a square matrix, got shape [3,4]');
      const cube = nt.zeros([2, 2, 2]);
      expect(errorOf(() => nt.linalg.cholesky(cube)).code).toBe('NT_SHAPE');
      const ints = nt.zeros([2, 2], 'i8');
      e = errorOf(() => nt.linalg.cholesky(ints));
      expect(e.code).toBe('NT_DTYPE');
      const nan = nt.tensor([1, 0, NaN, 1], { shape: [2, 2] });
      e = errorOf(() => nt.linalg.cholesky(nan));
      expect(e.code).toBe('NT_VALUE');
      expect(e.message).toBe('[linalg.cholesky] input contains NaN or Inf');
      const ok = nt.eye(2);
      e = errorOf(() => nt.linalg.cholesky(ok, { lower: 'yes' as unknown as boolean }));
      expect(e.code).toBe('NT_VALUE');
      expect(e.message).toBe('[linalg.cholesky] lower must be a boolean, got string yes');
      const gone = nt.eye(2);
      gone.dispose();
      expect(errorOf(() => nt.linalg.cholesky(gone)).code).toBe('NT_DISPOSED');
      disposeAll(rect, cube, ints, nan, ok);
    });
  });
});

describe('linalg.choleskyInverse', () => {
  for (const dtype of DTYPES)
    for (const n of [1, 7, 64, 65, 200])
      it(`inverts a ${n}x${n} ${dtype} SPD matrix from its factor: A A^-1 = I, exactly symmetric`, () => {
        const a = spd(n, 900 + n);
        const t = toTensor(a, dtype);
        const L = nt.linalg.cholesky(t);
        const inv = nt.linalg.choleskyInverse(L);
        try {
          const x = read(inv);
          expect(maxAbs(sub(x, transpose(x)))).toBe(0);
          // well conditioned (eigenvalues in [1, ~5]): A A^-1 = I to the dtype's accuracy
          expect(maxAbs(sub(matmul(read(t), x), identity(n)))).toBeLessThanOrEqual(TOL[dtype].inverse);
        } finally {
          disposeAll(t, L, inv);
        }
      });

  it('accepts the upper factor with { lower: false } and matches the lower path', () => {
    const t = toTensor(spd(30, 5), 'f64');
    const L = nt.linalg.cholesky(t);
    const U = nt.linalg.cholesky(t, { lower: false });
    const a = nt.linalg.choleskyInverse(L);
    const b = nt.linalg.choleskyInverse(U, { lower: false });
    expect(relErr(read(a), read(b))).toBeLessThanOrEqual(1e-14);
    disposeAll(t, L, U, a, b);
  });

  it('inverts a matrix with cond 1e6 in f64 to ~cond * eps', () => {
    const lambda = Array.from({ length: 40 }, (_, i) => 10 ** (-6 * (i / 39)));
    const a = spdWithSpectrum(lambda, 6);
    const t = toTensor(a, 'f64');
    const L = nt.linalg.cholesky(t);
    const inv = nt.linalg.choleskyInverse(L);
    expect(maxAbs(sub(matmul(a, read(inv)), identity(40)))).toBeLessThanOrEqual(1e6 * 1e-13);
    disposeAll(t, L, inv);
  });

  it('choleskyInverseAsync equals the sync result; 0x0 gives 0x0', async () => {
    const t = toTensor(spd(70, 3), 'f32');
    const L = nt.linalg.cholesky(t);
    const a = nt.linalg.choleskyInverse(L);
    const b = await nt.linalg.choleskyInverseAsync(L);
    expect(Array.from(b.data)).toEqual(Array.from(a.data));
    const z = nt.zeros([0, 0], 'f64');
    const zi = nt.linalg.choleskyInverse(z);
    expect(zi.shape).toEqual([0, 0]);
    disposeAll(t, L, a, b, z, zi);
  });

  it('rejects a zero on the diagonal with NT_NUMERIC naming its index, and bad input', () => {
    const l = nt.tensor([1, 0, 0, 2, 5, 0, 3, 1, 0], { shape: [3, 3], dtype: 'f64' });
    const e = errorOf(() => nt.linalg.choleskyInverse(l));
    expect(e.code).toBe('NT_NUMERIC');
    expect(e.message).toBe('[linalg.choleskyInverse] factor is singular: diagonal element 2 is 0');
    const rect = nt.zeros([2, 3]);
    expect(errorOf(() => nt.linalg.choleskyInverse(rect)).code).toBe('NT_SHAPE');
    const inf = nt.tensor([1, 0, Infinity, 1], { shape: [2, 2] });
    expect(errorOf(() => nt.linalg.choleskyInverse(inf)).code).toBe('NT_VALUE');
    disposeAll(l, rect, inf);
  });
});

describe('linalg.choleskySolve', () => {
  for (const lower of [true, false])
    it(`solves A X = B from the ${lower ? 'lower' : 'upper'} factor for a vector and a matrix`, async () => {
      const n = 90;
      const a = spd(n, 41);
      const t = toTensor(a, 'f64');
      const F = nt.linalg.cholesky(t, { lower });
      for (const cols of [0, 5]) {
        const bm = uniformM(n, Math.max(cols, 1), 42);
        const b = cols === 0 ? nt.tensor(bm.data, { shape: [n], dtype: 'f64' }) : toTensor(bm, 'f64');
        const x = nt.linalg.choleskySolve(F, b, { lower });
        expect(x.shape).toEqual(b.shape);
        expect(relErr(matmul(a, read(x)), bm)).toBeLessThanOrEqual(1e-12);
        const y = await nt.linalg.choleskySolveAsync(F, b, { lower });
        expect(Array.from(y.data)).toEqual(Array.from(x.data));
        disposeAll(b, x, y);
      }
      disposeAll(t, F);
    });
});
