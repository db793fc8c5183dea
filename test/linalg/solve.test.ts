// nt.linalg.solveTriangular: residuals for every option combination, vector and matrix right-hand
// sides, triangles read, views, threads, async, singular and bad input.
import * as nt from '../../lib';
import { errorOf } from '../helpers/reference';
import { Dt, M, TOL, disposeAll, frob, matmul, read, rejectionOf, relErr, sub, toTensor, transpose, triangle, uniformM, zeros } from './factor-helpers';

const DTYPES: Dt[] = ['f32', 'f64'];

/** A well-conditioned triangular matrix: random off-diagonal in [-1, 1] / n, diagonal in [1, 2]. */
function triangular(n: number, lower: boolean, seed: number): M {
  const a = uniformM(n, n, seed);
  for (let i = 0; i < n * n; ++i) a.data[i] /= Math.max(n, 1);
  for (let i = 0; i < n; ++i) a.data[i * n + i] = 1 + Math.abs(a.data[i * n + i]) * n;
  return triangle(a, lower);
}

/** ||op(A) X - B|| / (||op(A)|| ||X||): the backward error of a solve. */
function backwardError(a: M, x: M, b: M, trans: boolean): number {
  const r = sub(matmul(a, x, trans), b);
  return frob(r) / (frob(a) * frob(x));
}

describe('linalg.solveTriangular', () => {
  for (const dtype of DTYPES)
    for (const n of [1, 2, 7, 33, 65, 129, 300])
      for (const lower of [true, false])
        for (const trans of [false, true])
          for (const unit of [false, true])
            it(`solves ${n}x${n} ${dtype} lower=${lower} trans=${trans} unitDiagonal=${unit} for a vector and 5 columns`, () => {
              const full = uniformM(n, n, 50 + n); // the triangle not named is noise that must be ignored
              const tri = triangular(n, lower, 60 + n);
              for (let i = 0; i < n; ++i)
                for (let j = 0; j < n; ++j) if (lower ? j <= i : j >= i) full.data[i * n + j] = tri.data[i * n + j];
              if (unit) for (let i = 0; i < n; ++i) full.data[i * n + i] = 1e30; // never read
              const eff = triangle(full, lower);
              if (unit) for (let i = 0; i < n; ++i) eff.data[i * n + i] = 1;
              const A = toTensor(full, dtype);
              for (const k of [0, 5]) {
                const bm = uniformM(n, Math.max(k, 1), 70 + k);
                const B = k === 0 ? nt.tensor(bm.data, { shape: [n], dtype }) : toTensor(bm, dtype);
                const X = nt.linalg.solveTriangular(A, B, { lower, trans, unitDiagonal: unit });
                try {
                  expect(X.shape).toEqual(B.shape);
                  expect(X.dtype).toBe(dtype);
                  const err = backwardError(eff, read(X), read(B), trans);
                  expect(err).toBeLessThanOrEqual(TOL[dtype].solve);
                } finally {
                  disposeAll(B, X);
                }
              }
              A.dispose();
            });

  it('matches the float64 forward substitution on a well-conditioned system (f64, 200 x 17)', () => {
    const n = 200;
    const l = triangular(n, true, 3);
    const b = uniformM(n, 17, 4);
    const x = zeros(n, 17);
    for (let c = 0; c < 17; ++c)
      for (let i = 0; i < n; ++i) {
        let s = b.data[i * 17 + c];
        for (let t = 0; t < i; ++t) s -= l.data[i * n + t] * x.data[t * 17 + c];
        x.data[i * 17 + c] = s / l.data[i * n + i];
      }
    const A = toTensor(l, 'f64');
    const B = toTensor(b, 'f64');
    const X = nt.linalg.solveTriangular(A, B);
    expect(relErr(read(X), x)).toBeLessThanOrEqual(1e-13);
    disposeAll(A, B, X);
  });

  it('solves with k = 0 columns and n = 0', () => {
    const A = toTensor(triangular(4, true, 1), 'f32');
    const B = nt.zeros([4, 0]);
    const X = nt.linalg.solveTriangular(A, B);
    expect(X.shape).toEqual([4, 0]);
    const A0 = nt.zeros([0, 0]);
    const B0 = nt.zeros([0]);
    const X0 = nt.linalg.solveTriangular(A0, B0);
    expect(X0.shape).toEqual([0]);
    disposeAll(A, B, X, A0, B0, X0);
  });

  it('reads strided views of a and b', () => {
    const n = 40;
    const l = triangular(n, false, 9); // upper; its transpose view is lower
    const base = toTensor(l, 'f64');
    const A = base.transpose(1, 0);
    const bBase = toTensor(uniformM(6, n, 10), 'f64');
    const B = bBase.transpose(1, 0); // n x 6, strides [1, n]
    const X = nt.linalg.solveTriangular(A, B, { lower: true });
    expect(backwardError(transpose(l), read(X), read(B), false)).toBeLessThanOrEqual(TOL.f64.solve);
    disposeAll(base, A, bBase, B, X);
  });

  it('accepts f16/bf16 with f32 (computing in f32) and gives the same result for 1 and 2 threads', async () => {
    const n = 150;
    const A = toTensor(triangular(n, true, 11), 'bf16');
    const B = toTensor(uniformM(n, 40, 12), 'f16');
    const before = nt.getNumThreads();
    try {
      nt.setNumThreads(1);
      const one = nt.linalg.solveTriangular(A, B);
      nt.setNumThreads(2);
      const two = nt.linalg.solveTriangular(A, B);
      expect(one.dtype).toBe('f32');
      expect(relErr(read(one), read(two))).toBeLessThanOrEqual(1e-6);
      const p = await nt.linalg.solveTriangularAsync(A, B);
      expect(Array.from(p.data)).toEqual(Array.from(two.data));
      disposeAll(one, two, p);
    } finally {
      nt.setNumThreads(before);
      disposeAll(A, B);
    }
  });

  describe('errors', () => {
    it('rejects a zero on the diagonal with NT_NUMERIC naming its index (not with unitDiagonal)', async () => {
      const A = nt.tensor([2, 0, 0, 1, 3, 0, 1, 1, 0], { shape: [3, 3], dtype: 'f64' });
      const B = nt.ones([3], 'f64');
      const e = errorOf(() => nt.linalg.solveTriangular(A, B));
      expect(e.code).toBe('NT_NUMERIC');
      expect(e.message).toBe('[linalg.solveTriangular] matrix is singular: diagonal element 2 is 0');
      const r = await rejectionOf(nt.linalg.solveTriangularAsync(A, B));
      expect(r.code).toBe('NT_NUMERIC');
      const X = nt.linalg.solveTriangular(A, B, { unitDiagonal: true });
      expect(Array.from(X.data)).toEqual([1, 0, 0]);
      disposeAll(A, B, X);
    });

    it('rejects bad shapes, dtypes, NaN, disposed tensors and bad options', () => {
      const A = nt.eye(3, 'f32');
      const B = nt.ones([3, 2], 'f32');
      const e1 = errorOf(() => nt.linalg.solveTriangular(A, nt.ones([4])));
      expect(e1.code).toBe('NT_SHAPE');
      expect(e1.message).toBe('[linalg.solveTriangular] b must have 3 rows (a is [3,3]), got shape [4]');
      const rect = nt.zeros([3, 2]);
      expect(errorOf(() => nt.linalg.solveTriangular(rect, B)).code).toBe('NT_SHAPE');
      const cube = nt.zeros([3, 1, 1]);
      expect(errorOf(() => nt.linalg.solveTriangular(A, cube)).message).toBe(
        '[linalg.solveTriangular] expected b to be 1-D or 2-D, got shape [3,1,1]',
      );
      const f64 = nt.ones([3], 'f64');
      const e2 = errorOf(() => nt.linalg.solveTriangular(A, f64));
      expect(e2.code).toBe('NT_DTYPE');
      expect(e2.message).toBe('[linalg.solveTriangular] a and b must both be f64 or both be f32/f16/bf16, got f32 and f64');
      const ints = nt.zeros([3], 'i32');
      expect(errorOf(() => nt.linalg.solveTriangular(A, ints)).code).toBe('NT_DTYPE');
      const nan = nt.tensor([1, NaN, 1], { dtype: 'f32' });
      const e3 = errorOf(() => nt.linalg.solveTriangular(A, nan));
      expect(e3.code).toBe('NT_VALUE');
      expect(e3.message).toBe('[linalg.solveTriangular] input contains NaN or Inf');
      const e4 = errorOf(() => nt.linalg.solveTriangular(A, B, { trans: 1 as unknown as boolean }));
      expect(e4.code).toBe('NT_VALUE');
      expect(e4.message).toBe('[linalg.solveTriangular] trans must be a boolean, got number 1');
      const gone = nt.ones([3]);
      gone.dispose();
      expect(errorOf(() => nt.linalg.solveTriangular(A, gone)).code).toBe('NT_DISPOSED');
      disposeAll(A, B, rect, cube, f64, ints, nan);
    });

    it('frees its output when the native call fails', () => {
      const A = nt.zeros([3, 3], 'f64');
      const B = nt.ones([3], 'f64');
      const base = nt.memory();
      expect(errorOf(() => nt.linalg.solveTriangular(A, B)).code).toBe('NT_NUMERIC');
      expect(nt.memory()).toEqual(base);
      disposeAll(A, B);
    });
  });
});
