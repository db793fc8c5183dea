// Whole-checkpoint compression at real size: `compressCheckpoint` on the 1.1B checkpoint of
// bench/model.bench.ts (TinyLlama's shapes, random bf16 weights, mapped), GPTQ int4 g128 +
// EoRA rank 64, calibration 64 sequences × 512 tokens; wall time split by stage and peak RSS.
// The yardstick, measured in the same run: the work no pipeline can avoid, i.e. one forward
// pass of the calibration tokens through the model (timed on its own, below) + one eigh per
// distinct covariance + GPTQ (the pipeline's own eigh and quantize stages). The ratio
// wall / unavoidable is what the pipeline adds on top of it.
//
//   npm run bench:compress -- [--modes layer-sequential,sequential,parallel] [--sequences 64] [--tokens 512]
//                             [--threads N] [--cache DIR] [--out DIR]
//
// Each phase runs in its own child process so its peak RSS (VmHWM: heap + the checkpoint's
// mapped pages it touched) is its own. The checkpoint must already be in the cache folder (npm
// run bench:model writes it). Markdown on stdout, JSON in bench/results/compress-<date>-<modes>.json.
// Not part of `npm run bench` (exports no Suite) nor of `npm test`.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as nt from '../lib';
import { PACKAGE_ROOT } from '../lib/native/loader';
import { machineInfo, resultsDir } from './harness';

interface Args {
  modes: nt.llm.CompressMode[];
  sequences: number;
  tokens: number;
  threads: number;
  cache: string;
  out: string;
}

function parseArgs(argv: string[]): Args {
  const get = (name: string) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const modes = (get('modes') ?? 'layer-sequential,sequential,parallel').split(',') as Args['modes'];
  if (modes.some((m) => !['layer-sequential', 'sequential', 'parallel'].includes(m))) throw new Error(`--modes: layer-sequential, sequential and/or parallel, got ${modes.join(',')}`);
  return {
    modes,
    sequences: Number(get('sequences') ?? 64),
    tokens: Number(get('tokens') ?? 512),
    threads: Number(get('threads') ?? os.cpus().length),
    cache: get('cache') ?? process.env.NTENSOR_BENCH_CACHE ?? path.join(PACKAGE_ROOT, 'bench', '.cache'),
    out: get('out') ?? path.join(os.tmpdir(), 'ntensor-bench-compress'),
  };
}

/** Peak and current resident set of this process (bytes), from /proc. */
function rss(): { peak: number; now: number } {
  const status = fs.readFileSync('/proc/self/status', 'utf8');
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { peak: kb('VmHWM'), now: kb('VmRSS') };
}

function calibration(vocab: number, n: number): Int32Array {
  // seeded ids: the checkpoint's weights are random, so any token is as good as text
  let s = 0x9e3779b9;
  return Int32Array.from({ length: n }, () => {
    s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
    return s % vocab;
  });
}

/** Child: one forward pass of the calibration windows through every decoder layer (no head). */
function childForward(dir: string, seqs: number, tokens: number): Record<string, unknown> {
  const model = nt.model.load(dir, { dtype: 'auto' });
  try {
    const ids = calibration(model.config.vocabSize, seqs * tokens);
    const started = performance.now();
    let embedSeconds = 0;
    // the pipeline's chunking: sequences of `tokens`, 2048 rows per chunk
    const perChunk = Math.max(1, Math.floor(2048 / tokens));
    for (let s = 0; s < seqs; s += perChunk) {
      const windows = Array.from({ length: Math.min(perChunk, seqs - s) }, (_, k) => ids.subarray((s + k) * tokens, (s + k + 1) * tokens));
      const t0 = performance.now();
      const x = model.embedSequences(windows);
      embedSeconds += (performance.now() - t0) / 1000;
      try {
        for (let l = 0; l < model.config.numLayers; ++l) model.runLayer(l, x, windows.map((w) => w.length));
      } finally {
        x.dispose();
      }
    }
    return { seconds: (performance.now() - started) / 1000, embedSeconds, rss: rss() };
  } finally {
    model.dispose();
  }
}

function childCompress(dir: string, out: string, mode: nt.llm.CompressMode, seqs: number, tokens: number): Record<string, unknown> {
  const probe = nt.model.load(dir, { dtype: 'auto' });
  const vocab = probe.config.vocabSize;
  probe.dispose();
  let lastLayer = -1;
  const r = nt.llm.compressCheckpoint(dir, out, {
    quantizer: 'gptq',
    groupSize: 128,
    method: 'eora',
    rank: 64,
    calibration: calibration(vocab, seqs * tokens),
    calibrationWindow: tokens,
    mode,
    onProgress: (_d, _t, _l, p) => {
      if (p.layer !== lastLayer) {
        lastLayer = p.layer;
        process.stderr.write(`  ${mode}: layer ${p.layer + 1}/${p.layers}${Number.isFinite(p.etaSeconds) ? `, ~${Math.round(p.etaSeconds)} s left` : ''}, RSS ${(rss().now / 2 ** 30).toFixed(2)} GiB\n`);
      }
    },
  });
  const outBytes = fs.readdirSync(out).reduce((s, f) => s + (fs.statSync(path.join(out, f)).isFile() ? fs.statSync(path.join(out, f)).size : 0), 0);
  return { seconds: r.report.seconds, stages: r.report.stages, rss: rss(), outBytes, bytesBefore: r.report.bytesBefore, bytesAfter: r.report.bytesAfter, linears: r.report.layers.length };
}

function runChild(args: string[], threads: number): Record<string, unknown> {
  const r = spawnSync(process.execPath, [__filename, '--child', ...args], { encoding: 'utf8', env: { ...process.env, BENCH_THREADS: String(threads) }, stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`child ${args.join(' ')} failed with ${r.status}: ${r.stdout}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

function main(): void {
  const argv = process.argv.slice(2);
  if (argv[0] === '--child') {
    nt.setNumThreads(Number(process.env.BENCH_THREADS));
    const [kind, ...rest] = argv.slice(1);
    const out = kind === 'forward' ? childForward(rest[0], Number(rest[1]), Number(rest[2])) : childCompress(rest[0], rest[1], rest[2] as nt.llm.CompressMode, Number(rest[3]), Number(rest[4]));
    process.stdout.write(JSON.stringify(out) + '\n');
    return;
  }
  const a = parseArgs(argv);
  const dir = path.join(a.cache, 'tinyllama-1.1b-random-bf16');
  if (!fs.existsSync(path.join(dir, 'config.json'))) throw new Error(`${dir} is missing: run npm run bench:model once to write the 1.1B checkpoint`);
  const load1 = os.loadavg()[0];
  process.stderr.write(`compress bench: ${dir}, ${a.sequences}×${a.tokens} calibration tokens, ${a.threads} threads, modes ${a.modes.join(', ')}\n`);
  const forward = runChild(['forward', dir, String(a.sequences), String(a.tokens)], a.threads);
  process.stderr.write(`  forward pass: ${(forward.seconds as number).toFixed(1)} s\n`);
  const runs: Record<string, Record<string, unknown>> = {};
  for (const mode of a.modes) {
    const out = path.join(a.out, mode);
    fs.rmSync(out, { recursive: true, force: true });
    runs[mode] = runChild(['compress', dir, out, mode, String(a.sequences), String(a.tokens)], a.threads);
    fs.rmSync(out, { recursive: true, force: true });
  }
  const load2 = os.loadavg()[0];
  const gib = (b: number) => `${(b / 2 ** 30).toFixed(2)} GiB`;
  const lines: string[] = [];
  lines.push(`### compressCheckpoint on TinyLlama-1.1B shapes (bf16, mapped): GPTQ int4 g128 + EoRA r64, ${a.sequences}×${a.tokens} calibration tokens, ${a.threads} threads`);
  lines.push('');
  lines.push('| mode | wall | forward | covariance | eigh | GPTQ | SVD | write | other | unavoidable | wall / unavoidable | peak RSS |');
  lines.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  const summary: Record<string, unknown> = {};
  for (const [mode, r] of Object.entries(runs)) {
    const s = r.stages as nt.llm.StageSeconds;
    const unavoidable = (forward.seconds as number) + s.eigh + s.quantize;
    const ratio = (r.seconds as number) / unavoidable;
    summary[mode] = { wallSeconds: r.seconds, unavoidableSeconds: unavoidable, ratio, peakRssBytes: (r.rss as { peak: number }).peak };
    const f = (x: number) => `${x.toFixed(0)} s`;
    lines.push(
      `| ${mode} | ${f(r.seconds as number)} | ${f(s.forward + s.embed)} | ${f(s.covariance)} | ${f(s.eigh)} | ${f(s.quantize)} | ${f(s.svd)} | ${f(s.write)} | ${f(s.other)} | ${f(unavoidable)} | ${ratio.toFixed(2)}× | ${gib((r.rss as { peak: number }).peak)} |`,
    );
  }
  lines.push('');
  lines.push(`- unavoidable = one forward pass of the calibration tokens (${(forward.seconds as number).toFixed(0)} s, timed alone in the same run; peak RSS ${gib((forward.rss as { peak: number }).peak)}) + the run's eigh + GPTQ stages`);
  lines.push(`- targets: peak RSS ≤ 3 GB (2.79 GiB), wall / unavoidable ≤ 1.5`);
  lines.push(`- machine load average (1 min) at the start / end: ${load1.toFixed(2)} / ${load2.toFixed(2)} on ${os.cpus().length} cores`);
  const markdown = lines.join('\n') + '\n';
  process.stdout.write(markdown);
  const date = new Date().toISOString().slice(0, 10);
  const file = path.join(resultsDir(), `compress-${date}-${a.modes.join('-')}.json`);
  fs.writeFileSync(file, JSON.stringify({ suite: 'compress', date: new Date().toISOString(), machine: machineInfo(), options: a, forward, runs, summary, markdown }, null, 2) + '\n');
  process.stderr.write(`wrote ${file}\n`);
}

if (require.main === module) main();
