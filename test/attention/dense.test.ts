// nt.attention.dense against a float64 masked-softmax reference: odd sizes, GQA, causal and
// not, decode (sq = 1) against a longer cache, strided views, f16/bf16 inputs, thread counts,
// { out }, async, and every error path.
import * as nt from '../../lib';
import { errorOf } from '../helpers/reference';
import { attentionRef, flat, maxRelErr, rnd } from './softmax-reference';

// Tolerances (relative to max |reference|): f32 accumulation over up to 129 keys x 80 dims.
const TOL = { f32: 2e-5, half: 2e-5 };

function check(b: number, hq: number, hkv: number, sq: number, sk: number, d: number, causal: boolean, dv = d): void {
  const q = rnd([b, hq, sq, d]);
  const k = rnd([b, hkv, sk, d]);
  const v = rnd([b, hkv, sk, dv]);
  const out = nt.attention.dense(q, k, v, { causal });
  expect(out.shape).toEqual([b, hq, sq, dv]);
  expect(out.dtype).toBe('f32');
  expect(maxRelErr(flat(out), attentionRef(q, k, v, { causal }))).toBeLessThan(TOL.f32);
  for (const t of [q, k, v, out]) t.dispose();
}

describe('attention.dense', () => {
  it('frees everything it allocates', () => {
    const q = rnd([1, 4, 40, 8]);
    const k = rnd([1, 2, 40, 8]);
    const v = rnd([1, 2, 40, 8]);
    const before = nt.memory();
    nt.attention.dense(q, k, v).dispose();
    const last = q.slice(null, null, [39, 40]);
    nt.attention.dense(last, k, v).dispose();
    last.dispose();
    expect(nt.memory()).toEqual(before);
    for (const t of [q, k, v]) t.dispose();
  });

  it.each([
    [1, 1, 1, 1, 1, 1],
    [2, 8, 2, 7, 7, 3],
    [1, 4, 4, 33, 33, 64],
    [2, 6, 3, 129, 129, 80],
    [1, 8, 2, 129, 129, 64],
    [1, 2, 1, 200, 300, 16],
  ])('b %i hq %i hkv %i sq %i sk %i d %i matches the reference, causal and not', (b, hq, hkv, sq, sk, d) => {
    check(b, hq, hkv, sq, sk, d, true);
    check(b, hq, hkv, sq, sk, d, false);
  });

  it('decode: one query against a longer cache (bottom-right causal alignment), any head dim', () => {
    for (const [hq, hkv, sk, d] of [
      [8, 2, 1, 64],
      [4, 4, 33, 3],
      [6, 3, 129, 80],
      [32, 8, 700, 128],
    ])
      check(2, hq, hkv, 1, sk, d, true);
    check(1, 4, 2, 5, 129, 17, true); // a few queries at the end of a cache
  });

  it('takes a different v head dim', () => check(1, 4, 2, 40, 40, 16, true, 24));

  it('accepts strided views: transposed [b, s, h, d] inputs and a cache sliced to its length', () => {
    const qs = rnd([2, 33, 6, 8]);
    const ks = rnd([2, 33, 3, 8]);
    const vs = rnd([2, 33, 3, 8]);
    const q = qs.transpose(0, 2, 1, 3);
    const k = ks.transpose(0, 2, 1, 3);
    const v = vs.transpose(0, 2, 1, 3);
    const out = nt.attention.dense(q, k, v);
    expect(maxRelErr(flat(out), attentionRef(q, k, v))).toBeLessThan(TOL.f32);
    const cacheK = rnd([1, 2, 64, 16]);
    const cacheV = rnd([1, 2, 64, 16]);
    const kk = cacheK.slice(null, null, [0, 21]);
    const vv = cacheV.slice(null, null, [0, 21]);
    const q1 = rnd([1, 4, 1, 16]);
    const o1 = nt.attention.dense(q1, kk, vv);
    expect(maxRelErr(flat(o1), attentionRef(q1, kk, vv))).toBeLessThan(TOL.f32);
    // a view whose head dim is not unit-stride
    const qt = rnd([1, 2, 16, 9]).transpose(0, 1, 3, 2);
    const kt = rnd([1, 1, 16, 9]).transpose(0, 1, 3, 2);
    const vt = rnd([1, 1, 16, 9]).transpose(0, 1, 3, 2);
    const o2 = nt.attention.dense(qt, kt, vt);
    expect(maxRelErr(flat(o2), attentionRef(qt, kt, vt))).toBeLessThan(TOL.f32);
    for (const t of [qs, ks, vs, out, cacheK, cacheV, q1, o1, o2, qt, kt, vt]) t.dispose();
  });

  it('accepts f16, bf16 and f64 inputs (computed in f32, output f32)', () => {
    for (const dt of ['f16', 'bf16', 'f64'] as const) {
      const q32 = rnd([1, 4, 33, 16]);
      const k32 = rnd([1, 2, 33, 16]);
      const v32 = rnd([1, 2, 33, 16]);
      const [q, k, v] = [q32, k32, v32].map((t) => t.astype(dt));
      const out = nt.attention.dense(q, k, v);
      expect(out.dtype).toBe('f32');
      expect(maxRelErr(flat(out), attentionRef(q, k, v))).toBeLessThan(TOL.half);
      for (const t of [q32, k32, v32, q, k, v, out]) t.dispose();
    }
  });

  it('honours scale and writes into { out }', () => {
    const q = rnd([1, 2, 9, 4], 3);
    const k = rnd([1, 2, 9, 4], 3);
    const v = rnd([1, 2, 9, 4]);
    const out = nt.zeros([1, 2, 9, 4]);
    const r = nt.attention.dense(q, k, v, { scale: 0.9, out });
    expect(r).toBe(out);
    expect(maxRelErr(flat(out), attentionRef(q, k, v, { scale: 0.9 }))).toBeLessThan(TOL.f32);
    for (const t of [q, k, v, out]) t.dispose();
  });

  it('gives the same result with 1 and 2 threads', () => {
    const q = rnd([1, 8, 300, 32]);
    const k = rnd([1, 2, 300, 32]);
    const v = rnd([1, 2, 300, 32]);
    const q1 = rnd([1, 8, 1, 32]);
    const prev = nt.getNumThreads();
    try {
      nt.setNumThreads(1);
      const a = flat(nt.attention.dense(q, k, v));
      const a1 = flat(nt.attention.dense(q1, k, v));
      nt.setNumThreads(2);
      const b = flat(nt.attention.dense(q, k, v));
      const b1 = flat(nt.attention.dense(q1, k, v));
      expect(Array.from(b)).toEqual(Array.from(a));
      expect(Array.from(b1)).toEqual(Array.from(a1));
    } finally {
      nt.setNumThreads(prev);
    }
    for (const t of [q, k, v, q1]) t.dispose();
  });

  it('denseAsync gives the sync result', async () => {
    const q = rnd([2, 4, 40, 8]);
    const k = rnd([2, 2, 40, 8]);
    const v = rnd([2, 2, 40, 8]);
    const a = nt.attention.dense(q, k, v);
    const b = await nt.attention.denseAsync(q, k, v);
    expect(Array.from(flat(b))).toEqual(Array.from(flat(a)));
    await expect(nt.attention.denseAsync(q, k, rnd([2, 3, 40, 8]))).rejects.toMatchObject({ code: 'NT_SHAPE' });
    for (const t of [q, k, v, a, b]) t.dispose();
  });

  it('propagates a NaN query to its own row only (tiled and decode paths)', () => {
    for (const sq of [1, 40]) {
      const qd = new Float32Array(flat(rnd([1, 2, sq, 8])));
      qd[(sq - 1) * 8 + 3] = NaN; // head 0, last query
      const q = nt.tensor(qd, { shape: [1, 2, sq, 8] });
      const k = rnd([1, 1, 40, 8]);
      const v = rnd([1, 1, 40, 8]);
      const out = flat(nt.attention.dense(q, k, v));
      for (let h = 0; h < 2; ++h)
        for (let i = 0; i < sq; ++i)
          for (let c = 0; c < 8; ++c) expect(Number.isNaN(out[(h * sq + i) * 8 + c])).toBe(h === 0 && i === sq - 1);
    }
  });

  it('handles empty batches and zero queries', () => {
    const out = nt.attention.dense(nt.zeros([0, 2, 3, 4]), nt.zeros([0, 1, 3, 4]), nt.zeros([0, 1, 3, 4]));
    expect(out.shape).toEqual([0, 2, 3, 4]);
    const o2 = nt.attention.dense(nt.zeros([1, 2, 0, 4]), nt.zeros([1, 1, 3, 4]), nt.zeros([1, 1, 3, 4]));
    expect(o2.shape).toEqual([1, 2, 0, 4]);
  });

  it('rejects bad arguments with codes', () => {
    const q = rnd([1, 4, 5, 8]);
    const k = rnd([1, 2, 5, 8]);
    const v = rnd([1, 2, 5, 8]);
    const cases: [() => unknown, string, RegExp][] = [
      [() => nt.attention.dense(q.reshape([4, 5, 8]), k, v), 'NT_SHAPE', /q must be 4-D/],
      [() => nt.attention.dense(q, rnd([1, 3, 5, 8]), rnd([1, 3, 5, 8])), 'NT_SHAPE', /kv heads \(3\) must divide the query heads \(4\)/],
      [() => nt.attention.dense(q, rnd([1, 2, 5, 7]), v), 'NT_SHAPE', /head dim 8/],
      [() => nt.attention.dense(q, k, rnd([1, 2, 6, 8])), 'NT_SHAPE', /same heads and seq/],
      [() => nt.attention.dense(q, rnd([2, 2, 5, 8]), rnd([2, 2, 5, 8])), 'NT_SHAPE', /batch/],
      [() => nt.attention.dense(q, rnd([1, 2, 4, 8]), rnd([1, 2, 4, 8])), 'NT_SHAPE', /at least as many keys/],
      [() => nt.attention.dense(q, k, nt.zeros([1, 2, 5, 8], 'i32')), 'NT_DTYPE', /v must be f32/],
      [() => nt.attention.dense(q, k, v, { scale: NaN }), 'NT_VALUE', /scale must be a finite number/],
      [() => nt.attention.dense(q, k, v, { causal: 1 as unknown as boolean }), 'NT_VALUE', /causal must be a boolean/],
      [() => nt.attention.dense(q, k, v, { out: nt.zeros([1, 4, 5, 7]) }), 'NT_SHAPE', /out must have shape/],
      [() => nt.attention.dense(q, k, v, { out: nt.zeros([1, 4, 5, 8], 'f64') }), 'NT_DTYPE', /out must be f32/],
      [() => nt.attention.dense(q, k, v, 3 as unknown as object), 'NT_VALUE', /options must be an object/],
      [() => nt.attention.dense(q, k, 'v' as unknown as nt.Tensor), 'NT_VALUE', /v must be a Tensor/],
    ];
    for (const [fn, code, re] of cases) {
      const e = errorOf(fn);
      expect(e.code).toBe(code);
      expect(e.message).toMatch(re);
      expect(e.message).toMatch(/^\[attention\.dense\]/);
    }
    const gone = rnd([1, 2, 5, 8]);
    gone.dispose();
    expect(errorOf(() => nt.attention.dense(q, gone, v)).code).toBe('NT_DISPOSED');
    for (const t of [q, k, v]) t.dispose();
  });
});
