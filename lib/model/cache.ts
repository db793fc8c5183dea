// The KV cache interface of the model runner and its default dense f32 implementation.
import { ntError } from '../errors';
import { shapeString } from '../shape';
import { Tensor } from '../tensor';
import { zeros } from '../creation';
import { describe } from '../ops/common';
import { dense, denseAsync } from '../attention/dense';
import { slidingWindow, slidingWindowAsync } from '../attention/sliding';

/**
 * What model.forward needs from a cache. Per layer, in layer order: append(layer, k, v) with
 * the new tokens' keys and values after RoPE (f32, contiguous [1, hkv, n, d], valid only during
 * the call: copy what you keep), then attend(layer, q [1, hq, n, d]) returning [1, hq, n, d]
 * f32 (a fresh tensor the model disposes): causal attention of the n newest positions over
 * everything stored. `length` is read once per forward, before layer 0, as the position offset.
 */
export interface KVCacheLike {
  /** Tokens stored (the same for all layers between forwards). */
  readonly length: number;
  append(layer: number, k: Tensor, v: Tensor): void;
  attend(layer: number, q: Tensor): Tensor;
  /**
   * Per layer, the sliding window attend() applies (null: full causal attention). A model
   * with sliding-window layers (Mistral, some Qwen2) refuses a cache that does not declare
   * its windows here, rather than silently attending over everything.
   */
  readonly slidingWindows?: readonly (number | null)[];
  /** Optional worker-thread form of attend, used by model.forwardAsync. */
  attendAsync?(layer: number, q: Tensor): Promise<Tensor>;
  dispose(): void;
}

export interface DenseKVCacheOptions {
  numLayers: number;
  numKvHeads: number;
  headDim: number;
  /** Hard limit on stored tokens (the model's max_position_embeddings). */
  maxLength: number;
  /** Tokens preallocated per layer (default min(256, maxLength)); grows by doubling up to maxLength. */
  capacity?: number;
  /** Per layer: attend over the last w tokens (each query's own included), or null for all (the default). */
  slidingWindows?: readonly (number | null)[];
}

const OP = 'DenseKVCache';

/**
 * Per layer, K and V buffers [1, hkv, capacity, d] f32; attention runs over the buffers
 * sliced to the stored length (strided views, no copy). Appending past the capacity doubles
 * it (or jumps to what is needed), never beyond maxLength.
 */
export class DenseKVCache implements KVCacheLike {
  private readonly keys: Tensor[] = [];
  private readonly values: Tensor[] = [];
  private readonly lengths: number[];
  private disposed = false;
  readonly slidingWindows: readonly (number | null)[];

  constructor(private readonly opts: DenseKVCacheOptions) {
    const { numLayers, numKvHeads, headDim, maxLength } = opts;
    for (const [k, v] of Object.entries({ numLayers, numKvHeads, headDim, maxLength }))
      if (!Number.isInteger(v) || v <= 0) throw ntError('NT_VALUE', `[${OP}] ${k} must be a positive integer, got ${String(v)}`);
    const windows = opts.slidingWindows ?? new Array<null>(numLayers).fill(null);
    if (!Array.isArray(windows) || windows.length !== numLayers || windows.some((w) => w !== null && (!Number.isInteger(w) || w < 1)))
      throw ntError('NT_VALUE', `[${OP}] slidingWindows must hold ${numLayers} entries, each null or an integer >= 1, got ${Array.isArray(windows) ? JSON.stringify(windows) : describe(windows)}`);
    this.slidingWindows = [...windows];
    const cap = opts.capacity ?? Math.min(256, maxLength);
    if (!Number.isInteger(cap) || cap <= 0 || cap > maxLength)
      throw ntError('NT_VALUE', `[${OP}] capacity must be an integer in [1, ${maxLength}], got ${String(opts.capacity)}`);
    this.lengths = new Array(numLayers).fill(0);
    try {
      for (let l = 0; l < numLayers; ++l) {
        this.keys.push(zeros([1, numKvHeads, cap, headDim]));
        this.values.push(zeros([1, numKvHeads, cap, headDim]));
      }
    } catch (e) {
      this.dispose();
      throw e;
    }
  }

  get length(): number {
    return Math.min(...this.lengths);
  }

  /** Tokens each layer can hold before growing. */
  get capacity(): number {
    return this.keys.length > 0 ? this.keys[0].shape[2] : 0;
  }

  /** Bytes of the K/V buffers. */
  get bytes(): number {
    return this.keys.reduce((s, k) => s + 2 * k.size * 4, 0);
  }

  private checkLayer(op: string, layer: number): void {
    if (this.disposed) throw ntError('NT_DISPOSED', `[${OP}.${op}] the cache was disposed`);
    if (!Number.isInteger(layer) || layer < 0 || layer >= this.opts.numLayers)
      throw ntError('NT_VALUE', `[${OP}.${op}] layer must be an integer in [0, ${this.opts.numLayers}), got ${String(layer)}`);
  }

  private grow(layer: number, needed: number): void {
    const cap = this.keys[layer].shape[2];
    if (needed <= cap) return;
    const next = Math.min(this.opts.maxLength, Math.max(2 * cap, needed));
    const len = this.lengths[layer];
    for (const store of [this.keys, this.values]) {
      const old = store[layer];
      const fresh = zeros([1, this.opts.numKvHeads, next, this.opts.headDim]);
      if (len > 0) {
        const src = old.slice(null, null, [0, len]);
        const dst = fresh.slice(null, null, [0, len]);
        src.astype('f32', { out: dst });
        src.dispose();
        dst.dispose();
      }
      old.dispose();
      store[layer] = fresh;
    }
  }

  append(layer: number, k: Tensor, v: Tensor): void {
    this.checkLayer('append', layer);
    const { numKvHeads: h, headDim: d, maxLength } = this.opts;
    for (const [t, name] of [
      [k, 'k'],
      [v, 'v'],
    ] as const) {
      if (!(t instanceof Tensor)) throw ntError('NT_VALUE', `[${OP}.append] ${name} must be a Tensor`);
      t._check(`${OP}.append`, name);
      if (t.ndim !== 4 || t.shape[0] !== 1 || t.shape[1] !== h || t.shape[3] !== d)
        throw ntError('NT_SHAPE', `[${OP}.append] ${name} must be [1, ${h}, n, ${d}], got ${shapeString(t.shape)}`);
    }
    const n = k.shape[2];
    if (v.shape[2] !== n) throw ntError('NT_SHAPE', `[${OP}.append] k and v must hold the same number of tokens, got ${n} and ${v.shape[2]}`);
    const len = this.lengths[layer];
    if (len + n > maxLength)
      throw ntError('NT_VALUE', `[${OP}.append] ${len} + ${n} tokens exceed the cache limit of ${maxLength} (max_position_embeddings)`);
    this.grow(layer, len + n);
    for (const [t, store] of [
      [k, this.keys],
      [v, this.values],
    ] as const) {
      const dst = store[layer].slice(null, null, [len, len + n]);
      try {
        t.astype('f32', { out: dst });
      } finally {
        dst.dispose();
      }
    }
    this.lengths[layer] = len + n;
  }

  /** Views of layer's K/V buffers over the stored tokens, after checking q. */
  private stored(op: string, layer: number, q: Tensor): [Tensor, Tensor] {
    this.checkLayer(op, layer);
    const len = this.lengths[layer];
    if (!(q instanceof Tensor)) throw ntError('NT_VALUE', `[${OP}.${op}] q must be a Tensor`);
    q._check(`${OP}.${op}`, 'q');
    if (q.ndim !== 4 || q.shape[0] !== 1 || q.shape[3] !== this.opts.headDim || q.shape[1] % this.opts.numKvHeads !== 0)
      throw ntError('NT_SHAPE', `[${OP}.${op}] q must be [1, hq, n, ${this.opts.headDim}] with hq a multiple of ${this.opts.numKvHeads}, got ${shapeString(q.shape)}`);
    if (q.shape[2] > len)
      throw ntError('NT_VALUE', `[${OP}.${op}] ${q.shape[2]} queries but only ${len} tokens stored in layer ${layer}: append first`);
    return [this.keys[layer].slice(null, null, [0, len]), this.values[layer].slice(null, null, [0, len])];
  }

  attend(layer: number, q: Tensor): Tensor {
    const [k, v] = this.stored('attend', layer, q);
    const window = this.slidingWindows[layer];
    try {
      return window === null ? dense(q, k, v, { causal: true }) : slidingWindow(q, k, v, { window });
    } finally {
      k.dispose();
      v.dispose();
    }
  }

  async attendAsync(layer: number, q: Tensor): Promise<Tensor> {
    const [k, v] = this.stored('attendAsync', layer, q);
    const window = this.slidingWindows[layer];
    try {
      return await (window === null ? denseAsync(q, k, v, { causal: true }) : slidingWindowAsync(q, k, v, { window }));
    } finally {
      k.dispose();
      v.dispose();
    }
  }

  dispose(): void {
    this.disposed = true;
    for (const t of [...this.keys, ...this.values]) t.dispose();
    this.keys.length = 0;
    this.values.length = 0;
  }
}

/**
 * The caches of a batch, one per sequence: batched decode appends to and attends over each
 * sequence's own cache, so every sequence continues at its own position (left padding never
 * enters a cache). Owns the caches it is given.
 */
export class BatchKVCache {
  private readonly caches: KVCacheLike[];
  private disposed = false;

  constructor(sequences: readonly KVCacheLike[]) {
    if (!Array.isArray(sequences) || sequences.length === 0) throw ntError('NT_VALUE', `[BatchKVCache] give one cache per sequence (a non-empty array), got ${Array.isArray(sequences) ? 'an empty array' : describe(sequences)}`);
    sequences.forEach((c, b) => {
      if (c === null || typeof c !== 'object' || typeof c.append !== 'function' || typeof c.attend !== 'function')
        throw ntError('NT_VALUE', `[BatchKVCache] sequences[${b}] is not a KVCacheLike (append, attend, dispose), got ${describe(c)}`);
    });
    if (new Set(sequences).size !== sequences.length) throw ntError('NT_VALUE', '[BatchKVCache] the same cache is given for two sequences');
    this.caches = [...sequences];
  }

  /** Sequences in the batch. */
  get batch(): number {
    return this.caches.length;
  }

  /** Tokens stored per sequence. */
  get lengths(): number[] {
    this.check('lengths');
    return this.caches.map((c) => c.length);
  }

  /** Sequence b's cache. */
  sequence(b: number): KVCacheLike {
    this.check('sequence');
    if (!Number.isInteger(b) || b < 0 || b >= this.caches.length)
      throw ntError('NT_VALUE', `[BatchKVCache.sequence] b must be an integer in [0, ${this.caches.length}), got ${String(b)}`);
    return this.caches[b];
  }

  private check(op: string): void {
    if (this.disposed) throw ntError('NT_DISPOSED', `[BatchKVCache.${op}] the cache was disposed`);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const c of this.caches) c.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
