// A Llama-3-8B-shaped bf16 checkpoint (8,030,261,248 parameters, 16 GB in 4 shards: random
// weights, see random-checkpoint.ts) loads and runs on a 24 GB machine: the weights are mapped,
// not copied or widened (an f32 load would need 32 GB). In a child process (its peak RSS is its
// own): load, a 32-token prefill into a KV cache, 8 greedy decode steps; load seconds, tokens/s,
// peak RSS against the checkpoint's bytes. Not part of npm test or npm run bench.
//
//   npm run build:ts && node dist/bench/model-8b.bench.js [--cache DIR] [--threads N]
//
// Writing the checkpoint takes a few minutes and 16 GB of disk (bench/.cache, never committed).
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as nt from '../lib';
import { PACKAGE_ROOT } from '../lib/native/loader';
import { resultsDir } from './harness';
import { randomCheckpoint } from './random-checkpoint';

/** config.json of Meta-Llama-3-8B (transformers 4.x layout). */
const LLAMA3_8B = {
  architectures: ['LlamaForCausalLM'],
  attention_bias: false,
  attention_dropout: 0.0,
  bos_token_id: 128000,
  eos_token_id: 128001,
  head_dim: 128,
  hidden_act: 'silu',
  hidden_size: 4096,
  initializer_range: 0.02,
  intermediate_size: 14336,
  max_position_embeddings: 8192,
  mlp_bias: false,
  model_type: 'llama',
  num_attention_heads: 32,
  num_hidden_layers: 32,
  num_key_value_heads: 8,
  pretraining_tp: 1,
  rms_norm_eps: 1e-5,
  rope_scaling: null,
  rope_theta: 500000.0,
  tie_word_embeddings: false,
  torch_dtype: 'bfloat16',
  transformers_version: '4.46.0',
  use_cache: true,
  vocab_size: 128256,
};

const GENERATION = randomCheckpoint({
  generator: 'ntensor bench/model-8b.bench.ts v1',
  seed: 20241201,
  maxShardBytes: 5e9,
  config: LLAMA3_8B,
  expectedParams: 8_030_261_248,
});

const PREFILL = 32;
const DECODE = 8;

function vmHwmBytes(): number {
  const m = /^VmHWM:\s+(\d+)\s+kB/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) * 1024 : process.resourceUsage().maxRSS * 1024;
}

/** The measured run, in the child. */
function child(dir: string, threads: number): void {
  nt.setNumThreads(threads);
  const t0 = performance.now();
  const model = nt.model.load(dir);
  const loadS = (performance.now() - t0) / 1000;
  const mem = nt.memory();
  const cache = model.newCache({ capacity: PREFILL + DECODE });
  const ids = Int32Array.from({ length: PREFILL }, (_, i) => 1000 + ((i * 7919) % 100000));
  const a = performance.now();
  let logits = model.forward(ids, { cache, lastOnly: true });
  const finite = Array.from(logits.data as Float32Array).every(Number.isFinite);
  const argmax = (t: nt.Tensor) => {
    const v = t.data as Float32Array;
    let best = 0;
    for (let j = 1; j < v.length; ++j) if (v[j] > v[best]) best = j;
    return best;
  };
  let tok = argmax(logits);
  logits.dispose();
  const b = performance.now();
  for (let i = 0; i < DECODE; ++i) {
    logits = model.forward([tok], { cache, lastOnly: true });
    tok = argmax(logits);
    logits.dispose();
  }
  const e = performance.now();
  const held = (model.getLinear('model.layers.0.mlp.up_proj') as nt.model.DenseLinear).weight.dtype;
  cache.dispose();
  model.dispose();
  process.stdout.write(
    JSON.stringify({ loadS, prefillTps: PREFILL / ((b - a) / 1000), decodeTps: DECODE / ((e - b) / 1000), peakRssBytes: vmHwmBytes(), mappedBytes: mem.mappedBytes, heldDtype: held, finiteLogits: finite, lastToken: tok }) + '\n',
  );
}

function main(): void {
  const argv = process.argv.slice(2);
  const opt = (name: string, dflt: string) => {
    const i = argv.indexOf(name);
    return i >= 0 && i + 1 < argv.length ? argv[i + 1] : dflt;
  };
  const threads = Number(opt('--threads', '2'));
  if (argv[0] === '--child') return child(argv[1], threads);
  const cache = path.resolve(opt('--cache', process.env.NTENSOR_BENCH_CACHE ?? path.join(PACKAGE_ROOT, 'bench', '.cache')));
  const dir = path.join(cache, 'llama3-8b-random-bf16');
  const log = (s: string) => process.stderr.write(s);
  const manifest = GENERATION.ensure(dir, log);
  const checkpointBytes = manifest.files.reduce((s, f) => s + f.bytes, 0);
  const r = spawnSync(process.execPath, [__filename, '--child', dir, '--threads', String(threads)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 20 });
  if (r.status !== 0) throw new Error(`the 8B child failed (status ${r.status}, signal ${r.signal})`);
  const res = JSON.parse(r.stdout.trim().split('\n').pop()!);
  const cpu = (/^model name\s*:\s*(.*)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8')) ?? [])[1] ?? os.cpus()[0]?.model;
  const totalMem = os.totalmem();
  const out = { date: new Date().toISOString(), cpu, threads, totalMemBytes: totalMem, checkpointBytes, params: manifest.params, loadAverage: os.loadavg(), ...res };
  const file = path.join(resultsDir(), `model-8b-${out.date.slice(0, 10)}.json`);
  fs.writeFileSync(file, JSON.stringify(out, null, 2) + '\n');
  const gib = (b: number) => (b / 2 ** 30).toFixed(2);
  console.log(`| checkpoint | machine RAM | held | load s | prefill ${PREFILL} t/s | decode t/s | peak RSS | RSS / checkpoint |`);
  console.log('|---|---|---|---:|---:|---:|---:|---:|');
  console.log(
    `| Llama-3-8B shapes, bf16, ${gib(checkpointBytes)} GiB | ${gib(totalMem)} GiB | ${res.heldDtype} (mapped ${gib(res.mappedBytes)} GiB) | ${res.loadS.toFixed(2)} | ${res.prefillTps.toFixed(2)} | ${res.decodeTps.toFixed(2)} | ${gib(res.peakRssBytes)} GiB | ${(res.peakRssBytes / checkpointBytes).toFixed(2)}× |`,
  );
  console.log(`\n${cpu}, ${threads} threads; logits finite: ${res.finiteLogits}; JSON: ${path.relative(PACKAGE_ROOT, file)}`);
}

// bench/run.ts requires every *.bench file to find Suite exports: run only when started directly
if (require.main === module) main();
