// nt.llm.optim.Adam and Adam8bit against float64 references of the same math (bias correction,
// decoupled weight decay, block-wise dynamic 8-bit moments), the 8-bit round-trip bound, exact
// stateBytes, NaN refusal and the error paths.
import * as nt from '../../lib';
import { dequantizeDynamic, dynamicCode, quantizeDynamic } from '../../lib/ops/optim-steps';
import { uniform } from '../helpers/reference';

// One tolerance table for the optimizer family (f32 kernels vs float64 references).
const TOL = {
  adamParam: 2e-6, // relative to 1 + |p|, per element, after 3 steps
  adam8bitParam: 2e-5, // Adam on the dequantized state: f32 rounding only
};

interface Hyper {
  lr: number;
  b1: number;
  b2: number;
  eps: number;
  wd: number;
}
const H: Hyper = { lr: 1e-2, b1: 0.9, b2: 0.99, eps: 1e-8, wd: 0.1 };

/** One Adam(W) step in float64: updates p, m, v in place. */
function adamRef(p: Float64Array, g: ArrayLike<number>, m: Float64Array, v: Float64Array, t: number, h: Hyper): void {
  const bc1 = 1 - h.b1 ** t;
  const bc2 = 1 - h.b2 ** t;
  for (let i = 0; i < p.length; ++i) {
    m[i] = h.b1 * m[i] + (1 - h.b1) * g[i];
    v[i] = h.b2 * v[i] + (1 - h.b2) * g[i] * g[i];
    const u = m[i] / bc1 / (Math.sqrt(v[i] / bc2) + h.eps);
    p[i] = p[i] * (1 - h.lr * h.wd) - h.lr * u;
  }
}

function maxRelErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let e = 0;
  for (let i = 0; i < a.length; ++i) e = Math.max(e, Math.abs(a[i] - b[i]) / (1 + Math.abs(b[i])));
  return e;
}

const f32 = (data: Float64Array, shape: number[]) => nt.tensor(Float32Array.from(data), { shape });
const opts = { lr: H.lr, betas: [H.b1, H.b2] as [number, number], eps: H.eps, weightDecay: H.wd };

describe('Adam', () => {
  test.each([1, 7, 33, 1031])('matches the float64 AdamW reference over 3 steps (n = %i), with a strided gradient', (n) => {
    const before = nt.memory();
    const p0 = uniform(n, 1);
    const p = f32(p0, [n]);
    const q = f32(uniform(6, 2), [2, 3]);
    const opt = new nt.llm.optim.Adam([p, q], opts);
    const ref = Float64Array.from(p.data as Float32Array);
    const refQ = Float64Array.from(q.data as Float32Array);
    const m = new Float64Array(n), v = new Float64Array(n), mq = new Float64Array(6), vq = new Float64Array(6);
    for (let t = 1; t <= 3; ++t) {
      const g = f32(uniform(n, 10 + t), [n]);
      const gqT = f32(uniform(6, 20 + t), [3, 2]);
      const gq = gqT.transpose(); // strided [2, 3]
      opt.step([g, gq]);
      adamRef(ref, g.data as Float32Array, m, v, t, H);
      const gc = gq.contiguous();
      adamRef(refQ, gc.data as Float32Array, mq, vq, t, H);
      for (const x of [g, gqT, gq, gc]) x.dispose();
    }
    expect(maxRelErr(p.data as Float32Array, ref)).toBeLessThan(TOL.adamParam);
    expect(maxRelErr(q.data as Float32Array, refQ)).toBeLessThan(TOL.adamParam);
    expect(opt.stepCount).toBe(3);
    expect(opt.stateBytes()).toBe(8 * (n + 6));
    opt.dispose();
    p.dispose();
    q.dispose();
    expect(nt.memory().tensors).toBe(before.tensors);
  });

  test('zero parameters and zero gradients stay finite (no 0/0)', () => {
    for (const make of [
      (ps: nt.Tensor[]) => new nt.llm.optim.Adam(ps),
      (ps: nt.Tensor[]) => new nt.llm.optim.Adam8bit(ps, { minSize8bit: 0, blockSize: 256 }),
      (ps: nt.Tensor[]) => new nt.llm.optim.GaLore(ps, { rank: 2 }),
      (ps: nt.Tensor[]) => new nt.llm.optim.GradNormLoRP(ps, { rank: 2 }),
      (ps: nt.Tensor[]) => new nt.llm.optim.GradNormLoRP(ps, { rank: 2, eightBit: true, minSize8bit: 0 }),
    ]) {
      const p = nt.zeros([5, 6]);
      const b = nt.zeros([6]);
      const opt = make([p, b]);
      for (let t = 0; t < 3; ++t) {
        const g = nt.zeros([5, 6]);
        const gb = nt.zeros([6]);
        opt.step([g, gb]);
        g.dispose();
        gb.dispose();
      }
      expect(Array.from(p.data as Float32Array).every((x) => x === 0)).toBe(true);
      expect(Array.from(b.data as Float32Array).every((x) => x === 0)).toBe(true);
      opt.dispose();
      p.dispose();
      b.dispose();
    }
  });
});

describe('8-bit state', () => {
  test('the dynamic maps are 256 sorted codes: signed in [-1, 1], unsigned in [0, 1], both with 0 and 1', () => {
    for (const signed of [true, false]) {
      const c = dynamicCode(signed);
      expect(c.length).toBe(256);
      for (let i = 1; i < 256; ++i) expect(c[i]).toBeGreaterThan(c[i - 1]);
      expect(c[255]).toBe(1);
      expect(c.includes(0)).toBe(true);
      expect(c[0]).toBe(signed ? c[0] : 0);
      if (signed) expect(c[0]).toBeLessThan(-0.99);
    }
  });

  test.each([
    [true, 2048, 5000],
    [true, 256, 1031],
    [false, 2048, 4097],
    [false, 256, 7],
  ])('round trip error <= block absmax x max code gap / 2 (signed %s, block %i, n %i)', (signed, blockSize, n) => {
    const code = dynamicCode(signed);
    let gap = 0;
    for (let i = 1; i < 256; ++i) gap = Math.max(gap, code[i] - code[i - 1]);
    const raw = uniform(n, 40 + n, signed ? -1 : 0, 1).map((x, i) => x * 10 ** (-(i % 7))); // spread over decades
    const x = f32(raw, [n]);
    const { codes, absmax } = quantizeDynamic(x, { signed, blockSize });
    const back = dequantizeDynamic(codes, absmax, { signed, blockSize });
    const xs = x.data as Float32Array, bs = back.data as Float32Array, am = absmax.data as Float32Array;
    for (let i = 0; i < n; ++i) {
      // nearest rounding: half the largest gap, plus f32 rounding of x / absmax and code x absmax
      const bound = am[Math.floor(i / blockSize)] * (gap / 2 + 2 ** -21);
      expect(Math.abs(xs[i] - bs[i])).toBeLessThanOrEqual(bound);
    }
    for (const t of [x, codes, absmax, back]) t.dispose();
  });

  test('Adam8bit steps are Adam on the dequantized state, and the stored moments stay within the bound', () => {
    const n = 5000;
    const p = f32(uniform(n, 3), [n]);
    const opt = new nt.llm.optim.Adam8bit([p], { ...opts, blockSize: 256 });
    expect(opt.isQuantized(0)).toBe(true);
    const gapS = gap(dynamicCode(true)), gapU = gap(dynamicCode(false));
    for (let t = 1; t <= 4; ++t) {
      const st = opt.moments(0);
      const m = Float64Array.from(st.m.data as Float32Array), v = Float64Array.from(st.v.data as Float32Array);
      st.m.dispose();
      st.v.dispose();
      const ref = Float64Array.from(p.data as Float32Array);
      const g = f32(uniform(n, 70 + t), [n]);
      opt.step([g]);
      adamRef(ref, g.data as Float32Array, m, v, t, H);
      expect(maxRelErr(p.data as Float32Array, ref)).toBeLessThan(TOL.adam8bitParam);
      const after = opt.moments(0);
      const ma = after.m.data as Float32Array, va = after.v.data as Float32Array;
      for (let b = 0; b < Math.ceil(n / 256); ++b) {
        let amM = 0, amV = 0;
        for (let i = b * 256; i < Math.min(n, (b + 1) * 256); ++i) {
          amM = Math.max(amM, Math.abs(m[i]));
          amV = Math.max(amV, Math.abs(v[i]));
        }
        for (let i = b * 256; i < Math.min(n, (b + 1) * 256); ++i) {
          expect(Math.abs(ma[i] - m[i])).toBeLessThanOrEqual((amM * gapS) / 2 * 1.001 + 1e-7);
          expect(Math.abs(va[i] - v[i])).toBeLessThanOrEqual((amV * gapU) / 2 * 1.001 + 1e-9);
        }
      }
      after.m.dispose();
      after.v.dispose();
      g.dispose();
    }
    opt.dispose();
    p.dispose();
  });

  test('tensors below minSize8bit keep 32-bit state and step exactly like Adam', () => {
    const a = f32(uniform(4095, 5), [4095]);
    const b = a.clone();
    const o8 = new nt.llm.optim.Adam8bit([a], opts);
    const o32 = new nt.llm.optim.Adam([b], opts);
    expect(o8.isQuantized(0)).toBe(false);
    for (let t = 0; t < 3; ++t) {
      const g = f32(uniform(4095, 90 + t), [4095]);
      o8.step([g]);
      o32.step([g]);
      g.dispose();
    }
    expect(Array.from(a.data as Float32Array)).toEqual(Array.from(b.data as Float32Array));
    expect(o8.stateBytes()).toBe(o32.stateBytes());
    for (const x of [o8, o32, a, b]) x.dispose();
  });

  test.each([[2048], [256]])('stateBytes is 2 bytes per element + 8 per block (block %i), 8 per element below 4096', (blockSize) => {
    const big = nt.zeros([70, 100]); // 7000 elements
    const small = nt.zeros([100]);
    const opt = new nt.llm.optim.Adam8bit([big, small], { blockSize: blockSize as 2048 | 256 });
    expect(opt.stateBytes()).toBe(2 * 7000 + 8 * Math.ceil(7000 / blockSize) + 8 * 100);
    const table = nt.llm.optim.stateMemoryTable([{ shape: [70, 100] }, { shape: [100] }], { blockSize });
    expect(table.find((r) => r.method === 'Adam8bit')!.bytes).toBe(opt.stateBytes());
    expect(table.find((r) => r.method === 'Adam')!.bytes).toBe(8 * 7100);
    for (const x of [opt, big, small]) x.dispose();
  });
});

function gap(code: Float32Array): number {
  let g = 0;
  for (let i = 1; i < code.length; ++i) g = Math.max(g, code[i] - code[i - 1]);
  return g;
}

describe('optimizer errors', () => {
  const code = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      return [(e as nt.NtError).code, (e as Error).message];
    }
    return ['none', ''];
  };

  test('a NaN or Inf gradient is NT_VALUE and changes no parameter or state', () => {
    for (const Ctor of [nt.llm.optim.Adam, nt.llm.optim.Adam8bit, nt.llm.optim.GaLore, nt.llm.optim.GradNormLoRP]) {
      const a = f32(uniform(12, 8), [3, 4]);
      const b = f32(uniform(5, 9), [5]);
      const opt = new Ctor([a, b], { rank: 2 } as object);
      const g1 = f32(uniform(12, 10), [3, 4]);
      const g2 = f32(uniform(5, 11), [5]);
      opt.step([g1, g2]);
      const snapA = Array.from(a.data as Float32Array), snapB = Array.from(b.data as Float32Array), bytes = opt.stateBytes();
      for (const bad of [NaN, Infinity]) {
        const gb = f32(Float64Array.from(uniform(5, 12)).map((x, i) => (i === 3 ? bad : x)), [5]);
        const [c, msg] = code(() => opt.step([g1, gb]));
        expect(c).toBe('NT_VALUE');
        expect(msg).toMatch(/grads\[1\] contains NaN or Inf/);
        gb.dispose();
      }
      expect(Array.from(a.data as Float32Array)).toEqual(snapA);
      expect(Array.from(b.data as Float32Array)).toEqual(snapB);
      expect(opt.stepCount).toBe(1);
      expect(opt.stateBytes()).toBe(bytes);
      for (const x of [opt, a, b, g1, g2]) x.dispose();
    }
  });

  test('shape, dtype, count, disposal and option errors are coded', () => {
    const p = nt.zeros([3, 4]);
    const opt = new nt.llm.optim.Adam([p]);
    const wrongShape = nt.zeros([4, 3]);
    const wrongDtype = nt.zeros([3, 4], 'f64');
    expect(code(() => opt.step([wrongShape]))).toEqual(['NT_SHAPE', expect.stringMatching(/\[llm.optim.Adam\] grads\[0\] must have the shape of params\[0\] \[3, ?4\]/)]);
    expect(code(() => opt.step([wrongDtype]))[0]).toBe('NT_DTYPE');
    expect(code(() => opt.step([]))[0]).toBe('NT_VALUE');
    expect(code(() => opt.step([p, p]))[0]).toBe('NT_VALUE');
    const g = nt.zeros([3, 4]);
    g.dispose();
    expect(code(() => opt.step([g]))).toEqual(['NT_DISPOSED', expect.stringMatching(/grads\[0\] was disposed/)]);
    expect(code(() => new nt.llm.optim.Adam([nt.zeros([2], 'f16')]))[0]).toBe('NT_DTYPE');
    const base = nt.zeros([4, 4]);
    const view = base.transpose();
    expect(code(() => new nt.llm.optim.Adam([view]))[0]).toBe('NT_VALUE');
    expect(code(() => new nt.llm.optim.Adam([]))[0]).toBe('NT_VALUE');
    expect(code(() => new nt.llm.optim.Adam([p], { lr: -1 }))[0]).toBe('NT_VALUE');
    expect(code(() => new nt.llm.optim.Adam([p], { betas: [1, 0.9] }))[0]).toBe('NT_VALUE');
    expect(code(() => new nt.llm.optim.Adam8bit([p], { blockSize: 512 as 256 }))[0]).toBe('NT_VALUE');
    expect(code(() => new nt.llm.optim.GaLore([p], { rank: 0 }))[0]).toBe('NT_VALUE');
    expect(code(() => new nt.llm.optim.GaLore([p], { projector: 'qr' as 'svd' }))[0]).toBe('NT_VALUE');
    const ok = nt.zeros([3, 4]);
    const q = nt.zeros([3, 4]);
    const opt2 = new nt.llm.optim.Adam([q]);
    q.dispose();
    expect(code(() => opt2.step([ok]))).toEqual(['NT_DISPOSED', expect.stringMatching(/params\[0\] was disposed/)]);
    expect(code(() => opt.moments(3))[0]).toBe('NT_VALUE');
    opt.dispose();
    expect(code(() => opt.step([ok]))[0]).toBe('NT_DISPOSED');
    expect(code(() => opt.moments(0))[0]).toBe('NT_DISPOSED');
    expect(opt.stateBytes()).toBe(0);
    for (const x of [p, wrongShape, wrongDtype, base, view, ok, opt2]) x.dispose();
  });

  test('the native steps refuse mismatched state directly (coded, nothing written)', () => {
    const { adamStep } = require('../../lib/ops/optim-steps');
    const p = nt.ones([10]);
    const g = nt.ones([10]);
    const m = nt.zeros([10]);
    const v = nt.zeros([9]);
    expect(code(() => adamStep(p, g, m, v, { lr: 1, beta1: 0.9, beta2: 0.9, eps: 1e-8, weightDecay: 0, step: 1 }))[0]).toBe('NT_SHAPE');
    expect(Array.from(p.data as Float32Array).every((x) => x === 1)).toBe(true);
    for (const x of [p, g, m, v]) x.dispose();
  });
});
