// GEAR attention from the packed codes (native/kvcache/gear_attention.cc): decode (scores from the
// codes with scale and zero folded, low-rank and outliers, split-K) and prefill (reconstructed
// superblocks, flash tiles) against float64 attention over the decompressed cache, at head dims
// off the vector grid, sequence lengths off the chunk grid and GQA ratios 1, 4 and 8; attendAsync
// against attend. CI reruns this file under NTENSOR_ISA=avx2 and scalar.
import * as nt from '../../lib';
import { Tensor } from '../../lib';
import { kvLike, refAttention, relErr } from './gear-reference';

// Relative L2 error vs float64 attention over the decompressed cache: f32 rounding only (the
// kernels measure 3e-7 .. 6e-7 at every ISA level; the quantization error is not in it).
const TOL = { attention: 5e-6 };

function randKv(shape: number[], seed: number): Tensor {
  return nt.tensor(kvLike(shape.reduce((a, b) => a * b, 1), seed), { shape });
}
function numbers(t: Tensor): Float64Array {
  const c = t.astype('f64');
  const a = Float64Array.from(c.data as Float64Array);
  c.dispose();
  return a;
}

interface Case {
  name: string;
  d: number;
  hkv: number;
  gq: number;
  opts: nt.llm.gear.GearCacheOptions;
  seq: number;
  queries: number[];
}

const cases: Case[] = [
  // 4-bit, head dim 128, key and value outliers (s 10% keeps 3 per side of a 64-token key vector)
  { name: 'GEAR 4-bit r4 s10%, d 128, GQA 4', d: 128, hkv: 2, gq: 4, opts: { bits: 4, rank: 4, outlierRatio: 0.1 }, seq: 333, queries: [1, 3, 40] },
  // 2-bit, head dim 72 (off the 16- and 32-lane blocks), value groups of 32
  { name: 'GEAR 2-bit r3 s4%, d 72, group 32, GQA 8', d: 72, hkv: 1, gq: 8, opts: { bits: 2, rank: 3, outlierRatio: 0.04, group: 32 }, seq: 201, queries: [1, 2, 9] },
  // uniform ranges, f32 side storage, no GQA, head dim 40 (a lane tail at every width)
  { name: 'GEAR uniform 4-bit f32 side, d 40, GQA 1', d: 40, hkv: 3, gq: 1, opts: { bits: 4, rank: 2, outlierRatio: 0.2, layout: 'uniform', storage: 'f32' }, seq: 150, queries: [1, 8, 33] },
  // 2-bit rows of 66 codes do not start on a byte: the element-order path
  { name: 'KIVI 2-bit, d 66 (rows off the byte grid), GQA 4', d: 66, hkv: 2, gq: 4, opts: { bits: 2, preset: 'kivi', bufferTokens: 24 }, seq: 100, queries: [1, 20] },
  // the default cache (GEAR 4-bit r4 s2%), 2 kv heads x 8 query heads
  { name: 'GEAR defaults, d 64, GQA 8', d: 64, hkv: 2, gq: 8, opts: {}, seq: 260, queries: [1, 5] },
];

describe('GEAR attention straight from the packed codes', () => {
  for (const c of cases)
    test(`${c.name}: decode and prefill equal float64 attention over the decompressed cache`, () => {
      const before = nt.memory();
      const cache = new nt.llm.gear.Cache({ numLayers: 1, numKvHeads: c.hkv, headDim: c.d }, c.opts);
      const k = randKv([1, c.hkv, c.seq, c.d], 11);
      const v = randKv([1, c.hkv, c.seq, c.d], 12);
      cache.append(0, k, v);
      const dense = cache.decompress(0);
      const dk = numbers(dense.k);
      const dv = numbers(dense.v);
      const hq = c.hkv * c.gq;
      c.queries.forEach((sq, i) => {
        const q = randKv([1, hq, sq, c.d], 100 + i);
        const out = cache.attend(0, q);
        const want = refAttention(numbers(q), dk, dv, hq, c.hkv, sq, c.seq, c.d);
        const err = relErr(numbers(out), want);
        if (!(err < TOL.attention)) throw new Error(`${c.name}, ${sq} queries: relative error ${err} (bound ${TOL.attention})`);
        q.dispose();
        out.dispose();
      });
      for (const t of [k, v, dense.k, dense.v, cache]) t.dispose();
      expect(nt.memory()).toEqual(before);
    });

  test('prefill over more than one reconstructed superblock (2048 tokens) equals float64 attention', () => {
    const hkv = 1;
    const d = 16;
    const seq = 2 * 2048 + 37;
    const cache = new nt.llm.gear.Cache({ numLayers: 1, numKvHeads: hkv, headDim: d }, { bits: 4, rank: 2, outlierRatio: 0.1 });
    const k = randKv([1, hkv, seq, d], 21);
    const v = randKv([1, hkv, seq, d], 22);
    cache.append(0, k, v);
    expect(cache.chunkCount(0)).toBe(64);
    const q = randKv([1, 2, 45, d], 23);
    const out = cache.attend(0, q);
    const dense = cache.decompress(0);
    const want = refAttention(numbers(q), numbers(dense.k), numbers(dense.v), 2, hkv, 45, seq, d);
    expect(relErr(numbers(out), want)).toBeLessThan(TOL.attention);
    for (const t of [k, v, q, out, dense.k, dense.v, cache]) t.dispose();
  });

  test('the query rows of one call do not change each other: one row alone equals its row in a batch of 3', () => {
    // decode runs its rows together per kv head; each row's softmax and output stay its own
    const cache = new nt.llm.gear.Cache({ numLayers: 1, numKvHeads: 2, headDim: 32 }, { bits: 4, rank: 4, outlierRatio: 0.1 });
    const k = randKv([1, 2, 190, 32], 31);
    cache.append(0, k, k);
    const q3 = randKv([1, 4, 3, 32], 32);
    const last = q3.slice(null, null, [2, 3]).contiguous();
    const a = cache.attend(0, q3);
    const b = cache.attend(0, last);
    const aLast = a.slice(null, null, [2, 3]).contiguous();
    expect(relErr(numbers(b), numbers(aLast))).toBeLessThan(1e-6);
    for (const t of [k, q3, last, a, b, aLast, cache]) t.dispose();
  });

  test('attendAsync equals attend bit for bit (decode and prefill) and the event loop runs meanwhile', async () => {
    const before = nt.memory();
    const cache = new nt.llm.gear.Cache({ numLayers: 2, numKvHeads: 2, headDim: 128 }, { bits: 4 });
    const k = randKv([1, 2, 1500, 128], 41);
    const v = randKv([1, 2, 1500, 128], 42);
    cache.append(1, k, v);
    for (const sq of [1, 64]) {
      const q = randKv([1, 8, sq, 128], 43 + sq);
      const sync = cache.attend(1, q);
      let ticks = 0;
      let settled = false;
      const tick = () => {
        if (settled) return;
        ticks++;
        setImmediate(tick);
      };
      setImmediate(tick);
      const viaWorker = await cache.attendAsync(1, q).finally(() => (settled = true));
      if (sq === 64) expect(ticks).toBeGreaterThan(0);
      expect(Array.from(viaWorker.data)).toEqual(Array.from(sync.data));
      for (const t of [q, sync, viaWorker]) t.dispose();
    }
    for (const t of [k, v, cache]) t.dispose();
    expect(nt.memory()).toEqual(before);
  });

  test('append while an attendAsync is running is NT_VALUE (the worker reads the buffers); afterwards it works', async () => {
    const cache = new nt.llm.gear.Cache({ numLayers: 1, numKvHeads: 1, headDim: 16 }, { bufferTokens: 8 });
    const k = randKv([1, 1, 20, 16], 71);
    cache.append(0, k, k);
    const q = randKv([1, 2, 1, 16], 72);
    const pending = cache.attendAsync(0, q);
    expect(() => cache.append(0, k, k)).toThrow(expect.objectContaining({ code: 'NT_VALUE', message: expect.stringMatching(/1 attendAsync call\(s\) still running/) }));
    expect(cache.length).toBe(20);
    (await pending).dispose();
    cache.append(0, k, k);
    expect(cache.length).toBe(40);
    for (const t of [k, q, cache]) t.dispose();
  });

  test('attendAsync rejects bad input with the coded errors of attend', async () => {
    const cache = new nt.llm.gear.Cache({ numLayers: 1, numKvHeads: 2, headDim: 8 }, { bufferTokens: 4 });
    const k = randKv([1, 2, 9, 8], 51);
    cache.append(0, k, k);
    const q = randKv([1, 4, 2, 8], 52);
    const odd = randKv([1, 3, 1, 8], 53);
    const many = randKv([1, 4, 10, 8], 54);
    const ints = nt.zeros([1, 4, 1, 8], 'i32');
    await expect(cache.attendAsync(0, odd)).rejects.toEqual(expect.objectContaining({ code: 'NT_SHAPE', message: expect.stringMatching(/heads a multiple of 2, got \[1,3,1,8\]/) }));
    await expect(cache.attendAsync(0, many)).rejects.toEqual(expect.objectContaining({ code: 'NT_VALUE', message: expect.stringMatching(/10 queries but only 9 tokens/) }));
    await expect(cache.attendAsync(0, ints)).rejects.toEqual(expect.objectContaining({ code: 'NT_DTYPE' }));
    await expect(cache.attendAsync(1, q)).rejects.toEqual(expect.objectContaining({ code: 'NT_VALUE', message: expect.stringMatching(/layer must be an integer in \[0, 1\), got number 1/) }));
    await expect(cache.attendAsync(0, 'q' as unknown as Tensor)).rejects.toEqual(expect.objectContaining({ code: 'NT_VALUE' }));
    cache.dispose();
    await expect(cache.attendAsync(0, q)).rejects.toEqual(expect.objectContaining({ code: 'NT_DISPOSED' }));
    for (const t of [k, q, odd, many, ints]) t.dispose();
  });

  test('a corrupt outlier index in the cache memory is NT_VALUE in decode, prefill and attendAsync, never a stray read', async () => {
    const cache = new nt.llm.gear.Cache({ numLayers: 1, numKvHeads: 1, headDim: 32 }, { bits: 4, rank: 2, outlierRatio: 0.25, bufferTokens: 16 });
    const k = randKv([1, 1, 40, 32], 61);
    cache.append(0, k, k);
    // white-box: the stored indices of the value outliers of the first chunk
    const store = (cache as unknown as { layers: { state: { values: { outlierIndices: Tensor } } }[] }).layers[0].state;
    const idx = store.values.outlierIndices.data as Int32Array;
    const kept = idx[0];
    idx[0] = 1 << 20;
    const q1 = randKv([1, 2, 1, 32], 62);
    const q40 = randKv([1, 2, 40, 32], 63);
    const coded = expect.objectContaining({ code: 'NT_VALUE', message: expect.stringMatching(/outlier index 1048576 out of range/) });
    expect(() => cache.attend(0, q1)).toThrow(coded);
    expect(() => cache.attend(0, q40)).toThrow(coded);
    await expect(cache.attendAsync(0, q1)).rejects.toEqual(coded);
    idx[0] = kept;
    cache.attend(0, q1).dispose();
    for (const t of [k, q1, q40, cache]) t.dispose();
  });
});
