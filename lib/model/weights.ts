// Locating and checking a folder's weights before reading them: every tensor the config
// implies must exist with the implied shape and a float dtype, so a broken checkpoint fails
// with the file and tensor named, before gigabytes are read.
import * as fs from 'fs';
import * as nodePath from 'path';
import { ntError } from '../errors';
import { safetensorsInfo } from '../io';
import { checkInsideFolder } from '../io/common';
import type { GptqQuantization, ModelConfig } from './config';

export interface StoredTensor {
  file: string;
  shape: number[];
  fileDtype: string;
}

function stripPrefix(e: unknown, op: string): unknown {
  const err = e as { message?: unknown; code?: unknown };
  if (typeof err?.message !== 'string' || typeof err.code !== 'string') return e;
  return ntError(err.code as never, `[${op}] ${err.message.replace(/^\[[^\]]*\]\s*/, '')}`);
}

/**
 * name -> where and how it is stored, from model.safetensors or model.safetensors.index.json.
 * Every file read (config.json included, which readConfig has parsed by now) must resolve
 * inside the folder, symlinks followed, or into its repo's blobs/ in a Hugging Face cache
 * snapshot (checkInsideFolder in lib/io/common.ts states the rule).
 */
export function storedTensors(op: string, dir: string): Map<string, StoredTensor> {
  const index = nodePath.join(dir, 'model.safetensors.index.json');
  const single = nodePath.join(dir, 'model.safetensors');
  for (const f of [nodePath.join(dir, 'config.json'), index, single]) checkInsideFolder(op, dir, f);
  const out = new Map<string, StoredTensor>();
  let files: string[];
  if (fs.existsSync(index)) {
    let map: unknown;
    try {
      map = (JSON.parse(fs.readFileSync(index, 'utf8')) as { weight_map?: unknown })?.weight_map;
    } catch (e) {
      throw ntError('NT_IO', `[${op}] ${index}: is not valid JSON (${(e as Error).message})`);
    }
    if (map === null || typeof map !== 'object' || Array.isArray(map)) throw ntError('NT_IO', `[${op}] ${index}: has no weight_map object`);
    files = [...new Set(Object.values(map as Record<string, unknown>).map(String))];
    const bad = files.find((f) => f === '' || nodePath.isAbsolute(f) || f.split(/[\\/]/).includes('..'));
    if (bad !== undefined) throw ntError('NT_IO', `[${op}] ${index}: names shard '${bad}' outside its folder`);
    files = files.map((f) => nodePath.join(dir, f));
    for (const f of files) checkInsideFolder(op, dir, f);
  } else if (fs.existsSync(single)) files = [single];
  else throw ntError('NT_IO', `[${op}] ${dir}: the folder has neither model.safetensors nor model.safetensors.index.json`);
  for (const file of files) {
    let info;
    try {
      info = safetensorsInfo(file);
    } catch (e) {
      throw stripPrefix(e, op);
    }
    for (const t of info.tensors) out.set(t.name, { file, shape: t.shape.slice(), fileDtype: t.fileDtype });
  }
  return out;
}

/** The decoder linears of a config with their [out, in] shapes, in layer order. */
export function linearShapes(cfg: ModelConfig): Map<string, [number, number]> {
  const { hiddenSize: H, intermediateSize: I, numHeads, numKvHeads, headDim: d } = cfg;
  const m = new Map<string, [number, number]>();
  for (let l = 0; l < cfg.numLayers; ++l) {
    const p = `model.layers.${l}.`;
    m.set(`${p}self_attn.q_proj`, [numHeads * d, H]);
    m.set(`${p}self_attn.k_proj`, [numKvHeads * d, H]);
    m.set(`${p}self_attn.v_proj`, [numKvHeads * d, H]);
    m.set(`${p}self_attn.o_proj`, [H, numHeads * d]);
    m.set(`${p}mlp.gate_proj`, [I, H]);
    m.set(`${p}mlp.up_proj`, [I, H]);
    m.set(`${p}mlp.down_proj`, [H, I]);
  }
  return m;
}

/**
 * The GPTQ tensors of one linear W [out, in] (AutoGPTQ layout): qweight i32 [in·bits/32, out],
 * qzeros i32 [groups, out·bits/32], scales [groups, out], g_idx i32 [in] (optional).
 */
export function gptqTensorShapes(q: GptqQuantization, out: number, inFeatures: number): Record<'qweight' | 'qzeros' | 'scales' | 'g_idx', number[]> {
  const groups = q.groupSize === -1 ? 1 : Math.ceil(inFeatures / q.groupSize);
  return {
    qweight: [(inFeatures * q.bits) / 32, out],
    qzeros: [groups, (out * q.bits) / 32],
    scales: [groups, out],
    g_idx: [inFeatures],
  };
}

/**
 * The decoder linears (LLaMA names, suffix after 'model.layers.N.') that carry a bias [out]
 * '<name>.bias', as each model type's transformers class builds them: Qwen2 q/k/v always,
 * llama and qwen3 attention_bias q/k/v/o, llama mlp_bias gate/up/down.
 */
export function biasedLinearSuffixes(cfg: ModelConfig): Set<string> {
  const out = new Set<string>();
  if (cfg.attentionBias) {
    for (const s of ['q_proj', 'k_proj', 'v_proj']) out.add(`self_attn.${s}`);
    if (cfg.modelType !== 'qwen2') out.add('self_attn.o_proj');
  }
  if (cfg.mlpBias) for (const s of ['gate_proj', 'up_proj', 'down_proj']) out.add(`mlp.${s}`);
  return out;
}

/** A stored matrix whose row ranges are several decoder linears (Phi-3's qkv_proj, gate_up_proj). */
export interface FusedLinear {
  /** Stored module name, e.g. 'model.layers.0.self_attn.qkv_proj' (tensors '<stored>.weight', or its GPTQ parts). */
  stored: string;
  /** [out, in] of the stored matrix. */
  shape: [number, number];
  /** LLaMA linear names with their row ranges [start, end) of the stored matrix. */
  parts: { name: string; rows: [number, number] }[];
}

/**
 * Phi-3 stores q, k, v as one qkv_proj [(hq + 2·hkv)·d, H] (rows q, then k, then v) and gate,
 * up as one gate_up_proj [2I, H] (gate first: transformers' chunk(2) order). The loader
 * splits them under the LLaMA names (row-range views of a dense matrix, column ranges of
 * GPTQ tensors), so everything downstream (hooks, compression, export) sees q_proj ... up_proj.
 */
export function fusedLinears(cfg: ModelConfig): FusedLinear[] {
  if (cfg.modelType !== 'phi3') return [];
  const { numHeads: hq, numKvHeads: hkv, headDim: d, intermediateSize: I, hiddenSize: H } = cfg;
  const out: FusedLinear[] = [];
  for (let l = 0; l < cfg.numLayers; ++l) {
    const p = `model.layers.${l}.`;
    out.push({
      stored: `${p}self_attn.qkv_proj`,
      shape: [(hq + 2 * hkv) * d, H],
      parts: [
        { name: `${p}self_attn.q_proj`, rows: [0, hq * d] },
        { name: `${p}self_attn.k_proj`, rows: [hq * d, (hq + hkv) * d] },
        { name: `${p}self_attn.v_proj`, rows: [(hq + hkv) * d, (hq + 2 * hkv) * d] },
      ],
    });
    out.push({
      stored: `${p}mlp.gate_up_proj`,
      shape: [2 * I, H],
      parts: [
        { name: `${p}mlp.gate_proj`, rows: [0, I] },
        { name: `${p}mlp.up_proj`, rows: [I, 2 * I] },
      ],
    });
  }
  return out;
}

/** The decoder linears as the checkpoint stores them, [out, in]: linearShapes with fused parts replaced by their fused matrix. */
export function storedLinearShapes(cfg: ModelConfig): Map<string, [number, number]> {
  const m = linearShapes(cfg);
  for (const f of fusedLinears(cfg)) {
    for (const part of f.parts) m.delete(part.name);
    m.set(f.stored, f.shape);
  }
  return m;
}

/** The tensors a model of this config needs, with their shapes (as stored: Phi-3's fused matrices, GPTQ parts). */
export function expectedTensors(cfg: ModelConfig): Map<string, number[]> {
  const { hiddenSize: H, vocabSize: V, headDim: d } = cfg;
  const m = new Map<string, number[]>();
  m.set('model.embed_tokens.weight', [V, H]);
  const biased = biasedLinearSuffixes(cfg);
  for (let l = 0; l < cfg.numLayers; ++l) {
    const p = `model.layers.${l}.`;
    m.set(`${p}input_layernorm.weight`, [H]);
    m.set(`${p}post_attention_layernorm.weight`, [H]);
    if (cfg.qkNorm) {
      m.set(`${p}self_attn.q_norm.weight`, [d]);
      m.set(`${p}self_attn.k_norm.weight`, [d]);
    }
  }
  for (const [name, [out, inFeatures]] of storedLinearShapes(cfg)) {
    if (cfg.quantization) {
      const parts = gptqTensorShapes(cfg.quantization, out, inFeatures);
      for (const part of ['qweight', 'qzeros', 'scales'] as const) m.set(`${name}.${part}`, parts[part]);
    } else m.set(`${name}.weight`, [out, inFeatures]);
    if (biased.has(name.replace(/^model\.layers\.\d+\./, ''))) m.set(`${name}.bias`, [out]);
  }
  m.set('model.norm.weight', [H]);
  if (headQuantized(cfg)) {
    const parts = gptqTensorShapes(cfg.quantization!, V, H);
    for (const part of ['qweight', 'qzeros', 'scales'] as const) m.set(`lm_head.${part}`, parts[part]);
  } else if (!cfg.tieWordEmbeddings) m.set('lm_head.weight', [V, H]);
  return m;
}

/** Whether a GPTQ folder stores lm_head quantized (quantization_config.lm_head, an untied head). */
export function headQuantized(cfg: ModelConfig): boolean {
  return cfg.quantization?.lmHead === true && !cfg.tieWordEmbeddings;
}

/** The linears a GPTQ folder stores as GPTQ tensors: the decoder's, and lm_head when headQuantized. */
export function gptqLinearShapes(cfg: ModelConfig): Map<string, [number, number]> {
  const m = storedLinearShapes(cfg);
  if (headQuantized(cfg)) m.set('lm_head', [cfg.vocabSize, cfg.hiddenSize]);
  return m;
}

const GPTQ_DTYPES: Record<string, Set<string>> = { qweight: new Set(['I32']), qzeros: new Set(['I32']), scales: new Set(['F16', 'F32']), g_idx: new Set(['I32']) };

const FLOAT_FILE_DTYPES = new Set(['F32', 'F16', 'BF16', 'F64']);

/** Throws NT_IO (missing), NT_SHAPE (shape differs from config.json) or NT_DTYPE (not float). */
export function checkWeights(op: string, dir: string, cfg: ModelConfig, stored: Map<string, StoredTensor>): void {
  const index = nodePath.join(dir, 'model.safetensors.index.json');
  const source = fs.existsSync(index) ? index : nodePath.join(dir, 'model.safetensors');
  // before listing every expected tensor: a config claiming more layers than the weights hold
  // (e.g. num_hidden_layers = 1e308) must fail at once, not build a map of absurd size
  let storedLayers = 0;
  for (const name of stored.keys()) {
    const m = /^model\.layers\.(\d+)\./.exec(name);
    if (m) storedLayers = Math.max(storedLayers, Number(m[1]) + 1);
  }
  if (cfg.quantization?.lmHead && cfg.tieWordEmbeddings)
    throw ntError('NT_UNSUPPORTED', `[${op}] ${nodePath.join(dir, 'config.json')}: quantization_config.lm_head is set but the embeddings are tied (tie_word_embeddings): a quantized head would have to be the embedding table`);
  if (cfg.quantization)
    for (const f of fusedLinears(cfg))
      for (const { rows } of f.parts)
        if ((rows[0] * cfg.quantization.bits) % 32 !== 0)
          throw ntError('NT_UNSUPPORTED', `[${op}] ${source}: '${f.stored}' splits at row ${rows[0]}, inside a packed ${cfg.quantization.bits}-bit qzeros word: its GPTQ tensors cannot be split into ${f.parts.map((p) => p.name.slice(p.name.lastIndexOf('.') + 1)).join(', ')}`);
  if (cfg.numLayers > storedLayers)
    throw ntError('NT_IO', `[${op}] ${source}: config.json has num_hidden_layers = ${cfg.numLayers}, the weights hold ${storedLayers} layer(s)`);
  for (const [name, shape] of expectedTensors(cfg)) {
    const s = stored.get(name);
    if (!s) throw ntError('NT_IO', `[${op}] ${source}: tensor '${name}' is missing from the weights${cfg.tieWordEmbeddings || name !== 'lm_head.weight' ? '' : ' (config.json has tie_word_embeddings = false)'}`);
    if (s.shape.length !== shape.length || s.shape.some((x, i) => x !== shape[i]))
      throw ntError('NT_SHAPE', `[${op}] ${s.file}: tensor '${name}' has shape [${s.shape.join(', ')}], config.json implies [${shape.join(', ')}]`);
    const part = name.slice(name.lastIndexOf('.') + 1);
    const allowed = cfg.quantization && GPTQ_DTYPES[part] ? GPTQ_DTYPES[part] : FLOAT_FILE_DTYPES;
    if (!allowed.has(s.fileDtype))
      throw ntError('NT_DTYPE', `[${op}] ${s.file}: tensor '${name}' is ${s.fileDtype}; expected ${[...allowed].join(' or ')}`);
  }
  if (cfg.quantization) {
    // g_idx is optional (absent: plain groups), but when present it must fit
    for (const [name, [, inFeatures]] of gptqLinearShapes(cfg)) {
      const g = stored.get(`${name}.g_idx`);
      if (g && (g.shape.length !== 1 || g.shape[0] !== inFeatures || g.fileDtype !== 'I32'))
        throw ntError('NT_SHAPE', `[${op}] ${g.file}: tensor '${name}.g_idx' must be I32 [${inFeatures}], got ${g.fileDtype} [${g.shape.join(', ')}]`);
    }
  }
}
