// nt.llm.gear.Cache: streaming compression and attention over the compressed chunks.
import * as nt from '../../lib';
import { Tensor } from '../../lib';
import { kvLike, refAttention, relErr } from './gear-reference';

// Attention on the compressed cache vs float64 attention on its decompressed form (rounding only).
const TOL = { attention: 2e-5 };

function randKv(shape: number[], seed: number): Tensor {
  return nt.tensor(kvLike(shape.reduce((a, b) => a * b, 1), seed), { shape });
}
function numbers(t: Tensor): Float64Array {
  const c = t.astype('f64');
  const a = Float64Array.from(c.data as Float64Array);
  c.dispose();
  return a;
}

const config = { numLayers: 2, numKvHeads: 2, headDim: 16 };

describe('nt.llm.gear.Cache streams tokens into compressed chunks', () => {
  test('appends in pieces: chunks are compressed lazily when a token needs the full buffer', () => {
    const cache = new nt.llm.gear.Cache(config, { bufferTokens: 8, rank: 2 });
    const pieces = [3, 5, 1, 7, 8, 2];
    let total = 0;
    pieces.forEach((n, i) => {
      for (let l = 0; l < 2; ++l) {
        const k = randKv([1, 2, n, 16], 100 + i * 2 + l);
        const v = randKv([1, 2, n, 16], 200 + i * 2 + l);
        cache.append(l, k, v);
        k.dispose();
        v.dispose();
      }
      total += n;
      expect(cache.length).toBe(total);
      expect(cache.chunkCount(0)).toBe(Math.max(0, Math.ceil(total / 8) - 1));
      expect(cache.bufferLength(0)).toBe(total - 8 * cache.chunkCount(0));
    });
    cache.dispose();
  });

  test('streaming equals compressing the same chunks at once; the buffer holds the exact tokens', () => {
    const nb = 8;
    const cache = new nt.llm.gear.Cache(config, { bufferTokens: nb, rank: 2, outlierRatio: 0.25, bits: 2, group: 4, seed: 17 });
    const K = randKv([1, 2, 37, 16], 1);
    const V = randKv([1, 2, 37, 16], 2);
    for (const [a, b] of [[0, 5], [5, 6], [6, 20], [20, 37]]) {
      const k = K.slice(null, null, [a, b]);
      const v = V.slice(null, null, [a, b]);
      cache.append(1, k, v);
      cache.append(0, k, v);
      k.dispose();
      v.dispose();
    }
    const C = cache.chunkCount(1);
    expect(C).toBe(4);
    const { k, v } = cache.decompress(1);
    for (const [X, got, kind] of [[K, k, 'key'], [V, v, 'value']] as const) {
      // chunks stacked along batch: [C, kvHeads, nb, dim]
      const chunks = X.slice(null, null, [0, C * nb]).reshape([2, C, nb, 16]).transpose(1, 0, 2, 3).contiguous();
      const g = nt.llm.gear.compress(chunks, { kind, bits: 2, group: 4, rank: 2, outlierRatio: 0.25, seed: cache.layerSeed(1) });
      const dec = g.decompress();
      const want = dec.transpose(1, 0, 2, 3).contiguous().reshape([1, 2, C * nb, 16]);
      const head = got.slice(null, null, [0, C * nb]);
      expect(Array.from(numbers(head))).toEqual(Array.from(numbers(want)));
      const tail = got.slice(null, null, [C * nb, 37]);
      const exact = X.slice(null, null, [C * nb, 37]);
      expect(Array.from(numbers(tail))).toEqual(Array.from(numbers(exact)));
      for (const t of [chunks, g, dec, want, head, tail, exact]) t.dispose();
    }
    for (const t of [k, v, K, V]) t.dispose();
    cache.dispose();
  });

  const variants: [string, nt.llm.gear.GearCacheOptions][] = [
    ['KIVI 4-bit', { bits: 4, preset: 'kivi' }],
    ['GEAR-L 2-bit', { bits: 2, rank: 3, preset: 'gear-l' }],
    ['GEAR 4-bit, the defaults', {}],
    ['GEAR 4-bit', { bits: 4, rank: 2, outlierRatio: 0.2, group: 4 }],
    ['GEAR uniform 2-bit, f32 side', { bits: 2, rank: 2, outlierRatio: 0.3, layout: 'uniform', storage: 'f32' }],
  ];
  for (const [name, opts] of variants) {
    test(`${name}: attention on the compressed cache equals attention on its decompressed form (prefill, decode, GQA)`, () => {
      const nb = 8;
      const cache = new nt.llm.gear.Cache({ numLayers: 1, numKvHeads: 2, headDim: 16 }, { bufferTokens: nb, ...opts });
      const steps: [number, number][] = [[21, 6], [1, 1], [1, 1], [13, 13], [4, 2]]; // [appended, queries]
      let seed = 50;
      for (const [n, sq] of steps) {
        const k = randKv([1, 2, n, 16], seed++);
        const v = randKv([1, 2, n, 16], seed++);
        cache.append(0, k, v);
        const q = randKv([1, 6, sq, 16], seed++);
        const out = cache.attend(0, q);
        expect(out.shape).toEqual([1, 6, sq, 16]);
        const dense = cache.decompress(0);
        const len = cache.length;
        const want = refAttention(numbers(q), numbers(dense.k), numbers(dense.v), 6, 2, sq, len, 16);
        expect(relErr(numbers(out), want)).toBeLessThan(TOL.attention);
        for (const t of [k, v, q, out, dense.k, dense.v]) t.dispose();
      }
      cache.dispose();
    });
  }

  test('strided, f16 and f64 queries give the same output as contiguous f32', () => {
    const cache = new nt.llm.gear.Cache({ numLayers: 1, numKvHeads: 1, headDim: 8 }, { bufferTokens: 4, rank: 1 });
    const k = randKv([1, 1, 11, 8], 3);
    cache.append(0, k, k);
    const base = randKv([1, 3, 2, 8], 4);
    const view = base.transpose(0, 2, 1, 3); // [1, 2, 3, 8]: 2 heads, 3 queries
    const dense = view.contiguous();
    const a = cache.attend(0, view);
    const b = cache.attend(0, dense);
    expect(Array.from(a.data)).toEqual(Array.from(b.data));
    const h = dense.astype('f16');
    const hf = h.astype('f32');
    const c = cache.attend(0, h);
    const c2 = cache.attend(0, hf);
    expect(Array.from(c.data)).toEqual(Array.from(c2.data));
    const w = dense.astype('f64');
    const e = cache.attend(0, w);
    expect(relErr(e.data as Float32Array, b.data as Float32Array)).toBeLessThan(1e-6);
    for (const t of [k, base, view, dense, a, b, h, hf, c, c2, w, e]) t.dispose();
    cache.dispose();
  });

  test('bytes: chunks by part, buffered tokens at f32, the outlier corrections, f16 baseline of every stored token', () => {
    const cache = new nt.llm.gear.Cache({ numLayers: 2, numKvHeads: 2, headDim: 32 }, { bufferTokens: 16, rank: 4, outlierRatio: 0.25 });
    for (let l = 0; l < 2; ++l) {
      const k = randKv([1, 2, 40, 32], l);
      cache.append(l, k, k);
      k.dispose();
    }
    const b = cache.bytes;
    const chunks = 2 * 2 * 2; // layers x chunks (40 tokens = 2 chunks + 8 buffered)
    const codes = (16 * 32) / 2;
    const factors = (16 + 32) * 4 * 2;
    const rangesK = 2 * 2 * Math.ceil(16 / 64) * 32;
    const rangesV = 2 * 2 * 16 * Math.ceil(32 / 64);
    const outK = 32 * 2 * Math.floor((0.25 * 16) / 2) * 6;
    const outV = 16 * 2 * Math.floor((0.25 * 32) / 2) * 6;
    const perHead = 2 * codes + rangesK + rangesV + 2 * factors + outK + outV;
    expect(b.compressed.total).toBe(chunks * 2 * perHead / 2);
    expect(b.buffer).toBe(2 * 2 * 2 * 8 * 32 * 4);
    expect(b.f16).toBe(2 * 40 * 2 * 2 * 32 * 2);
    // one f32 correction per stored outlier (decode's precomputed value - (D̂ + L)), per K and V slice
    const perK = 32 * 2 * Math.floor((0.25 * 16) / 2);
    const perV = 16 * 2 * Math.floor((0.25 * 32) / 2);
    expect(b.corrections).toBe((chunks / 2) * 2 * (perK + perV) * 4);
    expect(b.total).toBe(b.compressed.total + b.buffer + b.corrections);
    cache.dispose();
  });

  test('bytes count the chunk slices whose outlier budget floors to 0 (64-token chunks, head_dim 32), by K and V', () => {
    const cfg = { numLayers: 2, numKvHeads: 2, headDim: 32 };
    // [outlierRatio, preset, key slices without outliers, value slices without outliers] after 130 tokens:
    // 2 chunks of 64 per layer -> 2 layers x 2 chunks x 2 heads = 8 slices of each of K and V
    const cases: [number | undefined, nt.llm.gear.GearPreset | undefined, number, number][] = [
      [0.01, undefined, 8, 8], // key floor(0.32), value floor(0.16)
      [undefined, undefined, 8, 8], // the default s = 2%: floor(0.64) and floor(0.32)
      [0.04, undefined, 0, 8], // floor(1.28) = 1 per key channel, floor(0.64) per value token
      [0.1, undefined, 0, 0], // floor(3.2), floor(1.6)
      [undefined, 'kivi', 0, 0], // no outliers requested
    ];
    for (const [outlierRatio, preset, keyWithout, valueWithout] of cases) {
      const cache = new nt.llm.gear.Cache(cfg, { outlierRatio, preset, rank: 2 });
      for (let l = 0; l < 2; ++l) {
        const k = randKv([1, 2, 130, 32], l + 70);
        cache.append(l, k, k);
        k.dispose();
      }
      const b = cache.bytes;
      expect(cache.chunkCount(1)).toBe(2);
      expect(b.budget.key).toEqual({ slices: 8, slicesWithoutOutliers: keyWithout, slicesRankClamped: 0 });
      expect(b.budget.value).toEqual({ slices: 8, slicesWithoutOutliers: valueWithout, slicesRankClamped: 0 });
      expect(b.compressed).toMatchObject({ slices: 16, slicesWithoutOutliers: keyWithout + valueWithout, slicesRankClamped: 0 });
      cache.dispose();
    }
    // a 3-token buffer clamps rank 4 to 3 in every chunk slice
    const small = new nt.llm.gear.Cache({ numLayers: 1, numKvHeads: 1, headDim: 8 }, { bufferTokens: 3, preset: 'gear-l' });
    const k = randKv([1, 1, 7, 8], 80);
    small.append(0, k, k);
    expect(small.keyParams.rank).toBe(3);
    expect(small.bytes.compressed).toMatchObject({ slices: 4, slicesWithoutOutliers: 0, slicesRankClamped: 4 });
    k.dispose();
    small.dispose();
  });

  test('errors: layer, shapes, dtypes, too many queries, limit, NaN, disposed', () => {
    const cache = new nt.llm.gear.Cache({ ...config, maxPositionEmbeddings: 10 }, { bufferTokens: 4 });
    const k = randKv([1, 2, 3, 16], 9);
    const bad = randKv([1, 3, 3, 16], 9);
    expect(() => cache.append(2, k, k)).toThrow(expect.objectContaining({ code: 'NT_VALUE', message: expect.stringMatching(/layer must be an integer in \[0, 2\), got number 2/) }));
    expect(() => cache.append(0, bad, bad)).toThrow(expect.objectContaining({ code: 'NT_SHAPE', message: expect.stringMatching(/k must be \[1, 2, n, 16\], got \[1,3,3,16\]/) }));
    const k2 = randKv([1, 2, 2, 16], 9);
    expect(() => cache.append(0, k, k2)).toThrow(expect.objectContaining({ code: 'NT_SHAPE', message: expect.stringMatching(/same number of tokens, got 3 and 2/) }));
    const ints = nt.zeros([1, 2, 3, 16], 'i32');
    expect(() => cache.append(0, ints, ints)).toThrow(expect.objectContaining({ code: 'NT_DTYPE' }));
    const nan = randKv([1, 2, 3, 16], 9);
    (nan.data as Float32Array)[5] = NaN;
    expect(() => cache.append(0, k, nan)).toThrow(expect.objectContaining({ code: 'NT_VALUE', message: expect.stringMatching(/v contains NaN or Inf/) }));
    expect(cache.bufferLength(0)).toBe(0);
    const huge = nt.full([1, 2, 3, 16], 1e5);
    expect(() => cache.append(0, huge, k)).toThrow(expect.objectContaining({ code: 'NT_VALUE', message: expect.stringMatching(/k exceeds the f16 range .* use storage 'f32'/) }));
    expect(cache.bufferLength(0)).toBe(0);
    huge.dispose();
    cache.append(0, k, k);
    const q = randKv([1, 4, 4, 16], 10);
    expect(() => cache.attend(0, q)).toThrow(expect.objectContaining({ code: 'NT_VALUE', message: expect.stringMatching(/4 queries but only 3 tokens stored/) }));
    const q3 = randKv([1, 3, 1, 16], 10);
    expect(() => cache.attend(0, q3)).toThrow(expect.objectContaining({ code: 'NT_SHAPE', message: expect.stringMatching(/heads a multiple of 2/) }));
    cache.append(0, k, k);
    cache.append(0, k, k);
    expect(() => cache.append(0, k, k)).toThrow(expect.objectContaining({ code: 'NT_VALUE', message: expect.stringMatching(/9 \+ 3 tokens exceed the cache limit of 10/) }));
    expect(() => new nt.llm.gear.Cache({ ...config, headDim: 0 })).toThrow(expect.objectContaining({ code: 'NT_VALUE', message: expect.stringMatching(/config.headDim must be a positive integer/) }));
    expect(() => new nt.llm.gear.Cache(config, { bufferTokens: 0 })).toThrow(expect.objectContaining({ code: 'NT_VALUE', message: expect.stringMatching(/bufferTokens must be an integer >= 1/) }));
    expect(() => new nt.llm.gear.Cache(config, { bits: 3 as never })).toThrow(expect.objectContaining({ code: 'NT_VALUE', message: expect.stringMatching(/bits must be 2 or 4/) }));
    cache.dispose();
    expect(() => cache.append(0, k, k)).toThrow(expect.objectContaining({ code: 'NT_DISPOSED' }));
    expect(() => cache.attend(0, q)).toThrow(expect.objectContaining({ code: 'NT_DISPOSED' }));
    for (const t of [k, bad, k2, ints, nan, q, q3]) t.dispose();
  });

  test('memory returns to the baseline after dispose (chunk storage regrowth included)', () => {
    const before = nt.memory();
    const cache = new nt.llm.gear.Cache(config, { bufferTokens: 2, rank: 1, outlierRatio: 0.5 });
    for (let i = 0; i < 30; ++i) {
      const k = randKv([1, 2, 1, 16], i);
      cache.append(0, k, k);
      cache.append(1, k, k);
      const q = randKv([1, 2, 1, 16], i + 99);
      const o = cache.attend(1, q);
      for (const t of [k, q, o]) t.dispose();
    }
    expect(cache.chunkCount(0)).toBe(14);
    cache.dispose();
    expect(nt.memory()).toEqual(before);
  });
});
