// exp, log, sqrt, silu, gelu (erf and tanh forms) against float64 references.
import * as nt from '../../lib';
import { errorOf } from '../helpers/reference';
import { EPS, FLOAT_DTYPES, FloatDType, ODD_SIZES, Tol, expectClose, fromValues, randomTensor, ref, values } from './helpers';

type Name = 'exp' | 'log' | 'sqrt' | 'silu' | 'gelu' | 'geluTanh';
const NAMES: Name[] = ['exp', 'log', 'sqrt', 'silu', 'gelu', 'geluTanh'];

const run = (name: Name, x: nt.Tensor, out?: nt.Tensor): nt.Tensor =>
  name === 'geluTanh' ? nt.gelu(x, { approximate: 'tanh', out }) : nt[name](x, { out });

// Input ranges: wide enough to reach overflow / underflow / subnormal results in f32.
const RANGE: Record<Name, [number, number]> = {
  exp: [-100, 88],
  log: [0, 0], // log-uniform over [1e-30, 1e30], see inputs()
  sqrt: [0, 1e6],
  silu: [-100, 100],
  gelu: [-13, 13],
  geluTanh: [-12, 12],
};

// Tolerances of the unary family vs the exact value: f32 bounds are the measured SIMD ulp
// bounds (exp/log 1, silu 3, gelu 8, gelu-tanh 4; test_kernels.cc) plus the reference's own
// half ulp, as relative error 2^-23 per ulp; atol covers subnormal results (ulps there are
// absolute). f64: the C library vs V8's Math and our erfc. f16/bf16: half an ulp of the
// dtype after the f32 computation.
const ULP32 = 2 ** -23;
const TOL: Record<FloatDType, Record<Name, Tol>> = {
  f32: {
    exp: { rtol: 2 * ULP32, atol: 2 ** -147 },
    log: { rtol: 2 * ULP32, atol: 0 },
    sqrt: { rtol: ULP32 / 2, atol: 0 },
    silu: { rtol: 4 * ULP32, atol: 2 ** -145 },
    gelu: { rtol: 9 * ULP32, atol: 2 ** -145 },
    geluTanh: { rtol: 5 * ULP32, atol: 2 ** -145 },
  },
  f64: {
    exp: { rtol: 4e-16, atol: 0 },
    log: { rtol: 4e-16, atol: 0 },
    sqrt: { rtol: 2.3e-16, atol: 0 },
    silu: { rtol: 1e-15, atol: 0 },
    gelu: { rtol: 1e-13, atol: 1e-300 },
    geluTanh: { rtol: 2e-14, atol: 0 },
  },
  f16: Object.fromEntries(NAMES.map((n) => [n, { rtol: EPS.f16 * 1.05, atol: 2 ** -25 }])) as Record<Name, Tol>,
  bf16: Object.fromEntries(NAMES.map((n) => [n, { rtol: EPS.bf16 * 1.05, atol: 1e-40 }])) as Record<Name, Tol>,
};

const REF: Record<Name, (x: number) => number> = {
  exp: ref.exp,
  log: ref.log,
  sqrt: ref.sqrt,
  silu: ref.silu,
  gelu: ref.gelu,
  geluTanh: ref.geluTanh,
};

function inputs(name: Name, n: number, dtype: FloatDType, seed: number): nt.Tensor {
  if (name === 'log') {
    const u = values(randomTensor([n], 'f64', seed, -69, 69));
    return fromValues(Array.from(u, Math.exp), [n], dtype);
  }
  const [lo, hi] = RANGE[name];
  // f16 cannot hold e^88: keep its results in range
  const cap = dtype === 'f16' && name === 'exp' ? 10 : dtype === 'f16' ? Math.min(hi, 60) : hi;
  return randomTensor([n], dtype, seed, dtype === 'f16' ? Math.max(lo, -cap) : lo, cap);
}

describe('unary ops', () => {
  it('match the float64 reference within the tolerance table for every dtype and odd size', () => {
    for (const dtype of FLOAT_DTYPES)
      for (const name of NAMES)
        for (const n of [...ODD_SIZES, 20011]) {
          const x = inputs(name, n, dtype, n);
          const y = run(name, x);
          expect(y.dtype).toBe(dtype);
          expect(y.shape).toEqual([n]);
          expectClose(values(y), Array.from(values(x), REF[name]), TOL[dtype][name], `${name} ${dtype} n=${n}`);
          x.dispose();
          y.dispose();
        }
  });

  it('follow IEEE semantics on special values', () => {
    const x = fromValues([NaN, Infinity, -Infinity, 0, -0, -1, 89, -104], [8], 'f32');
    const v = (t: nt.Tensor) => Array.from(values(t));
    expect(v(nt.exp(x))).toEqual([NaN, Infinity, 0, 1, 1, Math.fround(Math.exp(-1)), Infinity, 0]);
    expect(v(nt.log(x)).slice(0, 6)).toEqual([NaN, Infinity, NaN, -Infinity, -Infinity, NaN]);
    expect(v(nt.sqrt(x)).slice(0, 6)).toEqual([NaN, Infinity, NaN, 0, -0, NaN]);
    // x * sigmoid(x) at -inf is -inf * 0 = NaN, as PyTorch evaluates it
    expect(v(nt.silu(x)).slice(0, 5)).toEqual([NaN, Infinity, NaN, 0, -0]);
    expect(v(nt.gelu(x)).slice(0, 4)).toEqual([NaN, Infinity, NaN, 0]);
    expect(v(nt.gelu(x, { approximate: 'tanh' })).slice(0, 4)).toEqual([NaN, Infinity, NaN, 0]);
    // huge negative inputs give (-)0, not a spurious tiny value
    const big = fromValues([-3e38, -1e10, -200], [3], 'f32');
    for (const y of [nt.silu(big), nt.gelu(big), nt.gelu(big, { approximate: 'tanh' })])
      expect(v(y).every((e) => e === 0)).toBe(true);
  });

  it('work on strided views and strided outputs, and in place', () => {
    for (const dtype of ['f32', 'f64', 'bf16'] as FloatDType[]) {
      const X = randomTensor([17, 33], dtype, 3, -3, 3);
      const x = X.transpose().slice([2, 30]); // [28, 17], strides [1, 33]
      const want = Array.from(values(x), ref.silu);
      expectClose(values(nt.silu(x)), want, TOL[dtype].silu);
      const O = nt.zeros([17, 40], dtype);
      const out = O.slice(null, [5, 33]).transpose(); // [28, 17]
      nt.silu(x, { out });
      expectClose(values(out), want, TOL[dtype].silu);
      const y = X.clone();
      const wantExp = Array.from(values(y), ref.exp);
      expect(nt.exp(y, { out: y })).toBe(y);
      expectClose(values(y), wantExp, TOL[dtype].exp);
      [X, O, y].forEach((t) => t.dispose());
    }
  });

  it('handle empty and 0-d tensors', () => {
    expect(nt.exp(nt.zeros([0, 5])).shape).toEqual([0, 5]);
    const s = nt.tensor(new Float64Array([2]), { shape: [] });
    expect(nt.sqrt(s).toArray()).toBe(Math.SQRT2);
  });

  it('reject bad arguments with coded errors', () => {
    expect(errorOf(() => nt.exp(nt.zeros([3], 'i32')))).toMatchObject({ code: 'NT_DTYPE', message: '[exp] x must be f32, f64, f16 or bf16, got i32' });
    expect(errorOf(() => nt.log(3 as never))).toMatchObject({ code: 'NT_VALUE', message: '[log] x must be a Tensor, got number 3' });
    expect(errorOf(() => nt.gelu(nt.ones([2]), { approximate: 'erf' as never }))).toMatchObject({
      code: 'NT_VALUE',
      message: "[gelu] approximate must be 'none' or 'tanh', got erf",
    });
    const x = nt.ones([2, 2]);
    const out = nt.full([4], 5);
    expect(errorOf(() => nt.sqrt(x, { out }))).toMatchObject({ code: 'NT_SHAPE', message: '[sqrt] out must have shape [2,2], got [4]' });
    expect(errorOf(() => nt.silu(x, { out: nt.zeros([2, 2], 'f16') }))).toMatchObject({ code: 'NT_DTYPE', message: '[silu] out must be f32, got f16' });
    expect(Array.from(values(out))).toEqual([5, 5, 5, 5]);
    x.dispose();
    expect(errorOf(() => nt.exp(x))).toMatchObject({ code: 'NT_DISPOSED', message: '[exp] x was disposed' });
  });
});
