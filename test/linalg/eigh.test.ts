// nt.linalg.eigh: checked by invariants against float64 math done here (residual
// ||A v - lambda v|| / ||A||, orthogonality of V, ascending order, trace) and against known
// spectra (matrices built as Q diag(lambda) Q^T, the 1-D Laplacian), on seeded inputs.
import * as nt from '../../lib';
import { errorOf, seeded } from '../helpers/reference';

type Dt = 'f32' | 'f64';
const DTYPES: Dt[] = ['f32', 'f64'];

// One tolerance table (ALGORITHMS.md §8 at n <= 1024), relative to ||A||_2:
//   residual: max_j ||A v_j - lambda_j v_j||_2 / ||A||_2; orthogonality: max |V^T V - I|;
//   value: |lambda - lambda_exact| / ||A||_2; subspace: max |V V^T - Q Q^T| over an eigenspace whose
//   gap to the rest of the spectrum is >= 1/3 of ||A|| (perturbation theory: eps ||A|| / gap, so 3x
//   headroom over the residual target).
const TOL: Record<Dt, { residual: number; orthogonality: number; value: number; subspace: number }> = {
  f32: { residual: 1e-5, orthogonality: 1e-5, value: 1e-5, subspace: 3e-5 },
  f64: { residual: 1e-12, orthogonality: 1e-12, value: 1e-12, subspace: 3e-12 },
};

// ---------- float64 helpers (row-major Float64Array matrices) ----------

function randomSymmetric(n: number, seed: number): Float64Array {
  const r = seeded(seed);
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; ++i)
    for (let j = 0; j <= i; ++j) a[i * n + j] = a[j * n + i] = 2 * r() - 1;
  return a;
}

/** A random orthogonal matrix: modified Gram-Schmidt (twice) on random columns. */
function randomOrthogonal(n: number, seed: number): Float64Array {
  const r = seeded(seed);
  const cols: Float64Array[] = [];
  for (let j = 0; j < n; ++j) {
    const v = new Float64Array(n);
    for (let i = 0; i < n; ++i) v[i] = 2 * r() - 1;
    for (let pass = 0; pass < 2; ++pass)
      for (const c of cols) {
        let d = 0;
        for (let i = 0; i < n; ++i) d += c[i] * v[i];
        for (let i = 0; i < n; ++i) v[i] -= d * c[i];
      }
    let s = 0;
    for (let i = 0; i < n; ++i) s += v[i] * v[i];
    s = Math.sqrt(s);
    for (let i = 0; i < n; ++i) v[i] /= s;
    cols.push(v);
  }
  const q = new Float64Array(n * n);
  for (let j = 0; j < n; ++j) for (let i = 0; i < n; ++i) q[i * n + j] = cols[j][i];
  return q;
}

/** Q diag(lambda) Q^T with Q random orthogonal; returns the matrix and Q. */
function fromSpectrum(lambda: number[], seed: number): { a: Float64Array; q: Float64Array } {
  const n = lambda.length;
  const q = randomOrthogonal(n, seed);
  const a = new Float64Array(n * n);
  const row = new Float64Array(n);
  for (let i = 0; i < n; ++i) {
    for (let k = 0; k < n; ++k) row[k] = q[i * n + k] * lambda[k];
    for (let j = 0; j <= i; ++j) {
      let s = 0;
      for (let k = 0; k < n; ++k) s += row[k] * q[j * n + k];
      a[i * n + j] = a[j * n + i] = s;
    }
  }
  return { a, q };
}

function toTensor(a: Float64Array, n: number, dtype: Dt): nt.Tensor {
  return nt.tensor(a, { shape: [n, n], dtype });
}

/** The elements of any float view as float64 (row-major). */
function f64(t: nt.Tensor): Float64Array {
  const c = t.astype('f64');
  try {
    return Float64Array.from(c.data as Float64Array);
  } finally {
    c.dispose();
  }
}

function sortedAscending(v: ArrayLike<number>): boolean {
  for (let i = 1; i < v.length; ++i) if (!(v[i - 1] <= v[i])) return false;
  return true;
}

/** max_j ||A v_j - lambda_j v_j|| / anorm and max |V^T V - I| (V: n x k row-major). */
function invariants(a: Float64Array, n: number, values: Float64Array, v: Float64Array, anorm: number) {
  const k = values.length;
  let residual = 0;
  let orthogonality = 0;
  const col = new Float64Array(n);
  const cols: Float64Array[] = [];
  for (let c = 0; c < k; ++c) {
    for (let i = 0; i < n; ++i) col[i] = v[i * k + c];
    cols.push(col.slice());
  }
  for (let c = 0; c < k; ++c) {
    const x = cols[c];
    let s = 0;
    for (let i = 0; i < n; ++i) {
      let t = -values[c] * x[i];
      const off = i * n;
      for (let j = 0; j < n; ++j) t += a[off + j] * x[j];
      s += t * t;
    }
    residual = Math.max(residual, Math.sqrt(s) / (anorm || 1));
    for (let c2 = c; c2 < k; ++c2) {
      const y = cols[c2];
      let d = 0;
      for (let i = 0; i < n; ++i) d += x[i] * y[i];
      orthogonality = Math.max(orthogonality, Math.abs(d - (c === c2 ? 1 : 0)));
    }
  }
  return { residual, orthogonality };
}

/** max |P - P_ref| for the projectors on span(V[:, cols]) and span(Q[:, refCols]). */
function projectorDistance(v: Float64Array, k: number, cols: number[], q: Float64Array, n: number, refCols: number[]): number {
  let worst = 0;
  for (let i = 0; i < n; ++i)
    for (let j = 0; j < n; ++j) {
      let p = 0;
      for (const c of cols) p += v[i * k + c] * v[j * k + c];
      let pr = 0;
      for (const c of refCols) pr += q[i * n + c] * q[j * n + c];
      worst = Math.max(worst, Math.abs(p - pr));
    }
  return worst;
}

function maxAbs(v: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < v.length; ++i) m = Math.max(m, Math.abs(v[i]));
  return m;
}

/** Runs eigh on `a` (rounded to dtype), checks ascending order and the invariants; returns the results. */
function decompose(a: Float64Array, n: number, dtype: Dt, anorm?: number) {
  const t = toTensor(a, n, dtype);
  // the invariants use the matrix eigh actually saw (rounded to dtype)
  const seen = f64(t);
  const { values, vectors } = nt.linalg.eigh(t);
  expect(values.dtype).toBe(dtype);
  expect(values.shape).toEqual([n]);
  expect(vectors.shape).toEqual([n, n]);
  const vals = f64(values);
  const vecs = f64(vectors);
  t.dispose();
  values.dispose();
  vectors.dispose();
  expect(sortedAscending(vals)).toBe(true);
  const norm = anorm ?? maxAbs(vals);
  const inv = invariants(seen, n, vals, vecs, norm);
  expect(inv.residual).toBeLessThanOrEqual(TOL[dtype].residual);
  expect(inv.orthogonality).toBeLessThanOrEqual(TOL[dtype].orthogonality);
  return { vals, vecs, seen, norm };
}

function trace(a: Float64Array, n: number): number {
  let s = 0;
  for (let i = 0; i < n; ++i) s += a[i * n + i];
  return s;
}

function linspace(lo: number, hi: number, n: number): number[] {
  return Array.from({ length: n }, (_, i) => (n === 1 ? lo : lo + ((hi - lo) * i) / (n - 1)));
}

function shuffle<T>(xs: T[], seed: number): T[] {
  const r = seeded(seed);
  const out = xs.slice();
  for (let i = out.length - 1; i > 0; --i) {
    const j = Math.floor(r() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

// ---------- tests ----------

describe('linalg.eigh', () => {
  let baseline: ReturnType<typeof nt.memory>;
  beforeAll(() => {
    baseline = nt.memory();
  });
  afterAll(() => {
    expect(nt.memory().tensors).toBe(baseline.tensors);
    expect(nt.memory().bytes).toBe(baseline.bytes);
  });

  for (const dtype of DTYPES) {
    describe(dtype, () => {
      it.each([1, 2, 7, 33, 129, 500])('decomposes a random symmetric %i x %i matrix (residual, orthogonality, trace)', (n) => {
        const a = randomSymmetric(n, 1000 + n);
        const { vals, seen, norm } = decompose(a, n, dtype);
        const sum = vals.reduce((s, x) => s + x, 0);
        expect(Math.abs(sum - trace(seen, n))).toBeLessThanOrEqual(TOL[dtype].value * n * norm);
      });

      it('recovers a known spectrum (Q diag(lambda) Q^T, n = 129)', () => {
        const n = 129;
        const lambda = shuffle(linspace(-3, 5, n), 5);
        const { a } = fromSpectrum(lambda, 6);
        const { vals } = decompose(a, n, dtype, 5);
        const want = lambda.slice().sort((x, y) => x - y);
        for (let i = 0; i < n; ++i) expect(Math.abs(vals[i] - want[i])).toBeLessThanOrEqual(TOL[dtype].value * 5);
      });

      it('finds the eigenspaces of repeated eigenvalues (projector distance)', () => {
        const groups = [
          { value: -1, count: 15 },
          { value: 1, count: 20 },
          { value: 2, count: 25 },
        ];
        const lambda: number[] = groups.flatMap((g) => Array(g.count).fill(g.value));
        const n = lambda.length;
        const { a, q } = fromSpectrum(lambda, 7);
        const { vals, vecs } = decompose(a, n, dtype, 2);
        let start = 0;
        for (const g of groups) {
          const cols = Array.from({ length: g.count }, (_, i) => start + i);
          for (const c of cols) expect(Math.abs(vals[c] - g.value)).toBeLessThanOrEqual(TOL[dtype].value * 2);
          // lambda lists the groups in ascending order, so the reference columns are the same indices
          expect(projectorDistance(vecs, n, cols, q, n, cols)).toBeLessThanOrEqual(TOL[dtype].subspace);
          start += g.count;
        }
      });

      it('handles a tight cluster (10 eigenvalues within 1e-9) among spread ones', () => {
        const lambda = [...linspace(-2, 0.5, 40), ...Array.from({ length: 10 }, (_, i) => 1 + i * 1e-10), ...linspace(1.5, 3, 30)];
        const n = lambda.length;
        const { a } = fromSpectrum(shuffle(lambda, 8), 9);
        const { vals } = decompose(a, n, dtype, 3);
        const want = lambda.slice().sort((x, y) => x - y);
        for (let i = 0; i < n; ++i) expect(Math.abs(vals[i] - want[i])).toBeLessThanOrEqual(TOL[dtype].value * 3);
      });

      it('handles a graded spectrum (1e-8 .. 1) with absolute accuracy', () => {
        const n = 100;
        const lambda = Array.from({ length: n }, (_, i) => 10 ** (-8 + (8 * i) / (n - 1)));
        const { a } = fromSpectrum(shuffle(lambda, 10), 11);
        const { vals } = decompose(a, n, dtype, 1);
        for (let i = 0; i < n; ++i) expect(Math.abs(vals[i] - lambda[i])).toBeLessThanOrEqual(TOL[dtype].value);
      });

      it('returns zeros and an orthogonal basis for the zero matrix', () => {
        const n = 40;
        const { vals } = decompose(new Float64Array(n * n), n, dtype, 1);
        expect(Array.from(vals)).toEqual(Array(n).fill(0));
      });

      it('returns ones for the identity', () => {
        const n = 50;
        const a = new Float64Array(n * n);
        for (let i = 0; i < n; ++i) a[i * n + i] = 1;
        const { vals } = decompose(a, n, dtype, 1);
        for (const v of vals) expect(Math.abs(v - 1)).toBeLessThanOrEqual(TOL[dtype].value);
      });

      it('sorts a diagonal matrix and returns unit vectors', () => {
        const n = 45;
        const diag = shuffle(linspace(-4, 4, n), 12);
        const a = new Float64Array(n * n);
        for (let i = 0; i < n; ++i) a[i * n + i] = diag[i];
        const { vals, vecs } = decompose(a, n, dtype, 4);
        const order = diag.map((d, i) => [d, i]).sort((x, y) => x[0] - y[0]);
        for (let c = 0; c < n; ++c) {
          expect(Math.abs(vals[c] - order[c][0])).toBeLessThanOrEqual(TOL[dtype].value * 4);
          expect(Math.abs(Math.abs(vecs[order[c][1] * n + c]) - 1)).toBeLessThanOrEqual(TOL[dtype].orthogonality);
        }
      });

      it('finds the null space of a rank-deficient matrix (B B^T, rank 10 of 70)', () => {
        const n = 70;
        const r = 10;
        const rnd = seeded(13);
        const b = Array.from({ length: n * r }, () => 2 * rnd() - 1);
        const a = new Float64Array(n * n);
        for (let i = 0; i < n; ++i)
          for (let j = 0; j < n; ++j) {
            let s = 0;
            for (let k = 0; k < r; ++k) s += b[i * r + k] * b[j * r + k];
            a[i * n + j] = s;
          }
        const { vals, norm } = decompose(a, n, dtype);
        for (let i = 0; i < n - r; ++i) expect(Math.abs(vals[i])).toBeLessThanOrEqual(TOL[dtype].value * norm);
        for (let i = n - r; i < n; ++i) expect(vals[i]).toBeGreaterThan(1e-3 * norm);
      });

      it('matches the known spectrum of the 1-D Laplacian tridiagonal (n = 200)', () => {
        const n = 200;
        const a = new Float64Array(n * n);
        for (let i = 0; i < n; ++i) {
          a[i * n + i] = 2;
          if (i + 1 < n) a[i * n + i + 1] = a[(i + 1) * n + i] = -1;
        }
        const { vals } = decompose(a, n, dtype, 4);
        for (let k = 0; k < n; ++k)
          expect(Math.abs(vals[k] - (2 - 2 * Math.cos(((k + 1) * Math.PI) / (n + 1))))).toBeLessThanOrEqual(TOL[dtype].value * 4);
      });

      it('reads only the lower triangle (garbage above the diagonal changes nothing)', () => {
        const n = 57;
        const a = randomSymmetric(n, 14);
        const g = a.slice();
        const rnd = seeded(15);
        for (let i = 0; i < n; ++i) for (let j = i + 1; j < n; ++j) g[i * n + j] = 100 * rnd();
        const ta = toTensor(a, n, dtype);
        const tg = toTensor(g, n, dtype);
        const ra = nt.linalg.eigh(ta);
        const rg = nt.linalg.eigh(tg);
        expect(f64(rg.values)).toEqual(f64(ra.values));
        expect(f64(rg.vectors)).toEqual(f64(ra.vectors));
        for (const t of [ta, tg, ra.values, ra.vectors, rg.values, rg.vectors]) t.dispose();
      });

      it('accepts strided views (a slice of a larger matrix, a transposed view)', () => {
        const n = 40;
        const big = randomSymmetric(n + 9, 16);
        const sub = new Float64Array(n * n);
        for (let i = 0; i < n; ++i) for (let j = 0; j < n; ++j) sub[i * n + j] = big[(i + 4) * (n + 9) + j + 5 + (i === j ? 0 : 0)];
        // make the reference exactly symmetric from the slice's lower triangle
        for (let i = 0; i < n; ++i) for (let j = i + 1; j < n; ++j) sub[i * n + j] = sub[j * n + i];
        const tBig = toTensor(big, n + 9, dtype);
        const view = tBig.slice([4, 4 + n], [5, 5 + n]);
        expect(view.isContiguous).toBe(false);
        const tSub = toTensor(sub, n, dtype);
        const tT = tSub.transpose();
        const want = nt.linalg.eigh(tSub);
        const fromView = nt.linalg.eigh(view);
        const fromT = nt.linalg.eigh(tT);
        expect(f64(fromView.values)).toEqual(f64(want.values));
        expect(f64(fromView.vectors)).toEqual(f64(want.vectors));
        expect(f64(fromT.values)).toEqual(f64(want.values));
        expect(f64(fromT.vectors)).toEqual(f64(want.vectors));
        for (const t of [tBig, view, tSub, tT, want.values, want.vectors, fromView.values, fromView.vectors, fromT.values, fromT.vectors])
          t.dispose();
      });

      it('selects the k largest / smallest pairs, still ascending', () => {
        const n = 90;
        const lambda = shuffle(linspace(-5, 7, n), 17);
        const { a } = fromSpectrum(lambda, 18);
        const t = toTensor(a, n, dtype);
        const full = nt.linalg.eigh(t);
        const fv = f64(full.values);
        const fV = f64(full.vectors);
        const check = (res: { values: nt.Tensor; vectors: nt.Tensor }, first: number, k: number) => {
          expect(res.values.shape).toEqual([k]);
          expect(res.vectors.shape).toEqual([n, k]);
          const v = f64(res.values);
          const V = f64(res.vectors);
          expect(Array.from(v)).toEqual(Array.from(fv.subarray(first, first + k)));
          for (let c = 0; c < k; ++c) {
            let d = 0;
            for (let i = 0; i < n; ++i) d += V[i * k + c] * fV[i * n + first + c];
            expect(Math.abs(Math.abs(d) - 1)).toBeLessThanOrEqual(TOL[dtype].orthogonality);
          }
          res.values.dispose();
          res.vectors.dispose();
        };
        check(nt.linalg.eigh(t, { k: 5, which: 'largest' }), n - 5, 5);
        check(nt.linalg.eigh(t, { k: 5 }), n - 5, 5); // 'largest' is the default
        check(nt.linalg.eigh(t, { k: 7, which: 'smallest' }), 0, 7);
        check(nt.linalg.eigh(t, { k: n, which: 'smallest' }), 0, n);
        check(nt.linalg.eigh(t, { k: 0 }), n, 0);
        for (const x of [t, full.values, full.vectors]) x.dispose();
      });

      it('computes values only with { vectors: false }', () => {
        const n = 129;
        const a = randomSymmetric(n, 19);
        const t = toTensor(a, n, dtype);
        const full = nt.linalg.eigh(t);
        const only = nt.linalg.eigh(t, { vectors: false });
        expect(only.vectors).toBeNull();
        const fv = f64(full.values);
        const ov = f64(only.values);
        expect(sortedAscending(ov)).toBe(true);
        const norm = maxAbs(fv);
        for (let i = 0; i < n; ++i) expect(Math.abs(ov[i] - fv[i])).toBeLessThanOrEqual(TOL[dtype].value * norm);
        const top = nt.linalg.eigh(t, { vectors: false, k: 3, which: 'largest' });
        expect(Array.from(f64(top.values))).toEqual(Array.from(ov.subarray(n - 3)));
        for (const x of [t, full.values, full.vectors, only.values, top.values]) x.dispose();
      });

      it('gives the same result on 1 and 2 threads', () => {
        const n = 300;
        const t = toTensor(randomSymmetric(n, 20), n, dtype);
        const before = nt.getNumThreads();
        try {
          nt.setNumThreads(1);
          const one = nt.linalg.eigh(t);
          nt.setNumThreads(2);
          const two = nt.linalg.eigh(t);
          // every parallel piece is fixed by the problem size, not the thread count: bit-identical
          expect(f64(two.values)).toEqual(f64(one.values));
          expect(f64(two.vectors)).toEqual(f64(one.vectors));
          for (const x of [one.values, one.vectors, two.values, two.vectors]) x.dispose();
        } finally {
          nt.setNumThreads(before);
          t.dispose();
        }
      });

      it('eighAsync equals eigh', async () => {
        const n = 150;
        const t = toTensor(randomSymmetric(n, 21), n, dtype);
        const sync = nt.linalg.eigh(t, { k: 20 });
        const async = await nt.linalg.eighAsync(t, { k: 20 });
        expect(f64(async.values)).toEqual(f64(sync.values));
        expect(f64(async.vectors)).toEqual(f64(sync.vectors));
        const vo = await nt.linalg.eighAsync(t, { vectors: false });
        expect(vo.vectors).toBeNull();
        expect(vo.values.shape).toEqual([n]);
        for (const x of [t, sync.values, sync.vectors, async.values, async.vectors, vo.values]) x.dispose();
      });
    });
  }

  it('gives identical results for concurrent async calls beside a sync call (a busy pool runs inline)', async () => {
    const n = 200;
    const t = toTensor(randomSymmetric(n, 23), n, 'f64');
    const ref = nt.linalg.eigh(t);
    const jobs = [nt.linalg.eighAsync(t), nt.linalg.eighAsync(t), nt.linalg.eighAsync(t, { k: 50 })];
    const sync = nt.linalg.eigh(t);
    const results = [...(await Promise.all(jobs)), sync];
    const rv = f64(ref.values);
    const rV = f64(ref.vectors);
    for (const r of results) {
      const k = r.values.shape[0];
      expect(Array.from(f64(r.values))).toEqual(Array.from(rv.subarray(n - k)));
      if (k === n) expect(f64(r.vectors)).toEqual(rV);
      r.values.dispose();
      r.vectors.dispose();
    }
    for (const x of [t, ref.values, ref.vectors]) x.dispose();
  });

  it('returns empty results for a 0 x 0 matrix', () => {
    const t = nt.zeros([0, 0], 'f64');
    const r = nt.linalg.eigh(t);
    expect(r.values.shape).toEqual([0]);
    expect(r.vectors.shape).toEqual([0, 0]);
    for (const x of [t, r.values, r.vectors]) x.dispose();
  });

  it('returns the element and 1 for a 1 x 1 matrix', () => {
    const t = nt.tensor([[-2.5]], { dtype: 'f64' });
    const r = nt.linalg.eigh(t);
    expect(Array.from(r.values.data)).toEqual([-2.5]);
    expect(Array.from(r.vectors.data)).toEqual([1]);
    for (const x of [t, r.values, r.vectors]) x.dispose();
  });

  it('computes f16 / bf16 inputs in f32', () => {
    const n = 20;
    for (const dtype of ['f16', 'bf16'] as const) {
      const a = nt.tensor(randomSymmetric(n, 22), { shape: [n, n], dtype });
      const seen = f64(a);
      const r = nt.linalg.eigh(a);
      expect(r.values.dtype).toBe('f32');
      expect(r.vectors.dtype).toBe('f32');
      const vals = f64(r.values);
      const inv = invariants(seen, n, vals, f64(r.vectors), maxAbs(vals));
      expect(inv.residual).toBeLessThanOrEqual(TOL.f32.residual);
      for (const x of [a, r.values, r.vectors]) x.dispose();
    }
  });

  describe('errors', () => {
    type Case = [string, () => unknown, unknown, string, RegExp];
    const sq = () => nt.zeros([3, 3], 'f32');
    const cases: Case[] = [
      ['a non-square matrix', () => nt.zeros([3, 4]), undefined, 'NT_SHAPE', /\[linalg\.eigh\] expected a square matrix, got shape \[3, ?4\]/],
      ['a 3-D tensor', () => nt.zeros([2, 2, 2]), undefined, 'NT_SHAPE', /\[linalg\.eigh\] expected a 2-D tensor, got shape \[2, ?2, ?2\]/],
      ['an integer dtype', () => nt.zeros([3, 3], 'i32'), undefined, 'NT_DTYPE', /\[linalg\.eigh\] a must be f32, f64, f16 or bf16, got i32/],
      ['k out of range', sq, { k: 4 }, 'NT_VALUE', /\[linalg\.eigh\] k must be an integer in \[0, 3\], got number 4/],
      ['a negative k', sq, { k: -1 }, 'NT_VALUE', /k must be an integer in \[0, 3\], got number -1/],
      ['a fractional k', sq, { k: 1.5 }, 'NT_VALUE', /k must be an integer in \[0, 3\], got number 1.5/],
      ['a string k', sq, { k: '2' }, 'NT_VALUE', /k must be an integer in \[0, 3\], got string 2/],
      ['a bad which', sq, { which: 'top' }, 'NT_VALUE', /which must be 'largest' or 'smallest', got string top/],
      ['a non-boolean vectors', sq, { vectors: 1 }, 'NT_VALUE', /vectors must be a boolean, got number 1/],
      ['non-object options', sq, 3, 'NT_VALUE', /\[linalg\.eigh\] options must be an object/],
      ['a non-tensor', () => [[1]], undefined, 'NT_VALUE', /\[linalg\.eigh\] a must be a Tensor/],
    ];
    for (const dtype of DTYPES) {
      cases.push([`NaN in the lower triangle (${dtype})`, () => nt.tensor([[1, 0], [NaN, 1]], { dtype }), undefined, 'NT_VALUE', /\[linalg\.eigh\] input contains NaN or Inf/]);
      cases.push([`Inf in the upper triangle (${dtype})`, () => nt.tensor([[1, Infinity], [0, 1]], { dtype }), undefined, 'NT_VALUE', /\[linalg\.eigh\] input contains NaN or Inf/]);
      cases.push([`NaN with values only (${dtype})`, () => nt.tensor([[NaN]], { dtype }), { vectors: false }, 'NT_VALUE', /input contains NaN or Inf/]);
    }
    it.each(cases)('rejects %s', async (_name, make, opts, code, message) => {
      const before = nt.memory();
      const input = make();
      try {
        const err = errorOf(() => nt.linalg.eigh(input as nt.Tensor, opts as nt.linalg.EighOptions));
        expect(err.code).toBe(code);
        expect(err.message).toMatch(message);
        await expect(nt.linalg.eighAsync(input as nt.Tensor, opts as nt.linalg.EighOptions)).rejects.toMatchObject({
          code,
          message: expect.stringMatching(message),
        });
      } finally {
        if (input instanceof nt.Tensor) input.dispose();
      }
      // a failed call leaves no output tensors alive
      expect(nt.memory()).toEqual(before);
    });

    it('rejects a disposed tensor', () => {
      const t = nt.zeros([3, 3]);
      t.dispose();
      const err = errorOf(() => nt.linalg.eigh(t));
      expect(err.code).toBe('NT_DISPOSED');
      expect(err.message).toMatch(/\[linalg\.eigh\] a was disposed/);
    });
  });
});
