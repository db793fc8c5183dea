// The timing core of `ntensor bench` and of the clone's `npm run bench`: warm-up, then
// repetitions until a time budget is spent, and the robust summary of the samples (median
// and median absolute deviation: a shared machine's outliers move neither).
import { ntError } from '../errors';

export interface SampleStats {
  /** Samples (seconds per call). */
  count: number;
  median: number;
  /** Median absolute deviation from the median, seconds. */
  mad: number;
  min: number;
  max: number;
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) throw ntError('NT_VALUE', '[bench.median] no samples');
  const s = xs.slice().sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function summarize(samples: readonly number[]): SampleStats {
  for (const x of samples)
    if (!(Number.isFinite(x) && x >= 0)) throw ntError('NT_VALUE', `[bench.summarize] samples must be finite and >= 0, got ${x}`);
  const med = median(samples);
  return {
    count: samples.length,
    median: med,
    mad: median(samples.map((x) => Math.abs(x - med))),
    min: Math.min(...samples),
    max: Math.max(...samples),
  };
}

export interface MeasureOptions {
  /** Seconds of timed calls to aim for (the last call may overrun it). Default 0.3. */
  budget?: number;
  /** Untimed calls first: JIT tiers, first-touch page faults, every rotating buffer once. Default 2. */
  warmup?: number;
  /** At least this many samples even past the budget. Default 5. */
  minSamples?: number;
  /** At most this many samples. Default 1000. */
  maxSamples?: number;
  /** Clock in seconds (injectable for tests). Default process.hrtime. */
  now?: () => number;
}

const hrSeconds = () => Number(process.hrtime.bigint()) / 1e9;

/**
 * Times `fn` (one call = one op): warm-up calls, then samples until `budget` seconds are
 * spent and at least minSamples were taken. Calls faster than ~20 µs are batched so the
 * clock's resolution and the loop's own cost stay under 1% of a sample.
 */
export function measure(fn: () => void, opts: MeasureOptions = {}): number[] {
  const budget = opts.budget ?? 0.3;
  const warmup = opts.warmup ?? 2;
  const minSamples = opts.minSamples ?? 5;
  const maxSamples = opts.maxSamples ?? 1000;
  const now = opts.now ?? hrSeconds;
  if (!(budget >= 0) || !Number.isFinite(budget)) throw ntError('NT_VALUE', `[bench.measure] budget must be a finite number >= 0, got ${budget}`);
  if (!(Number.isInteger(minSamples) && minSamples >= 1 && Number.isInteger(maxSamples) && maxSamples >= minSamples))
    throw ntError('NT_VALUE', `[bench.measure] need integers 1 <= minSamples <= maxSamples, got ${minSamples}, ${maxSamples}`);
  for (let i = 0; i < warmup; ++i) fn();
  // calls per sample: double until one sample takes >= 20 µs (the warm-up's last call is not trusted)
  let batch = 1;
  for (;;) {
    const t0 = now();
    for (let i = 0; i < batch; ++i) fn();
    const dt = now() - t0;
    if (dt >= 2e-5 || batch >= 1 << 20) break;
    batch *= 2;
  }
  const samples: number[] = [];
  const start = now();
  while (samples.length < maxSamples && (samples.length < minSamples || now() - start < budget)) {
    const t0 = now();
    for (let i = 0; i < batch; ++i) fn();
    samples.push((now() - t0) / batch);
  }
  return samples;
}

/** Declared work of one call -> rates at the given seconds per call. */
export function rates(seconds: number, work: { flops?: number; bytes?: number }): { gflops?: number; gbps?: number } {
  if (!(seconds > 0)) throw ntError('NT_VALUE', `[bench.rates] seconds must be > 0, got ${seconds}`);
  const out: { gflops?: number; gbps?: number } = {};
  if (work.flops !== undefined) out.gflops = work.flops / seconds / 1e9;
  if (work.bytes !== undefined) out.gbps = work.bytes / seconds / 1e9;
  return out;
}

/** Seconds in the unit that keeps three digits: 250 ns, 1.23 µs, 42.1 ms, 3.50 s; '-' for none. */
export function formatSeconds(s: number | undefined): string {
  if (s === undefined || !Number.isFinite(s)) return '-';
  if (s < 1e-6) return `${(s * 1e9).toPrecision(3)} ns`;
  if (s < 1e-3) return `${(s * 1e6).toPrecision(3)} µs`;
  if (s < 1) return `${(s * 1e3).toPrecision(3)} ms`;
  return `${s.toPrecision(3)} s`;
}
