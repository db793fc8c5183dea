// Optimizer-state memory of a set of layers without allocating anything: the same accounting
// as each optimizer's stateBytes() (checked equal in test/llm/optim-memory.test.ts), used for
// the README table (the papers' comparison at LLaMA-like shapes).
import { ntError } from '../../errors';

export interface LayerShape {
  /** Name shown in tables. */
  name?: string;
  /** [rows, cols] for a matrix, [n] for a vector (vectors always get plain Adam state). */
  shape: readonly number[];
  /** How many such tensors (default 1). */
  count?: number;
  /** false: plain (or 8-bit) Adam even for a matrix, e.g. embeddings as GaLore leaves them (default true). */
  lowRank?: boolean;
}

export interface StateMemoryRow {
  method: 'Adam' | 'Adam8bit' | 'GaLore' | 'GaLore8bit' | 'GradNormLoRP' | 'GradNormLoRP8bit';
  bytes: number;
  /** bytes / Adam's bytes - 1 (negative: saved). */
  vsAdam: number;
}

interface Policy {
  eightBit: boolean;
  blockSize: number;
  minSize8bit: number;
}

function momentBytes(n: number, p: Policy): number {
  return p.eightBit && n >= p.minSize8bit ? 2 * n + 8 * Math.ceil(n / p.blockSize) : 8 * n;
}

function layerBytes(shape: readonly number[], rank: number, lowRank: boolean, weightNorm: boolean, p: Policy): number {
  const n = shape.reduce((a, b) => a * b, 1);
  if (!lowRank || shape.length !== 2 || n === 0) return momentBytes(n, p);
  const [rows, cols] = shape;
  const r = Math.min(rank, rows, cols);
  const bytes = momentBytes(r * Math.max(rows, cols), p) + 4 * r * Math.min(rows, cols);
  return weightNorm ? bytes + 16 * rows : bytes;
}

/**
 * State bytes of Adam, 8-bit Adam, GaLore, GaLore with 8-bit moments, GradNormLoRP and
 * GradNormLoRP with 8-bit moments over `layers` (rank r, blockSize 2048, minSize8bit 4096 by
 * default), with the change against Adam.
 */
export function stateMemoryTable(
  layers: readonly LayerShape[],
  opts: { rank?: number; blockSize?: number; minSize8bit?: number } = {},
): StateMemoryRow[] {
  const rank = opts.rank ?? 128;
  const blockSize = opts.blockSize ?? 2048;
  const minSize8bit = opts.minSize8bit ?? 4096;
  if (!Number.isInteger(rank) || rank < 1) throw ntError('NT_VALUE', `[llm.optim.stateMemoryTable] rank must be an integer >= 1, got ${String(rank)}`);
  for (const l of layers)
    if (!Array.isArray(l.shape) || l.shape.some((d) => !Number.isInteger(d) || d < 0))
      throw ntError('NT_VALUE', `[llm.optim.stateMemoryTable] every layer needs a shape of non-negative integers`);
  const sum = (lowRank: boolean, weightNorm: boolean, eightBit: boolean) =>
    layers.reduce((s, l) => s + (l.count ?? 1) * layerBytes(l.shape, rank, lowRank && l.lowRank !== false, weightNorm, { eightBit, blockSize, minSize8bit }), 0);
  const adam = sum(false, false, false);
  const rows: [StateMemoryRow['method'], number][] = [
    ['Adam', adam],
    ['Adam8bit', sum(false, false, true)],
    ['GaLore', sum(true, false, false)],
    ['GaLore8bit', sum(true, false, true)],
    ['GradNormLoRP', sum(true, true, false)],
    ['GradNormLoRP8bit', sum(true, true, true)],
  ];
  return rows.map(([method, bytes]) => ({ method, bytes, vsAdam: adam > 0 ? bytes / adam - 1 : 0 }));
}
