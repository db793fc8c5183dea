// nt.model.load('x.gguf'): a llama.cpp GGUF of general.architecture "llama" (LLaMA, Mistral,
// TinyLlama and the other files convert_hf_to_gguf.py writes with LlamaModel) or "qwen2" into
// the same LlamaModel the safetensors loader builds:
//   names          token_embd / blk.N.{attn_q,attn_k,attn_v,attn_output,ffn_gate,ffn_up,ffn_down,
//                  attn_norm,ffn_norm} / output_norm / output (absent: tied to token_embd) -> the
//                  Hugging Face names the runner uses
//   q/k rows       convert_hf_to_gguf's LlamaModel.permute interleaves the two rotary halves of
//                  each head's rows (and of q/k biases); undone here (rows of blocks for Q4_0/Q8_0:
//                  the permutation is over rows, so every block moves whole). Qwen2 files keep HF's
//                  layout (llama.cpp runs them with NeoX rope): nothing to undo
//   biases         blk.N.attn_{q,k,v}.bias of qwen2 (and of a llama with attention_bias), f32
//   weights        see nt.io.readGguf: F32/F16/BF16 mapped (dtype 'auto'), Q4_0/Q8_0 decoder linears
//                  and output as QuantLinears over the file's own codes and scales, Q4_1 and
//                  K-quants dequantized; a Q4_0/Q8_0 token_embd stays quantized (its rows
//                  dequantized as the forward gathers them; tied, the head is a QuantLinear over
//                  a second copy of the same codes), other types load densely (f32, or `dtype`)
//   config         llama.* metadata -> an HF-style config object -> parseConfig, so every field of
//                  ModelConfig gets its usual default and check
//   rope_freqs     llama 3's per-frequency factors (a tensor, not metadata) divide the inverse
//                  frequencies, as llama.cpp's rope does
// The tokenizer is built from the GGUF vocabulary separately (ggufTokenizer, ./gguf-vocab.ts).
import * as fs from 'fs';
import * as nodePath from 'path';
import { ntError } from '../errors';
import { GgufFile, readGguf } from '../io/gguf';
import { ropeInverseFrequencies } from '../ops';
import { QTensor } from '../quant/qtensor';
import { Tensor } from '../tensor';
import { ModelConfig, parseConfig, ropeFrequencies } from './config';
import { DenseLinear, LinearLike, QuantLinear } from './linear';
import { LlamaModel } from './model';
import { biasedLinearSuffixes } from './weights';
import type { LoadOptions } from './load';

const OP = 'model.load';

const LAYER_NAMES: Readonly<Record<string, string>> = {
  attn_q: 'self_attn.q_proj',
  attn_k: 'self_attn.k_proj',
  attn_v: 'self_attn.v_proj',
  attn_output: 'self_attn.o_proj',
  ffn_gate: 'mlp.gate_proj',
  ffn_up: 'mlp.up_proj',
  ffn_down: 'mlp.down_proj',
  attn_norm: 'input_layernorm',
  ffn_norm: 'post_attention_layernorm',
};
const LINEARS = ['attn_q', 'attn_k', 'attn_v', 'attn_output', 'ffn_gate', 'ffn_up', 'ffn_down'];

/** Architectures whose GGUF layout this loader reads. */
export const GGUF_ARCHITECTURES: readonly string[] = ['llama', 'qwen2'];
/** Architectures whose q/k rows convert_hf_to_gguf permutes (LlamaModel and its subclasses). */
const PERMUTED = new Set(['llama']);

function fail(code: 'NT_IO' | 'NT_VALUE' | 'NT_UNSUPPORTED', file: string, msg: string): never {
  throw ntError(code, `[${OP}] ${file}: ${msg}`);
}

function num(g: GgufFile, key: string, required: boolean): number | undefined {
  const v = g.metadata[key];
  if (v === undefined) {
    if (required) fail('NT_IO', g.path, `metadata ${key} is missing`);
    return undefined;
  }
  if (typeof v !== 'number') fail('NT_IO', g.path, `metadata ${key} must be a number, got ${typeof v === 'bigint' ? `${v} (past 2^53)` : JSON.stringify(v)}`);
  return v;
}

/** The HF-style config.json object the metadata describes (parseConfig validates it). */
export function ggufConfigObject(g: GgufFile): Record<string, unknown> {
  const arch = g.metadata['general.architecture'];
  if (typeof arch !== 'string') fail('NT_IO', g.path, 'metadata general.architecture is missing or not a string');
  if (!GGUF_ARCHITECTURES.includes(arch))
    fail('NT_UNSUPPORTED', g.path, `general.architecture "${arch}" is not supported (supported: ${GGUF_ARCHITECTURES.join(', ')})`);
  const k = (s: string) => `${arch}.${s}`;
  const heads = num(g, k('attention.head_count'), true)!;
  const hidden = num(g, k('embedding_length'), true)!;
  const headDim = num(g, k('attention.key_length'), false) ?? hidden / heads;
  const valueDim = num(g, k('attention.value_length'), false);
  if (valueDim !== undefined && valueDim !== headDim)
    fail('NT_UNSUPPORTED', g.path, `${k('attention.value_length')} ${valueDim} differs from the key length ${headDim}`);
  const rotary = num(g, k('rope.dimension_count'), false);
  if (rotary !== undefined && rotary !== headDim)
    fail('NT_UNSUPPORTED', g.path, `${k('rope.dimension_count')} ${rotary} is not the head size ${headDim} (partial rotary embeddings)`);
  const embd = g.has('token_embd.weight') ? g.info('token_embd.weight') : fail('NT_IO', g.path, 'tensor token_embd.weight is missing');
  const tokens = g.metadata['tokenizer.ggml.tokens'];
  const vocab = num(g, k('vocab_size'), false) ?? (Array.isArray(tokens) ? tokens.length : embd.shape[0]);
  const cfg: Record<string, unknown> = {
    model_type: arch,
    architectures: [arch === 'qwen2' ? 'Qwen2ForCausalLM' : 'LlamaForCausalLM'],
    hidden_size: hidden,
    intermediate_size: num(g, k('feed_forward_length'), true),
    num_hidden_layers: num(g, k('block_count'), true),
    num_attention_heads: heads,
    num_key_value_heads: num(g, k('attention.head_count_kv'), false) ?? heads,
    head_dim: headDim,
    vocab_size: vocab,
    rope_theta: num(g, k('rope.freq_base'), false) ?? 10000,
    rms_norm_eps: num(g, k('attention.layer_norm_rms_epsilon'), true),
    max_position_embeddings: num(g, k('context_length'), true),
    tie_word_embeddings: !g.has('output.weight'),
    hidden_act: 'silu',
  };
  if (arch === 'qwen2') cfg.use_sliding_window = false; // llama.cpp's qwen2 attends over the whole context
  else if (g.has('blk.0.attn_q.bias')) cfg.attention_bias = true;
  const bos = num(g, 'tokenizer.ggml.bos_token_id', false);
  const eos = num(g, 'tokenizer.ggml.eos_token_id', false);
  if (bos !== undefined) cfg.bos_token_id = bos;
  if (eos !== undefined) cfg.eos_token_id = eos;
  const scaling = g.metadata[k('rope.scaling.type')];
  if (scaling !== undefined && scaling !== 'none') {
    const factor = num(g, k('rope.scaling.factor'), true);
    if (scaling === 'linear') cfg.rope_scaling = { rope_type: 'linear', factor };
    else if (scaling === 'yarn')
      cfg.rope_scaling = { rope_type: 'yarn', factor, original_max_position_embeddings: num(g, k('rope.scaling.original_context_length'), true) };
    else fail('NT_UNSUPPORTED', g.path, `${k('rope.scaling.type')} "${String(scaling)}" is not supported (linear, yarn)`);
  }
  return cfg;
}

/** HF row r = h·d + s·d/2 + j of a head of d rows comes from GGUF row h·d + 2j + s (LlamaModel.permute undone). */
export function unpermuteRowOrder(rows: number, heads: number): Int32Array {
  const d = rows / heads;
  const half = d / 2;
  const src = new Int32Array(rows);
  for (let h = 0; h < heads; ++h) for (let s = 0; s < 2; ++s) for (let j = 0; j < half; ++j) src[h * d + s * half + j] = h * d + 2 * j + s;
  return src;
}

/** A fresh contiguous copy of t whose row i is t's row src[i] (t contiguous, rows along dim 0). */
function gatherRows(t: Tensor, src: Int32Array): Tensor {
  const rows = t.shape[0];
  const per = t.data.length / rows;
  const out = Tensor._empty(OP, t.shape, t.dtype);
  const from = t.data as Uint8Array;
  const to = out.data as Uint8Array;
  for (let i = 0; i < rows; ++i) to.set(from.subarray(src[i] * per, (src[i] + 1) * per), i * per);
  return out;
}

function permuteQ(q: QTensor, src: Int32Array): QTensor {
  const parts: Tensor[] = [];
  try {
    for (const t of [q.codes, q.scales, q.zeros]) parts.push(gatherRows(t, src));
    return new QTensor({ codes: parts[0], scales: parts[1], zeros: parts[2], gIdx: null, shape: q.shape, bits: q.bits, groupSize: q.groupSize, symmetric: q.symmetric });
  } catch (e) {
    for (const t of parts) t.dispose();
    throw e;
  } finally {
    q.dispose();
  }
}

type Weight = Tensor | QTensor;

function loadWeight(g: GgufFile, name: string, dtype: LoadOptions['dtype'], dense: boolean): Weight {
  const info = g.info(name);
  const target = dtype === undefined || dtype === 'auto' ? undefined : dtype;
  let w: Weight = dense && !(info.type in { F32: 1, F16: 1, BF16: 1 }) ? g.dequantize(name, { dtype: target ?? 'f32' }) : g.tensor(name, { dtype: target ?? 'f32' });
  if (w instanceof Tensor && target !== undefined && w.dtype !== target) {
    const c = w.astype(target);
    w.dispose();
    w = c;
  }
  return w;
}

function f32Vector(g: GgufFile, name: string, len: number): Tensor {
  const info = g.info(name);
  if (info.shape.length !== 1 || info.shape[0] !== len) fail('NT_IO', g.path, `tensor ${name} has shape [${info.shape}], expected [${len}]`);
  return g.dequantize(name);
}

function checkShape(g: GgufFile, name: string, shape: number[]): void {
  const s = g.info(name).shape;
  if (s.length !== shape.length || s.some((d, i) => d !== shape[i]))
    fail('NT_IO', g.path, `tensor ${name} has shape [${s}], expected [${shape}] from the metadata`);
}

function checkOptions(opts: unknown): { dtype: NonNullable<LoadOptions['dtype']>; activations: 'f32' | 'int8' } {
  if (opts === undefined) return { dtype: 'auto', activations: 'f32' };
  if (opts === null || typeof opts !== 'object') throw ntError('NT_VALUE', `[${OP}] options must be an object`);
  const { dtype = 'auto', activations = 'f32' } = opts as LoadOptions;
  if (!['auto', 'f32', 'bf16', 'f16'].includes(dtype)) throw ntError('NT_DTYPE', `[${OP}] dtype must be one of auto, f32, bf16, f16, got ${String(dtype)}`);
  if (activations !== 'f32' && activations !== 'int8') throw ntError('NT_VALUE', `[${OP}] activations must be 'f32' or 'int8', got ${String(activations)}`);
  return { dtype, activations };
}

/** The LlamaModel of a GGUF file (see the file comment). `model.dir` is the file's path. */
export function loadGguf(path: string, opts?: LoadOptions): LlamaModel {
  const { dtype, activations } = checkOptions(opts);
  const g = readGguf(path);
  const config: ModelConfig = parseConfig(OP, path, ggufConfigObject(g));
  const c = config;
  const q = c.numHeads * c.headDim;
  const kv = c.numKvHeads * c.headDim;
  const shapes: Record<string, number[]> = {
    attn_q: [q, c.hiddenSize], attn_k: [kv, c.hiddenSize], attn_v: [kv, c.hiddenSize], attn_output: [c.hiddenSize, q],
    ffn_gate: [c.intermediateSize, c.hiddenSize], ffn_up: [c.intermediateSize, c.hiddenSize], ffn_down: [c.hiddenSize, c.intermediateSize],
  };
  checkShape(g, 'token_embd.weight', [c.vocabSize, c.hiddenSize]);
  if (g.has('output.weight')) checkShape(g, 'output.weight', [c.vocabSize, c.hiddenSize]);
  for (let l = 0; l < c.numLayers; ++l) {
    for (const t of LINEARS) {
      const n = `blk.${l}.${t}.weight`;
      if (!g.has(n)) fail('NT_IO', path, `tensor ${n} is missing`);
      checkShape(g, n, shapes[t]);
    }
    for (const t of ['attn_norm', 'ffn_norm']) if (!g.has(`blk.${l}.${t}.weight`)) fail('NT_IO', path, `tensor blk.${l}.${t}.weight is missing`);
  }
  if (!g.has('output_norm.weight')) fail('NT_IO', path, 'tensor output_norm.weight is missing');
  const biased = biasedLinearSuffixes(c);
  const known = new Set(['token_embd.weight', 'output.weight', 'output_norm.weight', 'rope_freqs.weight']);
  for (let l = 0; l < c.numLayers; ++l) {
    for (const t of Object.keys(LAYER_NAMES)) known.add(`blk.${l}.${t}.weight`);
    for (const t of LINEARS) {
      if (!biased.has(LAYER_NAMES[t])) continue;
      known.add(`blk.${l}.${t}.bias`);
      if (!g.has(`blk.${l}.${t}.bias`)) fail('NT_IO', path, `tensor blk.${l}.${t}.bias is missing`);
    }
  }
  const extra = g.tensors.filter((t) => !known.has(t.name)).map((t) => t.name);
  if (extra.length > 0) fail('NT_UNSUPPORTED', path, `tensors the LLaMA runner has no place for: ${extra.slice(0, 5).join(', ')}${extra.length > 5 ? ', ...' : ''}`);

  const w: Record<string, Tensor> = {};
  const prebuilt = new Map<string, LinearLike>();
  let inv: Tensor | undefined;
  let head: LinearLike | undefined;
  let embed: Tensor | QTensor | undefined;
  try {
    embed = loadWeight(g, 'token_embd.weight', dtype, false);
    if (embed instanceof Tensor) w['model.embed_tokens.weight'] = embed;
    w['model.norm.weight'] = f32Vector(g, 'output_norm.weight', c.hiddenSize);
    const permuted = PERMUTED.has(c.modelType);
    const qOrder = permuted ? unpermuteRowOrder(q, c.numHeads) : null;
    const kOrder = permuted ? unpermuteRowOrder(kv, c.numKvHeads) : null;
    for (let l = 0; l < c.numLayers; ++l) {
      const p = `model.layers.${l}.`;
      w[`${p}input_layernorm.weight`] = f32Vector(g, `blk.${l}.attn_norm.weight`, c.hiddenSize);
      w[`${p}post_attention_layernorm.weight`] = f32Vector(g, `blk.${l}.ffn_norm.weight`, c.hiddenSize);
      for (const t of LINEARS) {
        let x = loadWeight(g, `blk.${l}.${t}.weight`, dtype, false);
        const order = t === 'attn_q' ? qOrder : t === 'attn_k' ? kOrder : null;
        if (order) {
          if (x instanceof QTensor) x = permuteQ(x, order);
          else {
            const y: Tensor = gatherRows(x, order);
            x.dispose();
            x = y;
          }
        }
        let bias: Tensor | undefined;
        try {
          if (biased.has(LAYER_NAMES[t])) {
            bias = f32Vector(g, `blk.${l}.${t}.bias`, shapes[t][0]);
            if (order) {
              const b = gatherRows(bias, order);
              bias.dispose();
              bias = b;
            }
          }
          prebuilt.set(p + LAYER_NAMES[t], x instanceof QTensor ? new QuantLinear(x, { activations, bias }) : new DenseLinear(x, bias));
        } catch (e) {
          x.dispose();
          bias?.dispose();
          throw e;
        }
      }
    }
    // the head: the output weight (a QuantLinear when quantized), or tied to the table, which
    // when quantized is a QuantLinear over the same codes (its own copy: the gather and the
    // linear each own their QTensor)
    let lmHead: Tensor | undefined = embed instanceof Tensor ? embed : undefined;
    if (g.has('output.weight')) {
      const o = loadWeight(g, 'output.weight', dtype, false);
      if (o instanceof QTensor) head = new QuantLinear(o, { activations });
      else lmHead = o;
    } else if (embed instanceof QTensor) {
      head = new QuantLinear(loadWeight(g, 'token_embd.weight', dtype, false) as QTensor, { activations });
    }
    let freqs = ropeFrequencies(c, ropeInverseFrequencies(c.headDim, c.ropeTheta));
    if (g.has('rope_freqs.weight')) {
      const f = f32Vector(g, 'rope_freqs.weight', c.headDim / 2);
      const factors = f.data as Float32Array;
      freqs = freqs.map((v, i) => Math.fround(v / factors[i]));
      f.dispose();
    }
    inv = Tensor._wrap(freqs, 'f32', [c.headDim / 2]);
    const model = new LlamaModel(c, path, embed, w['model.norm.weight'], head ?? lmHead!, inv, w, prebuilt);
    head = undefined;
    embed = undefined;
    return model;
  } catch (e) {
    for (const t of Object.values(w)) t.dispose();
    for (const lin of prebuilt.values()) lin.dispose();
    head?.dispose();
    if (embed instanceof QTensor) embed.dispose(); // a dense one is in w
    inv?.dispose();
    const err = e as { code?: string; message?: string };
    if (typeof err?.code === 'string' && err.code.startsWith('NT_')) throw ntError(err.code as never, `[${OP}] ${String(err.message).replace(/^\[[^\]]*\]\s*/, '')}`);
    throw e;
  } finally {
    g.dispose();
  }
}

/** True for a path nt.model.load reads as GGUF. */
export function isGgufPath(p: unknown): p is string {
  return typeof p === 'string' && nodePath.extname(p).toLowerCase() === '.gguf';
}

/**
 * NT_UNSUPPORTED when `dir` (a model path, or a loaded model's dir) is a GGUF or another file,
 * for the operations that read a safetensors checkpoint folder beside the model; `reads` says
 * what they take from it. A missing path passes: the load that follows names it.
 */
export function requireCheckpointFolder(op: string, dir: unknown, reads: string): void {
  if (isGgufPath(dir) || (typeof dir === 'string' && fs.existsSync(dir) && !fs.statSync(dir).isDirectory()))
    throw ntError('NT_UNSUPPORTED', `[${op}] ${String(dir)} is a file, not a safetensors checkpoint folder: ${reads}`);
}
