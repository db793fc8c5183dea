// ntensor on a GGUF file: load time, resident memory after load, prefill and decode tokens/s
// (batch 1, greedy, token ids only). ggufDecodeRun is the ntensor side of a llama.cpp
// comparison on the same file (bench/model.bench.ts' GGUF mode calls it); run directly it
// prints one JSON line:
//   node dist/bench/gguf-decode.js FILE.gguf [threads=2] [prompt=64] [decode=64]
//   node dist/bench/gguf-decode.js --safetensors-int4 DIR [threads=2] [prompt=64] [decode=64]
// --safetensors-int4 DIR measures the same on ntensor's own int4 g32 symmetric RTN of a
// safetensors folder (the model the GGUF's Q4_0 was made from), for the comparison.
import * as fs from 'fs';
import { performance } from 'perf_hooks';
import * as nt from '../lib';

export interface GgufDecodeResult {
  file: string;
  threads: number;
  loadS: number;
  /** VmRSS and VmHWM right after the load (bytes). */
  rssAfterLoadBytes: number;
  hwmAfterLoadBytes: number;
  promptTokens: number;
  decodeTokens: number;
  prefillTps: number;
  decodeTps: number;
  /** Kernel path of the first decoder linear. */
  kernel: string;
}

function procStatus(key: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`^${key}:\\s+(\\d+)\\s+kB`, 'm').exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

function describePath(lin: nt.model.LinearLike): string {
  if (lin instanceof nt.model.QuantLinear) return `${lin.path.kernel} (${lin.path.activations} activations)`;
  return lin.constructor.name;
}

/** Times a model: prefill of `prompt` tokens, then `decode` single-token steps from the cache. */
function timeModel(model: nt.model.LlamaModel, prompt: number, decode: number): { prefillTps: number; decodeTps: number } {
  const V = model.config.vocabSize;
  const ids = Array.from({ length: prompt }, (_, i) => (i * 7919 + 13) % V);
  const cache = model.newCache({ capacity: prompt + decode });
  const t0 = performance.now();
  let logits = model.forward(ids, { cache, lastOnly: true });
  const prefillS = (performance.now() - t0) / 1000;
  const argmax = (t: nt.Tensor) => {
    const d = t.data as Float32Array;
    let best = 0;
    for (let i = 1; i < d.length; ++i) if (d[i] > d[best]) best = i;
    return best;
  };
  let next = argmax(logits);
  logits.dispose();
  const t1 = performance.now();
  for (let k = 0; k < decode; ++k) {
    logits = model.forward([next], { cache, lastOnly: true });
    next = argmax(logits);
    logits.dispose();
  }
  const decodeS = (performance.now() - t1) / 1000;
  cache.dispose();
  return { prefillTps: prompt / prefillS, decodeTps: decode / decodeS };
}

export function ggufDecodeRun(file: string, opts: { threads?: number; prompt?: number; decode?: number; activations?: 'f32' | 'int8' } = {}): GgufDecodeResult {
  const threads = opts.threads ?? 2;
  nt.setNumThreads(threads);
  const t0 = performance.now();
  const model = nt.model.load(file, { activations: opts.activations ?? 'f32' });
  const loadS = (performance.now() - t0) / 1000;
  const rss = procStatus('VmRSS');
  const hwm = procStatus('VmHWM');
  try {
    const prompt = opts.prompt ?? 64;
    const decode = opts.decode ?? 64;
    const r = timeModel(model, prompt, decode);
    return { file, threads, loadS, rssAfterLoadBytes: rss, hwmAfterLoadBytes: hwm, promptTokens: prompt, decodeTokens: decode, ...r, kernel: describePath(model.getLinear(model.linears()[0])) };
  } finally {
    model.dispose();
  }
}

/** The same measurement on ntensor's own int4 g32 symmetric RTN of a safetensors folder (8-bit head). */
export function safetensorsInt4Run(dir: string, opts: { threads?: number; prompt?: number; decode?: number } = {}): GgufDecodeResult {
  const threads = opts.threads ?? 2;
  nt.setNumThreads(threads);
  const t0 = performance.now();
  const model = nt.model.load(dir, { dtype: 'bf16' });
  for (const name of model.linears()) {
    const lin = model.getLinear(name) as nt.model.DenseLinear;
    const q = nt.quant.quantize(lin.weight, { bits: 4, groupSize: 32, symmetric: true, scaleDtype: 'f16' });
    model.setLinear(name, new nt.model.QuantLinear(q)).dispose();
  }
  model.quantizeHead({ bits: 8 });
  const loadS = (performance.now() - t0) / 1000;
  const rss = procStatus('VmRSS');
  const hwm = procStatus('VmHWM');
  try {
    const prompt = opts.prompt ?? 64;
    const decode = opts.decode ?? 64;
    const r = timeModel(model, prompt, decode);
    return { file: dir, threads, loadS, rssAfterLoadBytes: rss, hwmAfterLoadBytes: hwm, promptTokens: prompt, decodeTokens: decode, ...r, kernel: describePath(model.getLinear(model.linears()[0])) };
  } finally {
    model.dispose();
  }
}

if (require.main === module) {
  const args = process.argv.slice(2);
  const st = args.indexOf('--safetensors-int4');
  const stDir = st >= 0 ? args.splice(st, 2)[1] : undefined;
  const [threads = '2', prompt = '64', decode = '64'] = stDir ? args : args.slice(1);
  const o = { threads: Number(threads), prompt: Number(prompt), decode: Number(decode) };
  const r = stDir ? safetensorsInt4Run(stDir, o) : ggufDecodeRun(args[0], o);
  process.stdout.write(JSON.stringify({ ...r, loadavg: require('os').loadavg() }) + '\n');
}
