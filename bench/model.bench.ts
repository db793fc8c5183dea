// The real-size suite (docs: shared/docs/BENCHMARKS.md, "Real size"): a TinyLlama-1.1B-shaped
// random checkpoint, ntensor beside llama.cpp (node-llama-cpp 3.21.1, prebuilt CPU binaries)
// and PyTorch eager (transformers) f32, measured in one run on one machine.
//
//   npm run bench:model -- [--quick] [--configs a,b] [--isa avx2,native] [--runs N]
//                          [--threads N] [--cache DIR] [--out FILE] [--no-install]
//
// 1. The model, written once into the cache folder (bench/.cache/ or $NTENSOR_BENCH_CACHE;
//    never committed): TinyLlama-1.1B's exact shapes (hidden 2048, 22 layers, 32 query / 4 KV
//    heads, head_dim 64, intermediate 5632, vocab 32000, rope_theta 10000, rms_norm_eps 1e-5,
//    untied embeddings, 2048 positions; 1,100,048,384 parameters), random weights (nt.randn
//    seeded per tensor, std 0.02, for linears and embeddings; ones for norms), bf16, in 3
//    safetensors shards of <= 1 GB written by nt.io.saveSafetensors one shard at a time, with
//    model.safetensors.index.json and config.json (transformers' layout). A manifest holding a
//    hash of the generation parameters and the file sizes marks it complete; it is regenerated
//    only when that check fails.
// 2. GGUF files F16 / Q8_0 / Q4_0 of the same weights for llama.cpp (bench/peers/model_gguf.py,
//    gguf-py; see its header for what each file holds), also cached.
// 3. The read bandwidth of this machine in the same run (bench/membw.ts: the better of nt.sum and
//    nt.max over 256 MB at the bench's thread count).
// 4. Each configuration in its own child process (its peak RSS is its own: VmHWM at the end)
//    on `threads` threads (default 2): load, a short warm-up, then `runs` times (default 3,
//    median reported): prefill of 512 seeded random token ids into a fresh KV cache (last
//    position's logits), then 128 greedy decode steps, each feeding the argmax back.
//    ntensor: f32 (widened on load), bf16 (the checkpoint mapped as stored), int4 g128
//    asymmetric with f32 and int8 activations, int4 g32 symmetric (Q4_0's math) with f32 and
//    int8 activations: every decoder linear quantized from its mapped bf16 weight by
//    nt.quant.quantize (RTN, f16 scales) and swapped in with model.setLinear (the bf16 pages are
//    released as it goes), lm_head quantized to 8 bits and the embedding table to 4-bit g32, as
//    in llama.cpp's Q4_0 file here. With AVX-512 the ntensor configurations run again under
//    NTENSOR_ISA=avx2.
//    nt-gguf-Q4_0[-i8] (GGUF mode): ntensor on llama.cpp's Q4_0 file itself, nt.model.load of
//    the GGUF (its Q4_0 / Q8_0 blocks as QuantLinears over the file's codes; f32 or int8
//    activations), beside llama-Q4_0.
//    llama.cpp: the three GGUF files (bench/peers/llamacpp/run.mjs). transformers f32: when
//    `import torch, transformers` works (bench/peers/model_transformers.py).
// 5. Per configuration: weight bytes read per decode token (every weight but the embedding
//    table, plus one of its rows), load seconds, prefill and decode tokens/s, peak RSS, the
//    decode's weight bytes/s and its share of the read bandwidth. Plus the CPU model and
//    flags, the ISA ntensor picked, NTENSOR_ISA, the load average before and after.
//    Markdown table on stdout, JSON in bench/results/model-<date>.json (model-<date>-quick.json
//    with --quick).
//
// Not part of `npm run bench` (bench/run.ts discovers Suite exports; this file exports none)
// nor of `npm test`.
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as nt from '../lib';
import { PACKAGE_ROOT } from '../lib/native/loader';
import { CaseResult, resultsDir, runSuite } from './harness';
import { membwSuite } from './membw';
import { Manifest, randomCheckpoint } from './random-checkpoint';

// ---------------------------------------------------------------------------------------------
// The model

/** config.json of the benchmark model, in transformers' 4.x layout (what TinyLlama ships). */
const MODEL_CONFIG = {
  architectures: ['LlamaForCausalLM'],
  attention_bias: false,
  attention_dropout: 0.0,
  bos_token_id: 1,
  eos_token_id: 2,
  head_dim: 64,
  hidden_act: 'silu',
  hidden_size: 2048,
  initializer_range: 0.02,
  intermediate_size: 5632,
  max_position_embeddings: 2048,
  mlp_bias: false,
  model_type: 'llama',
  num_attention_heads: 32,
  num_hidden_layers: 22,
  num_key_value_heads: 4,
  pretraining_tp: 1,
  rms_norm_eps: 1e-5,
  rope_scaling: null,
  rope_theta: 10000.0,
  tie_word_embeddings: false,
  torch_dtype: 'bfloat16',
  transformers_version: '4.46.0',
  use_cache: true,
  vocab_size: 32000,
};

const EXPECTED_PARAMS = 1_100_048_384;

/** Everything the generated files depend on: its hash names a complete cache. */
const GENERATION = randomCheckpoint({ generator: 'ntensor bench/model.bench.ts v1', seed: 20240901, maxShardBytes: 1e9, config: MODEL_CONFIG, expectedParams: EXPECTED_PARAMS });
const GENERATION_HASH = GENERATION.hash;
const ensureCheckpoint = (dir: string, log: (s: string) => void): Manifest => GENERATION.ensure(dir, log);

// ---------------------------------------------------------------------------------------------
// Configurations

type Engine = 'ntensor' | 'llama.cpp' | 'transformers';
type GgufType = 'F16' | 'Q8_0' | 'Q4_0';

interface QuantSpec {
  groupSize: 32 | 128;
  symmetric: boolean;
  activations: 'f32' | 'int8';
}

interface ConfigDef {
  id: string;
  engine: Engine;
  weights: string;
  /**
   * ntensor: the load dtype (bf16: the checkpoint as stored, mapped) and the int4 scheme, or
   * 'gguf': nt.model.load of the llama.cpp GGUF file `gguf` (the same file llama.cpp runs).
   */
  nt?: { load: 'f32' | 'bf16' | 'gguf'; quant?: QuantSpec; activations?: 'f32' | 'int8' };
  gguf?: GgufType;
}

const CONFIGS: ConfigDef[] = [
  { id: 'nt-f32', engine: 'ntensor', weights: 'f32', nt: { load: 'f32' } },
  { id: 'nt-bf16', engine: 'ntensor', weights: 'bf16', nt: { load: 'bf16' } },
  { id: 'nt-int4-g128', engine: 'ntensor', weights: 'int4 g128 asym, f32 act', nt: { load: 'bf16', quant: { groupSize: 128, symmetric: false, activations: 'f32' } } },
  { id: 'nt-int4-g128-i8', engine: 'ntensor', weights: 'int4 g128 asym, int8 act', nt: { load: 'bf16', quant: { groupSize: 128, symmetric: false, activations: 'int8' } } },
  { id: 'nt-int4-g32-sym', engine: 'ntensor', weights: 'int4 g32 sym (Q4_0 math), f32 act', nt: { load: 'bf16', quant: { groupSize: 32, symmetric: true, activations: 'f32' } } },
  { id: 'nt-int4-g32-sym-i8', engine: 'ntensor', weights: 'int4 g32 sym (Q4_0 math), int8 act', nt: { load: 'bf16', quant: { groupSize: 32, symmetric: true, activations: 'int8' } } },
  { id: 'nt-gguf-Q4_0', engine: 'ntensor', weights: 'GGUF Q4_0 (output Q8_0) via nt.model.load, f32 act', nt: { load: 'gguf', activations: 'f32' }, gguf: 'Q4_0' },
  { id: 'nt-gguf-Q4_0-i8', engine: 'ntensor', weights: 'GGUF Q4_0 (output Q8_0) via nt.model.load, int8 act', nt: { load: 'gguf', activations: 'int8' }, gguf: 'Q4_0' },
  { id: 'llama-F16', engine: 'llama.cpp', weights: 'GGUF F16', gguf: 'F16' },
  { id: 'llama-Q8_0', engine: 'llama.cpp', weights: 'GGUF Q8_0', gguf: 'Q8_0' },
  { id: 'llama-Q4_0', engine: 'llama.cpp', weights: 'GGUF Q4_0 (output Q8_0)', gguf: 'Q4_0' },
  { id: 'hf-f32', engine: 'transformers', weights: 'f32', nt: undefined },
];

interface ChildSpec {
  config: ConfigDef;
  modelDir: string;
  gguf?: string;
  ids: number[];
  decode: number;
  runs: number;
  threads: number;
  warmupPrefill: number;
  warmupDecode: number;
  contextSize: number;
}

/** What a child prints as "@@RESULT {json}". */
interface ChildResult {
  available: boolean;
  reason?: string;
  loadS?: number;
  quantizeS?: number;
  prefillS?: number[];
  decodeS?: number[];
  peakRssBytes?: number;
  rssAfterLoadBytes?: number;
  /** Weight bytes one decode step reads (ntensor: measured from the tensors it holds). */
  decodeBytesPerToken?: number;
  residentWeightBytes?: number;
  kvCacheBytes?: number;
  notes?: string[];
  [k: string]: unknown;
}

// ---------------------------------------------------------------------------------------------
// The ntensor child

function vmHwmBytes(): number {
  try {
    const m = /^VmHWM:\s+(\d+)\s+kB/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]) * 1024;
  } catch {
    /* not Linux */
  }
  return process.resourceUsage().maxRSS * 1024;
}

const ITEM_BYTES: Record<string, number> = { f64: 8, f32: 4, f16: 2, bf16: 2, i32: 4, i8: 1, u8: 1 };
const tensorBytes = (t: nt.Tensor) => (ITEM_BYTES[t.dtype] !== undefined ? t.size * ITEM_BYTES[t.dtype] : (t.data as ArrayBufferView).byteLength);

/** The 5 most likely tokens of one row of logits, with their softmax probabilities. */
function top5(logits: nt.Tensor): [number, number][] {
  const v = logits.data as Float32Array;
  const order = Array.from(v.keys()).sort((a, b) => v[b] - v[a] || a - b).slice(0, 5);
  let z = 0;
  for (let j = 0; j < v.length; ++j) z += Math.exp(v[j] - v[order[0]]);
  return order.map((j) => [j, Math.exp(v[j] - v[order[0]]) / z]);
}

function argmax(logits: nt.Tensor): number {
  const v = logits.data as Float32Array;
  let best = 0;
  for (let j = 1; j < v.length; ++j) if (v[j] > v[best]) best = j;
  return best;
}

type LoadDtype = 'f32' | 'bf16';

/** The dense weight [out, in] a linear holds: its .weight, else its first 2-D Tensor property. */
function denseWeight(lin: nt.model.LinearLike): nt.Tensor | undefined {
  const w = (lin as unknown as { weight?: unknown }).weight;
  if (w instanceof nt.Tensor) return w;
  return Object.values(lin).find((v): v is nt.Tensor => v instanceof nt.Tensor && v.ndim === 2 && v.shape[0] === lin.outFeatures && v.shape[1] === lin.inFeatures);
}

function heldDtype(model: nt.model.LlamaModel): string {
  return denseWeight(model.getLinear(model.linears()[0]))?.dtype ?? 'unknown';
}

async function ntensorChild(spec: ChildSpec): Promise<ChildResult> {
  const def = spec.config.nt!;
  const tag = `[${spec.config.id}${process.env.NTENSOR_ISA ? ` NTENSOR_ISA=${process.env.NTENSOR_ISA}` : ''}]`;
  const say = (s: string) => process.stderr.write(`${tag} ${s}\n`);
  nt.setNumThreads(spec.threads);
  const notes: string[] = [];
  const t0 = performance.now();
  // bf16 and the int4 configurations load the checkpoint as stored (mapped bf16); the int4 ones
  // then quantize each linear from its bf16 view, whose pages are released as it is replaced
  const loadDtype: LoadDtype = def.load === 'f32' ? 'f32' : 'bf16';
  // GGUF mode: the file's Q4_0 / Q8_0 blocks become QuantLinears over its codes (no dense copy)
  const model = def.load === 'gguf' ? nt.model.load(spec.gguf!, { activations: def.activations }) : nt.model.load(spec.modelDir, { dtype: loadDtype });
  const held = def.load === 'gguf' ? 'gguf' : heldDtype(model);
  if (def.load === 'gguf') notes.push(`nt.model.load(${path.basename(spec.gguf!)}): linears ${(model.getLinear(model.linears()[0]) as nt.model.QuantLinear).path?.kernel ?? model.getLinear(model.linears()[0]).constructor.name}`);
  else if (held !== loadDtype) {
    model.dispose();
    return { available: false, reason: `nt.model.load({ dtype: '${loadDtype}' }) holds ${held} weights` };
  }
  const loadS = (performance.now() - t0) / 1000;
  say(`loaded (${held} weights) in ${loadS.toFixed(2)} s`);
  let quantizeS: number | undefined;
  if (def.quant) {
    const { groupSize, symmetric, activations } = def.quant;
    const tq = performance.now();
    for (const name of model.linears()) {
      const w = denseWeight(model.getLinear(name));
      if (!w) throw new Error(`${name}: not a dense linear (no weight tensor) to quantize`);
      const q = nt.quant.quantize(w, { bits: 4, groupSize, symmetric, scaleDtype: 'f16' });
      model.setLinear(name, new nt.model.QuantLinear(q, { activations })).dispose();
    }
    // as llama.cpp's Q4_0 file here: an 8-bit head (its Q8_0 output.weight) and a 4-bit g32
    // embedding table (its Q4_0 token_embd)
    const headPath = model.quantizeHead({ bits: 8, activations });
    model.quantizeEmbeddings({ bits: 4, groupSize: 32 });
    const path = (model.getLinear(model.linears()[0]) as nt.model.QuantLinear).path;
    notes.push(`kernels: linears ${path.kernel} (${path.activations} activations${path.fallback ? `, fell back: ${path.fallback}` : ''}), head ${headPath.kernel} ${headPath.activations}`);
    quantizeS = (performance.now() - tq) / 1000;
    say(`quantized ${model.linears().length} linears (int4 g${groupSize}${symmetric ? ' sym' : ''}), lm_head (8-bit) and embeddings (4-bit g32) in ${quantizeS.toFixed(2)} s`);
  }
  const rssAfterLoadBytes = vmHwmBytes();

  // bytes: decoder linears + lm_head + norms are read once per decode token, the embedding table by one row
  const linearBytesOf = (lin: nt.model.LinearLike) => {
    if (lin instanceof nt.model.QuantLinear) return lin.q.bytes;
    const w = denseWeight(lin);
    return w ? tensorBytes(w) : NaN;
  };
  let linearBytes = 0;
  for (const name of model.linears()) linearBytes += linearBytesOf(model.getLinear(name));
  const c = model.config;
  const normBytes = (2 * c.numLayers + 1) * c.hiddenSize * 4; // norms are held in f32
  const head = linearBytesOf(model.getLinear('lm_head'));
  const embed = model.embeddingBytes;
  const decodeBytesPerToken = linearBytes + head + normBytes + embed / c.vocabSize;
  const residentWeightBytes = linearBytes + head + normBytes + embed;

  const ids = Int32Array.from(spec.ids);
  let kvCacheBytes = 0;
  let probe: [number, number][] = [];
  const run = (prompt: Int32Array, steps: number, probeTop5 = false) => {
    const cache = model!.newCache({ capacity: prompt.length + steps });
    try {
      const a = performance.now();
      let logits = model!.forward(prompt, { cache, lastOnly: true });
      let tok = argmax(logits);
      if (probeTop5) probe = top5(logits);
      logits.dispose();
      const b = performance.now();
      for (let i = 0; i < steps; ++i) {
        logits = model!.forward(Int32Array.of(tok), { cache, lastOnly: true });
        tok = argmax(logits);
        logits.dispose();
      }
      const e = performance.now();
      kvCacheBytes = cache.bytes;
      return { prefillS: (b - a) / 1000, decodeS: (e - b) / 1000, last: tok };
    } finally {
      cache.dispose();
    }
  };
  run(ids.subarray(0, spec.warmupPrefill), spec.warmupDecode, true);
  const prefillS: number[] = [];
  const decodeS: number[] = [];
  let last = -1;
  for (let r = 0; r < spec.runs; ++r) {
    const x = run(ids, spec.decode);
    prefillS.push(x.prefillS);
    decodeS.push(x.decodeS);
    last = x.last;
    say(`run ${r + 1}/${spec.runs}: prefill ${(ids.length / x.prefillS).toFixed(1)} t/s, decode ${(spec.decode / x.decodeS).toFixed(2)} t/s`);
  }
  model.dispose();
  const info = nt.info();
  notes.push(`qmatmul kernel ${info.qmatmul.kernel}, int8 kernel ${info.qmatmul.int8Kernel ?? 'none'}`);
  const kernels = Object.fromEntries(Object.entries(info.cpu.kernels).filter(([k]) => /gemm|gemv|qmatmul|quant|attention|matmul|bf16/.test(k)));
  return {
    available: true,
    loadS,
    quantizeS,
    loadDtype,
    heldDtype: held,
    prefillS,
    decodeS,
    peakRssBytes: vmHwmBytes(),
    rssAfterLoadBytes,
    decodeBytesPerToken,
    residentWeightBytes,
    lmHeadBytes: head,
    kvCacheBytes,
    lastToken: last,
    top5: probe,
    threads: nt.getNumThreads(),
    ntensorIsa: process.env.NTENSOR_ISA ?? null,
    isas: info.cpu.isas,
    kernels,
    notes,
  };
}

// ---------------------------------------------------------------------------------------------
// The parent

interface Options {
  quick: boolean;
  configs: string[] | null;
  isas: string[] | null;
  runs: number | null;
  threads: number;
  cache: string;
  install: boolean;
  /** The JSON file to write instead of bench/results/model-<date>[-quick].json. */
  out: string | null;
}

function parseArgs(argv: string[]): Options {
  const o: Options = {
    quick: false,
    configs: null,
    isas: null,
    runs: null,
    threads: 2,
    cache: process.env.NTENSOR_BENCH_CACHE || path.join(PACKAGE_ROOT, 'bench', '.cache'),
    install: true,
    out: null,
  };
  for (let i = 0; i < argv.length; ++i) {
    const a = argv[i];
    const [key, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const value = () => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new Error(`${key} needs a value`);
      return v;
    };
    if (key === '--quick') o.quick = true;
    else if (key === '--no-install') o.install = false;
    else if (key === '--configs') o.configs = value().split(',').filter(Boolean);
    else if (key === '--isa') o.isas = value().split(',').filter(Boolean);
    else if (key === '--runs') o.runs = Number(value());
    else if (key === '--threads') o.threads = Number(value());
    else if (key === '--cache') o.cache = path.resolve(value());
    else if (key === '--out') o.out = path.resolve(value());
    else throw new Error(`unknown argument ${a} (use --quick, --configs a,b, --isa avx2,native, --runs N, --threads N, --cache DIR, --out FILE, --no-install)`);
  }
  if (o.runs !== null && (!Number.isInteger(o.runs) || o.runs < 1)) throw new Error('--runs must be an integer >= 1');
  if (!Number.isInteger(o.threads) || o.threads < 1) throw new Error('--threads must be an integer >= 1');
  const known = new Set([...CONFIGS.map((c) => c.id), 'ntensor', 'llama.cpp', 'transformers']);
  for (const c of o.configs ?? []) if (!known.has(c)) throw new Error(`unknown config '${c}' (have ${[...known].join(', ')})`);
  for (const i of o.isas ?? []) if (!['native', 'avx2', 'avx512', 'scalar'].includes(i)) throw new Error(`unknown ISA '${i}' (native, avx2, avx512, scalar)`);
  return o;
}

/** Seeded token ids in [259, vocab): no control or byte tokens (llama.cpp's vocabulary has them below 259). */
function tokenIds(n: number, seed: number): number[] {
  let s = seed >>> 0 || 1;
  const out: number[] = [];
  for (let i = 0; i < n; ++i) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out.push(259 + (s % (MODEL_CONFIG.vocab_size - 259)));
  }
  return out;
}

function cpuInfo(): Record<string, unknown> {
  let model = os.cpus()[0]?.model ?? 'unknown';
  let flags: string[] = [];
  try {
    const text = fs.readFileSync('/proc/cpuinfo', 'utf8');
    model = /^model name\s*:\s*(.*)$/m.exec(text)?.[1] ?? model;
    flags = (/^flags\s*:\s*(.*)$/m.exec(text)?.[1] ?? '').split(/\s+/);
  } catch {
    /* not Linux */
  }
  const lscpu = spawnSync('lscpu', [], { encoding: 'utf8' });
  const field = (k: string) => new RegExp(`^${k}:\\s*(.*)$`, 'm').exec(lscpu.stdout ?? '')?.[1]?.trim();
  const isaFlags = ['avx2', 'fma', 'f16c', 'avx512f', 'avx512bw', 'avx512vl', 'avx512_vnni', 'avx512_bf16', 'avx_vnni', 'amx_tile'].filter((f) => flags.includes(f));
  return {
    model,
    lscpuModel: field('Model name'),
    family: field('CPU family'),
    modelNumber: field('Model'),
    cores: os.cpus().length,
    l3: field('L3 cache'),
    isaFlags,
    memoryGiB: +(os.totalmem() / 2 ** 30).toFixed(1),
  };
}

function python(args: string[], opts: { timeoutS?: number; inherit?: boolean } = {}) {
  return spawnSync('python3', args, { encoding: 'utf8', stdio: opts.inherit ? 'inherit' : 'pipe', timeout: (opts.timeoutS ?? 600) * 1000, maxBuffer: 64 << 20 });
}

function pythonHas(modules: string): boolean {
  return python(['-c', `import ${modules}`]).status === 0;
}

/** `import modules` in python3, after one pip install attempt when it fails and installing is allowed. */
function ensurePython(modules: string, packages: string[], install: boolean, log: (s: string) => void): { ok: boolean; why?: string } {
  if (pythonHas(modules)) return { ok: true };
  if (!install) return { ok: false, why: `python3 cannot import ${modules} (--no-install)` };
  log(`python3 cannot import ${modules}: pip install ${packages.join(' ')}\n`);
  const r = python(['-m', 'pip', 'install', '--retries', '1', ...packages], { timeoutS: 1800, inherit: true });
  if (r.status !== 0) return { ok: false, why: `pip install ${packages.join(' ')} failed (exit ${r.status ?? r.error})` };
  return pythonHas(modules) ? { ok: true } : { ok: false, why: `python3 still cannot import ${modules} after pip install` };
}

const LLAMACPP_DIR = path.join(PACKAGE_ROOT, 'bench', 'peers', 'llamacpp');

function ensureLlamaCpp(install: boolean): { ok: boolean; why?: string } {
  const script = path.join(LLAMACPP_DIR, 'install.js');
  const check = spawnSync(process.execPath, [script, '--check'], { encoding: 'utf8' });
  if (check.status === 0) return { ok: true };
  if (!install) return { ok: false, why: 'node-llama-cpp is not installed in bench/peers/llamacpp (--no-install)' };
  const r = spawnSync(process.execPath, [script], { stdio: 'inherit' });
  return r.status === 0 ? { ok: true } : { ok: false, why: `node ${path.relative(PACKAGE_ROOT, script)} failed (exit ${r.status})` };
}

const GGUF_WRITER_VERSION = 1;

interface GgufMeta {
  writerVersion: number;
  sourceHash: string;
  type: GgufType;
  fileBytes: number;
  tensorBytes: number;
  decodeBytesPerToken: number;
  tensorTypes: Record<string, { tensors: number; bytes: number }>;
  outputWeight: string;
  seconds: number;
}

function ensureGguf(cacheDir: string, modelDir: string, type: GgufType, log: (s: string) => void): { file: string; meta: GgufMeta } {
  const dir = path.join(cacheDir, 'gguf');
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `tinyllama-1.1b-random-${type}.gguf`);
  const sourceHash = `${GENERATION_HASH}-w${GGUF_WRITER_VERSION}`;
  const readMeta = (): GgufMeta | null => {
    try {
      const m = JSON.parse(fs.readFileSync(file + '.json', 'utf8')) as GgufMeta;
      return m.sourceHash === sourceHash && fs.statSync(file).size === m.fileBytes ? m : null;
    } catch {
      return null;
    }
  };
  const have = readMeta();
  if (have) return { file, meta: have };
  log(`gguf: writing ${file} from ${modelDir}\n`);
  const r = python([path.join(PACKAGE_ROOT, 'bench', 'peers', 'model_gguf.py'), '--model-dir', modelDir, '--out', file, '--type', type, '--source-hash', sourceHash], {
    timeoutS: 3600,
  });
  if (r.status !== 0) throw new Error(`model_gguf.py --type ${type} failed (exit ${r.status ?? r.error}): ${(r.stderr ?? '').slice(-2000)}`);
  const meta = readMeta();
  if (!meta) throw new Error(`model_gguf.py --type ${type} left no valid ${file}.json`);
  log(`  ${type}: ${(meta.fileBytes / 1e9).toFixed(3)} GB in ${meta.seconds} s\n`);
  return { file, meta };
}

/** Runs one child process; resolves with its @@RESULT object, or an error description. */
function runChild(cmd: string, args: string[], env: NodeJS.ProcessEnv, timeoutS: number): Promise<ChildResult & { error?: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let errTail = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      process.stderr.write(d);
      errTail = (errTail + d.toString()).slice(-4000);
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutS * 1000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const line = out.split('\n').find((l) => l.startsWith('@@RESULT '));
      if (line) {
        try {
          resolve(JSON.parse(line.slice('@@RESULT '.length)) as ChildResult);
          return;
        } catch {
          /* fall through */
        }
      }
      const why = signal ? `killed by ${signal}${signal === 'SIGKILL' ? ` (timeout ${timeoutS} s?)` : ''}` : `exit ${code}`;
      const lastLines = errTail.trim().split('\n').slice(-3).join(' | ');
      resolve({ available: false, error: `${why}${lastLines ? `: ${lastLines}` : ''}` });
    });
  });
}

interface Row {
  id: string;
  engine: string;
  weights: string;
  isa: string;
  result: ChildResult & { error?: string };
  decodeBytesPerToken?: number;
  loadS?: number;
  quantizeS?: number;
  prefillTps?: number;
  decodeTps?: number;
  prefillTpsAll?: number[];
  decodeTpsAll?: number[];
  gbps?: number;
  bwFraction?: number;
  peakRssBytes?: number;
  /** 1-minute load average before and after the child. */
  loadAverage?: [number, number];
}

const median = (xs: number[]) => {
  const s = xs.slice().sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

const f = (x: number | undefined, digits: number) => (x === undefined || !Number.isFinite(x) ? '' : x.toFixed(digits));

function markdown(rows: Row[]): string {
  const header = ['engine', 'weights', 'bytes', 'load s', 'prefill t/s', 'decode t/s', 'peak RSS', 'GB/s', '% bw'];
  const lines = [`| ${header.join(' | ')} |`, '|---|---|---:|---:|---:|---:|---:|---:|---:|'];
  for (const r of rows) {
    const engine = r.isa === 'native' ? r.engine : `${r.engine} (NTENSOR_ISA=${r.isa})`;
    if (!r.result.available) {
      lines.push(`| ${engine} | ${r.weights} | ${r.result.error ? 'error: ' + r.result.error : 'not available: ' + (r.result.reason ?? '')} | | | | | | |`.replace(/\n/g, ' '));
      continue;
    }
    const load = r.quantizeS !== undefined ? `${f(r.loadS, 1)} + ${f(r.quantizeS, 1)} q` : f(r.loadS, 2);
    lines.push(
      `| ${engine} | ${r.weights} | ${f((r.decodeBytesPerToken ?? NaN) / 1e9, 3)} GB | ${load} | ${f(r.prefillTps, 1)} | ${f(r.decodeTps, 2)} | ${f((r.peakRssBytes ?? NaN) / 2 ** 30, 2)} GiB | ${f(r.gbps, 1)} | ${r.bwFraction !== undefined ? (r.bwFraction * 100).toFixed(0) + '%' : ''} |`,
    );
  }
  return lines.join('\n') + '\n';
}

/** Target lines of BENCHMARKS.md that this run can judge (ratios measured in this run). */
function targets(rows: Row[], manifestBytes: number, quick: boolean): string[] {
  const get = (id: string) => rows.find((r) => r.id === id && r.result.available);
  const out: string[] = [];
  const ratio = (a: number | undefined, b: number | undefined) => (a !== undefined && b !== undefined && b > 0 ? a / b : NaN);
  const judge = (label: string, x: number, goal: number) =>
    out.push(`${label}: ${Number.isFinite(x) ? x.toFixed(2) + '×' : 'n/a'} (target ≥ ${goal}×${Number.isFinite(x) ? (x >= goal ? ', met' : ', missed') : ''})`);
  const q40 = get('llama-Q4_0');
  const f16 = get('llama-F16');
  const int4 = rows.filter((r) => r.isa === 'native' && r.id.startsWith('nt-int4') && r.result.available);
  const bestInt4Decode = int4.sort((a, b) => (b.decodeTps ?? 0) - (a.decodeTps ?? 0))[0];
  if (bestInt4Decode) judge(`1.1B decode, best int4 (${bestInt4Decode.id}) vs llama.cpp Q4_0`, ratio(bestInt4Decode.decodeTps, q40?.decodeTps), 1.2);
  const bf16 = get('nt-bf16');
  judge('1.1B decode, ntensor bf16 vs llama.cpp F16', ratio(bf16?.decodeTps, f16?.decodeTps), 1.5);
  const bestInt4Prefill = int4.slice().sort((a, b) => (b.prefillTps ?? 0) - (a.prefillTps ?? 0))[0];
  judge('1.1B prefill, ntensor bf16 vs llama.cpp F16', ratio(bf16?.prefillTps, f16?.prefillTps), 1.2);
  judge('1.1B prefill, ntensor f32 vs llama.cpp F16', ratio(get('nt-f32')?.prefillTps, f16?.prefillTps), 1.2);
  if (bestInt4Prefill) {
    judge(`1.1B prefill, best int4 (${bestInt4Prefill.id}) vs llama.cpp Q4_0`, ratio(bestInt4Prefill.prefillTps, q40?.prefillTps), 1.2);
    judge(`1.1B prefill, best int4 (${bestInt4Prefill.id}) vs ntensor f32`, ratio(bestInt4Prefill.prefillTps, get('nt-f32')?.prefillTps), 1.0);
  }
  for (const r of int4) {
    if (r.bwFraction !== undefined) out.push(`${r.id} decode reads ${f(r.gbps, 1)} GB/s of weights = ${(r.bwFraction * 100).toFixed(0)}% of the read bandwidth (target ≥ 85%)`);
  }
  if (bf16 && bf16.peakRssBytes !== undefined) {
    const kv = (bf16.result.kvCacheBytes as number | undefined) ?? 0;
    const x = bf16.peakRssBytes / (manifestBytes + kv);
    out.push(`peak RSS, ntensor bf16: ${x.toFixed(2)}× (checkpoint + KV cache) (target ≤ 1.1×${x <= 1.1 ? ', met' : ', missed'})`);
  }
  for (const r of int4) {
    const resident = r.result.residentWeightBytes as number | undefined;
    if (r.peakRssBytes !== undefined && resident) {
      const x = r.peakRssBytes / resident;
      out.push(`peak RSS, ${r.id}: ${x.toFixed(2)}× its resident weight bytes (${(resident / 2 ** 30).toFixed(2)} GiB: int4 linears, 8-bit lm_head, 4-bit embeddings; target ≤ 1.15×${x <= 1.15 ? ', met' : ', missed'})`);
    }
  }
  if (quick) out.push('--quick: short prompts and few steps; these ratios prove the pipeline, they are not figures');
  return out;
}

/**
 * Same model everywhere? The 5 most likely first tokens after the warm-up prompt of each row
 * against nt-f32's (transformers f32's when nt-f32 did not run). Random weights make the
 * distribution nearly flat, so quantized rows may swap close neighbours; the greedy chains of
 * the timed runs diverge quickly for the same reason and are not compared.
 */
function agreement(rows: Row[]): string {
  const top = (r: Row) => r.result.top5 as [number, number][] | undefined;
  const ref = rows.find((r) => r.id === 'nt-f32' && top(r)?.length) ?? rows.find((r) => r.id === 'hf-f32' && top(r)?.length);
  if (!ref) return 'agreement: no f32 reference row';
  const want = top(ref)!.map(([t]) => t);
  const parts = rows
    .filter((r) => r !== ref && top(r)?.length)
    .map((r) => {
      const got = top(r)!.map(([t]) => t);
      const common = got.filter((t) => want.includes(t)).length;
      return `${r.id} ${got[0] === want[0] ? 'same top-1' : `top-1 ${got[0]}`}, ${common}/5`;
    });
  return `agreement with ${ref.id} (top-5 first tokens after the warm-up prompt ${want.join(' ')}, p ${top(ref)!.map(([, p]) => p.toFixed(4)).join(' ')}): ${parts.join('; ')}`;
}

async function main(argv: string[]): Promise<number> {
  const opt = parseArgs(argv);
  const log = (s: string) => process.stdout.write(s);
  const quick = opt.quick;
  const P = quick ? 64 : 512;
  const D = quick ? 16 : 128;
  const runs = opt.runs ?? (quick ? 2 : 3);
  const warmupPrefill = quick ? 16 : 64;
  const warmupDecode = quick ? 4 : 8;
  const info = nt.info();
  const cpu = cpuInfo();
  const hasAvx512 = info.cpu.isas.includes('avx512');
  const isas = opt.isas ?? (hasAvx512 ? ['native', 'avx2'] : ['native']);
  const selected = CONFIGS.filter((c) => !opt.configs || opt.configs.includes(c.id) || opt.configs.includes(c.engine));
  const loadBefore = os.loadavg();
  log(
    `model bench${quick ? ' (--quick)' : ''}: prefill ${P}, decode ${D}, ${runs} runs + warm-up, ${opt.threads} threads; ` +
      `${cpu.model}, ${cpu.cores} cores, ISA flags ${(cpu.isaFlags as string[]).join(' ')}; ntensor kernels ${info.cpu.isas.join('/')}` +
      `${process.env.NTENSOR_ISA ? `, NTENSOR_ISA=${process.env.NTENSOR_ISA}` : ''}; load average ${loadBefore.map((x) => x.toFixed(2)).join(' ')}\n`,
  );

  const modelDir = path.join(opt.cache, 'tinyllama-1.1b-random-bf16');
  fs.mkdirSync(opt.cache, { recursive: true });
  const manifest = ensureCheckpoint(modelDir, log);
  const checkpointBytes = manifest.files.filter((x) => x.name.endsWith('.safetensors')).reduce((s, x) => s + x.bytes, 0);

  // peers' prerequisites
  const unavailable = new Map<string, string>();
  const ggufs = new Map<GgufType, { file: string; meta: GgufMeta }>();
  const needLlama = selected.some((c) => c.gguf !== undefined);
  if (needLlama) {
    const lc = ensureLlamaCpp(opt.install);
    const py = lc.ok ? ensurePython('gguf, numpy', ['gguf', 'numpy'], opt.install, log) : lc;
    for (const c of selected.filter((x) => x.gguf !== undefined)) {
      if (!py.ok) {
        unavailable.set(c.id, py.why!);
        continue;
      }
      try {
        ggufs.set(c.gguf!, ensureGguf(opt.cache, modelDir, c.gguf!, log));
      } catch (e) {
        unavailable.set(c.id, (e as Error).message);
      }
    }
  }
  if (selected.some((c) => c.engine === 'transformers')) {
    const py = ensurePython('torch, transformers', ['torch', 'transformers', 'safetensors'], opt.install, log);
    if (!py.ok) unavailable.set('hf-f32', py.why!);
  }

  // the read bandwidth of this run: bench/membw.ts (the better of nt.sum and nt.max over 256 MB) at the bench's thread
  // count, measured before and after the configurations; the better of the two is the reference
  const measureBandwidth = async () => {
    const bw = await runSuite(membwSuite, { full: false, bandwidth: new Map(), outDir: path.join(opt.cache, 'membw') }, () => undefined);
    const reads = bw.results.filter((r: CaseResult) => (r.impl.startsWith('nt.sum') || r.impl.startsWith('nt.max')) && r.gbps !== undefined);
    const atThreads = reads.filter((r) => r.threads === opt.threads);
    const read = Math.max(...(atThreads.length > 0 ? atThreads : reads).map((r) => r.gbps!));
    const copy = Math.max(...bw.results.filter((r) => r.threads === opt.threads && r.gbps !== undefined && r.name.startsWith('copy')).map((r) => r.gbps!));
    log(`read bandwidth (best of nt.sum / nt.max, ${opt.threads} threads): ${read.toFixed(1)} GB/s; copy (read + write): ${copy.toFixed(1)} GB/s\n`);
    return { read, copy, results: bw.results };
  };
  const bwBefore = await measureBandwidth();

  const ids = tokenIds(P, 512);
  const contextSize = Math.ceil((P + D + 1) / 256) * 256;
  const rows: Row[] = [];
  const jobs: { def: ConfigDef; isa: string }[] = [];
  for (const def of selected) {
    if (def.engine === 'ntensor') for (const isa of isas) jobs.push({ def, isa });
    else jobs.push({ def, isa: 'native' });
  }
  const timeoutS = quick ? 900 : 2400;
  for (const { def, isa } of jobs) {
    const id = isa === 'native' ? def.id : `${def.id}@${isa}`;
    const spec: ChildSpec = { config: def, modelDir, ids, decode: D, runs, threads: opt.threads, warmupPrefill: Math.min(warmupPrefill, P), warmupDecode, contextSize };
    let engine: string = def.engine;
    let result: ChildResult & { error?: string };
    const started = Date.now();
    const load0 = os.loadavg()[0];
    log(`\n${id}: running...\n`);
    if (unavailable.has(def.id)) result = { available: false, reason: unavailable.get(def.id) };
    else if (def.engine === 'ntensor') {
      const env = { ...process.env };
      if (isa !== 'native') env.NTENSOR_ISA = isa;
      if (def.gguf && ggufs.has(def.gguf)) spec.gguf = ggufs.get(def.gguf)!.file;
      result = await runChild(process.execPath, [__filename, '--child', JSON.stringify(spec)], env, timeoutS);
      engine = `ntensor ${info.version}`;
    } else if (def.engine === 'llama.cpp') {
      const g = ggufs.get(def.gguf!)!;
      spec.gguf = g.file;
      result = await runChild(process.execPath, [path.join(LLAMACPP_DIR, 'run.mjs'), JSON.stringify(spec)], process.env, timeoutS);
      if (result.available) result.decodeBytesPerToken = g.meta.decodeBytesPerToken;
      engine = `llama.cpp (node-llama-cpp ${(result.version as string | undefined) ?? '3.21.1'})`;
    } else {
      result = await runChild('python3', [path.join(PACKAGE_ROOT, 'bench', 'peers', 'model_transformers.py'), JSON.stringify(spec)], { ...process.env, OMP_NUM_THREADS: String(opt.threads) }, timeoutS);
      if (result.available) {
        // f32 weights: decoder linears + lm_head + norms, one embedding row
        const c = MODEL_CONFIG;
        result.decodeBytesPerToken = (EXPECTED_PARAMS - c.vocab_size * c.hidden_size + c.hidden_size) * 4;
      }
      const v = result.versions as { transformers?: string; torch?: string } | undefined;
      engine = v ? `transformers ${v.transformers} (torch ${v.torch})` : 'transformers';
    }
    const row: Row = { id, engine, weights: def.weights, isa, result, loadAverage: [load0, os.loadavg()[0]] };
    if (result.available && result.prefillS && result.decodeS) {
      row.prefillTpsAll = result.prefillS.map((s) => P / s);
      row.decodeTpsAll = result.decodeS.map((s) => D / s);
      row.prefillTps = median(row.prefillTpsAll);
      row.decodeTps = median(row.decodeTpsAll);
      row.loadS = result.loadS;
      row.quantizeS = result.quantizeS;
      row.peakRssBytes = result.peakRssBytes;
      row.decodeBytesPerToken = result.decodeBytesPerToken;
      if (row.decodeBytesPerToken) row.gbps = (row.decodeBytesPerToken * row.decodeTps) / 1e9;
      log(`${id}: prefill ${f(row.prefillTps, 1)} t/s, decode ${f(row.decodeTps, 2)} t/s, peak RSS ${f((row.peakRssBytes ?? NaN) / 2 ** 30, 2)} GiB (${((Date.now() - started) / 1000).toFixed(0)} s)\n`);
    } else log(`${id}: ${result.error ? 'error: ' + result.error : 'not available: ' + result.reason}\n`);
    rows.push(row);
  }
  const bwAfter = await measureBandwidth();
  const readGBs = Math.max(bwBefore.read, bwAfter.read);
  const copyGBs = Math.max(bwBefore.copy, bwAfter.copy);
  for (const row of rows)
    if (row.gbps !== undefined) row.bwFraction = row.gbps / readGBs;
  const loadAfter = os.loadavg();

  const table = markdown(rows);
  const summary = [
    `bytes = weight bytes one decode step reads (every weight but the embedding table, plus one row of it); GB/s = bytes × decode t/s; % bw = GB/s over this run's read bandwidth ${readGBs.toFixed(1)} GB/s (best of nt.sum / nt.max, ${opt.threads} threads, the better of ${bwBefore.read.toFixed(1)} before and ${bwAfter.read.toFixed(1)} after the configurations; copy ${copyGBs.toFixed(1)} GB/s)`,
    `load s: reading the checkpoint into memory (+ q: quantizing the 154 decoder linears); llama.cpp mmaps its GGUF (pages fault in during the warm-up)`,
    `prefill ${P} seeded random token ids into a fresh KV cache, then ${D} greedy decode steps; median of ${runs} runs after a warm-up (prefill ${Math.min(warmupPrefill, P)}, decode ${warmupDecode}); ${opt.threads} threads everywhere; each configuration in its own process (peak RSS = its VmHWM)`,
    ...targets(rows, checkpointBytes, quick),
    agreement(rows),
    ...(Math.max(loadBefore[0], loadAfter[0], ...rows.map((r) => Math.max(...(r.loadAverage ?? [0])))) > os.cpus().length * 0.75
      ? [`WARNING: the 1-minute load average reached ${Math.max(loadBefore[0], loadAfter[0], ...rows.map((r) => Math.max(...(r.loadAverage ?? [0])))).toFixed(1)} on ${os.cpus().length} cores (per row: JSON rows[].loadAverage): other processes competed for the cores; llama.cpp's spinning thread pool suffers most. Rerun on a quiet machine`]
      : []),
    `CPU ${cpu.model} (${cpu.cores} cores; ${(cpu.isaFlags as string[]).join(' ')}); ntensor kernels ${info.cpu.isas[0]}${process.env.NTENSOR_ISA ? ` (NTENSOR_ISA=${process.env.NTENSOR_ISA})` : ''}; load average (1/5/15 min) before ${loadBefore.map((x) => x.toFixed(2)).join(' ')}, after ${loadAfter.map((x) => x.toFixed(2)).join(' ')}`,
  ];
  const md = `### Real size: TinyLlama-1.1B-shaped random model, ${opt.threads} threads${quick ? ' (--quick smoke run: not figures)' : ''}\n\n${table}\n${summary.map((s) => `- ${s}`).join('\n')}\n`;
  const date = new Date().toISOString();
  const out = {
    suite: 'model',
    date,
    quick,
    protocol: { prefill: P, decode: D, runs, warmupPrefill: Math.min(warmupPrefill, P), warmupDecode, threads: opt.threads, tokenSeed: 512, contextSize },
    machine: { cpu, node: process.version, ntensor: info.version, isas: info.cpu.isas, ntensorIsaEnv: process.env.NTENSOR_ISA ?? null, loadAverageBefore: loadBefore, loadAverageAfter: loadAfter },
    bandwidth: { readGBs, copyGBs, threads: opt.threads, before: bwBefore, after: bwAfter },
    checkpoint: { dir: modelDir, hash: manifest.hash, params: manifest.params, bytes: checkpointBytes, files: manifest.files },
    gguf: Object.fromEntries([...ggufs].map(([k, v]) => [k, v.meta])),
    rows,
    summary,
    markdown: md,
  };
  const dir = resultsDir();
  fs.mkdirSync(dir, { recursive: true });
  const file = opt.out ?? path.join(dir, `model-${date.slice(0, 10)}${quick ? '-quick' : ''}.json`);
  fs.writeFileSync(file, JSON.stringify(out, null, 2) + '\n');
  log(`\n${md}\nJSON written to ${file}\n`);
  return 0;
}

async function childMain(json: string): Promise<number> {
  const spec = JSON.parse(json) as ChildSpec;
  const result = await ntensorChild(spec);
  process.stdout.write('@@RESULT ' + JSON.stringify(result) + '\n');
  return 0;
}

if (require.main === module) {
  const argv = process.argv.slice(2);
  const job = argv[0] === '--child' ? childMain(argv[1]) : main(argv);
  job.then(
    (code) => {
      process.exitCode = code;
    },
    (e) => {
      process.stderr.write(`model bench failed: ${(e as Error).stack ?? e}\n`);
      process.exitCode = 1;
    },
  );
}
