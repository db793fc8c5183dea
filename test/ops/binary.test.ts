// add, sub, mul, div: float64 references on seeded inputs, broadcasting, scalars, strided
// views, in-place and overlapping outputs, IEEE specials, and every error path.
import * as nt from '../../lib';
import { native } from '../../lib/native/loader';
import { errorOf } from '../helpers/reference';
import { EPS, FLOAT_DTYPES, FloatDType, ODD_SIZES, Tol, expectClose, fromValues, randomTensor, ravel, unravel, values } from './helpers';

type Op = 'add' | 'sub' | 'mul' | 'div';
const OPS: Op[] = ['add', 'sub', 'mul', 'div'];
const F: Record<Op, (a: number, b: number) => number> = {
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  div: (a, b) => a / b,
};

// Tolerances of the binary family: f32 and f64 are exact (one IEEE operation, compared with
// the float64 result rounded to f32 / the float64 result itself); f16/bf16 compute in f32 and
// round once, so they are within half an ulp of their dtype (plus f32 rounding).
const TOL: Record<FloatDType, Tol> = {
  f32: { rtol: 0, atol: 0 },
  f64: { rtol: 0, atol: 0 },
  f16: { rtol: EPS.f16 * 1.01, atol: 2 ** -25 },
  bf16: { rtol: EPS.bf16 * 1.01, atol: 0 },
};
const round = (d: FloatDType, v: number) => (d === 'f32' ? Math.fround(v) : v);

/** Reference of op over broadcast operands, from their float64 values. */
function reference(op: Op, dtype: FloatDType, av: Float64Array, as: readonly number[], bv: Float64Array, bs: readonly number[], shape: number[]) {
  const n = shape.reduce((p, d) => p * d, 1);
  const out = new Float64Array(n);
  const pick = (v: Float64Array, s: readonly number[], idx: number[]) => {
    const lead = idx.length - s.length;
    return v[ravel(s.map((d, i) => (d === 1 ? 0 : idx[lead + i])), s)];
  };
  for (let k = 0; k < n; ++k) {
    const idx = unravel(k, shape);
    out[k] = round(dtype, F[op](pick(av, as, idx), pick(bv, bs, idx)));
  }
  return out;
}

const fns = { add: nt.add, sub: nt.sub, mul: nt.mul, div: nt.div };

describe('binary ops', () => {
  it('match the float64 reference for every op, dtype and odd size', () => {
    for (const dtype of FLOAT_DTYPES)
      for (const n of ODD_SIZES)
        for (const op of OPS) {
          const a = randomTensor([n], dtype, n, -4, 4);
          const b = randomTensor([n], dtype, n + 1, 0.5, 3);
          const y = fns[op](a, b);
          expect(y.dtype).toBe(dtype);
          expect(y.shape).toEqual([n]);
          expectClose(values(y), reference(op, dtype, values(a), [n], values(b), [n], [n]), TOL[dtype], `${op} ${dtype} n=${n}`);
          [a, b, y].forEach((t) => t.dispose());
        }
  });

  it('cover the parallel split and the streaming-store path (2^20 + 7 elements)', () => {
    const n = (1 << 20) + 7;
    const a = nt.rand([n], { seed: 1 });
    const b = nt.rand([n], { seed: 2 });
    const before = nt.getNumThreads();
    for (const threads of [1, 2]) {
      nt.setNumThreads(threads);
      const y = nt.sub(a, b);
      const av = a.data as Float32Array;
      const bv = b.data as Float32Array;
      const yv = y.data as Float32Array;
      let bad = -1;
      for (let i = 0; i < n && bad < 0; ++i) if (yv[i] !== Math.fround(av[i] - bv[i])) bad = i;
      expect(bad).toBe(-1);
      y.dispose();
    }
    nt.setNumThreads(before);
  });

  it('broadcast like numpy', () => {
    const cases: [number[], number[], number[]][] = [
      [[3, 1, 5], [4, 1], [3, 4, 5]],
      [[7, 33], [33], [7, 33]],
      [[7, 1], [1, 9], [7, 9]],
      [[], [2, 3], [2, 3]],
      [[5, 4], [1, 1], [5, 4]],
      [[0, 3], [3], [0, 3]],
    ];
    for (const dtype of ['f32', 'f64', 'bf16'] as FloatDType[])
      for (const [as, bs, shape] of cases)
        for (const op of OPS) {
          const a = randomTensor(as, dtype, 3, -2, 2);
          const b = randomTensor(bs, dtype, 4, 0.5, 2);
          const y = fns[op](a, b);
          expect(y.shape).toEqual(shape);
          expectClose(values(y), reference(op, dtype, values(a), as, values(b), bs, shape), TOL[dtype], `${op} ${as}x${bs}`);
          [a, b, y].forEach((t) => t.dispose());
        }
  });

  it('accept a JS number on either side (f32 math for f16/bf16 tensors, not rounded to them)', () => {
    const x = randomTensor([33], 'f32', 5);
    const xv = values(x);
    expect(Array.from(values(nt.add(x, 2.5)))).toEqual(Array.from(xv, (v) => Math.fround(v + 2.5)));
    expect(Array.from(values(nt.sub(1, x)))).toEqual(Array.from(xv, (v) => Math.fround(1 - v)));
    expect(Array.from(values(nt.div(x, 3)))).toEqual(Array.from(xv, (v) => Math.fround(v / Math.fround(3))));
    expect(Array.from(values(nt.mul(0.1, x)))).toEqual(Array.from(xv, (v) => Math.fround(v * Math.fround(0.1))));
    const d = randomTensor([7], 'f64', 6);
    expect(Array.from(values(nt.mul(d, 0.1)))).toEqual(Array.from(values(d), (v) => v * 0.1));
    // f16: 1 + (2^-11 + 2^-23). Rounded to f16 first, the number would be 2^-11 and 1 + 2^-11
    // a tie that rounds to even (1); used in f32 it is just above the tie and rounds up.
    const h = fromValues([1, 2048], [2], 'f16');
    expect(Array.from(values(nt.add(h, 2 ** -11 + 2 ** -23)))).toEqual([1 + 2 ** -10, 2048]);
    [x, d, h].forEach((t) => t.dispose());
  });

  it('propagate NaN and Inf with IEEE semantics', () => {
    const a = fromValues([NaN, Infinity, Infinity, 1, -1, 0, 3e38, 3], [8], 'f32');
    const b = fromValues([1, Infinity, -Infinity, 0, 0, 0, 3e38, NaN], [8], 'f32');
    expect(Array.from(values(nt.add(a, b)))).toEqual([NaN, Infinity, NaN, 1, -1, 0, Infinity, NaN]);
    expect(Array.from(values(nt.sub(a, b)))).toEqual([NaN, NaN, Infinity, 1, -1, 0, 0, NaN]);
    expect(Array.from(values(nt.mul(a, b)))).toEqual([NaN, Infinity, -Infinity, 0, -0, 0, Infinity, NaN]);
    expect(Array.from(values(nt.div(a, b)))).toEqual([NaN, NaN, NaN, Infinity, -Infinity, NaN, 1, NaN]);
  });

  it('work on strided views (transposed, sliced) and write strided outputs in place of the view only', () => {
    for (const dtype of ['f32', 'f64', 'f16'] as FloatDType[]) {
      const A = randomTensor([33, 17], dtype, 7);
      const B = randomTensor([17, 40], dtype, 8);
      const a = A.transpose(); // [17, 33], strides [1, 17]
      const b = B.slice(null, [3, 36]); // [17, 33], row stride 40
      const y = nt.mul(a, b);
      expectClose(values(y), reference('mul', dtype, values(a), [17, 33], values(b), [17, 33], [17, 33]), TOL[dtype]);
      // strided out: a transposed view of a bigger buffer
      const O = nt.full([40, 20], 7, dtype);
      const out = O.slice([2, 35], [1, 18]).transpose(); // [17, 33]
      nt.add(a, b, { out });
      expectClose(values(out), reference('add', dtype, values(a), [17, 33], values(b), [17, 33], [17, 33]), TOL[dtype]);
      const ov = values(O);
      let untouched = true;
      for (let k = 0; k < 800; ++k) {
        const [r, c] = unravel(k, [40, 20]);
        if (!(r >= 2 && r < 35 && c >= 1 && c < 18)) untouched = untouched && ov[k] === 7;
      }
      expect(untouched).toBe(true);
      [A, B, y, O].forEach((t) => t.dispose());
    }
  });

  it('write in place when out is exactly an input (also with broadcasting and both inputs aliased)', () => {
    const a = randomTensor([5, 33], 'f32', 9);
    const b = randomTensor([33], 'f32', 10);
    const want = reference('sub', 'f32', values(a), [5, 33], values(b), [33], [5, 33]);
    const r = nt.sub(a, b, { out: a });
    expect(r).toBe(a);
    expect(Array.from(values(a))).toEqual(Array.from(want));
    const c = randomTensor([9], 'f16', 11);
    const sq = Array.from(values(c), (v) => v * v);
    nt.mul(c, c, { out: c });
    expectClose(values(c), sq, TOL.f16);
    const d = randomTensor([4, 6], 'f64', 12);
    const dt = d.transpose();
    const want2 = Array.from(values(dt), (v) => v / 2);
    nt.div(dt, 2, { out: dt });
    expect(Array.from(values(dt))).toEqual(want2);
    [a, b, c, d].forEach((t) => t.dispose());
  });

  it('give the read-inputs-first result when out partially overlaps an input (computed via a temporary)', () => {
    const start = nt.memory();
    const base = fromValues(Array.from({ length: 30 }, (_, i) => i), [6, 5], 'f32');
    const before = values(base);
    const a = base.slice([0, 5]); // rows 0..4
    const out = base.slice([1, 6]); // rows 1..5: shifted by one row
    nt.add(a, 100, { out });
    const got = values(base);
    for (let k = 0; k < 30; ++k) expect(got[k]).toBe(k < 5 ? before[k] : before[k - 5] + 100);
    // a broadcast row of out itself: every row must use the original row 0
    const m = fromValues(Array.from({ length: 12 }, (_, i) => i + 1), [3, 4], 'f64');
    const row0 = m.slice([0, 1]);
    const mv = values(m);
    nt.mul(m, row0, { out: m });
    expect(Array.from(values(m))).toEqual(Array.from(mv, (v, k) => v * mv[k % 4]));
    [base, m, a, out, row0].forEach((t) => t.dispose());
    expect(nt.memory()).toEqual(start); // the temporaries were freed
  });

  it('handle empty tensors', () => {
    const a = nt.zeros([0, 3]);
    const b = nt.ones([3]);
    const y = nt.add(a, b);
    expect(y.shape).toEqual([0, 3]);
    expect(y.size).toBe(0);
    const out = nt.zeros([0, 3]);
    expect(nt.mul(a, b, { out })).toBe(out);
  });

  it('return memory to the baseline, including failed calls and the temporary path', () => {
    const a = randomTensor([64], 'f32', 1);
    const b = randomTensor([64], 'f32', 2);
    const base = nt.memory();
    nt.add(a, b).dispose();
    const views = [a.slice([1, 64]), a.slice([0, 63]), b.slice([0, 63])];
    nt.add(views[1], views[2], { out: views[0] }); // overlap -> temporary, freed after the copy
    views.forEach((t) => t.dispose());
    const wrongOut = nt.zeros([5]);
    expect(errorOf(() => nt.add(a, b, { out: wrongOut })).code).toBe('NT_SHAPE'); // refused before any allocation
    wrongOut.dispose();
    expect(nt.memory()).toEqual(base);
  });

  it('reject bad arguments with coded errors and leave out unchanged', () => {
    const a = nt.ones([2, 3]);
    const b = nt.ones([2, 3], 'f64');
    expect(errorOf(() => nt.add(a, b))).toMatchObject({ code: 'NT_DTYPE', message: '[add] a and b must have the same dtype, got f32 and f64' });
    expect(errorOf(() => nt.sub(nt.ones([2], 'i32'), 1))).toMatchObject({ code: 'NT_DTYPE', message: '[sub] a must be f32, f64, f16 or bf16, got i32' });
    expect(errorOf(() => nt.mul(a, nt.ones([4])))).toMatchObject({ code: 'NT_SHAPE', message: '[mul] shapes [2,3] and [4] do not broadcast' });
    expect(errorOf(() => nt.div(1, 2))).toMatchObject({ code: 'NT_VALUE', message: '[div] at least one operand must be a Tensor, got two numbers' });
    expect(errorOf(() => nt.add(a, [1, 2, 3] as never))).toMatchObject({ code: 'NT_VALUE', message: '[add] b must be a Tensor or a number, got an array' });
    expect(errorOf(() => nt.add(a, 1, 5 as never))).toMatchObject({ code: 'NT_VALUE', message: '[add] options must be an object, got number 5' });
    const gone = nt.ones([2, 3]);
    gone.dispose();
    expect(errorOf(() => nt.add(gone, a))).toMatchObject({ code: 'NT_DISPOSED', message: '[add] a was disposed' });
    const out = nt.full([2, 3], 9);
    expect(errorOf(() => nt.add(a, a, { out: nt.full([3, 2], 9) }))).toMatchObject({ code: 'NT_SHAPE', message: '[add] out must have shape [2,3], got [3,2]' });
    expect(errorOf(() => nt.add(a, a, { out: nt.full([2, 3], 9, 'f64') }))).toMatchObject({ code: 'NT_DTYPE', message: '[add] out must be f32, got f64' });
    expect(errorOf(() => nt.add(a, a, { out: {} as never }))).toMatchObject({ code: 'NT_VALUE', message: '[add] out must be a Tensor, got an object' });
    const deadOut = nt.zeros([2, 3]);
    deadOut.dispose();
    expect(errorOf(() => nt.add(a, a, { out: deadOut }))).toMatchObject({ code: 'NT_DISPOSED', message: '[add] out was disposed' });
    expect(Array.from(values(out))).toEqual([9, 9, 9, 9, 9, 9]);
  });

  it('are defended natively too: mismatched shapes or dtype families are refused', () => {
    const a = new Float32Array(4);
    const m4 = new Float64Array([0, 1, 0, 4, 1]);
    const m3 = new Float64Array([0, 1, 0, 3, 1]);
    expect(errorOf(() => native.add(a, m4, a, m3, a, m4))).toMatchObject({ code: 'NT_SHAPE', message: '[add] b must have shape [4] (out), got [3]' });
    const d = new Float64Array(4);
    const d4 = new Float64Array([1, 1, 0, 4, 1]);
    expect(errorOf(() => native.mul(a, m4, d, d4, a, m4))).toMatchObject({ code: 'NT_DTYPE', message: expect.stringMatching(/^\[mul\] cannot mix f64 with f32/) });
    const i = new Int32Array(4);
    expect(errorOf(() => native.sub(i, new Float64Array([6, 1, 0, 4, 1]), a, m4, a, m4)).code).toBe('NT_DTYPE');
  });
});
