// `ntensor bench`: the ceilings (lib/bench/probes.ts), every selected suite's rows at each
// thread count with the numpy peers (one process per thread count and suite) beside them, the
// ceilings again, and each row's roofline point against the best of the two probe passes.
import * as os from 'os';
import { ntError } from '../errors';
import { getNumThreads, info, setNumThreads } from '../runtime';
import { numpyStatus, runNumpy } from './peers';
import { type ProbeReport, mergeProbeReports, probeCeilings } from './probes';
import { type RoofPoint, rooflinePoint } from './roofline';
import { type SampleStats, formatSeconds, measure, rates, summarize } from './stats';
import type { BenchSuite, RowSpec } from './suite';
import { attentionSuite } from './suites/attention';
import { eighSuite } from './suites/eigh';
import { gemmSuite } from './suites/gemm';
import { membwSuite } from './suites/membw';
import { qmatmulSuite } from './suites/qmatmul';
import { svdSuite } from './suites/svd';

/** Every suite, in the order they run. */
export const SUITES: readonly BenchSuite[] = [gemmSuite, qmatmulSuite, attentionSuite, membwSuite, eighSuite, svdSuite];

export interface BenchOptions {
  /** Suite names; default all. */
  only?: readonly string[];
  /** Replaces every selected suite's default sizes. */
  sizes?: readonly number[];
  /** Thread counts; default the library's current count. */
  threads?: readonly number[];
  /** Seconds of samples per row and per probe. Default 0.3. */
  budget?: number;
  /** Bytes of the read-bandwidth probe's buffer; default max(256 MiB, 8 x LLC). */
  readBytes?: number;
  /** Skip the numpy peers (they are reported as skipped). */
  peers?: boolean;
}

export interface BenchRow extends Partial<SampleStats> {
  suite: string;
  name: string;
  /** "ntensor" or the peer's name. */
  impl: string;
  threads: number;
  dtype: 'f32' | 'f64';
  flops?: number;
  bytes?: number;
  gflops?: number;
  gbps?: number;
  roofline?: RoofPoint;
  /** For our rows: the peer's median over ours (> 1: ours faster). */
  vsPeer?: number;
  note?: string;
  error?: string;
}

export interface SuiteReport {
  name: string;
  title: string;
  sizes: number[];
  sizeMeaning: string;
  rows: BenchRow[];
  notes: string[];
}

export interface BenchReport {
  date: string;
  machine: { cpu: string; cores: number; node: string; platform: string; ntensor: string; isas: string[]; isaCap?: string };
  options: { suites: string[]; threads: number[]; budget: number; sizes?: number[] };
  probes: ProbeReport;
  peer: string;
  suites: SuiteReport[];
  loadAverage: { start: number; end: number };
}

const message = (e: unknown) => String((e as Error)?.message ?? e);

/** Checks names, sizes and threads before anything runs; NT_VALUE naming what it refuses. */
export function resolveOptions(o: BenchOptions): { suites: BenchSuite[]; threads: number[]; budget: number } {
  const names = SUITES.map((s) => s.name);
  const only = o.only ?? names;
  if (only.length === 0) throw ntError('NT_VALUE', `[bench] --only names no suite (have ${names.join(', ')})`);
  const unknown = only.filter((n) => !names.includes(n));
  if (unknown.length > 0) throw ntError('NT_VALUE', `[bench] unknown suite ${unknown.map((n) => `'${n}'`).join(', ')} (have ${names.join(', ')})`);
  const suites = SUITES.filter((s) => only.includes(s.name));
  if (o.sizes !== undefined) {
    if (o.sizes.length === 0) throw ntError('NT_VALUE', '[bench] --sizes names no size');
    for (const s of suites) s.checkSizes(o.sizes);
  }
  const threads = o.threads ?? [getNumThreads()];
  if (threads.length === 0) throw ntError('NT_VALUE', '[bench] --threads names no count');
  for (const t of threads) if (!(Number.isInteger(t) && t >= 1 && t <= 1024)) throw ntError('NT_VALUE', `[bench] threads must be integers in [1, 1024], got ${t}`);
  const budget = o.budget ?? 0.3;
  if (!(budget > 0 && budget <= 60)) throw ntError('NT_VALUE', `[bench] budget must be in (0, 60] seconds, got ${budget}`);
  return { suites, threads: [...new Set(threads)], budget };
}

function measureRow(r: RowSpec, budget: number): Omit<BenchRow, 'suite' | 'impl'> {
  const base = { name: r.name, threads: r.threads, dtype: r.dtype, flops: r.flops, bytes: r.bytes, note: r.note };
  const before = getNumThreads();
  try {
    setNumThreads(r.threads);
    return { ...base, ...summarize(measure(r.run, { budget })) };
  } catch (e) {
    return { ...base, error: message(e) };
  } finally {
    setNumThreads(before);
  }
}

function withRates(row: BenchRow, probes: ProbeReport): BenchRow {
  if (row.error || row.median === undefined || !(row.median > 0)) return row;
  const c = probes.ceilings.find((x) => x.threads === row.threads);
  Object.assign(row, rates(row.median, row));
  if (c && (row.flops !== undefined || row.bytes !== undefined)) row.roofline = rooflinePoint(row, row.median, c);
  return row;
}

export async function runBench(o: BenchOptions, log: (line: string) => void = () => {}): Promise<BenchReport> {
  const { suites, threads, budget } = resolveOptions(o);
  const loadStart = os.loadavg()[0];
  const nt = info();
  log(`measuring the ceilings (FMA peak, read bandwidth) at ${threads.join(', ')} thread(s)`);
  const before = probeCeilings(threads, budget * 3, o.readBytes);
  const np = o.peers === false ? { available: false, detail: '' } : numpyStatus();
  const peer = np.available ? np.detail : o.peers === false ? 'peers skipped (--no-peers)' : `peer not installed: ${np.detail}`;
  const reports: SuiteReport[] = [];
  for (const suite of suites) {
    const sizes = [...(o.sizes ?? suite.defaultSizes)];
    log(`suite ${suite.name} (${suite.sizeMeaning}: ${sizes.join(', ')})`);
    const built = suite.build({ sizes, threads, llcBytes: before.llcBytes });
    const rows: BenchRow[] = [];
    const peerRows = new Map<BenchRow, { spec: RowSpec; ours: BenchRow }>();
    try {
      for (const spec of built.rows) {
        const ours: BenchRow = { suite: suite.name, impl: 'ntensor', ...measureRow(spec, budget) };
        rows.push(ours);
        log(`  ${spec.name}, ${spec.threads}t: ${ours.error ? `error: ${ours.error}` : formatSeconds(ours.median)}`);
        if (spec.numpy) {
          const p: BenchRow = { suite: suite.name, name: spec.name, impl: 'numpy', threads: spec.threads, dtype: spec.dtype, flops: spec.flops, bytes: spec.bytes };
          if (!np.available) p.error = peer;
          rows.push(p);
          peerRows.set(p, { spec, ours });
        }
      }
    } finally {
      built.dispose();
    }
    // the peers after ours, so their processes never share the CPU with our rows
    if (np.available)
      for (const t of threads) {
        const batch = [...peerRows].filter(([p]) => p.threads === t);
        if (batch.length === 0) continue;
        try {
          const samples = runNumpy(batch.map(([, x]) => x.spec.numpy!), t, budget);
          batch.forEach(([p], i) => Object.assign(p, summarize(samples[i])));
        } catch (e) {
          for (const [p] of batch) p.error = message(e);
        }
      }
    for (const [p, { ours }] of peerRows) {
      if (p.median !== undefined && ours.median !== undefined && !p.error && !ours.error) ours.vsPeer = p.median / ours.median;
    }
    const notes = [...built.notes];
    if (built.rows.some((r) => r.numpy) && !np.available) notes.push(`numpy rows: ${peer}`);
    reports.push({ name: suite.name, title: suite.title, sizes, sizeMeaning: suite.sizeMeaning, rows, notes });
  }
  log('measuring the ceilings again (the roofline takes the best of both passes)');
  const probes = mergeProbeReports(before, probeCeilings(threads, budget * 3, o.readBytes));
  for (const s of reports) for (const row of s.rows) withRates(row, probes);
  return {
    date: new Date().toISOString(),
    machine: {
      cpu: os.cpus()[0]?.model ?? 'unknown',
      cores: os.cpus().length,
      node: process.version,
      platform: `${process.platform}-${process.arch}`,
      ntensor: nt.version,
      isas: nt.cpu.isas,
      ...(nt.cpu.isaCap ? { isaCap: nt.cpu.isaCap } : {}),
    },
    options: { suites: suites.map((s) => s.name), threads, budget, ...(o.sizes ? { sizes: [...o.sizes] } : {}) },
    probes,
    peer,
    suites: reports,
    loadAverage: { start: loadStart, end: os.loadavg()[0] },
  };
}
