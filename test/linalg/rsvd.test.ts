// nt.linalg.rsvd and nt.linalg.powerIteration on matrices of known spectrum: singular values,
// orthonormal factors, subspaces, reproducibility, threads, async, errors.
import * as nt from '../../lib';
import { errorOf } from '../helpers/reference';
import {
  Dt,
  M,
  TOL,
  disposeAll,
  frob,
  matmul,
  orthoError,
  orthonormal,
  read,
  rejectionOf,
  relErr,
  sub,
  toTensor,
  transpose,
  uniformM,
  withSpectrum,
} from './factor-helpers';

const DTYPES: Dt[] = ['f32', 'f64'];

/** s_i = 0.9^i, i < p. */
const decaying = (p: number) => Array.from({ length: p }, (_, i) => 0.9 ** i);

/** U diag(s) V^T with known factors kept for subspace checks. */
function known(m: number, n: number, s: number[], seed: number): { a: M; u: M; v: M } {
  const p = s.length;
  const u = orthonormal(m, p, seed);
  const v = orthonormal(n, p, seed + 1);
  const us = { ...u, data: u.data.slice() };
  for (let i = 0; i < m; ++i) for (let j = 0; j < p; ++j) us.data[i * p + j] *= s[j];
  return { a: matmul(us, v, false, true), u, v };
}

/** |<x_j, y_j>| for column j of x and y. */
function alignment(x: M, y: M, j: number): number {
  let d = 0;
  for (let i = 0; i < x.rows; ++i) d += x.data[i * x.cols + j] * y.data[i * y.cols + j];
  return Math.abs(d);
}

function maxRelSigmaError(got: Float64Array, want: number[]): number {
  let e = 0;
  for (let i = 0; i < got.length; ++i) e = Math.max(e, Math.abs(got[i] - want[i]) / want[i]);
  return e;
}

describe('linalg.rsvd', () => {
  const shapes: [number, number, number][] = [
    [120, 120, 10],
    [300, 150, 20],
    [150, 300, 20],
    [60, 500, 5],
    [200, 100, 1],
  ];
  for (const dtype of DTYPES)
    for (const [m, n, r] of shapes)
      it(`finds the top ${r} of ${m}x${n} ${dtype} with s_i = 0.9^i: sigma within tolerance, orthonormal U and V`, () => {
        const s = decaying(Math.min(m, n));
        const { a, u: uRef, v: vRef } = known(m, n, s, 10 + m + n);
        const A = toTensor(a, dtype);
        const { U, S, Vt } = nt.linalg.rsvd(A, r, { seed: 7 });
        try {
          expect(U.shape).toEqual([m, r]);
          expect(S.shape).toEqual([r]);
          expect(Vt.shape).toEqual([r, n]);
          expect(U.dtype).toBe(dtype);
          const sv = read(S).data;
          for (let i = 1; i < r; ++i) expect(sv[i]).toBeLessThanOrEqual(sv[i - 1]);
          expect(maxRelSigmaError(sv, s)).toBeLessThanOrEqual(TOL[dtype].rsvdSigma);
          const u = read(U);
          const v = transpose(read(Vt));
          expect(orthoError(u)).toBeLessThanOrEqual(TOL[dtype].ortho);
          expect(orthoError(v)).toBeLessThanOrEqual(TOL[dtype].ortho);
          // leading vectors (gap 10%) agree with the true ones up to sign
          for (let j = 0; j < Math.min(r, 3); ++j) {
            expect(alignment(u, uRef, j)).toBeGreaterThan(1 - 1e-4);
            expect(alignment(v, vRef, j)).toBeGreaterThan(1 - 1e-4);
          }
          // near-optimal: ||A - U S Vt||_F within 1% of the best rank-r error sqrt(sum_{i>=r} s_i^2)
          const us = { ...u, data: u.data.slice() };
          for (let i = 0; i < m; ++i) for (let j = 0; j < r; ++j) us.data[i * r + j] *= sv[j];
          const err = frob(sub(a, matmul(us, v, false, true)));
          const best = Math.sqrt(s.slice(r).reduce((acc, x) => acc + x * x, 0));
          expect(err).toBeLessThanOrEqual(best * 1.01 + 1e-5 * frob(a));
        } finally {
          disposeAll(A, U, S, Vt);
        }
      });

  it('recovers an exactly low-rank matrix (rank 3) to rounding, with rank = 3 and no oversampling', () => {
    const s = [4, 2, 1];
    const { a } = known(80, 60, s, 3);
    const A = toTensor(a, 'f64');
    const r = nt.linalg.rsvd(A, 3, { oversample: 0, powerIters: 0, seed: 1 });
    expect(maxRelSigmaError(read(r.S).data, s)).toBeLessThanOrEqual(1e-13);
    const u = read(r.U);
    const sv = read(r.S).data;
    for (let i = 0; i < 80; ++i) for (let j = 0; j < 3; ++j) u.data[i * 3 + j] *= sv[j];
    expect(relErr(matmul(u, read(r.Vt)), a)).toBeLessThanOrEqual(1e-13);
    disposeAll(A, r);
  });

  it('computes the exact SVD when rank = min(m, n), including an ill-conditioned spectrum (f64)', () => {
    const s = Array.from({ length: 25 }, (_, i) => 10 ** (-8 * (i / 24)));
    const A = toTensor(withSpectrum(40, 25, s, 5), 'f64');
    const r = nt.linalg.rsvd(A, 25, { seed: 2 });
    // the one-sided Jacobi core keeps small singular values to high relative accuracy; what is
    // left is the rounding of the projections, ~eps * s_0 absolute
    const sv = read(r.S).data;
    for (let i = 0; i < 25; ++i) expect(Math.abs(sv[i] - s[i])).toBeLessThanOrEqual(1e-14 * 25);
    expect(orthoError(read(r.U))).toBeLessThanOrEqual(1e-12);
    disposeAll(A, r);
  });

  it('handles the zero matrix: S = 0 and orthonormal factors', () => {
    const A = nt.zeros([30, 20], 'f32');
    const r = nt.linalg.rsvd(A, 4, { seed: 3 });
    expect(Array.from(r.S.data)).toEqual([0, 0, 0, 0]);
    expect(orthoError(read(r.U))).toBeLessThanOrEqual(1e-5);
    expect(orthoError(transpose(read(r.Vt)))).toBeLessThanOrEqual(1e-5);
    disposeAll(A, r);
  });

  it('is reproducible with a seed and different for another seed', () => {
    const A = toTensor(uniformM(90, 70, 4), 'f32');
    const a = nt.linalg.rsvd(A, 5, { seed: 123 });
    const b = nt.linalg.rsvd(A, 5, { seed: 123 });
    const c = nt.linalg.rsvd(A, 5, { seed: 124 });
    expect(Array.from(b.U.data)).toEqual(Array.from(a.U.data));
    expect(Array.from(b.S.data)).toEqual(Array.from(a.S.data));
    expect(Array.from(b.Vt.data)).toEqual(Array.from(a.Vt.data));
    expect(Array.from(c.S.data)).not.toEqual(Array.from(a.S.data));
    disposeAll(A, a, b, c);
  });

  it('gives the same result to rounding for 1 and 2 threads, and rsvdAsync equals rsvd', async () => {
    const A = toTensor(known(400, 300, decaying(300), 8).a, 'f64');
    const before = nt.getNumThreads();
    try {
      nt.setNumThreads(1);
      const one = nt.linalg.rsvd(A, 8, { seed: 5 });
      nt.setNumThreads(2);
      const two = nt.linalg.rsvd(A, 8, { seed: 5 });
      expect(relErr(read(one.S), read(two.S))).toBeLessThanOrEqual(1e-13);
      expect(relErr(read(one.U), read(two.U))).toBeLessThanOrEqual(1e-10);
      const p = await nt.linalg.rsvdAsync(A, 8, { seed: 5 });
      expect(Array.from(p.S.data)).toEqual(Array.from(two.S.data));
      expect(Array.from(p.U.data)).toEqual(Array.from(two.U.data));
      disposeAll(one, two, p);
    } finally {
      nt.setNumThreads(before);
      A.dispose();
    }
  });

  it('reads strided views and f16 input', () => {
    const base = toTensor(known(50, 40, decaying(40), 9).a, 'f32');
    const v = base.transpose(1, 0);
    const c = v.contiguous();
    const x = nt.linalg.rsvd(v, 4, { seed: 1 });
    const y = nt.linalg.rsvd(c, 4, { seed: 1 });
    expect(Array.from(x.S.data)).toEqual(Array.from(y.S.data));
    const h = base.astype('f16');
    const z = nt.linalg.rsvd(h, 4, { seed: 1 });
    expect(z.S.dtype).toBe('f32');
    expect(maxRelSigmaError(read(z.S).data, decaying(4))).toBeLessThanOrEqual(2e-3);
    disposeAll(base, v, c, x, y, h, z);
  });

  describe('errors', () => {
    it('validates rank, oversample, powerIters and seed', () => {
      const A = nt.zeros([5, 3]);
      const cases: [() => unknown, string][] = [
        [() => nt.linalg.rsvd(A, 0), '[linalg.rsvd] rank must be an integer in [1, min(m, n) = 3], got number 0'],
        [() => nt.linalg.rsvd(A, 4), '[linalg.rsvd] rank must be an integer in [1, min(m, n) = 3], got number 4'],
        [() => nt.linalg.rsvd(A, 1.5), '[linalg.rsvd] rank must be an integer in [1, min(m, n) = 3], got number 1.5'],
        [() => nt.linalg.rsvd(A, NaN), '[linalg.rsvd] rank must be an integer in [1, min(m, n) = 3], got number NaN'],
        [() => nt.linalg.rsvd(A, '2' as unknown as number), '[linalg.rsvd] rank must be an integer in [1, min(m, n) = 3], got string 2'],
        [() => nt.linalg.rsvd(A, 2, { oversample: -1 }), '[linalg.rsvd] oversample must be an integer >= 0, got number -1'],
        [() => nt.linalg.rsvd(A, 2, { powerIters: 0.5 }), '[linalg.rsvd] powerIters must be an integer >= 0, got number 0.5'],
        [() => nt.linalg.rsvd(A, 2, { seed: -3 }), '[linalg.rsvd] seed must be a non-negative safe integer, got number -3'],
      ];
      for (const [fn, msg] of cases) {
        const e = errorOf(fn);
        expect(e.code).toBe('NT_VALUE');
        expect(e.message).toBe(msg);
      }
      const empty = nt.zeros([0, 4]);
      expect(errorOf(() => nt.linalg.rsvd(empty, 1)).message).toBe(
        '[linalg.rsvd] rank must be an integer in [1, min(m, n) = 0], got number 1',
      );
      disposeAll(A, empty);
    });

    it('rejects bad tensors: rank, dtype, disposed, NaN (sync and async, outputs freed)', async () => {
      const cube = nt.zeros([2, 2, 2]);
      expect(errorOf(() => nt.linalg.rsvd(cube, 1)).code).toBe('NT_SHAPE');
      const ints = nt.zeros([3, 3], 'u8');
      expect(errorOf(() => nt.linalg.rsvd(ints, 1)).code).toBe('NT_DTYPE');
      const gone = nt.zeros([3, 3]);
      gone.dispose();
      expect(errorOf(() => nt.linalg.rsvd(gone, 1)).code).toBe('NT_DISPOSED');
      const nan = nt.tensor([1, 2, 3, NaN], { shape: [2, 2] });
      const base = nt.memory();
      const e = errorOf(() => nt.linalg.rsvd(nan, 1));
      expect(e.code).toBe('NT_VALUE');
      expect(e.message).toBe('[linalg.rsvd] input contains NaN or Inf');
      const r = await rejectionOf(nt.linalg.rsvdAsync(nan, 1));
      expect(r.code).toBe('NT_VALUE');
      expect(nt.memory()).toEqual(base);
      disposeAll(cube, ints, nan);
    });
  });
});

describe('linalg.powerIteration', () => {
  const spectrum = [10, 6, 3, 1.5, 0.5, 0.2, 0.1];
  for (const dtype of DTYPES)
    for (const k of [1, 2, 3, 4])
      it(`finds the top ${k} singular triplets of a ${dtype} 90x70 matrix of known spectrum`, () => {
        const { a, u: uRef, v: vRef } = known(90, 70, spectrum, 30 + k);
        const A = toTensor(a, dtype);
        const r = nt.linalg.powerIteration(A, { k, seed: 3, iters: 500 });
        try {
          expect(r.converged).toBe(true);
          expect(r.residual).toBeLessThanOrEqual(dtype === 'f64' ? 1e-10 : 1e-5);
          expect(r.iterations).toBeGreaterThan(1);
          expect(r.U.shape).toEqual([90, k]);
          expect(r.Vt.shape).toEqual([k, 70]);
          const sv = read(r.S).data;
          expect(maxRelSigmaError(sv, spectrum)).toBeLessThanOrEqual(TOL[dtype].powerSigma);
          const u = read(r.U);
          const v = transpose(read(r.Vt));
          expect(orthoError(u)).toBeLessThanOrEqual(TOL[dtype].ortho);
          expect(orthoError(v)).toBeLessThanOrEqual(TOL[dtype].ortho);
          for (let j = 0; j < k; ++j) {
            expect(alignment(u, uRef, j)).toBeGreaterThan(1 - (dtype === 'f64' ? 1e-9 : 1e-4));
            expect(alignment(v, vRef, j)).toBeGreaterThan(1 - (dtype === 'f64' ? 1e-9 : 1e-4));
          }
          // A^T u_i = s_i v_i
          const atu = matmul(a, u, true);
          for (let i = 0; i < 70; ++i) for (let j = 0; j < k; ++j) atu.data[i * k + j] -= sv[j] * v.data[i * k + j];
          expect(frob(atu) / spectrum[0]).toBeLessThanOrEqual(dtype === 'f64' ? 1e-10 : 1e-5);
        } finally {
          disposeAll(A, r.U, r.S, r.Vt);
        }
      });

  it('gives the top eigenpairs of a symmetric positive semidefinite matrix (U = V)', () => {
    const q = orthonormal(50, 50, 77);
    const lambda = Array.from({ length: 50 }, (_, i) => 2 * 0.7 ** i);
    const ql = { ...q, data: q.data.slice() };
    for (let i = 0; i < 50; ++i) for (let j = 0; j < 50; ++j) ql.data[i * 50 + j] *= lambda[j];
    const a = matmul(ql, q, false, true);
    const A = toTensor(a, 'f64');
    const r = nt.linalg.powerIteration(A, { k: 3, seed: 9 });
    expect(r.converged).toBe(true);
    expect(maxRelSigmaError(read(r.S).data, lambda)).toBeLessThanOrEqual(1e-9);
    const u = read(r.U);
    const v = transpose(read(r.Vt));
    for (let j = 0; j < 3; ++j) {
      expect(alignment(u, q, j)).toBeGreaterThan(1 - 1e-9);
      expect(alignment(u, v, j)).toBeGreaterThan(1 - 1e-9);
    }
    disposeAll(A, r.U, r.S, r.Vt);
  });

  it('runs exactly `iters` iterations with tol 0 (GEAR-style fixed budget)', () => {
    const A = toTensor(uniformM(40, 30, 5), 'f32');
    const r = nt.linalg.powerIteration(A, { k: 2, iters: 3, tol: 0, seed: 1 });
    expect(r.iterations).toBe(3);
    expect(r.converged).toBe(false);
    expect(Number.isNaN(r.residual)).toBe(true);
    disposeAll(A, r.U, r.S, r.Vt);
  });

  it('reports no convergence when the budget runs out, without failing', () => {
    // s_1 / s_0 = 0.999: far too slow for 5 iterations
    const { a } = known(60, 40, [1, 0.999, 0.5], 6);
    const A = toTensor(a, 'f64');
    const r = nt.linalg.powerIteration(A, { iters: 5, seed: 2 });
    expect(r.converged).toBe(false);
    expect(r.iterations).toBe(5);
    expect(r.residual).toBeGreaterThan(1e-10);
    disposeAll(A, r.U, r.S, r.Vt);
  });

  it('handles the zero matrix and is reproducible; async equals sync', async () => {
    const Z = nt.zeros([8, 6], 'f64');
    const z = nt.linalg.powerIteration(Z, { k: 2, seed: 1 });
    expect(Array.from(z.S.data)).toEqual([0, 0]);
    expect(z.converged).toBe(true);
    const A = toTensor(uniformM(30, 20, 6), 'f64');
    const x = nt.linalg.powerIteration(A, { k: 2, seed: 4 });
    const y = await nt.linalg.powerIterationAsync(A, { k: 2, seed: 4 });
    expect(Array.from(y.S.data)).toEqual(Array.from(x.S.data));
    expect(Array.from(y.U.data)).toEqual(Array.from(x.U.data));
    expect(y.iterations).toBe(x.iterations);
    disposeAll(Z, z.U, z.S, z.Vt, A, x.U, x.S, x.Vt, y.U, y.S, y.Vt);
  });

  it('validates k, iters, tol and the input', async () => {
    const A = nt.zeros([6, 3]);
    const cases: [() => unknown, string][] = [
      [() => nt.linalg.powerIteration(A, { k: 4 }), '[linalg.powerIteration] k must be an integer in [1, 3], got number 4'],
      [() => nt.linalg.powerIteration(A, { k: 0 }), '[linalg.powerIteration] k must be an integer in [1, 3], got number 0'],
      [() => nt.linalg.powerIteration(A, { iters: 0 }), '[linalg.powerIteration] iters must be an integer >= 1, got number 0'],
      [() => nt.linalg.powerIteration(A, { tol: -1 }), '[linalg.powerIteration] tol must be a finite number >= 0, got number -1'],
      [() => nt.linalg.powerIteration(A, { tol: NaN }), '[linalg.powerIteration] tol must be a finite number >= 0, got number NaN'],
    ];
    for (const [fn, msg] of cases) {
      const e = errorOf(fn);
      expect(e.code).toBe('NT_VALUE');
      expect(e.message).toBe(msg);
    }
    const big = nt.zeros([10, 10]);
    expect(errorOf(() => nt.linalg.powerIteration(big, { k: 5 })).message).toBe(
      '[linalg.powerIteration] k must be an integer in [1, 4], got number 5',
    );
    const inf = nt.tensor([1, Infinity, 0, 1], { shape: [2, 2], dtype: 'f64' });
    expect(errorOf(() => nt.linalg.powerIteration(inf)).message).toBe('[linalg.powerIteration] input contains NaN or Inf');
    expect((await rejectionOf(nt.linalg.powerIterationAsync(inf))).code).toBe('NT_VALUE');
    const vec = nt.zeros([4]);
    expect(errorOf(() => nt.linalg.powerIteration(vec)).code).toBe('NT_SHAPE');
    const empty = nt.zeros([0, 3]);
    expect(errorOf(() => nt.linalg.powerIteration(empty)).code).toBe('NT_VALUE');
    disposeAll(A, big, inf, vec, empty);
  });
});
