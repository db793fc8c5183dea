// What a `ntensor bench` suite declares: rows of work with their flop and byte counts (the
// roofline needs both), our call for each, and the numpy case that is its peer.
import type { NumpyCase } from './peers';
import type { RoofDtype } from './roofline';

export interface SuiteOptions {
  /** The suite's main dimension per row group (its meaning is the suite's sizeMeaning). */
  sizes: readonly number[];
  threads: readonly number[];
  /** Last-level cache bytes: memory-bound rows rotate over buffers 4 x larger than this. */
  llcBytes: number;
}

export interface RowSpec {
  /** What is computed, e.g. "SGEMM 256x256x256". */
  name: string;
  threads: number;
  dtype: RoofDtype;
  /** Per call; a multiply-add counts 2. */
  flops?: number;
  /** Per call: what the op must move from memory at least. */
  bytes?: number;
  /** Our call (one call = one op). */
  run: () => void;
  /** The same op in numpy, when numpy has it. */
  numpy?: NumpyCase;
  note?: string;
}

export interface BuiltSuite {
  rows: RowSpec[];
  /** Lines printed under the table (how the counts are made, what has no peer). */
  notes: string[];
  /** Frees what the rows hold. */
  dispose(): void;
}

export interface BenchSuite {
  name: string;
  title: string;
  defaultSizes: readonly number[];
  /** What --sizes means for this suite. */
  sizeMeaning: string;
  /** Throws NT_VALUE naming the size it refuses (before anything is allocated). */
  checkSizes(sizes: readonly number[]): void;
  build(o: SuiteOptions): BuiltSuite;
}

/**
 * How many copies of a `bytes` working set a rotation needs to stream from memory, not cache:
 * at least 4 x the last-level cache in all (a cache that is not strict LRU, or a victim L3,
 * still hits part of a rotation only twice its size).
 */
export function rotatingCopies(bytes: number, llcBytes: number): number {
  return Math.max(2, Math.ceil((4 * llcBytes) / bytes));
}

/**
 * The DRAM bytes of a call that reuses one working set of `bytes`: none once it fits in the
 * last-level cache (after the warm-up it is read from cache, whose bandwidth the probes do
 * not measure, so such a row is held to the compute roof only), else the working set.
 */
export function dramBytes(bytes: number, llcBytes: number): number | undefined {
  return bytes > llcBytes ? bytes : undefined;
}
