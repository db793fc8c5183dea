// This machine's ceilings, measured before and after the suites (lib/bench/roofline.ts uses
// the best of the passes: on a shared machine other processes only ever lower a probe):
// the FMA peak from a register-only multiply-add loop and the read bandwidth from a
// streaming sum over a buffer several times the last-level cache, both native
// (native/core/peak_probe.cc), on the ISA the kernels may use (NTENSOR_ISA caps both).
import * as fs from 'fs';
import { native } from '../native/loader';
import { rand } from '../random';
import type { Ceilings, RoofDtype } from './roofline';
import { measure } from './stats';

const MiB = 2 ** 20;

/** The last-level cache in bytes from Linux sysfs, or undefined where it cannot be read. */
export function lastLevelCacheBytes(): number | undefined {
  const dir = '/sys/devices/system/cpu/cpu0/cache';
  let best: { level: number; bytes: number } | undefined;
  try {
    for (const idx of fs.readdirSync(dir).filter((d) => d.startsWith('index'))) {
      const read = (f: string) => fs.readFileSync(`${dir}/${idx}/${f}`, 'utf8').trim();
      if (read('type') === 'Instruction') continue;
      const m = /^(\d+)([KMG]?)$/.exec(read('size'));
      if (!m) continue;
      const bytes = Number(m[1]) * ({ '': 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30 } as Record<string, number>)[m[2]];
      const level = Number(read('level'));
      if (!best || level > best.level) best = { level, bytes };
    }
  } catch {
    return undefined;
  }
  return best?.bytes;
}

/** Assumed when sysfs says nothing (macOS, Windows): large enough for current desktop CPUs. */
export const DEFAULT_LLC_BYTES = 32 * MiB;

export interface ProbePass {
  ceilings: Ceilings[];
  /** The probes' spread in this pass: median / best per thread count (1 = steady machine). */
  steadiness: { threads: number; peakF32: number; bandwidth: number }[];
}

export interface ProbeReport {
  isa: string;
  llcBytes: number;
  /** Where llcBytes came from. */
  llcSource: 'sysfs' | 'default';
  readBufferBytes: number;
  /** Per thread count, the best of every pass. */
  ceilings: Ceilings[];
  passes: ProbePass[];
}

/** The ceilings of several passes of the same thread counts: the best value of each. */
export function bestCeilings(passes: readonly (readonly Ceilings[])[]): Ceilings[] {
  const best = new Map<number, Ceilings>();
  for (const pass of passes)
    for (const c of pass) {
      const b = best.get(c.threads);
      best.set(
        c.threads,
        b ? { threads: c.threads, peak: { f32: Math.max(b.peak.f32, c.peak.f32), f64: Math.max(b.peak.f64, c.peak.f64) }, bandwidth: Math.max(b.bandwidth, c.bandwidth) } : { ...c, peak: { ...c.peak } },
      );
    }
  return [...best.values()];
}

/** Two reports of the same machine and thread counts as one: every pass, the best ceilings. */
export function mergeProbeReports(a: ProbeReport, b: ProbeReport): ProbeReport {
  const passes = [...a.passes, ...b.passes];
  return { ...a, ceilings: bestCeilings(passes.map((p) => p.ceilings)), passes };
}

/** Multiply-add steps per probe call so that one call takes about `seconds`. */
function calibrate(dtype: RoofDtype, seconds: number): number {
  let iterations = 1 << 14;
  for (;;) {
    const t0 = process.hrtime.bigint();
    native.fmaProbe(dtype, 1, iterations);
    const dt = Number(process.hrtime.bigint() - t0) / 1e9;
    if (dt >= seconds / 4 || iterations >= 2 ** 32) return Math.max(1, Math.round((iterations * seconds) / Math.max(dt, 1e-9)));
    iterations *= 4;
  }
}

/**
 * One pass of the ceilings at each thread count. The bounds are the best sample of each probe
 * (noise on a shared machine only slows a probe); the rows compared with them are medians.
 */
export function probeCeilings(threadCounts: readonly number[], budget: number, readBytes?: number): ProbeReport {
  const sysLlc = lastLevelCacheBytes();
  const llcBytes = sysLlc ?? DEFAULT_LLC_BYTES;
  // >= 8 LLCs and >= 256 MiB: the sum then streams from DRAM, not from a cache
  const bytes = readBytes ?? Math.max(256 * MiB, 8 * llcBytes);
  const iterations = { f32: calibrate('f32', 0.02), f64: calibrate('f64', 0.02) };
  const buf = rand([Math.floor(bytes / 4)], { seed: 7, dtype: 'f32' });
  const ceilings: Ceilings[] = [];
  const steadiness: ProbePass['steadiness'] = [];
  try {
    for (const threads of threadCounts) {
      const peak = { f32: 0, f64: 0 };
      let medianF32 = 0;
      for (const dtype of ['f32', 'f64'] as RoofDtype[]) {
        let flops = 0;
        const samples = measure(() => void (flops = native.fmaProbe(dtype, threads, iterations[dtype]).flops), { budget: budget / 3, warmup: 1, minSamples: 5 });
        const rates = samples.map((s) => flops / s / 1e9);
        peak[dtype] = Math.max(...rates);
        if (dtype === 'f32') medianF32 = rates.sort((a, b) => a - b)[rates.length >> 1];
      }
      let sink = 0;
      const samples = measure(() => void (sink += native.readProbe(buf._storage, buf._metaArray, threads)), { budget: budget / 3, warmup: 1, minSamples: 5 });
      if (!Number.isFinite(sink)) throw new Error('readProbe returned a non-finite sum');
      const bws = samples.map((s) => (buf.size * 4) / s / 1e9).sort((a, b) => a - b);
      const bandwidth = bws[bws.length - 1];
      ceilings.push({ threads, peak, bandwidth });
      steadiness.push({ threads, peakF32: medianF32 / peak.f32, bandwidth: bws[bws.length >> 1] / bandwidth });
    }
  } finally {
    buf.dispose();
  }
  return { isa: native.probeIsa().isa, llcBytes, llcSource: sysLlc === undefined ? 'default' : 'sysfs', readBufferBytes: buf.size * 4, ceilings, passes: [{ ceilings, steadiness }] };
}
