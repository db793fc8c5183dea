// nt.llm.gear.compress: GEAR compression of a K or V tensor [batch, heads, seq, dim]
// (docs/ALGORITHMS.md §3): X ≈ D̂ (2/4-bit codes) + L (rank r, power iteration) + S (outliers).
import { ntError } from '../../errors';
import { checkFloat, checkOptions, checkTensor, describe } from '../../ops/common';
import { shapeString } from '../../shape';
import { Tensor } from '../../tensor';
import {
  GearKind,
  GearLayout,
  GearParams,
  GearParts,
  GearStorage,
  PART_NAMES,
  allocParts,
  disposeParts,
  gearCompressInto,
  gearCompressIntoAsync,
  gearDecompressInto,
  outlierVectors,
  partsBytes,
} from './kernels';

/**
 * Named option sets (docs/ALGORITHMS.md §3; GEAR paper, Kang et al. 2024): 'kivi' = quantization
 * only; 'gear-l' = + a rank-4 residual; 'gear' = + 2% sparse outliers (s = 2%, r = 4, the paper's
 * GEAR setting and the "rank 2–4" of ALGORITHMS.md §3.3). Explicit rank/outlierRatio override.
 */
export type GearPreset = 'gear' | 'gear-l' | 'kivi';
export const GEAR_PRESETS: Readonly<Record<GearPreset, Readonly<{ rank: number; outlierRatio: number }>>> = {
  gear: { rank: 4, outlierRatio: 0.02 },
  'gear-l': { rank: 4, outlierRatio: 0 },
  kivi: { rank: 0, outlierRatio: 0 },
};

export interface GearOptions {
  /** Default rank and outlierRatio (default 'gear': rank 4, outlierRatio 0.02); explicit options win. */
  preset?: GearPreset;
  /** 'key': quantization groups per channel along tokens, outliers per channel; 'value': per token along channels. */
  kind: GearKind;
  /** Code width (default 4). */
  bits?: 2 | 4;
  /** 'kivi' (default): groups of `group` tokens (keys) / channels (values); 'uniform': one range per (batch, head) slice. */
  layout?: GearLayout;
  /** Group size of the KIVI layout (default 64). */
  group?: number;
  /** s: fraction of each vector kept exactly, k = floor(s·len/2) per side (default: the preset's, 0.02 for 'gear'). */
  outlierRatio?: number;
  /** Rank of the low-rank residual (default: the preset's, 4 for 'gear'; clamped to min(seq, dim)). */
  rank?: number;
  /** Power iterations (default 3), each with a QR. */
  powerIters?: number;
  /** Seed of the power iteration's Gaussian start (default 0). */
  seed?: number;
  /** dtype of scales, mins, factors and outlier values (default 'f16', as GEAR's accounting assumes). */
  storage?: GearStorage;
}

/** Resolved options (what compress uses). */
export interface ResolvedGearOptions {
  /** The preset the defaults came from (explicit rank/outlierRatio may differ from it). */
  preset: GearPreset;
  kind: GearKind;
  bits: 2 | 4;
  layout: GearLayout;
  group: number;
  outlierRatio: number;
  rank: number;
  powerIters: number;
  seed: number;
  storage: GearStorage;
}

function intIn(op: string, name: string, v: unknown, fallback: number, min: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min)
    throw ntError('NT_VALUE', `[${op}] ${name} must be an integer >= ${min}, got ${describe(v)}`);
  return v;
}

/** Validates GEAR options (everything but kind may be omitted). */
export function resolveGearOptions(op: string, opts: unknown, needKind = true): ResolvedGearOptions {
  const o = checkOptions<Partial<GearOptions>>(op, opts);
  if (needKind && o.kind !== 'key' && o.kind !== 'value')
    throw ntError('NT_VALUE', `[${op}] kind must be 'key' or 'value', got ${describe(o.kind)}`);
  const bits = o.bits ?? 4;
  if (bits !== 2 && bits !== 4) throw ntError('NT_VALUE', `[${op}] bits must be 2 or 4, got ${describe(o.bits)}`);
  const layout = o.layout ?? 'kivi';
  if (layout !== 'kivi' && layout !== 'uniform')
    throw ntError('NT_VALUE', `[${op}] layout must be 'kivi' or 'uniform', got ${describe(o.layout)}`);
  const storage = o.storage ?? 'f16';
  if (storage !== 'f16' && storage !== 'f32')
    throw ntError('NT_VALUE', `[${op}] storage must be 'f16' or 'f32', got ${describe(o.storage)}`);
  const preset = o.preset ?? 'gear';
  if (typeof preset !== 'string' || !Object.prototype.hasOwnProperty.call(GEAR_PRESETS, preset))
    throw ntError('NT_VALUE', `[${op}] preset must be 'gear', 'gear-l' or 'kivi', got ${describe(o.preset)}`);
  const base = GEAR_PRESETS[preset];
  const s = o.outlierRatio ?? base.outlierRatio;
  if (typeof s !== 'number' || !(s >= 0 && s < 1))
    throw ntError('NT_VALUE', `[${op}] outlierRatio must be a number in [0, 1), got ${describe(o.outlierRatio)}`);
  const seed = o.seed ?? 0;
  if (typeof seed !== 'number' || !Number.isSafeInteger(seed) || seed < 0)
    throw ntError('NT_VALUE', `[${op}] seed must be a non-negative safe integer, got ${describe(o.seed)}`);
  return {
    preset,
    kind: o.kind ?? 'key',
    bits,
    layout,
    group: intIn(op, 'group', o.group, 64, 1),
    outlierRatio: s,
    rank: intIn(op, 'rank', o.rank, base.rank, 0),
    powerIters: intIn(op, 'powerIters', o.powerIters, 3, 1),
    seed,
    storage,
  };
}

/** The stored parameters for slices of n x d. outliersPerSide rounds down (ALGORITHMS.md §3.1): see GearBudget. */
export function gearParams(o: ResolvedGearOptions, kind: GearKind, n: number, d: number): GearParams {
  const len = outlierVectors(kind, n, d).length;
  return {
    kind,
    layout: o.layout,
    bits: o.bits,
    group: o.group,
    rank: Math.min(o.rank, n, d),
    outliersPerSide: Math.floor((o.outlierRatio * len) / 2),
    storage: o.storage,
  };
}

/**
 * Zero budgets, reported rather than silent. A slice is one (batch, head) n x d matrix compressed
 * on its own (in gear.Cache: one kv head of one chunk of K or V). A slice is "without outliers"
 * when outlierRatio > 0 but k = floor(s·len/2) = 0 (e.g. s 2% of a 64-token key chunk or of a
 * 32-channel value vector); "rank clamped" when the stored rank min(rank, n, d) is below the
 * requested rank (a rank of 0 is only possible for empty slices, which are not counted at all).
 * We keep the floor: it is the documented budget, and the README's measured results stand.
 */
export interface GearBudget {
  /** Non-empty slices stored. */
  slices: number;
  slicesWithoutOutliers: number;
  slicesRankClamped: number;
}

/** The budget counts of `slices` slices of n x d compressed with p under o. */
export function budgetOf(o: Pick<ResolvedGearOptions, 'rank' | 'outlierRatio'>, p: GearParams, slices: number, n: number, d: number): GearBudget {
  const count = n * d > 0 ? slices : 0;
  return {
    slices: count,
    slicesWithoutOutliers: o.outlierRatio > 0 && p.outliersPerSide === 0 ? count : 0,
    slicesRankClamped: p.rank < o.rank ? count : 0,
  };
}

/** Bytes of a compressed form by part, and its zero-budget counts (GearBudget). */
export interface GearBytes extends GearBudget {
  codes: number;
  /** scales + mins */
  ranges: number;
  /** Q + P */
  factors: number;
  /** outlier values + int32 indices */
  outliers: number;
  total: number;
}

function bytesOf(t: Tensor): number {
  return t.size * (t.dtype === 'u8' ? 1 : t.dtype === 'f16' ? 2 : 4);
}

export function breakdown(parts: GearParts, budget: GearBudget): GearBytes {
  const codes = bytesOf(parts.codes);
  const ranges = bytesOf(parts.scales) + bytesOf(parts.mins);
  const factors = bytesOf(parts.q) + bytesOf(parts.p);
  const outliers = bytesOf(parts.outlierValues) + bytesOf(parts.outlierIndices);
  return { codes, ranges, factors, outliers, total: codes + ranges + factors + outliers, ...budget };
}

const OP = 'llm.gear.compress';

/** A GEAR-compressed K or V tensor. The parts are plain tensors owned by this object. */
export class GearTensor {
  private disposed = false;

  /** @internal */
  constructor(
    /** [batch, heads, seq, dim] of the input. */
    readonly shape: readonly number[],
    readonly params: Readonly<GearParams>,
    private readonly stored: GearParts,
    readonly options: Readonly<ResolvedGearOptions>,
  ) {}

  /** The stored tensors (views owned by this object: do not dispose them). */
  get parts(): Readonly<GearParts> {
    this.check('parts');
    return this.stored;
  }

  /** Exact bytes of the compressed form: codes + scales/mins + factors + outlier values and int32 indices. */
  get bytes(): number {
    return partsBytes(this.stored);
  }

  /** Bytes by part, with the zero-budget counts (GearBudget). */
  get bytesBreakdown(): GearBytes {
    const [b, h, n, d] = this.shape;
    return breakdown(this.stored, budgetOf(this.options, this.params, b * h, n, d));
  }

  /** Bytes of the input held in f16 (2 per element): the baseline GEAR compares against. */
  get f16Bytes(): number {
    return this.shape.reduce((a, b) => a * b, 1) * 2;
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  private check(op: string): void {
    if (this.disposed) throw ntError('NT_DISPOSED', `[llm.gear.${op}] the compressed tensor was disposed`);
  }

  /** X̂ = D̂ + L, with the outliers' stored values at their positions: a fresh f32 tensor of the input's shape. */
  decompress(): Tensor {
    this.check('decompress');
    const out = Tensor._empty('llm.gear.decompress', this.shape, 'f32');
    try {
      gearDecompressInto(this.stored, this.params, out);
    } catch (e) {
      out.dispose();
      throw e;
    }
    return out;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    disposeParts(this.stored);
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

function prepare(x: unknown, opts: unknown): { x: Tensor; o: ResolvedGearOptions; p: GearParams; parts: GearParts } {
  const t = checkTensor(OP, x, 'x');
  if (t.ndim !== 4) throw ntError('NT_SHAPE', `[${OP}] expected x of shape [batch, heads, seq, dim], got ${shapeString(t.shape)}`);
  checkFloat(OP, t, 'x');
  const o = resolveGearOptions(OP, opts);
  const [b, h, n, d] = t.shape;
  const p = gearParams(o, o.kind, n, d);
  return { x: t, o, p, parts: allocParts(OP, b, h, n, d, p) };
}

/**
 * GEAR compression of x [batch, heads, seq, dim] (any float dtype, strided views accepted).
 * NaN/Inf in x is NT_VALUE; with f16 storage, ranges beyond ±65504 are NT_VALUE (use 'f32').
 */
export function compress(x: Tensor, opts: GearOptions): GearTensor {
  const c = prepare(x, opts);
  try {
    gearCompressInto(c.x, c.parts, c.p, c.o.powerIters, c.o.seed);
  } catch (e) {
    disposeParts(c.parts);
    throw e;
  }
  return new GearTensor(c.x.shape.slice(), c.p, c.parts, c.o);
}

/** compress on a worker thread. */
export async function compressAsync(x: Tensor, opts: GearOptions): Promise<GearTensor> {
  const c = prepare(x, opts);
  try {
    await gearCompressIntoAsync(c.x, c.parts, c.p, c.o.powerIters, c.o.seed);
  } catch (e) {
    disposeParts(c.parts);
    throw e;
  }
  return new GearTensor(c.x.shape.slice(), c.p, c.parts, c.o);
}

export { PART_NAMES };
