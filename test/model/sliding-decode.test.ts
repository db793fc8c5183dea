// Sliding-window layers (Mistral, Qwen2) in cached decode: token-by-token decoding through the
// model's cache equals the windowed prefill, and a cache that does not declare the windows
// is refused instead of attending over everything.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { load, DenseKVCache } from '../../lib/model';
import { memory } from '../../lib/tensor';
import { errorOf, maxAbsDiff, values } from './helpers';
import { writeTiny } from './tiny';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nt-window-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const ids = Array.from({ length: 21 }, (_, i) => (i * 7 + 3) % 19);

test('decoding through the cache equals the windowed prefill, and the window bites', () => {
  const base = memory();
  const windowed = load(writeTiny(path.join(tmp, 'mistral'), { model_type: 'mistral', architectures: ['MistralForCausalLM'], sliding_window: 5 }, { seed: 3 }).dir);
  const full = load(writeTiny(path.join(tmp, 'llama'), {}, { seed: 3 }).dir);
  expect(windowed.config.slidingWindows).toEqual([5, 5]);
  const prefill = windowed.forward(ids);
  const cache = windowed.newCache({ capacity: 4 });
  expect(cache.slidingWindows).toEqual([5, 5]);
  const rows: number[] = [];
  for (let i = 0; i < ids.length; ++i) {
    const l = windowed.forward(ids.slice(i, i + 1), { cache });
    rows.push(...values(l));
    l.dispose();
  }
  expect(maxAbsDiff(rows, values(prefill))).toBeLessThanOrEqual(1e-5);
  // the same weights without the window: equal while the context fits in it, different after
  const unwindowed = full.forward(ids);
  const V = 19;
  const a = values(prefill);
  const b = values(unwindowed);
  expect(maxAbsDiff(a.subarray(0, 5 * V), b.subarray(0, 5 * V))).toBeLessThanOrEqual(1e-6);
  expect(maxAbsDiff(a.subarray(10 * V), b.subarray(10 * V))).toBeGreaterThan(1e-3);
  for (const t of [prefill, unwindowed]) t.dispose();
  cache.dispose();
  // a cache without the windows (e.g. one built for another model) is refused
  const plain = new DenseKVCache({ numLayers: 2, numKvHeads: 2, headDim: 4, maxLength: 64 });
  const e = errorOf(() => windowed.forward(ids, { cache: plain }));
  expect(e.code).toBe('NT_UNSUPPORTED');
  expect(e.message).toMatch(/sliding window of 5 tokens, and the cache does not/);
  plain.dispose();
  windowed.dispose();
  full.dispose();
  expect(memory()).toEqual(base);
});

test('DenseKVCache checks slidingWindows', () => {
  const make = (slidingWindows: unknown) => () => new DenseKVCache({ numLayers: 2, numKvHeads: 1, headDim: 2, maxLength: 8, slidingWindows: slidingWindows as never });
  for (const bad of [[5], [0, null], [1.5, 2], 'x'])
    expect(errorOf(make(bad))).toMatchObject({ code: 'NT_VALUE', message: expect.stringMatching(/slidingWindows must hold 2 entries, each null or an integer >= 1, got /) });
  const c = make([null, 3])();
  expect(c.slidingWindows).toEqual([null, 3]);
  c.dispose();
});
