// `ntensor export --gguf out.gguf`: a LLaMA-family model (a Hugging Face folder, or the folder
// `ntensor compress` writes) as a llama.cpp GGUF, and its EoRA / LoRA adapter as a llama.cpp
// LoRA adapter GGUF. What llama.cpp's convert_hf_to_gguf.py / convert_lora_to_gguf.py write:
//   tensors   token_embd, blk.N.{attn_norm, attn_q, attn_k, attn_v, attn_output, ffn_norm,
//             ffn_gate, ffn_up, ffn_down}, output_norm, output (absent when tied); the rows of
//             attn_q / attn_k (and of their LoRA B) permuted as LlamaModel.permute does: HF's
//             rotate-half rope pairs (i, i + d/2) become llama.cpp's adjacent pairs (2i, 2i + 1)
//   metadata  general.*, llama.* hyperparameters, tokenizer.ggml.*
//   types     --type for the dense decoder linears (q4_0 / q8_0 by ggml's reference RTN);
//             token_embd and output F32 / BF16 with --type f32 / bf16, else F16; norms F32;
//             int4 / int8 QTensors of a compressed folder as Q4_0 / Q8_0 codes + scales, never
//             requantized (they must be symmetric with group 32: lib/io/gguf-write.ts)
//   adapter   general.type "adapter", adapter.type "lora", adapter.lora.alpha = rank (the
//             PEFT alpha/r scale is folded into B on load, so llama.cpp's alpha/r is 1);
//             blk.N.<name>.weight.lora_a = A [r, d_in], .lora_b = B [d_out, r], F32
//   vocabulary a 256-token byte model (no tokenizer.json, as the fixture): "gpt2" BPE with no
//             merges whose token i is byte i under GPT-2's byte-to-unicode map, so llama.cpp
//             tokenizes text into its UTF-8 bytes and detokenizes them back; pre-tokenizer
//             "smollm" (a GPT-2 style split without the clean-up that deletes the space in
//             " ." on detokenization; with no merges the split never changes a token).
//             A byte-level BPE tokenizer.json (GPT-2, Llama 3, Qwen2 style): "gpt2" with its
//             tokens (ids past the tokenizer padded as [PAD<i>], type UNUSED, as
//             convert_hf_to_gguf does), merges, added tokens (special: CONTROL, else
//             USER_DEFINED), tokenizer.ggml.pre from the pre-tokenizer ('gpt-2', 'llama-bpe',
//             'qwen2', matched by its regex), BOS / EOS from tokenizer_config.json. Other
//             tokenizers (SentencePiece-style BPE with byte fallback, WordPiece ...) are
//             NT_UNSUPPORTED; a model with neither: tokenizer.ggml.model "none" (ids only).
import * as fs from 'fs';
import * as path from 'path';
import type { Command } from 'commander';
import type { GgufTensorEntry, GgufTensorType, GgufValue, GgufWriteReport } from '../io/gguf-write';
import type { ModelConfig } from '../model/config';
import type { LinearLike } from '../model/linear';
import type { QTensor } from '../quant/qtensor';
import type { Tensor } from '../tensor';
import type { CliContext } from './context';
import { formatBytes, keyValues } from './format';
import { UsageError, defaultModelDir } from './model-args';

type Library = typeof import('../index');

export const EXPORT_TYPES = ['f32', 'f16', 'bf16', 'q8_0', 'q4_0'] as const;
export type ExportType = (typeof EXPORT_TYPES)[number];

export interface ExportOptions {
  /** The model folder (dense or GPTQ). */
  model: string;
  /** A folder from `ntensor compress` (its weights replace the model's; its adapter/ is exported). */
  compressed?: string;
  out: string;
  type: ExportType;
  /** Where the LoRA GGUF goes (default: out with .gguf replaced by .lora.gguf). */
  loraOut?: string;
}

export interface ExportReport {
  file: string;
  bytes: number;
  tensors: number;
  /** Tensor count per GGUF type. */
  types: Record<string, number>;
  fileType: number;
  vocabulary: 'bytes' | 'bpe' | 'none';
  adapter: { file: string; bytes: number; modules: number; rank: number } | null;
  notes: string[];
}

const LINEAR_NAMES: Record<string, string> = {
  'self_attn.q_proj': 'attn_q',
  'self_attn.k_proj': 'attn_k',
  'self_attn.v_proj': 'attn_v',
  'self_attn.o_proj': 'attn_output',
  'mlp.gate_proj': 'ffn_gate',
  'mlp.up_proj': 'ffn_up',
  'mlp.down_proj': 'ffn_down',
};

/** llama_ftype of the file: what most of its weights are. */
const FILE_TYPE = { F32: 0, F16: 1, Q4_0: 2, Q8_0: 7, BF16: 32 } as const;

/**
 * convert_hf_to_gguf.py LlamaModel.permute as a row order: row i of the permuted weight is row
 * order[i] of the HF one. rows = heads · head_dim; within a head, HF row j·d/2 + i (j = 0, 1)
 * goes to 2i + j.
 */
export function ropePermutation(rows: number, heads: number): Int32Array {
  const hd = rows / heads;
  if (!Number.isInteger(hd) || hd % 2 !== 0) throw Object.assign(new Error(`[export] ${rows} rows do not split into ${heads} heads of an even size`), { code: 'NT_SHAPE' });
  const order = new Int32Array(rows);
  for (let h = 0; h < heads; ++h)
    for (let i = 0; i < hd / 2; ++i)
      for (let j = 0; j < 2; ++j) order[h * hd + 2 * i + j] = h * hd + j * (hd / 2) + i;
  return order;
}

/** GPT-2's byte-to-unicode map: printable bytes are themselves, the rest 256 + k (what byte-level BPE vocabularies store). */
export function byteTokens(): string[] {
  const printable = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  let k = 0;
  return Array.from({ length: 256 }, (_, b) => String.fromCodePoint(printable(b) ? b : 256 + k++));
}

/** The rows of a [rows, cols] tensor reordered (row i of the result = row order[i]); f32. */
function permuteRows(nt: Library, t: Tensor, order: Int32Array): Tensor {
  const c = t.astype('f32');
  try {
    const src = c.data as Float32Array;
    const cols = t.shape[1];
    const out = new Float32Array(src.length);
    order.forEach((from, i) => out.set(src.subarray(from * cols, (from + 1) * cols), i * cols));
    return nt.tensor(out, { shape: [t.shape[0], cols] });
  } finally {
    c.dispose();
  }
}

/** The same permutation for a QTensor: its codes, scales and zeros rows (groups run along the row). */
function permuteQRows(nt: Library, q: QTensor, order: Int32Array): QTensor {
  const rowsOf = (t: Tensor) => {
    const c = t.contiguous();
    try {
      const src = c.data as Uint8Array | Uint16Array | Float32Array;
      const w = t.shape[1];
      const out = new (src.constructor as Uint8ArrayConstructor)(src.length) as typeof src;
      order.forEach((from, i) => out.set(src.subarray(from * w, (from + 1) * w) as never, i * w));
      return nt.tensor(out, { dtype: t.dtype, shape: [t.shape[0], w] });
    } finally {
      c.dispose();
    }
  };
  if (q.gIdx) throw Object.assign(new Error('[export] act-order (gIdx) QTensors have no Q4_0 form'), { code: 'NT_UNSUPPORTED' });
  return new nt.quant.QTensor({ codes: rowsOf(q.codes), scales: rowsOf(q.scales), zeros: rowsOf(q.zeros), shape: q.shape, bits: q.bits, groupSize: q.groupSize, symmetric: q.symmetric });
}

const u32 = (value: number): GgufValue => ({ type: 'uint32', value });
const f32 = (value: number): GgufValue => ({ type: 'float32', value });
const str = (value: string): GgufValue => ({ type: 'string', value });

function modelMetadata(config: ModelConfig, arch: 'llama' | 'qwen2', name: string, fileType: number, quantized: boolean): Record<string, GgufValue> {
  const md: Record<string, GgufValue> = {
    'general.architecture': str(arch),
    'general.type': str('model'),
    'general.name': str(name),
    [`${arch}.context_length`]: u32(config.maxPositionEmbeddings),
    [`${arch}.embedding_length`]: u32(config.hiddenSize),
    [`${arch}.block_count`]: u32(config.numLayers),
    [`${arch}.feed_forward_length`]: u32(config.intermediateSize),
    [`${arch}.rope.dimension_count`]: u32(config.headDim),
    [`${arch}.attention.head_count`]: u32(config.numHeads),
    [`${arch}.attention.head_count_kv`]: u32(config.numKvHeads),
    [`${arch}.attention.layer_norm_rms_epsilon`]: f32(config.rmsNormEps),
    [`${arch}.rope.freq_base`]: f32(config.ropeTheta),
    [`${arch}.vocab_size`]: u32(config.vocabSize),
    'general.file_type': u32(fileType),
  };
  if (config.headDim * config.numHeads !== config.hiddenSize) {
    md[`${arch}.attention.key_length`] = u32(config.headDim);
    md[`${arch}.attention.value_length`] = u32(config.headDim);
  }
  if (quantized) md['general.quantization_version'] = u32(2);
  return md;
}

function byteVocabulary(): Record<string, GgufValue> {
  return {
    'tokenizer.ggml.model': str('gpt2'),
    'tokenizer.ggml.pre': str('smollm'),
    'tokenizer.ggml.tokens': { type: 'array', itemType: 'string', value: byteTokens() },
    'tokenizer.ggml.token_type': { type: 'array', itemType: 'int32', value: new Array(256).fill(1) },
    'tokenizer.ggml.merges': { type: 'array', itemType: 'string', value: [] },
    'tokenizer.ggml.add_bos_token': { type: 'bool', value: false },
    'tokenizer.ggml.add_eos_token': { type: 'bool', value: false },
  };
}

// the pre-tokenizer regexes of tokenizer.json that llama.cpp knows by a tokenizer.ggml.pre name
const LLAMA3_REGEX = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const QWEN2_REGEX = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

type Json = Record<string, unknown>;

/** tokenizer.ggml.pre for a byte-level pre-tokenizer (+ normalizer), or null. */
function preTokenizerName(pre: Json | null, normalizer: Json | null): string | null {
  if (pre?.type === 'ByteLevel' && pre.use_regex !== false && normalizer === null) return 'gpt-2';
  const parts = pre?.type === 'Sequence' ? (pre.pretokenizers as Json[]) : null;
  if (!parts || parts.length !== 2 || parts[0].type !== 'Split' || parts[1].type !== 'ByteLevel' || parts[1].use_regex !== false) return null;
  const regex = (parts[0].pattern as Json | undefined)?.Regex;
  if (regex === LLAMA3_REGEX && normalizer === null) return 'llama-bpe';
  if (regex === QWEN2_REGEX && normalizer?.type === 'NFC') return 'qwen2';
  return null;
}

/** Whether the post-processor puts a special token before the text (a BOS). */
function prependsSpecial(post: Json | null): boolean {
  if (!post) return false;
  if (post.type === 'Sequence') return (post.processors as Json[]).some(prependsSpecial);
  return post.type === 'TemplateProcessing' && Array.isArray(post.single) && (post.single as Json[])[0]?.SpecialToken !== undefined;
}

/** The "gpt2" GGUF vocabulary of a byte-level BPE tokenizer.json (see the header). */
export function bpeVocabulary(dir: string, vocabSize: number): Record<string, GgufValue> {
  const op = 'export';
  const code = (c: string, m: string) => Object.assign(new Error(`[${op}] ${path.join(dir, 'tokenizer.json')}: ${m}`), { code: c });
  let j: Json;
  try {
    j = JSON.parse(fs.readFileSync(path.join(dir, 'tokenizer.json'), 'utf8')) as Json;
  } catch (e) {
    throw code('NT_IO', `cannot be read as JSON (${(e as Error).message})`);
  }
  const model = j.model as Json | undefined;
  if (model?.type !== 'BPE') throw code('NT_UNSUPPORTED', `a ${String(model?.type)} tokenizer has no GGUF export here (byte-level BPE only)`);
  if (model.byte_fallback === true) throw code('NT_UNSUPPORTED', 'SentencePiece-style BPE (byte_fallback: llama.cpp\'s "llama" vocabulary) has no GGUF export here (byte-level BPE only)');
  const pre = preTokenizerName((j.pre_tokenizer ?? null) as Json | null, (j.normalizer ?? null) as Json | null);
  if (pre === null) throw code('NT_UNSUPPORTED', `pre-tokenizer ${JSON.stringify(j.pre_tokenizer)?.slice(0, 120)} has no llama.cpp tokenizer.ggml.pre name this export knows ('gpt-2', 'llama-bpe', 'qwen2')`);
  const tokens: (string | undefined)[] = new Array(vocabSize);
  const types = new Array<number>(vocabSize).fill(1);
  const place = (id: unknown, text: string, type: number) => {
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= vocabSize) throw code('NT_SHAPE', `token ${JSON.stringify(text)} has id ${String(id)}, outside the model's ${vocabSize} embeddings`);
    tokens[id] = text;
    types[id] = type;
  };
  for (const [text, id] of Object.entries(model.vocab as Record<string, number>)) place(id, text, 1);
  for (const a of (j.added_tokens ?? []) as Json[]) place(a.id, String(a.content), a.special === true ? 3 : 4);
  for (let i = 0; i < vocabSize; ++i)
    if (tokens[i] === undefined) {
      tokens[i] = `[PAD${i}]`;
      types[i] = 5;
    }
  const merges = ((model.merges ?? []) as (string | string[])[]).map((m) => (Array.isArray(m) ? m.join(' ') : m));
  const md: Record<string, GgufValue> = {
    'tokenizer.ggml.model': str('gpt2'),
    'tokenizer.ggml.pre': str(pre),
    'tokenizer.ggml.tokens': { type: 'array', itemType: 'string', value: tokens as string[] },
    'tokenizer.ggml.token_type': { type: 'array', itemType: 'int32', value: types },
    'tokenizer.ggml.merges': { type: 'array', itemType: 'string', value: merges },
  };
  // no tokenizer_config.json: no BOS / EOS ids beyond llama.cpp's defaults; a broken one is an
  // error (its BOS / EOS would be dropped from the file silently)
  const tcFile = path.join(dir, 'tokenizer_config.json');
  let tc: Json = {};
  if (fs.existsSync(tcFile)) {
    try {
      tc = JSON.parse(fs.readFileSync(tcFile, 'utf8')) as Json;
    } catch (e) {
      throw Object.assign(new Error(`[${op}] ${tcFile} is not valid JSON: ${(e as Error).message}`), { code: 'NT_IO' });
    }
    if (tc === null || typeof tc !== 'object' || Array.isArray(tc)) throw Object.assign(new Error(`[${op}] ${tcFile} must hold a JSON object, got ${tc === null ? 'null' : Array.isArray(tc) ? 'an array' : typeof tc}`), { code: 'NT_IO' });
  }
  const idOf = (t: unknown) => {
    const text = typeof t === 'string' ? t : typeof (t as Json | null)?.content === 'string' ? ((t as Json).content as string) : null;
    const i = text === null ? -1 : tokens.indexOf(text);
    return i >= 0 ? i : null;
  };
  const bos = idOf(tc.bos_token);
  const eos = idOf(tc.eos_token);
  if (bos !== null) md['tokenizer.ggml.bos_token_id'] = u32(bos);
  if (eos !== null) md['tokenizer.ggml.eos_token_id'] = u32(eos);
  const addBos = typeof tc.add_bos_token === 'boolean' ? tc.add_bos_token : prependsSpecial((j.post_processor ?? null) as Json | null);
  md['tokenizer.ggml.add_bos_token'] = { type: 'bool', value: addBos };
  return md;
}

function sameArchitecture(a: ModelConfig, b: ModelConfig): string | null {
  const keys = ['hiddenSize', 'intermediateSize', 'numLayers', 'numHeads', 'numKvHeads', 'headDim', 'vocabSize'] as const;
  const k = keys.find((key) => a[key] !== b[key]);
  return k ? `${k} ${a[k]} vs ${b[k]}` : null;
}

/** Tensor names of a model folder (model.safetensors, or the weight_map of a sharded index). */
function storedNames(nt: Library, dir: string): Set<string> {
  const index = path.join(dir, 'model.safetensors.index.json');
  if (fs.existsSync(index)) return new Set(Object.keys((JSON.parse(fs.readFileSync(index, 'utf8')) as { weight_map: object }).weight_map));
  return new Set(nt.io.safetensorsInfo(path.join(dir, 'model.safetensors')).tensors.map((t) => t.name));
}

/** Writes the GGUF (and the LoRA GGUF of a compressed folder's adapter). */
export function exportGguf(nt: Library, o: ExportOptions): ExportReport {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { saveGguf } = require('../io/gguf-write') as typeof import('../io/gguf-write');
  const op = 'export';
  const code = (c: string, m: string) => Object.assign(new Error(`[${op}] ${m}`), { code: c });
  if (!fs.existsSync(o.model)) throw code('NT_IO', `${o.model}: no such model folder`);
  const source = o.compressed ?? o.model;
  if (o.compressed !== undefined && !fs.existsSync(o.compressed)) throw code('NT_IO', `${o.compressed}: no such compressed folder`);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { requireCheckpointFolder } = require('../model/load-gguf') as typeof import('../model/load-gguf');
  for (const dir of [o.model, o.compressed]) requireCheckpointFolder(op, dir, "export writes a GGUF from a safetensors model (a GGUF file is already in llama.cpp's format)");
  const notes: string[] = [];
  const temps: (Tensor | QTensor)[] = [];
  const model = nt.model.load(source);
  let adapter: ReturnType<typeof nt.llm.loadLoraAdapter> | null = null;
  try {
    const config = model.config;
    if (o.compressed !== undefined) {
      const base = nt.model.load(o.model);
      const diff = sameArchitecture(base.config, config);
      base.dispose();
      if (diff) throw code('NT_SHAPE', `${o.compressed} is not a compression of ${o.model}: ${diff}`);
    }
    if (config.ropeScaling !== null) throw code('NT_UNSUPPORTED', `rope scaling (${JSON.stringify(config.ropeScaling)}) is not exported yet`);
    // llama.cpp's "qwen2" architecture for Qwen2 (q/k/v biases, NeoX rope: rows as stored), its
    // "llama" one for the rest: what the file has no place for is refused, never dropped
    const arch = config.modelType === 'qwen2' ? 'qwen2' : 'llama';
    if (config.qkNorm) throw code('NT_UNSUPPORTED', `${config.modelType}'s per-head q/k RMSNorm has no place in the ${arch} GGUF architecture written here (the file would run without it)`);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { biasedLinearSuffixes } = require('../model/weights') as typeof import('../model/weights');
    const biasedSet = biasedLinearSuffixes(config);
    const biased = [...biasedSet];
    if (arch === 'llama' && biased.length > 0)
      throw code('NT_UNSUPPORTED', `linear biases (${biased.map((b) => b.split('.').pop()).join(', ')}: ${config.modelType} attention_bias / mlp_bias) have no place in the llama GGUF architecture written here (the file would run without them)`);
    const windows = [...new Set(config.slidingWindows.filter((w): w is number => w !== null))];
    if (windows.length > 0)
      notes.push(`sliding window ${windows.join(', ')} (${config.slidingWindows.filter((w) => w !== null).length} of ${config.numLayers} layers) is not stored: llama.cpp's ${arch} architecture attends over the whole context, as convert_hf_to_gguf's files do, so past ${Math.min(...windows)} tokens it differs from the source`);
    const T = o.type.toUpperCase() as GgufTensorType;
    const outer: GgufTensorType = T === 'F32' || T === 'BF16' ? T : 'F16';
    const entries: GgufTensorEntry[] = [];
    const qOrder = ropePermutation(config.numHeads * config.headDim, config.numHeads);
    const kOrder = ropePermutation(config.numKvHeads * config.headDim, config.numKvHeads);
    // convert_hf_to_gguf permutes q/k rows for llama's rope; qwen2 runs NeoX rope on the rows as stored
    const orderOf = (suffix: string) => (arch !== 'llama' ? null : suffix === 'self_attn.q_proj' ? qOrder : suffix === 'self_attn.k_proj' ? kOrder : null);

    const names = ['model.embed_tokens.weight', 'model.norm.weight', ...Array.from({ length: config.numLayers }, (_, l) => [`model.layers.${l}.input_layernorm.weight`, `model.layers.${l}.post_attention_layernorm.weight`]).flat()];
    const hasHead = storedNames(nt, source).has('lm_head.weight');
    const plain = nt.io.loadSafetensors(source, { names: hasHead ? [...names, 'lm_head.weight'] : names });
    temps.push(...Object.values(plain));
    entries.push({ name: 'token_embd.weight', type: outer, tensor: plain['model.embed_tokens.weight'] });
    let quantizedLinears = 0;
    const fallbacks: string[] = [];
    /** A linear as the model runs it: its own codes (Q4_0/Q8_0, no requantization) or its dense weight at `dense`. */
    const emitLinear = (module: string, name: string, lin: LinearLike, order: Int32Array | null, dense: GgufTensorType) => {
      const blocksFit = lin.inFeatures % 32 === 0;
      if (lin instanceof nt.model.QuantLinear && !blocksFit) {
        // no 32-block type holds the row: write the QTensor's exact values instead
        const dq = nt.quant.dequantize(lin.q);
        temps.push(dq);
        const w = order ? permuteRows(nt, dq, order) : dq;
        if (order) temps.push(w);
        entries.push({ name, type: 'F32', tensor: w });
        fallbacks.push(`${name} (${lin.inFeatures} columns) F32, dequantized`);
      } else if (lin instanceof nt.model.QuantLinear) {
        const q = order ? permuteQRows(nt, lin.q, order) : lin.q;
        if (order) temps.push(q);
        entries.push({ name, type: q.bits === 8 ? 'Q8_0' : 'Q4_0', tensor: q });
        ++quantizedLinears;
      } else if (lin instanceof nt.model.DenseLinear) {
        const w = order ? permuteRows(nt, lin.weight, order) : lin.weight;
        if (order) temps.push(w);
        // as llama-quantize does (tensor_type_fallback): a row that 32-blocks do not divide stays F16
        const type = (dense === 'Q4_0' || dense === 'Q8_0') && !blocksFit ? 'F16' : dense;
        if (type !== dense) fallbacks.push(`${name} (${lin.inFeatures} columns) F16`);
        entries.push({ name, type, tensor: w });
      } else throw code('NT_UNSUPPORTED', `${module} is a ${(lin as object).constructor.name}: the GGUF writer takes DenseLinear and QuantLinear weights`);
    };
    for (let l = 0; l < config.numLayers; ++l) {
      const p = `model.layers.${l}.`;
      entries.push({ name: `blk.${l}.attn_norm.weight`, type: 'F32', tensor: plain[`${p}input_layernorm.weight`] });
      for (const [hf, gg] of Object.entries(LINEAR_NAMES)) {
        if (gg === 'ffn_gate') entries.push({ name: `blk.${l}.ffn_norm.weight`, type: 'F32', tensor: plain[`${p}post_attention_layernorm.weight`] });
        const lin = model.getLinear(p + hf);
        emitLinear(p + hf, `blk.${l}.${gg}.weight`, lin, orderOf(hf), T);
        if (biasedSet.has(hf)) {
          const bias = (lin as { bias?: Tensor | null }).bias;
          if (!bias) throw code('NT_IO', `${p + hf} has no bias, and ${config.modelType} stores one`);
          entries.push({ name: `blk.${l}.${gg}.bias`, type: 'F32', tensor: bias });
        }
      }
    }
    entries.push({ name: 'output_norm.weight', type: 'F32', tensor: plain['model.norm.weight'] });
    // the head as the model runs it: a quantized one (a --quantize-head folder stores no
    // lm_head.weight) is written from its codes, never left out as if tied
    const head = model.getLinear('lm_head');
    if (config.tieWordEmbeddings) notes.push('tied embeddings: no output.weight (llama.cpp reuses token_embd)');
    else if (head instanceof nt.model.DenseLinear && hasHead) entries.push({ name: 'output.weight', type: outer, tensor: plain['lm_head.weight'] });
    else emitLinear('lm_head', 'output.weight', head, null, outer);
    if (quantizedLinears > 0 && T !== 'Q4_0' && T !== 'Q8_0')
      notes.push(`${quantizedLinears} quantized linears written as Q4_0/Q8_0 codes + scales (no requantization); --type ${o.type} applies to the dense tensors`);
    if (fallbacks.length > 0) notes.push(`rows not a multiple of 32 (no Q4_0/Q8_0 block fits): ${fallbacks.length} tensors, ${fallbacks[0]}${fallbacks.length > 1 ? ', …' : ''}`);
    if (T === 'Q4_0' || T === 'Q8_0') notes.push(`token_embd${head instanceof nt.model.DenseLinear && !config.tieWordEmbeddings ? ' and output stay' : ' stays'} ${outer}; norms F32`);

    const types: Record<string, number> = {};
    for (const e of entries) types[e.type] = (types[e.type] ?? 0) + 1;
    const linearTypes = entries.filter((e) => /^blk\.\d+\.(attn_[qkvo]|attn_output|ffn_)/.test(e.name)).map((e) => e.type);
    const main = (['Q4_0', 'Q8_0', 'BF16', 'F16', 'F32'] as const).find((t) => linearTypes.includes(t)) ?? T;
    const fileType = FILE_TYPE[main as keyof typeof FILE_TYPE];
    // the tokenizer lives in the model folder (a compressed folder has none: --model's)
    const tokDir = [source, o.model].find((d) => fs.existsSync(path.join(d, 'tokenizer.json')));
    const vocabulary: ExportReport['vocabulary'] = tokDir ? 'bpe' : config.vocabSize === 256 ? 'bytes' : 'none';
    if (vocabulary === 'none') notes.push('no tokenizer.json: no vocabulary written (tokenizer.ggml.model "none"), llama.cpp runs token ids only');
    const metadata = {
      ...modelMetadata(config, arch, path.basename(path.resolve(source)), fileType, main === 'Q4_0' || main === 'Q8_0'),
      ...(vocabulary === 'bpe' ? bpeVocabulary(tokDir!, config.vocabSize) : vocabulary === 'bytes' ? byteVocabulary() : { 'tokenizer.ggml.model': str('none') }),
    };
    // the adapter's entries are built (and every refusal made) before either file is written
    let lora: { file: string; rank: number; modules: number; entries: GgufTensorEntry[] } | null = null;
    const adapterDir = o.compressed !== undefined ? path.join(o.compressed, 'adapter') : null;
    if (adapterDir && fs.existsSync(path.join(adapterDir, 'adapter_config.json'))) {
      adapter = nt.llm.loadLoraAdapter(adapterDir);
      // llama.cpp scales each module by alpha / (its lora_a rank) with one alpha per file, and B
      // already carries PEFT's scale: every module needs the same rank for that to be 1
      const ranks = [...new Set(Object.values(adapter.modules).map((f) => f.A.shape[0]))];
      if (ranks.length > 1) throw code('NT_UNSUPPORTED', `the adapter's modules have ranks ${ranks.join(', ')} (rank_pattern): a llama.cpp LoRA GGUF has one alpha for every module`);
      const loraEntries: GgufTensorEntry[] = [];
      for (const [module, f] of Object.entries(adapter.modules)) {
        const m = /^model\.layers\.(\d+)\.(self_attn\.[qkvo]_proj|mlp\.(?:gate|up|down)_proj)$/.exec(module);
        if (!m && module !== 'lm_head') throw code('NT_UNSUPPORTED', `adapter module '${module}' has no llama.cpp tensor`);
        if (!m && config.tieWordEmbeddings) throw code('NT_UNSUPPORTED', `adapter module 'lm_head' on tied embeddings: the GGUF has no output.weight to carry it`);
        const name = m ? `blk.${m[1]}.${LINEAR_NAMES[m[2]]}.weight` : 'output.weight';
        const order = m ? orderOf(m[2]) : null;
        const B = order ? permuteRows(nt, f.B, order) : f.B;
        if (order) temps.push(B);
        loraEntries.push({ name: `${name}.lora_a`, type: 'F32', tensor: f.A }, { name: `${name}.lora_b`, type: 'F32', tensor: B });
      }
      lora = { file: o.loraOut ?? o.out.replace(/(\.gguf)?$/i, '.lora.gguf'), rank: ranks[0], modules: Object.keys(adapter.modules).length, entries: loraEntries };
    } else if (o.loraOut !== undefined) notes.push(`--lora-out ignored: ${adapterDir ? `${adapterDir} holds no adapter` : 'only a --compressed folder has an adapter'}`);
    else if (adapterDir) notes.push(`${adapterDir}: no adapter, none written`);

    const written: GgufWriteReport = saveGguf(o.out, metadata, entries);
    if (written.scalesRounded.length > 0) notes.push(`${written.scalesRounded.length} QTensors had f32 scales, rounded to f16 (codes unchanged)`);
    let adapterReport: ExportReport['adapter'] = null;
    if (lora) {
      const w = saveGguf(
        lora.file,
        {
          'general.architecture': str(arch),
          'general.type': str('adapter'),
          'general.name': str(`${path.basename(path.resolve(source))} adapter`),
          'adapter.type': str('lora'),
          // B carries PEFT's alpha / r already (loadLoraAdapter folds it in): llama.cpp's alpha / r must be 1
          'adapter.lora.alpha': f32(lora.rank),
        },
        lora.entries,
      );
      adapterReport = { file: lora.file, bytes: w.bytes, modules: lora.modules, rank: lora.rank };
    }
    return { file: o.out, bytes: written.bytes, tensors: written.tensors, types, fileType, vocabulary, adapter: adapterReport, notes };
  } finally {
    temps.forEach((t) => t.dispose());
    adapter?.dispose();
    model.dispose();
  }
}

interface ExportCliOptions {
  gguf?: string;
  model?: string;
  compressed?: string;
  type: string;
  loraOut?: string;
  json?: boolean;
}

export function registerExport(program: Command, ctx: CliContext): void {
  program
    .command('export')
    .description('write a model (dense, or a `ntensor compress` folder with its adapter) as llama.cpp GGUF files')
    .option('--gguf <file>', 'output GGUF file')
    .option('--model <dir>', 'Hugging Face model folder (default: the bundled fixtures/tinyllama-fortunes)')
    .option('--compressed <dir>', 'a folder from `ntensor compress`: its int4 weights go out as Q4_0, its adapter as a LoRA GGUF')
    .option('--type <t>', `dense decoder linears: ${EXPORT_TYPES.join(', ')}`, 'f16')
    .option('--lora-out <file>', 'the adapter GGUF (default: the --gguf name with .lora.gguf)')
    .option('--json', 'print the report as JSON')
    .action((o: ExportCliOptions) => {
      try {
        if (o.gguf === undefined) throw new UsageError('--gguf FILE is required');
        if (!(EXPORT_TYPES as readonly string[]).includes(o.type)) throw new UsageError(`--type must be one of ${EXPORT_TYPES.join(', ')}, got '${o.type}'`);
        const nt = ctx.library('export');
        if (!nt) return;
        const report = exportGguf(nt, { model: o.model ?? defaultModelDir(), compressed: o.compressed, out: o.gguf, type: o.type as ExportType, loraOut: o.loraOut });
        if (o.json) {
          ctx.out(JSON.stringify(report, null, 2) + '\n');
          return;
        }
        ctx.out(
          keyValues(
            [
              ['wrote', `${report.file} (${formatBytes(report.bytes)}, ${report.tensors} tensors: ${Object.entries(report.types).map(([t, n]) => `${n} ${t}`).join(', ')})`],
              ['vocabulary', { bytes: '256 byte tokens (gpt2 byte-level, no merges)', bpe: 'tokenizer.json (gpt2 byte-level BPE)', none: 'none (token ids only)' }[report.vocabulary]],
              ['adapter', report.adapter ? `${report.adapter.file} (${formatBytes(report.adapter.bytes)}, ${report.adapter.modules} modules, rank ${report.adapter.rank})` : '-'],
              ...report.notes.map((n) => ['note', n] as [string, string]),
            ],
            ctx.st,
          ),
        );
      } catch (e) {
        ctx.failWith('export', e);
      }
    });
}
