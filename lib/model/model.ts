// The LLaMA-family forward pass (batch 1), composed from public ops: row gather for the
// embeddings, nt.rmsnorm, nt.matmul (transB) behind every linear, nt.rope, nt.attention.dense (causal, GQA),
// SwiGLU (nt.silu, nt.mul) and residual nt.add in place. Prefill and incremental decode share
// one code path: positions start at the cache's length. Weight matrices keep the checkpoint's
// dtype by default (mapped; f32 x 16-bit kernels), norms, activations and logits are f32;
// lm_head is a swappable linear like the decoder's.
import { ntError } from '../errors';
import { describe } from '../ops/common';
import { add, addAsync, gatherRows, gatherRowsAsync, mul, mulAsync, rmsnorm, rmsnormAsync, rope, ropeAsync, silu, siluAsync } from '../ops';
import { shapeString } from '../shape';
import { Tensor, memory } from '../tensor';
import { dense, denseAsync } from '../attention/dense';
import { slidingWindow, slidingWindowAsync } from '../attention/sliding';
import { Job, runAsync, runSync, step } from '../job';
import { BatchKVCache, DenseKVCache, KVCacheLike } from './cache';
import { loadTokenizer } from '../tokenizer/load';
import type { Tokenizer } from '../tokenizer/tokenizer';
import { readGguf } from '../io/gguf';
import { isGgufPath } from './load-gguf';
import { ggufTokenizer } from './gguf-vocab';
import { zeros } from '../creation';
import { sumNll } from './nll';
import { ModelConfig, ropeAttentionFactor, ropeFrequencies } from './config';
import { DenseLinear, LinearLike, QuantLinear } from './linear';
import type { QuantMatmulPath } from '../quant/matmul';
import type { GroupSizeOption } from '../quant/options';
import { quantize } from '../quant/quantize';
import { gatherRows as gatherQuantRows, gatherRowsAsync as gatherQuantRowsAsync } from '../quant/gather';
import { QTensor } from '../quant/qtensor';

export interface ModelHooks {
  /** Called with the input of every decoder linear, once per linear per forward (x valid only during the call). */
  onLinearInput?(name: string, x: Tensor): void;
  /** q [1, hq, n, d], k/v [1, hkv, n, d] (contiguous) of the current tokens, after RoPE (valid only during the call). */
  onAttentionInputs?(layer: number, q: Tensor, k: Tensor, v: Tensor): void;
  /** Replaces softmax attention (no cache): return [1, hq, n, d] (the model disposes it), or undefined for the default. */
  attention?(layer: number, q: Tensor, k: Tensor, v: Tensor): Tensor | undefined;
}

export interface ForwardOptions {
  /** Decode incrementally: positions continue from cache.length, and k/v are appended to it. */
  cache?: KVCacheLike;
  hooks?: ModelHooks;
  /** Only the last position's logits ([1, vocab]): what generation needs. */
  lastOnly?: boolean;
  /**
   * hidden() only: run the first `layers` decoder layers and return their output (no final
   * norm). Calibration of layer l needs nothing after it.
   */
  layers?: number;
}

export interface BatchForwardOptions {
  /** Per row of ids: 0 for each left pad, then 1 for each token (default: no padding). */
  attentionMask?: readonly ArrayLike<number>[];
  /** Batched decode: one cache per row (model.newBatchCache); each row continues at its own position. */
  cache?: BatchKVCache;
  hooks?: ModelHooks;
  /** forwardBatch only: logits of each row's last token, [batch, vocab]. */
  lastOnly?: boolean;
}

export interface PerplexityOptions {
  /** Forward hooks (e.g. hooks.attention to evaluate a replacement attention). */
  hooks?: ModelHooks;
  /** Targets per window (default min(max_position_embeddings - 1, 2048)); see perplexity(). */
  window?: number;
  /**
   * Windows per forward (default: as many as keep their logits within 256 MiB, at most 8):
   * the windows are independent sequences, so a batch changes nothing but the speed.
   */
  batchSize?: number;
  onProgress?(windowsDone: number, windowsTotal: number): void;
}

export interface PerplexityResult {
  ppl: number;
  nllPerToken: number;
  /** Tokens predicted (ids.length - 1). */
  tokens: number;
}

export interface GenerateOptions {
  maxNewTokens: number;
  /** 0 (default): greedy. > 0: sample from softmax(logits / temperature). */
  temperature?: number;
  /** Sample only among the k most likely tokens (default: all). */
  topK?: number;
  /** Seed of the sampler's PRNG (default 0): the same seed gives the same tokens. */
  seed?: number;
  /** Stop after a token of config eos_token_id (default true). */
  stopAtEos?: boolean;
  /**
   * The stop tokens stopAtEos uses instead of config.json's eos_token_id, e.g. the
   * tokenizer's eosTokenIds (generation_config.json: Llama 3's <|eot_id|>, Qwen2's <|im_end|>).
   */
  stopTokenIds?: readonly number[];
}

export interface QuantizeHeadOptions {
  /** 8 (default) or 4. */
  bits?: 4 | 8;
  /** Columns per quantization group (default 128). */
  groupSize?: GroupSizeOption;
  activations?: 'f32' | 'int8';
}

export interface CacheOptions {
  /** Tokens preallocated per layer (default min(256, max_position_embeddings)). */
  capacity?: number;
}

const LINEAR_SUFFIXES = [
  'self_attn.q_proj',
  'self_attn.k_proj',
  'self_attn.v_proj',
  'self_attn.o_proj',
  'mlp.gate_proj',
  'mlp.up_proj',
  'mlp.down_proj',
] as const;

interface LayerNorms {
  input: Tensor;
  post: Tensor;
  /** Qwen3's per-head RMSNorm of q and k before RoPE. */
  q?: Tensor;
  k?: Tensor;
}

/** One sequence's rows in the stacked residual stream of a forward (batch 1: one segment). */
interface Segment {
  /** Its first row in the stream. */
  start: number;
  /** Its tokens in this call. */
  n: number;
  /** Position of its first token: its cache's length (0 without a cache). */
  offset: number;
  cache: KVCacheLike | undefined;
  /** Its index in the batch. */
  sequence: number;
  /** Rotary inverse frequencies for its positions (per call only for 'dynamic' rope scaling). */
  invFreq: Tensor;
}

/** Logit bytes a batched perplexity forward may produce at once (see PerplexityOptions.batchSize). */
const PPL_LOGIT_BUDGET = 256 * 2 ** 20;

/** mulberry32: a small, fast, seeded PRNG (uniform in [0, 1)) for reproducible sampling. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A decoder layer's two residual blocks, in order. */
export type LayerBlock = 'attention' | 'mlp';
const LAYER_BLOCKS: readonly LayerBlock[] = ['attention', 'mlp'];

export class LlamaModel {
  private readonly linearMap = new Map<string, LinearLike>();
  /** lm_head as a linear: swappable like the decoder linears (e.g. by an int8/int4 QuantLinear). */
  private head: LinearLike;
  private readonly norms: LayerNorms[] = [];
  private disposed = false;

  /** @internal Use nt.model.load. Takes ownership of the tensors. */
  /** The dense embedding table; null when the loader passed a quantized one (qEmbed). */
  private readonly embed: Tensor | null;

  /**
   * embedTable: a dense table, or a QTensor gathered row by row (a GGUF's Q4_0/Q8_0 token_embd,
   * kept at its own size). lmHead: a weight (the table itself when tied: a view of it) or a
   * built linear (e.g. a QuantLinear over a quantized tied table).
   */
  constructor(
    readonly config: ModelConfig,
    readonly dir: string,
    embedTable: Tensor | QTensor,
    private readonly finalNorm: Tensor,
    lmHead: Tensor | LinearLike,
    private readonly invFreq: Tensor,
    weights: Record<string, Tensor>,
    /** Linears built by the loader (e.g. QuantLinear from a GPTQ folder); the rest are dense weights. */
    prebuilt: ReadonlyMap<string, LinearLike> = new Map(),
  ) {
    for (let l = 0; l < config.numLayers; ++l) {
      const p = `model.layers.${l}.`;
      this.norms.push({
        input: weights[`${p}input_layernorm.weight`],
        post: weights[`${p}post_attention_layernorm.weight`],
        ...(config.qkNorm ? { q: weights[`${p}self_attn.q_norm.weight`], k: weights[`${p}self_attn.k_norm.weight`] } : {}),
      });
      for (const s of LINEAR_SUFFIXES) this.linearMap.set(p + s, prebuilt.get(p + s) ?? new DenseLinear(weights[`${p + s}.weight`]));
    }
    const embed = embedTable instanceof QTensor ? null : embedTable;
    this.embed = embed;
    if (embedTable instanceof QTensor) this.qEmbed = embedTable;
    // a tied head views the embedding table: replacing (and disposing) it leaves the table intact
    if (!(lmHead instanceof Tensor)) this.head = lmHead;
    else this.head = new DenseLinear(embed && lmHead === embed ? embed._view(embed.shape, embed.strides, embed.offset) : lmHead);
    this.baseInvFreq = Float32Array.from(invFreq.data as Float32Array);
    this.attentionFactor = ropeAttentionFactor(config);
  }

  /** The loader's inverse frequencies, from which 'dynamic' rope scaling derives per-call ones. */
  private readonly baseInvFreq: Float32Array;
  /** yarn's attention scaling (1 otherwise): q·k scores are multiplied by its square. */
  private readonly attentionFactor: number;

  /** Inverse frequencies for a sequence whose positions end at seqLen (a fresh tensor, or the shared one). */
  private invFreqFor(seqLen: number): Tensor {
    if (this.config.ropeScaling?.type !== 'dynamic') return this.invFreq;
    const f = ropeFrequencies(this.config, this.baseInvFreq, seqLen);
    return f === this.baseInvFreq ? this.invFreq : Tensor._wrap(f, 'f32', [f.length]);
  }

  private check(op: string): void {
    if (this.disposed) throw ntError('NT_DISPOSED', `[model.${op}] the model was disposed`);
  }

  /** HF module names of the decoder linears, layer by layer (q, k, v, o, gate, up, down); lm_head is not among them. */
  linears(): string[] {
    this.check('linears');
    return [...this.linearMap.keys()];
  }

  /** A decoder linear, or 'lm_head'. */
  getLinear(name: string): LinearLike {
    this.check('getLinear');
    const lin = name === 'lm_head' ? this.head : this.linearMap.get(name);
    if (!lin) throw ntError('NT_VALUE', `[model.getLinear] no linear named '${String(name)}' (names look like 'model.layers.0.self_attn.q_proj' or 'lm_head'; see model.linears())`);
    return lin;
  }

  /**
   * Replaces a decoder linear (e.g. by an int4 or EoRA layer) and returns the previous one,
   * which the caller now owns (dispose it, or keep it as the reference). The model owns the
   * new one and disposes it with itself.
   */
  setLinear(name: string, linear: LinearLike): LinearLike {
    this.check('setLinear');
    const old = this.getLinear(name);
    if (linear === null || typeof linear !== 'object' || typeof linear.forward !== 'function' || typeof linear.dispose !== 'function')
      throw ntError('NT_VALUE', `[model.setLinear] linear must have forward(x) and dispose() (a LinearLike)`);
    if (linear.inFeatures !== old.inFeatures || linear.outFeatures !== old.outFeatures)
      throw ntError(
        'NT_SHAPE',
        `[model.setLinear] '${name}' maps ${old.inFeatures} -> ${old.outFeatures} features, the new linear ${String(linear.inFeatures)} -> ${String(linear.outFeatures)}`,
      );
    if (name === 'lm_head') this.head = linear;
    else this.linearMap.set(name, linear);
    return old;
  }

  private tokenizerLoaded?: Tokenizer | null;

  /**
   * The model's tokenizer, read on first use: the folder's tokenizer.json (with its
   * tokenizer_config / generation_config BOS and EOS), a GGUF file's vocabulary, or the byte
   * vocabulary of a 256-token model without one; null when there is none.
   */
  get tokenizer(): Tokenizer | null {
    this.check('tokenizer');
    if (this.tokenizerLoaded === undefined) {
      if (isGgufPath(this.dir)) {
        const g = readGguf(this.dir);
        try {
          this.tokenizerLoaded = ggufTokenizer(g);
        } finally {
          g.dispose();
        }
      } else this.tokenizerLoaded = loadTokenizer(this.dir);
    }
    return this.tokenizerLoaded;
  }

  /** The default dense f32 KV cache for incremental decoding with this model. */
  newCache(opts: CacheOptions = {}): DenseKVCache {
    this.check('newCache');
    const c = this.config;
    return new DenseKVCache({
      numLayers: c.numLayers,
      numKvHeads: c.numKvHeads,
      headDim: c.headDim,
      maxLength: c.maxPositionEmbeddings,
      capacity: opts.capacity,
      slidingWindows: c.slidingWindows,
    });
  }

  private tokenIds(op: string, ids: unknown): Int32Array {
    if (!(ids instanceof Int32Array) && !Array.isArray(ids))
      throw ntError('NT_VALUE', `[model.${op}] ids must be an Int32Array or an array of token ids`);
    const a = ids as ArrayLike<number>;
    const V = this.config.vocabSize;
    for (let i = 0; i < a.length; ++i)
      if (!Number.isInteger(a[i]) || a[i] < 0 || a[i] >= V)
        throw ntError('NT_VALUE', `[model.${op}] ids[${i}] = ${String(a[i])} is not a token id of this vocabulary (0..${V - 1})`);
    return ids instanceof Int32Array ? ids : Int32Array.from(a);
  }

  private *linear(name: string, x: Tensor, hooks: ModelHooks | undefined): Job<Tensor> {
    const lin = this.linearMap.get(name)!;
    if (hooks?.onLinearInput) hooks.onLinearInput(name, x);
    const y = yield* step(
      () => lin.forward(x),
      () => (typeof lin.forwardAsync === 'function' ? lin.forwardAsync(x) : Promise.resolve().then(() => lin.forward(x))),
    );
    if (!(y instanceof Tensor) || y.ndim !== 2 || y.shape[0] !== x.shape[0] || y.shape[1] !== lin.outFeatures || y.dtype !== 'f32') {
      if (y instanceof Tensor) y.dispose();
      throw ntError('NT_SHAPE', `[model.forward] linear '${name}' must return f32 [${x.shape[0]}, ${lin.outFeatures}], got ${y instanceof Tensor ? `${y.dtype} ${shapeString(y.shape)}` : typeof y}`);
    }
    return y;
  }

  /**
   * One decoder layer, updating the residual stream x [rows, H] in place. The linears and
   * norms run once over the rows of every sequence stacked (what makes a batch cheaper per
   * token); RoPE and attention run per sequence, at its own positions and over its own cache.
   * A layer is two blocks, each split where its output projection starts (blockInner /
   * blockOuter), so a compressor can stop there and swap the projection in between.
   */
  private *layer(l: number, x: Tensor, segments: readonly Segment[], opts: Pick<ForwardOptions, 'hooks'>): Job<void> {
    for (const block of LAYER_BLOCKS) {
      const inner = yield* this.blockInner(l, block, x, segments, opts.hooks);
      try {
        yield* this.blockOuter(l, block, x, inner, opts.hooks);
      } finally {
        inner.dispose();
      }
    }
  }

  /**
   * The first part of a block, x unchanged: for 'attention' the attention output [rows, hq·d]
   * (o_proj's input), for 'mlp' silu(gate)·up [rows, d_ff] (down_proj's input). A new tensor.
   */
  private *blockInner(l: number, block: LayerBlock, x: Tensor, segments: readonly Segment[], hooks: ModelHooks | undefined): Job<Tensor> {
    return block === 'attention' ? yield* this.attentionInner(l, x, segments, hooks) : yield* this.mlpInner(l, x, hooks);
  }

  /** x += o_proj(inner) or down_proj(inner), in place. */
  private *blockOuter(l: number, block: LayerBlock, x: Tensor, inner: Tensor, hooks: ModelHooks | undefined): Job<void> {
    const p = `model.layers.${l}.`;
    const y = yield* this.linear(block === 'attention' ? `${p}self_attn.o_proj` : `${p}mlp.down_proj`, inner, hooks);
    try {
      yield* step(() => add(x, y, { out: x }), () => addAsync(x, y, { out: x }));
    } finally {
      y.dispose();
    }
  }

  /** The norm in front of a block: input_layernorm(x) or post_attention_layernorm(x), a new tensor. */
  private *blockNorm(l: number, block: LayerBlock, x: Tensor): Job<Tensor> {
    const w = block === 'attention' ? this.norms[l].input : this.norms[l].post;
    const eps = this.config.rmsNormEps;
    return yield* step(() => rmsnorm(x, w, eps), () => rmsnormAsync(x, w, eps));
  }

  private *attentionInner(l: number, x: Tensor, segments: readonly Segment[], hooks: ModelHooks | undefined): Job<Tensor> {
    const { numHeads: hq, numKvHeads: hkv, headDim: d, rmsNormEps: eps } = this.config;
    const rowsTotal = x.shape[0];
    const p = `model.layers.${l}.`;
    const temps: Tensor[] = [];
    const keep = <T extends Tensor>(t: T): T => (temps.push(t), t);
    const window = this.config.slidingWindows[l];
    const norms = this.norms[l];
    let result: Tensor | undefined;
    try {
      const h = keep(yield* this.blockNorm(l, 'attention', x));
      const q = keep(yield* this.linear(`${p}self_attn.q_proj`, h, hooks));
      const k = keep(yield* this.linear(`${p}self_attn.k_proj`, h, hooks));
      const v = keep(yield* this.linear(`${p}self_attn.v_proj`, h, hooks));
      // Qwen3: each head of q and k RMS-normed (in place, as [rows * heads, d]) before RoPE
      for (const [t, w, count] of [[q, norms.q, hq], [k, norms.k, hkv]] as const) {
        if (!w) continue;
        const perHead = keep(t.reshape([rowsTotal * count, d]));
        yield* step(() => rmsnorm(perHead, w, eps, { out: perHead }), () => rmsnormAsync(perHead, w, eps, { out: perHead }));
      }
      const single = segments.length === 1;
      // several sequences: each one's attention output is copied into its rows of `merged`
      const merged = single ? undefined : Tensor._empty('model.forward', [rowsTotal, hq * d], 'f32');
      result = merged;
      for (const s of segments) {
        const n = s.n;
        const rows = (t: Tensor): Tensor => (single ? t : keep(t.slice([s.start, s.start + n])));
        // [n, heads * d] -> [1, heads, n, d] views; RoPE writes contiguous head-major copies
        const heads = (t: Tensor, count: number) => keep(keep(rows(t).reshape([1, n, count, d])).transpose(0, 2, 1, 3));
        const qh = heads(q, hq);
        const kh = heads(k, hkv);
        const ropeOpts = { invFreq: s.invFreq, positionOffset: s.offset };
        const qr = keep(yield* step(() => rope(qh, ropeOpts), () => ropeAsync(qh, ropeOpts)));
        // yarn scales cos and sin by the factor, i.e. every score by its square: scale q alone
        const f2 = this.attentionFactor * this.attentionFactor;
        if (f2 !== 1) yield* step(() => mul(qr, f2, { out: qr }), () => mulAsync(qr, f2, { out: qr }));
        const kr = keep(yield* step(() => rope(kh, ropeOpts), () => ropeAsync(kh, ropeOpts)));
        // contiguous like q and k, so hooks and third-party caches may read .data directly
        const vh = keep(heads(v, hkv).contiguous());
        if (hooks?.onAttentionInputs) hooks.onAttentionInputs(l, qr, kr, vh);
        let att: Tensor | undefined;
        const cache = s.cache;
        if (cache) {
          if (window !== null && cache.slidingWindows?.[l] !== window)
            throw ntError('NT_UNSUPPORTED', `[model.forward] layer ${l} attends over a sliding window of ${window} tokens, and the cache does not (its slidingWindows does not say ${window}): use model.newCache()`);
          cache.append(l, kr, vh);
          att = yield* step(
            () => cache.attend(l, qr),
            () => (typeof cache.attendAsync === 'function' ? cache.attendAsync(l, qr) : Promise.resolve().then(() => cache.attend(l, qr))),
          );
        } else {
          att = hooks?.attention ? hooks.attention(l, qr, kr, vh) : undefined;
          if (att === undefined)
            att =
              window === null
                ? yield* step(() => dense(qr, kr, vh, { causal: true }), () => denseAsync(qr, kr, vh, { causal: true }))
                : yield* step(() => slidingWindow(qr, kr, vh, { window }), () => slidingWindowAsync(qr, kr, vh, { window }));
        }
        if (!(att instanceof Tensor)) throw ntError('NT_VALUE', `[model.forward] attention of layer ${l} must return a Tensor, got ${typeof att}`);
        keep(att);
        if (att.ndim !== 4 || att.shape[0] !== 1 || att.shape[1] !== hq || att.shape[2] !== n || att.shape[3] !== d)
          throw ntError('NT_SHAPE', `[model.forward] attention of layer ${l} must return [1, ${hq}, ${n}, ${d}], got ${shapeString(att.shape)}`);
        // [1, heads, n, d] -> [n, heads · d]: a copy (the transposed view is not contiguous)
        if (merged === undefined) result = keep(att.transpose(0, 2, 1, 3)).reshape([n, hq * d]);
        else att.astype('f32', { out: keep(keep(keep(merged.slice([s.start, s.start + n])).reshape([1, n, hq, d])).transpose(0, 2, 1, 3)) });
      }
      const out = result!;
      result = undefined;
      return out;
    } finally {
      result?.dispose();
      for (const t of temps) t.dispose();
    }
  }

  private *mlpInner(l: number, x: Tensor, hooks: ModelHooks | undefined): Job<Tensor> {
    const p = `model.layers.${l}.`;
    const h2 = yield* this.blockNorm(l, 'mlp', x);
    let gate: Tensor | undefined;
    let up: Tensor | undefined;
    try {
      gate = yield* this.linear(`${p}mlp.gate_proj`, h2, hooks);
      up = yield* this.linear(`${p}mlp.up_proj`, h2, hooks);
      const g = gate;
      const u = up;
      yield* step(() => silu(g, { out: g }), () => siluAsync(g, { out: g }));
      yield* step(() => mul(g, u, { out: g }), () => mulAsync(g, u, { out: g }));
      gate = undefined;
      return g;
    } finally {
      h2.dispose();
      gate?.dispose();
      up?.dispose();
    }
  }

  /**
   * The residual stream after `layers` layers (final-normed after the last) of one or more
   * sequences, stacked as rows [Σ n, H], and where each sequence's rows are.
   */
  private *streamJob(op: string, sequences: readonly Int32Array[], caches: readonly (KVCacheLike | undefined)[], opts: Pick<ForwardOptions, 'hooks' | 'layers'>): Job<{ x: Tensor; segments: Segment[] }> {
    if (caches.some((c) => c !== undefined) && opts.hooks?.attention)
      throw ntError('NT_VALUE', `[model.${op}] hooks.attention cannot be combined with a cache: give a KVCacheLike whose attend() implements that attention instead`);
    const max = this.config.maxPositionEmbeddings;
    const segments: Segment[] = [];
    let rows = 0;
    sequences.forEach((tokens, b) => {
      const cache = caches[b];
      const offset = cache ? cache.length : 0;
      if (offset + tokens.length > max)
        throw ntError('NT_VALUE', `[model.${op}] ${sequences.length > 1 ? `sequence ${b}: ` : ''}${offset > 0 ? `${offset} cached + ` : ''}${tokens.length} tokens exceed max_position_embeddings ${max}`);
      // a sequence with no tokens this call (a finished one in batched decode) takes no rows
      if (tokens.length > 0) segments.push({ start: rows, n: tokens.length, offset, cache, sequence: b, invFreq: this.invFreq });
      rows += tokens.length;
    });
    if (rows === 0) throw ntError('NT_VALUE', `[model.${op}] ids is empty: give at least one token`);
    const L = this.config.numLayers;
    const layers = opts.layers ?? L;
    if (!Number.isInteger(layers) || layers < 0 || layers > L)
      throw ntError('NT_VALUE', `[model.${op}] layers must be an integer in [0, ${L}], got ${String(opts.layers)}`);
    if (layers < L && caches.some((c) => c !== undefined))
      throw ntError('NT_VALUE', `[model.${op}] layers cannot be combined with a cache (the cache would miss the later layers)`);
    const tokens = sequences.length === 1 ? sequences[0] : new Int32Array(rows);
    if (sequences.length > 1) segments.forEach((s) => tokens.set(sequences[s.sequence], s.start));
    // the residual stream is f32 whatever the embedding table's dtype: gather converts rows
    const x = Tensor._empty(`model.${op}`, [rows, this.config.hiddenSize], 'f32');
    try {
      for (const s of segments) s.invFreq = this.invFreqFor(s.offset + s.n);
      const q = this.qEmbed; // quantizeEmbeddings: rows dequantized straight into the f32 stream
      yield* step(
        () => (q ? gatherQuantRows(q, tokens, { out: x }) : gatherRows(this.embed!, tokens, { out: x })),
        () => (q ? gatherQuantRowsAsync(q, tokens, { out: x }) : gatherRowsAsync(this.embed!, tokens, { out: x })),
      );
      for (let l = 0; l < layers; ++l) yield* this.layer(l, x, segments, opts);
      if (layers === L) {
        const eps = this.config.rmsNormEps;
        yield* step(() => rmsnorm(x, this.finalNorm, eps, { out: x }), () => rmsnormAsync(x, this.finalNorm, eps, { out: x }));
      }
      return { x, segments };
    } catch (e) {
      x.dispose();
      throw e;
    } finally {
      for (const s of segments) if (s.invFreq !== this.invFreq) s.invFreq.dispose();
    }
  }

  /** Segments of independent sequences of the given lengths stacked from row 0, each from position 0. */
  private checkStream(op: string, x: unknown): asserts x is Tensor {
    if (!(x instanceof Tensor) || x.ndim !== 2 || x.dtype !== 'f32' || x.shape[1] !== this.config.hiddenSize || !x.isContiguous)
      throw ntError('NT_VALUE', `[model.${op}] x must be a contiguous f32 [rows, ${this.config.hiddenSize}] tensor (from model.embedSequences), got ${describe(x)}`);
  }

  private segmentsOf(op: string, x: unknown, lengths: unknown): Segment[] {
    this.checkStream(op, x);
    if (!Array.isArray(lengths) || lengths.length === 0 || lengths.some((n) => !Number.isInteger(n) || n < 1 || n > this.config.maxPositionEmbeddings))
      throw ntError('NT_VALUE', `[model.${op}] lengths must be a non-empty array of sequence lengths in [1, ${this.config.maxPositionEmbeddings}], got ${Array.isArray(lengths) ? JSON.stringify(lengths) : describe(lengths)}`);
    const total = (lengths as number[]).reduce((a, b) => a + b, 0);
    if (total !== x.shape[0]) throw ntError('NT_SHAPE', `[model.${op}] lengths sum to ${total}, x has ${x.shape[0]} rows`);
    let start = 0;
    return (lengths as number[]).map((n, b) => {
      const s: Segment = { start, n, offset: 0, cache: undefined, sequence: b, invFreq: this.invFreqFor(n) };
      start += n;
      return s;
    });
  }

  private *layerJob(op: string, layer: unknown, x: unknown, lengths: unknown, hooks: ModelHooks | undefined): Job<void> {
    this.check(op);
    const L = this.config.numLayers;
    if (!Number.isInteger(layer) || (layer as number) < 0 || (layer as number) >= L) throw ntError('NT_VALUE', `[model.${op}] layer must be an integer in [0, ${L}), got ${String(layer)}`);
    const segments = this.segmentsOf(op, x, lengths);
    try {
      yield* this.layer(layer as number, x as Tensor, segments, { hooks });
    } finally {
      for (const s of segments) if (s.invFreq !== this.invFreq) s.invFreq.dispose();
    }
  }

  /**
   * The embedding rows of independent sequences, stacked: [Σ lengths, hiddenSize] f32 (the
   * caller owns it). With runLayer, a layer-by-layer pass over calibration data: each layer's
   * output is the next one's input, so the model runs once in total.
   */
  embedSequences(sequences: readonly (Int32Array | readonly number[])[]): Tensor {
    this.check('embedSequences');
    if (!Array.isArray(sequences) || sequences.length === 0) throw ntError('NT_VALUE', `[model.embedSequences] sequences must be a non-empty array of token-id arrays, got ${Array.isArray(sequences) ? 'an empty array' : describe(sequences)}`);
    const rows = sequences.map((ids, b) => this.tokenIds(`embedSequences: sequence ${b}`, ids));
    const stream = runSync(this.streamJob('embedSequences', rows, [], { layers: 0 }));
    return stream.x;
  }

  /** Runs decoder layer `layer` over x (from embedSequences or the previous runLayer) in place: sequences of `lengths`, each from position 0. */
  runLayer(layer: number, x: Tensor, lengths: readonly number[], opts: { hooks?: ModelHooks } = {}): void {
    runSync(this.layerJob('runLayer', layer, x, lengths, opts?.hooks));
  }

  /** runLayer with every op on a libuv worker (hooks still run on the main thread). */
  runLayerAsync(layer: number, x: Tensor, lengths: readonly number[], opts: { hooks?: ModelHooks } = {}): Promise<void> {
    return runAsync(this.layerJob('runLayerAsync', layer, x, lengths, opts?.hooks));
  }

  /**
   * A layer in four steps, for compressors that replace a block's linears between them (GPTQ's
   * true-sequential order): blockNorm gives the input of q/k/v ('attention') or gate/up
   * ('mlp'); blockInner the input of o_proj or down_proj (x unchanged); blockOuter adds the
   * projection to x. runLayer = inner + outer of 'attention', then of 'mlp'.
   */
  runBlockNorm(layer: number, block: LayerBlock, x: Tensor): Tensor {
    return runSync(this.blockJob('runBlockNorm', layer, block, x, null, undefined, (l, b, xx) => this.blockNorm(l, b, xx)));
  }

  runBlockNormAsync(layer: number, block: LayerBlock, x: Tensor): Promise<Tensor> {
    return runAsync(this.blockJob('runBlockNormAsync', layer, block, x, null, undefined, (l, b, xx) => this.blockNorm(l, b, xx)));
  }

  /** o_proj's or down_proj's input for x (sequences of `lengths`, each from position 0): a new tensor. */
  runBlockInner(layer: number, block: LayerBlock, x: Tensor, lengths: readonly number[], opts: { hooks?: ModelHooks } = {}): Tensor {
    return runSync(this.blockJob('runBlockInner', layer, block, x, lengths, opts?.hooks, (l, b, xx, seg, h) => this.blockInner(l, b, xx, seg, h)));
  }

  runBlockInnerAsync(layer: number, block: LayerBlock, x: Tensor, lengths: readonly number[], opts: { hooks?: ModelHooks } = {}): Promise<Tensor> {
    return runAsync(this.blockJob('runBlockInnerAsync', layer, block, x, lengths, opts?.hooks, (l, b, xx, seg, h) => this.blockInner(l, b, xx, seg, h)));
  }

  /** x += o_proj(inner) ('attention') or down_proj(inner) ('mlp'), in place. */
  runBlockOuter(layer: number, block: LayerBlock, x: Tensor, inner: Tensor, opts: { hooks?: ModelHooks } = {}): void {
    runSync(this.blockJob('runBlockOuter', layer, block, x, null, opts?.hooks, (l, b, xx, _s, h) => this.checkedOuter('runBlockOuter', l, b, xx, inner, h)));
  }

  runBlockOuterAsync(layer: number, block: LayerBlock, x: Tensor, inner: Tensor, opts: { hooks?: ModelHooks } = {}): Promise<void> {
    return runAsync(this.blockJob('runBlockOuterAsync', layer, block, x, null, opts?.hooks, (l, b, xx, _s, h) => this.checkedOuter('runBlockOuterAsync', l, b, xx, inner, h)));
  }

  private *checkedOuter(op: string, l: number, block: LayerBlock, x: Tensor, inner: unknown, hooks: ModelHooks | undefined): Job<void> {
    const width = block === 'attention' ? this.config.numHeads * this.config.headDim : this.config.intermediateSize;
    if (!(inner instanceof Tensor) || inner.ndim !== 2 || inner.dtype !== 'f32' || inner.shape[0] !== x.shape[0] || inner.shape[1] !== width)
      throw ntError('NT_VALUE', `[model.${op}] inner must be an f32 [${x.shape[0]}, ${width}] tensor (from runBlockInner), got ${describe(inner)}`);
    inner._check(`model.${op}`, 'inner');
    yield* this.blockOuter(l, block, x, inner, hooks);
  }

  private *blockJob<T>(
    op: string,
    layer: unknown,
    block: unknown,
    x: unknown,
    lengths: unknown | null,
    hooks: ModelHooks | undefined,
    body: (l: number, block: LayerBlock, x: Tensor, segments: readonly Segment[], hooks: ModelHooks | undefined) => Job<T>,
  ): Job<T> {
    this.check(op);
    const L = this.config.numLayers;
    if (!Number.isInteger(layer) || (layer as number) < 0 || (layer as number) >= L) throw ntError('NT_VALUE', `[model.${op}] layer must be an integer in [0, ${L}), got ${String(layer)}`);
    if (!LAYER_BLOCKS.includes(block as LayerBlock)) throw ntError('NT_VALUE', `[model.${op}] block must be 'attention' or 'mlp', got ${describe(block)}`);
    // norm and outer steps are row-wise: no sequences (null lengths), only x is checked
    const segments = lengths === null ? (this.checkStream(op, x), []) : this.segmentsOf(op, x, lengths);
    try {
      return yield* body(layer as number, block as LayerBlock, x as Tensor, segments, hooks);
    } finally {
      for (const s of segments) if (s.invFreq !== this.invFreq) s.invFreq.dispose();
    }
  }

  private options<T extends object>(op: string, options: unknown): T {
    if (options !== undefined && (options === null || typeof options !== 'object')) throw ntError('NT_VALUE', `[model.${op}] options must be an object, got ${describe(options)}`);
    return (options ?? {}) as T;
  }

  private *hiddenJob(op: string, ids: unknown, options: unknown): Job<Tensor> {
    this.check(op);
    const tokens = this.tokenIds(op, ids);
    const opts = this.options<ForwardOptions>(op, options);
    return (yield* this.streamJob(op, [tokens], [opts.cache], opts)).x;
  }

  /** lm_head over the stream's rows, or over each sequence's last row with lastOnly. */
  private *logitsJob(stream: { x: Tensor; segments: readonly Segment[] }, lastOnly: boolean): Job<Tensor> {
    const { x: h, segments } = stream;
    let x = h;
    try {
      if (lastOnly) {
        const last = Int32Array.from(segments, (s) => s.start + s.n - 1);
        x = segments.length === 1 ? h.slice([last[0], last[0] + 1]) : gatherRows(h, last);
      }
      const head = this.head;
      return yield* step(
        () => head.forward(x),
        () => (typeof head.forwardAsync === 'function' ? head.forwardAsync(x) : Promise.resolve().then(() => head.forward(x))),
      );
    } finally {
      if (x !== h) x.dispose();
      h.dispose();
    }
  }

  private *forwardJob(op: string, ids: unknown, options: unknown): Job<Tensor> {
    this.check(op);
    const tokens = this.tokenIds(op, ids);
    const opts = this.options<ForwardOptions>(op, options);
    return yield* this.logitsJob(yield* this.streamJob(op, [tokens], [opts.cache], opts), opts.lastOnly === true);
  }

  /** Final-norm hidden states [seq, hiddenSize] (the input of lm_head). */
  hidden(ids: Int32Array | readonly number[], opts?: ForwardOptions): Tensor {
    return runSync(this.hiddenJob('hidden', ids, opts));
  }

  /** hidden with every op on a libuv worker (one forward at a time per cache). */
  hiddenAsync(ids: Int32Array | readonly number[], opts?: ForwardOptions): Promise<Tensor> {
    return runAsync(this.hiddenJob('hiddenAsync', ids, opts));
  }

  /** Logits [seq, vocab] (f32) of ids, or [1, vocab] with lastOnly. */
  forward(ids: Int32Array | readonly number[], opts?: ForwardOptions): Tensor {
    return runSync(this.forwardJob('forward', ids, opts));
  }

  /**
   * forward with every op on a libuv worker: the event loop stays free between and during
   * them. Hooks and LinearLikes without forwardAsync run on the main thread. Do not run two
   * at once on the same cache.
   */
  forwardAsync(ids: Int32Array | readonly number[], opts?: ForwardOptions): Promise<Tensor> {
    return runAsync(this.forwardJob('forwardAsync', ids, opts));
  }

  /** The tokens of each row of a left-padded batch (pads dropped), after checking ids, mask and cache. */
  private batchRows(op: string, ids: unknown, opts: BatchForwardOptions): Int32Array[] {
    if (!Array.isArray(ids) || ids.length === 0)
      throw ntError('NT_VALUE', `[model.${op}] ids must be a non-empty array of rows (Int32Array or arrays of token ids), one per sequence, got ${Array.isArray(ids) ? 'an empty array' : describe(ids)}`);
    const width = (ids[0] as ArrayLike<number> | null)?.length;
    const mask = opts.attentionMask;
    if (mask !== undefined && (!Array.isArray(mask) || mask.length !== ids.length))
      throw ntError('NT_SHAPE', `[model.${op}] attentionMask must be an array of ${ids.length} rows like ids, got ${Array.isArray(mask) ? `${mask.length} rows` : describe(mask)}`);
    if (opts.cache !== undefined && (!(opts.cache instanceof BatchKVCache) || opts.cache.batch !== ids.length))
      throw ntError('NT_VALUE', `[model.${op}] cache must be a BatchKVCache of ${ids.length} sequences (model.newBatchCache(${ids.length})), got ${opts.cache instanceof BatchKVCache ? `one of ${opts.cache.batch}` : describe(opts.cache)}`);
    return ids.map((row: unknown, b: number) => {
      if (!(row instanceof Int32Array) && !Array.isArray(row)) throw ntError('NT_VALUE', `[model.${op}] ids[${b}] must be an Int32Array or an array of token ids, got ${describe(row)}`);
      if (row.length !== width) throw ntError('NT_SHAPE', `[model.${op}] ids must be rectangular [batch, seq] (left-pad shorter rows): row 0 has ${String(width)} tokens, row ${b} ${row.length}`);
      let pads = 0;
      if (mask !== undefined) {
        const m = mask[b] as ArrayLike<number> | null;
        if (m === null || typeof m !== 'object' || m.length !== width)
          throw ntError('NT_SHAPE', `[model.${op}] attentionMask[${b}] must hold ${String(width)} values like ids[${b}], got ${m !== null && typeof m === 'object' ? `${String(m.length)} values` : describe(m)}`);
        while (pads < width && m[pads] === 0) ++pads;
        for (let i = pads; i < width; ++i)
          if (m[i] !== 1)
            throw ntError('NT_VALUE', `[model.${op}] attentionMask[${b}][${i}] = ${String(m[i])}: a row must be 0s (left padding) then 1s`);
      }
      return this.tokenIds(`${op}: row ${b}`, (row as ArrayLike<number> & { subarray?: unknown }) instanceof Int32Array ? (row as Int32Array).subarray(pads) : (row as number[]).slice(pads));
    });
  }

  private *batchJob(op: string, ids: unknown, options: unknown, head: boolean): Job<Tensor> {
    this.check(op);
    const opts = this.options<BatchForwardOptions>(op, options);
    const rows = this.batchRows(op, ids, opts);
    const caches = rows.map((_, b) => opts.cache?.sequence(b));
    const stream = yield* this.streamJob(op, rows, caches, { hooks: opts.hooks, layers: (opts as { layers?: number }).layers });
    const lastOnly = head && opts.lastOnly === true;
    const out = head ? yield* this.logitsJob(stream, lastOnly) : stream.x;
    // scatter the rows back to the padded layout; pad positions (and empty rows) stay 0
    const B = rows.length;
    const seq = (ids as ArrayLike<number>[])[0].length;
    const width = out.shape[1];
    try {
      const result = lastOnly ? zeros([B, width]) : zeros([B, seq, width]);
      const src = out.data as Float32Array;
      const dst = result.data as Float32Array;
      stream.segments.forEach((sgm, i) => {
        if (lastOnly) dst.set(src.subarray(i * width, (i + 1) * width), sgm.sequence * width);
        else dst.set(src.subarray(sgm.start * width, (sgm.start + sgm.n) * width), (sgm.sequence * seq + seq - sgm.n) * width);
      });
      return result;
    } finally {
      out.dispose();
    }
  }

  /**
   * Logits of a batch: ids [batch, seq] as rows, shorter sequences left-padded and marked by
   * attentionMask (0 pad, then 1). Returns [batch, seq, vocab] (0 at pad positions), or
   * [batch, vocab] of each row's last token with lastOnly. Every row equals its own
   * forward(); the linears run once over all rows' tokens. With opts.cache (a
   * BatchKVCache) each row continues at its own position; a row whose mask is all 0 adds
   * nothing (a finished sequence in batched decode).
   */
  forwardBatch(ids: readonly (Int32Array | readonly number[])[], opts?: BatchForwardOptions): Tensor {
    return runSync(this.batchJob('forwardBatch', ids, opts, true));
  }

  forwardBatchAsync(ids: readonly (Int32Array | readonly number[])[], opts?: BatchForwardOptions): Promise<Tensor> {
    return runAsync(this.batchJob('forwardBatchAsync', ids, opts, true));
  }

  /** hidden() of a left-padded batch: [batch, seq, hiddenSize], 0 at pad positions (see forwardBatch). */
  hiddenBatch(ids: readonly (Int32Array | readonly number[])[], opts?: BatchForwardOptions & { layers?: number }): Tensor {
    return runSync(this.batchJob('hiddenBatch', ids, opts, false));
  }

  hiddenBatchAsync(ids: readonly (Int32Array | readonly number[])[], opts?: BatchForwardOptions & { layers?: number }): Promise<Tensor> {
    return runAsync(this.batchJob('hiddenBatchAsync', ids, opts, false));
  }

  /** One dense cache per sequence for batched decoding with forwardBatch. */
  newBatchCache(batch: number, opts: CacheOptions = {}): BatchKVCache {
    this.check('newBatchCache');
    if (!Number.isInteger(batch) || batch < 1) throw ntError('NT_VALUE', `[model.newBatchCache] batch must be an integer >= 1, got ${String(batch)}`);
    const caches: DenseKVCache[] = [];
    try {
      for (let b = 0; b < batch; ++b) caches.push(this.newCache(opts));
    } catch (e) {
      caches.forEach((c) => c.dispose());
      throw e;
    }
    return new BatchKVCache(caches);
  }

  private *perplexityJob(op: string, ids: unknown, options: unknown): Job<PerplexityResult> {
    this.check(op);
    const tokens = this.tokenIds(op, ids);
    const opts = this.options<PerplexityOptions>(op, options);
    if (tokens.length < 2) throw ntError('NT_VALUE', `[model.${op}] needs at least 2 tokens, got ${tokens.length}`);
    const maxWindow = this.config.maxPositionEmbeddings;
    const window = opts.window ?? Math.min(maxWindow - 1, 2048);
    if (!Number.isInteger(window) || window < 1 || window > maxWindow)
      throw ntError('NT_VALUE', `[model.${op}] window must be an integer in [1, ${maxWindow}] (max_position_embeddings), got ${String(window)}`);
    const logitBytes = 4 * window * this.config.vocabSize;
    const batchSize = opts.batchSize ?? Math.max(1, Math.min(8, Math.floor(PPL_LOGIT_BUDGET / logitBytes)));
    if (!Number.isInteger(batchSize) || batchSize < 1) throw ntError('NT_VALUE', `[model.${op}] batchSize must be an integer >= 1, got ${String(opts.batchSize)}`);
    const total = Math.ceil((tokens.length - 1) / window);
    const fwd: ForwardOptions = opts.hooks ? { hooks: opts.hooks } : {};
    let nll = 0;
    for (let w0 = 0; w0 < total; w0 += batchSize) {
      const windows: Int32Array[] = [];
      for (let wi = w0; wi < Math.min(w0 + batchSize, total); ++wi) windows.push(tokens.subarray(wi * window, Math.min((wi + 1) * window, tokens.length - 1)));
      const stream = yield* this.streamJob(op, windows, [], fwd);
      const logits = yield* this.logitsJob(stream, false);
      try {
        // window w's targets are the tokens after its inputs
        for (const sgm of stream.segments) {
          const rows = logits.slice([sgm.start, sgm.start + sgm.n]);
          try {
            const s = (w0 + sgm.sequence) * window;
            nll += sumNll(rows, tokens.subarray(s + 1, s + 1 + sgm.n));
          } finally {
            rows.dispose();
          }
        }
      } finally {
        logits.dispose();
      }
      opts.onProgress?.(w0 + windows.length, total);
    }
    const count = tokens.length - 1;
    const nllPerToken = nll / count;
    return { ppl: Math.exp(nllPerToken), nllPerToken, tokens: count };
  }

  /**
   * Perplexity of ids over non-overlapping windows: window w predicts ids[s + 1 .. s + w]
   * from ids[s .. s + w - 1], s = 0, w, 2w, ... (each window restarts from an empty context,
   * its first target seeing one token; the last window may be shorter). Every token but the
   * first is predicted exactly once. ppl = exp(mean NLL), NLL from log-softmax in float64.
   */
  perplexity(ids: Int32Array | readonly number[], opts?: PerplexityOptions): PerplexityResult {
    return runSync(this.perplexityJob('perplexity', ids, opts));
  }

  /** perplexity with the forward passes on libuv workers (onProgress still fires per window). */
  perplexityAsync(ids: Int32Array | readonly number[], opts?: PerplexityOptions): Promise<PerplexityResult> {
    return runAsync(this.perplexityJob('perplexityAsync', ids, opts));
  }

  private *generateJob(op: string, prompts: unknown, opts: GenerateOptions): Job<number[][]> {
    this.check(op);
    if (!Array.isArray(prompts) || prompts.length === 0) throw ntError('NT_VALUE', `[model.${op}] prompts must be a non-empty array of token-id arrays, got ${Array.isArray(prompts) ? 'an empty array' : describe(prompts)}`);
    const tokens = prompts.map((ids, b) => this.tokenIds(prompts.length > 1 ? `${op}: prompt ${b}` : op, ids));
    if (opts === null || typeof opts !== 'object') throw ntError('NT_VALUE', `[model.${op}] options { maxNewTokens } are required`);
    const { maxNewTokens, temperature = 0, topK, seed = 0, stopAtEos = true } = opts;
    // config.json's eos ids may lie outside the embedding (they then never stop anything); given ids must not
    const given = opts.stopTokenIds;
    if (given !== undefined && (!Array.isArray(given) || given.some((t) => !Number.isInteger(t) || t < 0 || t >= this.config.vocabSize)))
      throw ntError('NT_VALUE', `[model.${op}] stopTokenIds must be an array of token ids of this vocabulary (0..${this.config.vocabSize - 1}), got ${Array.isArray(given) ? JSON.stringify(given) : describe(given)}`);
    const stopTokenIds = given ?? this.config.eosTokenIds;
    if (!Number.isInteger(maxNewTokens) || maxNewTokens < 0) throw ntError('NT_VALUE', `[model.${op}] maxNewTokens must be an integer >= 0, got ${String(maxNewTokens)}`);
    if (typeof temperature !== 'number' || !Number.isFinite(temperature) || temperature < 0)
      throw ntError('NT_VALUE', `[model.${op}] temperature must be a finite number >= 0, got ${String(temperature)}`);
    if (topK !== undefined && (!Number.isInteger(topK) || topK < 1)) throw ntError('NT_VALUE', `[model.${op}] topK must be an integer >= 1, got ${String(topK)}`);
    if (!Number.isInteger(seed)) throw ntError('NT_VALUE', `[model.${op}] seed must be an integer, got ${String(seed)}`);
    const max = this.config.maxPositionEmbeddings;
    tokens.forEach((prompt, b) => {
      const which = tokens.length > 1 ? `prompt ${b}` : 'the prompt';
      if (prompt.length === 0) throw ntError('NT_VALUE', `[model.${op}] ${which} is empty: give at least one token`);
      // the last new token is never fed back, so it needs no position
      if (prompt.length + maxNewTokens > max + 1)
        throw ntError('NT_VALUE', `[model.${op}] ${which} (${prompt.length}) + maxNewTokens (${maxNewTokens}) exceed max_position_embeddings ${max}`);
    });
    const out: number[][] = tokens.map(() => []);
    if (maxNewTokens === 0) return out;
    // one PRNG per sequence: a prompt samples the same tokens alone or in a batch
    const randoms = tokens.map(() => mulberry32(seed));
    const caches = new BatchKVCache(tokens.map((p) => this.newCache({ capacity: Math.min(max, p.length + maxNewTokens) })));
    try {
      let next: Int32Array[] = tokens;
      for (;;) {
        const stream = yield* this.streamJob(op, next, next.map((_, b) => caches.sequence(b)), {});
        const logits = yield* this.logitsJob(stream, true);
        const V = this.config.vocabSize;
        try {
          const data = logits.data as Float32Array;
          next = next.map(() => new Int32Array(0));
          stream.segments.forEach((sgm, row) => {
            const tok = pick(data.subarray(row * V, (row + 1) * V), temperature, topK, randoms[sgm.sequence]);
            const seq = out[sgm.sequence];
            seq.push(tok);
            const done = seq.length >= maxNewTokens || (stopAtEos && stopTokenIds.includes(tok));
            if (!done) next[sgm.sequence] = Int32Array.of(tok);
          });
        } finally {
          logits.dispose();
        }
        if (next.every((t) => t.length === 0)) return out;
      }
    } finally {
      caches.dispose();
    }
  }

  /**
   * New token ids continuing ids (prompt not included): greedy at temperature 0 (ties go to
   * the lowest id), else sampled from softmax(logits / temperature) over the topK most likely
   * with a seeded PRNG (mulberry32), so a seed reproduces the tokens. Decodes incrementally
   * with a dense cache.
   */
  generate(ids: Int32Array | readonly number[], opts: GenerateOptions): number[] {
    return runSync(this.generateJob('generate', [ids], opts))[0];
  }

  generateAsync(ids: Int32Array | readonly number[], opts: GenerateOptions): Promise<number[]> {
    return runAsync(this.generateJob('generateAsync', [ids], opts)).then((r) => r[0]);
  }

  /**
   * generate() for several prompts at once (any lengths): each decode step runs the linears
   * once over every unfinished sequence. Each result equals generate() of its prompt (one
   * PRNG per sequence, seeded with seed).
   */
  generateBatch(prompts: readonly (Int32Array | readonly number[])[], opts: GenerateOptions): number[][] {
    return runSync(this.generateJob('generateBatch', prompts, opts));
  }

  generateBatchAsync(prompts: readonly (Int32Array | readonly number[])[], opts: GenerateOptions): Promise<number[][]> {
    return runAsync(this.generateJob('generateBatchAsync', prompts, opts));
  }


  /**
   * Replaces a dense lm_head by its RTN quantization (symmetric, `bits` 8 or 4, groups of
   * groupSize) run by the fused kernel: a decode step then reads bits/16 of a bf16 head's
   * bytes (the head is a seventh of a 1.1B model's). Returns the kernel path it runs.
   */
  quantizeHead(options: QuantizeHeadOptions = {}): QuantMatmulPath {
    this.check('quantizeHead');
    if (options === null || typeof options !== 'object') throw ntError('NT_VALUE', '[model.quantizeHead] options must be an object');
    const { bits = 8, groupSize = 128, activations = 'f32' } = options;
    if (bits !== 4 && bits !== 8) throw ntError('NT_VALUE', `[model.quantizeHead] bits must be 4 or 8, got ${String(bits)}`);
    if (!(this.head instanceof DenseLinear)) throw ntError('NT_VALUE', `[model.quantizeHead] lm_head is already replaced (${this.head.constructor.name}${this.head instanceof QuantLinear ? ': quantized before, or stored quantized in the model folder' : ''}); it quantizes a dense head`);
    // the quantizer reads 16-bit (or mapped) weights directly: no f32 copy of the head
    const q = quantize(this.head.weight, { bits, groupSize, symmetric: true });
    const lin = new QuantLinear(q, { activations });
    this.setLinear('lm_head', lin).dispose();
    return lin.path;
  }

  /** The embedding table quantized by quantizeEmbeddings; null while the forward gathers from `embed`. */
  private qEmbed: QTensor | null = null;

  /** Bytes the embedding table is stored in: its QTensor's after quantizeEmbeddings, else the dense table's. */
  get embeddingBytes(): number {
    this.check('embeddingBytes');
    return this.qEmbed ? this.qEmbed.bytes : this.embed!.data.byteLength;
  }

  /**
   * Replaces the embedding table by its RTN quantization (symmetric, `bits` 8 or 4, groups of
   * groupSize, f16 scales; from the table's f32 values, whatever its dtype or mapping): the
   * forward then dequantizes only the rows of its tokens (nt.quant.gatherRows). The dense
   * table is released, except that a tied lm_head still views it: memory is then saved only
   * once quantizeHead is called too (in either order), which releases the table. Returns the
   * bytes involved; bytesSaved = releasedBytes − quantizedBytes (negative while the table is kept, tableKept).
   */
  quantizeEmbeddings(options: { bits?: 4 | 8; groupSize?: GroupSizeOption } = {}): {
    tableBytes: number; quantizedBytes: number; releasedBytes: number; bytesSaved: number; tableKept: boolean;
  } {
    this.check('quantizeEmbeddings');
    if (options === null || typeof options !== 'object') throw ntError('NT_VALUE', '[model.quantizeEmbeddings] options must be an object');
    const { bits = 8, groupSize = 128 } = options;
    if (bits !== 4 && bits !== 8) throw ntError('NT_VALUE', `[model.quantizeEmbeddings] bits must be 4 or 8, got ${String(bits)}`);
    if (this.qEmbed) throw ntError('NT_VALUE', '[model.quantizeEmbeddings] the embedding table is already quantized');
    const tableBytes = this.embeddingBytes;
    // rtn reads any float dtype and strided/mapped view and computes in f32: the codes are
    // those of the f32 widening, without a full-size f32 copy of the table
    const q = quantize(this.embed!, { bits, groupSize, symmetric: true });
    this.qEmbed = q;
    // the counters change only on dispose: their drop is what this table alone held
    const before = memory().bytes;
    this.embed!.dispose();
    const releasedBytes = before - memory().bytes;
    return { tableBytes, quantizedBytes: q.bytes, releasedBytes, bytesSaved: releasedBytes - q.bytes, tableKept: releasedBytes === 0 };
  }

  /** Releases every weight (and linears set with setLinear). Idempotent. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const lin of this.linearMap.values()) lin.dispose();
    this.head.dispose();
    for (const n of this.norms) for (const t of [n.input, n.post, n.q, n.k]) t?.dispose();
    for (const t of [this.embed, this.finalNorm, this.invFreq]) t?.dispose();
    this.qEmbed?.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

/** The next token from one row of logits. */
function pick(logits: Float32Array, temperature: number, topK: number | undefined, random: () => number): number {
  const V = logits.length;
  if (temperature === 0) {
    let best = 0;
    for (let j = 1; j < V; ++j) if (logits[j] > logits[best]) best = j;
    return best;
  }
  let order = Array.from({ length: V }, (_, j) => j);
  if (topK !== undefined && topK < V) {
    order.sort((a, b) => logits[b] - logits[a] || a - b);
    order = order.slice(0, topK);
  }
  let m = -Infinity;
  for (const j of order) if (logits[j] > m) m = logits[j];
  const w = order.map((j) => Math.exp((logits[j] - m) / temperature));
  const z = w.reduce((s, x) => s + x, 0);
  let u = random() * z;
  for (let i = 0; i < order.length; ++i) {
    u -= w[i];
    if (u < 0) return order[i];
  }
  return order[order.length - 1];
}

export type { ModelConfig, KVCacheLike, LinearLike };
