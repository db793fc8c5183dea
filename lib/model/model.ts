// The LLaMA-family forward pass (batch 1), composed from public ops: row gather for the
// embeddings, nt.rmsnorm, nt.matmul (transB) behind every linear, nt.rope, nt.attention.dense (causal, GQA),
// SwiGLU (nt.silu, nt.mul) and residual nt.add in place. Prefill and incremental decode share
// one code path: positions start at the cache's length. Weight matrices keep the checkpoint's
// dtype by default (mapped; f32 x 16-bit kernels), norms, activations and logits are f32;
// lm_head is a swappable linear like the decoder's.
import { ntError } from '../errors';
import { add, addAsync, gatherRows, gatherRowsAsync, mul, mulAsync, rmsnorm, rmsnormAsync, rope, ropeAsync, silu, siluAsync } from '../ops';
import { shapeString } from '../shape';
import { Tensor, memory } from '../tensor';
import { dense, denseAsync } from '../attention/dense';
import { Job, runAsync, runSync, step } from '../job';
import { DenseKVCache, KVCacheLike } from './cache';
import { sumNll } from './nll';
import type { ModelConfig } from './config';
import { DenseLinear, LinearLike, QuantLinear } from './linear';
import type { QuantMatmulPath } from '../quant/matmul';
import type { GroupSizeOption } from '../quant/options';
import { quantize } from '../quant/quantize';
import { gatherRows as gatherQuantRows, gatherRowsAsync as gatherQuantRowsAsync } from '../quant/gather';
import type { QTensor } from '../quant/qtensor';

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

export interface PerplexityOptions {
  /** Forward hooks (e.g. hooks.attention to evaluate a replacement attention). */
  hooks?: ModelHooks;
  /** Targets per window (default min(max_position_embeddings - 1, 2048)); see perplexity(). */
  window?: number;
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
}

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

export class LlamaModel {
  private readonly linearMap = new Map<string, LinearLike>();
  /** lm_head as a linear: swappable like the decoder linears (e.g. by an int8/int4 QuantLinear). */
  private head: LinearLike;
  private readonly norms: LayerNorms[] = [];
  private disposed = false;

  /** @internal Use nt.model.load. Takes ownership of the tensors. */
  constructor(
    readonly config: ModelConfig,
    readonly dir: string,
    private readonly embed: Tensor,
    private readonly finalNorm: Tensor,
    lmHead: Tensor,
    private readonly invFreq: Tensor,
    weights: Record<string, Tensor>,
    /** Linears built by the loader (e.g. QuantLinear from a GPTQ folder); the rest are dense weights. */
    prebuilt: ReadonlyMap<string, LinearLike> = new Map(),
  ) {
    for (let l = 0; l < config.numLayers; ++l) {
      const p = `model.layers.${l}.`;
      this.norms.push({ input: weights[`${p}input_layernorm.weight`], post: weights[`${p}post_attention_layernorm.weight`] });
      for (const s of LINEAR_SUFFIXES) this.linearMap.set(p + s, prebuilt.get(p + s) ?? new DenseLinear(weights[`${p + s}.weight`]));
    }
    // a tied head views the embedding table: replacing (and disposing) it leaves the table intact
    this.head = new DenseLinear(lmHead === embed ? embed._view(embed.shape, embed.strides, embed.offset) : lmHead);
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

  /** The default dense f32 KV cache for incremental decoding with this model. */
  newCache(opts: CacheOptions = {}): DenseKVCache {
    this.check('newCache');
    const c = this.config;
    return new DenseKVCache({ numLayers: c.numLayers, numKvHeads: c.numKvHeads, headDim: c.headDim, maxLength: c.maxPositionEmbeddings, capacity: opts.capacity });
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

  /** One decoder layer, updating the residual stream x [n, H] in place. */
  private *layer(l: number, x: Tensor, offset: number, opts: ForwardOptions): Job<void> {
    const { numHeads: hq, numKvHeads: hkv, headDim: d, rmsNormEps: eps } = this.config;
    const n = x.shape[0];
    const p = `model.layers.${l}.`;
    const hooks = opts.hooks;
    const temps: Tensor[] = [];
    const keep = <T extends Tensor>(t: T): T => (temps.push(t), t);
    const inv = this.invFreq;
    try {
      const h = keep(yield* step(() => rmsnorm(x, this.norms[l].input, eps), () => rmsnormAsync(x, this.norms[l].input, eps)));
      const q = keep(yield* this.linear(`${p}self_attn.q_proj`, h, hooks));
      const k = keep(yield* this.linear(`${p}self_attn.k_proj`, h, hooks));
      const v = keep(yield* this.linear(`${p}self_attn.v_proj`, h, hooks));
      // [n, heads * d] -> [1, heads, n, d] views; RoPE writes contiguous head-major copies
      const heads = (t: Tensor, count: number) => keep(keep(t.reshape([1, n, count, d])).transpose(0, 2, 1, 3));
      const qh = heads(q, hq);
      const kh = heads(k, hkv);
      const ropeOpts = { invFreq: inv, positionOffset: offset };
      const qr = keep(yield* step(() => rope(qh, ropeOpts), () => ropeAsync(qh, ropeOpts)));
      const kr = keep(yield* step(() => rope(kh, ropeOpts), () => ropeAsync(kh, ropeOpts)));
      // contiguous like q and k, so hooks and third-party caches may read .data directly
      const vh = keep(heads(v, hkv).contiguous());
      if (hooks?.onAttentionInputs) hooks.onAttentionInputs(l, qr, kr, vh);
      let att: Tensor | undefined;
      const cache = opts.cache;
      if (cache) {
        cache.append(l, kr, vh);
        att = yield* step(
          () => cache.attend(l, qr),
          () => (typeof cache.attendAsync === 'function' ? cache.attendAsync(l, qr) : Promise.resolve().then(() => cache.attend(l, qr))),
        );
      } else {
        att = hooks?.attention ? hooks.attention(l, qr, kr, vh) : undefined;
        if (att === undefined) att = yield* step(() => dense(qr, kr, vh, { causal: true }), () => denseAsync(qr, kr, vh, { causal: true }));
      }
      if (!(att instanceof Tensor)) throw ntError('NT_VALUE', `[model.forward] attention of layer ${l} must return a Tensor, got ${typeof att}`);
      keep(att);
      if (att.ndim !== 4 || att.shape[0] !== 1 || att.shape[1] !== hq || att.shape[2] !== n || att.shape[3] !== d)
        throw ntError('NT_SHAPE', `[model.forward] attention of layer ${l} must return [1, ${hq}, ${n}, ${d}], got ${shapeString(att.shape)}`);
      const merged = keep(keep(att.transpose(0, 2, 1, 3)).reshape([n, hq * d]));
      const o = keep(yield* this.linear(`${p}self_attn.o_proj`, merged, hooks));
      yield* step(() => add(x, o, { out: x }), () => addAsync(x, o, { out: x }));
      const h2 = keep(yield* step(() => rmsnorm(x, this.norms[l].post, eps), () => rmsnormAsync(x, this.norms[l].post, eps)));
      const gate = keep(yield* this.linear(`${p}mlp.gate_proj`, h2, hooks));
      const up = keep(yield* this.linear(`${p}mlp.up_proj`, h2, hooks));
      yield* step(() => silu(gate, { out: gate }), () => siluAsync(gate, { out: gate }));
      yield* step(() => mul(gate, up, { out: gate }), () => mulAsync(gate, up, { out: gate }));
      const down = keep(yield* this.linear(`${p}mlp.down_proj`, gate, hooks));
      yield* step(() => add(x, down, { out: x }), () => addAsync(x, down, { out: x }));
    } finally {
      for (const t of temps) t.dispose();
    }
  }

  private *hiddenJob(op: string, ids: unknown, options: unknown): Job<Tensor> {
    this.check(op);
    const tokens = this.tokenIds(op, ids);
    if (options !== undefined && (options === null || typeof options !== 'object')) throw ntError('NT_VALUE', `[model.${op}] options must be an object`);
    const opts = (options ?? {}) as ForwardOptions;
    if (tokens.length === 0) throw ntError('NT_VALUE', '[model.forward] ids is empty: give at least one token');
    const offset = opts.cache ? opts.cache.length : 0;
    if (opts.cache && opts.hooks?.attention)
      throw ntError('NT_VALUE', '[model.forward] hooks.attention cannot be combined with a cache: give a KVCacheLike whose attend() implements that attention instead');
    const max = this.config.maxPositionEmbeddings;
    if (offset + tokens.length > max)
      throw ntError('NT_VALUE', `[model.forward] ${offset > 0 ? `${offset} cached + ` : ''}${tokens.length} tokens exceed max_position_embeddings ${max}`);
    const L = this.config.numLayers;
    const layers = opts.layers ?? L;
    if (!Number.isInteger(layers) || layers < 0 || layers > L)
      throw ntError('NT_VALUE', `[model.${op}] layers must be an integer in [0, ${L}], got ${String(opts.layers)}`);
    if (layers < L && opts.cache) throw ntError('NT_VALUE', `[model.${op}] layers cannot be combined with a cache (the cache would miss the later layers)`);
    // the residual stream is f32 whatever the embedding table's dtype: gather converts rows
    const x = Tensor._empty(`model.${op}`, [tokens.length, this.config.hiddenSize], 'f32');
    try {
      const q = this.qEmbed; // quantizeEmbeddings: rows dequantized straight into the f32 stream
      yield* step(
        () => (q ? gatherQuantRows(q, tokens, { out: x }) : gatherRows(this.embed, tokens, { out: x })),
        () => (q ? gatherQuantRowsAsync(q, tokens, { out: x }) : gatherRowsAsync(this.embed, tokens, { out: x })),
      );
      for (let l = 0; l < layers; ++l) yield* this.layer(l, x, offset, opts);
      if (layers < L) return x;
      const eps = this.config.rmsNormEps;
      return yield* step(() => rmsnorm(x, this.finalNorm, eps, { out: x }), () => rmsnormAsync(x, this.finalNorm, eps, { out: x }));
    } catch (e) {
      x.dispose();
      throw e;
    }
  }

  private *forwardJob(op: string, ids: unknown, options: unknown): Job<Tensor> {
    const h = yield* this.hiddenJob(op, ids, options);
    const lastOnly = (options as ForwardOptions | undefined)?.lastOnly === true;
    const x = lastOnly ? h.slice([h.shape[0] - 1, h.shape[0]]) : h;
    try {
      const head = this.head;
      return yield* step(
        () => head.forward(x),
        () => (typeof head.forwardAsync === 'function' ? head.forwardAsync(x) : Promise.resolve().then(() => head.forward(x))),
      );
    } finally {
      x.dispose();
      h.dispose();
    }
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

  private *perplexityJob(op: string, ids: unknown, options: unknown): Job<PerplexityResult> {
    this.check(op);
    const tokens = this.tokenIds(op, ids);
    if (options !== undefined && (options === null || typeof options !== 'object')) throw ntError('NT_VALUE', `[model.${op}] options must be an object`);
    const opts = (options ?? {}) as PerplexityOptions;
    if (tokens.length < 2) throw ntError('NT_VALUE', `[model.${op}] needs at least 2 tokens, got ${tokens.length}`);
    const maxWindow = this.config.maxPositionEmbeddings;
    const window = opts.window ?? Math.min(maxWindow - 1, 2048);
    if (!Number.isInteger(window) || window < 1 || window > maxWindow)
      throw ntError('NT_VALUE', `[model.${op}] window must be an integer in [1, ${maxWindow}] (max_position_embeddings), got ${String(window)}`);
    const total = Math.ceil((tokens.length - 1) / window);
    let nll = 0;
    let count = 0;
    for (let wi = 0; wi < total; ++wi) {
      const s = wi * window;
      const e = Math.min(s + window, tokens.length - 1);
      const logits = yield* this.forwardJob(op, tokens.subarray(s, e), opts.hooks ? { hooks: opts.hooks } : undefined);
      try {
        nll += sumNll(logits, tokens.subarray(s + 1, e + 1));
        count += e - s;
      } finally {
        logits.dispose();
      }
      opts.onProgress?.(wi + 1, total);
    }
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

  private *generateJob(op: string, ids: unknown, opts: GenerateOptions): Job<number[]> {
    this.check(op);
    const prompt = this.tokenIds(op, ids);
    if (opts === null || typeof opts !== 'object') throw ntError('NT_VALUE', `[model.${op}] options { maxNewTokens } are required`);
    const { maxNewTokens, temperature = 0, topK, seed = 0, stopAtEos = true } = opts;
    if (!Number.isInteger(maxNewTokens) || maxNewTokens < 0) throw ntError('NT_VALUE', `[model.${op}] maxNewTokens must be an integer >= 0, got ${String(maxNewTokens)}`);
    if (typeof temperature !== 'number' || !Number.isFinite(temperature) || temperature < 0)
      throw ntError('NT_VALUE', `[model.${op}] temperature must be a finite number >= 0, got ${String(temperature)}`);
    if (topK !== undefined && (!Number.isInteger(topK) || topK < 1)) throw ntError('NT_VALUE', `[model.${op}] topK must be an integer >= 1, got ${String(topK)}`);
    if (!Number.isInteger(seed)) throw ntError('NT_VALUE', `[model.${op}] seed must be an integer, got ${String(seed)}`);
    if (prompt.length === 0) throw ntError('NT_VALUE', `[model.${op}] the prompt is empty: give at least one token`);
    // the last new token is never fed back, so it needs no position
    if (prompt.length + maxNewTokens > this.config.maxPositionEmbeddings + 1)
      throw ntError('NT_VALUE', `[model.${op}] prompt (${prompt.length}) + maxNewTokens (${maxNewTokens}) exceed max_position_embeddings ${this.config.maxPositionEmbeddings}`);
    const random = mulberry32(seed);
    const out: number[] = [];
    if (maxNewTokens === 0) return out;
    const cache = this.newCache({ capacity: Math.min(this.config.maxPositionEmbeddings, prompt.length + maxNewTokens) });
    try {
      let next: Int32Array = prompt;
      for (;;) {
        const logits = yield* this.forwardJob(op, next, { cache, lastOnly: true });
        let tok: number;
        try {
          tok = pick(logits.data as Float32Array, temperature, topK, random);
        } finally {
          logits.dispose();
        }
        out.push(tok);
        if (out.length >= maxNewTokens || (stopAtEos && this.config.eosTokenIds.includes(tok))) return out;
        next = Int32Array.of(tok);
      }
    } finally {
      cache.dispose();
    }
  }

  /**
   * New token ids continuing ids (prompt not included): greedy at temperature 0 (ties go to
   * the lowest id), else sampled from softmax(logits / temperature) over the topK most likely
   * with a seeded PRNG (mulberry32), so a seed reproduces the tokens. Decodes incrementally
   * with a dense cache.
   */
  generate(ids: Int32Array | readonly number[], opts: GenerateOptions): number[] {
    return runSync(this.generateJob('generate', ids, opts));
  }

  generateAsync(ids: Int32Array | readonly number[], opts: GenerateOptions): Promise<number[]> {
    return runAsync(this.generateJob('generateAsync', ids, opts));
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
    if (!(this.head instanceof DenseLinear)) throw ntError('NT_VALUE', `[model.quantizeHead] lm_head is already replaced (${this.head.constructor.name})`);
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
    return this.qEmbed ? this.qEmbed.bytes : this.embed.data.byteLength;
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
    const q = quantize(this.embed, { bits, groupSize, symmetric: true });
    this.qEmbed = q;
    // the counters change only on dispose: their drop is what this table alone held
    const before = memory().bytes;
    this.embed.dispose();
    const releasedBytes = before - memory().bytes;
    return { tableBytes, quantizedBytes: q.bytes, releasedBytes, bytesSaved: releasedBytes - q.bytes, tableKept: releasedBytes === 0 };
  }

  /** Releases every weight (and linears set with setLinear). Idempotent. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const lin of this.linearMap.values()) lin.dispose();
    this.head.dispose();
    for (const n of this.norms) {
      n.input.dispose();
      n.post.dispose();
    }
    for (const t of [this.embed, this.finalNorm, this.invFreq]) t.dispose();
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
