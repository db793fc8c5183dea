// nt.attention.slidingWindow and the block-sparse / top-k forms against the float64 masked
// reference: odd sizes, GQA, causal and not, window >= seq == dense, decode, strided views,
// f16 inputs, 1 vs 2 threads, errors.
import * as nt from '../../lib';
import { errorOf } from '../helpers/reference';
import { attentionRef, flat, maxRelErr, rnd } from './softmax-reference';

const TOL = 2e-5;

describe('attention.slidingWindow', () => {
  it.each([
    [1, 1, 1, 1, 1, 1, 1],
    [2, 8, 2, 7, 7, 3, 2],
    [1, 4, 4, 33, 33, 64, 5],
    [2, 6, 3, 129, 129, 80, 17],
    [1, 8, 2, 300, 300, 16, 128],
    [1, 4, 2, 1, 300, 16, 64],
    [1, 4, 1, 3, 200, 8, 129],
  ])('b %i hq %i hkv %i sq %i sk %i d %i window %i matches the reference, causal and not', (b, hq, hkv, sq, sk, d, w) => {
    const q = rnd([b, hq, sq, d]);
    const k = rnd([b, hkv, sk, d]);
    const v = rnd([b, hkv, sk, d]);
    for (const causal of [true, false]) {
      const out = nt.attention.slidingWindow(q, k, v, { window: w, causal });
      expect(maxRelErr(flat(out), attentionRef(q, k, v, { causal, window: w }))).toBeLessThan(TOL);
      out.dispose();
    }
    for (const t of [q, k, v]) t.dispose();
  });

  it('equals dense when the window covers the sequence', () => {
    const q = rnd([1, 4, 45, 8]);
    const k = rnd([1, 2, 45, 8]);
    const v = rnd([1, 2, 45, 8]);
    const d = flat(nt.attention.dense(q, k, v));
    for (const w of [45, 46, 1000]) expect(Array.from(flat(nt.attention.slidingWindow(q, k, v, { window: w })))).toEqual(Array.from(d));
  });

  it('takes strided and f16 inputs, same result on 1 and 2 threads', async () => {
    const qs = rnd([1, 150, 4, 16]);
    const ks = rnd([1, 150, 2, 16]);
    const q = qs.transpose(0, 2, 1, 3).astype('f16');
    const k = ks.transpose(0, 2, 1, 3);
    const v = ks.transpose(0, 2, 1, 3);
    const ref = attentionRef(q, k, v, { window: 20 });
    const prev = nt.getNumThreads();
    try {
      nt.setNumThreads(1);
      const a = flat(nt.attention.slidingWindow(q, k, v, { window: 20 }));
      nt.setNumThreads(2);
      const b = flat(await nt.attention.slidingWindowAsync(q, k, v, { window: 20 }));
      expect(Array.from(b)).toEqual(Array.from(a));
      expect(maxRelErr(a, ref)).toBeLessThan(TOL);
    } finally {
      nt.setNumThreads(prev);
    }
  });

  it('rejects bad windows and shapes', () => {
    const q = rnd([1, 2, 5, 4]);
    for (const w of [0, -1, 1.5, NaN, '3', undefined]) {
      const e = errorOf(() => nt.attention.slidingWindow(q, q, q, { window: w as number }));
      expect(e.code).toBe('NT_VALUE');
      expect(e.message).toMatch(/^\[attention\.slidingWindow\] window must be an integer >= 1/);
    }
    expect(errorOf(() => nt.attention.slidingWindow(q, rnd([1, 2, 4, 4]), rnd([1, 2, 4, 4]), { window: 2 })).code).toBe('NT_SHAPE');
    expect(errorOf(() => nt.attention.slidingWindow(q, q, q, { window: 2, causal: 'no' as unknown as boolean })).code).toBe('NT_VALUE');
  });
});

function randomBlocks(b: number, h: number, nb: number, seed: number): nt.Tensor {
  let s = seed;
  const data = new Uint8Array(b * h * nb * nb);
  for (let i = 0; i < data.length; ++i) {
    s = (s * 1103515245 + 12345) >>> 0;
    data[i] = (s >>> 16) % 3 === 0 ? 0 : 1;
  }
  return nt.tensor(data, { shape: [b, h, nb, nb] });
}

describe('attention.blockSparse and topK', () => {
  it.each([
    [2, 8, 2, 7, 7, 3, 2],
    [1, 6, 3, 33, 33, 64, 8],
    [1, 4, 4, 129, 129, 80, 32],
    [2, 4, 2, 1, 200, 16, 16],
    [1, 2, 1, 50, 300, 8, 64],
  ])('b %i hq %i hkv %i sq %i sk %i d %i block %i: an explicit mask matches the reference', (b, hq, hkv, sq, sk, d, bs) => {
    const q = rnd([b, hq, sq, d]);
    const k = rnd([b, hkv, sk, d]);
    const v = rnd([b, hkv, sk, d]);
    const nb = Math.ceil(sk / bs);
    const blocks = randomBlocks(b, hq, nb, sq * 31 + d);
    const keep = blocks.data as Uint8Array;
    for (const causal of [true, false]) {
      const out = nt.attention.blockSparse(q, k, v, { blocks, blockSize: bs, causal });
      expect(maxRelErr(flat(out), attentionRef(q, k, v, { causal, blocks: keep, blockSize: bs }))).toBeLessThan(TOL);
      out.dispose();
    }
    // a transposed (strided) mask view reads the same flags as its contiguous copy
    const bt = blocks.transpose(0, 1, 3, 2);
    const btc = bt.contiguous();
    const o1 = flat(nt.attention.blockSparse(q, k, v, { blocks: bt, blockSize: bs, causal: false }));
    const o2 = flat(nt.attention.blockSparse(q, k, v, { blocks: btc, blockSize: bs, causal: false }));
    expect(Array.from(o1)).toEqual(Array.from(o2));
  });

  it('topK keeps the diagonal and k earlier blocks, equals blockSparse with its mask, and dense for large k', () => {
    const q = rnd([1, 4, 100, 16]);
    const k = rnd([1, 2, 100, 16]);
    const v = rnd([1, 2, 100, 16]);
    const blocks = nt.attention.topKBlocks(q, k, { k: 2, blockSize: 16 });
    const nb = 7;
    expect(blocks.shape).toEqual([1, 4, nb, nb]);
    const m = blocks.data as Uint8Array;
    for (let h = 0; h < 4; ++h)
      for (let a = 0; a < nb; ++a) {
        const row = Array.from(m.subarray((h * nb + a) * nb, (h * nb + a + 1) * nb));
        expect(row[a]).toBe(1);
        expect(row.slice(a + 1).every((x) => x === 0)).toBe(true);
        expect(row.reduce((s, x) => s + x, 0)).toBe(1 + Math.min(2, a));
      }
    const out = nt.attention.topK(q, k, v, { k: 2, blockSize: 16 });
    const viaMask = nt.attention.blockSparse(q, k, v, { blocks, blockSize: 16 });
    expect(Array.from(flat(out))).toEqual(Array.from(flat(viaMask)));
    expect(maxRelErr(flat(out), attentionRef(q, k, v, { blocks: m, blockSize: 16 }))).toBeLessThan(TOL);
    const all = nt.attention.topK(q, k, v, { k: 6, blockSize: 16 });
    expect(maxRelErr(flat(all), attentionRef(q, k, v))).toBeLessThan(TOL);
  });

  it('async twins and the non-causal topK', async () => {
    const q = rnd([2, 4, 50, 8]);
    const k = rnd([2, 2, 50, 8]);
    const v = rnd([2, 2, 50, 8]);
    const all = await nt.attention.topKAsync(q, k, v, { k: 10, blockSize: 8, causal: false });
    expect(maxRelErr(flat(all), attentionRef(q, k, v, { causal: false }))).toBeLessThan(TOL);
    const blocks = nt.attention.topKBlocks(q, k, { k: 2, blockSize: 8, causal: false });
    const m = blocks.data as Uint8Array;
    for (let r = 0; r < 2 * 4 * 7; ++r) {
      const row = m.subarray(r * 7, r * 7 + 7);
      expect(row[r % 7]).toBe(1);
      expect(row.reduce((a, x) => a + x, 0)).toBe(3);
    }
    const a = nt.attention.topK(q, k, v, { k: 2, blockSize: 8, causal: false });
    const b = await nt.attention.blockSparseAsync(q, k, v, { blocks, blockSize: 8, causal: false });
    expect(Array.from(flat(b))).toEqual(Array.from(flat(a)));
    expect(maxRelErr(flat(a), attentionRef(q, k, v, { causal: false, blocks: m, blockSize: 8 }))).toBeLessThan(TOL);
  });

  it('topK picks the blocks with the largest pooled score', () => {
    // one query block of 4 keys-worth; key block 2 is aligned with the query, the others are not
    const d = 4;
    const qv = new Float32Array(16 * d);
    const kv = new Float32Array(16 * d);
    for (let i = 0; i < 16; ++i) {
      qv[i * d] = 1;
      kv[i * d] = Math.floor(i / 4) === 1 ? 5 : -1;
    }
    const q = nt.tensor(qv, { shape: [1, 1, 16, d] });
    const k = nt.tensor(kv, { shape: [1, 1, 16, d] });
    const m = nt.attention.topKBlocks(q, k, { k: 1, blockSize: 4 }).data as Uint8Array;
    expect(Array.from(m.subarray(12, 16))).toEqual([0, 1, 0, 1]);
  });

  it('rejects bad masks and options', () => {
    const q = rnd([1, 2, 10, 4]);
    const good = nt.zeros([1, 2, 3, 3], 'u8');
    const cases: [() => unknown, string, RegExp][] = [
      [() => nt.attention.blockSparse(q, q, q, { blocks: nt.zeros([1, 2, 3, 3]), blockSize: 4 }), 'NT_DTYPE', /blocks must be u8/],
      [() => nt.attention.blockSparse(q, q, q, { blocks: nt.zeros([1, 2, 3, 2], 'u8'), blockSize: 4 }), 'NT_SHAPE', /blocks must have shape \[1,2,3,3\]/],
      [() => nt.attention.blockSparse(q, q, q, { blocks: good, blockSize: 0 }), 'NT_VALUE', /blockSize must be an integer >= 1/],
      [() => nt.attention.topK(q, q, q, { k: -1 }), 'NT_VALUE', /k must be an integer >= 0/],
      [() => nt.attention.topK(q, q, q, { k: 1, blockSize: 2.5 }), 'NT_VALUE', /blockSize/],
    ];
    for (const [fn, code, re] of cases) {
      const e = errorOf(fn);
      expect(e.code).toBe(code);
      expect(e.message).toMatch(re);
    }
    // the native side re-validates a direct call
    const { native } = jest.requireActual('../../lib/native/loader');
    const bad = nt.zeros([1, 2, 2, 2], 'u8');
    const out = nt.zeros([1, 2, 10, 4]);
    const e = errorOf(() => native.attention(q._storage, q._metaArray, q._storage, q._metaArray, q._storage, q._metaArray, out._storage, out._metaArray, true, 0.5, 0, bad._storage, bad._metaArray, 4));
    expect(e.code).toBe('NT_SHAPE');
    expect(e.message).toMatch(/^\[attention\] the block mask must be u8/);
  });
});
