// config.json of a Hugging Face LLaMA-family folder -> ModelConfig, validated. Both styles
// parse to the same ModelConfig: transformers 4 (rope_theta + rope_scaling, torch_dtype) and
// transformers 5 (rope_parameters, possibly per layer type, dtype). Defaults are those of the
// model type's transformers 5.18 config class. A key that changes the math and is not
// implemented is NT_UNSUPPORTED naming the key, two keys that disagree NT_IO naming both:
// never a silent default. All of it before any weight is read.
import * as fs from 'fs';
import * as nodePath from 'path';
import { ntError } from '../errors';
import { checkInsideFolder } from '../io/common';

/** Rotary scaling as transformers 5.18's modeling_rope_utils computes it. */
export type RopeScaling =
  | { type: 'linear'; factor: number }
  | { type: 'llama3'; factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPositionEmbeddings: number }
  /** NTK-aware base stretched once a forward reaches past originalMaxPositionEmbeddings (= config max_position_embeddings). */
  | { type: 'dynamic'; factor: number; originalMaxPositionEmbeddings: number }
  | {
      type: 'yarn';
      factor: number;
      originalMaxPositionEmbeddings: number;
      betaFast: number;
      betaSlow: number;
      mscale?: number;
      mscaleAllDim?: number;
      attentionFactor?: number;
      /** Round the correction range outwards (floor / ceil); transformers' default true. */
      truncate?: boolean;
    };

export type ConfigDType = 'f32' | 'bf16' | 'f16' | 'f64';

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
  /**
   * The longest context the runner accepts: config max_position_embeddings, times factor
   * under 'dynamic' rope scaling (which exists to stretch it; the unscaled length is then
   * ropeScaling.originalMaxPositionEmbeddings).
   */
  maxPositionEmbeddings: number;
  tieWordEmbeddings: boolean;
  /** null when the config has none (or 'default'). */
  ropeScaling: RopeScaling | null;
  /** Generation stops at these (config eos_token_id; empty when null). */
  eosTokenIds: number[];
  /** config model_type: 'llama', 'mistral', 'qwen2', 'qwen3' or 'phi3'. */
  modelType: string;
  /** quantization_config of a GPTQ checkpoint (decoder linears stored as qweight/qzeros/scales/g_idx), else null. */
  quantization: GptqQuantization | null;
  /** Qwen3: RMSNorm over each head of q and k (self_attn.q_norm / k_norm.weight [headDim], eps rmsNormEps) before RoPE. */
  qkNorm: boolean;
  /**
   * Per layer: null = full causal attention, w = query i attends key j iff i - w < j <= i
   * (transformers' sliding_window_overlay: kv_idx > q_idx - sliding_window).
   */
  slidingWindows: (number | null)[];
  /** q_proj, k_proj and v_proj have biases (o_proj too for llama and qwen3's attention_bias; not qwen2's). */
  attentionBias: boolean;
  /** gate_proj, up_proj and down_proj have biases (llama mlp_bias). */
  mlpBias: boolean;
  /** The dtype config.json declares (dtype, or transformers 4's torch_dtype); the weights' own dtypes rule. */
  dtype: ConfigDType | null;
}

export interface GptqQuantization {
  bits: 2 | 3 | 4 | 8;
  /** Columns per group; -1 means one group per row. */
  groupSize: number;
  sym: boolean;
  descAct: boolean;
  /** 'gptq' stores zero − 1 in qzeros (AutoGPTQ v1), 'gptq_v2' the zero itself. */
  checkpointFormat: 'gptq' | 'gptq_v2';
  /** lm_head is stored quantized too (quantization_config.lm_head, GPTQModel's key); default false. */
  lmHead: boolean;
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
  if (q.lm_head !== undefined && typeof q.lm_head !== 'boolean') fail('NT_IO', op, file, `quantization_config.lm_head must be a boolean, got ${JSON.stringify(q.lm_head)}`);
  const lmHead = q.lm_head === true;
  return { bits, groupSize, sym: q.sym !== false, descAct: q.desc_act === true, checkpointFormat: format, lmHead };
}

/**
 * Model types whose decoder is the LLaMA block (RMSNorm, RoPE, GQA attention, SwiGLU MLP),
 * with the defaults of their transformers config classes where config.json omits a key.
 * headDim null: hidden_size / num_attention_heads.
 */
const MODEL_TYPES: Record<string, { maxPositionEmbeddings: number; rmsNormEps: number; headDim: number | null }> = {
  llama: { maxPositionEmbeddings: 2048, rmsNormEps: 1e-6, headDim: null },
  mistral: { maxPositionEmbeddings: 4096 * 32, rmsNormEps: 1e-6, headDim: null },
  qwen2: { maxPositionEmbeddings: 32768, rmsNormEps: 1e-6, headDim: null },
  qwen3: { maxPositionEmbeddings: 32768, rmsNormEps: 1e-6, headDim: 128 },
  phi3: { maxPositionEmbeddings: 4096, rmsNormEps: 1e-5, headDim: null },
};

/** Far above any released model (hundreds of layers); bounds the per-layer lists of a hostile config. */
const MAX_LAYERS = 65536;

type Code = 'NT_IO' | 'NT_VALUE' | 'NT_UNSUPPORTED';

function fail(code: Code, op: string, file: string, msg: string): never {
  throw ntError(code, `[${op}] ${file}: ${msg}`);
}

function posInt(op: string, file: string, raw: Record<string, unknown>, key: string, dflt?: number): number {
  const v = raw[key] ?? dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) fail('NT_IO', op, file, `${key} must be a positive integer, got ${JSON.stringify(raw[key])}`);
  return v;
}

function posNum(op: string, file: string, raw: Record<string, unknown>, key: string, dflt: number, label = key): number {
  const v = raw[key] ?? dflt;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) fail('NT_IO', op, file, `${label} must be a finite number > 0, got ${JSON.stringify(raw[key])}`);
  return v;
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Keys a rope dict may hold per rope type (beside rope_type / type / rope_theta / partial_rotary_factor). */
const ROPE_KEYS: Record<string, string[]> = {
  default: [],
  linear: ['factor'],
  dynamic: ['factor', 'original_max_position_embeddings'],
  llama3: ['factor', 'low_freq_factor', 'high_freq_factor', 'original_max_position_embeddings'],
  yarn: ['factor', 'original_max_position_embeddings', 'beta_fast', 'beta_slow', 'mscale', 'mscale_all_dim', 'attention_factor', 'truncate'],
};
const ROPE_COMMON = ['rope_type', 'type', 'rope_theta', 'partial_rotary_factor'];

/**
 * The one rope dict a config describes: transformers 5's rope_parameters (flat, or nested
 * per layer type with every type equal) merged with transformers 4's rope_theta and
 * rope_scaling; a key the two give differently is NT_IO naming both.
 */
function ropeDict(op: string, file: string, c: Record<string, unknown>): { dict: Record<string, unknown>; name: (k: string) => string } {
  let rp = c.rope_parameters;
  let rpName = 'rope_parameters';
  if (rp !== undefined && rp !== null && !isObject(rp)) fail('NT_IO', op, file, 'rope_parameters must be an object or null');
  if (isObject(rp) && !('rope_type' in rp) && !('type' in rp) && !('rope_theta' in rp) && Object.keys(rp).length > 0 && Object.values(rp).every((v) => v === null || isObject(v))) {
    // nested by layer type (full_attention, sliding_attention, ...): one rope for all, or unsupported
    const entries = Object.entries(rp);
    const nulls = entries.filter(([, v]) => v === null).map(([k]) => k);
    if (nulls.length > 0) fail('NT_UNSUPPORTED', op, file, `rope_parameters.${nulls[0]} is null (layers without RoPE) is not supported`);
    const [k0, v0] = entries[0];
    const canon = (v: unknown) => JSON.stringify(Object.entries(v as object).sort(([a], [b]) => (a < b ? -1 : 1)));
    for (const [k, v] of entries.slice(1))
      if (canon(v) !== canon(v0)) fail('NT_UNSUPPORTED', op, file, `rope_parameters.${k} differs from rope_parameters.${k0} (a different RoPE per layer type) is not supported`);
    rp = v0;
    rpName = `rope_parameters.${k0}`;
  }
  const rs = c.rope_scaling;
  if (rs !== undefined && rs !== null && !isObject(rs)) fail('NT_IO', op, file, 'rope_scaling must be an object or null');
  const dict: Record<string, unknown> = {};
  const from: Record<string, string> = {};
  const take = (src: Record<string, unknown>, srcName: string, key: string, as = key) => {
    const v = src[key];
    if (v === undefined || v === null) return;
    const name = srcName === '' ? key : `${srcName}.${key}`;
    if (as in dict && JSON.stringify(dict[as]) !== JSON.stringify(v))
      fail('NT_IO', op, file, `${from[as]} = ${JSON.stringify(dict[as])} conflicts with ${name} = ${JSON.stringify(v)}`);
    dict[as] = v;
    from[as] = name;
  };
  for (const [src, srcName] of [[rp, rpName], [rs, 'rope_scaling']] as const) {
    if (!isObject(src)) continue;
    for (const key of Object.keys(src)) take(src, srcName, key, key === 'type' ? 'rope_type' : key);
  }
  take(c, '', 'rope_theta');
  take(c, '', 'partial_rotary_factor');
  return { dict, name: (k) => from[k] ?? k };
}

function parseRope(op: string, file: string, c: Record<string, unknown>, maxPos: number): { theta: number; scaling: RopeScaling | null } {
  const { dict: r, name } = ropeDict(op, file, c);
  const type = r.rope_type ?? 'default';
  if (typeof type !== 'string' || !(type in ROPE_KEYS))
    fail('NT_UNSUPPORTED', op, file, `${name('rope_type')} ${JSON.stringify(type)} is not supported (supported: ${Object.keys(ROPE_KEYS).join(', ')})`);
  const prf = r.partial_rotary_factor;
  if (prf !== undefined && prf !== 1) fail('NT_UNSUPPORTED', op, file, `${name('partial_rotary_factor')} = ${JSON.stringify(prf)} is not supported (rotary over the whole head only)`);
  for (const key of Object.keys(r))
    if (!ROPE_COMMON.includes(key) && !ROPE_KEYS[type].includes(key))
      fail('NT_UNSUPPORTED', op, file, `${name(key)} is not supported with rope type '${type}'`);
  const theta = posNum(op, file, r, 'rope_theta', 10000, name('rope_theta'));
  const num = (key: string, dflt?: number): number => {
    const v = r[key] ?? dflt;
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) fail('NT_IO', op, file, `${name(key)} must be a finite number > 0, got ${JSON.stringify(r[key])}`);
    return v;
  };
  // llama3 and yarn fall back to max_position_embeddings like transformers' standardize_rope_params;
  // a top-level original_max_position_embeddings (Phi-3 style) takes priority there, so it must agree
  const original = (): number => {
    const top = c.original_max_position_embeddings;
    if (top !== undefined && top !== null) {
      const t = posInt(op, file, c, 'original_max_position_embeddings');
      if (r.original_max_position_embeddings !== undefined && r.original_max_position_embeddings !== t)
        fail('NT_IO', op, file, `original_max_position_embeddings = ${t} conflicts with ${name('original_max_position_embeddings')} = ${JSON.stringify(r.original_max_position_embeddings)}`);
      return t;
    }
    return num('original_max_position_embeddings', maxPos);
  };
  switch (type) {
    case 'default':
      return { theta, scaling: null };
    case 'linear':
      return { theta, scaling: { type: 'linear', factor: num('factor') } };
    case 'dynamic':
      // transformers stretches from config max_position_embeddings (its rope dict's original_max_position_embeddings is unused)
      return { theta, scaling: { type: 'dynamic', factor: num('factor'), originalMaxPositionEmbeddings: maxPos } };
    case 'llama3': {
      const s = {
        type: 'llama3' as const,
        factor: num('factor'),
        lowFreqFactor: num('low_freq_factor'),
        highFreqFactor: num('high_freq_factor'),
        originalMaxPositionEmbeddings: original(),
      };
      if (s.highFreqFactor <= s.lowFreqFactor)
        fail('NT_IO', op, file, `${name('high_freq_factor')} (${s.highFreqFactor}) must exceed ${name('low_freq_factor')} (${s.lowFreqFactor})`);
      return { theta, scaling: s };
    }
    default: {
      // yarn
      const orig = original();
      const s: RopeScaling = {
        type: 'yarn',
        factor: r.factor === undefined || r.factor === null ? maxPos / orig : num('factor'),
        originalMaxPositionEmbeddings: orig,
        betaFast: num('beta_fast', 32),
        betaSlow: num('beta_slow', 1),
      };
      for (const [key, field] of [['mscale', 'mscale'], ['mscale_all_dim', 'mscaleAllDim'], ['attention_factor', 'attentionFactor']] as const)
        if (r[key] !== undefined && r[key] !== null) {
          const v = r[key];
          if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) fail('NT_IO', op, file, `${name(key)} must be a finite number >= 0, got ${JSON.stringify(v)}`);
          s[field] = v;
        }
      if (r.truncate !== undefined) {
        if (typeof r.truncate !== 'boolean') fail('NT_IO', op, file, `${name('truncate')} must be a boolean, got ${JSON.stringify(r.truncate)}`);
        s.truncate = r.truncate;
      }
      return { theta, scaling: s };
    }
  }
}

/** Top-level keys that would change the math when set, and are not implemented. */
const UNSUPPORTED_KEYS: [string, (v: unknown) => boolean][] = [
  ['attn_logit_softcapping', (v) => v !== null && v !== undefined],
  ['final_logit_softcapping', (v) => v !== null && v !== undefined],
  ['qk_layernorm', (v) => v === true],
  ['use_qk_norm', (v) => v === true],
  ['attention_multiplier', (v) => v !== null && v !== undefined && v !== 1],
  ['embedding_multiplier', (v) => v !== null && v !== undefined && v !== 1],
  ['residual_multiplier', (v) => v !== null && v !== undefined && v !== 1],
  ['logits_scaling', (v) => v !== null && v !== undefined && v !== 1],
  ['no_rope_layers', (v) => Array.isArray(v) && v.some((x) => x === 0)],
];

const DTYPES: Record<string, ConfigDType> = { float32: 'f32', bfloat16: 'bf16', float16: 'f16', float64: 'f64' };

function parseDtype(op: string, file: string, c: Record<string, unknown>): ConfigDType | null {
  let out: ConfigDType | null = null;
  for (const key of ['dtype', 'torch_dtype']) {
    const v = c[key];
    if (v === undefined || v === null) continue;
    const d = typeof v === 'string' ? DTYPES[v.replace(/^torch\./, '')] : undefined;
    if (d === undefined) fail('NT_UNSUPPORTED', op, file, `${key} ${JSON.stringify(v)} is not supported (${Object.keys(DTYPES).join(', ')})`);
    if (out !== null && out !== d) fail('NT_IO', op, file, `dtype ${JSON.stringify(c.dtype)} conflicts with torch_dtype ${JSON.stringify(c.torch_dtype)}`);
    out = d;
  }
  return out;
}

function optBool(op: string, file: string, c: Record<string, unknown>, key: string, dflt: boolean): boolean {
  const v = c[key] ?? dflt;
  if (typeof v !== 'boolean') fail('NT_IO', op, file, `${key} must be a boolean, got ${JSON.stringify(v)}`);
  return v;
}

/** transformers 5.18's per-layer windows for this model type (modeling_<type>.py and its config class). */
function parseSlidingWindows(op: string, file: string, c: Record<string, unknown>, modelType: string, numLayers: number): (number | null)[] {
  const window = (dflt: number | null): number | null => {
    const v = c.sliding_window === undefined ? dflt : c.sliding_window;
    if (v === null) return null;
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) fail('NT_IO', op, file, `sliding_window must be a positive integer or null, got ${JSON.stringify(v)}`);
    return v;
  };
  // LlamaAttention has no window: transformers ignores a sliding_window key there
  if (modelType === 'llama') return new Array(numLayers).fill(null);
  // Mistral and Phi-3 window every layer (Mistral ignores layer_types, with a warning)
  if (modelType === 'mistral') return new Array(numLayers).fill(window(4096));
  if (modelType === 'phi3') return new Array(numLayers).fill(window(null));
  // Qwen2 / Qwen3: the window only with use_sliding_window, on the layers layer_types marks
  // (default: from max_window_layers on)
  const use = optBool(op, file, c, 'use_sliding_window', false);
  const w = use ? window(4096) : null;
  let types = c.layer_types;
  if (types === undefined || types === null) {
    const first = posIntOrZero(op, file, c, 'max_window_layers', 28);
    types = Array.from({ length: numLayers }, (_, i) => (w !== null && i >= first ? 'sliding_attention' : 'full_attention'));
  }
  if (!Array.isArray(types) || types.length !== numLayers)
    fail('NT_IO', op, file, `layer_types must be an array of ${numLayers} layer types (num_hidden_layers), got ${JSON.stringify(types)}`);
  return types.map((t, i) => {
    if (t === 'full_attention') return null;
    if (t === 'sliding_attention') return w;
    fail('NT_UNSUPPORTED', op, file, `layer_types[${i}] ${JSON.stringify(t)} is not supported ('full_attention', 'sliding_attention')`);
  });
}

function posIntOrZero(op: string, file: string, c: Record<string, unknown>, key: string, dflt: number): number {
  const v = c[key] ?? dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) fail('NT_IO', op, file, `${key} must be an integer >= 0, got ${JSON.stringify(c[key])}`);
  return v;
}

/** Parses and validates a config object (as read from `file`, named in messages). */
export function parseConfig(op: string, file: string, raw: unknown): ModelConfig {
  if (!isObject(raw)) fail('NT_IO', op, file, 'is not a JSON object');
  const c = raw;
  const modelType = c.model_type;
  const archs = Array.isArray(c.architectures) ? (c.architectures as unknown[]).map(String) : [];
  if (typeof modelType !== 'string' || !Object.prototype.hasOwnProperty.call(MODEL_TYPES, modelType))
    fail('NT_UNSUPPORTED', op, file, `model_type ${JSON.stringify(modelType)}${archs.length ? ` (${archs.join(', ')})` : ''} is not a LLaMA-family model; supported: ${Object.keys(MODEL_TYPES).join(', ')}`);
  const defaults = MODEL_TYPES[modelType];
  const act = c.hidden_act ?? 'silu';
  if (act !== 'silu') fail('NT_UNSUPPORTED', op, file, `hidden_act ${JSON.stringify(act)} is not supported (only 'silu')`);
  for (const [key, bad] of UNSUPPORTED_KEYS) if (bad(c[key])) fail('NT_UNSUPPORTED', op, file, `${key} = ${JSON.stringify(c[key])} is not supported`);
  // which linears have biases is fixed per model type in transformers; the config keys matter only where its class reads them
  const attentionBias = modelType === 'qwen2' || ((modelType === 'llama' || modelType === 'qwen3') && optBool(op, file, c, 'attention_bias', false));
  const mlpBias = modelType === 'llama' && optBool(op, file, c, 'mlp_bias', false);
  const hiddenSize = posInt(op, file, c, 'hidden_size');
  const numHeads = posInt(op, file, c, 'num_attention_heads');
  const numKvHeads = posInt(op, file, c, 'num_key_value_heads', numHeads);
  if (numHeads % numKvHeads !== 0)
    fail('NT_IO', op, file, `num_attention_heads (${numHeads}) must be a multiple of num_key_value_heads (${numKvHeads})`);
  let headDim: number;
  if (c.head_dim !== undefined && c.head_dim !== null) headDim = posInt(op, file, c, 'head_dim');
  else if (defaults.headDim !== null) headDim = defaults.headDim;
  else {
    if (hiddenSize % numHeads !== 0) fail('NT_IO', op, file, `hidden_size (${hiddenSize}) is not a multiple of num_attention_heads (${numHeads}) and head_dim is not given`);
    headDim = hiddenSize / numHeads;
  }
  if (headDim % 2 !== 0) fail('NT_IO', op, file, `head_dim must be even for rotary embeddings, got ${headDim}`);
  const numLayers = posInt(op, file, c, 'num_hidden_layers');
  // per-layer lists (slidingWindows) are built here, before the weights can refute the count
  if (numLayers > MAX_LAYERS) fail('NT_IO', op, file, `num_hidden_layers must be at most ${MAX_LAYERS}, got ${numLayers}`);
  const configMaxPos = posInt(op, file, c, 'max_position_embeddings', defaults.maxPositionEmbeddings);
  const rope = parseRope(op, file, c, configMaxPos);
  const maxPositionEmbeddings = rope.scaling?.type === 'dynamic' ? Math.floor(configMaxPos * rope.scaling.factor) : configMaxPos;
  const eos = c.eos_token_id;
  const eosTokenIds = eos === undefined || eos === null ? [] : (Array.isArray(eos) ? eos : [eos]).map(Number);
  if (eosTokenIds.some((v) => !Number.isInteger(v) || v < 0)) fail('NT_IO', op, file, `eos_token_id must be an integer, an array of integers or null, got ${JSON.stringify(eos)}`);
  const tie = optBool(op, file, c, 'tie_word_embeddings', false);
  return {
    hiddenSize,
    intermediateSize: posInt(op, file, c, 'intermediate_size'),
    numLayers,
    numHeads,
    numKvHeads,
    headDim,
    vocabSize: posInt(op, file, c, 'vocab_size'),
    ropeTheta: rope.theta,
    rmsNormEps: posNum(op, file, c, 'rms_norm_eps', defaults.rmsNormEps),
    maxPositionEmbeddings,
    tieWordEmbeddings: tie,
    ropeScaling: rope.scaling,
    eosTokenIds,
    modelType,
    quantization: parseQuantization(op, file, c.quantization_config),
    qkNorm: modelType === 'qwen3',
    slidingWindows: parseSlidingWindows(op, file, c, modelType, numLayers),
    attentionBias,
    mlpBias,
    dtype: parseDtype(op, file, c),
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

/** theta^(-2i/d) in f32 as transformers computes it: 1 / (theta ** (arange(0, d, 2) / d)), all f32. */
function baseFrequencies(theta: number, d: number): Float32Array {
  const f = new Float32Array(d / 2);
  for (let i = 0; i < d / 2; ++i) f[i] = Math.fround(1 / Math.fround(Math.pow(Math.fround(theta), Math.fround((2 * i) / d))));
  return f;
}

/**
 * Inverse rotary frequencies as transformers 5.18 computes them for this config, from `base`
 * = theta^(-2i/d) (f32, ops.ropeInverseFrequencies(headDim, ropeTheta)):
 *   'linear'  base / factor
 *   'llama3'  low frequencies / factor, high ones kept, a smooth blend between
 *   'dynamic' base theta · (factor·L/Lorig − (factor − 1))^(d/(d−2)) once L = seqLen (the
 *             largest position + 1 of the forward call) exceeds Lorig; else base. This is
 *             transformers' dynamic_frequency_update for one forward, and for decode steps
 *             that follow one another (its cached frequencies only grow).
 *   'yarn'    base / factor on low frequencies, base on high ones, a linear ramp between
 *             over the correction range of betaFast / betaSlow rotations.
 * Returned in f32, as transformers keeps them.
 */
export function ropeFrequencies(cfg: ModelConfig, base: Float32Array, seqLen?: number): Float32Array {
  const s = cfg.ropeScaling;
  if (s === null) return base;
  const out = new Float32Array(base.length);
  const d = base.length * 2;
  switch (s.type) {
    case 'linear':
      for (let i = 0; i < base.length; ++i) out[i] = Math.fround(base[i] / s.factor);
      return out;
    case 'dynamic': {
      if (seqLen === undefined || seqLen <= s.originalMaxPositionEmbeddings) return base;
      const theta = cfg.ropeTheta * Math.pow((s.factor * seqLen) / s.originalMaxPositionEmbeddings - (s.factor - 1), d / (d - 2));
      return baseFrequencies(theta, d);
    }
    case 'yarn': {
      const correctionDim = (rotations: number) => (d * Math.log(s.originalMaxPositionEmbeddings / (rotations * 2 * Math.PI))) / (2 * Math.log(cfg.ropeTheta));
      let low = correctionDim(s.betaFast);
      let high = correctionDim(s.betaSlow);
      if (s.truncate !== false) {
        low = Math.floor(low);
        high = Math.ceil(high);
      }
      low = Math.max(low, 0);
      high = Math.min(high, d - 1);
      if (low === high) high += 0.001; // transformers' guard against a zero-width ramp
      for (let i = 0; i < base.length; ++i) {
        const ramp = Math.min(Math.max(Math.fround((i - low) / (high - low)), 0), 1);
        const extrapolation = Math.fround(1 - ramp);
        const interpolated = Math.fround(base[i] / s.factor);
        out[i] = Math.fround(Math.fround(interpolated * Math.fround(1 - extrapolation)) + Math.fround(base[i] * extrapolation));
      }
      return out;
    }
    default: {
      // llama3
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
  }
}

/**
 * transformers' attention_scaling: cos and sin are multiplied by it (so q·k by its square).
 * 1 unless yarn: attention_factor, else mscale(factor, mscale) / mscale(factor, mscale_all_dim)
 * when both are set (non-zero), else mscale(factor) = 0.1·ln(factor) + 1 (1 for factor <= 1).
 */
export function ropeAttentionFactor(cfg: ModelConfig): number {
  const s = cfg.ropeScaling;
  if (s === null || s.type !== 'yarn') return 1;
  if (s.attentionFactor !== undefined) return s.attentionFactor;
  const mscale = (scale: number, m = 1) => (scale <= 1 ? 1 : 0.1 * m * Math.log(scale) + 1);
  if (s.mscale && s.mscaleAllDim) return mscale(s.factor, s.mscale) / mscale(s.factor, s.mscaleAllDim);
  return mscale(s.factor);
}
