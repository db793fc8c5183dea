// `node scripts/check-llamacpp-arch.mjs [--out FILE]`: the GGUF architectures `ntensor export`
// writes run in llama.cpp itself (node-llama-cpp 3.21.1 from bench/peers/llamacpp, CPU, offline)
// and give ntensor's next-token distributions. For each architecture fixture (fixtures/arch:
// llama as llama.cpp's "llama", qwen2 as its "qwen2" with q/k/v biases and NeoX rope), a copy
// with a byte-level BPE tokenizer of fixtures/tokenizers (llama.cpp needs a vocabulary; the
// embedding and head are redrawn at its size) is exported as F32, its 24 ids evaluated in both
// engines, and max |Δp| and mean KL(llama.cpp ‖ ntensor) recorded. Exit 1 when a mean KL is above
// 1e-4, 2 when the peer or dist/ is missing. Not part of CI (it needs that peer). Needs
// `npm run build:ts`.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { createRequire } from 'module';
import { fileURLToPath, pathToFileURL } from 'url';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const outArg = process.argv.indexOf('--out');
const outFile = outArg >= 0 ? process.argv[outArg + 1] : path.join(root, 'bench', 'results', `llamacpp-arch-${new Date().toISOString().slice(0, 10)}.json`);
const peer = path.join(root, 'bench', 'peers', 'llamacpp', 'node_modules', 'node-llama-cpp');
if (!fs.existsSync(path.join(peer, 'package.json'))) {
  console.error(`check-llamacpp-arch: ${peer} is missing: run npm run bench:model:install`);
  process.exit(2);
}
const dist = path.join(root, 'dist', 'lib');
if (!fs.existsSync(path.join(dist, 'cli', 'export.js'))) {
  console.error('check-llamacpp-arch: dist/ is missing or old: run npm run build:ts');
  process.exit(2);
}
const nt = require(path.join(dist, 'index.js'));
const { exportGguf } = require(path.join(dist, 'cli', 'export.js'));
const { getLlama, LlamaLogLevel } = await import(pathToFileURL(path.join(peer, 'dist', 'index.js')).href);
const llama = await getLlama({ gpu: false, build: 'never', skipDownload: true, maxThreads: 2, logLevel: LlamaLogLevel.error });
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'ntensor-llamacpp-arch-'));

/** The arch fixture with a tokenizer family's files, its embedding and head redrawn at that vocabulary. */
function withTokenizer(name, family) {
  const src = path.join(root, 'fixtures', 'arch', name);
  const dir = path.join(work, name);
  fs.mkdirSync(dir);
  const cfg = JSON.parse(fs.readFileSync(path.join(src, 'config.json'), 'utf8'));
  const n = JSON.parse(fs.readFileSync(path.join(root, 'fixtures', 'tokenizers', family, 'expected.json'), 'utf8')).vocab_size;
  const t = nt.io.loadSafetensors(src);
  t['model.embed_tokens.weight'] = nt.randn([n, cfg.hidden_size], { seed: 5 });
  t['lm_head.weight'] = nt.randn([n, cfg.hidden_size], { seed: 6 });
  nt.io.saveSafetensors(path.join(dir, 'model.safetensors'), t);
  Object.values(t).forEach((x) => x.dispose());
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...cfg, vocab_size: n }));
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) fs.copyFileSync(path.join(root, 'fixtures', 'tokenizers', family, f), path.join(dir, f));
  return dir;
}

const rows = [];
for (const [name, family, arch] of [['llama', 'llama3', 'llama'], ['qwen2', 'qwen2', 'qwen2']]) {
  const dir = withTokenizer(name, family);
  const gguf = path.join(work, `${name}.gguf`);
  exportGguf(nt, { model: dir, out: gguf, type: 'f32' });
  const ids = Array.from(nt.io.loadNpy(path.join(root, 'fixtures', 'arch', name, 'ids.npy')).data);
  const m = nt.model.load(dir, { dtype: 'f32' });
  const logits = m.forward(Int32Array.from(ids));
  const V = logits.shape[1];
  const L = logits.data;
  const model = await llama.loadModel({ modelPath: gguf, gpuLayers: 0 });
  const ctx = await model.createContext({ contextSize: 64, batchSize: 32, sequences: 1 });
  const res = await ctx.getSequence().controlledEvaluate(ids.map((t) => [t, { generateNext: { probabilities: true, options: { temperature: 0 } } }]));
  let maxDp = 0;
  let kl = 0;
  for (let i = 0; i < ids.length; ++i) {
    const row = L.subarray(i * V, (i + 1) * V);
    let mx = -Infinity;
    for (const v of row) mx = Math.max(mx, v);
    let z = 0;
    for (const v of row) z += Math.exp(v - mx);
    const probs = res[i].next.probabilities;
    for (let t = 0; t < V; ++t) {
      const pn = Math.exp(row[t] - mx) / z;
      const pl = probs.get(t) ?? 0;
      maxDp = Math.max(maxDp, Math.abs(pn - pl));
      if (pl > 0) kl += pl * Math.log(pl / pn);
    }
  }
  rows.push({ fixture: name, architecture: arch, tokenizer: family, vocab: V, positions: ids.length, maxAbsDp: maxDp, meanKl: kl / ids.length });
  logits.dispose();
  m.dispose();
  await ctx.dispose();
  await model.dispose();
}
fs.rmSync(work, { recursive: true, force: true });
const result = {
  suite: 'llamacpp-arch',
  title: "ntensor export --gguf architectures run in llama.cpp: next-token distributions vs ntensor's",
  date: new Date().toISOString(),
  machine: { cpu: os.cpus()[0]?.model ?? 'unknown', cores: os.cpus().length, node: process.version },
  peer: `node-llama-cpp ${JSON.parse(fs.readFileSync(path.join(peer, 'package.json'), 'utf8')).version}`,
  rows,
};
fs.writeFileSync(outFile, JSON.stringify(result, null, 2) + '\n');
for (const r of rows) console.log(`${r.fixture} as llama.cpp "${r.architecture}": max |Δp| ${r.maxAbsDp.toExponential(2)}, mean KL ${r.meanKl.toExponential(2)} over ${r.positions} positions`);
process.exitCode = rows.every((r) => r.meanKl <= 1e-4) ? 0 : 1;
