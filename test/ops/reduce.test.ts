// sum, mean, max, min, argmax, norm: float64 references over every axis / all elements,
// keepdims, strided views, long rows, accuracy at 1e6 elements, thread-count independence,
// NaN and tie rules, empty reductions and every error path.
import * as nt from '../../lib';
import { native } from '../../lib/native/loader';
import { errorOf } from '../helpers/reference';
import { EPS, FLOAT_DTYPES, FloatDType, Tol, expectClose, fromValues, randomTensor, ravel, unravel, values } from './helpers';

type Kind = 'sum' | 'mean' | 'max' | 'min' | 'argmax' | 'norm1' | 'norm2' | 'normInf';
const KINDS: Kind[] = ['sum', 'mean', 'max', 'min', 'argmax', 'norm1', 'norm2', 'normInf'];

function call(kind: Kind, x: nt.Tensor, opts: nt.ReduceOptions = {}): nt.Tensor {
  switch (kind) {
    case 'norm1': return nt.norm(x, { ...opts, ord: 1 });
    case 'norm2': return nt.norm(x, opts);
    case 'normInf': return nt.norm(x, { ...opts, ord: Infinity });
    default: return nt[kind](x, opts);
  }
}

/** Reference value and error scale (sum of |terms|) of one reduction. */
function reduceRef(kind: Kind, xs: number[]): { v: number; scale: number } {
  const sumOf = (f: (x: number) => number) => xs.reduce((a, x) => a + f(x), 0);
  const scale = sumOf(Math.abs);
  switch (kind) {
    case 'sum': return { v: sumOf((x) => x), scale };
    case 'mean': return { v: sumOf((x) => x) / xs.length, scale: scale / xs.length };
    case 'norm1': return { v: scale, scale };
    case 'norm2': {
      const v = Math.sqrt(sumOf((x) => x * x));
      return { v, scale: v / 2 }; // d sqrt(s) = ds / (2 sqrt(s)), ds ~ 1e-13 s
    }
    case 'max': return { v: xs.some(Number.isNaN) ? NaN : Math.max(...xs), scale: 0 };
    case 'min': return { v: xs.some(Number.isNaN) ? NaN : Math.min(...xs), scale: 0 };
    case 'normInf': return { v: xs.some(Number.isNaN) ? NaN : Math.max(0, ...xs.map(Math.abs)), scale: 0 };
    case 'argmax': {
      let best = 0;
      for (let i = 0; i < xs.length; ++i) {
        if (Number.isNaN(xs[i])) return { v: i, scale: 0 };
        if (xs[i] > xs[best]) best = i;
      }
      return { v: best, scale: 0 };
    }
  }
}

/** Reference over `axis` (null: every element), in the output's row-major order. */
function reference(kind: Kind, v: Float64Array, shape: number[], axis: number | null) {
  if (axis === null) return [reduceRef(kind, Array.from(v))];
  const outShape = shape.filter((_, i) => i !== axis);
  const n = outShape.reduce((a, b) => a * b, 1);
  const res = [];
  for (let o = 0; o < n; ++o) {
    const idx = unravel(o, outShape);
    const xs = [];
    for (let k = 0; k < shape[axis]; ++k) xs.push(v[ravel([...idx.slice(0, axis), k, ...idx.slice(axis)], shape)]);
    res.push(reduceRef(kind, xs));
  }
  return res;
}

// Tolerances of the reduction family: sums accumulate in f64, so the error is the output's
// rounding (EPS of the dtype, relative) plus f64 accumulation error (1e-13 of the sum of
// |terms|); max/min/argmax/inf-norm are exact.
function check(kind: Kind, dtype: FloatDType, got: Float64Array, want: { v: number; scale: number }[], label: string) {
  const exact = kind === 'max' || kind === 'min' || kind === 'argmax' || kind === 'normInf';
  expect(got.length).toBe(want.length);
  want.forEach((w, i) => {
    const tol: Tol = exact ? { rtol: 0, atol: 0 } : { rtol: EPS[dtype] * 1.01, atol: 1e-13 * w.scale };
    expectClose([got[i]], [w.v], tol, `${label} output ${i}`);
  });
}

describe('reductions', () => {
  it('match the float64 reference over every axis, all elements and every dtype', () => {
    for (const dtype of FLOAT_DTYPES)
      for (const shape of [[1031], [33, 17], [5, 7, 9]]) {
        const x = randomTensor(shape, dtype, shape.length, -3, 3);
        const xv = values(x);
        for (const axis of [null, ...shape.map((_, i) => i)])
          for (const kind of KINDS) {
            const y = call(kind, x, axis === null ? {} : { axis });
            expect(y.dtype).toBe(kind === 'argmax' ? 'i32' : dtype);
            expect(y.shape).toEqual(axis === null ? [] : shape.filter((_, i) => i !== axis));
            check(kind, dtype, values(y), reference(kind, xv, shape, axis), `${kind} ${dtype} ${shape} axis ${axis}`);
            y.dispose();
          }
        x.dispose();
      }
  });

  it('accept negative axes, the axis shorthand and keepdims', () => {
    const x = randomTensor([4, 5, 6], 'f32', 1);
    expect(Array.from(values(nt.sum(x, -1)))).toEqual(Array.from(values(nt.sum(x, { axis: 2 }))));
    expect(nt.mean(x, { axis: 1, keepdims: true }).shape).toEqual([4, 1, 6]);
    expect(nt.max(x, { keepdims: true }).shape).toEqual([1, 1, 1]);
    expect(nt.argmax(x, { axis: -3, keepdims: true }).shape).toEqual([1, 5, 6]);
    const s = nt.sum(x);
    expect(s.shape).toEqual([]);
    expect(typeof s.toArray()).toBe('number');
    const out = nt.zeros([4, 1, 6]);
    expect(nt.min(x, { axis: 1, keepdims: true, out })).toBe(out);
    expect(Array.from(values(out))).toEqual(Array.from(values(nt.min(x, 1))));
  });

  it('work on strided views (transposed and sliced), through the row, column and all-element walks', () => {
    for (const dtype of ['f32', 'f64', 'f16'] as FloatDType[]) {
      const X = randomTensor([33, 17], dtype, 2, -2, 2);
      const Y = randomTensor([5, 7, 9], dtype, 3, -2, 2);
      const views = [X.transpose(), X.slice([3, 30], [2, 15]), Y.slice(null, [1, 6], [2, 9]), Y.transpose(2, 0, 1)];
      for (const v of views) {
        const vv = values(v);
        for (const axis of [null, ...v.shape.map((_, i) => i)])
          for (const kind of ['sum', 'max', 'argmax', 'norm2'] as Kind[])
            check(kind, dtype, values(call(kind, v, axis === null ? {} : { axis })), reference(kind, vv, v.shape as number[], axis), `${kind} ${dtype} view ${v.shape} axis ${axis}`);
      }
      [X, Y].forEach((t) => t.dispose());
    }
    // a strided out: column 1 of a [17, 3] matrix, written through a [1, 17] keepdims view
    const O = nt.full([3, 17], -1);
    const col = O.transpose().slice(null, [1, 2]); // [17, 1], stride 17
    const X = randomTensor([33, 17], 'f32', 4);
    nt.sum(X, { axis: 0, keepdims: true, out: col.transpose() });
    const ov = values(O);
    expectClose(ov.slice(17, 34), reference('sum', values(X), [33, 17], 0).map((r) => r.v), { rtol: EPS.f32, atol: 1e-12 });
    expect(Array.from(ov.slice(0, 17)).every((v) => v === -1)).toBe(true);
  });

  it('sum 1e6 f32 elements to within one f32 rounding of the float64 sum', () => {
    const x = nt.rand([1_000_000], { seed: 7 });
    const xv = x.data as Float32Array;
    let exact = 0;
    for (let i = 0; i < xv.length; ++i) exact += xv[i];
    const got = nt.sum(x).toArray() as number;
    expect(Math.abs(got - exact) / exact).toBeLessThanOrEqual(2 ** -24);
    expect(nt.mean(x).toArray()).toBeCloseTo(exact / 1e6, 7);
    const sq = xv.reduce((a, v) => a + v * v, 0);
    expect(Math.abs((nt.norm(x).toArray() as number) - Math.sqrt(sq)) / Math.sqrt(sq)).toBeLessThanOrEqual(2 ** -24);
  });

  it('handle rows longer than one 64K piece and give the same bits for any thread count', () => {
    const before = nt.getNumThreads();
    const x = nt.randn([3, 200_001], { seed: 8 });
    const xv = values(x);
    const results: number[][] = [];
    for (const threads of [1, 2, 3]) {
      nt.setNumThreads(threads);
      results.push([
        ...values(nt.sum(x, 1)),
        ...values(nt.sum(x.transpose(), 0)),
        ...values(nt.sum(x)),
        ...values(nt.argmax(x, 1)),
        ...values(nt.max(x)),
        ...values(nt.sum(x, 0)).slice(0, 100),
      ]);
    }
    nt.setNumThreads(before);
    expect(results[1]).toEqual(results[0]);
    expect(results[2]).toEqual(results[0]);
    check('sum', 'f32', values(nt.sum(x, 1)), reference('sum', xv, [3, 200_001], 1), 'long rows');
    check('argmax', 'f32', values(nt.argmax(x, 1)), reference('argmax', xv, [3, 200_001], 1), 'long rows');
    check('argmax', 'f32', values(nt.argmax(x)), reference('argmax', xv, [3, 200_001], null), 'all');
  });

  it('propagate NaN in max/min/inf-norm, point argmax at the first NaN, and take the first of ties', () => {
    const x = fromValues([1, NaN, 5, 5, NaN, 2], [2, 3], 'f32');
    expect(Array.from(values(nt.max(x, 1)))).toEqual([NaN, NaN]);
    expect(Array.from(values(nt.min(x, 0)))).toEqual([1, NaN, 2]);
    expect(Array.from(values(nt.argmax(x, 1)))).toEqual([1, 1]);
    expect(nt.argmax(x).toArray()).toBe(1);
    expect(Number.isNaN(nt.sum(x).toArray())).toBe(true);
    expect(Number.isNaN(nt.norm(x, { ord: Infinity }).toArray())).toBe(true);
    const ties = fromValues([3, 7, 7, -1, 7, 0, -0, 0], [8], 'f64');
    expect(nt.argmax(ties).toArray()).toBe(1);
    expect(nt.argmax(fromValues([-0, 0, -1], [3], 'f32')).toArray()).toBe(0);
    const inf = fromValues([-Infinity, -Infinity, -Infinity], [3], 'f32');
    expect(nt.argmax(inf).toArray()).toBe(0);
    expect(nt.max(inf).toArray()).toBe(-Infinity);
    expect(nt.sum(fromValues([Infinity, 1], [2], 'f32')).toArray()).toBe(Infinity);
  });

  it('reduce empty tensors: sums and 1/2-norms give 0, the others refuse with NT_VALUE', () => {
    expect(nt.sum(nt.zeros([0])).toArray()).toBe(0);
    expect(Array.from(values(nt.sum(nt.zeros([3, 0]), 1)))).toEqual([0, 0, 0]);
    expect(nt.norm(nt.zeros([0, 4])).toArray()).toBe(0);
    expect(nt.norm(nt.zeros([0]), { ord: 1 }).toArray()).toBe(0);
    expect(nt.max(nt.zeros([0, 3]), 1).shape).toEqual([0]); // nothing to fill: no error
    expect(errorOf(() => nt.mean(nt.zeros([0])))).toMatchObject({ code: 'NT_VALUE', message: '[mean] cannot reduce an empty tensor [0]: the result is undefined' });
    expect(errorOf(() => nt.max(nt.zeros([0, 3]), 0))).toMatchObject({ code: 'NT_VALUE', message: '[max] cannot reduce axis 0 of extent 0 (shape [0,3]): the result is undefined' });
    for (const f of [nt.min, nt.argmax]) expect(errorOf(() => f(nt.zeros([2, 0]), 1)).code).toBe('NT_VALUE');
    expect(errorOf(() => nt.norm(nt.zeros([0]), { ord: Infinity })).code).toBe('NT_VALUE');
    // the native layer refuses too
    const s = new Float32Array(1);
    expect(errorOf(() => native.min(new Float32Array(0), new Float64Array([0, 1, 0, 0, 1]), s, new Float64Array([0, 0, 0]), null))).toMatchObject({
      code: 'NT_VALUE',
      message: '[min] cannot reduce an empty tensor ([0]): the result is undefined',
    });
  });

  it('compute into a temporary when out overlaps the input', () => {
    const x = fromValues([1, 2, 3, 4, 5, 6, 7, 8], [2, 4], 'f32');
    const row0 = x.slice([0, 1]);
    nt.sum(x, { axis: 0, keepdims: true, out: row0 });
    expect(Array.from(values(x))).toEqual([6, 8, 10, 12, 5, 6, 7, 8]);
    const start = nt.memory();
    const first = x.slice([0, 1]);
    nt.max(x, { axis: 0, keepdims: true, out: first });
    first.dispose();
    expect(nt.memory()).toEqual(start);
  });

  it('reject bad arguments with coded errors and leave out unchanged', () => {
    const x = nt.ones([2, 3]);
    expect(errorOf(() => nt.sum(nt.ones([2], 'i8')))).toMatchObject({ code: 'NT_DTYPE', message: '[sum] x must be f32, f64, f16 or bf16, got i8' });
    expect(errorOf(() => nt.sum(x, 2))).toMatchObject({ code: 'NT_VALUE', message: '[sum] axis 2 out of range for rank 2' });
    expect(errorOf(() => nt.mean(x, { axis: 0.5 }))).toMatchObject({ code: 'NT_VALUE', message: '[mean] axis must be an integer, got 0.5' });
    expect(errorOf(() => nt.max(x, { keepdims: 1 as never }))).toMatchObject({ code: 'NT_VALUE', message: '[max] keepdims must be a boolean, got 1' });
    expect(errorOf(() => nt.norm(x, { ord: 3 }))).toMatchObject({ code: 'NT_VALUE', message: '[norm] ord must be 1, 2 or Infinity, got 3' });
    expect(errorOf(() => nt.min(x, 'a' as never))).toMatchObject({ code: 'NT_VALUE', message: '[min] options must be an object, got string a' });
    const out = nt.full([3], 4);
    expect(errorOf(() => nt.sum(x, { axis: 1, out }))).toMatchObject({ code: 'NT_SHAPE', message: '[sum] out must have shape [2], got [3]' });
    expect(errorOf(() => nt.argmax(x, { axis: 0, out }))).toMatchObject({ code: 'NT_DTYPE', message: '[argmax] out must be i32, got f32' });
    expect(errorOf(() => nt.sum(x, { out: nt.zeros([1]) }))).toMatchObject({ code: 'NT_SHAPE', message: '[sum] out must have shape [], got [1]' });
    expect(Array.from(values(out))).toEqual([4, 4, 4]);
    x.dispose();
    expect(errorOf(() => nt.sum(x))).toMatchObject({ code: 'NT_DISPOSED', message: '[sum] x was disposed' });
    // native: out shapes that do not match the reduction
    const d = new Float32Array(6);
    const m = new Float64Array([0, 2, 0, 2, 3, 3, 1]);
    expect(errorOf(() => native.sum(d, m, new Float32Array(3), new Float64Array([0, 1, 0, 3, 1]), 1))).toMatchObject({
      code: 'NT_SHAPE',
      message: '[sum] out shape [3] does not match [2,3] reduced over axis 1',
    });
    expect(errorOf(() => native.sum(d, m, new Float32Array(2), new Float64Array([0, 1, 0, 2, 1]), -1)).code).toBe('NT_VALUE');
    expect(errorOf(() => native.norm(d, m, new Float32Array(1), new Float64Array([0, 0, 0]), null, 3))).toMatchObject({ code: 'NT_VALUE', message: '[norm] ord must be 1, 2 or Infinity, got 3' });
  });
});
