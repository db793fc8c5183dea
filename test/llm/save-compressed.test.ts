// saveCompressed at real size: non-linear tensors keep the checkpoint's dtype (no f32
// widening of a bf16 model's embeddings and head), and large outputs are sharded with an index
// as transformers writes them; a later save replaces every stale weights file.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { safetensorsInfo } from '../../lib/io';
import { compressModel } from '../../lib/llm/compress';
import { compressCheckpoint } from '../../lib/llm/compress-checkpoint';
import { applyAdapter, saveCompressed } from '../../lib/llm/export';
import { DenseLinear, LoraLinear, QuantLinear } from '../../lib/model/linear';
import { quantize } from '../../lib/quant/quantize';
import { randn } from '../../lib/random';
import { load } from '../../lib/model';
import { PACKAGE_ROOT } from '../../lib/native/loader';
import { memory } from '../../lib/tensor';
import { errorOf, maxAbsDiff, values } from '../model/helpers';
import { writeTiny } from '../model/tiny';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nt-save-compressed-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const ids = Array.from({ length: 40 }, (_, i) => (i * 5 + 1) % 19);

function logits(dir: string): Float64Array {
  const m = load(dir);
  try {
    applyAdapter(m, path.join(dir, 'adapter'));
    const l = m.forward(ids);
    try {
      return values(l);
    } finally {
      l.dispose();
    }
  } finally {
    m.dispose();
  }
}

test('a bf16 model: embeddings, head and norms stay bf16; sharded and single saves reload to the in-memory logits; stale files go', () => {
  const base = memory().bytes;
  const src = writeTiny(path.join(tmp, 'src'), { max_position_embeddings: 64 }, { dtype: 'bf16', seed: 4 }).dir;
  const model = load(src);
  compressModel(model, { bits: 4, groupSize: 32, method: 'svd', rank: 2, calibration: ids });
  const l = model.forward(ids);
  const inMemory = values(l);
  l.dispose();

  const out = path.join(tmp, 'out');
  const sharded = saveCompressed(model, out, { maxShardBytes: 2048 });
  expect(path.basename(sharded.weightsFile)).toBe('model.safetensors.index.json');
  const index = JSON.parse(fs.readFileSync(sharded.weightsFile, 'utf8'));
  const shardFiles = [...new Set(Object.values(index.weight_map) as string[])].sort();
  expect(shardFiles.length).toBeGreaterThan(2);
  shardFiles.forEach((f, i) => expect(f).toBe(`model-${String(i + 1).padStart(5, '0')}-of-${String(shardFiles.length).padStart(5, '0')}.safetensors`));
  const dtypes = new Map<string, string>();
  let total = 0;
  for (const f of shardFiles) {
    const info = safetensorsInfo(path.join(out, f));
    for (const t of info.tensors) dtypes.set(t.name, t.fileDtype);
    total += info.fileBytes - 8 - info.headerBytes;
  }
  expect(index.metadata.total_size).toBe(total);
  expect(dtypes.get('model.embed_tokens.weight')).toBe('BF16');
  expect(dtypes.get('lm_head.weight')).toBe('BF16');
  expect(dtypes.get('model.norm.weight')).toBe('BF16');
  expect(dtypes.get('model.layers.0.self_attn.q_proj.qweight')).toBe('I32');
  expect(fs.existsSync(path.join(out, 'model.safetensors'))).toBe(false);
  expect(maxAbsDiff(logits(out), inMemory)).toBeLessThanOrEqual(1e-5);

  // a single-file save over it removes the index and every shard
  const single = saveCompressed(model, out);
  expect(path.basename(single.weightsFile)).toBe('model.safetensors');
  expect(fs.readdirSync(out).filter((f) => f.startsWith('model')).sort()).toEqual(['model.safetensors']);
  expect(maxAbsDiff(logits(out), inMemory)).toBeLessThanOrEqual(1e-5);

  for (const bad of [0, -1, NaN]) expect(errorOf(() => saveCompressed(model, out, { maxShardBytes: bad }))).toMatchObject({ code: 'NT_VALUE', message: expect.stringMatching(/maxShardBytes must be a positive number/) });
  model.dispose();
  expect(memory().bytes).toBe(base);
});

describe('lm_head and reloaded GPTQ folders: what is saved is what the model runs', () => {
  const probe = Array.from({ length: 33 }, (_, i) => (i * 5 + 1) % 19);
  const calib = Array.from({ length: 70 }, (_, i) => (i * 7 + 3) % 19);
  const run = (m: ReturnType<typeof load>): Float64Array => {
    const l = m.forward(probe);
    try {
      return values(l);
    } finally {
      l.dispose();
    }
  };
  const reload = (dir: string, adapter: boolean): Float64Array => {
    const m = load(dir);
    try {
      if (adapter) applyAdapter(m, path.join(dir, 'adapter'));
      return run(m);
    } finally {
      m.dispose();
    }
  };

  test('a folder with an int4 head (compressCheckpoint quantizeHead) reloads, saves and reloads again to the same logits, head still int4', () => {
    const src = writeTiny(path.join(tmp, 'qhead-src'), { max_position_embeddings: 64, vocab_size: 80 }, { dtype: 'bf16', seed: 13 }).dir;
    const first = path.join(tmp, 'qhead-first');
    compressCheckpoint(src, first, { bits: 4, groupSize: 32, rank: 2, calibration: calib, calibrationWindow: 32, quantizeHead: true });
    const m = load(first);
    try {
      applyAdapter(m, path.join(first, 'adapter'));
      expect(m.getLinear('lm_head')).toBeInstanceOf(QuantLinear);
      const expected = run(m);
      const second = path.join(tmp, 'qhead-second');
      expect(saveCompressed(m, second).head).toBe('int4');
      const cfg = JSON.parse(fs.readFileSync(path.join(second, 'config.json'), 'utf8'));
      expect(cfg.quantization_config).toMatchObject({ quant_method: 'gptq', bits: 4, group_size: 32, lm_head: true });
      const names = safetensorsInfo(path.join(second, 'model.safetensors')).tensors.map((t) => t.name).filter((n) => n.startsWith('lm_head.'));
      expect(names.sort()).toEqual(['lm_head.g_idx', 'lm_head.qweight', 'lm_head.qzeros', 'lm_head.scales']);
      expect(reload(second, true)).toEqual(expected);
    } finally {
      m.dispose();
    }
  });

  test('a reloaded GPTQ folder with a linear replaced saves the replacement, not the stale GPTQ tensors of its source; a dense one among int4 is refused', () => {
    const src = writeTiny(path.join(tmp, 'stale-src'), { max_position_embeddings: 64 }, { dtype: 'bf16', seed: 21 }).dir;
    const first = path.join(tmp, 'stale-first');
    compressCheckpoint(src, first, { bits: 4, groupSize: 32, calibration: calib, calibrationWindow: 32, method: 'none' });
    const m = load(first);
    try {
      const name = m.linears()[0];
      const lin = m.getLinear(name);
      const w = randn([lin.outFeatures, lin.inFeatures], { seed: 5 });
      m.setLinear(name, new QuantLinear(quantize(w, { bits: 4, groupSize: 32, symmetric: false }))).dispose();
      const expected = run(m);
      const second = path.join(tmp, 'stale-second');
      expect(saveCompressed(m, second).quantizedLinears).toBe(m.linears().length);
      expect(reload(second, false)).toEqual(expected);
      m.setLinear(name, new DenseLinear(w)).dispose();
      const e = errorOf(() => saveCompressed(m, path.join(tmp, 'stale-mixed')));
      expect({ code: e.code, message: e.message }).toEqual({ code: 'NT_UNSUPPORTED', message: expect.stringMatching(new RegExp(`${name.replace(/\./g, '\\.')} is dense while \\d+ decoder linears are int4`)) });
      expect(fs.existsSync(path.join(tmp, 'stale-mixed'))).toBe(false);
    } finally {
      m.dispose();
    }
  });

  test('a replaced dense head is saved as the model holds it', () => {
    const src = writeTiny(path.join(tmp, 'dhead-src'), { max_position_embeddings: 64 }, { seed: 22 }).dir;
    const m = load(src);
    try {
      compressModel(m, { bits: 4, groupSize: 32, method: 'none', calibration: calib });
      const h = m.getLinear('lm_head');
      m.setLinear('lm_head', new DenseLinear(randn([h.outFeatures, h.inFeatures], { seed: 6 }))).dispose();
      const expected = run(m);
      const out = path.join(tmp, 'dhead-out');
      expect(saveCompressed(m, out).head).toBe('dense');
      expect(reload(out, false)).toEqual(expected);
    } finally {
      m.dispose();
    }
  });

  test('a head the folder cannot hold is refused before anything is written: int8, another grid, a replaced tied head, no quantized decoder; a LoRA on the head goes to the adapter folder', () => {
    const untied = writeTiny(path.join(tmp, 'refuse-src'), { max_position_embeddings: 64, vocab_size: 80 }, { seed: 23 }).dir;
    const tied = writeTiny(path.join(tmp, 'refuse-tied'), { max_position_embeddings: 64, vocab_size: 80, tie_word_embeddings: true }, { seed: 24 }).dir;
    const compressed = (dir: string, symmetric = false) => {
      const m = load(dir);
      compressModel(m, { bits: 4, groupSize: 32, symmetric, method: 'none', calibration: calib });
      return m;
    };
    const cases: [string, () => ReturnType<typeof load>, RegExp][] = [
      ['int8', () => { const m = compressed(untied); m.quantizeHead({ bits: 8 }); return m; }, /quantized to 8 bits, and the GPTQ folder format holds 4-bit/],
      ['grid', () => { const m = compressed(untied); m.quantizeHead({ bits: 4, groupSize: 64 }); return m; }, /group size 64, symmetric, the decoder with group size 32: a GPTQ folder has one quantization_config/],
      ['tied', () => { const m = compressed(tied); m.quantizeHead({ bits: 4, groupSize: 32 }); return m; }, /tied to the embeddings \(config.json\), and a tied head cannot be stored as a QuantLinear/],
      ['dense decoder', () => { const m = load(untied); m.quantizeHead({ bits: 4, groupSize: 32 }); return m; }, /lm_head is quantized but no decoder linear is/],
      // a head of another class (here a caller's own LinearLike)
      ['other class', () => {
        const m = compressed(untied);
        const h = m.getLinear('lm_head');
        class ScaledHead { readonly inFeatures = h.inFeatures; readonly outFeatures = h.outFeatures; forward(x: Parameters<typeof h.forward>[0]) { return h.forward(x); } dispose() { h.dispose(); } }
        m.setLinear('lm_head', new ScaledHead());
        return m;
      }, /lm_head is a ScaledHead: a GPTQ folder stores a dense \(DenseLinear\) or a 4-bit \(QuantLinear\) head/],
    ];
    for (const [label, make, re] of cases) {
      const m = make();
      try {
        const out = path.join(tmp, `refused-${label.replace(/ /g, '-')}`);
        const e = errorOf(() => saveCompressed(m, out));
        expect({ label, code: e.code, message: e.message }).toEqual({ label, code: 'NT_UNSUPPORTED', message: expect.stringMatching(re) });
        expect(fs.existsSync(out)).toBe(false);
      } finally {
        m.dispose();
      }
    }
    // the same grid as a symmetric decoder is stored, and reloads to the model's logits; a LoRA
    // on it (as applyAdapter puts one from a PEFT adapter that targets lm_head) goes to out/adapter
    const m = compressed(untied, true);
    try {
      m.quantizeHead({ bits: 4, groupSize: 32 });
      const h = m.getLinear('lm_head');
      m.setLinear('lm_head', new LoraLinear(h, randn([2, h.inFeatures], { seed: 1 }), randn([h.outFeatures, 2], { seed: 2 })));
      const out = path.join(tmp, 'sym-head');
      const saved = saveCompressed(m, out);
      expect(saved).toMatchObject({ head: 'int4', adapters: 1 });
      const got = reload(out, true);
      expect(maxAbsDiff(got, run(m))).toBeLessThan(1e-4);
    } finally {
      m.dispose();
    }
  });

  test('a model loaded from a GGUF file: NT_UNSUPPORTED (its folder would come from safetensors it does not have); compressCheckpoint refuses a file source before loading it', () => {
    const gguf = path.join(PACKAGE_ROOT, 'fixtures', 'gguf', 'tiny-llama-q4_0.gguf');
    const m = load(gguf);
    try {
      const out = path.join(tmp, 'from-gguf');
      const e = errorOf(() => saveCompressed(m, out));
      expect({ code: e.code, message: e.message }).toEqual({ code: 'NT_UNSUPPORTED', message: expect.stringMatching(/tiny-llama-q4_0\.gguf is a file, not a safetensors checkpoint folder: the folder is written with the source's embeddings, norms and config\.json/) });
      expect(fs.existsSync(out)).toBe(false);
    } finally {
      m.dispose();
    }
    const out = path.join(tmp, 'from-gguf-checkpoint');
    const e = errorOf(() => compressCheckpoint(gguf, out, { bits: 4, groupSize: 32, calibration: calib, calibrationWindow: 32 }));
    expect({ code: e.code, message: e.message }).toEqual({ code: 'NT_UNSUPPORTED', message: expect.stringMatching(/tiny-llama-q4_0\.gguf is a file, not a safetensors checkpoint folder: the output is built from its config\.json and safetensors/) });
    expect(fs.existsSync(out)).toBe(false);
  });
});
