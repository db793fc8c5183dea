// nt.model.load on GGUF files written by llama.cpp's own convert_hf_to_gguf.py (fixtures/gguf,
// scripts/fixtures/make_gguf_fixtures.py): the f32 file gives the logits of the source HF
// folder (tiny-llama-hf) loaded by ntensor, and both equal torch's float64 forward; the Q8_0
// (llama.cpp's converter) and Q4_0 (gguf-py's requantization) files, run on their own codes
// through the int8/int4 kernels, equal torch's float64 forward of the HF model holding gguf-py's
// dequantization of the same file with q/k un-permuted in numpy. The GGUF vocabulary becomes
// a tokenizer that encodes as Python tokenizers does on the source tokenizer.json.
import * as fs from 'fs';
import * as path from 'path';
import * as nt from '../../lib';
import { loadSafetensors } from '../../lib/io';
import { DenseLinear, QuantLinear, load, loadAsync } from '../../lib/model';
import { GGUF_ARCHITECTURES, ggufConfigObject, unpermuteRowOrder } from '../../lib/model/load-gguf';
import { ggufTokenizer } from '../../lib/model/gguf-vocab';
import type { LlamaModel } from '../../lib/model/model';
import { PACKAGE_ROOT } from '../../lib/native/loader';
import { memory } from '../../lib/tensor';
import { failure, removeDir, tempDir } from '../io/helpers';
import { maxAbsDiff } from './helpers';

const FIX = path.join(PACKAGE_ROOT, 'fixtures', 'gguf');
const HF = path.join(FIX, 'tiny-llama-hf');
/** Absolute tolerances on logits of magnitude ~10. */
const TOL = {
  /** ntensor on the f32 GGUF vs ntensor on the HF folder: the same f32 weights, the same kernels. */
  sameWeights: 1e-5,
  /** ntensor (f32 arithmetic) vs torch float64 on the same weights. */
  float64: 1e-4,
};

let exp: Record<string, nt.Tensor>;
let ids: number[];
let dir: string;
beforeAll(() => {
  exp = loadSafetensors(path.join(FIX, 'tiny-llama.expected.safetensors'), { map: false });
  ids = Array.from(exp.ids.data as Int32Array);
  dir = tempDir('gguf-model');
});
afterAll(() => {
  for (const t of Object.values(exp)) t.dispose();
  removeDir(dir);
});

function logitsOf(m: LlamaModel): Float32Array {
  const y = m.forward(ids);
  try {
    return Float32Array.from(y.data as Float32Array);
  } finally {
    y.dispose();
  }
}

describe('nt.model.load of llama.cpp GGUFs', () => {
  test('unpermuteRowOrder inverts convert_hf_to_gguf LlamaModel.permute', () => {
    // permute(w, n_head): reshape(n_head, 2, d/2) -> swapaxes(1, 2): GGUF row h·d + 2j + s holds HF row h·d + s·d/2 + j
    const rows = 24, heads = 3, d = 8;
    const permuted: number[] = [];
    for (let h = 0; h < heads; ++h) for (let j = 0; j < d / 2; ++j) for (let s = 0; s < 2; ++s) permuted.push(h * d + s * (d / 2) + j);
    const src = unpermuteRowOrder(rows, heads);
    expect(Array.from(src, (r) => permuted[r])).toEqual(Array.from({ length: rows }, (_, i) => i));
  });

  test('the f32 GGUF gives the logits of its source HF folder (1e-5) and of torch float64 (1e-4)', () => {
    const base = memory().bytes;
    const g = load(path.join(FIX, 'tiny-llama-f32.gguf'));
    const h = load(HF);
    const lg = logitsOf(g);
    expect(maxAbsDiff(lg, logitsOf(h))).toBeLessThan(TOL.sameWeights);
    expect(maxAbsDiff(lg, exp.logits_f32.data as Float32Array)).toBeLessThan(TOL.float64);
    expect(g.config.numKvHeads).toBe(2);
    expect(g.config.tieWordEmbeddings).toBe(false);
    expect(g.dir).toBe(path.join(FIX, 'tiny-llama-f32.gguf'));
    g.dispose();
    h.dispose();
    expect(memory().bytes).toBe(base);
  });

  test.each([['q8_0', 8], ['q4_0', 4]])('the %s GGUF runs its own codes (QuantLinear, %i bits, group 32) and equals torch float64 on its dequantized weights', async (type, bits) => {
    const base = memory().bytes;
    const m = load(path.join(FIX, `tiny-llama-${type}.gguf`));
    for (const name of m.linears()) {
      const lin = m.getLinear(name) as QuantLinear;
      expect(lin).toBeInstanceOf(QuantLinear);
      expect([lin.q.bits, lin.q.groupSize, lin.q.scales.dtype]).toEqual([bits, 32, 'f16']);
    }
    expect(m.getLinear('lm_head')).toBeInstanceOf(QuantLinear); // output.weight is Q8_0 in both
    // token_embd stays at its own size (the file's codes, rows dequantized as they are gathered):
    // vocab x hidden / 32 groups of 32 codes + an f16 scale + a zero-point byte (the QTensor
    // form), not 4 bytes per element
    const blocks = (m.config.vocabSize * m.config.hiddenSize) / 32;
    expect(m.embeddingBytes).toBe(blocks * ((32 * bits) / 8 + 2 + 1));
    expect(maxAbsDiff(logitsOf(m), exp[`logits_${type}`].data as Float32Array)).toBeLessThan(TOL.float64);
    m.dispose();
    const a = await loadAsync(path.join(FIX, `tiny-llama-${type}.gguf`), { activations: 'int8' });
    expect((a.getLinear('model.layers.0.mlp.up_proj') as QuantLinear).activations).toBe('int8');
    a.dispose();
    expect(memory().bytes).toBe(base);
  });

  test('a GGUF without output.weight ties the head to token_embd: logits of its tied HF folder and of torch float64', () => {
    const base = memory().bytes;
    const e = loadSafetensors(path.join(FIX, 'tiny-llama-tied.expected.safetensors'), { map: false });
    const tids = Array.from(e.ids.data as Int32Array);
    const g = load(path.join(FIX, 'tiny-llama-tied-q8_0.gguf'));
    expect(g.config.tieWordEmbeddings).toBe(true);
    // the Q8_0 table stays quantized; the tied head runs the same codes through the int8 kernel
    expect(g.embeddingBytes).toBe(((g.config.vocabSize * g.config.hiddenSize) / 32) * 35);
    expect(g.getLinear('lm_head')).toBeInstanceOf(QuantLinear);
    const h = load(path.join(FIX, 'tiny-llama-tied-hf'));
    const y = g.forward(tids);
    const yh = h.forward(tids);
    expect(maxAbsDiff(y.data as Float32Array, e.logits_q8_0.data as Float32Array)).toBeLessThan(TOL.float64);
    expect(maxAbsDiff(yh.data as Float32Array, e.logits_f32.data as Float32Array)).toBeLessThan(TOL.float64);
    for (const t of [y, yh, ...Object.values(e)]) t.dispose();
    g.dispose();
    h.dispose();
    expect(memory().bytes).toBe(base);
  });

  test('a Qwen2 GGUF (q/k/v biases, no q/k permutation) gives the logits of its HF folder\'s dequantized weights in torch float64', () => {
    const base = memory().bytes;
    const e = loadSafetensors(path.join(FIX, 'tiny-qwen2.expected.safetensors'), { map: false });
    const tids = Array.from(e.ids.data as Int32Array);
    const g = load(path.join(FIX, 'tiny-qwen2-q8_0.gguf'));
    expect([g.config.modelType, g.config.attentionBias]).toEqual(['qwen2', true]);
    expect((g.getLinear('model.layers.1.self_attn.k_proj') as QuantLinear).bias).not.toBeNull();
    expect((g.getLinear('model.layers.1.self_attn.o_proj') as QuantLinear).bias).toBeNull();
    // the GGUF's own vocabulary tokenizes the prompt as Python tokenizers did on the source tokenizer.json
    expect(Array.from(ggufTokenizer(nt.io.readGguf(path.join(FIX, 'tiny-qwen2-q8_0.gguf')))!.encode('The quick brown fox jumps over the lazy dog; 12 fortunes.'))).toEqual(tids);
    const h = load(path.join(FIX, 'tiny-qwen2-hf'));
    const y = g.forward(tids);
    const yh = h.forward(tids);
    expect(maxAbsDiff(y.data as Float32Array, e.logits_q8_0.data as Float32Array)).toBeLessThan(TOL.float64);
    expect(maxAbsDiff(yh.data as Float32Array, e.logits_f32.data as Float32Array)).toBeLessThan(TOL.float64);
    for (const t of [y, yh, ...Object.values(e)]) t.dispose();
    g.dispose();
    h.dispose();
    expect(memory().bytes).toBe(base);
  });

  test("dtype: 'bf16' converts the float weights (and leaves the quantized ones)", () => {
    const m = load(path.join(FIX, 'tiny-llama-f32.gguf'), { dtype: 'bf16' });
    expect((m.getLinear('model.layers.1.self_attn.k_proj') as DenseLinear).weight.dtype).toBe('bf16');
    m.dispose();
  });

  test('metadata becomes an HF config: llama.* hyperparameters, tokens ids, untied head', () => {
    const g = nt.io.readGguf(path.join(FIX, 'tiny-llama-q8_0.gguf'));
    const hf = JSON.parse(fs.readFileSync(path.join(HF, 'config.json'), 'utf8'));
    const c = ggufConfigObject(g);
    for (const k of ['hidden_size', 'intermediate_size', 'num_hidden_layers', 'num_attention_heads', 'num_key_value_heads', 'vocab_size', 'head_dim', 'max_position_embeddings', 'tie_word_embeddings', 'bos_token_id', 'eos_token_id'])
      expect([k, c[k]]).toEqual([k, hf[k]]);
    expect(c.rope_theta).toBe(hf.rope_parameters.rope_theta);
    expect(c.rms_norm_eps).toBe(Math.fround(hf.rms_norm_eps)); // stored as f32
    expect(GGUF_ARCHITECTURES).toEqual(['llama', 'qwen2']);
  });
});

/** Writes a copy of a GGUF with one metadata string replaced (same length keeps every offset). */
function patched(name: string, from: string, to: string): string {
  const b = fs.readFileSync(path.join(FIX, 'tiny-llama-q4_0.gguf'));
  const at = b.indexOf(Buffer.from(from));
  expect(at).toBeGreaterThan(0);
  Buffer.from(to).copy(b, at);
  const p = path.join(dir, name);
  fs.writeFileSync(p, b);
  return p;
}

describe('GGUF model errors', () => {
  test('another architecture is NT_UNSUPPORTED naming it', async () => {
    const p = patched('arch.gguf', 'general.architecture\x08\x00\x00\x00\x05\x00\x00\x00\x00\x00\x00\x00llama', 'general.architecture\x08\x00\x00\x00\x05\x00\x00\x00\x00\x00\x00\x00gemma');
    const f = await failure(() => load(p));
    expect(f.code).toBe('NT_UNSUPPORTED');
    expect(f.message).toMatch(/general\.architecture "gemma" is not supported/);
  });

  test('a missing hyperparameter, a missing tensor, bad options: coded errors naming them', async () => {
    const p = patched('nokey.gguf', 'llama.block_count', 'llama.block_xount');
    expect(await failure(() => load(p))).toMatchObject({ code: 'NT_IO', message: expect.stringMatching(/metadata llama\.block_count is missing/) });
    const q = patched('notensor.gguf', 'blk.1.ffn_up.weight', 'blk.1.ffn_xp.weight');
    expect(await failure(() => load(q))).toMatchObject({ code: 'NT_IO', message: expect.stringMatching(/tensor blk\.1\.ffn_up\.weight is missing/) });
    expect((await failure(() => load(path.join(FIX, 'tiny-llama-q4_0.gguf'), { dtype: 'f64' as never }))).code).toBe('NT_DTYPE');
    expect((await failure(() => load(path.join(dir, 'absent.gguf')))).code).toBe('NT_IO');
    expect((await failure(() => load(path.join(FIX, 'types.gguf')))).code).toBe('NT_IO'); // no llama.* keys
  });
});

const TOKENIZERS = path.join(PACKAGE_ROOT, 'fixtures', 'tokenizers');
const TEXT = fs.readFileSync(path.join(TOKENIZERS, 'texts.txt'), 'utf8').split('\n');

function mismatches(tok: nt.tokenizer.Tokenizer, want: number[][]): string[] {
  const bad: string[] = [];
  want.forEach((ids, i) => {
    const got = Array.from(tok.encode(TEXT[i]));
    if (got.length !== ids.length || got.some((v, k) => v !== ids[k])) bad.push(`line ${i} ${JSON.stringify(TEXT[i])}: [${got}] vs [${ids}]`);
  });
  return bad;
}

describe('the tokenizer of a GGUF vocabulary', () => {
  test('"llama" (SentencePiece, written by llama.cpp\'s converter): ids equal sentencepiece\'s own on every line of the text set, decodes round-trip', () => {
    const g = nt.io.readGguf(path.join(FIX, 'vocab-spm.gguf'));
    const tok = ggufTokenizer(g)!;
    const want: number[][] = JSON.parse(fs.readFileSync(path.join(FIX, 'vocab-spm.expected.json'), 'utf8')).lines;
    expect(want.length).toBe(TEXT.length);
    // sentencepiece's encode reads "<s>" in text as characters; the tokenizer (like transformers'
    // and llama.cpp's with special parsing) as the control token: those lines are compared apart
    const control = /<s>|<\/s>|<unk>/;
    const plain = want.map((ids, i) => (control.test(TEXT[i]) ? null : ids));
    expect(plain.filter((x) => x === null).length).toBe(5);
    expect(mismatches(tok, plain.map((ids, i) => ids ?? Array.from(tok.encode(TEXT[i]))))).toEqual([]);
    expect(Array.from(tok.encode('<s> hello </s>'))).toEqual([1, 1, ...Array.from(tok.encode(' hello ')).slice(1), 2]);
    expect(tok.bosTokenId).toBe(1);
    expect(tok.eosTokenIds).toEqual([2]);
    // printable-ASCII lines come back exactly (the decoder strips the one prefix space it added)
    const ascii = TEXT.filter((t) => /^[\x20-\x7e]+$/.test(t) && !control.test(t));
    expect(ascii.length).toBeGreaterThan(50);
    for (const t of ascii) expect(tok.decode(tok.encode(t), { skipSpecialTokens: true })).toBe(t);
  });

  test.each(['gpt2', 'llama3', 'qwen2'])('"gpt2" BPE (%s, llama.cpp\'s converter): ids equal Python tokenizers on the source tokenizer.json', (family) => {
    const g = nt.io.readGguf(path.join(FIX, `vocab-${family}.gguf`));
    const tok = ggufTokenizer(g)!;
    const exp = JSON.parse(fs.readFileSync(path.join(TOKENIZERS, family, 'expected.json'), 'utf8')) as { lines: { ids: number[] }[] };
    expect(mismatches(tok, exp.lines.map((l) => l.ids))).toEqual([]);
  });

  test('the tiny model\'s GGUF carries a tokenizer; a file without one gives null; an unknown pre is NT_UNSUPPORTED', async () => {
    const g = nt.io.readGguf(path.join(FIX, 'tiny-llama-q4_0.gguf'));
    const tok = ggufTokenizer(g)!;
    expect(tok.encode('hello').length).toBeGreaterThan(1);
    expect(ggufTokenizer(nt.io.readGguf(path.join(FIX, 'types.gguf')))).toBeNull();
    const b = fs.readFileSync(path.join(FIX, 'vocab-qwen2.gguf'));
    const at = b.indexOf(Buffer.from('qwen2', 'latin1'), b.indexOf(Buffer.from('tokenizer.ggml.pre')));
    Buffer.from('qwenX').copy(b, at);
    const p = path.join(dir, 'pre.gguf');
    fs.writeFileSync(p, b);
    const f = await failure(() => ggufTokenizer(nt.io.readGguf(p)));
    expect(f).toMatchObject({ code: 'NT_UNSUPPORTED', message: expect.stringContaining('tokenizer.ggml.pre "qwenX"') });
  });

  test('a 256-token byte vocabulary ("gpt2" without merges, token i = GPT-2\'s unicode for byte i) encodes text as its UTF-8 bytes', () => {
    const printable = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    let k = 0;
    const tokens = Array.from({ length: 256 }, (_, b) => String.fromCodePoint(printable(b) ? b : 256 + k++));
    const md = (key: string, type: string, value: unknown) => ({ key, type, value });
    const g = new nt.io.GgufFile('bytes.gguf', {
      version: 3, alignment: 32, dataStart: 0, fileBytes: 0, tensors: [],
      metadata: [md('tokenizer.ggml.model', 'string', 'gpt2'), md('tokenizer.ggml.pre', 'string', 'smollm'), md('tokenizer.ggml.tokens', 'array', tokens),
        md('tokenizer.ggml.token_type', 'array', new Array(256).fill(1)), md('tokenizer.ggml.merges', 'array', [])],
    });
    const tok = ggufTokenizer(g)!;
    for (const t of TEXT.slice(0, 120)) {
      expect(Array.from(tok.encode(t))).toEqual(Array.from(Buffer.from(t, 'utf8')));
      expect(tok.decode(tok.encode(t))).toBe(t);
    }
  });
});
