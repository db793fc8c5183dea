// `ntensor bench`: the package's micro-benchmarks from an installed package. Measures this
// machine's FMA peak and read bandwidth first, then prints each kernel's rate as a share of
// the roofline bound min(peak, intensity x bandwidth), with numpy beside it when installed.
// Usage errors (unknown suite or flag, bad list) exit with code 2; a failed run with 1.
import * as fs from 'fs';
import * as path from 'path';
import { type Command, CommanderError } from 'commander';
import type { CliContext } from './context';
import { table } from './format';
import type { BenchReport, BenchRow } from '../bench';
import { formatSeconds } from '../bench/stats';

interface BenchCliOptions {
  only?: string;
  sizes?: string;
  threads?: string;
  json?: string;
  time?: string;
  peers: boolean;
}

/** commander's usage errors, remapped to exit code 2 for this command. */
const USAGE_ERRORS = new Set([
  'commander.unknownOption',
  'commander.excessArguments',
  'commander.invalidArgument',
  'commander.optionMissingArgument',
  'commander.missingArgument',
  'commander.unknownCommand',
]);

export class BenchUsageError extends Error {}

/** "256,512" -> [256, 512]; anything but positive integers is a usage error naming the flag. */
export function parseList(flag: string, text: string): number[] {
  const parts = text.split(',').map((s) => s.trim());
  if (parts.some((p) => !/^\d+$/.test(p) || Number(p) < 1 || !Number.isSafeInteger(Number(p))))
    throw new BenchUsageError(`${flag} takes comma-separated positive integers, got '${text}'`);
  return parts.map(Number);
}

const num = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? '' : x >= 100 ? x.toFixed(0) : x.toPrecision(3));

function boundText(r: BenchRow): string {
  const p = r.roofline;
  if (!p) return '';
  if (p.bound === 'compute') return `compute: FMA peak ${r.dtype} ${num(p.attainable)} GFLOP/s`;
  return p.unit === 'GB/s' ? `memory: read BW ${num(p.attainable)} GB/s` : `memory: read BW x intensity ${num(p.attainable)} GFLOP/s`;
}

function rowCells(r: BenchRow): string[] {
  // the message goes last, where its width pushes no other column
  if (r.error) return [r.name, r.impl, String(r.threads), '-', '', '', '', '', '', r.error];
  return [
    r.name,
    r.impl,
    String(r.threads),
    formatSeconds(r.median),
    r.median ? `±${(((r.mad ?? 0) / r.median) * 100).toFixed(1)}%` : '',
    num(r.gflops),
    num(r.gbps),
    r.roofline ? `${(r.roofline.fraction * 100).toFixed(1)}%` : '',
    boundText(r),
    r.vsPeer === undefined ? '' : `${r.vsPeer.toFixed(2)}x`,
  ];
}

export function renderBench(rep: BenchReport, ctx: CliContext): string {
  const st = ctx.st;
  const m = rep.machine;
  const pr = rep.probes;
  const lines: string[] = [];
  lines.push(`ntensor ${m.ntensor} on ${m.cpu}, ${m.cores} cores, ${m.platform}, node ${m.node}${m.isaCap ? `, NTENSOR_ISA=${m.isaCap}` : ''}`);
  lines.push(
    st.bold('ceilings') +
      ` (probe ISA ${pr.isa}${pr.isa === 'sse2' ? ': multiply then add, no FMA' : ''}; best sample of ${pr.passes.length} passes, before and after the suites; read buffer ${(pr.readBufferBytes / 2 ** 20).toFixed(0)} MiB, ` +
      `last-level cache ${(pr.llcBytes / 2 ** 20).toFixed(0)} MiB${pr.llcSource === 'default' ? ' (assumed: not readable here)' : ''})`,
  );
  for (const c of pr.ceilings)
    lines.push(`  ${c.threads} thread${c.threads > 1 ? 's' : ''}: FMA peak ${num(c.peak.f32)} GFLOP/s f32, ${num(c.peak.f64)} GFLOP/s f64; read bandwidth ${num(c.bandwidth)} GB/s`);
  lines.push(`peers: ${rep.peer.startsWith('peer not installed') ? st.yellow(rep.peer) : rep.peer}`);
  for (const s of rep.suites) {
    lines.push('', `${st.bold(s.title)}  ${st.dim(`[${s.sizeMeaning}: ${s.sizes.join(', ')}]`)}`);
    const cols = ['case', 'impl', 'thr', 'median', 'MAD', 'GFLOP/s', 'GB/s', '% of roof', 'bound', 'vs numpy'];
    const right = new Set(['thr', 'median', 'MAD', 'GFLOP/s', 'GB/s', '% of roof']);
    lines.push(table(cols.map((header) => ({ header, align: right.has(header) ? 'right' : 'left' })), s.rows.map(rowCells), st).trimEnd());
    for (const n of s.notes) lines.push(`  - ${n}`);
  }
  lines.push(
    '',
    "% of roof: the row's median rate over its roofline bound min(FMA peak, intensity x read bandwidth) at its thread count; " +
      "bound: which of the two it is. vs numpy: numpy's median time over ours (> 1: ntensor faster).",
    `load average (1 min) at start / end: ${rep.loadAverage.start.toFixed(2)} / ${rep.loadAverage.end.toFixed(2)} on ${m.cores} cores`,
  );
  return lines.join('\n') + '\n';
}

/** Writes `text` to `file` through a temporary file in the same folder and a rename. */
export function writeAtomic(file: string, text: string): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  try {
    fs.writeFileSync(tmp, text);
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}

export function registerBench(program: Command, ctx: CliContext): void {
  const cmd = program
    .command('bench')
    .description("micro-benchmarks with a roofline: this machine's FMA peak and read bandwidth, then each kernel's share of them (numpy beside it when installed)")
    .option('--only <suites>', 'comma-separated suites: gemm, qmatmul, attention, membw, eigh, svd (default all)')
    .option('--sizes <list>', "comma-separated sizes replacing each selected suite's defaults (the suite says what a size is)")
    .option('--threads <list>', 'thread counts, comma-separated (default: the library default)')
    .option('--time <seconds>', 'seconds of samples per row (default 0.3)')
    .option('--json <file>', 'also write the report as JSON to <file> (atomically)')
    .option('--no-peers', 'skip the numpy peers')
    .allowExcessArguments(false)
    .exitOverride((err) => {
      throw USAGE_ERRORS.has(err.code) ? new CommanderError(2, err.code, err.message) : err;
    })
    .action(async (opts: BenchCliOptions) => {
      const usage = (message: string) => {
        ctx.fail('bench', message);
        ctx.exitCode = 2;
      };
      let only: string[] | undefined, sizes: number[] | undefined, threads: number[] | undefined, budget: number | undefined;
      try {
        only = opts.only?.split(',').map((s) => s.trim());
        sizes = opts.sizes === undefined ? undefined : parseList('--sizes', opts.sizes);
        threads = opts.threads === undefined ? undefined : parseList('--threads', opts.threads);
        if (opts.time !== undefined) {
          budget = Number(opts.time);
          if (!/^\d*\.?\d+(e-?\d+)?$/i.test(opts.time) || !(budget > 0 && budget <= 60)) throw new BenchUsageError(`--time takes seconds in (0, 60], got '${opts.time}'`);
        }
        if (opts.json !== undefined) {
          const dir = path.dirname(path.resolve(opts.json));
          if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new BenchUsageError(`--json: folder ${dir} does not exist`);
        }
      } catch (e) {
        usage((e as Error).message);
        return;
      }
      const nt = ctx.library('bench');
      if (!nt) return;
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const bench = require('../bench') as typeof import('../bench');
      try {
        bench.resolveOptions({ only, sizes, threads, budget });
      } catch (e) {
        usage((e as Error).message);
        return;
      }
      let report: BenchReport;
      try {
        report = await bench.runBench({ only, sizes, threads, budget, peers: opts.peers }, (line) => ctx.output.err(ctx.st.dim(line) + '\n'));
      } catch (e) {
        ctx.failWith('bench', e);
        return;
      }
      ctx.out(renderBench(report, ctx));
      if (opts.json !== undefined) {
        try {
          writeAtomic(path.resolve(opts.json), JSON.stringify(report, null, 2) + '\n');
        } catch (e) {
          ctx.failWith('bench', e, `could not write ${opts.json}: `);
          return;
        }
        ctx.out(`JSON written to ${opts.json}\n`);
      }
    });
  void cmd;
}
