// The roofline (Williams, Waterman & Patterson 2009): an op doing F flops over B bytes of
// unavoidable memory traffic can run no faster than min(P, (F / B) * W), P the FMA peak and
// W the read bandwidth measured on this machine at the same thread count. A row's share of
// that bound says how much of the machine the kernel uses, and which wall it stands at.
import { ntError } from '../errors';

export type RoofDtype = 'f32' | 'f64';

/** Measured ceilings at one thread count. */
export interface Ceilings {
  threads: number;
  /** FMA peak, GFLOP/s, per dtype (register-only multiply-add loop). */
  peak: Record<RoofDtype, number>;
  /** Streaming read bandwidth, GB/s (buffer far larger than the last-level cache). */
  bandwidth: number;
}

export interface RoofWork {
  /** Floating-point operations per call (a multiply-add counts 2). */
  flops?: number;
  /** Bytes per call the op must move from memory at least (its inputs, read once). */
  bytes?: number;
  /** The arithmetic's dtype: picks the peak (int8/int4 kernels that compute in f32 say f32). */
  dtype?: RoofDtype;
}

export interface RoofPoint {
  /** Which wall bounds this op here: compute (FMA peak) or memory (read bandwidth). */
  bound: 'compute' | 'memory';
  /** Attainable rate: GFLOP/s when the op declares flops, else GB/s. */
  attainable: number;
  unit: 'GFLOP/s' | 'GB/s';
  /** Achieved rate over attainable (1 = on the roof). */
  fraction: number;
}

/**
 * The roofline point of a call that took `seconds`. With flops and bytes: attainable =
 * min(peak, intensity * bandwidth) in GFLOP/s; with flops only: the peak; with bytes only:
 * the bandwidth, in GB/s.
 */
export function rooflinePoint(work: RoofWork, seconds: number, c: Ceilings): RoofPoint {
  if (!(seconds > 0) || !Number.isFinite(seconds)) throw ntError('NT_VALUE', `[bench.roofline] seconds must be finite and > 0, got ${seconds}`);
  const { flops, bytes } = work;
  if (flops === undefined && bytes === undefined) throw ntError('NT_VALUE', '[bench.roofline] the op declares neither flops nor bytes');
  for (const [k, v] of [['flops', flops], ['bytes', bytes]] as const)
    if (v !== undefined && !(v > 0 && Number.isFinite(v))) throw ntError('NT_VALUE', `[bench.roofline] ${k} must be finite and > 0, got ${v}`);
  const peak = c.peak[work.dtype ?? 'f32'];
  if (!(peak > 0) || !(c.bandwidth > 0)) throw ntError('NT_VALUE', `[bench.roofline] ceilings must be > 0, got peak ${peak}, bandwidth ${c.bandwidth}`);
  if (flops === undefined) {
    const gbps = bytes! / seconds / 1e9;
    return { bound: 'memory', attainable: c.bandwidth, unit: 'GB/s', fraction: gbps / c.bandwidth };
  }
  const gflops = flops / seconds / 1e9;
  if (bytes === undefined) return { bound: 'compute', attainable: peak, unit: 'GFLOP/s', fraction: gflops / peak };
  const memoryRoof = (flops / bytes) * c.bandwidth;
  const bound = peak <= memoryRoof ? 'compute' : 'memory';
  const attainable = Math.min(peak, memoryRoof);
  return { bound, attainable, unit: 'GFLOP/s', fraction: gflops / attainable };
}
