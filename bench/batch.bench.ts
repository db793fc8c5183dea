// Batch throughput of the model runner: prefill and decode tokens/s at batch 1, 4 and 16 on
// the byte-level fixture (f32) and on the real-size 1.1B checkpoint of bench/model.bench.ts
// (bf16 as stored, mapped), in one run on one machine. A batch runs every linear once over
// all its rows' tokens, so decode reads the weights once per step for the whole batch.
//
//   npm run bench:batch -- [--runs N] [--threads N] [--only fixture|1.1b] [--cache DIR]
//
// Per model and batch B: a warm-up, then `runs` times (median reported): B sequences of
// `prompt` seeded random ids prefilled into a fresh BatchKVCache (forwardBatch, lastOnly),
// then `steps` decode steps of one token per sequence. tokens/s = B·prompt / prefill time and
// B·steps / decode time. The 1.1B checkpoint must already be in the cache folder (npm run
// bench:model writes it). Markdown on stdout, JSON in bench/results/batch-<date>.json.
//
// Not part of `npm run bench` (exports no Suite) nor of `npm test`.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as nt from '../lib';
import { PACKAGE_ROOT } from '../lib/native/loader';
import { machineInfo, resultsDir } from './harness';

interface Target {
  name: string;
  dir: string;
  dtype: nt.model.WeightDType;
  prompt: number;
  steps: number;
}

interface Row {
  model: string;
  batch: number;
  prefillTokensPerS: number;
  decodeTokensPerS: number;
  /** Over batch 1 of the same model, same run. */
  prefillSpeedup: number;
  decodeSpeedup: number;
  prefillSeconds: number[];
  decodeSeconds: number[];
}

const BATCHES = [1, 4, 16];

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** Seeded token ids (an LCG), vocab-bounded. */
function tokens(count: number, vocab: number, seed: number): number[] {
  let s = seed >>> 0;
  return Array.from({ length: count }, () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0), s % vocab));
}

/** One prefill + decode of batch B: seconds of each. */
function once(model: nt.model.LlamaModel, t: Target, batch: number, seed: number): [number, number] {
  const V = model.config.vocabSize;
  const ids = Array.from({ length: batch }, (_, b) => tokens(t.prompt, V, seed * 1000 + b));
  const cache = model.newBatchCache(batch, { capacity: t.prompt + t.steps });
  try {
    let t0 = process.hrtime.bigint();
    let logits = model.forwardBatch(ids, { cache, lastOnly: true });
    const prefill = Number(process.hrtime.bigint() - t0) / 1e9;
    let decode = 0;
    for (let s = 0; s < t.steps; ++s) {
      const data = logits.data as Float32Array;
      const next = Array.from({ length: batch }, (_, b) => {
        let best = 0;
        for (let j = 1; j < V; ++j) if (data[b * V + j] > data[b * V + best]) best = j;
        return [best];
      });
      logits.dispose();
      t0 = process.hrtime.bigint();
      logits = model.forwardBatch(next, { cache, lastOnly: true });
      decode += Number(process.hrtime.bigint() - t0) / 1e9;
    }
    logits.dispose();
    return [prefill, decode];
  } finally {
    cache.dispose();
  }
}

function main(): void {
  const runs = Number(arg('runs') ?? 3);
  const threads = Number(arg('threads') ?? 2);
  const only = arg('only');
  const cacheDir = arg('cache') ?? process.env.NTENSOR_BENCH_CACHE ?? path.join(PACKAGE_ROOT, 'bench', '.cache');
  nt.setNumThreads(threads);
  const all: Target[] = [
    { name: 'fixture (byte-level, 3M, f32)', dir: path.join(PACKAGE_ROOT, 'fixtures', 'tinyllama-fortunes'), dtype: 'f32', prompt: 128, steps: 64 },
    { name: 'TinyLlama-1.1B shapes (random, bf16 mapped)', dir: path.join(cacheDir, 'tinyllama-1.1b-random-bf16'), dtype: 'auto', prompt: 64, steps: 16 },
  ];
  const targets = all.filter((t) => only === undefined || (only === 'fixture' ? t.name.startsWith('fixture') : t.name.startsWith('TinyLlama')));
  const rows: Row[] = [];
  const loadBefore = os.loadavg()[0];
  for (const t of targets) {
    if (!fs.existsSync(path.join(t.dir, 'config.json'))) {
      console.error(`skipping ${t.name}: ${t.dir} is missing (npm run bench:model writes it)`);
      continue;
    }
    const model = nt.model.load(t.dir, { dtype: t.dtype });
    try {
      once(model, t, 1, 999); // warm-up: pages in, thread pool up
      const base: Row[] = [];
      for (const batch of BATCHES) {
        const p: number[] = [];
        const d: number[] = [];
        for (let r = 0; r < runs; ++r) {
          const [a, b] = once(model, t, batch, r + 1);
          p.push(a);
          d.push(b);
        }
        const row: Row = {
          model: t.name,
          batch,
          prefillTokensPerS: (batch * t.prompt) / median(p),
          decodeTokensPerS: (batch * t.steps) / median(d),
          prefillSpeedup: 1,
          decodeSpeedup: 1,
          prefillSeconds: p,
          decodeSeconds: d,
        };
        if (base.length > 0) {
          row.prefillSpeedup = row.prefillTokensPerS / base[0].prefillTokensPerS;
          row.decodeSpeedup = row.decodeTokensPerS / base[0].decodeTokensPerS;
        }
        base.push(row);
        rows.push(row);
        console.error(`${t.name} batch ${batch}: prefill ${row.prefillTokensPerS.toFixed(1)} tok/s, decode ${row.decodeTokensPerS.toFixed(1)} tok/s`);
      }
    } finally {
      model.dispose();
    }
  }
  const lines = [
    '| model | batch | prefill tok/s | × batch 1 | decode tok/s | × batch 1 |',
    '|---|---:|---:|---:|---:|---:|',
    ...rows.map(
      (r) => `| ${r.model} | ${r.batch} | ${r.prefillTokensPerS.toFixed(1)} | ${r.prefillSpeedup.toFixed(2)} | ${r.decodeTokensPerS.toFixed(1)} | ${r.decodeSpeedup.toFixed(2)} |`,
    ),
  ];
  console.log(lines.join('\n'));
  const out = path.join(resultsDir(), `batch-${new Date().toISOString().slice(0, 10)}.json`);
  fs.writeFileSync(
    out,
    JSON.stringify({ machine: machineInfo(), threads, runs, loadAverage: { before: loadBefore, after: os.loadavg()[0] }, targets, rows }, null, 1),
  );
  console.error(`wrote ${out}`);
}

if (require.main === module) main();
