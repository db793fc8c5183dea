// Tiny random LLaMA-family folders for the model tests, and a float64 reference forward
// pass written straight from the Hugging Face modeling code (LlamaForCausalLM, batch 1).
import * as fs from 'fs';
import * as path from 'path';
import { saveSafetensors } from '../../lib/io';
import type { Tensor } from '../../lib/tensor';
import { FloatDType, randomTensor, values } from './helpers';

export interface TinyConfig {
  vocab_size: number;
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  num_key_value_heads: number;
  head_dim?: number;
  max_position_embeddings: number;
  rms_norm_eps: number;
  rope_theta: number;
  tie_word_embeddings: boolean;
  rope_scaling?: Record<string, unknown> | null;
  [k: string]: unknown;
}

export const TINY: TinyConfig = {
  architectures: ['LlamaForCausalLM'],
  model_type: 'llama',
  vocab_size: 19,
  hidden_size: 16,
  intermediate_size: 24,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  max_position_embeddings: 64,
  rms_norm_eps: 1e-5,
  rope_theta: 10000,
  tie_word_embeddings: false,
  hidden_act: 'silu',
};

export function tinyShapes(c: TinyConfig): Record<string, number[]> {
  const H = c.hidden_size;
  const d = c.head_dim ?? H / c.num_attention_heads;
  const s: Record<string, number[]> = { 'model.embed_tokens.weight': [c.vocab_size, H], 'model.norm.weight': [H] };
  for (let l = 0; l < c.num_hidden_layers; ++l) {
    const p = `model.layers.${l}.`;
    s[`${p}input_layernorm.weight`] = [H];
    s[`${p}post_attention_layernorm.weight`] = [H];
    s[`${p}self_attn.q_proj.weight`] = [c.num_attention_heads * d, H];
    s[`${p}self_attn.k_proj.weight`] = [c.num_key_value_heads * d, H];
    s[`${p}self_attn.v_proj.weight`] = [c.num_key_value_heads * d, H];
    s[`${p}self_attn.o_proj.weight`] = [H, c.num_attention_heads * d];
    s[`${p}mlp.gate_proj.weight`] = [c.intermediate_size, H];
    s[`${p}mlp.up_proj.weight`] = [c.intermediate_size, H];
    s[`${p}mlp.down_proj.weight`] = [H, c.intermediate_size];
  }
  if (!c.tie_word_embeddings) s['lm_head.weight'] = [c.vocab_size, H];
  return s;
}

export interface TinyModel {
  dir: string;
  config: TinyConfig;
  /** Float64 values of every stored tensor (as rounded to the stored dtype). */
  weights: Record<string, Float64Array>;
}

/**
 * Writes config.json + weights into dir. Norm weights are near 1, others ~U(-0.5, 0.5)
 * (embeddings larger), so every part of the block matters. `shards` > 1 writes an index.
 */
export function writeTiny(dir: string, overrides: Partial<TinyConfig> = {}, opts: { dtype?: FloatDType; shards?: number; seed?: number } = {}): TinyModel {
  const config = { ...TINY, ...overrides } as TinyConfig;
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config, null, 1));
  const tensors: Record<string, Tensor> = {};
  const weights: Record<string, Float64Array> = {};
  let seed = opts.seed ?? 1;
  for (const [name, shape] of Object.entries(tinyShapes(config))) {
    const norm = name.endsWith('norm.weight');
    const t = norm ? randomTensor(shape, opts.dtype ?? 'f32', seed++, 0.7, 1.3) : randomTensor(shape, opts.dtype ?? 'f32', seed++, name.includes('embed') ? -1.5 : -0.5, name.includes('embed') ? 1.5 : 0.5);
    tensors[name] = t;
    weights[name] = values(t);
  }
  const shards = opts.shards ?? 1;
  if (shards === 1) saveSafetensors(path.join(dir, 'model.safetensors'), tensors);
  else {
    const names = Object.keys(tensors);
    const map: Record<string, string> = {};
    for (let s = 0; s < shards; ++s) {
      const file = `model-0000${s + 1}-of-0000${shards}.safetensors`;
      const part: Record<string, Tensor> = {};
      names.filter((_, i) => i % shards === s).forEach((n) => ((part[n] = tensors[n]), (map[n] = file)));
      saveSafetensors(path.join(dir, file), part);
    }
    fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: map }));
  }
  for (const t of Object.values(tensors)) t.dispose();
  return { dir, config, weights };
}

/** Inverse frequencies in float64, with HF's rope_scaling rules ('linear', 'llama3'). */
export function referenceInvFreq(c: TinyConfig): Float64Array {
  const d = c.head_dim ?? c.hidden_size / c.num_attention_heads;
  const f = Float64Array.from({ length: d / 2 }, (_, i) => 1 / Math.pow(c.rope_theta, (2 * i) / d));
  const s = c.rope_scaling as Record<string, number> | null | undefined;
  if (!s) return f;
  const type = (s.rope_type ?? s.type) as unknown as string;
  if (type === 'linear') return f.map((x) => x / s.factor);
  const old = s.original_max_position_embeddings;
  const lowWl = old / s.low_freq_factor;
  const highWl = old / s.high_freq_factor;
  return f.map((x) => {
    const wl = (2 * Math.PI) / x;
    if (wl < highWl) return x;
    if (wl > lowWl) return x / s.factor;
    const sm = (old / wl - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
    return (1 - sm) * (x / s.factor) + sm * x;
  });
}

/** y [n, out] = x [n, in] Wᵀ, W [out, in]. */
function linear(x: Float64Array, n: number, w: Float64Array, out: number): Float64Array {
  const inF = w.length / out;
  const y = new Float64Array(n * out);
  for (let r = 0; r < n; ++r)
    for (let o = 0; o < out; ++o) {
      let s = 0;
      for (let i = 0; i < inF; ++i) s += x[r * inF + i] * w[o * inF + i];
      y[r * out + o] = s;
    }
  return y;
}

function rmsnorm(x: Float64Array, n: number, w: Float64Array, eps: number): Float64Array {
  const H = w.length;
  const y = new Float64Array(x.length);
  for (let r = 0; r < n; ++r) {
    let ss = 0;
    for (let i = 0; i < H; ++i) ss += x[r * H + i] ** 2;
    const inv = 1 / Math.sqrt(ss / H + eps);
    for (let i = 0; i < H; ++i) y[r * H + i] = x[r * H + i] * inv * w[i];
  }
  return y;
}

/** Float64 logits [n, vocab] of ids (positions 0..n-1). */
export function referenceLogits(m: TinyModel, ids: ArrayLike<number>): Float64Array {
  const c = m.config;
  const w = m.weights;
  const n = ids.length;
  const H = c.hidden_size;
  const hq = c.num_attention_heads;
  const hkv = c.num_key_value_heads;
  const d = c.head_dim ?? H / hq;
  const I = c.intermediate_size;
  const inv = referenceInvFreq(c);
  const x = new Float64Array(n * H);
  for (let r = 0; r < n; ++r) x.set(w['model.embed_tokens.weight'].subarray(ids[r] * H, (ids[r] + 1) * H), r * H);
  const rope = (t: Float64Array, heads: number) => {
    for (let r = 0; r < n; ++r)
      for (let h = 0; h < heads; ++h) {
        const b = r * heads * d + h * d;
        for (let i = 0; i < d / 2; ++i) {
          const a = r * inv[i];
          const x1 = t[b + i];
          const x2 = t[b + i + d / 2];
          t[b + i] = x1 * Math.cos(a) - x2 * Math.sin(a);
          t[b + i + d / 2] = x2 * Math.cos(a) + x1 * Math.sin(a);
        }
      }
  };
  for (let l = 0; l < c.num_hidden_layers; ++l) {
    const p = `model.layers.${l}.`;
    const h = rmsnorm(x, n, w[`${p}input_layernorm.weight`], c.rms_norm_eps);
    const q = linear(h, n, w[`${p}self_attn.q_proj.weight`], hq * d);
    const k = linear(h, n, w[`${p}self_attn.k_proj.weight`], hkv * d);
    const v = linear(h, n, w[`${p}self_attn.v_proj.weight`], hkv * d);
    rope(q, hq);
    rope(k, hkv);
    const att = new Float64Array(n * hq * d);
    for (let hh = 0; hh < hq; ++hh) {
      const g = Math.floor(hh / (hq / hkv));
      for (let i = 0; i < n; ++i) {
        const sc = new Float64Array(i + 1);
        let mx = -Infinity;
        for (let j = 0; j <= i; ++j) {
          let s = 0;
          for (let e = 0; e < d; ++e) s += q[i * hq * d + hh * d + e] * k[j * hkv * d + g * d + e];
          sc[j] = s / Math.sqrt(d);
          mx = Math.max(mx, sc[j]);
        }
        let z = 0;
        for (let j = 0; j <= i; ++j) z += (sc[j] = Math.exp(sc[j] - mx));
        for (let j = 0; j <= i; ++j)
          for (let e = 0; e < d; ++e) att[i * hq * d + hh * d + e] += (sc[j] / z) * v[j * hkv * d + g * d + e];
      }
    }
    const o = linear(att, n, w[`${p}self_attn.o_proj.weight`], H);
    for (let i = 0; i < x.length; ++i) x[i] += o[i];
    const h2 = rmsnorm(x, n, w[`${p}post_attention_layernorm.weight`], c.rms_norm_eps);
    const gate = linear(h2, n, w[`${p}mlp.gate_proj.weight`], I);
    const up = linear(h2, n, w[`${p}mlp.up_proj.weight`], I);
    for (let i = 0; i < gate.length; ++i) gate[i] = (gate[i] / (1 + Math.exp(-gate[i]))) * up[i];
    const down = linear(gate, n, w[`${p}mlp.down_proj.weight`], H);
    for (let i = 0; i < x.length; ++i) x[i] += down[i];
  }
  const fin = rmsnorm(x, n, w['model.norm.weight'], c.rms_norm_eps);
  return linear(fin, n, c.tie_word_embeddings ? w['model.embed_tokens.weight'] : w['lm_head.weight'], c.vocab_size);
}
