// Benchmark harness: runs cases one at a time at a declared thread count, timed by the
// package's own timer (lib/bench/stats: warm-up, samples to a time budget; the one `ntensor
// bench` uses) or, for asynchronous cases, by benchmark.js; reports the median and spread of
// the per-call samples, GB/s and GFLOP/s from the bytes and
// FLOPs each case declares, the fraction of this machine's memory bandwidth measured in the
// same run, and the ratio against a named peer case of the same run. Prints a Markdown table
// and writes bench/results/<suite>.json.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import Benchmark = require('benchmark');
import * as nt from '../lib';
import { formatSeconds, measure, summarize } from '../lib/bench/stats';
import { PACKAGE_ROOT, native } from '../lib/native/loader';

export interface BenchCase {
  /** What is measured, e.g. "add f32 16M". Rows with the same name form a group. */
  name: string;
  /** Who computes it: "ntensor", "JS loop", "TypedArray.set", ... */
  impl: string;
  /** Threads the case runs with (nt.setNumThreads is set to it); JS peers run on 1. */
  threads: number;
  /** Synchronous body: one call is one op. */
  fn?: () => void;
  /**
   * Samples (seconds per op) measured by the case itself instead of benchmark.js: for peers
   * that time themselves in another process (numpy) and for ops too slow for benchmark.js's
   * minimum sample count. Runs in place of fn/deferred.
   */
  external?: () => number[] | Promise<number[]>;
  /** Asynchronous body: call done() when the op has finished, done(error) when it failed. */
  deferred?: (done: (error?: unknown) => void) => void;
  /** Bytes read + written per op (for GB/s). */
  bytes?: number;
  /** Floating-point operations per op (for GFLOP/s). */
  flops?: number;
  /** id of the case of the same run to compare with (ratio = peer time / this time). */
  peer?: string;
  /** Unique id; default `${name} | ${impl} | ${threads}t`. */
  id?: string;
  /** A memory-bandwidth reference: its GB/s feeds the "% of bandwidth" of other suites. */
  bandwidthReference?: boolean;
  /** Compare GB/s with the bandwidth reference measured at this case's thread count. */
  memoryBound?: boolean;
  note?: string;
}

export interface CaseResult {
  id: string;
  name: string;
  impl: string;
  threads: number;
  samples: number;
  /** Seconds per op. */
  median: number;
  min: number;
  max: number;
  /** Median absolute deviation of the samples, seconds. */
  mad: number;
  gbps?: number;
  gflops?: number;
  /** GB/s over the bandwidth reference at the same thread count. */
  bandwidthFraction?: number;
  peer?: string;
  /** peer median / this median: > 1 means this case is faster. */
  ratio?: number;
  note?: string;
  error?: string;
}

export interface BenchContext {
  full: boolean;
  /** Best measured copy bandwidth per thread count, GB/s (filled by the membw suite). */
  bandwidth: Map<number, number>;
  /** Where <suite>.json goes; default bench/results. */
  outDir?: string;
}

export interface SuiteSpec {
  name: string;
  title: string;
  cases: BenchCase[];
  /** Lines printed under the table: targets met or missed. */
  summary?: (results: CaseResult[]) => string[];
  /** Frees what the cases hold (large buffers, workers). */
  dispose?: () => void;
}

export interface Suite {
  name: string;
  build(ctx: BenchContext): SuiteSpec | Promise<SuiteSpec>;
}

export interface SuiteResult {
  suite: string;
  title: string;
  date: string;
  machine: Record<string, unknown>;
  options: { maxTime: number; full: boolean };
  results: CaseResult[];
  summary: string[];
  markdown: string;
}

/** Seconds of samples per case (and benchmark.js maxTime): env BENCH_MAX_TIME, default short. */
export function maxTime(): number {
  const env = Number(process.env.BENCH_MAX_TIME);
  return Number.isFinite(env) && env > 0 ? env : 0.5;
}

export function caseId(c: BenchCase): string {
  return c.id ?? `${c.name} | ${c.impl} | ${c.threads}t`;
}

const WARMUP_CALLS = 8;

function runOne(c: BenchCase): Promise<{ samples: number[]; error?: string }> {
  return new Promise((resolve) => {
    const message = (e: unknown) => String((e as Error)?.message ?? e);
    if (c.external) {
      Promise.resolve()
        .then(() => c.external!())
        .then((samples) => resolve({ samples: samples.slice() }), (e) => resolve({ samples: [], error: message(e) }));
      return;
    }
    if (c.fn) {
      // warm-up beyond the timer's own: JIT tiers, first-touch page faults of outputs, every
      // rotating buffer set at least once
      try {
        resolve({ samples: measure(c.fn, { budget: maxTime(), warmup: WARMUP_CALLS, minSamples: 10 }) });
      } catch (e) {
        resolve({ samples: [], error: message(e) });
      }
      return;
    }
    // asynchronous cases: benchmark.js's deferred mode (no setup/teardown: it then calls fn
    // through a closure instead of decompiling it, so the cases may use variables of their scope)
    const opts: Benchmark.Options = { maxTime: maxTime(), minSamples: 10 };
    let failure: unknown;
    if (!c.deferred) {
      resolve({ samples: [], error: 'the case has no fn, deferred or external body' });
      return;
    }
    const bench = new Benchmark(caseId(c), {
      ...opts,
      defer: true,
      fn: (d: { resolve(): void }) =>
        c.deferred!((error) => {
          // keep cycling to the end (benchmark.js aborts only between cycles); report it then
          if (error !== undefined && failure === undefined) failure = error;
          d.resolve();
        }),
    });
    bench.on('complete', () => {
      if (failure !== undefined) resolve({ samples: [], error: message(failure) });
      else if (bench.error) resolve({ samples: [], error: message(bench.error) });
      else resolve({ samples: (bench.stats.sample as number[]).slice() });
    });
    bench.run({ async: true });
  });
}

/** Seconds in the unit that keeps three digits (the formatting `ntensor bench` uses). */
export const formatTime = (s: number): string => formatSeconds(s);

const fmt = (x: number | undefined, digits = 3) => (x === undefined || !Number.isFinite(x) ? '' : x.toPrecision(digits));

export function markdownTable(results: CaseResult[]): string {
  const hasGB = results.some((r) => r.gbps !== undefined);
  const hasGF = results.some((r) => r.gflops !== undefined);
  const hasBW = results.some((r) => r.bandwidthFraction !== undefined);
  const hasRatio = results.some((r) => r.ratio !== undefined);
  const header = ['case', 'impl', 'threads', 'median', 'min … max', 'MAD'];
  if (hasGB) header.push('GB/s');
  if (hasGF) header.push('GFLOP/s');
  if (hasBW) header.push('% of mem BW');
  if (hasRatio) header.push('vs peer');
  const rows = results.map((r) => {
    if (r.error) return [r.name, r.impl, String(r.threads), `error: ${r.error}`, '', '', ...header.slice(6).map(() => '')];
    const row = [
      r.name,
      r.impl,
      String(r.threads),
      formatTime(r.median),
      `${formatTime(r.min)} … ${formatTime(r.max)}`,
      `±${((r.mad / r.median) * 100).toFixed(1)}%`,
    ];
    if (hasGB) row.push(fmt(r.gbps));
    if (hasGF) row.push(fmt(r.gflops));
    if (hasBW) row.push(r.bandwidthFraction === undefined ? '' : `${(r.bandwidthFraction * 100).toFixed(0)}%`);
    if (hasRatio) row.push(r.ratio === undefined ? '' : `${r.ratio.toFixed(2)}× ${r.peer ?? ''}`.trim());
    return row;
  });
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  const right = new Set(['threads', 'median', 'MAD', 'GB/s', 'GFLOP/s', '% of mem BW', 'vs peer']);
  const lines = [
    `| ${header.join(' | ')} |`,
    `|${header.map((h) => (right.has(h) ? '---:' : '---')).join('|')}|`,
    ...rows.map((r) => `| ${r.map(esc).join(' | ')} |`),
  ];
  return lines.join('\n') + '\n';
}

export function machineInfo(): Record<string, unknown> {
  const info = nt.info();
  return {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    ntensor: info.version,
    flavor: info.flavor,
    isas: info.cpu.isas,
    kernels: info.cpu.kernels,
    defaultThreads: info.threads,
  };
}

export function resultsDir(): string {
  return path.join(PACKAGE_ROOT, 'bench', 'results');
}

/** Runs one suite: every case in turn at its thread count, then peers and bandwidth fractions. */
export async function runSuite(suite: Suite, ctx: BenchContext, log: (s: string) => void = (s) => process.stdout.write(s)): Promise<SuiteResult> {
  const spec = await suite.build(ctx);
  // other processes on a small shared machine move the 2-thread figures most: record the load
  const loadBefore = os.loadavg()[0];
  const defaultThreads = nt.getNumThreads();
  const results: CaseResult[] = [];
  log(`\n## ${spec.title}\n\n`);
  try {
    for (const c of spec.cases) {
      nt.setNumThreads(c.threads);
      const { samples, error } = await runOne(c);
      nt.setNumThreads(defaultThreads);
      const id = caseId(c);
      if (error || samples.length === 0) {
        results.push({ id, name: c.name, impl: c.impl, threads: c.threads, samples: 0, median: NaN, min: NaN, max: NaN, mad: NaN, error: error ?? 'no samples', note: c.note });
        log(`  ${id}: error: ${error}\n`);
        continue;
      }
      const st = summarize(samples);
      const med = st.median;
      const r: CaseResult = { id, name: c.name, impl: c.impl, threads: c.threads, samples: st.count, median: med, min: st.min, max: st.max, mad: st.mad, note: c.note };
      if (c.bytes !== undefined) r.gbps = c.bytes / med / 1e9;
      if (c.flops !== undefined) r.gflops = c.flops / med / 1e9;
      if (c.bandwidthReference && r.gbps !== undefined)
        ctx.bandwidth.set(c.threads, Math.max(ctx.bandwidth.get(c.threads) ?? 0, r.gbps));
      results.push(r);
      log(`  ${id}: ${formatTime(med)} (${samples.length} samples)${r.gbps !== undefined ? `, ${r.gbps.toFixed(2)} GB/s` : ''}\n`);
    }
  } finally {
    nt.setNumThreads(defaultThreads);
    spec.dispose?.();
  }
  const byId = new Map(results.map((r) => [r.id, r]));
  spec.cases.forEach((c, i) => {
    const r = results[i];
    if (r.error) return;
    if (c.peer) {
      const p = byId.get(c.peer);
      if (!p) throw new Error(`bench case "${r.id}" names an unknown peer "${c.peer}"`);
      if (!p.error) {
        r.ratio = p.median / r.median;
        r.peer = p.impl === r.impl ? `${p.impl} ${p.threads}t` : p.impl;
      }
    }
    if (c.memoryBound && r.gbps !== undefined) {
      // the reference at this thread count, else the best at any count (a JS-only machine view)
      const ref = ctx.bandwidth.get(c.threads) ?? Math.max(0, ...ctx.bandwidth.values());
      if (ref > 0) r.bandwidthFraction = r.gbps / ref;
    }
  });
  const summary = spec.summary?.(results) ?? [];
  summary.push(`machine load average (1 min) at the start / end of the suite: ${loadBefore.toFixed(2)} / ${os.loadavg()[0].toFixed(2)} on ${os.cpus().length} cores`);
  const markdown = `### ${spec.title}\n\n${markdownTable(results)}${summary.length ? '\n' + summary.map((s) => `- ${s}`).join('\n') + '\n' : ''}`;
  const result: SuiteResult = {
    suite: spec.name,
    title: spec.title,
    date: new Date().toISOString(),
    machine: machineInfo(),
    options: { maxTime: maxTime(), full: ctx.full },
    results,
    summary,
    markdown,
  };
  const dir = ctx.outDir ?? resultsDir();
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, `${spec.name}.json`), JSON.stringify(result, null, 2) + '\n');
  return result;
}

/** Fresh random f32 data (never zeros or constants: some kernels and caches shortcut those). */
export function randomF32(n: number, seed: number): nt.Tensor {
  return nt.rand([n], { seed, dtype: 'f32' });
}

/** A sink that keeps results observable so the JIT cannot drop the computation. */
export const sink = { value: 0 };

/** `warmup` untimed calls, then `reps` timed ones, in seconds: for ops too slow for benchmark.js sampling. */
export function timeCalls(fn: () => void, reps: number, warmup = 1): number[] {
  for (let i = 0; i < warmup; ++i) fn();
  const out: number[] = [];
  for (let i = 0; i < reps; ++i) {
    const t0 = process.hrtime.bigint();
    fn();
    out.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  return out;
}

// This machine's FMA peak per core, measured at suite start with the register-only FMA loop of
// ntensor bench (native fmaProbe, same ISA cap as the kernels): the best of 15 short (~4 ms)
// calls at 1 thread, wall time like the rows (other processes only ever lower it). Fixed
// numbers of one machine class were wrong elsewhere (this Zen 5 runs AVX-512 FMAs at ~1.4x the
// Xeon they came from). f32 and f64 share the FMA units (2 f32 flops per f64 flop), so the
// better of the two probes sets both.
export function measuredPeakPerCore(): Record<'f32' | 'f64', number> {
  const probe = (dtype: 'f32' | 'f64'): number => {
    let iterations = 1 << 14;
    for (;;) {
      const t0 = process.hrtime.bigint();
      native.fmaProbe(dtype, 1, iterations);
      if (Number(process.hrtime.bigint() - t0) / 1e9 >= 0.002 || iterations >= 2 ** 30) break;
      iterations *= 2;
    }
    iterations *= 2;
    let best = 0;
    for (let i = 0; i < 15; ++i) {
      const t0 = process.hrtime.bigint();
      const { flops } = native.fmaProbe(dtype, 1, iterations);
      best = Math.max(best, flops / (Number(process.hrtime.bigint() - t0) / 1e9) / 1e9);
    }
    return best;
  };
  const f32 = Math.max(probe('f32'), 2 * probe('f64'));
  return { f32, f64: f32 / 2 };
}
