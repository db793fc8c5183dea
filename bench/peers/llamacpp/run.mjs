// The llama.cpp peer of bench/model.bench.ts, one configuration per process (so its peak RSS
// is its own): node-llama-cpp 3.21.1's prebuilt CPU binaries, a GGUF file written by
// bench/peers/model_gguf.py. Same protocol as the ntensor child: load, a short warm-up, then
// `runs` times: clear the sequence, evaluate the prompt ids (prefill: time to the first
// generated token), then `decode` more greedy tokens (temperature 0), each fed back by
// sequence.evaluate. Prints one line "@@RESULT {json}".
// usage: node run.mjs '<json spec>'   (spec: gguf, ids, decode, runs, threads, warmupPrefill,
//        warmupDecode, contextSize)
import * as fs from 'fs';
import * as path from 'path';
import { fileURLToPath, pathToFileURL } from 'url';

const here = path.dirname(fileURLToPath(import.meta.url));

function vmHwmBytes() {
  try {
    const m = /^VmHWM:\s+(\d+)\s+kB/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]) * 1024;
  } catch {
    /* not Linux */
  }
  return process.resourceUsage().maxRSS * 1024;
}

const spec = JSON.parse(process.argv[2]);
const entry = path.join(here, 'node_modules', 'node-llama-cpp', 'dist', 'index.js');
const { getLlama, LlamaLogLevel } = await import(pathToFileURL(entry).href);
const version = JSON.parse(fs.readFileSync(path.join(here, 'node_modules', 'node-llama-cpp', 'package.json'), 'utf8')).version;

const threads = spec.threads;
const llama = await getLlama({ gpu: false, build: 'never', skipDownload: true, maxThreads: threads, logLevel: LlamaLogLevel.error });
const t0 = performance.now();
const model = await llama.loadModel({ modelPath: spec.gguf, gpuLayers: 0 });
const loadS = (performance.now() - t0) / 1000;
const context = await model.createContext({
  contextSize: spec.contextSize,
  batchSize: Math.max(spec.ids.length, 1),
  sequences: 1,
  threads: { ideal: threads, min: threads },
});
const sequence = context.getSequence();

/** Prefill of ids, then `steps` greedy tokens; seconds of each phase. */
async function run(ids, steps) {
  await sequence.clearHistory();
  const start = performance.now();
  let prefillEnd = 0;
  let count = 0;
  let last = -1;
  let end = 0;
  for await (const token of sequence.evaluate(ids, { temperature: 0 })) {
    last = token;
    if (count === 0) prefillEnd = performance.now();
    if (count++ === steps) {
      end = performance.now();
      break;
    }
  }
  if (count !== steps + 1) throw new Error(`evaluate yielded ${count} tokens, expected ${steps + 1}`);
  return { prefillS: (prefillEnd - start) / 1000, decodeS: (end - prefillEnd) / 1000, last };
}

// warm-up (untimed), with the 5 most likely first tokens after the prompt: the bench checks
// that every engine computes the same model
let top5 = [];
{
  await sequence.clearHistory();
  let count = 0;
  for await (const out of sequence.evaluateWithMetadata(spec.ids.slice(0, spec.warmupPrefill), { probabilities: true }, { temperature: 0 })) {
    if (count === 0) top5 = [...out.probabilities.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0]).slice(0, 5);
    if (count++ === spec.warmupDecode) break;
  }
}
const prefillS = [];
const decodeS = [];
let last = -1;
for (let r = 0; r < spec.runs; ++r) {
  const x = await run(spec.ids, spec.decode);
  prefillS.push(x.prefillS);
  decodeS.push(x.decodeS);
  last = x.last;
}
const result = {
  available: true,
  loadS,
  prefillS,
  decodeS,
  peakRssBytes: vmHwmBytes(),
  lastToken: last,
  top5,
  version,
  threads: context.currentThreads,
  idealThreads: context.idealThreads,
  contextSize: context.contextSize,
  batchSize: context.batchSize,
  useMmap: model.useMmap,
  gpu: llama.gpu,
  buildType: llama.buildType,
  systemInfo: llama.systemInfo,
  modelSize: model.size,
  notes: [`mmap ${model.useMmap ? 'on (llama.cpp default: weights are paged in by the warm-up)' : 'off'}`],
};
await context.dispose();
await model.dispose();
process.stdout.write('@@RESULT ' + JSON.stringify(result) + '\n');
