// The model runner decodes through nt.llm.gear.Cache (KVCacheLike) on the committed fixture.
import * as fs from 'fs';
import * as path from 'path';
import * as nt from '../../lib';
import { PACKAGE_ROOT } from '../../lib/native/loader';
import { relErr } from './gear-reference';

const MODEL = path.join(PACKAGE_ROOT, 'fixtures', 'tinyllama-fortunes');

describe('model.forward with a GEAR cache', () => {
  const model = nt.model.load(MODEL);
  const ids = Int32Array.from(fs.readFileSync(path.join(MODEL, 'heldout.txt'))).subarray(0, 200);
  afterAll(() => model.dispose());

  function decode(cache: nt.model.KVCacheLike): Float32Array {
    // prefill 150 tokens in blocks of 50, then 50 single-token steps; the last logits row of each call
    const rows: number[] = [];
    const push = (t: nt.Tensor) => {
      const d = t.data as Float32Array;
      rows.push(...d.subarray(d.length - 256));
      t.dispose();
    };
    for (let s = 0; s < 150; s += 50) push(model.forward(ids.subarray(s, s + 50), { cache }));
    for (let s = 150; s < 200; ++s) push(model.forward(ids.subarray(s, s + 1), { cache, lastOnly: true }));
    return Float32Array.from(rows);
  }

  test('a buffer larger than the sequence (nothing compressed) gives the dense cache logits', () => {
    const dense = model.newCache();
    const want = decode(dense);
    dense.dispose();
    const cache = new nt.llm.gear.Cache(model.config, { bufferTokens: 256 });
    const got = decode(cache);
    expect(cache.chunkCount(0)).toBe(0);
    cache.dispose();
    expect(relErr(got, want)).toBeLessThan(1e-5);
  });

  test('4-bit GEAR chunks stay close to the dense cache; 2-bit KIVI drifts further; memory returns to baseline', () => {
    const dense = model.newCache();
    const want = decode(dense);
    dense.dispose();
    const before = nt.memory();
    const errs = [
      { bits: 4, rank: 4, outlierRatio: 0.1, bufferTokens: 32 },
      { bits: 2, bufferTokens: 32, preset: 'kivi' },
    ].map((o) => {
      const cache = new nt.llm.gear.Cache(model.config, o as nt.llm.gear.GearCacheOptions);
      const got = decode(cache);
      expect(cache.length).toBe(200);
      expect(cache.chunkCount(3)).toBe(6);
      cache.dispose();
      return relErr(got, want);
    });
    expect(nt.memory()).toEqual(before);
    expect(errs[0]).toBeGreaterThan(0);
    expect(errs[0]).toBeLessThan(0.05);
    expect(errs[1]).toBeGreaterThan(errs[0]);
  });

  test('forwardAsync through a GEAR cache gives forward\'s logits bit for bit (attendAsync on a worker)', async () => {
    const a = new nt.llm.gear.Cache(model.config, { bufferTokens: 32 });
    const b = new nt.llm.gear.Cache(model.config, { bufferTokens: 32 });
    const calls: number[] = [];
    const attendAsync = b.attendAsync.bind(b);
    b.attendAsync = (layer: number, q: nt.Tensor) => (calls.push(layer), attendAsync(layer, q));
    for (const [s, e] of [[0, 100], [100, 101], [101, 102]]) {
      const want = model.forward(ids.subarray(s, e), { cache: a });
      const got = await model.forwardAsync(ids.subarray(s, e), { cache: b });
      expect(Array.from(got.data as Float32Array)).toEqual(Array.from(want.data as Float32Array));
      want.dispose();
      got.dispose();
    }
    expect(b.chunkCount(0)).toBe(3);
    expect(calls.length).toBe(3 * model.config.numLayers);
    a.dispose();
    b.dispose();
  });
});
