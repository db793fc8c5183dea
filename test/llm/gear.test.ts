// nt.llm.gear.compress against the float64 reference of test/llm/gear-reference.ts.
import * as nt from '../../lib';
import { Tensor } from '../../lib';
import { kvLike, refCompressSlice, relErr, unpackCodes, RefOptions } from './gear-reference';

// Tolerances (one table): decompress vs the reference of the stored parts; orthonormality of Q
// in f32 / f16 storage; power iteration vs the optimal rank-r error.
const TOL = { decompress: 1e-6, orthoF32: 1e-5, orthoF16: 2e-3, lowRank3Iters: 1.1, lowRankConverged: 1.005 };

const f32 = (x: number): number => Math.fround(x);
function f16(x: number): number {
  const t = nt.tensor(new Float32Array([x]));
  const h = t.astype('f16');
  const v = h.get(0);
  t.dispose();
  h.dispose();
  return v;
}

function input(shape: number[], seed: number, spikes = 0.01): Tensor {
  return nt.tensor(kvLike(shape.reduce((a, b) => a * b, 1), seed, spikes), { shape });
}

function sliceOf(x: Tensor, b: number, h: number): Float32Array {
  const [, H, n, d] = x.shape;
  const c = x.contiguous();
  const out = Float32Array.from((c.data as Float32Array).subarray((b * H + h) * n * d, (b * H + h + 1) * n * d));
  c.dispose();
  return out;
}

function numbers(t: Tensor): number[] {
  const c = t.astype('f64');
  const a = Array.from(c.data as Float64Array);
  c.dispose();
  return a;
}

describe('nt.llm.gear.compress matches the float64 reference', () => {
  const cases: [string, number[], Partial<nt.llm.gear.GearOptions> & { kind: 'key' | 'value' }][] = [
    ['keys, KIVI 4-bit, outliers', [2, 3, 33, 16], { kind: 'key', bits: 4, group: 8, outlierRatio: 0.2 }],
    ['values, KIVI 2-bit, outliers', [1, 2, 17, 24], { kind: 'value', bits: 2, group: 7, outlierRatio: 0.1 }],
    ['keys, uniform 2-bit', [1, 2, 9, 7], { kind: 'key', bits: 2, layout: 'uniform' }],
    ['values, uniform 4-bit, outliers', [2, 1, 5, 33], { kind: 'value', bits: 4, layout: 'uniform', outlierRatio: 0.3 }],
    ['odd dims (rows not byte-aligned)', [1, 1, 7, 3], { kind: 'value', bits: 4, group: 2, outlierRatio: 0.7 }],
  ];
  for (const [name, shape, opts] of cases) {
    test(`${name}: outliers, ranges and codes exact; decompress = D̂ + L with outliers`, () => {
      const x = input(shape, shape.reduce((a, b) => a * 7 + b, 3));
      const g = nt.llm.gear.compress(x, { preset: 'kivi', ...opts, storage: 'f32', rank: 2, seed: 5 });
      const [B, H, n, d] = shape;
      const p = g.params;
      const ro: RefOptions = { kind: opts.kind, bits: opts.bits ?? 4, layout: opts.layout ?? 'kivi', group: opts.group ?? 64, k: p.outliersPerSide, round: f32 };
      const len = opts.kind === 'key' ? n : d;
      expect(p.outliersPerSide).toBe(Math.floor(((opts.outlierRatio ?? 0) * len) / 2));
      const codes = g.parts.codes.data as Uint8Array;
      const cb = g.parts.codes.shape[2];
      const mins = numbers(g.parts.mins);
      const steps = numbers(g.parts.scales);
      const ovals = numbers(g.parts.outlierValues);
      const oidx = Array.from(g.parts.outlierIndices.data as Int32Array);
      const qv = numbers(g.parts.q);
      const pv = numbers(g.parts.p);
      const dec = g.decompress();
      const decv = numbers(dec);
      const r = p.rank;
      for (let b = 0; b < B; ++b)
        for (let h = 0; h < H; ++h) {
          const s = b * H + h;
          const xs = sliceOf(x, b, h);
          const ref = refCompressSlice(xs, n, d, ro);
          const G = ref.mins.length;
          const per = ref.idx.length;
          expect(oidx.slice(s * per, (s + 1) * per)).toEqual(ref.idx);
          expect(ovals.slice(s * per, (s + 1) * per)).toEqual(ref.vals);
          // outlier values are the input's values at their positions
          expect(mins.slice(s * G, (s + 1) * G)).toEqual(ref.mins);
          expect(steps.slice(s * G, (s + 1) * G)).toEqual(ref.steps);
          expect(unpackCodes(codes, s * cb, n * d, ro.bits)).toEqual(ref.codes);
          // decompress: D̂ + Q Pᵀ, with the stored outlier values at their positions
          for (let t = 0; t < n; ++t)
            for (let j = 0; j < d; ++j) {
              const e = t * d + j;
              let want = ref.dq[e];
              if (!ref.outlierMask[e]) for (let c = 0; c < r; ++c) want += qv[(s * n + t) * r + c] * pv[(s * d + j) * r + c];
              expect(Math.abs(decv[s * n * d + e] - want)).toBeLessThanOrEqual(TOL.decompress * (1 + Math.abs(want)));
            }
        }
      dec.dispose();
      g.dispose();
      x.dispose();
    });
  }

  test('outlier positions hold the exact input values (keys per channel along tokens, values per token)', () => {
    const x = input([1, 1, 40, 8], 11);
    const xs = sliceOf(x, 0, 0);
    for (const kind of ['key', 'value'] as const) {
      const g = nt.llm.gear.compress(x, { kind, outlierRatio: 0.25, storage: 'f32' });
      const dec = g.decompress();
      const dv = dec.data as Float32Array;
      const idx = g.parts.outlierIndices.data as Int32Array;
      const vals = g.parts.outlierValues.data as Float32Array;
      const k2 = g.parts.outlierIndices.shape[3];
      expect(k2).toBe(kind === 'key' ? 2 * Math.floor((0.25 * 40) / 2) : 2 * Math.floor((0.25 * 8) / 2));
      for (let v = 0; v < g.parts.outlierIndices.shape[2]; ++v)
        for (let m = 0; m < k2; ++m) {
          const i = idx[v * k2 + m];
          const pos = kind === 'key' ? i * 8 + v : v * 8 + i;
          expect(vals[v * k2 + m]).toBe(xs[pos]);
          expect(dv[pos]).toBe(xs[pos]);
        }
      dec.dispose();
      g.dispose();
    }
    x.dispose();
  });

  test('f16 storage rounds every side value to f16 (outliers are f16(x))', () => {
    const x = input([1, 2, 20, 8], 12);
    const g = nt.llm.gear.compress(x, { kind: 'value', outlierRatio: 0.25, rank: 2, storage: 'f16', group: 4 });
    for (const part of [g.parts.scales, g.parts.mins, g.parts.q, g.parts.p, g.parts.outlierValues]) expect(part.dtype).toBe('f16');
    const ro: RefOptions = { kind: 'value', bits: 4, layout: 'kivi', group: 4, k: 1, round: f16 };
    const ref = refCompressSlice(sliceOf(x, 0, 1), 20, 8, ro);
    const per = ref.vals.length;
    expect(numbers(g.parts.outlierValues).slice(per, 2 * per)).toEqual(ref.vals);
    const G = ref.mins.length;
    expect(numbers(g.parts.mins).slice(G, 2 * G)).toEqual(ref.mins);
    expect(numbers(g.parts.scales).slice(G, 2 * G)).toEqual(ref.steps);
    g.dispose();
    x.dispose();
  });
});

describe('low-rank residual by power iteration', () => {
  test('Q is orthonormal, P = RᵀQ, and the error is near the optimal rank-r error', () => {
    const [n, d, r] = [48, 16, 3];
    const x = input([1, 1, n, d], 21, 0);
    for (const [storage, powerIters] of [['f32', 3], ['f16', 3], ['f32', 40]] as const) {
      const g = nt.llm.gear.compress(x, { kind: 'key', preset: 'gear-l', bits: 2, group: 16, rank: r, seed: 9, storage, powerIters });
      const ref = refCompressSlice(sliceOf(x, 0, 0), n, d, { kind: 'key', bits: 2, layout: 'kivi', group: 16, k: 0, round: storage === 'f32' ? f32 : f16 });
      const q = numbers(g.parts.q);
      const p = numbers(g.parts.p);
      const tol = storage === 'f32' ? TOL.orthoF32 : TOL.orthoF16;
      for (let a = 0; a < r; ++a)
        for (let b = 0; b < r; ++b) {
          let dot = 0;
          for (let t = 0; t < n; ++t) dot += q[t * r + a] * q[t * r + b];
          expect(Math.abs(dot - (a === b ? 1 : 0))).toBeLessThan(tol);
        }
      // P = Rᵀ Q (to the rounding of Q)
      let pnorm = 0;
      let perr = 0;
      for (let j = 0; j < d; ++j)
        for (let c = 0; c < r; ++c) {
          let want = 0;
          for (let t = 0; t < n; ++t) want += ref.residual[t * d + j] * q[t * r + c];
          perr += (p[j * r + c] - want) ** 2;
          pnorm += want ** 2;
        }
      expect(Math.sqrt(perr / pnorm)).toBeLessThan(storage === 'f32' ? 1e-4 : 3e-3);
      // ‖R - QPᵀ‖ vs the optimum (SVD of R in f64)
      const R = nt.tensor(ref.residual, { shape: [n, d], dtype: 'f64' });
      const { S } = nt.linalg.svd(R);
      const sv = Array.from(S.data as Float64Array);
      const optimal = Math.sqrt(sv.slice(r).reduce((a, s) => a + s * s, 0));
      let err = 0;
      for (let t = 0; t < n; ++t)
        for (let j = 0; j < d; ++j) {
          let l = 0;
          for (let c = 0; c < r; ++c) l += q[t * r + c] * p[j * r + c];
          err += (ref.residual[t * d + j] - l) ** 2;
        }
      expect(Math.sqrt(err)).toBeLessThanOrEqual((powerIters === 3 ? TOL.lowRank3Iters : TOL.lowRankConverged) * optimal);
      for (const t of [R, S]) t.dispose();
      g.dispose();
    }
    x.dispose();
  });

  test('a seed reproduces the factors; another seed gives another start', () => {
    const x = input([1, 2, 30, 12], 31);
    const a = nt.llm.gear.compress(x, { kind: 'value', rank: 2, seed: 1, powerIters: 1 });
    const b = nt.llm.gear.compress(x, { kind: 'value', rank: 2, seed: 1, powerIters: 1 });
    const c = nt.llm.gear.compress(x, { kind: 'value', rank: 2, seed: 2, powerIters: 1 });
    expect(numbers(a.parts.q)).toEqual(numbers(b.parts.q));
    expect(numbers(a.parts.q)).not.toEqual(numbers(c.parts.q));
    for (const t of [a, b, c, x]) t.dispose();
  });

  test('the result does not depend on the thread count', () => {
    const x = input([2, 4, 40, 16], 32);
    const before = nt.getNumThreads();
    nt.setNumThreads(1);
    const a = nt.llm.gear.compress(x, { kind: 'key', rank: 3, outlierRatio: 0.1, group: 8 });
    nt.setNumThreads(2);
    const b = nt.llm.gear.compress(x, { kind: 'key', rank: 3, outlierRatio: 0.1, group: 8 });
    nt.setNumThreads(before);
    const da = a.decompress();
    const db = b.decompress();
    expect(Array.from(da.data)).toEqual(Array.from(db.data));
    for (const t of [a, b, da, db, x]) t.dispose();
  });
});

describe('error ordering and byte accounting', () => {
  test('on heavy-tailed K/V: error(quant only) > error(GEAR-L) > error(GEAR), for 4 and 2 bits', () => {
    const x = input([1, 2, 256, 64], 41, 0.02);
    const xv = numbers(x);
    for (const bits of [4, 2] as const)
      for (const kind of ['key', 'value'] as const) {
        const errs = [
          { rank: 0, outlierRatio: 0 },
          { rank: 4, outlierRatio: 0 },
          { rank: 4, outlierRatio: 0.04 },
        ].map((o) => {
          const g = nt.llm.gear.compress(x, { kind, bits, ...o, seed: 3 });
          const d = g.decompress();
          const e = relErr(numbers(d), xv);
          g.dispose();
          d.dispose();
          return e;
        });
        expect(errs[0]).toBeGreaterThan(errs[1]);
        expect(errs[1]).toBeGreaterThan(errs[2]);
      }
    x.dispose();
  });

  test('bytes are exactly codes + scales/mins + factors + outliers; 4-bit GEAR-L <= 0.36x and GEAR <= 0.42x of f16 at seq 512, dim 128', () => {
    const x = input([1, 2, 512, 128], 42);
    const n = 512;
    const d = 128;
    const slices = 2;
    const gl = nt.llm.gear.compress(x, { kind: 'key', bits: 4, preset: 'gear-l' });
    const codes = (n * d) / 2;
    const rangesK = 2 * 2 * Math.ceil(n / 64) * d;
    const factors = 2 * (n + d) * 4;
    expect(gl.bytes).toBe(slices * (codes + rangesK + factors));
    expect(gl.f16Bytes).toBe(slices * n * d * 2);
    expect(gl.bytes / gl.f16Bytes).toBeLessThanOrEqual(0.36);
    for (const kind of ['key', 'value'] as const) {
      const g = nt.llm.gear.compress(x, { kind, bits: 4 }); // the default preset: GEAR, rank 4, s 2%
      const k = Math.floor((0.02 * (kind === 'key' ? n : d)) / 2);
      const nvec = kind === 'key' ? d : n;
      const ranges = kind === 'key' ? rangesK : 2 * 2 * n * Math.ceil(d / 64);
      const outliers = nvec * 2 * k * (2 + 4);
      expect(k).toBeGreaterThan(0);
      expect(g.bytesBreakdown).toEqual({
        codes: slices * codes,
        ranges: slices * ranges,
        factors: slices * factors,
        outliers: slices * outliers,
        total: g.bytes,
        slices,
        slicesWithoutOutliers: 0,
        slicesRankClamped: 0,
      });
      expect(g.bytes / g.f16Bytes).toBeLessThanOrEqual(0.42);
      g.dispose();
    }
    const g32 = nt.llm.gear.compress(x, { kind: 'key', bits: 2, storage: 'f32', preset: 'kivi' });
    expect(g32.bytes).toBe(slices * ((n * d) / 4 + 2 * rangesK));
    for (const t of [gl, g32, x]) t.dispose();
  });
});

describe('edge cases', () => {
  test('constant groups reconstruct exactly (f32 storage) with code 0 and the minimum step', () => {
    const x = nt.full([1, 1, 10, 6], 0.3125);
    const g = nt.llm.gear.compress(x, { kind: 'key', bits: 4, group: 4, storage: 'f32', rank: 2, outlierRatio: 0 });
    const d = g.decompress();
    expect(Array.from(d.data)).toEqual(new Array(60).fill(0.3125));
    expect(Array.from(g.parts.codes.data)).toEqual(new Array(30).fill(0));
    expect(Array.from(g.parts.scales.data)).toEqual(new Array(g.parts.scales.size).fill(2 ** -20));
    for (const t of [g, d, x]) t.dispose();
  });

  test('seq shorter than a group, shorter than the outlier budget, rank larger than possible', () => {
    const x = input([1, 2, 3, 5], 51);
    const g = nt.llm.gear.compress(x, { kind: 'key', group: 64, outlierRatio: 0.5, rank: 10, storage: 'f32' });
    expect(g.params.rank).toBe(3);
    expect(g.params.outliersPerSide).toBe(0); // floor(0.5 * 3 / 2)
    expect(g.parts.scales.shape).toEqual([1, 2, 5]);
    const d = g.decompress();
    // rank min(n, d) = n: the residual is represented (nearly) exactly
    expect(relErr(numbers(d), numbers(x))).toBeLessThan(1e-5);
    for (const t of [g, d, x]) t.dispose();
  });

  test('empty tensors compress to empty parts', () => {
    const x = nt.zeros([1, 2, 0, 4]);
    const g = nt.llm.gear.compress(x, { kind: 'value', rank: 2 });
    expect(g.bytes).toBe(0);
    const d = g.decompress();
    expect(d.shape).toEqual([1, 2, 0, 4]);
    for (const t of [g, d, x]) t.dispose();
  });

  test('strided views and f16/f64 inputs compress like their contiguous f32 values', () => {
    const base = input([1, 16, 3, 8], 52); // transposed to [1, 3, 16, 8]
    const view = base.transpose(0, 2, 1, 3);
    const dense = view.contiguous();
    const a = nt.llm.gear.compress(view, { kind: 'key', rank: 2, group: 5 });
    const b = nt.llm.gear.compress(dense, { kind: 'key', rank: 2, group: 5 });
    const wide = dense.astype('f64');
    const c = nt.llm.gear.compress(wide, { kind: 'key', rank: 2, group: 5 });
    for (const part of ['codes', 'mins', 'q'] as const) {
      expect(numbers(a.parts[part])).toEqual(numbers(b.parts[part]));
      expect(numbers(c.parts[part])).toEqual(numbers(b.parts[part]));
    }
    for (const t of [a, b, c, view, dense, wide, base]) t.dispose();
  });

  test('NaN or Inf input is NT_VALUE and frees what it allocated', () => {
    const x = input([1, 1, 8, 4], 53);
    (x.data as Float32Array)[13] = NaN;
    const before = nt.memory();
    expect(() => nt.llm.gear.compress(x, { kind: 'key' })).toThrow(expect.objectContaining({ code: 'NT_VALUE', message: expect.stringMatching(/\[llm\.gear\.compress\] x contains NaN or Inf/) }));
    expect(nt.memory()).toEqual(before);
    (x.data as Float32Array)[13] = Infinity;
    expect(() => nt.llm.gear.compress(x, { kind: 'value' })).toThrow(/NaN or Inf/);
    x.dispose();
  });

  test('values beyond the f16 range with f16 storage are NT_VALUE; f32 storage takes them', () => {
    const x = nt.tensor(new Float32Array([1e6, -1e6, 3, 4]), { shape: [1, 1, 2, 2] });
    expect(() => nt.llm.gear.compress(x, { kind: 'key' })).toThrow(expect.objectContaining({ code: 'NT_VALUE', message: expect.stringMatching(/f16 range/) }));
    const g = nt.llm.gear.compress(x, { kind: 'key', storage: 'f32' });
    g.dispose();
    x.dispose();
  });

  test('option and argument errors name the option and what was received', () => {
    const x = input([1, 1, 4, 4], 54);
    const bad: [unknown, RegExp, string][] = [
      [{}, /kind must be 'key' or 'value', got undefined/, 'NT_VALUE'],
      [{ kind: 'query' }, /kind must be 'key' or 'value', got string query/, 'NT_VALUE'],
      [{ kind: 'key', bits: 3 }, /bits must be 2 or 4, got number 3/, 'NT_VALUE'],
      [{ kind: 'key', layout: 'row' }, /layout must be 'kivi' or 'uniform'/, 'NT_VALUE'],
      [{ kind: 'key', group: 0 }, /group must be an integer >= 1, got number 0/, 'NT_VALUE'],
      [{ kind: 'key', outlierRatio: 1 }, /outlierRatio must be a number in \[0, 1\), got number 1/, 'NT_VALUE'],
      [{ kind: 'key', rank: -1 }, /rank must be an integer >= 0/, 'NT_VALUE'],
      [{ kind: 'key', rank: 1.5 }, /rank must be an integer >= 0, got number 1.5/, 'NT_VALUE'],
      [{ kind: 'key', powerIters: 0 }, /powerIters must be an integer >= 1/, 'NT_VALUE'],
      [{ kind: 'key', seed: -1 }, /seed must be a non-negative safe integer/, 'NT_VALUE'],
      [{ kind: 'key', storage: 'bf16' }, /storage must be 'f16' or 'f32'/, 'NT_VALUE'],
      [null, /options must be an object/, 'NT_VALUE'],
    ];
    for (const [opts, msg, code] of bad)
      expect(() => nt.llm.gear.compress(x, opts as never)).toThrow(expect.objectContaining({ code, message: expect.stringMatching(msg) }));
    const flat = nt.zeros([4, 4]);
    expect(() => nt.llm.gear.compress(flat, { kind: 'key' })).toThrow(expect.objectContaining({ code: 'NT_SHAPE', message: expect.stringMatching(/expected x of shape \[batch, heads, seq, dim\], got \[4,4\]/) }));
    const ints = nt.zeros([1, 1, 2, 2], 'i32');
    expect(() => nt.llm.gear.compress(ints, { kind: 'key' })).toThrow(expect.objectContaining({ code: 'NT_DTYPE' }));
    expect(() => nt.llm.gear.compress([1, 2] as never, { kind: 'key' })).toThrow(expect.objectContaining({ code: 'NT_VALUE', message: expect.stringMatching(/x must be a Tensor/) }));
    const gone = input([1, 1, 2, 2], 55);
    gone.dispose();
    expect(() => nt.llm.gear.compress(gone, { kind: 'key' })).toThrow(expect.objectContaining({ code: 'NT_DISPOSED' }));
    for (const t of [x, flat, ints]) t.dispose();
  });

  test('dispose frees every part; a disposed compressed tensor refuses decompress', () => {
    const x = input([1, 2, 16, 8], 56);
    const before = nt.memory();
    const g = nt.llm.gear.compress(x, { kind: 'value', rank: 2, outlierRatio: 0.25 });
    expect(nt.memory().tensors).toBe(before.tensors + 7);
    g.dispose();
    expect(nt.memory()).toEqual(before);
    expect(g.isDisposed).toBe(true);
    expect(() => g.decompress()).toThrow(expect.objectContaining({ code: 'NT_DISPOSED' }));
    g.dispose();
    x.dispose();
  });

  test('compressAsync gives the same result as compress', async () => {
    const x = input([2, 2, 20, 8], 57);
    const a = nt.llm.gear.compress(x, { kind: 'key', rank: 2, outlierRatio: 0.2, group: 4 });
    const b = await nt.llm.gear.compressAsync(x, { kind: 'key', rank: 2, outlierRatio: 0.2, group: 4 });
    const da = a.decompress();
    const db = b.decompress();
    expect(Array.from(da.data)).toEqual(Array.from(db.data));
    await expect(nt.llm.gear.compressAsync(x, { kind: 'key', bits: 8 as never })).rejects.toMatchObject({ code: 'NT_VALUE' });
    for (const t of [a, b, da, db, x]) t.dispose();
  });
});

describe('presets and zero budgets', () => {
  test("presets resolve to the documented options; the default is 'gear' (rank 4, s 2%); explicit options win", () => {
    const r = (o: object) => nt.llm.gear.resolveGearOptions('t', { kind: 'key', ...o });
    expect(nt.llm.gear.GEAR_PRESETS).toEqual({ gear: { rank: 4, outlierRatio: 0.02 }, 'gear-l': { rank: 4, outlierRatio: 0 }, kivi: { rank: 0, outlierRatio: 0 } });
    expect(r({})).toMatchObject({ preset: 'gear', rank: 4, outlierRatio: 0.02, bits: 4, group: 64 });
    expect(r({ preset: 'gear-l' })).toMatchObject({ preset: 'gear-l', rank: 4, outlierRatio: 0 });
    expect(r({ preset: 'kivi' })).toMatchObject({ preset: 'kivi', rank: 0, outlierRatio: 0 });
    expect(r({ preset: 'kivi', rank: 3 })).toMatchObject({ preset: 'kivi', rank: 3, outlierRatio: 0 });
    expect(r({ preset: 'gear', outlierRatio: 0, rank: 2 })).toMatchObject({ rank: 2, outlierRatio: 0 });
    expect(r({ preset: 'gear-l', outlierRatio: 0.1 })).toMatchObject({ rank: 4, outlierRatio: 0.1 });
    // the default compresses exactly as the explicit options
    const x = input([1, 2, 100, 24], 61);
    const a = nt.llm.gear.compress(x, { kind: 'key' });
    const b = nt.llm.gear.compress(x, { kind: 'key', rank: 4, outlierRatio: 0.02 });
    expect(a.params).toEqual(b.params);
    expect(a.params).toMatchObject({ rank: 4, outliersPerSide: 1 });
    expect(Array.from(a.decompress().data)).toEqual(Array.from(b.decompress().data));
    const k = nt.llm.gear.compress(x, { kind: 'key', preset: 'kivi' });
    expect(k.params).toMatchObject({ rank: 0, outliersPerSide: 0 });
    expect(k.bytesBreakdown).toMatchObject({ factors: 0, outliers: 0, slices: 2, slicesWithoutOutliers: 0, slicesRankClamped: 0 });
    for (const t of [a, b, k, x]) t.dispose();
  });

  test('an unknown preset is NT_VALUE, in compress and in the cache', () => {
    const x = input([1, 1, 4, 4], 62);
    for (const preset of ['GEAR', 'quarot', 3, ''])
      expect(() => nt.llm.gear.compress(x, { kind: 'key', preset } as never)).toThrow(
        expect.objectContaining({ code: 'NT_VALUE', message: expect.stringMatching(/preset must be 'gear', 'gear-l' or 'kivi', got/) }),
      );
    expect(() => new nt.llm.gear.Cache({ numLayers: 1, numKvHeads: 1, headDim: 4 }, { preset: 'kv' as never })).toThrow(
      expect.objectContaining({ code: 'NT_VALUE', message: expect.stringMatching(/\[llm\.gear\.Cache\] preset must be/) }),
    );
    x.dispose();
  });

  test('slices whose outlier budget floors to 0 are counted exactly, and not when the budget is positive', () => {
    // 64 tokens x 32 channels, 2 x 3 slices: k = floor(s·64/2) per key channel, floor(s·32/2) per value token
    const x = input([2, 3, 64, 32], 63);
    const cases: [number, 'key' | 'value', number, number][] = [
      [0.01, 'key', 0, 6], // floor(0.32)
      [0.01, 'value', 0, 6], // floor(0.16)
      [0.02, 'key', 0, 6], // the default s at a 64-token chunk: floor(0.64)
      [0.04, 'key', 1, 0], // floor(1.28)
      [0.04, 'value', 0, 6], // floor(0.64)
      [0.1, 'value', 1, 0], // floor(1.6)
      [0, 'key', 0, 0], // none requested: nothing to report
    ];
    for (const [s, kind, k, without] of cases) {
      const g = nt.llm.gear.compress(x, { kind, outlierRatio: s, rank: 2 });
      expect(g.params.outliersPerSide).toBe(k);
      expect(g.bytesBreakdown).toMatchObject({ slices: 6, slicesWithoutOutliers: without, slicesRankClamped: 0 });
      g.dispose();
    }
    // rank clamped to min(rank, n, d) = 3 in every slice of a 3-token tensor; empty tensors count nothing
    const short = input([1, 2, 3, 5], 64);
    const g = nt.llm.gear.compress(short, { kind: 'key', rank: 10, outlierRatio: 0.5 });
    expect(g.bytesBreakdown).toMatchObject({ slices: 2, slicesWithoutOutliers: 2, slicesRankClamped: 2 });
    const empty = nt.zeros([1, 2, 0, 4]);
    const ge = nt.llm.gear.compress(empty, { kind: 'value' });
    expect(ge.bytesBreakdown).toMatchObject({ slices: 0, slicesWithoutOutliers: 0, slicesRankClamped: 0 });
    for (const t of [g, ge, short, empty, x]) t.dispose();
  });
});
