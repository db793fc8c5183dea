// The typed native layer of nt.llm.gear (the only file of lib/llm/gear that calls the addon):
// allocation of the compressed parts, and the compress / decompress / attend kernels of
// native/kvcache (see native/kvcache/gear.h for the exact math and storage layout).
import type { DType } from '../../dtype';
import { ntError } from '../../errors';
import { seedWords } from '../../linalg/factor-util';
import { native } from '../../native/loader';
import type { NativeGearBlock, NativeGearParams } from '../../native/contract-gear';
import { Tensor } from '../../tensor';

export type GearKind = 'key' | 'value';
export type GearLayout = 'kivi' | 'uniform';
/** dtype of the float side data (scales, mins, low-rank factors, outlier values). */
export type GearStorage = 'f16' | 'f32';

/** Parameters of one compressed block, resolved (rank and outliers are what is stored). */
export interface GearParams {
  kind: GearKind;
  layout: GearLayout;
  bits: 2 | 4;
  group: number;
  /** Effective rank r = min(requested, n, d). */
  rank: number;
  /** Outliers kept per side of each vector: k = floor(s·len/2). */
  outliersPerSide: number;
  storage: GearStorage;
}

/** The stored parts of B x H compressed slices of n x d. */
export interface GearParts {
  /** u8 [B, H, ceil(n·d·bits/8)]: element t·d + j of a slice at bit (t·d + j)·bits, low bits first. */
  codes: Tensor;
  /** [B, H, groups] step Δ per group. */
  scales: Tensor;
  /** [B, H, groups] minimum per group. */
  mins: Tensor;
  /** [B, H, n, r]: orthonormal columns. */
  q: Tensor;
  /** [B, H, d, r]: L = Q Pᵀ. */
  p: Tensor;
  /** [B, H, nvec, 2k]: the k smallest then the k largest of each vector, ascending. */
  outlierValues: Tensor;
  /** i32 [B, H, nvec, 2k]: index within the vector (token for keys, channel for values). */
  outlierIndices: Tensor;
}

export const PART_NAMES: readonly (keyof GearParts)[] = ['codes', 'scales', 'mins', 'q', 'p', 'outlierValues', 'outlierIndices'];

export function codeBytes(p: GearParams, n: number, d: number): number {
  return Math.ceil((n * d * p.bits) / 8);
}
export function groupCount(p: GearParams, n: number, d: number): number {
  if (n === 0 || d === 0) return 0;
  if (p.layout === 'uniform') return 1;
  return p.kind === 'key' ? Math.ceil(n / p.group) * d : n * Math.ceil(d / p.group);
}
/** Outlier vectors per slice and their length: keys per channel along tokens, values per token along channels. */
export function outlierVectors(kind: GearKind, n: number, d: number): { count: number; length: number } {
  return kind === 'key' ? { count: d, length: n } : { count: n, length: d };
}

/** Fresh zeroed parts for `batch` x `heads` slices of n x d. */
export function allocParts(op: string, batch: number, heads: number, n: number, d: number, p: GearParams): GearParts {
  const side: DType = p.storage;
  const nvec = outlierVectors(p.kind, n, d).count;
  const k2 = 2 * p.outliersPerSide;
  const made: Tensor[] = [];
  const mk = (shape: number[], dt: DType): Tensor => {
    const t = Tensor._empty(op, shape, dt);
    made.push(t);
    return t;
  };
  try {
    return {
      codes: mk([batch, heads, codeBytes(p, n, d)], 'u8'),
      scales: mk([batch, heads, groupCount(p, n, d)], side),
      mins: mk([batch, heads, groupCount(p, n, d)], side),
      q: mk([batch, heads, n, p.rank], side),
      p: mk([batch, heads, d, p.rank], side),
      outlierValues: mk([batch, heads, nvec, k2], side),
      outlierIndices: mk([batch, heads, nvec, k2], 'i32'),
    };
  } catch (e) {
    for (const t of made) t.dispose();
    throw e;
  }
}

export function disposeParts(parts: GearParts): void {
  for (const name of PART_NAMES) parts[name].dispose();
}

/** Bytes of every stored part (what the compressed form costs). */
export function partsBytes(parts: GearParts): number {
  let total = 0;
  for (const name of PART_NAMES) {
    const t = parts[name];
    total += t.size * (t.dtype === 'u8' ? 1 : t.dtype === 'f16' ? 2 : 4);
  }
  return total;
}

/** A view of slices [b0, b1) along B of every part. */
export function sliceParts(parts: GearParts, b0: number, b1: number): GearParts {
  const out = {} as GearParts;
  for (const name of PART_NAMES) out[name] = parts[name].slice([b0, b1]);
  return out;
}

/** Copies the first `count` slices along B of src into dst (same trailing shapes). */
export function copyParts(src: GearParts, dst: GearParts, count: number): void {
  if (count === 0) return;
  for (const name of PART_NAMES) {
    const a = src[name].slice([0, count]);
    const b = dst[name].slice([0, count]);
    try {
      a.astype(a.dtype, { out: b });
    } finally {
      a.dispose();
      b.dispose();
    }
  }
}

function blockArgs(parts: GearParts): NativeGearBlock {
  const a: unknown[] = [];
  for (const name of PART_NAMES) {
    const t = parts[name];
    a.push(t._storage, t._metaArray);
  }
  return a as NativeGearBlock;
}

function paramArgs(p: GearParams): NativeGearParams {
  return [p.kind === 'key' ? 0 : 1, p.layout === 'kivi' ? 0 : 1, p.bits, p.group, p.rank, p.outliersPerSide];
}

/** Compresses x [B, H, n, d] into parts (B x H slices); slice s's power-iteration start is keyed by (seed, sliceBase + s). */
export function gearCompressInto(x: Tensor, parts: GearParts, p: GearParams, powerIters: number, seed: number, sliceBase = 0): void {
  const [hi, lo] = seedWords('llm.gear.compress', seed);
  native.gearCompress(x._storage, x._metaArray, ...blockArgs(parts), ...paramArgs(p), powerIters, hi, lo, sliceBase);
}

export async function gearCompressIntoAsync(
  x: Tensor,
  parts: GearParts,
  p: GearParams,
  powerIters: number,
  seed: number,
  sliceBase = 0,
): Promise<void> {
  const [hi, lo] = seedWords('llm.gear.compress', seed);
  await native.gearCompressAsync(x._storage, x._metaArray, ...blockArgs(parts), ...paramArgs(p), powerIters, hi, lo, sliceBase);
}

/** out f32 [B, H, n, d] := the first B slices of parts, decompressed. */
export function gearDecompressInto(parts: GearParts, p: GearParams, out: Tensor): void {
  native.gearDecompress(...blockArgs(parts), ...paramArgs(p), out._storage, out._metaArray);
}

/**
 * out f32 [B, H, nvec·2k] := the outlier corrections (stored value - (D̂ + L)) of the first B slices
 * of parts (n tokens x d channels each), what decode adds on top of the codes and the factors.
 */
export function gearOutlierDeltasInto(parts: GearParts, p: GearParams, n: number, d: number, out: Tensor): void {
  native.gearOutlierDeltas(...blockArgs(parts), ...paramArgs(p), n, d, out._storage, out._metaArray);
}

/** One layer of the streaming cache, as the attention kernel reads it. */
export interface GearLayerState {
  keys: GearParts;
  values: GearParts;
  /** f32 [chunk capacity, hkv, nvec·2k]: gearOutlierDeltasInto of every chunk (K and V) */
  keyDeltas: Tensor;
  valueDeltas: Tensor;
  keyParams: GearParams;
  valueParams: GearParams;
  chunks: number;
  chunkTokens: number;
  /** f32 [hkv, capacity, d] */
  bufK: Tensor;
  bufV: Tensor;
  bufLen: number;
}

function attendArgs(q: Tensor, out: Tensor, s: GearLayerState, scale: number) {
  if (!Number.isFinite(scale)) throw ntError('NT_VALUE', `[llm.gear.Cache.attend] scale must be finite, got ${scale}`);
  return [
    q._storage,
    q._metaArray,
    out._storage,
    out._metaArray,
    ...blockArgs(s.keys),
    ...paramArgs(s.keyParams),
    ...blockArgs(s.values),
    ...paramArgs(s.valueParams),
    s.keyDeltas._storage,
    s.keyDeltas._metaArray,
    s.valueDeltas._storage,
    s.valueDeltas._metaArray,
    s.bufK._storage,
    s.bufK._metaArray,
    s.bufV._storage,
    s.bufV._metaArray,
    s.chunks,
    s.chunkTokens,
    s.bufLen,
    scale,
  ] as const;
}

/** out f32 [1, hq, sq, d] := causal attention of q over the layer (see native/kvcache/gear.h). */
export function gearAttendInto(q: Tensor, out: Tensor, s: GearLayerState, scale: number): void {
  native.gearAttend(...attendArgs(q, out, s, scale));
}

/** gearAttendInto on a worker thread (the event loop stays free); the parts must not change until it settles. */
export async function gearAttendIntoAsync(q: Tensor, out: Tensor, s: GearLayerState, scale: number): Promise<void> {
  await native.gearAttendAsync(...attendArgs(q, out, s, scale));
}
