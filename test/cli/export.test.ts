// `ntensor export --gguf`: the fixture model and a compressed folder as llama.cpp GGUF files,
// read back with the test GGUF reader (test/io/gguf-parse.ts): every tensor back to ntensor's
// (q/k rows un-permuted with gguf-py's LlamaModel.permute order), the llama.* metadata from
// config.json, the byte vocabulary (GPT-2's byte-to-unicode map from transformers), the int4
// QTensors as Q4_0 without requantization, the EoRA adapter as a llama.cpp LoRA GGUF.
// (That llama.cpp itself loads these files and agrees with ntensor is `npm run check:llamacpp`.)
import * as fs from 'fs';
import * as path from 'path';
import * as nt from '../../lib';
import { byteTokens, ropePermutation } from '../../lib/cli/export';
import { readGguf } from '../../lib/io/gguf';
import { ggufTokenizer } from '../../lib/model/gguf-vocab';
import { defaultModelDir } from '../../lib/cli/model-args';
import { Tensor } from '../../lib/tensor';
import { ParsedGguf, parseGguf, tensorValues } from '../io/gguf-parse';
import { removeDir, tempDir } from '../io/helpers';
import { cli } from './run-cli';

const FIX = defaultModelDir();
const REFS = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'fixtures', 'gguf-write', 'refs.json'), 'utf8'));
const CONFIG = JSON.parse(fs.readFileSync(path.join(FIX, 'config.json'), 'utf8'));
const HELDOUT = path.join(FIX, 'heldout.txt');
const TOKENIZERS = path.join(__dirname, '..', '..', 'fixtures', 'tokenizers');

const HF_OF: Record<string, string> = {
  attn_norm: 'input_layernorm', ffn_norm: 'post_attention_layernorm', attn_q: 'self_attn.q_proj', attn_k: 'self_attn.k_proj',
  attn_v: 'self_attn.v_proj', attn_output: 'self_attn.o_proj', ffn_gate: 'mlp.gate_proj', ffn_up: 'mlp.up_proj', ffn_down: 'mlp.down_proj',
};
/** The HF name of a llama.cpp tensor name. */
function hfName(name: string): string {
  if (name === 'token_embd.weight') return 'model.embed_tokens.weight';
  if (name === 'output_norm.weight') return 'model.norm.weight';
  if (name === 'output.weight') return 'lm_head.weight';
  const m = /^blk\.(\d+)\.(\w+)\.weight$/.exec(name)!;
  return `model.layers.${m[1]}.${HF_OF[m[2]]}.weight`;
}

/** Rows of a [rows, cols] row-major array taken back out of the permutation (row order[i] of HF = row i of the file). */
function unpermute(v: ArrayLike<number>, rows: number, order: Int32Array): Float64Array {
  const cols = v.length / rows;
  const out = new Float64Array(v.length);
  for (let i = 0; i < rows; ++i) for (let c = 0; c < cols; ++c) out[order[i] * cols + c] = v[i * cols + c];
  return out;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; ++i) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** `ntensor compress` of the fixture into dir/name, int4 symmetric groups of 32 (Q4_0's grid), no adapter. */
async function compressedFixture(dir: string, name: string, extra: string[] = []): Promise<string> {
  const calib = path.join(dir, 'calib.txt');
  fs.writeFileSync(calib, fs.readFileSync(HELDOUT).subarray(60000, 60512));
  const comp = path.join(dir, name);
  const c = await cli(['compress', '--model', FIX, '--bits', '4', '--group', '32', '--symmetric', '--method', 'none', ...extra, '--text', calib, '--out', comp]);
  expect(c.stderr).not.toMatch(/NT_/);
  expect(c.code).toBe(0);
  return comp;
}

/** Largest |logit| difference of two models on the same ids. */
/** Loads the f32 model at src, compresses it, wraps lm_head in a rank-r LoRA (seeds seed, seed + 1) and saves to out. */
function saveWithHeadLora(src: string, opts: Parameters<typeof nt.llm.compressModel>[1], r: number, seed: number, out: string): void {
  const model = nt.model.load(src, { dtype: 'f32' });
  try {
    nt.llm.compressModel(model, opts);
    const h = model.getLinear('lm_head');
    model.setLinear('lm_head', new nt.model.LoraLinear(h, nt.randn([r, h.inFeatures], { seed }), nt.randn([h.outFeatures, r], { seed: seed + 1 })));
    nt.llm.saveCompressed(model, out);
  } finally {
    model.dispose();
  }
}

function logitsDiff(a: nt.model.LlamaModel, b: nt.model.LlamaModel, ids: Int32Array): number {
  const x = a.forward(ids);
  const y = b.forward(ids);
  try {
    return maxAbsDiff(x.data as Float32Array, y.data as Float32Array);
  } finally {
    x.dispose();
    y.dispose();
  }
}

const f64 = (t: Tensor): number[] => {
  const c = t.astype('f64');
  const v = Array.from(c.data as Float64Array);
  c.dispose();
  return v;
};

let dir: string;
let base: nt.MemoryCounters;
beforeEach(() => {
  dir = tempDir('export');
  base = nt.memory();
});
afterEach(() => {
  expect(nt.memory()).toEqual(base);
  removeDir(dir);
});

describe('pieces checked against the Python references', () => {
  test.each(REFS.permute as { rows: number; nHead: number; nHeadKv: number; order: number[] }[])(
    'the q/k row order equals convert_hf_to_gguf LlamaModel.permute ($rows rows, n_head $nHead, n_head_kv $nHeadKv)',
    ({ rows, nHead, nHeadKv, order }) => {
      const heads = nHead === nHeadKv ? nHead : nHeadKv;
      const ours = ropePermutation(rows, heads);
      expect(Array.from(ours)).toEqual(order);
      // and it is a permutation: un-permuting a permuted vector gives it back
      const v = Float64Array.from({ length: rows * 3 }, (_, i) => i * 0.5 - 7);
      const permuted = new Float64Array(v.length);
      ours.forEach((from, i) => permuted.set(v.subarray(from * 3, from * 3 + 3), i * 3));
      expect(Array.from(unpermute(permuted, rows, ours))).toEqual(Array.from(v));
    },
  );

  test('token i of the byte vocabulary is byte i under GPT-2\'s byte-to-unicode map', () => {
    expect(byteTokens()).toEqual(REFS.byteTokens);
    expect(new Set(byteTokens()).size).toBe(256);
  });

  test('a head size that does not split: NT_SHAPE', () => {
    expect(() => ropePermutation(30, 4)).toThrow(expect.objectContaining({ code: 'NT_SHAPE' }));
  });
});

function checkMetadata(g: ParsedGguf, fileType: number): void {
  const md = (k: string) => g.metadata.get(k)?.value;
  expect(md('general.architecture')).toBe('llama');
  expect(md('llama.context_length')).toBe(CONFIG.max_position_embeddings);
  expect(md('llama.embedding_length')).toBe(CONFIG.hidden_size);
  expect(md('llama.block_count')).toBe(CONFIG.num_hidden_layers);
  expect(md('llama.feed_forward_length')).toBe(CONFIG.intermediate_size);
  expect(md('llama.rope.dimension_count')).toBe(CONFIG.head_dim);
  expect(md('llama.attention.head_count')).toBe(CONFIG.num_attention_heads);
  expect(md('llama.attention.head_count_kv')).toBe(CONFIG.num_key_value_heads);
  expect(md('llama.attention.layer_norm_rms_epsilon')).toBe(Math.fround(CONFIG.rms_norm_eps));
  expect(md('llama.rope.freq_base')).toBe(CONFIG.rope_theta);
  expect(md('general.file_type')).toBe(fileType);
  expect(md('tokenizer.ggml.model')).toBe('gpt2');
  expect(md('tokenizer.ggml.tokens')).toEqual(REFS.byteTokens);
  expect(md('tokenizer.ggml.token_type')).toEqual(new Array(256).fill(1));
  expect(md('tokenizer.ggml.merges')).toEqual([]);
}

describe('ntensor export of the fixture', () => {
  test('--type f16: ntensor -> GGUF -> ntensor gives the checkpoint\'s tensors back exactly', async () => {
    const out = path.join(dir, 'm.gguf');
    const r = await cli(['export', '--gguf', out, '--type', 'f16']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/39 tensors: 30 F16, 9 F32/);
    const g = parseGguf(out);
    checkMetadata(g, 1);
    const source = nt.io.loadSafetensors(FIX);
    try {
      expect(new Set([...g.tensors.keys()].map(hfName))).toEqual(new Set(Object.keys(source)));
      const qOrder = ropePermutation(CONFIG.num_attention_heads * CONFIG.head_dim, CONFIG.num_attention_heads);
      const kOrder = ropePermutation(CONFIG.num_key_value_heads * CONFIG.head_dim, CONFIG.num_key_value_heads);
      for (const [name, info] of g.tensors) {
        const t = source[hfName(name)];
        expect(info.ne).toEqual([...t.shape].reverse());
        expect(info.type).toBe(name.endsWith('norm.weight') ? 0 : 1);
        let v: ArrayLike<number> = tensorValues(g, name);
        if (/attn_q\./.test(name)) v = unpermute(v, t.shape[0], qOrder);
        if (/attn_k\./.test(name)) v = unpermute(v, t.shape[0], kOrder);
        expect(Array.from(v)).toEqual(f64(t));
      }
    } finally {
      Object.values(source).forEach((t) => t.dispose());
    }
    // and nt.model.load reads the file back into the same model: equal logits
    const ids = Int32Array.from(fs.readFileSync(HELDOUT).subarray(0, 96));
    const fromHf = nt.model.load(FIX);
    const fromGguf = nt.model.load(out);
    try {
      const a = fromHf.forward(ids);
      const b = fromGguf.forward(ids);
      expect(maxAbsDiff(a.data as Float32Array, b.data as Float32Array)).toBeLessThanOrEqual(1e-5);
      a.dispose();
      b.dispose();
    } finally {
      fromHf.dispose();
      fromGguf.dispose();
    }
  });

  test('--type q4_0: decoder linears Q4_0 (ggml RTN), ffn_down (688 columns) F16 as llama-quantize falls back, the rest F16/F32; --json', async () => {
    const out = path.join(dir, 'q.gguf');
    const r = await cli(['export', '--gguf', out, '--type', 'q4_0', '--json']);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report).toMatchObject({ file: out, tensors: 39, types: { Q4_0: 24, F16: 6, F32: 9 }, fileType: 2, vocabulary: 'bytes', adapter: null });
    expect(report.notes.join('\n')).toMatch(/rows not a multiple of 32 .*4 tensors, blk\.0\.ffn_down\.weight \(688 columns\) F16/);
    const g = parseGguf(out);
    checkMetadata(g, 2);
    expect(g.metadata.get('general.quantization_version')?.value).toBe(2);
    expect(g.tensors.get('blk.3.ffn_up.weight')!.type).toBe(2);
    expect(g.tensors.get('blk.3.ffn_down.weight')!.type).toBe(1);
  });

  test('a compressed folder: int4 GPTQ weights as Q4_0 without requantization, the EoRA adapter as a llama.cpp LoRA GGUF', async () => {
    const calibration = Int32Array.from(fs.readFileSync(HELDOUT).subarray(60000, 60512));
    const comp = path.join(dir, 'comp');
    // a LoRA on lm_head too (as applyAdapter puts one from a PEFT adapter targeting it): output.weight's
    saveWithHeadLora(FIX, { bits: 4, groupSize: 32, symmetric: true, quantizer: 'gptq', method: 'eora', rank: 4, calibration }, 4, 8, comp);
    const out = path.join(dir, 'c.gguf');
    const r = await cli(['export', '--gguf', out, '--compressed', comp, '--json']);
    expect(r.stderr).toBe('');
    const report = JSON.parse(r.stdout);
    expect(report).toMatchObject({ types: { Q4_0: 24, F32: 13, F16: 2 }, fileType: 2, adapter: { file: path.join(dir, 'c.lora.gguf'), modules: 29, rank: 4 } });
    expect(report.notes.join('\n')).toMatch(/24 quantized linears written as Q4_0\/Q8_0 codes \+ scales \(no requantization\)/);
    expect(report.notes.join('\n')).toMatch(/blk\.0\.ffn_down\.weight \(688 columns\) F32, dequantized/);

    const g = parseGguf(out);
    const lora = parseGguf(path.join(dir, 'c.lora.gguf'));
    expect(Object.fromEntries([...lora.metadata].map(([k, v]) => [k, v.value]))).toMatchObject({
      'general.architecture': 'llama', 'general.type': 'adapter', 'adapter.type': 'lora', 'adapter.lora.alpha': 4,
    });
    const reloaded = nt.model.load(comp);
    const adapter = nt.llm.loadLoraAdapter(path.join(comp, 'adapter'));
    try {
      const qOrder = ropePermutation(256, 8);
      const kOrder = ropePermutation(128, 4);
      for (let l = 0; l < 4; ++l)
        for (const [gg, hf] of Object.entries(HF_OF)) {
          if (gg.endsWith('norm')) continue;
          const module = `model.layers.${l}.${hf}`;
          const lin = reloaded.getLinear(module) as nt.model.QuantLinear;
          const order = gg === 'attn_q' ? qOrder : gg === 'attn_k' ? kOrder : null;
          const un = (v: Float64Array, rows: number) => Array.from(order ? unpermute(v, rows, order) : v);
          // the file's weights dequantize to exactly ntensor's QTensor
          const dq = nt.quant.dequantize(lin.q);
          expect(un(tensorValues(g, `blk.${l}.${gg}.weight`), lin.outFeatures)).toEqual(f64(dq));
          dq.dispose();
          // lora_a = A [r, d_in] (ne [d_in, r]); lora_b = B [d_out, r] with q/k rows permuted
          const f = adapter.modules[module];
          expect(lora.tensors.get(`blk.${l}.${gg}.weight.lora_a`)!.ne).toEqual([lin.inFeatures, 4]);
          expect(lora.tensors.get(`blk.${l}.${gg}.weight.lora_b`)!.ne).toEqual([4, lin.outFeatures]);
          expect(Array.from(tensorValues(lora, `blk.${l}.${gg}.weight.lora_a`))).toEqual(f64(f.A));
          expect(un(tensorValues(lora, `blk.${l}.${gg}.weight.lora_b`), lin.outFeatures)).toEqual(f64(f.B));
        }
      const head = adapter.modules['lm_head'];
      expect(Array.from(tensorValues(lora, 'output.weight.lora_a'))).toEqual(f64(head.A));
      expect(Array.from(tensorValues(lora, 'output.weight.lora_b'))).toEqual(f64(head.B));
      // nt.model.load of the GGUF holds the same int4 codes and f16 scales (q/k rows un-permuted)
      const fromGguf = nt.model.load(out);
      try {
        for (const name of reloaded.linears()) {
          const mine = reloaded.getLinear(name) as nt.model.QuantLinear;
          if (mine.inFeatures % 32 !== 0) continue; // ffn_down: F32 in the file
          const back = fromGguf.getLinear(name) as nt.model.QuantLinear;
          expect(back).toBeInstanceOf(nt.model.QuantLinear);
          expect(f64(back.q.codes)).toEqual(f64(mine.q.codes));
          expect(f64(back.q.scales)).toEqual(f64(mine.q.scales));
          expect(back.q.zeros.dtype === 'u8' && f64(back.q.zeros).every((z) => z === 8)).toBe(true);
        }
        expect(logitsDiff(reloaded, fromGguf, Int32Array.from(fs.readFileSync(HELDOUT).subarray(0, 96)))).toBeLessThanOrEqual(1e-3);
      } finally {
        fromGguf.dispose();
      }
    } finally {
      reloaded.dispose();
      adapter.dispose();
    }
  });

  test('ntensor compress --symmetric --group 32 then export --gguf: the CLI alone makes a Q4_0 file', async () => {
    const comp = await compressedFixture(dir, 'cli-sym');
    const out = path.join(dir, 'cli-sym.gguf');
    const r = await cli(['export', '--gguf', out, '--compressed', comp]);
    expect(r.code).toBe(0);
    const g = readGguf(out);
    try {
      expect(g.info('blk.0.attn_q.weight').type).toBe('Q4_0');
    } finally {
      g.dispose();
    }
  });

  test('a folder with an int4 head (--quantize-head): output.weight as Q4_0 from the head\'s own codes, and the GGUF reloads to the folder\'s logits (never read as tied)', async () => {
    const comp = await compressedFixture(dir, 'qhead', ['--quantize-head']);
    const out = path.join(dir, 'qhead.gguf');
    const r = await cli(['export', '--gguf', out, '--compressed', comp, '--json']);
    expect(r.stderr).toBe('');
    const report = JSON.parse(r.stdout);
    expect(report.notes.join('\n')).not.toMatch(/tied embeddings/);
    expect(report.types).toMatchObject({ Q4_0: 25 });
    const folder = nt.model.load(comp);
    const fromGguf = nt.model.load(out);
    try {
      const head = folder.getLinear('lm_head') as nt.model.QuantLinear;
      const back = fromGguf.getLinear('lm_head') as nt.model.QuantLinear;
      expect(back).toBeInstanceOf(nt.model.QuantLinear);
      expect(f64(back.q.codes)).toEqual(f64(head.q.codes));
      expect(f64(back.q.scales)).toEqual(f64(head.q.scales));
      expect(logitsDiff(folder, fromGguf, Int32Array.from(fs.readFileSync(HELDOUT).subarray(0, 96)))).toBeLessThanOrEqual(1e-3);
    } finally {
      folder.dispose();
      fromGguf.dispose();
    }
  });

  test('adapters llama.cpp cannot take: mixed ranks (one alpha per file), a LoRA on a tied lm_head (no output.weight); NT_UNSUPPORTED, nothing written', async () => {
    const comp = await compressedFixture(dir, 'mixed');
    const f = (r: number, d: number, o: number, seed: number) => ({ A: nt.randn([r, d], { seed }), B: nt.randn([o, r], { seed: seed + 1 }) });
    const mods = { 'model.layers.0.self_attn.q_proj': f(2, 256, 256, 1), 'model.layers.0.mlp.up_proj': f(3, 256, 688, 3) };
    nt.llm.saveLoraAdapter(path.join(comp, 'adapter'), mods);
    Object.values(mods).forEach((m) => (m.A.dispose(), m.B.dispose()));
    const out = path.join(dir, 'mixed.gguf');
    const r = await cli(['export', '--gguf', out, '--compressed', comp]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/the adapter's modules have ranks (2, 3|3, 2) \(rank_pattern\): a llama\.cpp LoRA GGUF has one alpha for every module \(NT_UNSUPPORTED\)/);
    expect(fs.existsSync(path.join(dir, 'mixed.lora.gguf'))).toBe(false);
    expect(fs.existsSync(out)).toBe(false);
    // a LoRA on lm_head of a tied model: the file has no output.weight to carry it
    const tied = path.join(dir, 'tied-src');
    fs.cpSync(FIX, tied, { recursive: true });
    const w = nt.io.loadSafetensors(FIX);
    w['lm_head.weight'].dispose();
    delete w['lm_head.weight'];
    nt.io.saveSafetensors(path.join(tied, 'model.safetensors'), w);
    Object.values(w).forEach((t) => t.dispose());
    fs.writeFileSync(path.join(tied, 'config.json'), JSON.stringify({ ...CONFIG, tie_word_embeddings: true }));
    const tiedComp = path.join(dir, 'tied-comp');
    saveWithHeadLora(tied, { bits: 4, groupSize: 32, symmetric: true, method: 'none', calibration: Array.from({ length: 40 }, (_, i) => i) }, 2, 3, tiedComp);
    const tiedOut = path.join(dir, 'tied.gguf');
    const t = await cli(['export', '--gguf', tiedOut, '--model', tied, '--compressed', tiedComp]);
    expect(t.code).toBe(1);
    expect(t.stderr).toMatch(/adapter module 'lm_head' on tied embeddings: the GGUF has no output\.weight to carry it \(NT_UNSUPPORTED\)/);
    expect(fs.existsSync(tiedOut)).toBe(false);
  });

  test('Qwen2 as llama.cpp\'s qwen2 architecture: q/k/v biases, rows as stored (NeoX rope); the GGUF reloads to the folder\'s logits', async () => {
    const arch = path.join(__dirname, '..', '..', 'fixtures', 'arch', 'qwen2');
    const out = path.join(dir, 'qwen2.gguf');
    const r = await cli(['export', '--gguf', out, '--model', arch, '--type', 'f32']);
    expect(r.stderr).toBe('');
    const g = parseGguf(out);
    expect(g.metadata.get('general.architecture')!.value).toBe('qwen2');
    expect(g.metadata.get('qwen2.block_count')!.value).toBe(2);
    expect([...g.tensors.keys()].filter((n) => n.endsWith('.bias')).sort()).toEqual(['blk.0.attn_k.bias', 'blk.0.attn_q.bias', 'blk.0.attn_v.bias', 'blk.1.attn_k.bias', 'blk.1.attn_q.bias', 'blk.1.attn_v.bias']);
    const ids = nt.io.loadNpy(path.join(arch, 'ids.npy'));
    const src = nt.model.load(arch, { dtype: 'f32' });
    const file = nt.model.load(out);
    try {
      expect(logitsDiff(src, file, ids.data as Int32Array)).toBe(0);
    } finally {
      src.dispose();
      file.dispose();
      ids.dispose();
    }
  });

  test('what the GGUF architecture has no place for is refused (a llama with biases, qwen3 q/k norms, rope scaling), a sliding window is reported; nothing written for a refusal', async () => {
    const arch = (n: string) => path.join(__dirname, '..', '..', 'fixtures', 'arch', n);
    // the linear-rope fixture (biases on every linear) without its rope scaling
    const biased = path.join(dir, 'llama-biased');
    fs.cpSync(arch('linear'), biased, { recursive: true });
    const cfg = JSON.parse(fs.readFileSync(path.join(biased, 'config.json'), 'utf8'));
    fs.writeFileSync(path.join(biased, 'config.json'), JSON.stringify({ ...cfg, rope_parameters: { rope_theta: 10000.0, rope_type: 'default' } }));
    for (const [name, src, re] of [
      ['biased', biased, /linear biases \(q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj: llama attention_bias \/ mlp_bias\) have no place in the llama GGUF architecture .*\(NT_UNSUPPORTED\)/],
      ['linear', arch('linear'), /rope scaling .* is not exported yet \(NT_UNSUPPORTED\)/],
      ['qwen3', arch('qwen3'), /qwen3's per-head q\/k RMSNorm has no place in the llama GGUF architecture .*\(NT_UNSUPPORTED\)/],
    ] as [string, string, RegExp][]) {
      const out = path.join(dir, `${name}.gguf`);
      const r = await cli(['export', '--gguf', out, '--model', src]);
      expect({ name, code: r.code, stderr: r.stderr }).toEqual({ name, code: 1, stderr: expect.stringMatching(re) });
      expect(fs.existsSync(out)).toBe(false);
    }
    // mistral's window 8 is not stored (as convert_hf_to_gguf does): said, and within the window the file is the model
    const out = path.join(dir, 'mistral.gguf');
    const r = await cli(['export', '--gguf', out, '--model', arch('mistral'), '--type', 'f32', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).notes.join('\n')).toMatch(/sliding window 8 \(2 of 2 layers\) is not stored: llama\.cpp's llama architecture attends over the whole context, as convert_hf_to_gguf's files do, so past 8 tokens it differs from the source/);
    const ids = nt.io.loadNpy(path.join(arch('mistral'), 'ids.npy'));
    const src = nt.model.load(arch('mistral'), { dtype: 'f32' });
    const file = nt.model.load(out);
    try {
      expect(logitsDiff(src, file, (ids.data as Int32Array).subarray(0, 8))).toBe(0);
    } finally {
      src.dispose();
      file.dispose();
      ids.dispose();
    }
  });

  test('an asymmetric compressed folder: NT_UNSUPPORTED saying Q4_0 is symmetric with groups of 32; nothing written', async () => {
    const calibration = Int32Array.from(fs.readFileSync(HELDOUT).subarray(60000, 60256));
    const model = nt.model.load(FIX, { dtype: 'f32' });
    const comp = path.join(dir, 'asym');
    try {
      nt.llm.compressModel(model, { bits: 4, groupSize: 32, method: 'none', calibration });
      nt.llm.saveCompressed(model, comp);
    } finally {
      model.dispose();
    }
    const out = path.join(dir, 'a.gguf');
    const r = await cli(['export', '--gguf', out, '--compressed', comp, '--lora-out', path.join(dir, 'x.gguf')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/asymmetric .*Q4_0 is symmetric with groups of 32.*\(NT_UNSUPPORTED\)/);
    expect(fs.existsSync(out)).toBe(false);
  });

  test.each([
    [['export'], /--gguf FILE is required \(NT_VALUE\)/],
    [['export', '--gguf', 'x.gguf', '--type', 'q4_1'], /--type must be one of f32, f16, bf16, q8_0, q4_0, got 'q4_1' \(NT_VALUE\)/],
    [['export', '--gguf', 'x.gguf', '--model', '/nonexistent/model'], /no such model folder \(NT_IO\)/],
    [['export', '--gguf', 'x.gguf', '--compressed', '/nonexistent/comp'], /no such compressed folder \(NT_IO\)/],
    [['export', '--gguf', 'x.gguf', '--model', path.join(__dirname, '..', '..', 'fixtures', 'gguf', 'tiny-llama-q4_0.gguf')], /tiny-llama-q4_0\.gguf is a file, not a safetensors checkpoint folder: export writes a GGUF from a safetensors model .*\(NT_UNSUPPORTED\)/],
  ])('%j: a coded one-line error', async (args, message) => {
    const r = await cli(args);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(message);
  });

  test('an unwritable output path: NT_IO; --lora-out without a compressed folder is reported as ignored', async () => {
    const bad = await cli(['export', '--gguf', path.join(dir, 'no', 'such', 'x.gguf')]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/writing failed.*\(NT_IO\)/);
    const r = await cli(['export', '--gguf', path.join(dir, 'f.gguf'), '--type', 'bf16', '--lora-out', path.join(dir, 'l.gguf')]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/--lora-out ignored: only a --compressed folder has an adapter/);
    expect(r.stdout).toMatch(/30 BF16, 9 F32/);
    expect(fs.existsSync(path.join(dir, 'l.gguf'))).toBe(false);
  });
});

describe('a model with a byte-level BPE tokenizer.json', () => {
  /** The fixture's weights with embeddings for a vocabulary of n tokens, and a family's tokenizer files. */
  function modelWithTokenizer(family: string, n: number): string {
    const out = path.join(dir, family);
    fs.mkdirSync(out);
    const tensors = nt.io.loadSafetensors(FIX);
    const embed = nt.randn([n, CONFIG.hidden_size], { seed: 5 });
    const head = nt.randn([n, CONFIG.hidden_size], { seed: 6 });
    try {
      nt.io.saveSafetensors(path.join(out, 'model.safetensors'), { ...tensors, 'model.embed_tokens.weight': embed, 'lm_head.weight': head });
    } finally {
      [...Object.values(tensors), embed, head].forEach((t) => t.dispose());
    }
    fs.writeFileSync(path.join(out, 'config.json'), JSON.stringify({ ...CONFIG, vocab_size: n }));
    for (const f of ['tokenizer.json', 'tokenizer_config.json']) fs.copyFileSync(path.join(TOKENIZERS, family, f), path.join(out, f));
    return out;
  }

  test.each([
    ['gpt2', 'gpt-2'],
    ['llama3', 'llama-bpe'],
    ['qwen2', 'qwen2'],
  ])('%s: a "gpt2" vocabulary (pre %s) whose GGUF tokenizer gives Python tokenizers\' ids on every line of texts.txt', async (family, pre) => {
    const expected = JSON.parse(fs.readFileSync(path.join(TOKENIZERS, family, 'expected.json'), 'utf8'));
    const n = Number(expected.vocab_size);
    const model = modelWithTokenizer(family, n);
    const out = path.join(dir, `${family}.gguf`);
    const r = await cli(['export', '--gguf', out, '--model', model, '--json']);
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout).vocabulary).toBe('bpe');
    const g = parseGguf(out);
    const tj = JSON.parse(fs.readFileSync(path.join(TOKENIZERS, family, 'tokenizer.json'), 'utf8'));
    const tokens = g.metadata.get('tokenizer.ggml.tokens')!.value as string[];
    expect(g.metadata.get('tokenizer.ggml.model')!.value).toBe('gpt2');
    expect(g.metadata.get('tokenizer.ggml.pre')!.value).toBe(pre);
    expect(tokens.length).toBe(n);
    for (const [text, id] of Object.entries(tj.model.vocab as Record<string, number>)) expect(tokens[id]).toBe(text);
    const types = g.metadata.get('tokenizer.ggml.token_type')!.value as number[];
    for (const a of tj.added_tokens) expect([tokens[a.id], types[a.id]]).toEqual([a.content, a.special ? 3 : 4]);
    expect(g.metadata.get('tokenizer.ggml.merges')!.value).toEqual(tj.model.merges.map((m: string | string[]) => (Array.isArray(m) ? m.join(' ') : m)));
    // read back by nt.model's GGUF tokenizer (lib/model/gguf-vocab.ts, written independently): Python's ids
    const file = readGguf(out);
    try {
      const tok = ggufTokenizer(file)!;
      const lines = fs.readFileSync(path.join(TOKENIZERS, 'texts.txt'), 'utf8').split('\n').slice(0, -1);
      lines.forEach((line, i) => {
        expect([i, Array.from(tok.encode(line, { addSpecialTokens: false }))]).toEqual([i, expected.lines[i].ids_no_special]);
      });
    } finally {
      file.dispose();
    }
  });

  test.each(['llama2', 'mistral'])('%s (SentencePiece-style BPE with byte fallback): NT_UNSUPPORTED naming it; nothing written', async (family) => {
    const expected = JSON.parse(fs.readFileSync(path.join(TOKENIZERS, family, 'expected.json'), 'utf8'));
    const model = modelWithTokenizer(family, Number(expected.vocab_size));
    const out = path.join(dir, `${family}.gguf`);
    const r = await cli(['export', '--gguf', out, '--model', model]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/SentencePiece-style BPE \(byte_fallback.*\(NT_UNSUPPORTED\)/);
    expect(fs.existsSync(out)).toBe(false);
  });

  test('a broken tokenizer_config.json is NT_IO (its BOS / EOS would be left out silently); nothing written', async () => {
    const expected = JSON.parse(fs.readFileSync(path.join(TOKENIZERS, 'gpt2', 'expected.json'), 'utf8'));
    const model = modelWithTokenizer('gpt2', Number(expected.vocab_size));
    fs.writeFileSync(path.join(model, 'tokenizer_config.json'), '{ "bos_token": ');
    const out = path.join(dir, 'broken-tc.gguf');
    const r = await cli(['export', '--gguf', out, '--model', model]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/tokenizer_config\.json is not valid JSON.*\(NT_IO\)/);
    expect(fs.existsSync(out)).toBe(false);
    // valid JSON that is not an object
    fs.writeFileSync(path.join(model, 'tokenizer_config.json'), '["<s>"]');
    const r2 = await cli(['export', '--gguf', out, '--model', model]);
    expect(r2.code).toBe(1);
    expect(r2.stderr).toMatch(/tokenizer_config\.json must hold a JSON object, got an array \(NT_IO\)/);
    expect(fs.existsSync(out)).toBe(false);
  });
});
