// nt.quant.gptq: GPTQ against round-to-nearest and an unblocked float64 reference, the grid
// invariants, damping, dead inputs, options, errors, async and progress.
import * as nt from '../../lib';
import { errorOf } from '../helpers/reference';
import { TOL, agreement, calibration, proxyLoss, refGptq, unpackCodes, values } from './gptq-helpers';

type GroupSize = 32 | 64 | 128 | 'row';

interface Setup {
  w: nt.Tensor;
  x: nt.Tensor;
  h: nt.Tensor;
  rows: number;
  cols: number;
  n: number;
  dispose(): void;
}

function setup(rows: number, cols: number, seed: number, n = 2 * cols + 17): Setup {
  const w = nt.randn([rows, cols], { seed });
  const x = calibration(n, cols, seed + 1);
  const acc = nt.llm.covariance(cols).update(x);
  const h = acc.hessian();
  acc.dispose();
  return { w, x, h, rows, cols, n, dispose: () => [w, x, h].forEach((t) => t.dispose()) };
}

function loss(s: Setup, q: nt.quant.QTensor): number {
  const d = nt.quant.dequantize(q);
  try {
    return proxyLoss(values(s.w), values(d), values(s.x), s.rows, s.cols, s.n);
  } finally {
    d.dispose();
  }
}

function same(a: nt.quant.QTensor, b: nt.quant.QTensor): void {
  expect(Array.from(a.codes.data)).toEqual(Array.from(b.codes.data));
  expect(Array.from(a.scales.data)).toEqual(Array.from(b.scales.data));
  expect(Array.from(a.zeros.data)).toEqual(Array.from(b.zeros.data));
  expect(a.gIdx ? Array.from(a.gIdx.data) : null).toEqual(b.gIdx ? Array.from(b.gIdx.data) : null);
}

const VARIANTS = [
  { actOrder: false, staticGroups: false },
  { actOrder: true, staticGroups: false },
  { actOrder: true, staticGroups: true },
  { actOrder: false, staticGroups: true },
];

describe('nt.quant.gptq', () => {
  describe('beats round-to-nearest on the calibration data', () => {
    for (const [rows, cols] of [
      [33, 129],
      [64, 256],
    ]) {
      for (const groupSize of [32, 128, 'row'] as GroupSize[]) {
        for (const v of VARIANTS) {
          it(`${rows}x${cols}, group ${groupSize}, actOrder ${v.actOrder}, staticGroups ${v.staticGroups}`, () => {
            for (const seed of [11, 12, 13]) {
              const s = setup(rows, cols, seed);
              const g = nt.quant.gptq(s.w, { hessian: s.h, bits: 4, groupSize, ...v });
              const r = nt.quant.quantize(s.w, { bits: 4, groupSize });
              const lg = loss(s, g);
              const lr = loss(s, r);
              expect(lg).toBeLessThan(lr);
              g.dispose();
              r.dispose();
              s.dispose();
            }
          });
        }
      }
    }

    it('at 2, 3 and 8 bits and with symmetric grids too', () => {
      const s = setup(24, 96, 21);
      for (const bits of [2, 3, 8] as const)
        for (const symmetric of [false, true]) {
          const g = nt.quant.gptq(s.w, { hessian: s.h, bits, groupSize: 32, symmetric });
          const r = nt.quant.quantize(s.w, { bits, groupSize: 32, symmetric });
          expect(loss(s, g)).toBeLessThan(loss(s, r));
          g.dispose();
          r.dispose();
        }
      s.dispose();
    });
  });

  describe('matches the unblocked float64 reference', () => {
    const cases = [
      { rows: 17, cols: 100, groupSize: 32 as GroupSize, actOrder: false, staticGroups: false, blockSize: 128 },
      { rows: 17, cols: 100, groupSize: 32 as GroupSize, actOrder: false, staticGroups: false, blockSize: 20 },
      { rows: 17, cols: 100, groupSize: 'row' as GroupSize, actOrder: false, staticGroups: false, blockSize: 7 },
      { rows: 9, cols: 129, groupSize: 64 as GroupSize, actOrder: true, staticGroups: false, blockSize: 48 },
      { rows: 9, cols: 129, groupSize: 32 as GroupSize, actOrder: true, staticGroups: true, blockSize: 1 },
      { rows: 9, cols: 96, groupSize: 32 as GroupSize, actOrder: false, staticGroups: true, blockSize: 40 },
    ];
    for (const c of cases) {
      it(`${c.rows}x${c.cols}, group ${c.groupSize}, block ${c.blockSize}, actOrder ${c.actOrder}, static ${c.staticGroups}`, () => {
        const s = setup(c.rows, c.cols, 31);
        for (const scaleDtype of ['f32', 'f16'] as const) {
          const q = nt.quant.gptq(s.w, { hessian: s.h, bits: 4, scaleDtype, ...c });
          const gs = c.groupSize === 'row' ? c.cols : c.groupSize;
          const ref = refGptq(values(s.w), values(s.h), c.rows, c.cols, {
            bits: 4, groupSize: gs, symmetric: false, actOrder: c.actOrder, staticGroups: c.staticGroups, damp: 0.01, f16: scaleDtype === 'f16',
          });
          expect(agreement(unpackCodes(q), ref.codes)).toBeGreaterThan(TOL.agreement);
          const lq = loss(s, q);
          const lref = proxyLoss(values(s.w), ref.what, values(s.x), c.rows, c.cols, s.n);
          expect(Math.abs(lq - lref) / lref).toBeLessThan(TOL.lossVsReference);
          q.dispose();
        }
        s.dispose();
      });
    }
  });

  it('equals round-to-nearest when the Hessian is a multiple of the identity (nothing to propagate)', () => {
    const cols = 96;
    // X with orthonormal columns, scaled: XᵀX = 9·I
    const x = nt.mul(nt.eye(cols), 3);
    const acc = nt.llm.covariance(cols).update(x);
    const h = acc.hessian();
    const w = nt.randn([20, cols], { seed: 41 });
    for (const groupSize of [32, 'row'] as GroupSize[])
      for (const scaleDtype of ['f16', 'f32'] as const)
        for (const v of VARIANTS) {
          const g = nt.quant.gptq(w, { hessian: h, bits: 4, groupSize, scaleDtype, ...v });
          const r = nt.quant.quantize(w, { bits: 4, groupSize, scaleDtype });
          expect(Array.from(g.codes.data)).toEqual(Array.from(r.codes.data));
          expect(Array.from(g.scales.data)).toEqual(Array.from(r.scales.data));
          expect(Array.from(g.zeros.data)).toEqual(Array.from(r.zeros.data));
          // with equal diagonals act-order keeps the order: gIdx is the plain c / groupSize
          if (g.gIdx) expect(Array.from(g.gIdx.data)).toEqual(Array.from({ length: cols }, (_, c) => Math.floor(c / g.groupSize)));
          g.dispose();
          r.dispose();
        }
    [x, h, w].forEach((t) => t.dispose());
    acc.dispose();
  });

  it('puts every code on its group grid (dequantize reads exactly scale · (code − zero))', () => {
    const s = setup(13, 100, 51);
    for (const bits of [2, 3, 4, 8] as const)
      for (const symmetric of [false, true])
        for (const v of VARIANTS) {
          const q = nt.quant.gptq(s.w, { hessian: s.h, bits, groupSize: 32, symmetric, ...v });
          const codes = unpackCodes(q);
          const scales = values(q.scales);
          const zeros = q.zeros.data as Uint8Array;
          const gIdx = q.gIdx ? (q.gIdx.data as Int32Array) : null;
          const deq = values(nt.quant.dequantize(q));
          const groups = q.groups;
          const bad: string[] = [];
          for (let r = 0; r < 13; ++r)
            for (let c = 0; c < 100; ++c) {
              const code = codes[r * 100 + c];
              const g = gIdx ? gIdx[c] : Math.floor(c / 32);
              const z = zeros[r * groups + g];
              const onGrid = code >= 0 && code <= 2 ** bits - 1 && g < groups && (!symmetric || z === 2 ** (bits - 1));
              const exact = deq[r * 100 + c] === Math.fround(scales[r * groups + g] * (code - z));
              if (!onGrid || !exact) bad.push(`(${r}, ${c}): code ${code}, group ${g}, zero ${z}, value ${deq[r * 100 + c]}`);
            }
          expect(bad).toEqual([]);
          for (let i = 0; i < scales.length; ++i) expect(scales[i]).toBeGreaterThan(0);
          if (gIdx) {
            // act-order groups: runs of groupSize visited columns
            const sizes = new Array(groups).fill(0);
            gIdx.forEach((g) => sizes[g]++);
            expect(sizes).toEqual(Array.from({ length: groups }, (_, g) => Math.min(32, 100 - 32 * g)));
          }
          q.dispose();
        }
    s.dispose();
  });

  it('gives bit-identical results for any thread count', () => {
    const s = setup(70, 200, 57);
    const threads = nt.getNumThreads();
    try {
      nt.setNumThreads(1);
      const one = nt.quant.gptq(s.w, { hessian: s.h, groupSize: 32, actOrder: true, blockSize: 64 });
      const h1 = nt.llm.covariance(200).update(s.x).hessian();
      nt.setNumThreads(4);
      const four = nt.quant.gptq(s.w, { hessian: s.h, groupSize: 32, actOrder: true, blockSize: 64 });
      const h4 = nt.llm.covariance(200).update(s.x).hessian();
      same(one, four);
      expect(Array.from(h1.data)).toEqual(Array.from(h4.data));
      [one, four].forEach((q) => q.dispose());
      [h1, h4].forEach((t) => t.dispose());
    } finally {
      nt.setNumThreads(threads);
      s.dispose();
    }
  });

  it('orders columns by descending diag H under actOrder (gIdx follows the visiting order)', () => {
    const s = setup(8, 70, 61);
    const q = nt.quant.gptq(s.w, { hessian: s.h, groupSize: 32, actOrder: true });
    const h = values(s.h);
    const order = [...Array(70).keys()].sort((a, b) => h[b * 70 + b] - h[a * 70 + a] || a - b);
    const expected = new Array(70);
    order.forEach((c, k) => (expected[c] = Math.floor(k / 32)));
    expect(Array.from(q.gIdx!.data)).toEqual(expected);
    q.dispose();
    s.dispose();
  });

  it('quantizes dead inputs (H_jj = 0, never active) to exactly 0', () => {
    const cols = 64;
    const x = calibration(200, cols, 71);
    const xd = x.toArray() as number[][];
    for (const row of xd) row[5] = row[40] = 0;
    const x2 = nt.tensor(xd);
    const acc = nt.llm.covariance(cols).update(x2);
    const h = acc.hessian();
    const w = nt.randn([10, cols], { seed: 72 });
    for (const v of VARIANTS) {
      const q = nt.quant.gptq(w, { hessian: h, groupSize: 32, ...v });
      const d = nt.quant.dequantize(q).toArray() as number[][];
      for (const row of d) expect([row[5], row[40]]).toEqual([0, 0]);
      q.dispose();
    }
    [x, x2, h, w].forEach((t) => t.dispose());
    acc.dispose();
  });

  describe('damping', () => {
    it('retries with more damping when H is singular (rank-deficient X, damp 0)', () => {
      const cols = 33;
      const z = nt.randn([100, 5], { seed: 81 });
      const m = nt.randn([5, cols], { seed: 82 });
      const x = nt.matmul(z, m); // rank 5
      const acc = nt.llm.covariance(cols).update(x);
      const h = acc.hessian();
      const w = nt.randn([12, cols], { seed: 83 });
      const retried = nt.quant.gptq(w, { hessian: h, groupSize: 32, damp: 0 });
      const direct = nt.quant.gptq(w, { hessian: h, groupSize: 32, damp: 0.01 });
      same(retried, direct);
      // an exactly singular f64 H (rank 1) fails at damp 0 and 0.01 is the first retry too
      const ones = nt.full([cols, cols], 1, 'f64');
      const a = nt.quant.gptq(w, { hessian: ones, damp: 0 });
      const b = nt.quant.gptq(w, { hessian: ones, damp: 0.01 });
      same(a, b);
      [z, m, x, h, w, ones].forEach((t) => t.dispose());
      [retried, direct, a, b].forEach((q) => q.dispose());
      acc.dispose();
    });

    it('gives up with NT_NUMERIC when H + damping stays indefinite', () => {
      const w = nt.randn([4, 2], { seed: 1 });
      const h = nt.tensor([[1, 10], [10, 1]]);
      const e = errorOf(() => nt.quant.gptq(w, { hessian: h, groupSize: 'row' }));
      expect(e.code).toBe('NT_NUMERIC');
      expect(e.message).toMatch(/\[quant\.gptq\] hessian \+ damping is not positive definite even with damp = 0\.11/);
      [w, h].forEach((t) => t.dispose());
    });
  });

  it('accepts any float dtype and strided views for w and the hessian', () => {
    const s = setup(16, 64, 91);
    const base = nt.quant.gptq(s.w, { hessian: s.h, groupSize: 32 });
    const wt = s.w.transpose().contiguous().transpose(); // a strided view of the same values
    const ht = s.h.astype('f64');
    const strided = nt.quant.gptq(wt, { hessian: ht, groupSize: 32 });
    expect(agreement(unpackCodes(strided), unpackCodes(base))).toBeGreaterThan(0.99);
    for (const dtype of ['f16', 'bf16', 'f64'] as const) {
      const wd = s.w.astype(dtype);
      const q = nt.quant.gptq(wd, { hessian: s.h, groupSize: 32 });
      const r = nt.quant.quantize(wd, { groupSize: 32 });
      const lw = (qq: nt.quant.QTensor) => {
        const d = nt.quant.dequantize(qq);
        const l = proxyLoss(values(wd), values(d), values(s.x), 16, 64, s.n);
        d.dispose();
        return l;
      };
      expect(lw(q)).toBeLessThan(lw(r));
      [wd].forEach((t) => t.dispose());
      [q, r].forEach((t) => t.dispose());
    }
    [wt, ht].forEach((t) => t.dispose());
    [base, strided].forEach((q) => q.dispose());
    s.dispose();
  });

  it('handles empty weights and a single column', () => {
    const h0 = nt.zeros([0, 0]);
    const q0 = nt.quant.gptq(nt.zeros([3, 0]), { hessian: h0 });
    expect(q0.shape).toEqual([3, 0]);
    const h1 = nt.tensor([[2]]);
    const w1 = nt.tensor([[0.5], [-1], [0]]);
    const q1 = nt.quant.gptq(w1, { hessian: h1, groupSize: 32 });
    const r1 = nt.quant.quantize(w1, { groupSize: 32 });
    expect(Array.from(q1.codes.data)).toEqual(Array.from(r1.codes.data));
    const qr = nt.quant.gptq(nt.zeros([0, 8]), { hessian: nt.eye(8) });
    expect(qr.codes.shape).toEqual([0, 4]);
    [q0, q1, r1, qr].forEach((q) => q.dispose());
  });

  describe('errors', () => {
    const w = nt.randn([4, 8], { seed: 1 });
    const h = nt.eye(8);
    afterAll(() => [w, h].forEach((t) => t.dispose()));
    const cases: [string, () => unknown, string, RegExp][] = [
      ['missing hessian', () => nt.quant.gptq(w, {} as never), 'NT_VALUE', /\[quant\.gptq\] needs hessian/],
      ['hessian not a tensor', () => nt.quant.gptq(w, { hessian: [1] as never }), 'NT_VALUE', /hessian must be a Tensor/],
      ['hessian of the wrong shape', () => nt.quant.gptq(w, { hessian: nt.eye(7) }), 'NT_SHAPE', /hessian must have shape \[8, 8\].*got \[7,7\]/],
      ['integer hessian', () => nt.quant.gptq(w, { hessian: nt.zeros([8, 8], 'i32') }), 'NT_DTYPE', /hessian must be f32, f64, f16 or bf16, got i32/],
      ['integer w', () => nt.quant.gptq(nt.zeros([4, 8], 'i32'), { hessian: h }), 'NT_DTYPE', /w must be f32/],
      ['1-D w', () => nt.quant.gptq(nt.zeros([8]), { hessian: h }), 'NT_SHAPE', /w must be 2-D/],
      ['bits 5', () => nt.quant.gptq(w, { hessian: h, bits: 5 as never }), 'NT_VALUE', /bits must be 2, 3, 4 or 8/],
      ['groupSize 16', () => nt.quant.gptq(w, { hessian: h, groupSize: 16 as never }), 'NT_VALUE', /groupSize must be 32, 64, 128 or 'row'/],
      ['negative damp', () => nt.quant.gptq(w, { hessian: h, damp: -0.1 }), 'NT_VALUE', /damp must be a number in \[0, 1\], got number -0.1/],
      ['NaN damp', () => nt.quant.gptq(w, { hessian: h, damp: NaN }), 'NT_VALUE', /damp must be a number in \[0, 1\]/],
      ['blockSize 0', () => nt.quant.gptq(w, { hessian: h, blockSize: 0 }), 'NT_VALUE', /blockSize must be a positive integer, got number 0/],
      ['fractional blockSize', () => nt.quant.gptq(w, { hessian: h, blockSize: 2.5 }), 'NT_VALUE', /blockSize must be a positive integer/],
      ['actOrder not a boolean', () => nt.quant.gptq(w, { hessian: h, actOrder: 1 as never }), 'NT_VALUE', /actOrder must be a boolean/],
      ['staticGroups not a boolean', () => nt.quant.gptq(w, { hessian: h, staticGroups: 'yes' as never }), 'NT_VALUE', /staticGroups must be a boolean/],
      ['onProgress not a function', () => nt.quant.gptq(w, { hessian: h, onProgress: 3 as never }), 'NT_VALUE', /onProgress must be a function/],
      ['options not an object', () => nt.quant.gptq(w, 3 as never), 'NT_VALUE', /options must be an object/],
      ['NaN in w', () => nt.quant.gptq(nt.tensor([[1, NaN]]), { hessian: nt.eye(2) }), 'NT_VALUE', /\[quant\.gptq\] w contains NaN or Inf/],
      ['Inf in the hessian', () => nt.quant.gptq(nt.ones([2, 2]), { hessian: nt.tensor([[1, 0], [0, Infinity]]) }), 'NT_VALUE', /\[quant\.gptq\] hessian contains NaN or Inf/],
      ['NaN in the hessian', () => nt.quant.gptq(nt.ones([2, 2]), { hessian: nt.tensor([[1, NaN], [NaN, 1]]) }), 'NT_VALUE', /hessian contains NaN or Inf/],
      ['negative diag H', () => nt.quant.gptq(nt.ones([2, 2]), { hessian: nt.tensor([[1, 0], [0, -1]]) }), 'NT_VALUE', /positive semidefinite.*diagonal element 1 = -1/],
      ['f16 scale overflow', () => nt.quant.gptq(nt.tensor([[1e9, -1e9]]), { hessian: nt.eye(2) }), 'NT_VALUE', /exceeds the f16 range; use scaleDtype 'f32'/],
    ];
    for (const [name, fn, code, message] of cases) {
      it(`${name}: ${code}`, () => {
        const e = errorOf(fn);
        expect(e.code).toBe(code);
        expect(e.message).toMatch(message);
      });
    }

    it('disposed inputs: NT_DISPOSED', () => {
      const a = nt.randn([4, 8], { seed: 2 });
      const b = nt.eye(8);
      a.dispose();
      expect(errorOf(() => nt.quant.gptq(a, { hessian: h })).code).toBe('NT_DISPOSED');
      b.dispose();
      const e = errorOf(() => nt.quant.gptq(w, { hessian: b }));
      expect(e.code).toBe('NT_DISPOSED');
      expect(e.message).toMatch(/\[quant\.gptq\] hessian was disposed/);
    });

    it('failed calls leave no tensors behind', () => {
      const before = nt.memory();
      const nan = nt.tensor([[1, NaN]]);
      const h2 = nt.eye(2);
      expect(errorOf(() => nt.quant.gptq(nan, { hessian: h2 })).code).toBe('NT_VALUE');
      [nan, h2].forEach((t) => t.dispose());
      expect(nt.memory()).toEqual(before);
    });
  });

  describe('async and progress', () => {
    it('gptqAsync equals gptq', async () => {
      const s = setup(20, 130, 101);
      for (const v of VARIANTS) {
        const a = nt.quant.gptq(s.w, { hessian: s.h, groupSize: 64, ...v });
        const b = await nt.quant.gptqAsync(s.w, { hessian: s.h, groupSize: 64, ...v });
        same(a, b);
        a.dispose();
        b.dispose();
      }
      s.dispose();
    });

    it('rejects argument and numerical errors', async () => {
      const w = nt.randn([4, 2], { seed: 1 });
      await expect(nt.quant.gptqAsync(w, { hessian: nt.eye(3) })).rejects.toMatchObject({ code: 'NT_SHAPE' });
      await expect(nt.quant.gptqAsync(w, { hessian: nt.tensor([[1, 10], [10, 1]]) })).rejects.toMatchObject({ code: 'NT_NUMERIC' });
      w.dispose();
    });

    it('reports increasing column counts ending at the total, sync and async', async () => {
      const s = setup(10, 300, 111);
      for (const blockSize of [128, 64, 1000]) {
        const sync: [number, number][] = [];
        const q1 = nt.quant.gptq(s.w, { hessian: s.h, groupSize: 32, blockSize, onProgress: (d, t) => sync.push([d, t]) });
        const async: [number, number][] = [];
        const q2 = await nt.quant.gptqAsync(s.w, { hessian: s.h, groupSize: 32, blockSize, onProgress: (d, t) => async.push([d, t]) });
        same(q1, q2);
        const blocks = Math.ceil(300 / blockSize);
        for (const calls of [sync, async]) {
          expect(calls.length).toBe(blocks);
          expect(calls.every(([, t]) => t === 300)).toBe(true);
          for (let i = 1; i < calls.length; ++i) expect(calls[i][0]).toBeGreaterThan(calls[i - 1][0]);
          expect(calls[calls.length - 1][0]).toBe(300);
        }
        q1.dispose();
        q2.dispose();
      }
      s.dispose();
    });

    it('stops at the next block when onProgress throws, with the callback error', async () => {
      const s = setup(6, 300, 121);
      const before = nt.memory();
      let calls = 0;
      const stop = () => {
        calls++;
        throw new Error('stop here');
      };
      expect(() => nt.quant.gptq(s.w, { hessian: s.h, blockSize: 32, onProgress: stop })).toThrow('stop here');
      expect(calls).toBe(1);
      calls = 0;
      await expect(nt.quant.gptqAsync(s.w, { hessian: s.h, blockSize: 32, onProgress: stop })).rejects.toThrow('stop here');
      expect(calls).toBe(1);
      expect(nt.memory()).toEqual(before);
      s.dispose();
    });

    it('releases everything after dispose', async () => {
      const before = nt.memory();
      const s = setup(64, 256, 131);
      const q = await nt.quant.gptqAsync(s.w, { hessian: s.h, blockSize: 16, onProgress: () => undefined });
      expect(q.shape).toEqual([64, 256]);
      q.dispose();
      s.dispose();
      expect(nt.memory()).toEqual(before);
    });
  });
});
