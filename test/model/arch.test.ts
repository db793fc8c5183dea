// Every architecture nt.model.load runs, against transformers 5.18 itself: tiny random
// checkpoints (fixtures/arch, made by scripts/fixtures/make_arch_fixtures.py) with the
// logits transformers computed in f32 (eager attention), each loaded with the config.json
// transformers 5 saved and with the transformers-4 spelling of the same config.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { tensor } from '../../lib/creation';
import { loadSafetensors, saveSafetensors } from '../../lib/io';
import { loadNpy } from '../../lib/io/npy';
import { saveCompressed } from '../../lib/llm/export';
import { compressModel } from '../../lib/llm/compress';
import { DenseLinear, QuantLinear, load, loadAsync } from '../../lib/model';
import type { LlamaModel } from '../../lib/model/model';
import { toGptq } from '../../lib/quant/gptq-format';
import { quantize } from '../../lib/quant/quantize';
import { memory, Tensor } from '../../lib/tensor';
import { PACKAGE_ROOT } from '../../lib/native/loader';
import { errorOf, maxAbsDiff, values } from './helpers';

const ARCH = path.join(PACKAGE_ROOT, 'fixtures', 'arch');
/** Tolerances (absolute, on logits of magnitude up to ~40). */
const TOL = {
  /** our f32 forward vs transformers' f32 forward: a different order of f32 roundings. */
  logits: 1e-4,
  /** reloaded GPTQ folder vs the quantized model it was saved from (scales stored in f16 or f32). */
  gptqReload: 1e-4,
};
/** Prefill length of the fixtures' decode reference (make_arch_fixtures.py PREFILL). */
const PREFILL = 10;

/** name -> what it covers (fixtures/arch/README.md). */
const FIXTURES: Record<string, string> = {
  llama: 'llama, default rope',
  llama3: 'llama3 rope scaling, theta 500000, explicit head_dim, tied embeddings',
  linear: 'linear rope scaling, attention_bias and mlp_bias',
  dynamic: 'dynamic NTK rope past max_position_embeddings',
  yarn: 'yarn rope (frequency ramp and attention factor)',
  'yarn-mscale': 'yarn rope with betas, truncate false and the mscale ratio',
  mistral: 'mistral, sliding window 8',
  qwen2: 'qwen2, q/k/v biases',
  'qwen2-sw': 'qwen2, biases and a sliding window on layer 1',
  qwen3: 'qwen3, q/k RMSNorm',
  phi3: 'phi3, fused qkv_proj and gate_up_proj',
};
const STYLES = ['transformers 5', 'transformers 4'] as const;
type Style = (typeof STYLES)[number];
type Cfg = Record<string, unknown>;

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ntensor-arch-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** The fixture folder as transformers 5 saved it, or a copy with its transformers-4 config.json. */
function folder(name: string, style: Style): string {
  const src = path.join(ARCH, name);
  if (style === 'transformers 5') return src;
  const dir = path.join(tmp, `${name}-v4`);
  if (!fs.existsSync(dir)) {
    fs.mkdirSync(dir);
    fs.copyFileSync(path.join(src, 'model.safetensors'), path.join(dir, 'model.safetensors'));
    fs.copyFileSync(path.join(src, 'config.v4.json'), path.join(dir, 'config.json'));
  }
  return dir;
}

function npy(name: string, file: string): Float64Array | Int32Array {
  const t = loadNpy(path.join(ARCH, name, file));
  try {
    return t.dtype === 'i32' ? (t.data as Int32Array).slice() : values(t);
  } finally {
    t.dispose();
  }
}

function logitsOf(model: LlamaModel, ids: Int32Array): Float64Array {
  const t = model.forward(ids);
  try {
    return values(t);
  } finally {
    t.dispose();
  }
}

/** Prefill of ids[0, PREFILL), then one id at a time through the model's cache: the rows stacked. */
function decodeLogits(model: LlamaModel, ids: Int32Array): Float64Array {
  const cache = model.newCache();
  const rows: Float64Array[] = [];
  try {
    for (let s = 0; s < ids.length; s = s === 0 ? PREFILL : s + 1) {
      const t = model.forward(ids.subarray(s, s === 0 ? PREFILL : s + 1), { cache });
      rows.push(values(t));
      t.dispose();
    }
  } finally {
    cache.dispose();
  }
  const out = new Float64Array(rows.reduce((n, r) => n + r.length, 0));
  let at = 0;
  for (const r of rows) out.set(r, (at += r.length) - r.length);
  return out;
}

describe.each(Object.keys(FIXTURES))('%s', (name) => {
  const ids = npy(name, 'ids.npy') as Int32Array;

  test.each(STYLES)(`${FIXTURES[name]}: logits equal transformers' to 1e-4 (%s config.json)`, (style) => {
    const base = memory().bytes;
    const model = load(folder(name, style));
    const got = logitsOf(model, ids);
    const want = npy(name, 'logits.npy');
    expect(got.length).toBe(want.length);
    expect(maxAbsDiff(got, want)).toBeLessThanOrEqual(TOL.logits);
    model.dispose();
    expect(memory().bytes).toBe(base);
  });

  test.each(STYLES)(`${FIXTURES[name]}: cached decode equals transformers' incremental decode to 1e-4 (%s config.json)`, (style) => {
    const model = load(folder(name, style));
    expect(maxAbsDiff(decodeLogits(model, ids), npy(name, 'decode_logits.npy'))).toBeLessThanOrEqual(TOL.logits);
    model.dispose();
  });

  test('both config styles parse to the same ModelConfig', () => {
    const a = load(folder(name, 'transformers 5'));
    const b = load(folder(name, 'transformers 4'));
    expect(b.config).toEqual(a.config);
    a.dispose();
    b.dispose();
  });
});

describe('architecture specifics', () => {
  // without the feature the same weights give other logits, so the comparisons above are not vacuous
  test.each([
    ['llama3', 'rope type default', (c: Cfg) => (c.rope_parameters = { rope_type: 'default', rope_theta: 500000 })],
    ['linear', 'rope type default', (c: Cfg) => (c.rope_parameters = { rope_type: 'default', rope_theta: 10000 })],
    ['dynamic', 'rope type default, max_position_embeddings 32', (c: Cfg) => ((c.rope_parameters = { rope_type: 'default', rope_theta: 10000 }), (c.max_position_embeddings = 32))],
    ['yarn', 'rope type default', (c: Cfg) => (c.rope_parameters = { rope_type: 'default', rope_theta: 10000 })],
    ['yarn', "yarn's attention factor 1", (c: Cfg) => ((c.rope_parameters as Cfg).attention_factor = 1)],
    ['yarn-mscale', 'mscale and mscale_all_dim removed', (c: Cfg) => (delete (c.rope_parameters as Cfg).mscale, delete (c.rope_parameters as Cfg).mscale_all_dim)],
    ['yarn-mscale', 'truncate true', (c: Cfg) => ((c.rope_parameters as Cfg).truncate = true)],
    ['mistral', 'no sliding window', (c: Cfg) => (c.sliding_window = null)],
    ['qwen2-sw', 'no sliding window', (c: Cfg) => ((c.use_sliding_window = false), (c.layer_types = ['full_attention', 'full_attention']))],
    ['qwen3', 'no q/k norm (read as a llama)', (c: Cfg) => (c.model_type = 'llama')],
  ])('%s with %s differs from transformers by > 1e-2', (name, _what, edit) => {
    const dir = path.join(tmp, `${name}-without-${_what.replace(/\W+/g, '-')}`);
    fs.mkdirSync(dir);
    fs.copyFileSync(path.join(ARCH, name, 'model.safetensors'), path.join(dir, 'model.safetensors'));
    const cfg = JSON.parse(fs.readFileSync(path.join(ARCH, name, 'config.json'), 'utf8')) as Cfg;
    edit(cfg);
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(cfg));
    const warn = jest.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    let model;
    let calls: unknown[][];
    try {
      model = load(dir);
    } finally {
      calls = [...warn.mock.calls];
      warn.mockRestore();
    }
    // read as a llama, Qwen3's q/k norms go unused: reported, not dropped silently
    const unused = calls.filter((c) => (c[1] as { code?: string } | undefined)?.code === 'NT_UNUSED_TENSORS');
    expect(unused.map((c) => /q_norm/.test(String(c[0])))).toEqual(name === 'qwen3' ? [true] : []);
    expect(maxAbsDiff(logitsOf(model, npy(name, 'ids.npy') as Int32Array), npy(name, 'logits.npy'))).toBeGreaterThan(1e-2);
    model.dispose();
  });

  test('the dynamic fixture reaches past max_position_embeddings, so the stretched base matters', () => {
    const cfg = JSON.parse(fs.readFileSync(path.join(ARCH, 'dynamic', 'config.json'), 'utf8'));
    expect((npy('dynamic', 'ids.npy') as Int32Array).length).toBeGreaterThan(cfg.max_position_embeddings);
    const model = load(folder('dynamic', 'transformers 5'));
    expect(model.config.ropeScaling).toEqual({ type: 'dynamic', factor: 2, originalMaxPositionEmbeddings: 16 });
    expect(model.config.maxPositionEmbeddings).toBe(32);
    model.dispose();
  });

  test('qwen2 and qwen2-sw: q/k/v carry biases, o_proj none; qwen2-sw windows layer 1 only', () => {
    const model = load(folder('qwen2-sw', 'transformers 5'));
    const lin = (s: string) => model.getLinear(`model.layers.0.${s}`) as DenseLinear;
    for (const s of ['self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj']) expect(lin(s).bias?.shape).toEqual([lin(s).outFeatures]);
    for (const s of ['self_attn.o_proj', 'mlp.gate_proj', 'mlp.up_proj', 'mlp.down_proj']) expect(lin(s).bias).toBeNull();
    expect(model.config.slidingWindows).toEqual([null, 8]);
    model.dispose();
  });

  test('linear (llama attention_bias + mlp_bias): every decoder linear carries a bias; forwardAsync adds them on workers, equal to forward', async () => {
    const model = await loadAsync(folder('linear', 'transformers 4'));
    for (const n of model.linears()) expect((model.getLinear(n) as DenseLinear).bias).not.toBeNull();
    const ids = npy('linear', 'ids.npy') as Int32Array;
    const t = await model.forwardAsync(ids);
    expect(maxAbsDiff(values(t), logitsOf(model, ids))).toBe(0);
    t.dispose();
    model.dispose();
  });

  test("phi3: qkv_proj and gate_up_proj load as views under LLaMA's names, rows q|k|v and gate|up", () => {
    const base = memory().bytes;
    const model = load(folder('phi3', 'transformers 5'), { dtype: 'f32' });
    const names = model.linears().filter((n) => n.startsWith('model.layers.0.'));
    expect(names.map((n) => n.slice('model.layers.0.'.length))).toEqual([
      'self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj', 'self_attn.o_proj', 'mlp.gate_proj', 'mlp.up_proj', 'mlp.down_proj',
    ]);
    const w = (n: string) => (model.getLinear(`model.layers.1.${n}`) as DenseLinear).weight;
    const { numHeads: hq, numKvHeads: hkv, headDim: d, intermediateSize: I, hiddenSize: H } = model.config;
    expect([w('self_attn.q_proj').shape, w('self_attn.k_proj').shape, w('self_attn.v_proj').shape]).toEqual([[hq * d, H], [hkv * d, H], [hkv * d, H]]);
    expect([w('mlp.gate_proj').shape, w('mlp.up_proj').shape]).toEqual([[I, H], [I, H]]);
    // the views are consecutive row ranges of one stored matrix
    const qkv = [...values(w('self_attn.q_proj')), ...values(w('self_attn.k_proj')), ...values(w('self_attn.v_proj'))];
    const raw = loadSafetensors(path.join(ARCH, 'phi3'), { names: ['model.layers.1.self_attn.qkv_proj.weight', 'model.layers.1.mlp.gate_up_proj.weight'] });
    expect(maxAbsDiff(qkv, values(raw['model.layers.1.self_attn.qkv_proj.weight']))).toBe(0);
    expect(maxAbsDiff([...values(w('mlp.gate_proj')), ...values(w('mlp.up_proj'))], values(raw['model.layers.1.mlp.gate_up_proj.weight']))).toBe(0);
    for (const t of Object.values(raw)) t.dispose();
    // replacing one view leaves its siblings intact; dispose releases the shared storage
    model.setLinear('model.layers.1.self_attn.q_proj', new DenseLinear(tensor(new Float32Array(hq * d * H), { shape: [hq * d, H] }))).dispose();
    expect(maxAbsDiff(values(w('self_attn.k_proj')), qkv.slice(hq * d * H, (hq + hkv) * d * H))).toBe(0);
    model.dispose();
    expect(memory().bytes).toBe(base);
  });
});

describe('GPTQ folders of these architectures (saveCompressed, then nt.model.load)', () => {
  test.each([
    ['qwen2', 6],
    ['qwen3', 0],
    ['linear', 14],
  ] as const)('%s (%d biased linears): the reloaded int4 folder gives the logits of the quantized model it was saved from', (name, biasCount) => {
    const base = memory().bytes;
    const model = load(folder(name, 'transformers 5'), { dtype: 'f32' });
    const biased = model.linears().filter((n) => (model.getLinear(n) as DenseLinear).bias !== null);
    expect(biased.length).toBe(biasCount);
    for (const n of model.linears()) {
      const old = model.getLinear(n) as DenseLinear;
      const bias = old.bias ? tensor(Float32Array.from(old.bias.data as Float32Array), { shape: old.bias.shape.slice() }) : null;
      model.setLinear(n, new QuantLinear(quantize(old.weight, { bits: 4, groupSize: 32 }), { bias })).dispose();
    }
    const ids = npy(name, 'ids.npy') as Int32Array;
    const inMemory = logitsOf(model, ids);
    // quantization moved the logits, so the comparison below is not vacuous
    expect(maxAbsDiff(inMemory, npy(name, 'logits.npy'))).toBeGreaterThan(1e-2);
    const out = path.join(tmp, `${name}-gptq`);
    expect(saveCompressed(model, out).quantizedLinears).toBe(model.linears().length);
    model.dispose();
    const reloaded = load(out);
    expect(reloaded.config.quantization).toMatchObject({ bits: 4, groupSize: 32 });
    for (const n of reloaded.linears()) expect(reloaded.getLinear(n)).toBeInstanceOf(QuantLinear);
    expect(reloaded.linears().filter((n) => (reloaded.getLinear(n) as QuantLinear).bias !== null)).toEqual(biased);
    expect(maxAbsDiff(logitsOf(reloaded, ids), inMemory)).toBeLessThanOrEqual(TOL.gptqReload);
    reloaded.dispose();
    expect(memory().bytes).toBe(base);
  });
});

test("phi3 through saveCompressed: int4 or dense (pruned) parts are written back fused as the loader reads them; mixed parts are refused", () => {
  const base = memory().bytes;
  const ids = npy('phi3', 'ids.npy') as Int32Array;
  const cases: [string, (n: string, w: Tensor) => DenseLinear | QuantLinear][] = [
    ['int4', (_n, w) => new QuantLinear(quantize(w, { bits: 4, groupSize: 32 }))],
    // a dense change the reload must carry (the source's fused matrices must not come back)
    ['dense', (_n, w) => new DenseLinear(tensor(Float32Array.from(w.data as Float32Array, (v, i) => (i % 3 === 0 ? 0 : v)), { shape: w.shape.slice() }))],
  ];
  for (const [kind, make] of cases) {
    const model = load(folder('phi3', 'transformers 5'), { dtype: 'f32' });
    for (const n of model.linears()) model.setLinear(n, make(n, (model.getLinear(n) as DenseLinear).weight)).dispose();
    const inMemory = logitsOf(model, ids);
    expect(maxAbsDiff(inMemory, npy('phi3', 'logits.npy'))).toBeGreaterThan(1e-2);
    const out = path.join(tmp, `phi3-saved-${kind}`);
    saveCompressed(model, out);
    model.dispose();
    const reloaded = load(out, { dtype: 'f32' });
    expect(maxAbsDiff(logitsOf(reloaded, ids), inMemory)).toBeLessThanOrEqual(TOL.gptqReload);
    reloaded.dispose();
  }
  const model = load(folder('phi3', 'transformers 5'), { dtype: 'f32' });
  const q = 'model.layers.0.self_attn.q_proj';
  model.setLinear(q, new QuantLinear(quantize((model.getLinear(q) as DenseLinear).weight, { bits: 4, groupSize: 32 }))).dispose();
  const e = errorOf(() => saveCompressed(model, path.join(tmp, 'phi3-mixed')));
  expect(e.code).toBe('NT_UNSUPPORTED');
  expect(e.message).toMatch(/qkv_proj: its parts \(q_proj, k_proj, v_proj\) must all be int4 or all dense/);
  model.dispose();
  expect(memory().bytes).toBe(base);
});

test('compressModel keeps the biases of biased linears (qwen2 q/k/v): logits equal a hand-quantized model with the same biases', () => {
  const base = memory().bytes;
  const ids = npy('qwen2', 'ids.npy') as Int32Array;
  const model = load(folder('qwen2', 'transformers 5'), { dtype: 'f32' });
  const byHand = load(folder('qwen2', 'transformers 5'), { dtype: 'f32' });
  compressModel(model, { bits: 4, groupSize: 32, method: 'none', calibration: Array.from(ids) });
  let biased = 0;
  for (const n of byHand.linears()) {
    const old = byHand.getLinear(n) as DenseLinear;
    const lin = model.getLinear(n) as QuantLinear;
    expect(lin).toBeInstanceOf(QuantLinear);
    if (old.bias) {
      ++biased;
      expect(Array.from(values(lin.bias!))).toEqual(Array.from(values(old.bias)));
    } else expect(lin.bias).toBeNull();
    const bias = old.bias ? old.bias.clone() : null;
    byHand.setLinear(n, new QuantLinear(quantize(old.weight, { bits: 4, groupSize: 32 }), { bias })).dispose();
  }
  expect(biased).toBe(6);
  expect(maxAbsDiff(logitsOf(model, ids), logitsOf(byHand, ids))).toBe(0);
  model.dispose();
  byHand.dispose();
  expect(memory().bytes).toBe(base);
});

/** Column-wise concatenation of contiguous 2-D tensors (GPTQ tensors of fused linears run along out features by column). */
function concatColumns(parts: Tensor[]): Tensor {
  const R = parts[0].shape[0];
  const C = parts.reduce((n, t) => n + t.shape[1], 0);
  const Ctor = parts[0].data.constructor as new (n: number) => Int32Array;
  const out = new Ctor(R * C);
  for (let r = 0, at = 0; r < R; ++r)
    for (const t of parts) {
      const c = t.shape[1];
      out.set((t.data as Int32Array).subarray(r * c, (r + 1) * c), at);
      at += c;
    }
  return tensor(out, { shape: [R, C], dtype: parts[0].dtype });
}

test('phi3: a GPTQ folder with fused qkv_proj / gate_up_proj (as AutoGPTQ writes them) loads, split by columns, to the logits of the quantized model', () => {
  const base = memory().bytes;
  const model = load(folder('phi3', 'transformers 5'), { dtype: 'f32' });
  for (const n of model.linears())
    model.setLinear(n, new QuantLinear(quantize((model.getLinear(n) as DenseLinear).weight, { bits: 4, groupSize: 32 }))).dispose();
  const ids = npy('phi3', 'ids.npy') as Int32Array;
  const inMemory = logitsOf(model, ids);
  const tensors: Record<string, Tensor> = loadSafetensors(path.join(ARCH, 'phi3'), { dtype: 'f32' });
  const gptq = (n: string) => toGptq((model.getLinear(n) as QuantLinear).q);
  for (let l = 0; l < model.config.numLayers; ++l) {
    const p = `model.layers.${l}.`;
    for (const [fused, parts] of [
      ['self_attn.qkv_proj', ['self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj']],
      ['mlp.gate_up_proj', ['mlp.gate_proj', 'mlp.up_proj']],
      ['self_attn.o_proj', ['self_attn.o_proj']],
      ['mlp.down_proj', ['mlp.down_proj']],
    ] as const) {
      const g = parts.map((s) => gptq(p + s));
      tensors[`${p + fused}.weight`].dispose();
      delete tensors[`${p + fused}.weight`];
      for (const k of ['qweight', 'qzeros', 'scales'] as const) tensors[`${p + fused}.${k}`] = concatColumns(g.map((x) => x[k]));
      tensors[`${p + fused}.g_idx`] = g[0].g_idx.clone();
      for (const x of g) for (const t of Object.values(x)) t.dispose();
    }
  }
  const dir = path.join(tmp, 'phi3-gptq-fused');
  fs.mkdirSync(dir);
  saveSafetensors(path.join(dir, 'model.safetensors'), tensors);
  for (const t of Object.values(tensors)) t.dispose();
  const cfg = JSON.parse(fs.readFileSync(path.join(ARCH, 'phi3', 'config.json'), 'utf8'));
  cfg.quantization_config = { quant_method: 'gptq', bits: 4, group_size: 32, sym: true, desc_act: false };
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(cfg));
  model.dispose();
  const reloaded = load(dir);
  expect(reloaded.linears().filter((n) => n.startsWith('model.layers.0.')).map((n) => n.slice(15))).toEqual([
    'self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj', 'self_attn.o_proj', 'mlp.gate_proj', 'mlp.up_proj', 'mlp.down_proj',
  ]);
  for (const n of reloaded.linears()) expect(reloaded.getLinear(n)).toBeInstanceOf(QuantLinear);
  expect(maxAbsDiff(logitsOf(reloaded, ids), inMemory)).toBeLessThanOrEqual(TOL.gptqReload);
  expect(maxAbsDiff(inMemory, npy('phi3', 'logits.npy'))).toBeGreaterThan(1e-2);
  reloaded.dispose();
  expect(memory().bytes).toBe(base);
});

describe('loading errors of the new tensors', () => {
  /** A copy of a fixture with some tensors dropped, renamed or reshaped, and config edits. */
  function broken(name: string, edit: (t: Record<string, Tensor>) => void, cfgEdit: (c: Cfg) => void = () => {}): string {
    const dir = fs.mkdtempSync(path.join(tmp, `${name}-broken-`));
    const t = loadSafetensors(path.join(ARCH, name), { dtype: 'f32' });
    try {
      edit(t);
      saveSafetensors(path.join(dir, 'model.safetensors'), t);
    } finally {
      for (const x of Object.values(t)) x.dispose();
    }
    const cfg = JSON.parse(fs.readFileSync(path.join(ARCH, name, 'config.json'), 'utf8')) as Cfg;
    cfgEdit(cfg);
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(cfg));
    return dir;
  }
  const drop = (n: string) => (t: Record<string, Tensor>) => {
    t[n].dispose();
    delete t[n];
  };

  test.each([
    ['qwen2', 'model.layers.1.self_attn.k_proj.bias'],
    ['linear', 'model.layers.0.mlp.down_proj.bias'],
    ['qwen3', 'model.layers.1.self_attn.q_norm.weight'],
    ['phi3', 'model.layers.0.self_attn.qkv_proj.weight'],
    ['phi3', 'model.layers.1.mlp.gate_up_proj.weight'],
  ])('%s without %s: NT_IO naming the tensor, nothing leaked', (name, tensorName) => {
    const dir = broken(name, drop(tensorName));
    const base = memory().bytes;
    const e = errorOf(() => load(dir));
    expect(e.code).toBe('NT_IO');
    expect(e.message).toContain(`tensor '${tensorName}' is missing`);
    expect(memory().bytes).toBe(base);
  });

  test('a bias or fused matrix of the wrong shape is NT_SHAPE', () => {
    const reshape = (n: string, shape: number[]) => (t: Record<string, Tensor>) => {
      const old = t[n];
      t[n] = tensor(new Float32Array(shape.reduce((a, b) => a * b, 1)), { shape });
      old.dispose();
    };
    let e = errorOf(() => load(broken('qwen2', reshape('model.layers.0.self_attn.q_proj.bias', [63]))));
    expect(e).toMatchObject({ code: 'NT_SHAPE', message: expect.stringMatching(/'model\.layers\.0\.self_attn\.q_proj\.bias' has shape \[63\], config\.json implies \[64\]/) });
    e = errorOf(() => load(broken('phi3', reshape('model.layers.0.self_attn.qkv_proj.weight', [64 * 3, 64]))));
    expect(e).toMatchObject({ code: 'NT_SHAPE', message: expect.stringMatching(/qkv_proj\.weight' has shape \[192, 64\], config\.json implies \[128, 64\]/) });
  });

  test('a GPTQ phi3 folder whose fused split falls inside a packed qzeros word is NT_UNSUPPORTED', () => {
    // head_dim 12 at 3 bits: q ends at row 48, bit 144 of a qzeros row, mid-word
    const dir = broken('phi3', () => {}, (c) => ((c.head_dim = 12), (c.quantization_config = { quant_method: 'gptq', bits: 3, group_size: 32 })));
    expect(errorOf(() => load(dir))).toMatchObject({
      code: 'NT_UNSUPPORTED',
      message: expect.stringMatching(/'model\.layers\.0\.self_attn\.qkv_proj' splits at row 48, inside a packed 3-bit qzeros word: its GPTQ tensors cannot be split into q_proj, k_proj, v_proj/),
    });
  });

  test('DenseLinear and QuantLinear check their bias: f32 [out], a Tensor, owned (disposed with the layer)', () => {
    const base = memory().bytes;
    const temps: Tensor[] = [];
    const t = (data: number[] | Float32Array, shape: number[], dtype?: 'f16') => {
      const x = tensor(Float32Array.from(data), { shape, dtype });
      temps.push(x);
      return x;
    };
    const xs = [1, 2, 3, 4, -1, 0, 1, 0.5];
    const x = t(xs, [2, 4]);
    const lin = new DenseLinear(tensor(new Float32Array(12).map((_, i) => i - 5), { shape: [3, 4] }), tensor(new Float32Array([0.5, -1, 2]), { shape: [3] }));
    // y = x Wᵀ + b, by hand
    const want = [0, 1].flatMap((r) => [0, 1, 2].map((o) => [0, 1, 2, 3].reduce((s, k) => s + xs[r * 4 + k] * (o * 4 + k - 5), 0) + [0.5, -1, 2][o]));
    const y = lin.forward(x);
    expect(maxAbsDiff(values(y), want)).toBeLessThanOrEqual(1e-6);
    y.dispose();
    const w2 = t(new Float32Array(12), [3, 4]);
    expect(errorOf(() => new DenseLinear(w2, t([0, 0, 0, 0], [4])))).toMatchObject({ code: 'NT_SHAPE', message: expect.stringMatching(/\[DenseLinear\] bias must be \[3\] \(out features\), got \[4\]/) });
    expect(errorOf(() => new DenseLinear(w2, t([0, 0, 0], [3], 'f16')))).toMatchObject({ code: 'NT_DTYPE', message: expect.stringMatching(/bias must be f32/) });
    expect(errorOf(() => new DenseLinear(w2, [1, 2, 3] as never))).toMatchObject({ code: 'NT_VALUE', message: expect.stringMatching(/bias must be a Tensor or null, got object/) });
    const q = quantize(t(new Float32Array(3 * 32).map((_, i) => Math.sin(i)), [3, 32]), { bits: 4, groupSize: 32 });
    expect(errorOf(() => new QuantLinear(q, { bias: t([0, 0], [2]) }))).toMatchObject({ code: 'NT_SHAPE', message: expect.stringMatching(/\[QuantLinear\] bias must be \[3\]/) });
    const ql = new QuantLinear(q, { bias: tensor(new Float32Array([1, 2, 3]), { shape: [3] }) });
    const yq = ql.forward(t(new Float32Array(32), [1, 32]));
    expect(values(yq)).toEqual(Float64Array.from([1, 2, 3]));
    yq.dispose();
    lin.dispose();
    ql.dispose();
    for (const x of temps) x.dispose();
    expect(memory().bytes).toBe(base);
  });
});
