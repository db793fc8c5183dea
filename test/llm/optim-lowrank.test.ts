// nt.llm.optim.GaLore and GradNormLoRP against float64 references of the same math: the refresh
// schedule (steps 0, T, 2T, ...), the smaller-side choice for tall and wide matrices, the
// top-r subspace, Adam in the subspace with α and decoupled decay, moments kept across
// refreshes or reprojected, the weight-norm gradient vs finite differences, stateBytes.
import * as nt from '../../lib';
import { weightNormGrad } from '../../lib/ops/optim-steps';
import { uniform } from '../helpers/reference';

const TOL = {
  param: 2e-5, // relative to 1 + |w| after several steps (f32 GEMMs vs float64)
  subspace: 1e-3, // r − ||P_ours P_refᵀ||_F²
  fdGrad: 2e-3, // kernel gradient (f32) vs central differences in float64
};

type Mat = Float64Array; // row-major
const read = (t: nt.Tensor): Float64Array => {
  const c = t.contiguous();
  const out = Float64Array.from(c.data as Float32Array);
  c.dispose();
  return out;
};
const f32 = (d: Float64Array, shape: number[]) => nt.tensor(Float32Array.from(d), { shape });

function mm(a: Mat, b: Mat, m: number, k: number, n: number, tA = false, tB = false): Mat {
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; ++i)
    for (let j = 0; j < n; ++j) {
      let s = 0;
      for (let p = 0; p < k; ++p) s += (tA ? a[p * m + i] : a[i * k + p]) * (tB ? b[j * k + p] : b[p * n + j]);
      out[i * n + j] = s;
    }
  return out;
}

interface Hyper {
  lr: number;
  b1: number;
  b2: number;
  eps: number;
  wd: number;
  scale: number;
}
const H: Hyper = { lr: 1e-2, b1: 0.9, b2: 0.99, eps: 1e-6, wd: 0.05, scale: 0.25 };
const optsOf = (h: Hyper) => ({ lr: h.lr, betas: [h.b1, h.b2] as [number, number], eps: h.eps, weightDecay: h.wd, scale: h.scale });

function adamDir(g: Mat, m: Mat, v: Mat, t: number, h: Hyper): Mat {
  const out = new Float64Array(g.length);
  for (let i = 0; i < g.length; ++i) {
    m[i] = h.b1 * m[i] + (1 - h.b1) * g[i];
    v[i] = h.b2 * v[i] + (1 - h.b2) * g[i] * g[i];
    out[i] = m[i] / (1 - h.b1 ** t) / (Math.sqrt(v[i] / (1 - h.b2 ** t)) + h.eps);
  }
  return out;
}

/** Low-rank Adam direction back-projected (the reference of projectedDirection). */
function lowRankRef(G: Mat, P: Mat, side: 'right' | 'left', rows: number, cols: number, r: number, st: { m: Mat; v: Mat }, t: number, h: Hyper): Mat {
  const R = side === 'right' ? mm(G, P, rows, cols, r, false, true) : mm(P, G, r, rows, cols, true, false);
  const N = adamDir(R, st.m, st.v, t, h);
  return side === 'right' ? mm(N, P, rows, r, cols) : mm(P, N, rows, r, cols);
}

function maxRelErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let e = 0;
  for (let i = 0; i < a.length; ++i) e = Math.max(e, Math.abs(a[i] - b[i]) / (1 + Math.abs(b[i])));
  return e;
}

describe('GaLore', () => {
  test.each([
    [40, 12, 'right', 'rsvd'],
    [12, 40, 'left', 'rsvd'],
    [33, 33, 'right', 'svd'],
  ] as const)('%i x %i projects the smaller side (%s) and matches the float64 reference (%s)', (rows, cols, side, projector) => {
    const before = nt.memory().tensors;
    const r = 4;
    const W = f32(uniform(rows * cols, 1), [rows, cols]);
    const bias = f32(uniform(cols, 2), [cols]);
    const opt = new nt.llm.optim.GaLore([W, bias], { ...optsOf(H), rank: r, updateGap: 3, projector, seed: 5 });
    expect(opt.side(0)).toBe(side);
    expect(opt.side(1)).toBeNull();
    const ref = read(W);
    const st = { m: new Float64Array(side === 'right' ? rows * r : r * cols), v: new Float64Array(side === 'right' ? rows * r : r * cols) };
    let prevP: Float64Array | null = null;
    for (let t = 1; t <= 7; ++t) {
      const G = f32(uniform(rows * cols, 100 + t), [rows, cols]);
      const gb = f32(uniform(cols, 200 + t), [cols]);
      opt.step([G, gb]);
      const Pt = opt.projector(0)!;
      expect(Pt.shape).toEqual(side === 'right' ? [r, cols] : [rows, r]);
      const P = read(Pt);
      Pt.dispose();
      // refreshes at steps 0, 3, 6 (t − 1 = step index), never in between
      const refreshed = prevP === null || P.some((x, i) => x !== prevP![i]);
      expect(refreshed).toBe((t - 1) % 3 === 0);
      prevP = P;
      const upd = lowRankRef(read(G), P, side, rows, cols, r, st, t, H);
      for (let i = 0; i < ref.length; ++i) ref[i] = ref[i] * (1 - H.lr * H.wd) - H.lr * H.scale * upd[i];
      G.dispose();
      gb.dispose();
    }
    expect(maxRelErr(W.data as Float32Array, ref)).toBeLessThan(TOL.param);
    // state: moments of R (r x max side) + projector (r x min side) + plain Adam of the bias
    expect(opt.stateBytes()).toBe(8 * r * Math.max(rows, cols) + 4 * r * Math.min(rows, cols) + 8 * cols);
    const table = nt.llm.optim.stateMemoryTable([{ shape: [rows, cols] }, { shape: [cols] }], { rank: r });
    expect(table.find((x) => x.method === 'GaLore')!.bytes).toBe(opt.stateBytes());
    opt.dispose();
    W.dispose();
    bias.dispose();
    expect(nt.memory().tensors).toBe(before);
  });

  test('the rsvd projector spans the top-r singular subspace of the gradient', () => {
    const [rows, cols, r] = [60, 30, 3];
    // G = A B (rank 3, well separated) + small noise
    const A = uniform(rows * r, 7), B = uniform(r * cols, 8);
    const Gd = mm(A, B, rows, r, cols).map((x, i) => x * (1 + (i % 3)) + 1e-4 * Math.sin(i));
    const G = f32(Gd, [rows, cols]);
    const W = nt.zeros([rows, cols]);
    const opt = new nt.llm.optim.GaLore([W], { rank: r });
    opt.step([G]);
    const P = read(opt.projector(0)!); // [r, cols]
    const G64 = nt.tensor(Gd, { shape: [rows, cols], dtype: 'f64' });
    const { Vt, U, S } = nt.linalg.svd(G64);
    const Vr = Float64Array.from(Vt!.data as Float64Array).subarray(0, r * cols);
    const C = mm(P, Vr, r, cols, r, false, true);
    const overlap = C.reduce((s, x) => s + x * x, 0);
    expect(r - overlap).toBeLessThan(TOL.subspace);
    for (const x of [G, W, opt, G64, Vt!, U!, S]) x.dispose();
  });

  test('reprojectMoments maps the moments into the new basis (m C, v (C ⊙ C))', () => {
    const [rows, cols, r] = [20, 9, 3];
    const W = f32(uniform(rows * cols, 3), [rows, cols]);
    const opt = new nt.llm.optim.GaLore([W], { ...optsOf(H), rank: r, updateGap: 2, projector: 'svd', reprojectMoments: true });
    const ref = read(W);
    const st: { m: Mat; v: Mat } = { m: new Float64Array(rows * r), v: new Float64Array(rows * r) };
    let prevP: Float64Array | null = null;
    for (let t = 1; t <= 5; ++t) {
      const G = f32(uniform(rows * cols, 300 + t), [rows, cols]);
      opt.step([G]);
      const Pt = opt.projector(0)!;
      const P = read(Pt);
      Pt.dispose();
      if (prevP && (t - 1) % 2 === 0) {
        const C = mm(prevP, P, r, cols, r, false, true);
        st.m = mm(st.m, C, rows, r, r);
        st.v = mm(st.v, C.map((x) => x * x), rows, r, r);
      }
      prevP = P;
      const upd = lowRankRef(read(G), P, 'right', rows, cols, r, st, t, H);
      for (let i = 0; i < ref.length; ++i) ref[i] = ref[i] * (1 - H.lr * H.wd) - H.lr * H.scale * upd[i];
      G.dispose();
    }
    expect(maxRelErr(W.data as Float32Array, ref)).toBeLessThan(TOL.param);
    opt.dispose();
    W.dispose();
  });
});

describe('GradNormLoRP', () => {
  test('the weight-norm gradients match central finite differences (float64)', () => {
    const [rows, cols] = [4, 7];
    const eps = 1e-8;
    const V = uniform(rows * cols, 11);
    const gm = uniform(rows, 12, 0.5, 2);
    const G0 = uniform(rows * cols, 13);
    const loss = (v: Float64Array, g: Float64Array) => {
      let L = 0;
      for (let i = 0; i < rows; ++i) {
        let ss = 0;
        for (let j = 0; j < cols; ++j) ss += v[i * cols + j] ** 2;
        const n = Math.sqrt(ss + eps);
        for (let j = 0; j < cols; ++j) L += G0[i * cols + j] * ((g[i] * v[i * cols + j]) / n);
      }
      return L;
    };
    const s = new Float64Array(rows);
    const Wd = new Float64Array(rows * cols);
    for (let i = 0; i < rows; ++i) {
      let ss = 0;
      for (let j = 0; j < cols; ++j) ss += V[i * cols + j] ** 2;
      s[i] = Math.sqrt(ss + eps);
      for (let j = 0; j < cols; ++j) Wd[i * cols + j] = (gm[i] * V[i * cols + j]) / s[i];
    }
    const [W, g, st, G] = [f32(Wd, [rows, cols]), f32(gm, [rows]), f32(s, [rows]), f32(G0, [rows, cols])];
    const dV = nt.zeros([rows, cols]);
    const dg = nt.zeros([rows]);
    weightNormGrad(W, g, st, G, dV, dg);
    const h = 1e-6;
    const dVd = dV.data as Float32Array, dgd = dg.data as Float32Array;
    for (let k = 0; k < rows * cols; ++k) {
      const vp = Float64Array.from(V), vm = Float64Array.from(V);
      vp[k] += h;
      vm[k] -= h;
      const fd = (loss(vp, gm) - loss(vm, gm)) / (2 * h);
      expect(Math.abs(dVd[k] - fd)).toBeLessThan(TOL.fdGrad * (1 + Math.abs(fd)));
    }
    for (let i = 0; i < rows; ++i) {
      const gp = Float64Array.from(gm), gq = Float64Array.from(gm);
      gp[i] += h;
      gq[i] -= h;
      const fd = (loss(V, gp) - loss(V, gq)) / (2 * h);
      expect(Math.abs(dgd[i] - fd)).toBeLessThan(TOL.fdGrad * (1 + Math.abs(fd)));
    }
    for (const x of [W, g, st, G, dV, dg]) x.dispose();
  });

  test.each([
    [30, 10, 'right'],
    [10, 30, 'left'],
  ] as const)('%i x %i: steps match the float64 weight-norm + low-rank Adam reference (%s)', (rows, cols, side) => {
    const r = 3;
    const eps = 1e-8;
    const W = f32(uniform(rows * cols, 21), [rows, cols]);
    W.data[0] = 0; // a zero entry; whole rows are covered by the zero test
    const opt = new nt.llm.optim.GradNormLoRP([W], { ...optsOf(H), rank: r, updateGap: 2, seed: 3 });
    expect(opt.side(0)).toBe(side);
    const V = read(W);
    const g = new Float64Array(rows);
    const rowNorm = (v: Float64Array, i: number) => {
      let ss = 0;
      for (let j = 0; j < cols; ++j) ss += v[i * cols + j] ** 2;
      return Math.sqrt(ss + eps);
    };
    for (let i = 0; i < rows; ++i) g[i] = rowNorm(V, i);
    const st = { m: new Float64Array(side === 'right' ? rows * r : r * cols), v: new Float64Array(side === 'right' ? rows * r : r * cols) };
    const gst = { m: new Float64Array(rows), v: new Float64Array(rows) };
    const ref = new Float64Array(rows * cols);
    for (let t = 1; t <= 5; ++t) {
      const Gd = uniform(rows * cols, 400 + t);
      const G = f32(Gd, [rows, cols]);
      opt.step([G]);
      const Pt = opt.projector(0)!;
      const P = read(Pt);
      Pt.dispose();
      const dV = new Float64Array(rows * cols), dg = new Float64Array(rows);
      for (let i = 0; i < rows; ++i) {
        const n = rowNorm(V, i);
        let dot = 0;
        for (let j = 0; j < cols; ++j) dot += (V[i * cols + j] / n) * Gd[i * cols + j];
        dg[i] = dot;
        for (let j = 0; j < cols; ++j) dV[i * cols + j] = (g[i] / n) * (Gd[i * cols + j] - (dot * V[i * cols + j]) / n);
      }
      const uV = lowRankRef(dV, P, side, rows, cols, r, st, t, H);
      const ug = adamDir(dg, gst.m, gst.v, t, H);
      for (let k = 0; k < V.length; ++k) V[k] = V[k] * (1 - H.lr * H.wd) - H.lr * H.scale * uV[k];
      for (let i = 0; i < rows; ++i) g[i] = g[i] * (1 - H.lr * H.wd) - H.lr * ug[i];
      for (let i = 0; i < rows; ++i) {
        const n = rowNorm(V, i);
        for (let j = 0; j < cols; ++j) ref[i * cols + j] = (g[i] * V[i * cols + j]) / n;
      }
      G.dispose();
    }
    expect(maxRelErr(W.data as Float32Array, ref)).toBeLessThan(TOL.param);
    const wn = opt.weightNorm(0)!;
    expect(maxRelErr(wn.g.data as Float32Array, g)).toBeLessThan(TOL.param);
    wn.g.dispose();
    wn.s.dispose();
    // GaLore's state + g, s and the moments of g (4 x rows f32)
    expect(opt.stateBytes()).toBe(8 * r * Math.max(rows, cols) + 4 * r * Math.min(rows, cols) + 16 * rows);
    opt.dispose();
    W.dispose();
  });

  test('8-bit state: moments of the projected gradient are quantized, stateBytes exact and the table agrees', () => {
    const [rows, cols, r] = [256, 64, 32]; // R is 256 x 32 = 8192 elements >= 4096
    const W = f32(uniform(rows * cols, 31), [rows, cols]);
    const W2 = W.clone();
    const o8 = new nt.llm.optim.GradNormLoRP([W], { rank: r, eightBit: true, blockSize: 256, lr: 1e-3 });
    const o32 = new nt.llm.optim.GradNormLoRP([W2], { rank: r, lr: 1e-3 });
    for (let t = 0; t < 3; ++t) {
      const G = f32(uniform(rows * cols, 500 + t), [rows, cols]);
      o8.step([G]);
      o32.step([G]);
      G.dispose();
    }
    const n = rows * r;
    expect(o8.stateBytes()).toBe(2 * n + 8 * Math.ceil(n / 256) + 4 * r * cols + 16 * rows);
    const table = nt.llm.optim.stateMemoryTable([{ shape: [rows, cols] }], { rank: r, blockSize: 256 });
    expect(table.find((x) => x.method === 'GradNormLoRP8bit')!.bytes).toBe(o8.stateBytes());
    expect(table.find((x) => x.method === 'GradNormLoRP')!.bytes).toBe(o32.stateBytes());
    // 8-bit moments change the update by quantization error only: far below the step size
    expect(maxRelErr(W.data as Float32Array, read(W2))).toBeLessThan(1e-3 * 3);
    for (const x of [o8, o32, W, W2]) x.dispose();
  });
});

describe('stateMemoryTable', () => {
  test('a 4096 x 4096 layer at rank 128: GaLore saves ~95% and 8-bit GradNormLoRP ~98% vs Adam', () => {
    const t = nt.llm.optim.stateMemoryTable([{ shape: [4096, 4096] }], { rank: 128 });
    const by = Object.fromEntries(t.map((x) => [x.method, x]));
    expect(by.Adam.bytes).toBe(8 * 4096 * 4096);
    expect(by.GaLore.bytes).toBe(8 * 128 * 4096 + 4 * 128 * 4096);
    expect(by.Adam8bit.vsAdam).toBeCloseTo(-0.75, 2);
    expect(by.GradNormLoRP8bit.bytes).toBeLessThan(by.GaLore.bytes);
  });
});
