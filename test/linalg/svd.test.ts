// nt.linalg.svd against invariants computed in float64: reconstruction, orthonormality of U
// and V, ordering; singular values against the float64 decomposition of the same (rounded)
// input and against ||A||_F^2 = sum s^2; special matrices (rank-deficient, repeated values,
// graded cond 1e10, zero, identity), again at the divide-and-conquer sizes (graded 1e-12 .. 1);
// thin/full shapes, values-only, strided and half inputs,
// thread-count independence, the async twin and every error path.
//
// Tolerances (one table). eps = unit roundoff of the compute dtype.
//   | check                                        | f32   | f64   |
//   | ||A - U S Vt||_F / ||A||_F                   | 1e-5  | 1e-12 |
//   | max |U^T U - I|, max |V V^T - I|              | 1e-5  | 1e-12 |
//   | |s - s_ref| / s_max (values vs f64 / known)  | 1e-5  | 1e-12 |
//   | repeated values: projector distance           | 1e-4  | 1e-10 |  (gap-dependent: sin theta ~ eps ||A|| / gap)
//   | graded cond 1e10: rel. error of s >= 1e-2 s0  | 1e-4  | 1e-10 |
//   | 1 vs 2 threads                               | 4 eps * s_max (identical in practice)    |
//   | values-only (QR iteration) vs full, n >= 64  | 64 eps * s_max (divide and conquer: another solver, both eps ||A||) |
import * as nt from '../../lib';
import { errorOf, seeded, uniform } from '../helpers/reference';
import { values } from '../ops/helpers';

type D = 'f32' | 'f64';
const TOL: Record<D, { recon: number; orth: number; values: number; subspace: number; graded: number }> = {
  f32: { recon: 1e-5, orth: 1e-5, values: 1e-5, subspace: 1e-4, graded: 1e-4 },
  f64: { recon: 1e-12, orth: 1e-12, values: 1e-12, subspace: 1e-10, graded: 1e-10 },
};
const EPS: Record<D, number> = { f32: 2 ** -24, f64: 2 ** -53 };
const SOLVERS = 64; // values-only vs full, in eps * s_max (table above)

interface Mat {
  r: number;
  c: number;
  v: Float64Array;
}
const mat = (t: nt.Tensor): Mat => ({ r: t.shape[0], c: t.shape[1], v: values(t) });
const at = (a: Mat, i: number, j: number): number => a.v[i * a.c + j];

function fromMat(a: Mat, dtype: D | 'f16' | 'bf16'): nt.Tensor {
  return nt.tensor(Float64Array.from(a.v), { shape: [a.r, a.c], dtype });
}
function randomMat(r: number, c: number, seed: number): Mat {
  return { r, c, v: uniform(r * c, seed) };
}
function matmul(a: Mat, b: Mat): Mat {
  const v = new Float64Array(a.r * b.c);
  for (let i = 0; i < a.r; ++i)
    for (let p = 0; p < a.c; ++p) {
      const x = a.v[i * a.c + p];
      if (x === 0) continue;
      for (let j = 0; j < b.c; ++j) v[i * b.c + j] += x * b.v[p * b.c + j];
    }
  return { r: a.r, c: b.c, v };
}
function transpose(a: Mat): Mat {
  const v = new Float64Array(a.r * a.c);
  for (let i = 0; i < a.r; ++i) for (let j = 0; j < a.c; ++j) v[j * a.r + i] = a.v[i * a.c + j];
  return { r: a.c, c: a.r, v };
}
const frob = (a: Mat): number => Math.sqrt(a.v.reduce((s, x) => s + x * x, 0));

/** Random orthogonal n x n: a product of 4 Householder reflectors (independent of nt). */
function randomOrthogonal(n: number, seed: number): Mat {
  const q: Mat = { r: n, c: n, v: new Float64Array(n * n) };
  for (let i = 0; i < n; ++i) q.v[i * n + i] = 1;
  const rnd = seeded(seed);
  for (let h = 0; h < 4; ++h) {
    const v = Array.from({ length: n }, () => rnd() - 0.5);
    const vv = v.reduce((s, x) => s + x * x, 0);
    for (let j = 0; j < n; ++j) {
      let dot = 0;
      for (let i = 0; i < n; ++i) dot += v[i] * q.v[i * n + j];
      for (let i = 0; i < n; ++i) q.v[i * n + j] -= (2 * dot * v[i]) / vv;
    }
  }
  return q;
}
/** Q1[:, :k] diag(s) Q2[:, :k]^T, an m x n matrix with known singular values s (k = s.length). */
function withValues(m: number, n: number, s: number[], seed: number): Mat {
  const q1 = randomOrthogonal(m, seed), q2 = randomOrthogonal(n, seed + 1);
  const v = new Float64Array(m * n);
  for (let p = 0; p < s.length; ++p)
    for (let i = 0; i < m; ++i) {
      const x = q1.v[i * m + p] * s[p];
      for (let j = 0; j < n; ++j) v[i * n + j] += x * q2.v[j * n + p];
    }
  return { r: m, c: n, v };
}

/** max |X^T X - I| over the columns of X. */
function orthCols(x: Mat): number {
  const g = matmul(transpose(x), x);
  let e = 0;
  for (let i = 0; i < g.r; ++i) for (let j = 0; j < g.c; ++j) e = Math.max(e, Math.abs(at(g, i, j) - (i === j ? 1 : 0)));
  return e;
}

interface Checked {
  s: Float64Array;
  u: Mat;
  vt: Mat;
}
/** Runs svd and checks every invariant of an SVD of `a` (as stored in `t`). */
function checkSvd(t: nt.Tensor, dtype: D, full = false): Checked {
  const a = mat(t);
  const { U, S, Vt } = nt.linalg.svd(t, { full });
  try {
    const m = a.r, n = a.c, k = Math.min(m, n);
    expect(S.shape).toEqual([k]);
    expect(U!.shape).toEqual([m, full ? m : k]);
    expect(Vt!.shape).toEqual([full ? n : k, n]);
    expect([S.dtype, U!.dtype, Vt!.dtype]).toEqual([dtype, dtype, dtype]);
    const s = values(S), u = mat(U!), vt = mat(Vt!);
    for (let i = 0; i < k; ++i) {
      expect(s[i]).toBeGreaterThanOrEqual(0);
      if (i > 0) expect(s[i]).toBeLessThanOrEqual(s[i - 1]);
    }
    // A - U[:, :k] diag(s) Vt[:k, :]
    const us: Mat = { r: m, c: k, v: new Float64Array(m * k) };
    for (let i = 0; i < m; ++i) for (let p = 0; p < k; ++p) us.v[i * k + p] = at(u, i, p) * s[p];
    const vk: Mat = { r: k, c: n, v: vt.v.slice(0, k * n) };
    const rec = matmul(us, vk);
    const diff: Mat = { r: m, c: n, v: rec.v.map((x, i) => x - a.v[i]) };
    const na = frob(a);
    expect(na > 0 ? frob(diff) / na : frob(diff)).toBeLessThanOrEqual(TOL[dtype].recon);
    expect(orthCols(u)).toBeLessThanOrEqual(TOL[dtype].orth);
    expect(orthCols(transpose(vt))).toBeLessThanOrEqual(TOL[dtype].orth);
    // sum s^2 = ||A||_F^2
    const ss = Math.sqrt(s.reduce((acc, x) => acc + x * x, 0));
    expect(Math.abs(ss - na)).toBeLessThanOrEqual(TOL[dtype].values * Math.max(na, 1e-300) + 1e-300);
    return { s, u, vt };
  } finally {
    U!.dispose();
    S.dispose();
    Vt!.dispose();
  }
}

const SHAPES: [number, number][] = [
  [1, 1],
  [2, 2],
  [7, 3],
  [3, 7],
  [33, 33],
  [129, 65],
  [65, 129],
  [500, 200],
];

describe('linalg.svd: decomposition invariants', () => {
  for (const dtype of ['f32', 'f64'] as D[])
    for (const [m, n] of SHAPES)
      test(`${dtype} ${m}x${n}: A = U S Vt, U and V orthonormal, S descending, values match float64`, () => {
        const a = randomMat(m, n, 1000 * m + n);
        const t = fromMat(a, dtype);
        const { s } = checkSvd(t, dtype);
        if (dtype === 'f32') {
          // the f64 decomposition of the same rounded input
          const t64 = t.astype('f64');
          const r = nt.linalg.svd(t64, { computeUV: false });
          const s64 = values(r.S);
          for (let i = 0; i < s.length; ++i) expect(Math.abs(s[i] - s64[i])).toBeLessThanOrEqual(TOL.f32.values * s64[0]);
          r.S.dispose();
          t64.dispose();
        }
        t.dispose();
      });

  for (const dtype of ['f32', 'f64'] as D[])
    for (const [m, n] of [
      [7, 3],
      [3, 7],
      [129, 65],
      [65, 129],
      [200, 60],
    ] as [number, number][])
      test(`${dtype} ${m}x${n} full: U [m,m] and Vt [n,n] orthogonal and reconstruct A`, () => {
        const t = fromMat(randomMat(m, n, 77 + m), dtype);
        const full = checkSvd(t, dtype, true);
        const thin = nt.linalg.svd(t);
        // the first k columns span the same spaces as the thin factors (same algorithm: equal)
        const k = Math.min(m, n);
        const ut = mat(thin.U!);
        for (let i = 0; i < m; ++i)
          for (let p = 0; p < k; ++p) expect(Math.abs(at(ut, i, p) - at(full.u, i, p))).toBeLessThanOrEqual(TOL[dtype].orth);
        thin.U!.dispose();
        thin.S.dispose();
        thin.Vt!.dispose();
        t.dispose();
      });
});

describe('linalg.svd: special matrices', () => {
  for (const dtype of ['f32', 'f64'] as D[]) {
    test(`${dtype} rank-deficient (rank 3 of 40x30): exact zero values, U and V still orthonormal`, () => {
      const a = matmul(randomMat(40, 3, 5), randomMat(3, 30, 6));
      const t = fromMat(a, dtype);
      for (const full of [false, true]) {
        const { s } = checkSvd(t, dtype, full);
        for (let i = 3; i < 30; ++i) expect(s[i]).toBeLessThanOrEqual(TOL[dtype].values * s[0]);
        expect(s[2]).toBeGreaterThan(1e-3 * s[0]);
      }
      t.dispose();
    });

    test(`${dtype} repeated singular values: the invariant subspaces match (projector distance)`, () => {
      const sv = [3, 3, 3, 2, 1, 1, 0.5];
      const m = 20, n = 12;
      const a = withValues(m, n, sv, 11);
      const q1 = randomOrthogonal(m, 11);
      const t = fromMat(a, dtype);
      const { s, u } = checkSvd(t, dtype);
      for (let i = 0; i < n; ++i) expect(Math.abs(s[i] - (sv[i] ?? 0))).toBeLessThanOrEqual(TOL[dtype].values * 3 * 4);
      // projector onto the sigma = 3 left subspace: ours vs Q1[:, 0:3]
      let dist = 0;
      for (let i = 0; i < m; ++i)
        for (let j = 0; j < m; ++j) {
          let p = 0,
            r = 0;
          for (let c = 0; c < 3; ++c) {
            p += at(u, i, c) * at(u, j, c);
            r += q1.v[i * m + c] * q1.v[j * m + c];
          }
          dist = Math.max(dist, Math.abs(p - r));
        }
      expect(dist).toBeLessThanOrEqual(TOL[dtype].subspace);
      t.dispose();
    });

    test(`${dtype} graded, cond 1e10: large values to high relative accuracy, reconstruction bound`, () => {
      const n = 40;
      const sv = Array.from({ length: n }, (_, i) => 10 ** (-10 * (i / (n - 1))));
      const t = fromMat(withValues(50, n, sv, 21), dtype);
      const { s } = checkSvd(t, dtype);
      for (let i = 0; i < n; ++i) {
        expect(Math.abs(s[i] - sv[i])).toBeLessThanOrEqual(TOL[dtype].values * 4);
        if (sv[i] >= 1e-2) expect(Math.abs(s[i] - sv[i]) / sv[i]).toBeLessThanOrEqual(TOL[dtype].graded);
      }
      t.dispose();
    });

    test(`${dtype} zero matrix: S = 0, orthonormal U and V`, () => {
      const t = nt.zeros([9, 5], dtype);
      const { s } = checkSvd(t, dtype);
      expect(Array.from(s)).toEqual([0, 0, 0, 0, 0]);
      checkSvd(t, dtype, true);
      t.dispose();
    });

    test(`${dtype} identity: S = 1`, () => {
      const t = nt.eye(17, dtype);
      const { s } = checkSvd(t, dtype);
      for (const x of s) expect(Math.abs(x - 1)).toBeLessThanOrEqual(4 * EPS[dtype]);
      t.dispose();
    });
  }

  test('empty matrices: k = 0; full factors are identities', () => {
    for (const [m, n] of [
      [0, 0],
      [0, 4],
      [3, 0],
    ]) {
      const t = nt.zeros([m, n]);
      const thin = nt.linalg.svd(t);
      expect([thin.U!.shape, thin.S.shape, thin.Vt!.shape]).toEqual([[m, 0], [0], [0, n]]);
      const full = nt.linalg.svd(t, { full: true });
      const eyeM = nt.eye(m), eyeN = nt.eye(n);
      expect(Array.from(values(full.U!))).toEqual(Array.from(values(eyeM)));
      expect(Array.from(values(full.Vt!))).toEqual(Array.from(values(eyeN)));
      for (const x of [thin.U!, thin.S, thin.Vt!, full.U!, full.S, full.Vt!, eyeM, eyeN, t]) x.dispose();
    }
  });
});

// From min(m, n) = 64 up the bidiagonal problem is solved by divide and conquer (native
// linalg/bidiagonal_dc.h) instead of the QR iteration: the special matrices again at those sizes,
// odd and unequal, with the singular values known in float64 by construction.
describe('linalg.svd: divide and conquer sizes (min(m, n) >= 64)', () => {
  for (const dtype of ['f32', 'f64'] as D[]) {
    test(`${dtype} graded 1e-12 .. 1 (91x77): values to eps ||A||, the large ones relative`, () => {
      const n = 77;
      const sv = Array.from({ length: n }, (_, i) => 10 ** (-12 * (i / (n - 1))));
      const t = fromMat(withValues(91, n, sv, 31), dtype);
      for (const full of [false, true]) {
        const { s } = checkSvd(t, dtype, full);
        for (let i = 0; i < n; ++i) {
          expect(Math.abs(s[i] - sv[i])).toBeLessThanOrEqual(TOL[dtype].values * 4);
          if (sv[i] >= 1e-2) expect(Math.abs(s[i] - sv[i]) / sv[i]).toBeLessThanOrEqual(TOL[dtype].graded);
        }
      }
      t.dispose();
    });

    test(`${dtype} repeated values (101x83, groups of 4 and 9): values and invariant subspaces`, () => {
      const m = 101, n = 83;
      const sv = Array.from({ length: n }, (_, i) => (i < 4 ? 5 : i < 13 ? 2 : 1 / (1 + i)));
      const a = withValues(m, n, sv, 41);
      const q1 = randomOrthogonal(m, 41);
      const t = fromMat(a, dtype);
      const { s, u } = checkSvd(t, dtype);
      for (let i = 0; i < n; ++i) expect(Math.abs(s[i] - sv[i])).toBeLessThanOrEqual(TOL[dtype].values * 5 * 4);
      // projector onto the sigma = 5 and sigma = 2 left subspaces: ours vs Q1's columns
      for (const [c0, c1] of [
        [0, 4],
        [4, 13],
      ]) {
        let dist = 0;
        for (let i = 0; i < m; ++i)
          for (let j = 0; j < m; ++j) {
            let p = 0,
              r = 0;
            for (let c = c0; c < c1; ++c) {
              p += at(u, i, c) * at(u, j, c);
              r += q1.v[i * m + c] * q1.v[j * m + c];
            }
            dist = Math.max(dist, Math.abs(p - r));
          }
        expect(dist).toBeLessThanOrEqual(TOL[dtype].subspace);
      }
      t.dispose();
    });

    test(`${dtype} zero (70x65) and rank 5 of 90x75: zero values exact or at eps, U and V orthonormal`, () => {
      const z = nt.zeros([70, 65], dtype);
      for (const full of [false, true]) {
        const { s } = checkSvd(z, dtype, full);
        expect(s.every((x) => x === 0)).toBe(true);
      }
      z.dispose();
      const t = fromMat(matmul(randomMat(90, 5, 51), randomMat(5, 75, 52)), dtype);
      for (const full of [false, true]) {
        const { s } = checkSvd(t, dtype, full);
        for (let i = 5; i < 75; ++i) expect(s[i]).toBeLessThanOrEqual(TOL[dtype].values * s[0]);
        expect(s[4]).toBeGreaterThan(1e-3 * s[0]);
      }
      t.dispose();
    });

    test(`${dtype} 157x131 and 131x157: values equal the QR iteration's (computeUV false) to eps ||A||`, () => {
      for (const [m, n] of [
        [157, 131],
        [131, 157],
      ]) {
        const t = fromMat(randomMat(m, n, 61 + m), dtype);
        const { s } = checkSvd(t, dtype);
        const r = nt.linalg.svd(t, { computeUV: false });
        const q = values(r.S);
        for (let i = 0; i < s.length; ++i) expect(Math.abs(s[i] - q[i])).toBeLessThanOrEqual(SOLVERS * EPS[dtype] * q[0]);
        r.S.dispose();
        t.dispose();
      }
    });
  }
});

describe('linalg.svd: variants', () => {
  test('computeUV false: only S, equal to the values of the full decomposition', () => {
    for (const dtype of ['f32', 'f64'] as D[])
      for (const [m, n] of [
        [129, 65],
        [65, 129],
        [300, 40],
      ]) {
        const t = fromMat(randomMat(m, n, 3), dtype);
        const r = nt.linalg.svd(t, { computeUV: false });
        expect(r.U).toBeUndefined();
        expect(r.Vt).toBeUndefined();
        const f = nt.linalg.svd(t);
        const a = values(r.S),
          b = values(f.S);
        for (let i = 0; i < a.length; ++i) expect(Math.abs(a[i] - b[i])).toBeLessThanOrEqual(SOLVERS * EPS[dtype] * b[0]);
        for (const x of [r.S, f.U!, f.S, f.Vt!, t]) x.dispose();
      }
  });

  test('strided views (transpose, slice) decompose like their contiguous copies', () => {
    const base = fromMat(randomMat(40, 30, 8), 'f64');
    for (const view of [base.transpose(), base.slice([5, 38], [2, 29])]) {
      const copy = view.contiguous();
      const a = nt.linalg.svd(view),
        b = nt.linalg.svd(copy);
      expect(Array.from(values(a.S))).toEqual(Array.from(values(b.S)));
      expect(Array.from(values(a.U!))).toEqual(Array.from(values(b.U!)));
      expect(Array.from(values(a.Vt!))).toEqual(Array.from(values(b.Vt!)));
      for (const x of [a.U!, a.S, a.Vt!, b.U!, b.S, b.Vt!, copy]) x.dispose();
    }
    base.dispose();
  });

  test('f16 and bf16 inputs are read as f32 and give f32 factors', () => {
    for (const dtype of ['f16', 'bf16'] as const) {
      const t = fromMat(randomMat(20, 11, 4), dtype);
      const t32 = t.astype('f32');
      const r = nt.linalg.svd(t),
        r32 = nt.linalg.svd(t32);
      expect(r.S.dtype).toBe('f32');
      expect(Array.from(values(r.S))).toEqual(Array.from(values(r32.S)));
      for (const x of [r.U!, r.S, r.Vt!, r32.U!, r32.S, r32.Vt!, t, t32]) x.dispose();
    }
  });

  test('1 and 2 threads give the same factors (to rounding)', () => {
    const before = nt.getNumThreads();
    for (const dtype of ['f32', 'f64'] as D[]) {
      const t = fromMat(randomMat(300, 170, 9), dtype);
      nt.setNumThreads(1);
      const a = nt.linalg.svd(t);
      nt.setNumThreads(2);
      const b = nt.linalg.svd(t);
      const s0 = values(a.S)[0];
      for (const [x, y] of [
        [a.S, b.S],
        [a.U!, b.U!],
        [a.Vt!, b.Vt!],
      ]) {
        const vx = values(x),
          vy = values(y);
        let d = 0;
        for (let i = 0; i < vx.length; ++i) d = Math.max(d, Math.abs(vx[i] - vy[i]));
        expect(d).toBeLessThanOrEqual(4 * EPS[dtype] * Math.max(1, s0));
      }
      for (const x of [a.U!, a.S, a.Vt!, b.U!, b.S, b.Vt!, t]) x.dispose();
    }
    nt.setNumThreads(before);
  });

  test('svdAsync equals svd', async () => {
    const t = fromMat(randomMat(90, 45, 12), 'f32');
    const a = nt.linalg.svd(t, { full: true });
    const b = await nt.linalg.svdAsync(t, { full: true });
    expect(Array.from(values(b.S))).toEqual(Array.from(values(a.S)));
    expect(Array.from(values(b.U!))).toEqual(Array.from(values(a.U!)));
    expect(Array.from(values(b.Vt!))).toEqual(Array.from(values(a.Vt!)));
    const v = await nt.linalg.svdAsync(t, { computeUV: false });
    expect(Array.from(values(v.S))).toEqual(Array.from(values(a.S)));
    for (const x of [a.U!, a.S, a.Vt!, b.U!, b.S, b.Vt!, v.S, t]) x.dispose();
  });

  test('memory returns to baseline after dispose, and after a failed call', () => {
    const t = fromMat(randomMat(30, 20, 13), 'f64');
    const before = nt.memory();
    const r = nt.linalg.svd(t, { full: true });
    for (const x of [r.U!, r.S, r.Vt!]) x.dispose();
    const bad = nt.tensor(new Float32Array([1, NaN, 3, 4]), { shape: [2, 2] });
    const mid = nt.memory();
    expect(() => nt.linalg.svd(bad)).toThrow(/NaN or Inf/);
    expect(nt.memory()).toEqual(mid);
    bad.dispose();
    expect(nt.memory()).toEqual(before);
    t.dispose();
  });
});

describe('linalg.svd: errors', () => {
  const ok = () => nt.zeros([3, 3]);
  test('rank != 2 is NT_SHAPE with the shape in the message', () => {
    for (const shape of [[3, 4, 5], [6], []]) {
      const t = nt.zeros(shape);
      const e = errorOf(() => nt.linalg.svd(t));
      expect(e.code).toBe('NT_SHAPE');
      expect(e.message).toBe(`[linalg.svd] expected a 2-D tensor, got shape [${shape.join(',')}]`);
      t.dispose();
    }
  });
  test('NaN or Inf is NT_VALUE (sync and async)', async () => {
    for (const bad of [NaN, Infinity, -Infinity]) {
      for (const dtype of ['f32', 'f64'] as D[]) {
        const v = new Float64Array(12).fill(1);
        v[7] = bad;
        const t = nt.tensor(v, { shape: [4, 3], dtype });
        for (const computeUV of [true, false]) {
          const e = errorOf(() => nt.linalg.svd(t, { computeUV }));
          expect(e.code).toBe('NT_VALUE');
          expect(e.message).toBe('[linalg.svd] input contains NaN or Inf');
        }
        await expect(nt.linalg.svdAsync(t)).rejects.toMatchObject({ code: 'NT_VALUE', message: expect.stringMatching(/NaN or Inf/) });
        t.dispose();
      }
    }
  });
  test('integer dtypes are NT_DTYPE', async () => {
    const t = nt.zeros([3, 3], 'i32');
    const e = errorOf(() => nt.linalg.svd(t));
    expect(e.code).toBe('NT_DTYPE');
    expect(e.message).toMatch(/\[linalg\.svd\] expected a float tensor .* got i32/);
    await expect(nt.linalg.svdAsync(t)).rejects.toMatchObject({ code: 'NT_DTYPE' });
    t.dispose();
  });
  test('a disposed tensor is NT_DISPOSED; a non-tensor is NT_VALUE', () => {
    const t = ok();
    t.dispose();
    expect(errorOf(() => nt.linalg.svd(t))).toMatchObject({ code: 'NT_DISPOSED', message: '[linalg.svd] a was disposed' });
    expect(errorOf(() => nt.linalg.svd([[1, 2]] as unknown as nt.Tensor))).toMatchObject({ code: 'NT_VALUE' });
  });
  test('bad options are NT_VALUE', () => {
    const t = ok();
    const cases: [unknown, RegExp][] = [
      [{ full: 'yes' }, /full must be a boolean, got string yes/],
      [{ computeUV: 1 }, /computeUV must be a boolean, got number 1/],
      [{ fullMatrices: true }, /unknown option 'fullMatrices'/],
      [42, /options must be an object/],
      [null, /options must be an object/],
    ];
    for (const [opts, msg] of cases) {
      const e = errorOf(() => nt.linalg.svd(t, opts as nt.linalg.SvdOptions));
      expect(e.code).toBe('NT_VALUE');
      expect(e.message).toMatch(msg);
    }
    t.dispose();
  });
});
