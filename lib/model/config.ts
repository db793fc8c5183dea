// config.json of a Hugging Face LLaMA-family folder -> ModelConfig, validated. Everything the
// runner does not implement (biases, other activations, unknown rope scaling, sliding
// windows shorter than the context) is NT_UNSUPPORTED here, before any weight is read.
import * as fs from 'fs';
import * as nodePath from 'path';
import { ntError } from '../errors';
import { checkInsideFolder } from '../io/common';

export type RopeScaling =
  | { type: 'linear'; factor: number }
  | { type: 'llama3'; factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPositionEmbeddings: number };

export interface ModelConfig {
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  vocabSize: number;
  ropeTheta: number;
  rmsNormEps: number;
  maxPositionEmbeddings: number;
  tieWordEmbeddings: boolean;
  /** null when the config has none (or 'default'). */
  ropeScaling: RopeScaling | null;
  /** Generation stops at these (config eos_token_id; empty when null). */
  eosTokenIds: number[];
  /** config model_type, e.g. 'llama'. */
  modelType: string;
  /** quantization_config of a GPTQ checkpoint (decoder linears stored as qweight/qzeros/scales/g_idx), else null. */
  quantization: GptqQuantization | null;
}

export interface GptqQuantization {
  bits: 2 | 3 | 4 | 8;
  /** Columns per group; -1 means one group per row. */
  groupSize: number;
  sym: boolean;
  descAct: boolean;
  /** 'gptq' stores zero − 1 in qzeros (AutoGPTQ v1), 'gptq_v2' the zero itself. */
  checkpointFormat: 'gptq' | 'gptq_v2';
}

function parseQuantization(op: string, file: string, raw: unknown): GptqQuantization | null {
  if (raw === undefined || raw === null) return null;
  if (typeof raw !== 'object' || Array.isArray(raw)) fail('NT_IO', op, file, 'quantization_config must be an object');
  const q = raw as Record<string, unknown>;
  if (q.quant_method !== 'gptq')
    fail('NT_UNSUPPORTED', op, file, `quantization_config.quant_method ${JSON.stringify(q.quant_method)} is not supported (only 'gptq')`);
  const bits = q.bits;
  if (bits !== 2 && bits !== 3 && bits !== 4 && bits !== 8) fail('NT_IO', op, file, `quantization_config.bits must be 2, 3, 4 or 8, got ${JSON.stringify(bits)}`);
  const groupSize = q.group_size ?? 128;
  if (typeof groupSize !== 'number' || !Number.isInteger(groupSize) || (groupSize < 1 && groupSize !== -1))
    fail('NT_IO', op, file, `quantization_config.group_size must be a positive integer or -1, got ${JSON.stringify(q.group_size)}`);
  const format = q.checkpoint_format ?? 'gptq';
  if (format !== 'gptq' && format !== 'gptq_v2')
    fail('NT_UNSUPPORTED', op, file, `quantization_config.checkpoint_format ${JSON.stringify(format)} is not supported ('gptq', 'gptq_v2')`);
  return { bits, groupSize, sym: q.sym !== false, descAct: q.desc_act === true, checkpointFormat: format };
}

/** Model types whose decoder is the LLaMA block (RMSNorm, RoPE, GQA attention, SwiGLU MLP, no biases). */
const LLAMA_FAMILY = new Set(['llama', 'mistral']);

function fail(code: 'NT_IO' | 'NT_VALUE' | 'NT_UNSUPPORTED', op: string, file: string, msg: string): never {
  throw ntError(code, `[${op}] ${file}: ${msg}`);
}

function posInt(op: string, file: string, raw: Record<string, unknown>, key: string, dflt?: number): number {
  const v = raw[key] ?? dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) fail('NT_IO', op, file, `${key} must be a positive integer, got ${JSON.stringify(raw[key])}`);
  return v;
}

function posNum(op: string, file: string, raw: Record<string, unknown>, key: string, dflt: number): number {
  const v = raw[key] ?? dflt;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) fail('NT_IO', op, file, `${key} must be a finite number > 0, got ${JSON.stringify(raw[key])}`);
  return v;
}

function parseRopeScaling(op: string, file: string, raw: unknown): RopeScaling | null {
  if (raw === undefined || raw === null) return null;
  if (typeof raw !== 'object' || Array.isArray(raw)) fail('NT_IO', op, file, `rope_scaling must be an object or null`);
  const r = raw as Record<string, unknown>;
  const type = r.rope_type ?? r.type;
  if (type === 'default') return null;
  const num = (key: string): number => {
    const v = r[key];
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) fail('NT_IO', op, file, `rope_scaling.${key} must be a finite number > 0, got ${JSON.stringify(v)}`);
    return v;
  };
  if (type === 'linear') return { type: 'linear', factor: num('factor') };
  if (type === 'llama3') {
    const s = {
      type: 'llama3' as const,
      factor: num('factor'),
      lowFreqFactor: num('low_freq_factor'),
      highFreqFactor: num('high_freq_factor'),
      originalMaxPositionEmbeddings: num('original_max_position_embeddings'),
    };
    if (s.highFreqFactor <= s.lowFreqFactor)
      fail('NT_IO', op, file, `rope_scaling.high_freq_factor (${s.highFreqFactor}) must exceed low_freq_factor (${s.lowFreqFactor})`);
    return s;
  }
  fail('NT_UNSUPPORTED', op, file, `rope_scaling type ${JSON.stringify(type)} is not supported (supported: 'linear', 'llama3')`);
}

/** Parses and validates a config object (as read from `file`, named in messages). */
export function parseConfig(op: string, file: string, raw: unknown): ModelConfig {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) fail('NT_IO', op, file, 'is not a JSON object');
  const c = raw as Record<string, unknown>;
  const modelType = c.model_type;
  const archs = Array.isArray(c.architectures) ? (c.architectures as unknown[]).map(String) : [];
  if (typeof modelType !== 'string' || !LLAMA_FAMILY.has(modelType))
    fail('NT_UNSUPPORTED', op, file, `model_type ${JSON.stringify(modelType)}${archs.length ? ` (${archs.join(', ')})` : ''} is not a LLaMA-family model; supported: ${[...LLAMA_FAMILY].join(', ')}`);
  const act = c.hidden_act ?? 'silu';
  if (act !== 'silu') fail('NT_UNSUPPORTED', op, file, `hidden_act ${JSON.stringify(act)} is not supported (only 'silu')`);
  if (c.attention_bias === true) fail('NT_UNSUPPORTED', op, file, 'attention_bias = true is not supported');
  if (c.mlp_bias === true) fail('NT_UNSUPPORTED', op, file, 'mlp_bias = true is not supported');
  const hiddenSize = posInt(op, file, c, 'hidden_size');
  const numHeads = posInt(op, file, c, 'num_attention_heads');
  const numKvHeads = posInt(op, file, c, 'num_key_value_heads', numHeads);
  if (numHeads % numKvHeads !== 0)
    fail('NT_IO', op, file, `num_attention_heads (${numHeads}) must be a multiple of num_key_value_heads (${numKvHeads})`);
  let headDim: number;
  if (c.head_dim !== undefined && c.head_dim !== null) headDim = posInt(op, file, c, 'head_dim');
  else {
    if (hiddenSize % numHeads !== 0) fail('NT_IO', op, file, `hidden_size (${hiddenSize}) is not a multiple of num_attention_heads (${numHeads}) and head_dim is not given`);
    headDim = hiddenSize / numHeads;
  }
  if (headDim % 2 !== 0) fail('NT_IO', op, file, `head_dim must be even for rotary embeddings, got ${headDim}`);
  const maxPositionEmbeddings = posInt(op, file, c, 'max_position_embeddings', 2048);
  const sw = c.sliding_window;
  if (typeof sw === 'number' && sw < maxPositionEmbeddings && c.use_sliding_window !== false)
    fail('NT_UNSUPPORTED', op, file, `sliding_window ${sw} shorter than max_position_embeddings ${maxPositionEmbeddings} is not supported`);
  const eos = c.eos_token_id;
  const eosTokenIds = eos === undefined || eos === null ? [] : (Array.isArray(eos) ? eos : [eos]).map(Number);
  if (eosTokenIds.some((v) => !Number.isInteger(v) || v < 0)) fail('NT_IO', op, file, `eos_token_id must be an integer, an array of integers or null, got ${JSON.stringify(eos)}`);
  const tie = c.tie_word_embeddings ?? false;
  if (typeof tie !== 'boolean') fail('NT_IO', op, file, `tie_word_embeddings must be a boolean, got ${JSON.stringify(tie)}`);
  return {
    hiddenSize,
    intermediateSize: posInt(op, file, c, 'intermediate_size'),
    numLayers: posInt(op, file, c, 'num_hidden_layers'),
    numHeads,
    numKvHeads,
    headDim,
    vocabSize: posInt(op, file, c, 'vocab_size'),
    ropeTheta: posNum(op, file, c, 'rope_theta', 10000),
    rmsNormEps: posNum(op, file, c, 'rms_norm_eps', 1e-6),
    maxPositionEmbeddings,
    tieWordEmbeddings: tie,
    ropeScaling: parseRopeScaling(op, file, c.rope_scaling),
    eosTokenIds,
    modelType: modelType as string,
    quantization: parseQuantization(op, file, c.quantization_config),
  };
}

/** Reads and validates dir/config.json. */
export function readConfig(op: string, dir: string): ModelConfig {
  let st: fs.Stats;
  try {
    st = fs.statSync(dir);
  } catch {
    throw ntError('NT_IO', `[${op}] ${dir}: no such model folder`);
  }
  if (!st.isDirectory()) throw ntError('NT_IO', `[${op}] ${dir}: is not a folder (expected a Hugging Face model folder with config.json)`);
  const file = nodePath.join(dir, 'config.json');
  checkInsideFolder(op, dir, file);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw ntError('NT_IO', `[${op}] ${file}: ${code === 'ENOENT' ? 'missing (a model folder needs config.json)' : (e as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw ntError('NT_IO', `[${op}] ${file}: is not valid JSON (${(e as Error).message})`);
  }
  return parseConfig(op, file, raw);
}

/**
 * Inverse rotary frequencies as HF computes them for this config: theta^(-2i/d) in f32, then
 * the rope_scaling rule ('linear': divided by factor; 'llama3': low frequencies divided by
 * factor, high ones kept, a smooth blend between). Returned in f32, as HF keeps them.
 */
export function ropeFrequencies(cfg: ModelConfig, base: Float32Array): Float32Array {
  const s = cfg.ropeScaling;
  if (s === null) return base;
  const out = new Float32Array(base.length);
  if (s.type === 'linear') {
    for (let i = 0; i < base.length; ++i) out[i] = Math.fround(base[i] / s.factor);
    return out;
  }
  const lowWavelen = s.originalMaxPositionEmbeddings / s.lowFreqFactor;
  const highWavelen = s.originalMaxPositionEmbeddings / s.highFreqFactor;
  for (let i = 0; i < base.length; ++i) {
    const f = base[i];
    const wavelen = (2 * Math.PI) / f;
    if (wavelen < highWavelen) out[i] = f;
    else if (wavelen > lowWavelen) out[i] = Math.fround(f / s.factor);
    else {
      const smooth = (s.originalMaxPositionEmbeddings / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
      out[i] = Math.fround((1 - smooth) * (f / s.factor) + smooth * f);
    }
  }
  return out;
}
