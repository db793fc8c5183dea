// Feature maps φ of linear attention (ALGORITHMS.md §4): Hedgehog (learned, per head),
// identity, relu and elu+1, applied to [batch, heads, seq, dim] tensors, with the backward
// pass w.r.t. the input and the Hedgehog weight. The output may have more heads than the
// input (GQA): a key map with one weight per query head reads the shared key head of its
// group (output head h reads input head h / (outHeads / inHeads)).
import { ntError } from '../errors';
import { native } from '../native/loader';
import { checkFloat, checkOptions, checkTensor, describe } from '../ops/common';
import { shapeString } from '../shape';
import { Tensor } from '../tensor';
import type { DType } from '../dtype';

/** Hedgehog map: φ(x) = [softmax(x W̃_h), softmax(−x W̃_h)], weight W̃ [heads, dim, f] (2f features). */
export interface HedgehogMap {
  kind: 'hedgehog';
  weight: Tensor;
}
/** A feature map: a parameter-free name or a Hedgehog map with its weight. */
export type FeatureMapSpec = 'identity' | 'relu' | 'elu+1' | HedgehogMap;
/** One map for queries and keys, or one each (LoLCATs trains φ_q and φ_k separately). */
export type FeatureMaps = FeatureMapSpec | { q: FeatureMapSpec; k: FeatureMapSpec };

const KIND_CODES = { hedgehog: 0, identity: 1, relu: 2, 'elu+1': 3 } as const;

/** The map spec validated against an input of head dim `dim`, producing `heads` output heads. */
export interface ResolvedMap {
  code: number;
  weight: Tensor | null;
  features: number;
}

export function resolveMap(op: string, spec: unknown, arg: string, dim: number, heads: number): ResolvedMap {
  if (spec === 'identity' || spec === 'relu' || spec === 'elu+1') return { code: KIND_CODES[spec], weight: null, features: dim };
  if (spec !== null && typeof spec === 'object' && (spec as HedgehogMap).kind === 'hedgehog') {
    const w = checkTensor(op, (spec as HedgehogMap).weight, `${arg}.weight`);
    checkFloat(op, w, `${arg}.weight`);
    if (w.ndim !== 3 || w.shape[0] !== heads || w.shape[1] !== dim || w.shape[2] < 1)
      throw ntError('NT_SHAPE', `[${op}] ${arg}.weight must have shape [${heads}, ${dim}, f >= 1], got ${shapeString(w.shape)}`);
    return { code: 0, weight: w, features: 2 * w.shape[2] };
  }
  throw ntError('NT_VALUE', `[${op}] ${arg} must be 'identity', 'relu', 'elu+1' or { kind: 'hedgehog', weight }, got ${describe(spec)}`);
}

/** Splits FeatureMaps into the query and key specs. */
export function splitMaps(op: string, maps: unknown): { q: unknown; k: unknown } {
  if (maps === undefined) throw ntError('NT_VALUE', `[${op}] featureMap is required`);
  if (maps !== null && typeof maps === 'object' && 'q' in maps && 'k' in maps) {
    const m = maps as { q: unknown; k: unknown };
    return { q: m.q, k: m.k };
  }
  return { q: maps, k: maps };
}

/** Widens f16/bf16 to f32 (the kernels read f32 and f64); the copy goes to temps. */
export function computeView(t: Tensor, temps: Tensor[]): Tensor {
  if (t.dtype === 'f32' || t.dtype === 'f64') return t;
  const c = t.astype('f32');
  temps.push(c);
  return c;
}

function check4d(op: string, t: unknown, arg: string): Tensor {
  const x = checkTensor(op, t, arg);
  checkFloat(op, x, arg);
  if (x.ndim !== 4) throw ntError('NT_SHAPE', `[${op}] ${arg} must be 4-D [batch, heads, seq, dim], got shape ${shapeString(x.shape)}`);
  return x;
}

/** Applies a resolved map (internal: no validation beyond the native checks). */
export function applyMap(x: Tensor, map: ResolvedMap, heads: number, dtype: DType): Tensor {
  const op = 'attention.featureMap';
  const temps: Tensor[] = [];
  const out = Tensor._empty(op, [x.shape[0], heads, x.shape[2], map.features], dtype);
  try {
    const xv = computeView(x, temps);
    const w = map.weight ? computeView(map.weight, temps) : null;
    native.featureMap(xv._storage, xv._metaArray, w?._storage ?? null, w?._metaArray ?? null, out._storage, out._metaArray, map.code);
  } catch (e) {
    out.dispose();
    throw e;
  } finally {
    for (const t of temps) t.dispose();
  }
  return out;
}

/** Backward of applyMap: dx like x (f64 when dtype is f64), dWeight like the weight (null without one). */
export function applyMapBackward(x: Tensor, map: ResolvedMap, grad: Tensor, dtype: DType): { dx: Tensor; dWeight: Tensor | null } {
  const op = 'attention.featureMapBackward';
  const temps: Tensor[] = [];
  const dx = Tensor._empty(op, x.shape, dtype);
  const dWeight = map.weight ? Tensor._empty(op, map.weight.shape, dtype) : null;
  try {
    const xv = computeView(x, temps);
    const w = map.weight ? computeView(map.weight, temps) : null;
    const g = computeView(grad, temps);
    native.featureMapBackward(
      xv._storage, xv._metaArray, w?._storage ?? null, w?._metaArray ?? null, g._storage, g._metaArray,
      dx._storage, dx._metaArray, dWeight?._storage ?? null, dWeight?._metaArray ?? null, map.code,
    );
  } catch (e) {
    dx.dispose();
    dWeight?.dispose();
    throw e;
  } finally {
    for (const t of temps) t.dispose();
  }
  return { dx, dWeight };
}

export interface FeatureMapOptions {
  /** Output heads (a multiple of x's heads; default: the weight's heads, else x's heads). */
  heads?: number;
}

function outHeads(op: string, x: Tensor, spec: unknown, opts: FeatureMapOptions): number {
  let heads = opts.heads;
  if (heads === undefined) {
    const w = spec !== null && typeof spec === 'object' ? (spec as HedgehogMap).weight : undefined;
    heads = w instanceof Tensor && w.ndim === 3 ? w.shape[0] : x.shape[1];
  }
  if (!Number.isInteger(heads) || heads < 1 || heads % x.shape[1] !== 0)
    throw ntError('NT_VALUE', `[${op}] heads must be a positive multiple of x's ${x.shape[1]} heads, got ${describe(heads)}`);
  return heads;
}

/**
 * φ(x) for x [batch, heads, seq, dim] -> [batch, outHeads, seq, F] (f64 for f64 x, else f32).
 * @example nt.attention.featureMap(q, { kind: 'hedgehog', weight })   // weight [heads, dim, 64]: F = 128
 */
export function featureMap(x: Tensor, map: FeatureMapSpec, options?: FeatureMapOptions): Tensor {
  const op = 'attention.featureMap';
  const opts = checkOptions<FeatureMapOptions>(op, options);
  const xv = check4d(op, x, 'x');
  const heads = outHeads(op, xv, map, opts);
  const m = resolveMap(op, map, 'map', xv.shape[3], heads);
  return applyMap(xv, m, heads, xv.dtype === 'f64' ? 'f64' : 'f32');
}

/** Gradients of Σ grad ⊙ φ(x): dx like x and dWeight like the Hedgehog weight (null otherwise). */
export function featureMapBackward(x: Tensor, map: FeatureMapSpec, grad: Tensor, options?: FeatureMapOptions): { dx: Tensor; dWeight: Tensor | null } {
  const op = 'attention.featureMapBackward';
  const opts = checkOptions<FeatureMapOptions>(op, options);
  const xv = check4d(op, x, 'x');
  const g = check4d(op, grad, 'grad');
  const heads = outHeads(op, xv, map, opts);
  const m = resolveMap(op, map, 'map', xv.shape[3], heads);
  const want = [xv.shape[0], heads, xv.shape[2], m.features];
  if (g.shape.some((d, i) => d !== want[i]))
    throw ntError('NT_SHAPE', `[${op}] grad must have shape ${shapeString(want)}, got ${shapeString(g.shape)}`);
  return applyMapBackward(xv, m, g, xv.dtype === 'f64' ? 'f64' : 'f32');
}

/**
 * Hedgehog weights for `heads` heads of dim `dim` with `features` (f) columns, initialised as
 * tiled identities (W̃[i, c] = 1 when c mod dim = i): softmax(±x) spread over the features,
 * a deterministic start that LoLCATs' attention transfer then trains.
 */
export function hedgehogInit(heads: number, dim: number, features = 64, dtype: 'f32' | 'f64' = 'f32'): Tensor {
  const op = 'attention.hedgehogInit';
  for (const [v, name] of [
    [heads, 'heads'],
    [dim, 'dim'],
    [features, 'features'],
  ] as const)
    if (!Number.isInteger(v) || v < 1) throw ntError('NT_VALUE', `[${op}] ${name} must be a positive integer, got ${describe(v)}`);
  const w = Tensor._empty(op, [heads, dim, features], dtype);
  const d = w.data as Float32Array | Float64Array;
  d.fill(0);
  for (let h = 0; h < heads; ++h) for (let i = 0; i < dim; ++i) for (let c = 0; c < features; ++c) if (c % dim === i) d[(h * dim + i) * features + c] = 1;
  return w;
}
