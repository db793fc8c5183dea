// The fixture model (tinyllama-fortunes) against Hugging Face transformers: logits of
// reference_prompt.txt (reference_logits.npy) and the perplexity of reference_ppl.json.
// The committed f16 copy is tested everywhere; the f32 original where ../shared holds it.
import * as fs from 'fs';
import * as path from 'path';
import { loadNpy } from '../../lib/io';
import { LlamaModel, encodeBytes, load } from '../../lib/model';
import { FIXTURE_F16, FIXTURE_F32, HAVE_F32, TOL, maxAbs, maxAbsDiff, values } from './helpers';

interface RefPpl {
  bytes: number;
  window: number;
  nll_per_byte: number;
  ppl: number;
}

const promptIds = (dir: string) => encodeBytes(fs.readFileSync(path.join(dir, 'reference_prompt.txt'), 'utf8'));
const referenceLogits = (dir: string) => {
  const t = loadNpy(path.join(dir, 'reference_logits.npy'));
  const v = values(t);
  t.dispose();
  return v;
};
const refPpl = (dir: string): RefPpl => JSON.parse(fs.readFileSync(path.join(dir, 'reference_ppl.json'), 'utf8'));
/** The first `bytes + 1` bytes of heldout.txt: `bytes` predicted tokens, as reference_ppl.json counts them. */
const heldout = (dir: string, r: RefPpl) => Int32Array.from(fs.readFileSync(path.join(dir, 'heldout.txt')).subarray(0, r.bytes + 1));

describe('committed f16 copy (fixtures/tinyllama-fortunes)', () => {
  let model: LlamaModel;
  beforeAll(() => {
    model = load(FIXTURE_F16);
  });
  afterAll(() => model.dispose());

  test('loads as the config says: 4 layers, 8 heads / 4 kv heads, head_dim 32, byte vocabulary', () => {
    expect(model.config).toMatchObject({ numLayers: 4, numHeads: 8, numKvHeads: 4, headDim: 32, vocabSize: 256, hiddenSize: 256, intermediateSize: 688 });
  });

  test('logits stay within the f16-rounding bound of the float32 HF reference', () => {
    const ids = promptIds(FIXTURE_F16);
    const logits = model.forward(ids);
    const ref = referenceLogits(FIXTURE_F16);
    const bound = TOL.logitsF16PerMaxLogit * maxAbs(ref);
    const got = values(logits);
    const diff = maxAbsDiff(got, ref);
    expect(diff).toBeLessThanOrEqual(bound);
    // and the rounding does move them (the copy really is f16): more than f32 noise
    expect(diff).toBeGreaterThan(TOL.logitsF32 / 10);
    logits.dispose();
  });

  test('perplexity matches reference_ppl.json within the f16 tolerance', () => {
    const r = refPpl(FIXTURE_F16);
    const ticks: number[][] = [];
    const p = model.perplexity(heldout(FIXTURE_F16, r), { window: r.window, onProgress: (d, t) => ticks.push([d, t]) });
    expect(p.tokens).toBe(r.bytes);
    expect(Math.abs(p.nllPerToken - r.nll_per_byte)).toBeLessThanOrEqual(TOL.nllF16);
    expect(p.ppl).toBeCloseTo(Math.exp(p.nllPerToken), 12);
    // 16 windows of 256 bytes, 8 per forward by default (the logits of 8 fit the 256 MiB budget)
    expect(ticks).toEqual([[8, 16], [16, 16]]);
  });

  test('decoding the prompt token by token with the cache equals prefill', () => {
    const ids = promptIds(FIXTURE_F16);
    const full = values(model.forward(ids));
    const cache = model.newCache({ capacity: 16 });
    const rows: number[] = [];
    for (let i = 0; i < ids.length; ++i) {
      const l = model.forward(ids.subarray(i, i + 1), { cache });
      rows.push(...values(l));
      l.dispose();
    }
    expect(maxAbsDiff(rows, full)).toBeLessThanOrEqual(TOL.decodeVsPrefill);
    cache.dispose();
  });

  test('greedy generation is deterministic and follows the argmax of a full forward', () => {
    const prompt = encodeBytes('A penny saved is');
    const a = model.generate(prompt, { maxNewTokens: 12 });
    const b = model.generate(prompt, { maxNewTokens: 12 });
    expect(a).toEqual(b);
    expect(a).toHaveLength(12);
    // without the cache: the argmax of the last row of forward(prompt + generated so far)
    const seq = Array.from(prompt);
    for (let i = 0; i < 4; ++i) {
      const l = model.forward(seq, { lastOnly: true });
      const row = values(l);
      l.dispose();
      const best = row.indexOf(Math.max(...row));
      expect(a[i]).toBe(best);
      seq.push(best);
    }
  });

  test('sampling with a seed is reproducible; seeds differ; topK 1 is greedy', () => {
    const prompt = encodeBytes('The quick');
    const s1 = model.generate(prompt, { maxNewTokens: 20, temperature: 1.2, seed: 7 });
    expect(model.generate(prompt, { maxNewTokens: 20, temperature: 1.2, seed: 7 })).toEqual(s1);
    const others = [8, 9, 10].map((seed) => model.generate(prompt, { maxNewTokens: 20, temperature: 1.2, seed }));
    expect(others.some((o) => o.join() !== s1.join())).toBe(true);
    expect(model.generate(prompt, { maxNewTokens: 10, temperature: 1.5, topK: 1, seed: 3 })).toEqual(model.generate(prompt, { maxNewTokens: 10 }));
    expect(model.generate(prompt, { maxNewTokens: 0 })).toEqual([]);
  });
});

(HAVE_F32 ? describe : describe.skip)('float32 original (../shared/fixtures/tinyllama-fortunes)', () => {
  let model: LlamaModel;
  beforeAll(() => {
    model = load(FIXTURE_F32);
  });
  afterAll(() => model.dispose());

  test('logits equal Hugging Face transformers (max abs diff <= 1e-3)', () => {
    const logits = model.forward(promptIds(FIXTURE_F32));
    expect(logits.shape).toEqual([77, 256]);
    expect(maxAbsDiff(values(logits), referenceLogits(FIXTURE_F32))).toBeLessThanOrEqual(TOL.logitsF32);
    logits.dispose();
  });

  test('perplexity equals reference_ppl.json', () => {
    const r = refPpl(FIXTURE_F32);
    const p = model.perplexity(heldout(FIXTURE_F32, r), { window: r.window });
    expect(p.tokens).toBe(r.bytes);
    expect(Math.abs(p.nllPerToken - r.nll_per_byte)).toBeLessThanOrEqual(TOL.nllF32);
  });

  test('the f16 copy moves the logits by less than the bound the f16 test uses', () => {
    const f16 = load(FIXTURE_F16);
    const ids = promptIds(FIXTURE_F32);
    const a = model.forward(ids);
    const b = f16.forward(ids);
    const ref = values(a);
    expect(maxAbsDiff(values(b), ref)).toBeLessThanOrEqual(TOL.logitsF16PerMaxLogit * maxAbs(ref));
    for (const t of [a, b, f16]) t.dispose();
  });
});
