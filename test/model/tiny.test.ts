// The model runner on tiny random LLaMA-family folders, against a float64 reference forward
// pass: config variants, loading errors, the cache, hooks, linear swapping, disposal.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { saveSafetensors } from '../../lib/io';
import { matmul } from '../../lib/linalg/matmul';
import { DenseLinear, LinearLike, ModelHooks, load, loadAsync } from '../../lib/model';
import { dense } from '../../lib/attention/dense';
import { memory, Tensor } from '../../lib/tensor';
import { tensor, zeros } from '../../lib/creation';
import { asyncErrorOf, errorOf, maxAbs, maxAbsDiff, randomTensor, values } from './helpers';
import { TINY, TinyModel, referenceLogits, tinyShapes, writeTiny } from './tiny';

let tmp: string;
let counter = 0;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ntensor-model-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const fresh = () => path.join(tmp, `m${counter++}`);

const IDS = [3, 0, 18, 7, 7, 11, 2, 5, 16, 1, 9];
/** f32 compute vs float64 reference on values of size ~1..10: a few f32 roundings per op. */
const TINY_TOL = 2e-4;

function expectMatchesReference(m: TinyModel, ids = IDS): void {
  const model = load(m.dir);
  const logits = model.forward(ids);
  expect(logits.shape).toEqual([ids.length, m.config.vocab_size]);
  const want = referenceLogits(m, ids);
  expect(maxAbsDiff(values(logits), want)).toBeLessThanOrEqual(TINY_TOL * Math.max(1, maxAbs(want)));
  logits.dispose();
  model.dispose();
}

describe('forward equals the float64 reference', () => {
  test('GQA (4 heads, 2 kv heads), untied lm_head', () => expectMatchesReference(writeTiny(fresh())));
  test('multi-head (kv heads = heads) with tied embeddings', () =>
    expectMatchesReference(writeTiny(fresh(), { num_key_value_heads: 4, tie_word_embeddings: true })));
  test('multi-query (1 kv head) with an explicit head_dim != hidden / heads', () =>
    expectMatchesReference(writeTiny(fresh(), { num_key_value_heads: 1, head_dim: 6 })));
  test('num_key_value_heads absent means kv heads = heads', () => {
    const m = writeTiny(fresh(), { num_key_value_heads: 4 });
    const cfg = JSON.parse(fs.readFileSync(path.join(m.dir, 'config.json'), 'utf8'));
    delete cfg.num_key_value_heads;
    fs.writeFileSync(path.join(m.dir, 'config.json'), JSON.stringify(cfg));
    expectMatchesReference(m);
  });
  test('rope_theta and rms_norm_eps from config.json', () => expectMatchesReference(writeTiny(fresh(), { rope_theta: 50, rms_norm_eps: 0.5 })));
  test("rope_scaling 'linear'", () => expectMatchesReference(writeTiny(fresh(), { rope_scaling: { type: 'linear', factor: 4 } })));
  test("rope_scaling 'llama3' (low, medium and high frequencies)", () =>
    expectMatchesReference(
      writeTiny(fresh(), {
        rope_theta: 100,
        head_dim: 8,
        rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 16 },
      }),
    ));
  test('bf16 and f16 weights are widened to f32', () => {
    expectMatchesReference(writeTiny(fresh(), {}, { dtype: 'bf16' }));
    expectMatchesReference(writeTiny(fresh(), {}, { dtype: 'f16' }));
  });
  test('a sharded checkpoint (model.safetensors.index.json)', () => expectMatchesReference(writeTiny(fresh(), {}, { shards: 3 })));
  test('a single token and the longest sequence (max_position_embeddings)', () => {
    const m = writeTiny(fresh(), { max_position_embeddings: 24 });
    expectMatchesReference(m, [5]);
    expectMatchesReference(m, Array.from({ length: 24 }, (_, i) => (i * 5) % 19));
  });
  test('loadAsync gives the same model', async () => {
    const m = writeTiny(fresh());
    const a = load(m.dir);
    const b = await loadAsync(m.dir);
    const la = a.forward(IDS);
    const lb = b.forward(IDS);
    expect(maxAbsDiff(values(la), values(lb))).toBe(0);
    expect(b.config).toEqual(a.config);
    for (const t of [la, lb, a, b]) t.dispose();
  });
  test('config is exposed in camelCase', () => {
    const m = writeTiny(fresh(), { head_dim: 6 });
    const model = load(m.dir);
    expect(model.config).toMatchObject({
      hiddenSize: 16,
      intermediateSize: 24,
      numLayers: 2,
      numHeads: 4,
      numKvHeads: 2,
      headDim: 6,
      vocabSize: 19,
      ropeTheta: 10000,
      rmsNormEps: 1e-5,
      maxPositionEmbeddings: 64,
      tieWordEmbeddings: false,
    });
    model.dispose();
  });
});

describe('async forms', () => {
  test('forwardAsync, hiddenAsync, perplexityAsync and generateAsync equal their sync forms; the event loop keeps running', async () => {
    const m = writeTiny(fresh());
    const model = load(m.dir);
    let ticks = 0;
    const timer = setInterval(() => ++ticks, 0);
    const a = await model.forwardAsync(IDS);
    const b = model.forward(IDS);
    expect(maxAbsDiff(values(a), values(b))).toBe(0);
    const h = await model.hiddenAsync(IDS);
    expect(h.shape).toEqual([IDS.length, 16]);
    const cache = model.newCache({ capacity: 2 });
    const rows: number[] = [];
    for (const id of IDS) {
      const l = await model.forwardAsync([id], { cache });
      rows.push(...values(l));
      l.dispose();
    }
    expect(maxAbsDiff(rows, values(b))).toBeLessThanOrEqual(TINY_TOL * maxAbs(values(b)));
    expect(await model.perplexityAsync(IDS, { window: 4 })).toEqual(model.perplexity(IDS, { window: 4 }));
    const opts = { maxNewTokens: 8, temperature: 0.9, seed: 5 };
    expect(await model.generateAsync(IDS, opts)).toEqual(model.generate(IDS, opts));
    clearInterval(timer);
    expect(ticks).toBeGreaterThan(0);
    expect((await asyncErrorOf(model.forwardAsync([99]))).code).toBe('NT_VALUE');
    const base = memory();
    await asyncErrorOf(model.forwardAsync(IDS, { hooks: { attention: () => zeros([2]) } }));
    expect(memory()).toEqual(base);
    for (const t of [a, b, h, cache, model]) t.dispose();
  });
});

describe('hidden, lastOnly and the KV cache', () => {
  let m: TinyModel;
  beforeAll(() => {
    m = writeTiny(fresh());
  });

  test('hidden() is the final-norm state: lm_head of it gives forward()', () => {
    const model = load(m.dir);
    const h = model.hidden(IDS);
    expect(h.shape).toEqual([IDS.length, 16]);
    const lm = tensor(m.weights['lm_head.weight'], { shape: [19, 16], dtype: 'f32' });
    const viaHidden = matmul(h, lm, { transB: true });
    const logits = model.forward(IDS);
    expect(maxAbsDiff(values(viaHidden), values(logits))).toBeLessThanOrEqual(1e-5);
    for (const t of [h, lm, viaHidden, logits, model]) t.dispose();
  });

  test('lastOnly gives the last row of the logits', () => {
    const model = load(m.dir);
    const all = model.forward(IDS);
    const last = model.forward(IDS, { lastOnly: true });
    expect(last.shape).toEqual([1, 19]);
    const row = all.slice([IDS.length - 1, IDS.length]);
    // one row goes through the GEMV path, many through the GEMM: f32 summation order differs
    expect(maxAbsDiff(values(last), values(row))).toBeLessThanOrEqual(1e-6 * maxAbs(values(row)));
    for (const t of [all, last, row, model]) t.dispose();
  });

  test('decoding token by token, and in chunks, with the cache equals prefill; the cache grows by doubling', () => {
    const model = load(m.dir);
    const ids = Array.from({ length: 40 }, (_, i) => (i * 7 + 3) % 19);
    const full = values(model.forward(ids));
    const cache = model.newCache({ capacity: 3 });
    expect(cache.capacity).toBe(3);
    const rows: number[] = [];
    const chunks = [5, 1, 1, 7, 1, 2, 20, 1, 1, 1];
    let at = 0;
    for (const n of chunks) {
      expect(cache.length).toBe(at);
      const l = model.forward(ids.slice(at, at + n), { cache });
      rows.push(...values(l));
      l.dispose();
      at += n;
    }
    expect(cache.length).toBe(40);
    expect(cache.capacity).toBe(48); // 3 -> 6 -> 12 -> 36 (jump to what 16 + 20 tokens need) -> 48 (doubled, capped at 64)
    expect(maxAbsDiff(rows, full)).toBeLessThanOrEqual(TINY_TOL * maxAbs(full));
    cache.dispose();
    model.dispose();
  });

  test('the cache refuses more than max_position_embeddings tokens; forward refuses too', () => {
    const small = writeTiny(fresh(), { max_position_embeddings: 8 });
    const model = load(small.dir);
    const cache = model.newCache();
    model.forward([1, 2, 3, 4, 5, 6], { cache }).dispose();
    const e = errorOf(() => model.forward([1, 2, 3], { cache }));
    expect(e.code).toBe('NT_VALUE');
    expect(e.message).toMatch(/\[model\.forward\] 6 cached \+ 3 tokens exceed max_position_embeddings 8/);
    expect(errorOf(() => model.forward(new Array(9).fill(1))).message).toMatch(/9 tokens exceed max_position_embeddings 8/);
    const k = zeros([1, 2, 3, 4]);
    expect(errorOf(() => cache.append(0, k, k)).message).toMatch(/6 \+ 3 tokens exceed the cache limit of 8/);
    expect(errorOf(() => cache.append(0, zeros([1, 3, 1, 4]), k)).code).toBe('NT_SHAPE');
    expect(errorOf(() => cache.append(5, k, k)).code).toBe('NT_VALUE');
    expect(errorOf(() => cache.attend(0, zeros([1, 4, 7, 4]))).message).toMatch(/7 queries but only 6 tokens stored/);
    cache.dispose();
    expect(errorOf(() => cache.attend(0, zeros([1, 4, 1, 4]))).code).toBe('NT_DISPOSED');
    k.dispose();
    model.dispose();
  });

  test('forward validates ids', () => {
    const model = load(m.dir);
    expect(errorOf(() => model.forward([])).message).toMatch(/ids is empty/);
    expect(errorOf(() => model.forward([0, 19])).message).toMatch(/ids\[1\] = 19 is not a token id of this vocabulary \(0\.\.18\)/);
    expect(errorOf(() => model.forward([0.5])).code).toBe('NT_VALUE');
    expect(errorOf(() => model.forward('abc' as never)).code).toBe('NT_VALUE');
    model.dispose();
  });
});

describe('hooks', () => {
  let m: TinyModel;
  beforeAll(() => {
    m = writeTiny(fresh());
  });

  test('onLinearInput sees every decoder linear input exactly once per forward; q/k/v and gate/up share one input', () => {
    const model = load(m.dir);
    const seen: { name: string; x: Tensor; shape: number[]; sum: number }[] = [];
    const hooks: ModelHooks = {
      onLinearInput: (name, x) => seen.push({ name, x, shape: [...x.shape], sum: values(x).reduce((a, b) => a + b, 0) }),
    };
    model.forward(IDS, { hooks }).dispose();
    expect(seen.map((s) => s.name)).toEqual(model.linears());
    expect(model.linears()).toHaveLength(14);
    for (const s of seen) expect(s.shape).toEqual([IDS.length, model.getLinear(s.name).inFeatures]);
    for (let l = 0; l < 2; ++l) {
      const at = (suffix: string) => seen.find((s) => s.name === `model.layers.${l}.${suffix}`)!;
      expect(at('self_attn.k_proj').x).toBe(at('self_attn.q_proj').x);
      expect(at('self_attn.v_proj').x).toBe(at('self_attn.q_proj').x);
      expect(at('mlp.up_proj').x).toBe(at('mlp.gate_proj').x);
      expect(at('self_attn.o_proj').x).not.toBe(at('self_attn.q_proj').x);
    }
    // decode steps call the hooks for the new tokens only
    seen.length = 0;
    const cache = model.newCache();
    model.forward(IDS.slice(0, 4), { cache, hooks }).dispose();
    model.forward([1], { cache, hooks }).dispose();
    expect(seen.filter((s) => s.name.endsWith('q_proj')).map((s) => s.shape[0])).toEqual([4, 4, 1, 1]);
    cache.dispose();
    model.dispose();
  });

  test('onAttentionInputs gets q [1, hq, n, d] and k, v [1, hkv, n, d] after RoPE', () => {
    const model = load(m.dir);
    const shapes: number[][] = [];
    model.forward(IDS, { hooks: { onAttentionInputs: (l, q, k, v) => { expect([q, k, v].every((t) => t.isContiguous)).toBe(true); shapes.push([l, ...q.shape, ...k.shape, ...v.shape]); } } }).dispose();
    const n = IDS.length;
    expect(shapes).toEqual([
      [0, 1, 4, n, 4, 1, 2, n, 4, 1, 2, n, 4],
      [1, 1, 4, n, 4, 1, 2, n, 4, 1, 2, n, 4],
    ]);
    model.dispose();
  });

  test('an attention hook replaces softmax attention (undefined keeps the default)', () => {
    const model = load(m.dir);
    const plain = values(model.forward(IDS));
    const same = model.forward(IDS, { hooks: { attention: (_l, q, k, v) => dense(q, k, v) } });
    expect(maxAbsDiff(values(same), plain)).toBe(0);
    const dflt = model.forward(IDS, { hooks: { attention: () => undefined } });
    expect(maxAbsDiff(values(dflt), plain)).toBe(0);
    // attention output zeroed in layer 1: the logits change
    const zeroed = model.forward(IDS, { hooks: { attention: (l, q) => (l === 1 ? zeros(q.shape) : undefined) } });
    expect(maxAbsDiff(values(zeroed), plain)).toBeGreaterThan(1e-3);
    const bad = errorOf(() => model.forward(IDS, { hooks: { attention: () => zeros([1, 4, 2, 4]) } }));
    expect(bad.code).toBe('NT_SHAPE');
    expect(bad.message).toMatch(/attention of layer 0 must return \[1, 4, 11, 4\], got \[1,4,2,4\]/);
    const cache = model.newCache();
    expect(errorOf(() => model.forward(IDS, { cache, hooks: { attention: () => undefined } })).message).toMatch(/cannot be combined with a cache/);
    for (const t of [same, dflt, zeroed, cache]) t.dispose();
    model.dispose();
  });
});

describe('getLinear / setLinear', () => {
  let m: TinyModel;
  beforeAll(() => {
    m = writeTiny(fresh());
  });

  test('a swapped-in LinearLike is used (and the old one handed back)', () => {
    const model = load(m.dir);
    const plain = values(model.forward(IDS));
    const name = 'model.layers.1.mlp.down_proj';
    const old = model.getLinear(name) as DenseLinear;
    expect(old).toBeInstanceOf(DenseLinear);
    expect([old.inFeatures, old.outFeatures]).toEqual([24, 16]);
    expect(maxAbsDiff(values(old.weight), m.weights[`${name}.weight`])).toBe(0);
    let calls = 0;
    const wrapper: LinearLike = {
      inFeatures: 24,
      outFeatures: 16,
      forward: (x) => (++calls, old.forward(x)),
      dispose: () => undefined,
    };
    expect(model.setLinear(name, wrapper)).toBe(old);
    expect(model.getLinear(name)).toBe(wrapper);
    expect(maxAbsDiff(values(model.forward(IDS)), plain)).toBe(0);
    expect(calls).toBe(1);
    const halved = new DenseLinear(tensor(m.weights[`${name}.weight`].map((v) => v / 2), { shape: [16, 24], dtype: 'f32' }));
    model.setLinear(name, halved);
    expect(maxAbsDiff(values(model.forward(IDS)), plain)).toBeGreaterThan(1e-3);
    old.dispose();
    model.dispose();
    expect(halved.weight.isDisposed).toBe(true);
  });

  test('wrong shapes, unknown names and non-linears are refused', () => {
    const model = load(m.dir);
    const w = new DenseLinear(zeros([16, 16]));
    const e = errorOf(() => model.setLinear('model.layers.0.mlp.down_proj', w));
    expect(e.code).toBe('NT_SHAPE');
    expect(e.message).toMatch(/'model\.layers\.0\.mlp\.down_proj' maps 24 -> 16 features, the new linear 16 -> 16/);
    // lm_head is swappable too, with its own shape
    expect(errorOf(() => model.setLinear('lm_head', w)).message).toMatch(/'lm_head' maps 16 -> \d+ features, the new linear 16 -> 16/);
    expect(errorOf(() => model.setLinear('lm_head.weight', w)).code).toBe('NT_VALUE');
    expect(errorOf(() => model.getLinear('model.layers.9.self_attn.q_proj')).message).toMatch(/no linear named/);
    expect(errorOf(() => model.setLinear('model.layers.0.self_attn.o_proj', { inFeatures: 16, outFeatures: 16 } as never)).code).toBe('NT_VALUE');
    // a linear returning the wrong shape is caught at forward time
    model.setLinear('model.layers.0.self_attn.o_proj', { inFeatures: 16, outFeatures: 16, forward: () => zeros([1, 3]), dispose: () => undefined });
    const f = errorOf(() => model.forward(IDS));
    expect(f.code).toBe('NT_SHAPE');
    expect(f.message).toMatch(/linear 'model\.layers\.0\.self_attn\.o_proj' must return f32 \[11, 16\], got f32 \[1,3\]/);
    w.dispose();
    model.dispose();
  });
});

describe('loading errors name the file and tensor', () => {
  function folder(overrides: Record<string, unknown> = {}): string {
    return writeTiny(fresh(), overrides as never).dir;
  }
  function editConfig(dir: string, edit: (c: Record<string, unknown>) => void): void {
    const file = path.join(dir, 'config.json');
    const c = JSON.parse(fs.readFileSync(file, 'utf8'));
    edit(c);
    fs.writeFileSync(file, JSON.stringify(c));
  }

  test('missing folder, missing config.json, malformed JSON', () => {
    const none = path.join(tmp, 'nope');
    expect(errorOf(() => load(none))).toMatchObject({ code: 'NT_IO', message: expect.stringMatching(/\[model\.load\] .*nope: no such model folder/) });
    const dir = folder();
    fs.rmSync(path.join(dir, 'config.json'));
    expect(errorOf(() => load(dir))).toMatchObject({ code: 'NT_IO', message: expect.stringMatching(/config\.json: missing/) });
    fs.writeFileSync(path.join(dir, 'config.json'), '{"model_type": "llama",');
    expect(errorOf(() => load(dir))).toMatchObject({ code: 'NT_IO', message: expect.stringMatching(/config\.json: is not valid JSON/) });
    fs.writeFileSync(path.join(dir, 'config.json'), '[1, 2]');
    expect(errorOf(() => load(dir))).toMatchObject({ code: 'NT_IO', message: expect.stringMatching(/is not a JSON object/) });
    expect(errorOf(() => load(path.join(dir, 'model.safetensors'))).message).toMatch(/is not a folder/);
    expect(errorOf(() => load('' as never)).code).toBe('NT_VALUE');
  });

  test('bad config values', () => {
    const dir = folder();
    editConfig(dir, (c) => (c.hidden_size = -4));
    expect(errorOf(() => load(dir))).toMatchObject({ code: 'NT_IO', message: expect.stringMatching(/hidden_size must be a positive integer, got -4/) });
    editConfig(dir, (c) => ((c.hidden_size = 16), (c.num_key_value_heads = 3)));
    expect(errorOf(() => load(dir)).message).toMatch(/num_attention_heads \(4\) must be a multiple of num_key_value_heads \(3\)/);
  });

  test('unsupported architectures and features are NT_UNSUPPORTED', () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ model_type: 'gpt2', architectures: ['GPT2LMHeadModel'] }, /model_type "gpt2" \(GPT2LMHeadModel\) is not a LLaMA-family model/],
      [{ hidden_act: 'gelu' }, /hidden_act "gelu" is not supported/],
      [{ rope_scaling: { rope_type: 'longrope', factor: 4 } }, /rope_type "longrope" is not supported/],
      [{ partial_rotary_factor: 0.5 }, /partial_rotary_factor = 0.5 is not supported/],
    ];
    for (const [over, re] of cases) {
      const e = errorOf(() => load(folder(over)));
      expect(e.code).toBe('NT_UNSUPPORTED');
      expect(e.message).toMatch(re);
    }
    expect(errorOf(() => load(folder(), { dtype: 'i8' as never })).code).toBe('NT_DTYPE');
  });

  test('missing weights file, missing tensor, wrong shape, integer tensor', () => {
    const dir = folder();
    const file = path.join(dir, 'model.safetensors');
    const shapes = tinyShapes({ ...TINY });
    const tensors: Record<string, Tensor> = {};
    for (const [n, s] of Object.entries(shapes)) tensors[n] = zeros(s);
    const write = () => saveSafetensors(file, tensors);

    tensors['model.layers.1.mlp.up_proj.weight'].dispose();
    delete tensors['model.layers.1.mlp.up_proj.weight'];
    write();
    expect(errorOf(() => load(dir))).toMatchObject({ code: 'NT_IO', message: expect.stringMatching(/model\.safetensors: tensor 'model\.layers\.1\.mlp\.up_proj\.weight' is missing/) });

    tensors['model.layers.1.mlp.up_proj.weight'] = zeros([24, 15]);
    write();
    expect(errorOf(() => load(dir))).toMatchObject({
      code: 'NT_SHAPE',
      message: expect.stringMatching(/model\.safetensors: tensor 'model\.layers\.1\.mlp\.up_proj\.weight' has shape \[24, 15\], config\.json implies \[24, 16\]/),
    });

    tensors['model.layers.1.mlp.up_proj.weight'].dispose();
    tensors['model.layers.1.mlp.up_proj.weight'] = zeros([24, 16], 'i32');
    write();
    expect(errorOf(() => load(dir))).toMatchObject({ code: 'NT_DTYPE', message: expect.stringMatching(/'model\.layers\.1\.mlp\.up_proj\.weight' is I32/) });

    tensors['lm_head.weight'].dispose();
    delete tensors['lm_head.weight'];
    tensors['model.layers.1.mlp.up_proj.weight'].dispose();
    tensors['model.layers.1.mlp.up_proj.weight'] = zeros([24, 16]);
    write();
    expect(errorOf(() => load(dir)).message).toMatch(/'lm_head\.weight' is missing .*tie_word_embeddings = false/);
    for (const t of Object.values(tensors)) t.dispose();

    fs.writeFileSync(file, 'not a safetensors file');
    expect(errorOf(() => load(dir)).code).toBe('NT_IO');
    fs.rmSync(file);
    expect(errorOf(() => load(dir))).toMatchObject({ code: 'NT_IO', message: expect.stringMatching(/neither model\.safetensors nor model\.safetensors\.index\.json/) });
  });

  test('a broken shard index', async () => {
    const m = writeTiny(fresh(), {}, { shards: 2 });
    const index = path.join(m.dir, 'model.safetensors.index.json');
    fs.writeFileSync(index, '{"weight_map": {"model.norm.weight": "../x.safetensors"}}');
    expect(errorOf(() => load(m.dir)).message).toMatch(/names shard '\.\.\/x\.safetensors' outside its folder/);
    fs.writeFileSync(index, '{');
    expect(errorOf(() => load(m.dir)).message).toMatch(/model\.safetensors\.index\.json: is not valid JSON/);
    expect((await asyncErrorOf(loadAsync(m.dir))).code).toBe('NT_IO');
  });
});

describe('disposal', () => {
  test('dispose releases every tensor (memory back to baseline) and later use is NT_DISPOSED', () => {
    const m = writeTiny(fresh(), { tie_word_embeddings: true });
    const base = memory();
    const model = load(m.dir);
    expect(memory().tensors).toBeGreaterThan(base.tensors);
    const cache = model.newCache();
    model.forward(IDS, { cache }).dispose();
    model.forward([4], { cache, lastOnly: true }).dispose();
    model.hidden(IDS).dispose();
    model.generate(IDS, { maxNewTokens: 5, temperature: 1, seed: 3 });
    model.perplexity(IDS, { window: 4 });
    cache.dispose();
    model.dispose();
    model.dispose();
    expect(memory()).toEqual(base);
    expect(errorOf(() => model.forward(IDS))).toMatchObject({ code: 'NT_DISPOSED', message: '[model.forward] the model was disposed' });
    expect(errorOf(() => model.linears()).code).toBe('NT_DISPOSED');
  });

  test('a failed forward leaks nothing', () => {
    const m = writeTiny(fresh());
    const model = load(m.dir);
    const base = memory();
    errorOf(() => model.forward(IDS, { hooks: { attention: () => zeros([1]) } }));
    // the hook's own zeros([1]) is disposed by the model too
    expect(memory()).toEqual(base);
    model.dispose();
  });
});

test('randomTensor helper is seeded (sanity of the reference inputs)', () => {
  const a = randomTensor([3], 'f32', 5);
  const b = randomTensor([3], 'f32', 5);
  expect(values(a)).toEqual(values(b));
  a.dispose();
  b.dispose();
});

describe('perplexity and generation on a tiny model', () => {
  let m: TinyModel;
  beforeAll(() => {
    m = writeTiny(fresh(), { max_position_embeddings: 32 });
  });
  const ids = Array.from({ length: 50 }, (_, i) => (i * i + 3 * i) % 19);

  /** NLL of ids[1..] over windows predicting ids[s+1..s+w] from ids[s..s+w-1], in float64 from the reference logits. */
  function referenceNll(window: number): { nll: number; count: number } {
    let nll = 0;
    let count = 0;
    for (let s = 0; s + 1 < ids.length; s += window) {
      const e = Math.min(s + window, ids.length - 1);
      const logits = referenceLogits(m, ids.slice(s, e));
      for (let r = 0; r < e - s; ++r) {
        const row = logits.subarray(r * 19, (r + 1) * 19);
        const mx = Math.max(...row);
        const lse = mx + Math.log(row.reduce((z, v) => z + Math.exp(v - mx), 0));
        nll += lse - row[ids[s + r + 1]];
        ++count;
      }
    }
    return { nll: nll / count, count };
  }

  test.each([1, 7, 16, 32])('window %d: non-overlapping windows, every token but the first predicted once', (window) => {
    const model = load(m.dir);
    const ticks: number[] = [];
    const p = model.perplexity(ids, { window, batchSize: 1, onProgress: (d) => ticks.push(d) });
    const want = referenceNll(window);
    expect(p.tokens).toBe(49);
    expect(want.count).toBe(49);
    expect(Math.abs(p.nllPerToken - want.nll)).toBeLessThanOrEqual(1e-5);
    expect(p.ppl).toBeCloseTo(Math.exp(want.nll), 4);
    expect(ticks).toEqual(Array.from({ length: Math.ceil(49 / window) }, (_, i) => i + 1));
    // batched windows (the last one shorter): the same NLL, progress per batch
    const batchTicks: number[] = [];
    const b = model.perplexity(ids, { window, batchSize: 3, onProgress: (d) => batchTicks.push(d) });
    expect(Math.abs(b.nllPerToken - p.nllPerToken)).toBeLessThanOrEqual(1e-12 + 1e-7 * Math.abs(p.nllPerToken));
    const windows = Math.ceil(49 / window);
    expect(batchTicks).toEqual(Array.from({ length: Math.ceil(windows / 3) }, (_, i) => Math.min(3 * (i + 1), windows)));
    model.dispose();
  });

  test('the window changes the result (context matters) and is validated', () => {
    const model = load(m.dir);
    expect(model.perplexity(ids, { window: 1 }).nllPerToken).not.toBeCloseTo(model.perplexity(ids, { window: 16 }).nllPerToken, 3);
    expect(model.perplexity(ids.slice(0, 20)).tokens).toBe(19); // default window (31) covers it in one
    for (const window of [0, 33, 2.5]) expect(errorOf(() => model.perplexity(ids, { window })).message).toMatch(/window must be an integer in \[1, 32\]/);
    expect(errorOf(() => model.perplexity([1])).message).toMatch(/needs at least 2 tokens/);
    model.dispose();
  });

  test('generation stops at eos_token_id and checks its options', () => {
    const model = load(m.dir);
    const free = model.generate([1, 2, 3], { maxNewTokens: 6 });
    model.dispose();
    const cfgFile = path.join(m.dir, 'config.json');
    const cfg = JSON.parse(fs.readFileSync(cfgFile, 'utf8'));
    fs.writeFileSync(cfgFile, JSON.stringify({ ...cfg, eos_token_id: [free[2], 99] }));
    const withEos = load(m.dir);
    expect(withEos.config.eosTokenIds).toEqual([free[2], 99]);
    expect(withEos.generate([1, 2, 3], { maxNewTokens: 6 })).toEqual(free.slice(0, free.indexOf(free[2]) + 1));
    expect(withEos.generate([1, 2, 3], { maxNewTokens: 6, stopAtEos: false })).toEqual(free);
    const bad: [object, RegExp][] = [
      [{ maxNewTokens: -1 }, /maxNewTokens must be an integer >= 0/],
      [{ maxNewTokens: 2, temperature: -1 }, /temperature must be a finite number >= 0/],
      [{ maxNewTokens: 2, topK: 0 }, /topK must be an integer >= 1/],
      [{ maxNewTokens: 2, seed: 1.5 }, /seed must be an integer/],
      [{ maxNewTokens: 31 }, /prompt \(3\) \+ maxNewTokens \(31\) exceed max_position_embeddings 32/],
    ];
    for (const [o, re] of bad) expect(errorOf(() => withEos.generate([1, 2, 3], o as never))).toMatchObject({ code: 'NT_VALUE', message: expect.stringMatching(re) });
    expect(withEos.generate([1, 2, 3], { maxNewTokens: 30, stopAtEos: false })).toHaveLength(30);
    fs.writeFileSync(cfgFile, JSON.stringify(cfg));
    withEos.dispose();
  });
});
