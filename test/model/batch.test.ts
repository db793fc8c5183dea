// Batched forward, decode, generation, perplexity and calibration: every row of a batch equals
// its own batch-1 run (the linears see all rows at once; RoPE and attention stay per sequence).
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { load, BatchKVCache, DenseKVCache, LlamaModel } from '../../lib/model';
import { calibrate } from '../../lib/llm/calibrate';
import { memory } from '../../lib/tensor';
import { FIXTURE_F16, asyncErrorOf, errorOf, values } from './helpers';
import { writeTiny } from './tiny';

/** max |a − b| / max |b|: the batch-equivalence measure (≤ 1e-6 is the contract). */
function relDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  let m = 0;
  for (let i = 0; i < b.length; ++i) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    m = Math.max(m, Math.abs(b[i]));
  }
  return d / m;
}

/** Seeded token rows of the given lengths (an LCG: reproducible, no Math.random). */
function rows(lengths: number[], vocab: number, seed: number): number[][] {
  let s = seed >>> 0;
  const next = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0), s % vocab);
  return lengths.map((n) => Array.from({ length: n }, next));
}

function leftPad(seqs: number[][], padId = 0): { ids: number[][]; attentionMask: number[][] } {
  const width = Math.max(...seqs.map((r) => r.length));
  return {
    ids: seqs.map((r) => [...new Array(width - r.length).fill(padId), ...r]),
    attentionMask: seqs.map((r) => [...new Array(width - r.length).fill(0), ...r.map(() => 1)]),
  };
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nt-batch-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe.each([
  ['byte fixture (f16 weights run as f32)', () => load(FIXTURE_F16, { dtype: 'f32' }), 256],
  ['tiny random model, bf16 weights', () => load(writeTiny(path.join(tmp, 'bf16'), { vocab_size: 37, max_position_embeddings: 48 }, { dtype: 'bf16', seed: 5 }).dir, { dtype: 'bf16' }), 37],
] as const)('%s', (_name, open, vocab) => {
  let model: LlamaModel;
  let base: ReturnType<typeof memory>;
  beforeAll(() => {
    base = memory();
    model = open();
  });
  afterAll(() => {
    model.dispose();
    expect(memory()).toEqual(base);
  });

  test('a left-padded batch: every row equals its own forward, pads are 0', () => {
    const seqs = rows([13, 1, 29, 7], vocab, 11);
    const { ids, attentionMask } = leftPad(seqs, vocab - 1);
    const out = model.forwardBatch(ids, { attentionMask });
    expect(out.shape).toEqual([4, 29, vocab]);
    const all = values(out);
    seqs.forEach((seq, b) => {
      const alone = model.forward(seq);
      const pads = 29 - seq.length;
      const row = all.subarray((b * 29 + pads) * vocab, (b + 1) * 29 * vocab);
      expect(relDiff(row, values(alone))).toBeLessThanOrEqual(1e-6);
      expect(all.subarray(b * 29 * vocab, (b * 29 + pads) * vocab).every((v) => v === 0)).toBe(true);
      alone.dispose();
    });
    out.dispose();
  });

  test('lastOnly and forwardBatchAsync give the same rows', async () => {
    const seqs = rows([5, 12, 9], vocab, 3);
    const { ids, attentionMask } = leftPad(seqs);
    const fullT = model.forwardBatch(ids, { attentionMask });
    const full = values(fullT);
    fullT.dispose();
    const last = model.forwardBatch(ids, { attentionMask, lastOnly: true });
    expect(last.shape).toEqual([3, vocab]);
    const lastV = values(last);
    for (let b = 0; b < 3; ++b) expect(relDiff(lastV.subarray(b * vocab, (b + 1) * vocab), full.subarray(((b + 1) * 12 - 1) * vocab, (b + 1) * 12 * vocab))).toBe(0);
    const asyncOut = await model.forwardBatchAsync(ids, { attentionMask, lastOnly: true });
    expect(relDiff(values(asyncOut), lastV)).toBe(0);
    asyncOut.dispose();
    last.dispose();
  });

  test('batched decode: each row continues at its own position; a masked row adds nothing', () => {
    const prompts = rows([6, 11, 3], vocab, 21);
    const steps = rows([4, 4, 4], vocab, 22);
    // batch: padded prefill, then one token per row per step (row 2 sits out step 1)
    const cache = model.newBatchCache(3, { capacity: 8 });
    const { ids, attentionMask } = leftPad(prompts);
    model.forwardBatch(ids, { attentionMask, cache }).dispose();
    expect(cache.lengths).toEqual([6, 11, 3]);
    const got: Float64Array[][] = [[], [], []];
    for (let s = 0; s < 4; ++s) {
      const mask = [[1], [1], [s === 1 ? 0 : 1]];
      const out = model.forwardBatch(steps.map((r) => [r[s]]), { attentionMask: mask, cache, lastOnly: true });
      const v = values(out);
      for (let b = 0; b < 3; ++b) {
        const row = v.subarray(b * vocab, (b + 1) * vocab);
        if (mask[b][0] === 0) expect(row.every((x) => x === 0)).toBe(true);
        else got[b].push(Float64Array.from(row));
      }
      out.dispose();
    }
    expect(cache.lengths).toEqual([10, 15, 6]);
    // batch 1, one sequence at a time
    prompts.forEach((p, b) => {
      const one = model.newCache({ capacity: 4 });
      model.forward(p, { cache: one }).dispose();
      const fed = b === 2 ? [steps[2][0], steps[2][2], steps[2][3]] : steps[b];
      fed.forEach((tok, i) => {
        const out = model.forward([tok], { cache: one });
        // rows batched go through the GEMM micro-kernel, a single row through GEMV: the sums
        // associate differently (measured max 1.12e-6 with the AVX-512 kernels, 0.93e-6 avx2)
        expect(relDiff(got[b][i], values(out))).toBeLessThanOrEqual(2e-6);
        out.dispose();
      });
      one.dispose();
    });
    cache.dispose();
  });

  test('generateBatch equals generate for every prompt (greedy and sampled)', async () => {
    const prompts = rows([4, 9, 1, 6], vocab, 8);
    for (const opts of [{ maxNewTokens: 12 }, { maxNewTokens: 10, temperature: 0.9, topK: 5, seed: 7 }]) {
      const alone = prompts.map((p) => model.generate(p, opts));
      expect(model.generateBatch(prompts, opts)).toEqual(alone);
      expect(await model.generateBatchAsync(prompts, opts)).toEqual(alone);
    }
    expect(model.generateBatch(prompts, { maxNewTokens: 0 })).toEqual([[], [], [], []]);
  });

  test('perplexity: any batchSize gives the same NLL', () => {
    const ids = rows([301], vocab, 4)[0];
    const one = model.perplexity(ids, { window: 40, batchSize: 1 });
    for (const batchSize of [2, 5, 16]) {
      const b = model.perplexity(ids, { window: 40, batchSize });
      expect(b.tokens).toBe(300);
      expect(Math.abs(b.nllPerToken - one.nllPerToken) / one.nllPerToken).toBeLessThanOrEqual(1e-6);
    }
  });

  test('embedSequences + runLayer layer by layer equals hidden(layers) of each sequence', async () => {
    const seqs = rows([9, 17, 4], vocab, 31);
    const x = model.embedSequences(seqs);
    expect(x.shape).toEqual([30, model.config.hiddenSize]);
    // every layer but the last (hidden with layers = L would add the final norm)
    const layers = model.config.numLayers - 1;
    for (let l = 0; l < layers; ++l) {
      if (l % 2) await model.runLayerAsync(l, x, [9, 17, 4]);
      else model.runLayer(l, x, [9, 17, 4]);
    }
    const got = values(x);
    let start = 0;
    for (const seq of seqs) {
      const want = model.hidden(seq, { layers });
      const H = model.config.hiddenSize;
      try {
        expect(relDiff(got.subarray(start * H, (start + seq.length) * H), values(want))).toBeLessThanOrEqual(1e-6);
      } finally {
        want.dispose();
      }
      start += seq.length;
    }
    x.dispose();
  });

  test('runBlockNorm / runBlockInner / runBlockOuter compose to runLayer bit for bit, sync and async', async () => {
    const seqs = rows([9, 17, 4], vocab, 37);
    const lengths = [9, 17, 4];
    const whole = model.embedSequences(seqs);
    const staged = model.embedSequences(seqs);
    const base = memory().bytes;
    for (let l = 0; l < model.config.numLayers; ++l) {
      model.runLayer(l, whole, lengths);
      for (const block of ['attention', 'mlp'] as const) {
        // the norm is the first linears' input: what the hooks see at q_proj / gate_proj
        const seen: Record<string, Float64Array> = {};
        const first = block === 'attention' ? 'self_attn.q_proj' : 'mlp.gate_proj';
        const h = l % 2 ? await model.runBlockNormAsync(l, block, staged) : model.runBlockNorm(l, block, staged);
        const inner = l % 2
          ? await model.runBlockInnerAsync(l, block, staged, lengths, { hooks: { onLinearInput: (n, x) => (seen[n] = values(x)) } })
          : model.runBlockInner(l, block, staged, lengths, { hooks: { onLinearInput: (n, x) => (seen[n] = values(x)) } });
        expect(seen[`model.layers.${l}.${first}`]).toEqual(values(h));
        expect(inner.shape).toEqual([30, block === 'attention' ? model.config.numHeads * model.config.headDim : model.config.intermediateSize]);
        if (l % 2) await model.runBlockOuterAsync(l, block, staged, inner);
        else model.runBlockOuter(l, block, staged, inner);
        h.dispose();
        inner.dispose();
      }
      expect(values(staged)).toEqual(values(whole));
    }
    expect(memory().bytes).toBe(base);
    whole.dispose();
    staged.dispose();
  });

  test('block steps refuse a bad layer, block, stream or inner tensor', () => {
    const x = model.embedSequences([[1, 2, 3]]);
    const L = model.config.numLayers;
    try {
      const cases: [() => unknown, string, RegExp][] = [
        [() => model.runBlockNorm(L, 'attention', x), 'NT_VALUE', new RegExp(`layer must be an integer in \\[0, ${L}\\), got ${L}`)],
        [() => model.runBlockNorm(0, 'ffn' as never, x), 'NT_VALUE', /block must be 'attention' or 'mlp', got string "?ffn"?/],
        [() => model.runBlockInner(0, 'mlp', [1] as never, [1]), 'NT_VALUE', new RegExp(`contiguous f32 \\[rows, ${model.config.hiddenSize}\\]`)],
        [() => model.runBlockInner(0, 'mlp', x, [2]), 'NT_SHAPE', /sum to 2, x has 3 rows/],
        [() => model.runBlockOuter(0, 'mlp', x, x), 'NT_VALUE', /inner must be an f32 \[3, \d+\] tensor \(from runBlockInner\)/],
        [() => model.runBlockOuter(0, 'attention', x, null as never), 'NT_VALUE', /inner must be an f32/],
      ];
      for (const [fn, code, re] of cases) {
        const e = errorOf(fn);
        expect({ code: e.code, message: e.message }).toEqual({ code, message: expect.stringMatching(re) });
      }
    } finally {
      x.dispose();
    }
  });

  test('calibration in batches accumulates the same statistics', () => {
    const ids = Int32Array.from(rows([197], vocab, 9)[0]);
    const modules = ['model.layers.0.self_attn.q_proj', 'model.layers.1.mlp.down_proj'];
    const one = calibrate(model, ids, { window: 32, modules, batchSize: 1 });
    const many = calibrate(model, ids, { window: 32, modules, batchSize: 4 });
    expect(many.tokens).toBe(197);
    for (const name of modules) {
      expect(many.inputs.get(name)!.count).toBe(197);
      for (const stat of ['mean', 'inputNorms', 'meanAbs'] as const) {
        const a = one.inputs.get(name)![stat]();
        const b = many.inputs.get(name)![stat]();
        expect(relDiff(values(b), values(a))).toBeLessThanOrEqual(1e-6);
        a.dispose();
        b.dispose();
      }
    }
    one.dispose();
    many.dispose();
  });
});

describe('batch input errors', () => {
  let model: LlamaModel;
  let base: ReturnType<typeof memory>;
  beforeAll(() => {
    base = memory();
    model = load(writeTiny(path.join(tmp, 'errors'), {}, { seed: 2 }).dir);
  });
  afterAll(() => {
    model.dispose();
    expect(memory()).toEqual(base);
  });

  test.each([
    ['ids not an array', () => model.forwardBatch(5 as never), 'NT_VALUE', /non-empty array of rows/],
    ['no rows', () => model.forwardBatch([]), 'NT_VALUE', /non-empty array of rows/],
    ['a row not ids', () => model.forwardBatch([[1], 'x' as never]), 'NT_VALUE', /ids\[1\] must be an Int32Array or an array of token ids, got string x/],
    ['ragged rows', () => model.forwardBatch([[1, 2], [3]]), 'NT_SHAPE', /rectangular/],
    ['a token out of the vocabulary', () => model.forwardBatch([[1, 2], [3, 19]]), 'NT_VALUE', /row 1\] ids\[1\] = 19/],
    ['mask rows != ids rows', () => model.forwardBatch([[1], [2]], { attentionMask: [[1]] }), 'NT_SHAPE', /2 rows/],
    ['mask row length', () => model.forwardBatch([[1, 2]], { attentionMask: [[1]] }), 'NT_SHAPE', /2 values/],
    ['padding on the right', () => model.forwardBatch([[1, 2, 3]], { attentionMask: [[1, 1, 0]] }), 'NT_VALUE', /0s \(left padding\) then 1s/],
    ['a hole in the mask', () => model.forwardBatch([[1, 2, 3]], { attentionMask: [[0, 1, 0]] }), 'NT_VALUE', /\[0\]\[2\] = 0/],
    ['a mask value of 2', () => model.forwardBatch([[1, 2]], { attentionMask: [[1, 2]] }), 'NT_VALUE', /= 2/],
    ['every row masked', () => model.forwardBatch([[1], [2]], { attentionMask: [[0], [0]] }), 'NT_VALUE', /ids is empty/],
    ['a plain cache', () => model.forwardBatch([[1]], { cache: {} as never }), 'NT_VALUE', /BatchKVCache of 1 sequences \(model.newBatchCache\(1\)\), got an object/],
    ['options not an object', () => model.forwardBatch([[1]], 3 as never), 'NT_VALUE', /options must be an object/],
    ['too long for the context', () => model.forwardBatch([new Array(65).fill(1)]), 'NT_VALUE', /exceed max_position_embeddings 64/],
    ['generateBatch without prompts', () => model.generateBatch([], { maxNewTokens: 1 }), 'NT_VALUE', /non-empty array of token-id arrays, got an empty array/],
    ['generateBatch with an empty prompt', () => model.generateBatch([[1], []], { maxNewTokens: 1 }), 'NT_VALUE', /prompt 1 is empty/],
    ['perplexity batchSize 0', () => model.perplexity([1, 2, 3], { batchSize: 0 }), 'NT_VALUE', /batchSize must be an integer >= 1/],
    ['calibrate batchSize 1.5', () => calibrate(model, [1, 2, 3], { batchSize: 1.5 }), 'NT_VALUE', /batchSize must be an integer >= 1/],
    ['newBatchCache(0)', () => model.newBatchCache(0), 'NT_VALUE', /batch must be an integer >= 1/],
    ['embedSequences([])', () => model.embedSequences([]), 'NT_VALUE', /non-empty array/],
    ['embedSequences with a bad id', () => model.embedSequences([[1], [-1]]), 'NT_VALUE', /sequence 1\] ids\[0\] = -1/],
    ['runLayer past the last layer', () => model.runLayer(2, null as never, [1]), 'NT_VALUE', /layer must be an integer in \[0, 2\)/],
    ['runLayer on a non-tensor', () => model.runLayer(0, [1] as never, [1]), 'NT_VALUE', /contiguous f32 \[rows, 16\]/],
    ['runLayer lengths not matching x', () => { const x = model.embedSequences([[1, 2, 3]]); try { model.runLayer(0, x, [2]); } finally { x.dispose(); } }, 'NT_SHAPE', /sum to 2, x has 3 rows/],
    ['runLayer on lengths that are not an array', () => { const x = model.embedSequences([[1]]); try { model.runLayer(0, x, 1 as never); } finally { x.dispose(); } }, 'NT_VALUE', /lengths must be .*, got number 1/],
    ['runLayer with an empty length', () => { const x = model.embedSequences([[1]]); try { model.runLayer(0, x, [1, 0]); } finally { x.dispose(); } }, 'NT_VALUE', /lengths must be/],
  ])('%s', (_name, fn, code, message) => {
    const e = errorOf(fn);
    expect(e.code).toBe(code);
    expect(e.message).toMatch(message);
  });

  test('a wrong-size cache is refused before anything is appended', () => {
    const cache = model.newBatchCache(2);
    expect(errorOf(() => model.forwardBatch([[1], [2], [3]], { cache })).code).toBe('NT_VALUE');
    expect(cache.lengths).toEqual([0, 0]);
    cache.dispose();
  });

  test('async errors reject with the same codes', async () => {
    expect((await asyncErrorOf(model.forwardBatchAsync([[1, 2], [3]]))).code).toBe('NT_SHAPE');
    expect((await asyncErrorOf(model.generateBatchAsync([], { maxNewTokens: 1 }))).code).toBe('NT_VALUE');
  });

  test('BatchKVCache: its own errors, and dispose releases every sequence', () => {
    const a = model.newCache();
    expect(errorOf(() => new BatchKVCache([])).code).toBe('NT_VALUE');
    expect(errorOf(() => new BatchKVCache([a, a])).message).toMatch(/same cache/);
    expect(errorOf(() => new BatchKVCache([a, {} as never])).message).toMatch(/sequences\[1\] is not a KVCacheLike/);
    const b = new BatchKVCache([a, model.newCache()]);
    expect(b.batch).toBe(2);
    expect(b.sequence(0)).toBe(a);
    expect(errorOf(() => b.sequence(2)).message).toMatch(/b must be an integer in \[0, 2\)/);
    b.dispose();
    b.dispose();
    expect(errorOf(() => b.lengths).code).toBe('NT_DISPOSED');
    expect(errorOf(() => (a as DenseKVCache).append(0, null as never, null as never)).code).toBe('NT_DISPOSED');
  });
});
