// nt.llm.mnn and nt.llm.nuclearNorm on matrices with known answers (orthogonal columns, rank 1,
// N < d, N > d), against a float64 reference of the same centring and row normalisation.
import * as nt from '../../lib';
import { uniform } from '../helpers/reference';

const TOL = { f32: 1e-5, f64: 1e-10 };

/** The centred, row-normalised matrix in float64 (the reference of both functions). */
function normalised(h: Float64Array, n: number, d: number, eps = 1e-8): Float64Array {
  const r = Float64Array.from(h);
  for (let j = 0; j < d; ++j) {
    let mu = 0;
    for (let i = 0; i < n; ++i) mu += h[i * d + j];
    mu /= n;
    for (let i = 0; i < n; ++i) r[i * d + j] -= mu;
  }
  for (let i = 0; i < n; ++i) {
    let ss = 0;
    for (let j = 0; j < d; ++j) ss += r[i * d + j] ** 2;
    const den = Math.sqrt(ss) + eps;
    for (let j = 0; j < d; ++j) r[i * d + j] /= den;
  }
  return r;
}

function mnnRef(h: Float64Array, n: number, d: number): number {
  const r = normalised(h, n, d);
  const c: number[] = [];
  for (let j = 0; j < d; ++j) {
    let ss = 0;
    for (let i = 0; i < n; ++i) ss += r[i * d + j] ** 2;
    c.push(Math.sqrt(ss));
  }
  c.sort((a, b) => b - a);
  return c.slice(0, Math.min(n, d)).reduce((a, b) => a + b, 0) / n;
}

describe('mnn and nuclearNorm', () => {
  test('orthogonal columns: both equal 2√2 / 4', () => {
    const h = nt.tensor([[1, 0], [-1, 0], [0, 1], [0, -1]]);
    expect(nt.llm.mnn(h)).toBeCloseTo((2 * Math.SQRT2) / 4, 6);
    expect(nt.llm.nuclearNorm(h)).toBeCloseTo((2 * Math.SQRT2) / 4, 6);
    h.dispose();
  });

  test('rank 1 (u vᵀ, v = [0.6, 0.8]): mnn sums column norms (0.7), the nuclear norm is σ/N = 0.5', () => {
    const u = [1, -1, 2, -2];
    const h = nt.tensor(u.map((x) => [0.6 * x, 0.8 * x]));
    expect(nt.llm.mnn(h)).toBeCloseTo(0.7, 6);
    expect(nt.llm.nuclearNorm(h)).toBeCloseTo(0.5, 6);
    h.dispose();
  });

  test('N < d keeps the top N column norms', () => {
    const h = nt.tensor([[1, 2, 3], [-1, -2, -3]], { dtype: 'f64' });
    const s = Math.SQRT2 / Math.sqrt(14);
    // the 1e-8 added to each row norm moves the result by ~1e-8 relative
    expect(Math.abs(nt.llm.mnn(h) - (s * (3 + 2)) / 2)).toBeLessThan(1e-8);
    expect(Math.abs(nt.llm.nuclearNorm(h) - Math.SQRT2 / 2)).toBeLessThan(1e-8);
    h.dispose();
  });

  test.each([
    [129, 33, 'f32'],
    [7, 33, 'f64'],
    [1, 5, 'f64'],
    [64, 64, 'f32'],
  ] as const)('random %i x %i (%s) matches the float64 reference (mnn >= nuclearNorm when N >= d)', (n, d, dtype) => {
    const before = nt.memory();
    const data = uniform(n * d, n + d).map((x, i) => x + (i % d) * 0.1);
    const h = nt.tensor(dtype === 'f32' ? Float32Array.from(data) : data, { shape: [n, d] });
    const exact = Float64Array.from(h.astype('f64').data as Float64Array);
    const m = nt.llm.mnn(h);
    expect(Math.abs(m - mnnRef(exact, n, d))).toBeLessThan(TOL[dtype] * (1 + m));
    const rT = nt.tensor(normalised(exact, n, d), { shape: [n, d], dtype: 'f64' });
    const { S } = nt.linalg.svd(rT, { computeUV: false });
    const nuc = (S.data as Float64Array).reduce((a, b) => a + b, 0) / n;
    const got = nt.llm.nuclearNorm(h);
    expect(Math.abs(got - nuc)).toBeLessThan(TOL[dtype] * (1 + nuc));
    // ||R||_* <= sum of all column norms; with N < d only the top N are summed and the bound is lost
    if (n >= d) expect(m).toBeGreaterThanOrEqual(got - 1e-6);
    for (const x of [h, rT, S]) x.dispose();
    expect(nt.memory().tensors).toBeLessThanOrEqual(before.tensors + 1); // the astype copy above
  });

  test('errors are coded', () => {
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return (e as nt.NtError).code;
      }
      return 'none';
    };
    const v = nt.zeros([5]);
    const i = nt.zeros([3, 3], 'i32');
    const e = nt.zeros([0, 3]);
    const bad = nt.tensor([[1, NaN], [2, 3]]);
    const gone = nt.zeros([2, 2]);
    gone.dispose();
    for (const f of [nt.llm.mnn, nt.llm.nuclearNorm]) {
      expect(code(() => f(v))).toBe('NT_SHAPE');
      expect(code(() => f(i))).toBe('NT_DTYPE');
      expect(code(() => f(e))).toBe('NT_VALUE');
      expect(code(() => f(bad))).toBe('NT_VALUE');
      expect(code(() => f(gone))).toBe('NT_DISPOSED');
      expect(code(() => f(v as unknown as nt.Tensor, { eps: -1 }))).toMatch(/NT_(VALUE|SHAPE)/);
    }
    for (const x of [v, i, e, bad]) x.dispose();
  });
});
