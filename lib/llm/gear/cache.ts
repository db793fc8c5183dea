// nt.llm.gear.Cache: a streaming GEAR KV cache (docs/ALGORITHMS.md §3.4) implementing the model
// runner's KVCacheLike. Per layer: compressed chunks of n_b tokens (stacked along the chunk axis
// of each part, capacity doubling) and a full-precision f32 buffer of n_b tokens per kv head.
// A chunk is compressed lazily, when a new token needs the full buffer's room, so the newest
// 1..n_b tokens are always exact. attend() runs one native kernel over the codes, factors and
// outliers of every chunk plus the buffer (attendAsync: the same on a worker thread); decode never
// rebuilds a dense cache, prefill reconstructs ~2048 tokens at a time (native/kvcache/gear.h).
import { ntError } from '../../errors';
import { checkOptions, checkTensor, describe } from '../../ops/common';
import { shapeString } from '../../shape';
import { Tensor } from '../../tensor';
import { zeros } from '../../creation';
import type { KVCacheLike } from '../../model/cache';
import { GearBudget, GearBytes, GearOptions, ResolvedGearOptions, breakdown, budgetOf, gearParams, resolveGearOptions } from './compress';
import {
  GearLayerState,
  GearParams,
  GearParts,
  allocParts,
  copyParts,
  disposeParts,
  gearAttendInto,
  gearAttendIntoAsync,
  gearCompressInto,
  gearDecompressInto,
  gearOutlierDeltasInto,
  outlierVectors,
  sliceParts,
} from './kernels';

const OP = 'llm.gear.Cache';

/** The model shape a cache needs (a model's `config` fits). */
export interface GearCacheConfig {
  numLayers: number;
  numKvHeads: number;
  headDim: number;
  /** Optional limit on stored tokens. */
  maxPositionEmbeddings?: number;
}

export interface GearCacheOptions extends Omit<GearOptions, 'kind'> {
  /** n_b: tokens of the full-precision buffer, compressed as one chunk when full (default 64). */
  bufferTokens?: number;
}

interface LayerStore {
  state: GearLayerState;
  /** chunks the parts can hold */
  capacity: number;
  /** [1, hkv, n_b, d] views of the buffers, for copying tokens in */
  bufK4: Tensor;
  bufV4: Tensor;
}

export interface GearCacheBytes {
  /**
   * Stored parts of every compressed chunk of every layer (K and V), with the zero-budget counts
   * over their slices (one per kv head, chunk, layer and K or V): e.g. with the default s = 2%
   * and n_b = 64, every key slice has no outliers (floor(0.02·64/2) = 0).
   */
  compressed: GearBytes;
  /** The zero-budget counts of compressed's slices, split into key and value slices. */
  budget: { key: GearBudget; value: GearBudget };
  /** Tokens in the f32 buffers (4 bytes per element, as held). */
  buffer: number;
  /**
   * The outlier corrections decode reads (f32, one per stored outlier: its value minus D̂ + L
   * there, derived when a chunk is compressed so decode never re-decodes an outlier's code).
   */
  corrections: number;
  /** compressed.total + buffer + corrections */
  total: number;
  /** The same tokens held in f16 (GEAR's baseline). */
  f16: number;
}

function checkCount(name: string, v: unknown, allowAbsent = false): number {
  if (allowAbsent && v === undefined) return Infinity;
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0)
    throw ntError('NT_VALUE', `[${OP}] config.${name} must be a positive integer, got ${describe(v)}`);
  return v;
}

export class Cache implements KVCacheLike {
  /** Resolved compression options (shared by K and V; K uses kind 'key', V kind 'value'). */
  readonly options: Readonly<ResolvedGearOptions>;
  readonly bufferTokens: number;
  readonly keyParams: Readonly<GearParams>;
  readonly valueParams: Readonly<GearParams>;
  private readonly numLayers: number;
  private readonly hkv: number;
  private readonly d: number;
  private readonly maxLength: number;
  private readonly layers: LayerStore[] = [];
  private disposed = false;
  /** attendAsync calls in flight: their worker reads the buffers and chunks append would change. */
  private pendingAttends = 0;

  constructor(config: GearCacheConfig, opts?: GearCacheOptions) {
    if (config === null || typeof config !== 'object') throw ntError('NT_VALUE', `[${OP}] config must be an object, got ${describe(config)}`);
    this.numLayers = checkCount('numLayers', config.numLayers);
    this.hkv = checkCount('numKvHeads', config.numKvHeads);
    this.d = checkCount('headDim', config.headDim);
    this.maxLength = checkCount('maxPositionEmbeddings', config.maxPositionEmbeddings, true);
    const o = checkOptions<GearCacheOptions>(OP, opts);
    const nb = o.bufferTokens ?? 64;
    if (typeof nb !== 'number' || !Number.isInteger(nb) || nb < 1)
      throw ntError('NT_VALUE', `[${OP}] bufferTokens must be an integer >= 1, got ${describe(o.bufferTokens)}`);
    this.bufferTokens = nb;
    const { bufferTokens: _ignored, ...gearOpts } = o;
    this.options = resolveGearOptions(OP, { ...gearOpts, kind: 'key' }, false);
    this.keyParams = gearParams(this.options, 'key', nb, this.d);
    this.valueParams = gearParams(this.options, 'value', nb, this.d);
    try {
      for (let l = 0; l < this.numLayers; ++l) this.layers.push(this.newLayer());
    } catch (e) {
      this.dispose();
      throw e;
    }
  }

  private newLayer(): LayerStore {
    const made: Tensor[] = [];
    const parts: GearParts[] = [];
    try {
      const bufK = zeros([this.hkv, this.bufferTokens, this.d]);
      made.push(bufK);
      const bufV = zeros([this.hkv, this.bufferTokens, this.d]);
      made.push(bufV);
      const bufK4 = bufK.reshape([1, this.hkv, this.bufferTokens, this.d]);
      made.push(bufK4);
      const bufV4 = bufV.reshape([1, this.hkv, this.bufferTokens, this.d]);
      made.push(bufV4);
      const keys = allocParts(OP, 0, this.hkv, this.bufferTokens, this.d, this.keyParams);
      parts.push(keys);
      const values = allocParts(OP, 0, this.hkv, this.bufferTokens, this.d, this.valueParams);
      parts.push(values);
      const keyDeltas = this.deltas(0, this.keyParams);
      made.push(keyDeltas);
      const valueDeltas = this.deltas(0, this.valueParams);
      made.push(valueDeltas);
      const state: GearLayerState = {
        keys,
        values,
        keyDeltas,
        valueDeltas,
        keyParams: this.keyParams,
        valueParams: this.valueParams,
        chunks: 0,
        chunkTokens: this.bufferTokens,
        bufK,
        bufV,
        bufLen: 0,
      };
      return { state, capacity: 0, bufK4, bufV4 };
    } catch (e) {
      for (const t of made) t.dispose();
      for (const p of parts) disposeParts(p);
      throw e;
    }
  }

  /** Room for the outlier corrections of `chunks` chunks of one side. */
  private deltas(chunks: number, p: GearParams): Tensor {
    const per = outlierVectors(p.kind, this.bufferTokens, this.d).count * 2 * p.outliersPerSide;
    return Tensor._empty(OP, [chunks, this.hkv, per], 'f32');
  }

  private store(op: string, layer: unknown): LayerStore {
    if (this.disposed) throw ntError('NT_DISPOSED', `[${OP}.${op}] the cache was disposed`);
    if (typeof layer !== 'number' || !Number.isInteger(layer) || layer < 0 || layer >= this.numLayers)
      throw ntError('NT_VALUE', `[${OP}.${op}] layer must be an integer in [0, ${this.numLayers}), got ${describe(layer)}`);
    return this.layers[layer];
  }

  private tokens(s: LayerStore): number {
    return s.state.chunks * this.bufferTokens + s.state.bufLen;
  }

  /** Tokens stored (the minimum over layers; equal between forwards). */
  get length(): number {
    if (this.layers.length === 0) return 0;
    return Math.min(...this.layers.map((s) => this.tokens(s)));
  }

  /** Compressed chunks of a layer. */
  chunkCount(layer: number): number {
    return this.store('chunkCount', layer).state.chunks;
  }

  /** Tokens in a layer's full-precision buffer. */
  bufferLength(layer: number): number {
    return this.store('bufferLength', layer).state.bufLen;
  }

  /**
   * The seed a layer's chunks are compressed with: seed + layer. Chunk c of a layer equals slice
   * c along batch of compress(chunks stacked as [C, kvHeads, n_b, dim], { seed: layerSeed(layer) }).
   */
  layerSeed(layer: number): number {
    this.store('layerSeed', layer);
    return this.options.seed + layer;
  }

  private grow(s: LayerStore): void {
    if (s.state.chunks < s.capacity) return;
    const maxChunks = Math.ceil(this.maxLength / this.bufferTokens);
    const next = Math.max(s.state.chunks + 1, Math.min(maxChunks, Math.max(4, 2 * s.capacity)));
    const keys = allocParts(OP, next, this.hkv, this.bufferTokens, this.d, this.keyParams);
    let values: GearParts;
    try {
      values = allocParts(OP, next, this.hkv, this.bufferTokens, this.d, this.valueParams);
    } catch (e) {
      disposeParts(keys);
      throw e;
    }
    const made: Tensor[] = [];
    try {
      made.push(this.deltas(next, this.keyParams));
      made.push(this.deltas(next, this.valueParams));
    } catch (e) {
      for (const t of made) t.dispose();
      disposeParts(keys);
      disposeParts(values);
      throw e;
    }
    const [keyDeltas, valueDeltas] = made;
    copyParts(s.state.keys, keys, s.state.chunks);
    copyParts(s.state.values, values, s.state.chunks);
    copyRows(s.state.keyDeltas, keyDeltas, s.state.chunks);
    copyRows(s.state.valueDeltas, valueDeltas, s.state.chunks);
    disposeParts(s.state.keys);
    disposeParts(s.state.values);
    s.state.keyDeltas.dispose();
    s.state.valueDeltas.dispose();
    s.state.keys = keys;
    s.state.values = values;
    s.state.keyDeltas = keyDeltas;
    s.state.valueDeltas = valueDeltas;
    s.capacity = next;
  }

  /** Compresses the full buffer of layer l as its next chunk. */
  private flush(s: LayerStore, layer: number): void {
    this.grow(s);
    const c = s.state.chunks;
    const seed = this.options.seed + layer;
    for (const [buf, all, prm, deltas] of [
      [s.bufK4, s.state.keys, this.keyParams, s.state.keyDeltas],
      [s.bufV4, s.state.values, this.valueParams, s.state.valueDeltas],
    ] as const) {
      const slot = sliceParts(all, c, c + 1);
      const out = deltas.slice([c, c + 1]);
      try {
        gearCompressInto(buf, slot, prm, this.options.powerIters, seed, c * this.hkv);
        gearOutlierDeltasInto(slot, prm, this.bufferTokens, this.d, out);
      } finally {
        disposeParts(slot);
        out.dispose();
      }
    }
    s.state.chunks = c + 1;
    s.state.bufLen = 0;
  }

  private checkKv(op: string, t: unknown, name: string): Tensor {
    const x = checkTensor(`${OP}.${op}`, t, name);
    if (x.ndim !== 4 || x.shape[0] !== 1 || x.shape[1] !== this.hkv || x.shape[3] !== this.d)
      throw ntError('NT_SHAPE', `[${OP}.${op}] ${name} must be [1, ${this.hkv}, n, ${this.d}], got ${shapeString(x.shape)}`);
    if (x.dtype !== 'f32' && x.dtype !== 'f64' && x.dtype !== 'f16' && x.dtype !== 'bf16')
      throw ntError('NT_DTYPE', `[${OP}.${op}] ${name} must be f32, f64, f16 or bf16, got ${x.dtype}`);
    return x;
  }

  /**
   * Appends n tokens of K and V ([1, kvHeads, n, dim], after RoPE) to a layer, compressing the
   * buffer as a chunk whenever a token needs its room. NaN/Inf, or |x| > 65504 with f16 side
   * storage, is NT_VALUE and nothing is appended.
   */
  append(layer: number, k: Tensor, v: Tensor): void {
    const s = this.store('append', layer);
    if (this.pendingAttends > 0)
      throw ntError('NT_VALUE', `[${OP}.append] ${this.pendingAttends} attendAsync call(s) still running read this cache: await them before appending`);
    const kk = this.checkKv('append', k, 'k');
    const vv = this.checkKv('append', v, 'v');
    const n = kk.shape[2];
    if (vv.shape[2] !== n)
      throw ntError('NT_SHAPE', `[${OP}.append] k and v must hold the same number of tokens, got ${n} and ${vv.shape[2]}`);
    const have = this.tokens(s);
    if (have + n > this.maxLength)
      throw ntError('NT_VALUE', `[${OP}.append] ${have} + ${n} tokens exceed the cache limit of ${this.maxLength}`);
    // checked before anything is appended, so a refused append leaves the layer as it was
    const limit = this.options.storage === 'f16' ? 65504 : Infinity;
    for (const [t, name] of [
      [kk, 'k'],
      [vv, 'v'],
    ] as const) {
      const bad = firstBad(t, limit);
      if (bad === 'nan') throw ntError('NT_VALUE', `[${OP}.append] ${name} contains NaN or Inf`);
      if (bad === 'range')
        throw ntError('NT_VALUE', `[${OP}.append] ${name} exceeds the f16 range (max 65504) of the side storage; use storage 'f32'`);
    }
    const nb = this.bufferTokens;
    for (let i = 0; i < n; ) {
      if (s.state.bufLen === nb) this.flush(s, layer);
      const m = Math.min(nb - s.state.bufLen, n - i);
      const b0 = s.state.bufLen;
      for (const [src, dst] of [
        [kk, s.bufK4],
        [vv, s.bufV4],
      ] as const) {
        const a = src.slice(null, null, [i, i + m]);
        const b = dst.slice(null, null, [b0, b0 + m]);
        try {
          a.astype('f32', { out: b });
        } finally {
          a.dispose();
          b.dispose();
        }
      }
      s.state.bufLen = b0 + m;
      i += m;
    }
  }

  /** Checks q for attend / attendAsync: the layer's store, q as f32 (a fresh copy for f64) and the output. */
  private attendInputs(op: string, layer: number, q: Tensor): { s: LayerStore; qf: Tensor; out: Tensor; owned: boolean } {
    const s = this.store(op, layer);
    const x = checkTensor(`${OP}.${op}`, q, 'q');
    if (x.ndim !== 4 || x.shape[0] !== 1 || x.shape[3] !== this.d || x.shape[1] % this.hkv !== 0)
      throw ntError(
        'NT_SHAPE',
        `[${OP}.${op}] q must be [1, heads, n, ${this.d}] with heads a multiple of ${this.hkv}, got ${shapeString(x.shape)}`,
      );
    if (x.dtype !== 'f32' && x.dtype !== 'f64' && x.dtype !== 'f16' && x.dtype !== 'bf16')
      throw ntError('NT_DTYPE', `[${OP}.${op}] q must be f32, f64, f16 or bf16, got ${x.dtype}`);
    if (x.shape[2] > this.tokens(s))
      throw ntError('NT_VALUE', `[${OP}.${op}] ${x.shape[2]} queries but only ${this.tokens(s)} tokens stored in layer ${layer}: append first`);
    const qf = x.dtype === 'f64' ? x.astype('f32') : x;
    const out = Tensor._empty(`${OP}.${op}`, x.shape, 'f32');
    return { s, qf, out, owned: qf !== x };
  }

  /** Causal attention of q [1, heads, n, dim] (the n newest positions) over everything stored: a fresh f32 tensor. */
  attend(layer: number, q: Tensor): Tensor {
    const { s, qf, out, owned } = this.attendInputs('attend', layer, q);
    try {
      gearAttendInto(qf, out, s.state, 1 / Math.sqrt(this.d));
    } catch (e) {
      out.dispose();
      throw e;
    } finally {
      if (owned) qf.dispose();
    }
    return out;
  }

  /**
   * attend() on a worker thread, bit for bit the same result; the event loop stays free (what a
   * GEAR-cached model.forwardAsync calls). append() is refused (NT_VALUE) until it settles.
   */
  async attendAsync(layer: number, q: Tensor): Promise<Tensor> {
    const { s, qf, out, owned } = this.attendInputs('attendAsync', layer, q);
    this.pendingAttends++;
    try {
      await gearAttendIntoAsync(qf, out, s.state, 1 / Math.sqrt(this.d));
    } catch (e) {
      out.dispose();
      throw e;
    } finally {
      this.pendingAttends--;
      if (owned) qf.dispose();
    }
    return out;
  }

  /** The layer's cache as it is represented (decompressed chunks + the buffer): K and V f32 [1, kvHeads, length, dim]. */
  decompress(layer: number): { k: Tensor; v: Tensor } {
    const s = this.store('decompress', layer);
    const nb = this.bufferTokens;
    const total = this.tokens(s);
    const C = s.state.chunks;
    const result: Tensor[] = [];
    try {
      for (const [parts, prm, buf] of [
        [s.state.keys, this.keyParams, s.bufK4],
        [s.state.values, this.valueParams, s.bufV4],
      ] as const) {
        const dense = zeros([1, this.hkv, total, this.d]);
        result.push(dense);
        if (C > 0) {
          const tmp = Tensor._empty(`${OP}.decompress`, [C, this.hkv, nb, this.d], 'f32');
          try {
            gearDecompressInto(parts, prm, tmp);
            for (let c = 0; c < C; ++c) copyRange(tmp.slice([c, c + 1]), dense, c * nb);
          } finally {
            tmp.dispose();
          }
        }
        if (s.state.bufLen > 0) copyRange(buf.slice(null, null, [0, s.state.bufLen]), dense, C * nb);
      }
    } catch (e) {
      for (const t of result) t.dispose();
      throw e;
    }
    return { k: result[0], v: result[1] };
  }

  /** Bytes of everything stored (chunks by part, buffered tokens at f32) vs the same tokens in f16. */
  get bytes(): GearCacheBytes {
    if (this.disposed) throw ntError('NT_DISPOSED', `[${OP}.bytes] the cache was disposed`);
    const compressed: GearBytes = { codes: 0, ranges: 0, factors: 0, outliers: 0, total: 0, slices: 0, slicesWithoutOutliers: 0, slicesRankClamped: 0 };
    const zero = (): GearBudget => ({ slices: 0, slicesWithoutOutliers: 0, slicesRankClamped: 0 });
    const budget = { key: zero(), value: zero() };
    let buffer = 0;
    let corrections = 0;
    let tokens = 0;
    for (const s of this.layers) {
      for (const [parts, prm, kind] of [
        [s.state.keys, this.keyParams, 'key'],
        [s.state.values, this.valueParams, 'value'],
      ] as const) {
        const used = sliceParts(parts, 0, s.state.chunks);
        try {
          const bud = budgetOf(this.options, prm, s.state.chunks * this.hkv, this.bufferTokens, this.d);
          const b = breakdown(used, bud);
          for (const key of Object.keys(compressed) as (keyof GearBytes)[]) compressed[key] += b[key];
          for (const key of Object.keys(bud) as (keyof GearBudget)[]) budget[kind][key] += bud[key];
        } finally {
          disposeParts(used);
        }
      }
      buffer += 2 * this.hkv * s.state.bufLen * this.d * 4;
      for (const t of [s.state.keyDeltas, s.state.valueDeltas]) corrections += s.state.chunks * t.shape[1] * t.shape[2] * 4;
      tokens += this.tokens(s);
    }
    return { compressed, budget, buffer, corrections, total: compressed.total + buffer + corrections, f16: tokens * 2 * this.hkv * this.d * 2 };
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const s of this.layers) {
      disposeParts(s.state.keys);
      disposeParts(s.state.values);
      for (const t of [s.bufK4, s.bufV4, s.state.bufK, s.state.bufV, s.state.keyDeltas, s.state.valueDeltas]) t.dispose();
    }
    this.layers.length = 0;
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

/** dst[:, :, at : at + n] := src ([1, h, n, d]); src is disposed. */
function copyRange(src: Tensor, dst: Tensor, at: number): void {
  const view = dst.slice(null, null, [at, at + src.shape[2]]);
  try {
    src.astype('f32', { out: view });
  } finally {
    view.dispose();
    src.dispose();
  }
}

/** 'nan' if t holds NaN/Inf, 'range' if some |x| > limit, else undefined. */
function firstBad(t: Tensor, limit: number): 'nan' | 'range' | undefined {
  const c = t.dtype === 'f32' || t.dtype === 'f64' ? (t.isContiguous ? t : t.contiguous()) : t.astype('f32');
  try {
    const data = c.data as Float32Array | Float64Array;
    let range = false;
    for (let i = 0; i < data.length; ++i) {
      const x = data[i];
      if (!Number.isFinite(x)) return 'nan';
      if (x > limit || x < -limit) range = true;
    }
    return range ? 'range' : undefined;
  } finally {
    if (c !== t) c.dispose();
  }
}

/** dst[0:count] := src[0:count] along the first axis (same trailing shape). */
function copyRows(src: Tensor, dst: Tensor, count: number): void {
  if (count === 0) return;
  const a = src.slice([0, count]);
  const b = dst.slice([0, count]);
  try {
    a.astype(a.dtype, { out: b });
  } finally {
    a.dispose();
    b.dispose();
  }
}
