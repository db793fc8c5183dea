// nt.matmul against a float64 reference on seeded inputs: odd sizes, every transpose
// combination, strided and transposed views, batches with broadcasting, f64, f16/bf16
// widening, alpha/beta, empty and k = 0 products, IEEE NaN/Inf propagation, thread-count
// independence, the async twin and every error path.
//
// Tolerance (one table): for each element,
//   |C - C_ref| <= TOL[dtype] * k * (|alpha| |A||B| + |beta| |C0|)_ij  (+ 1e-300)
// where C_ref is the float64 product of the inputs as stored (after rounding to their dtype)
// and |A||B| the product of absolute values: the standard dot-product error bound
// (gamma_k ~ k u), with a factor 2 of headroom for the alpha/beta roundings.
//   | inputs    | computed in | TOL       |
//   | f32       | f32         | 2 * 2^-24 |
//   | f16, bf16 | f32         | 2 * 2^-24 | (inputs are exact in f32: only the f32 product rounds)
//   | f64       | f64         | 2 * 2^-53 |
import * as nt from '../../lib';
import { errorOf } from '../helpers/reference';
import { expectNoLeak, randomTensor, values } from '../ops/helpers';

const TOL: Record<'f32' | 'f64' | 'f16' | 'bf16', number> = { f32: 2 * 2 ** -24, f16: 2 * 2 ** -24, bf16: 2 * 2 ** -24, f64: 2 * 2 ** -53 };

interface Mat {
  rows: number;
  cols: number;
  v: Float64Array;
}

/** The logical matrix of a 2-D tensor (any view), or one batch entry of a 3-D one. */
function mat(t: nt.Tensor, batch = 0): Mat {
  const all = values(t);
  const rows = t.shape[t.ndim - 2];
  const cols = t.shape[t.ndim - 1];
  const b = t.ndim === 3 && t.shape[0] > 1 ? batch : 0;
  return { rows, cols, v: all.slice(b * rows * cols, (b + 1) * rows * cols) };
}

function transposed(x: Mat): Mat {
  const v = new Float64Array(x.v.length);
  for (let i = 0; i < x.rows; ++i) for (let j = 0; j < x.cols; ++j) v[j * x.rows + i] = x.v[i * x.cols + j];
  return { rows: x.cols, cols: x.rows, v };
}

/** alpha A B + beta C0 in float64, with the magnitude |alpha||A||B| + |beta||C0| for the bound. */
function reference(A: Mat, B: Mat, alpha = 1, beta = 0, C0?: Float64Array): { c: Float64Array; mag: Float64Array } {
  const m = A.rows;
  const k = A.cols;
  const n = B.cols;
  const c = new Float64Array(m * n);
  const mag = new Float64Array(m * n);
  for (let i = 0; i < m; ++i)
    for (let p = 0; p < k; ++p) {
      const a = A.v[i * k + p];
      for (let j = 0; j < n; ++j) {
        const b = B.v[p * n + j];
        c[i * n + j] += a * b;
        mag[i * n + j] += Math.abs(a * b);
      }
    }
  for (let i = 0; i < m * n; ++i) {
    const c0 = beta === 0 || !C0 ? 0 : C0[i];
    c[i] = alpha * c[i] + beta * c0;
    mag[i] = Math.abs(alpha) * mag[i] + Math.abs(beta * c0);
  }
  return { c, mag };
}

/** Checks got (a tensor holding C) against the reference within the table's bound. */
function expectProduct(got: nt.Tensor, A: Mat, B: Mat, dtype: keyof typeof TOL, opts: { alpha?: number; beta?: number; C0?: Float64Array; batch?: number } = {}): void {
  const { c, mag } = reference(A, B, opts.alpha ?? 1, opts.beta ?? 0, opts.C0);
  const g = mat(got, opts.batch ?? 0).v;
  expect(g.length).toBe(c.length);
  const k = Math.max(A.cols, 1);
  let worst = 0;
  let where = -1;
  for (let i = 0; i < c.length; ++i) {
    const err = Math.abs(g[i] - c[i]);
    const bound = TOL[dtype] * k * mag[i] + 1e-300;
    if (!(err <= bound) && (where < 0 || err / bound > worst)) {
      worst = err / bound;
      where = i;
    }
  }
  if (where >= 0) throw new Error(`element ${where}: got ${g[where]}, expected ${c[where]} (error ${worst.toPrecision(3)}x the bound)`);
}

let seed = 1;
const rnd = (shape: number[], dtype: 'f32' | 'f64' | 'f16' | 'bf16' = 'f32') => randomTensor(shape, dtype, seed++);

afterEach(() => nt.setNumThreads(0));

describe('matmul matches the float64 reference', () => {
  const dims = [1, 7, 33, 129];
  test.each(dims.flatMap((m) => [1, 5, 64, 257].map((k) => [m, k, [1, 7, 33, 129, 257][(m + k) % 5]])))(
    'f32 [%i x %i] @ [k x %i]',
    (m, k, n) => {
      const a = rnd([m, k]);
      const b = rnd([k, n]);
      const c = nt.matmul(a, b);
      expect(c.shape).toEqual([m, n]);
      expect(c.dtype).toBe('f32');
      expectProduct(c, mat(a), mat(b), 'f32');
    },
  );

  test('f32 257 x 300 @ 300 x 257 (several k blocks and partial tiles)', () => {
    const a = rnd([257, 300]);
    const b = rnd([300, 257]);
    expectProduct(nt.matmul(a, b), mat(a), mat(b), 'f32');
  });

  test.each([
    [false, false],
    [true, false],
    [false, true],
    [true, true],
  ])('every transpose combination: transA=%s transB=%s', (ta, tb) => {
    for (const [m, k, n] of [
      [1, 33, 7],
      [33, 1, 7],
      [7, 33, 1],
      [65, 70, 129],
    ]) {
      const a = rnd(ta ? [k, m] : [m, k]);
      const b = rnd(tb ? [n, k] : [k, n]);
      const c = nt.matmul(a, b, { transA: ta, transB: tb });
      expect(c.shape).toEqual([m, n]);
      const A = ta ? transposed(mat(a)) : mat(a);
      const B = tb ? transposed(mat(b)) : mat(b);
      expectProduct(c, A, B, 'f32');
    }
  });

  test('f64 at odd sizes and transposes', () => {
    for (const [m, k, n, ta] of [
      [1, 129, 33, false],
      [33, 7, 1, true],
      [129, 65, 77, false],
      [70, 257, 40, true],
    ] as const) {
      const a = rnd(ta ? [k, m] : [m, k], 'f64');
      const b = rnd([k, n], 'f64');
      const c = nt.matmul(a, b, { transA: ta });
      expect(c.dtype).toBe('f64');
      expectProduct(c, ta ? transposed(mat(a)) : mat(a), mat(b), 'f64');
    }
  });

  test.each(['f16', 'bf16'] as const)('%s inputs compute in f32 and return f32', (dt) => {
    const a = rnd([33, 40], dt);
    const b = rnd([40, 17], dt);
    const c = nt.matmul(a, b);
    expect(c.dtype).toBe('f32');
    expectProduct(c, mat(a), mat(b), dt);
  });
});

describe('views', () => {
  test('transposed views (column-major) go through without copies and match', () => {
    const at = rnd([50, 37]); // a = at^T : [37, 50]
    const bt = rnd([29, 50]); // b = bt^T : [50, 29]
    const a = at.transpose(1, 0);
    const b = bt.transpose(1, 0);
    expectProduct(nt.matmul(a, b), mat(a), mat(b), 'f32');
    // transposed view and transB cancel out
    expectProduct(nt.matmul(a, bt, { transB: true }), mat(a), mat(b), 'f32');
  });

  test('sliced views (leading dimension larger than the row) match', () => {
    const big = rnd([80, 90]);
    const a = big.slice([3, 40], [5, 70]); // [37, 65], row stride 90
    const b = rnd([100, 31]).slice([10, 75]); // [65, 31]
    expectProduct(nt.matmul(a, b), mat(a), mat(b), 'f32');
    expectProduct(nt.matmul(a.transpose(1, 0), a), transposed(mat(a)), mat(a), 'f32');
  });

  test('a view with no unit stride is copied to a contiguous temporary (and freed)', () => {
    // [2, 9, 12] with strides [1, 24, 2]: neither of the last two axes has unit stride
    const base = rnd([9, 12, 2]);
    const a = base.transpose(2, 0, 1);
    expect(a.strides).toEqual([1, 24, 2]);
    const b = rnd([12, 5]);
    expectNoLeak(() => {
      const c = nt.matmul(a, b);
      for (let i = 0; i < 2; ++i) expectProduct(c, mat(a, i), mat(b), 'f32', { batch: i });
      c.dispose();
    });
  });

  test('a column-major out (a transposed view) receives the product', () => {
    const a = rnd([21, 30]);
    const b = rnd([30, 13]);
    const store = nt.zeros([13, 21]);
    const out = store.transpose(1, 0);
    expect(nt.matmul(a, b, { out })).toBe(out);
    expectProduct(out, mat(a), mat(b), 'f32');
  });
});

describe('batches', () => {
  test('3-D @ 3-D with equal batches', () => {
    const a = rnd([3, 17, 20]);
    const b = rnd([3, 20, 9]);
    const c = nt.matmul(a, b);
    expect(c.shape).toEqual([3, 17, 9]);
    for (let i = 0; i < 3; ++i) expectProduct(c, mat(a, i), mat(b, i), 'f32', { batch: i });
  });

  test('3-D @ 2-D broadcasts b (one tall GEMM) and 2-D @ 3-D broadcasts a', () => {
    const a = rnd([4, 33, 40]);
    const w = rnd([40, 18]);
    const c = nt.matmul(a, w);
    expect(c.shape).toEqual([4, 33, 18]);
    for (let i = 0; i < 4; ++i) expectProduct(c, mat(a, i), mat(w), 'f32', { batch: i });
    const x = rnd([18, 40]);
    const d = nt.matmul(x, a.transpose(0, 2, 1));
    expect(d.shape).toEqual([4, 18, 33]);
    for (let i = 0; i < 4; ++i) expectProduct(d, mat(x), transposed(mat(a, i)), 'f32', { batch: i });
  });

  test('a batch of 1 broadcasts over the other batch; transposes apply per entry', () => {
    const a = rnd([1, 12, 7]);
    const b = rnd([5, 9, 7]);
    const c = nt.matmul(a, b, { transB: true });
    expect(c.shape).toEqual([5, 12, 9]);
    for (let i = 0; i < 5; ++i) expectProduct(c, mat(a), transposed(mat(b, i)), 'f32', { batch: i });
  });

  test('many small matrices (threads over the batch)', () => {
    const a = rnd([40, 6, 5]);
    const b = rnd([40, 5, 4]);
    const c = nt.matmul(a, b);
    for (const i of [0, 17, 39]) expectProduct(c, mat(a, i), mat(b, i), 'f32', { batch: i });
  });
});

describe('alpha, beta and out', () => {
  test('out = alpha a b + beta out', () => {
    const a = rnd([31, 44]);
    const b = rnd([44, 26]);
    const out = rnd([31, 26]);
    const C0 = values(out);
    nt.matmul(a, b, { out, alpha: -1.5, beta: 0.25 });
    expectProduct(out, mat(a), mat(b), 'f32', { alpha: -1.5, beta: 0.25, C0 });
  });

  test('beta = 0 ignores NaN already in out', () => {
    const a = rnd([9, 10]);
    const b = rnd([10, 11]);
    const out = nt.full([9, 11], NaN);
    nt.matmul(a, b, { out });
    expectProduct(out, mat(a), mat(b), 'f32');
  });

  test('out overlapping an input is computed through a temporary (as if inputs were read first)', () => {
    const a = rnd([16, 16]);
    const b = rnd([16, 16]);
    const A = mat(a);
    const B = mat(b);
    expect(nt.matmul(a, b, { out: a })).toBe(a);
    expectProduct(a, A, B, 'f32');
  });
});

describe('empty and degenerate shapes', () => {
  test('k = 0 gives zeros, or beta * out', () => {
    const z = nt.matmul(nt.zeros([3, 0]), nt.zeros([0, 4]));
    expect(z.shape).toEqual([3, 4]);
    expect(Array.from(values(z))).toEqual(new Array(12).fill(0));
    const out = nt.full([3, 4], 2);
    nt.matmul(nt.zeros([3, 0]), nt.zeros([0, 4]), { out, beta: 1.5 });
    expect(Array.from(values(out))).toEqual(new Array(12).fill(3));
  });

  test('m = 0, n = 0 or batch = 0 give empty results', () => {
    expect(nt.matmul(nt.zeros([0, 5]), nt.zeros([5, 4])).shape).toEqual([0, 4]);
    expect(nt.matmul(nt.zeros([3, 5]), nt.zeros([5, 0])).shape).toEqual([3, 0]);
    expect(nt.matmul(nt.zeros([0, 3, 5]), nt.zeros([5, 2])).shape).toEqual([0, 3, 2]);
    expect(nt.matmul(nt.zeros([1, 3, 5]), nt.zeros([0, 5, 2])).shape).toEqual([0, 3, 2]);
  });

  test('NaN and Inf propagate per IEEE (no error)', () => {
    const a = rnd([5, 6]);
    const b = rnd([6, 40]);
    a.data[0] = NaN; // row 0 of C
    b.data[3 * 40 + 7] = Infinity; // column 7 of C: +-Inf (or NaN where row 0)
    const c = values(nt.matmul(a, b));
    for (let j = 0; j < 40; ++j) expect(c[j]).toBeNaN();
    for (let i = 1; i < 5; ++i) expect(Number.isFinite(c[i * 40 + 7])).toBe(false);
    expect(Number.isFinite(c[1 * 40 + 8])).toBe(true);
  });
});

describe('determinism and async', () => {
  test('1 and 2 threads give bit-identical results (packed, GEMV and batched paths)', () => {
    const cases: [number[], number[], nt.MatmulOptions][] = [
      [[300, 280], [280, 310], {}],
      [[1, 2000], [2000, 700], {}],
      [[1, 900], [600, 900], { transB: true }],
      [[700, 500], [500, 1], {}],
      [[6, 50, 40], [40, 30], {}],
    ];
    for (const [sa, sb, o] of cases) {
      const a = rnd(sa);
      const b = rnd(sb);
      nt.setNumThreads(1);
      const c1 = values(nt.matmul(a, b, o));
      nt.setNumThreads(2);
      const c2 = values(nt.matmul(a, b, o));
      expect(c2).toEqual(c1);
    }
  });

  test('matmulAsync equals matmul and honours out', async () => {
    const a = rnd([70, 90]);
    const b = rnd([90, 50]);
    const sync = values(nt.matmul(a, b, { transA: false }));
    const c = await nt.matmulAsync(a, b);
    expect(values(c)).toEqual(sync);
    const out = nt.zeros([70, 50]);
    expect(await nt.matmulAsync(a, b, { out })).toBe(out);
    expect(values(out)).toEqual(sync);
  });

  test('matmulAsync rejects disposed inputs and bad shapes without leaking', async () => {
    const a = rnd([4, 5]);
    const b = rnd([6, 3]);
    const before = nt.memory();
    await expect(nt.matmulAsync(a, b)).rejects.toMatchObject({ code: 'NT_SHAPE' });
    const d = rnd([5, 3]);
    d.dispose();
    await expect(nt.matmulAsync(a, d)).rejects.toMatchObject({ code: 'NT_DISPOSED', message: '[matmul] b was disposed' });
    expect(nt.memory()).toEqual(before);
  });

  test('temporaries (f16 widening, copies) are freed after sync and async calls', async () => {
    const a = rnd([8, 9], 'f16');
    const b = rnd([9, 3], 'f16');
    const before = nt.memory();
    nt.matmul(a, b).dispose();
    (await nt.matmulAsync(a, b)).dispose();
    expect(nt.memory()).toEqual(before);
  });
});

describe('errors', () => {
  const a = nt.zeros([3, 4]);
  const b = nt.zeros([5, 2]);

  test('inner dimensions must agree (message names both shapes)', () => {
    const e = errorOf(() => nt.matmul(a, b));
    expect(e.code).toBe('NT_SHAPE');
    expect(e.message).toBe('[matmul] inner dimensions differ: a is [3,4], b is [5,2]');
    expect(errorOf(() => nt.matmul(a, b, { transA: true, transB: true })).message).toBe(
      '[matmul] inner dimensions differ: a is [3,4] (transA), b is [5,2] (transB)',
    );
  });

  test('rank must be 2 or 3', () => {
    expect(errorOf(() => nt.matmul(nt.zeros([4]), a))).toMatchObject({ code: 'NT_SHAPE', message: '[matmul] a must be 2-D or 3-D, got shape [4]' });
    expect(errorOf(() => nt.matmul(a, nt.zeros([1, 1, 4, 2])))).toMatchObject({ code: 'NT_SHAPE', message: '[matmul] b must be 2-D or 3-D, got shape [1,1,4,2]' });
  });

  test('batch dimensions must agree or be 1', () => {
    expect(errorOf(() => nt.matmul(nt.zeros([2, 3, 4]), nt.zeros([3, 4, 2])))).toMatchObject({
      code: 'NT_SHAPE',
      message: '[matmul] batch dimensions differ: a is [2,3,4], b is [3,4,2]',
    });
  });

  test('dtypes: floats only, and one dtype for a and b', () => {
    expect(errorOf(() => nt.matmul(a, nt.zeros([4, 2], 'f64')))).toMatchObject({ code: 'NT_DTYPE', message: '[matmul] a and b must have the same dtype, got f32 and f64' });
    expect(errorOf(() => nt.matmul(nt.zeros([3, 4], 'i32'), a))).toMatchObject({ code: 'NT_DTYPE', message: '[matmul] a must be f32, f64, f16 or bf16, got i32' });
  });

  test('disposed inputs and non-tensors', () => {
    const d = nt.zeros([4, 2]);
    d.dispose();
    expect(errorOf(() => nt.matmul(a, d))).toMatchObject({ code: 'NT_DISPOSED', message: '[matmul] b was disposed' });
    expect(errorOf(() => nt.matmul([[1]] as unknown as nt.Tensor, a))).toMatchObject({ code: 'NT_VALUE' });
  });

  test('options: booleans, finite alpha/beta, beta needs out, options object', () => {
    const c = nt.zeros([4, 2]);
    expect(errorOf(() => nt.matmul(a, c, { transA: 1 as unknown as boolean }))).toMatchObject({ code: 'NT_VALUE', message: '[matmul] transA must be a boolean, got number 1' });
    expect(errorOf(() => nt.matmul(a, c, { alpha: NaN }))).toMatchObject({ code: 'NT_VALUE' });
    expect(errorOf(() => nt.matmul(a, c, { beta: 1 }))).toMatchObject({ code: 'NT_VALUE', message: '[matmul] beta = 1 needs an out tensor to accumulate into' });
    expect(errorOf(() => nt.matmul(a, c, 5 as unknown as nt.MatmulOptions))).toMatchObject({ code: 'NT_VALUE' });
  });

  test('out is validated before anything is written', () => {
    const x = rnd([3, 4]);
    const y = rnd([4, 2]);
    const wrongShape = nt.full([2, 3], 7);
    expect(errorOf(() => nt.matmul(x, y, { out: wrongShape }))).toMatchObject({ code: 'NT_SHAPE', message: '[matmul] out must have shape [3,2], got [2,3]' });
    const wrongDtype = nt.full([3, 2], 7, 'f64');
    expect(errorOf(() => nt.matmul(x, y, { out: wrongDtype }))).toMatchObject({ code: 'NT_DTYPE' });
    expect(Array.from(values(wrongShape))).toEqual(new Array(6).fill(7));
    expect(Array.from(values(wrongDtype))).toEqual(new Array(6).fill(7));
    const gone = nt.zeros([3, 2]);
    gone.dispose();
    expect(errorOf(() => nt.matmul(x, y, { out: gone }))).toMatchObject({ code: 'NT_DISPOSED' });
    // accumulating (beta != 0) into an out that overlaps an input is refused, out untouched
    const sq = rnd([4, 4]);
    const before = values(sq);
    expect(errorOf(() => nt.matmul(sq, sq, { out: sq, beta: 1 }))).toMatchObject({ code: 'NT_VALUE' });
    expect(values(sq)).toEqual(before);
  });

  test('the native entry re-validates (direct calls cannot crash)', () => {
    const { native } = jest.requireActual('../../lib/native/loader') as typeof import('../../lib/native/loader');
    const x = nt.zeros([3, 4]);
    const y = nt.zeros([5, 2]);
    const o = nt.zeros([3, 2]);
    expect(errorOf(() => native.matmul(x._storage, x._metaArray, y._storage, y._metaArray, o._storage, o._metaArray, false, false, 1, 0))).toMatchObject({ code: 'NT_SHAPE' });
    const w = nt.zeros([4, 2], 'f64');
    expect(errorOf(() => native.matmul(x._storage, x._metaArray, w._storage, w._metaArray, o._storage, o._metaArray, false, false, 1, 0))).toMatchObject({ code: 'NT_DTYPE' });
  });
});
