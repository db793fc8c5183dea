// `npm run check:llamacpp`: our GGUF exports run in llama.cpp itself (node-llama-cpp 3.21.1, the
// peer bench/peers/llamacpp installs on demand; CPU, offline) and give ntensor's next-token
// distributions. Not part of CI (it needs that peer and takes minutes). Needs `npm run build:ts`.
//
// On the byte-level fixture fixtures/tinyllama-fortunes, held-out text = the first 32768 bytes of
// its heldout.txt in 127 non-overlapping windows of 257 bytes (each predicts its last 256 bytes,
// the protocol of reference_ppl.json on 8x its text); calibration = 8192 bytes from the middle of
// heldout.txt (no overlap):
//   f16          `ntensor export --type f16`            vs ntensor on the same weights (f32)
//   rtn-q4_0     `--type q4_0` (ggml's RTN, = gguf-py)  vs ntensor running those Q4_0 blocks as
//                                                          int4 group-32 QTensors (codes + f16 d)
//   nt-rtn       ntensor RTN int4 g32 symmetric, exported from its compressed folder as Q4_0
//   gptq         ntensor GPTQ int4 g32 symmetric (EoRA run, adapter off) exported as Q4_0
//                                                       vs ntensor running the same QTensors
//   gptq+eora-rN the same with the EoRA adapter (rank N) as a llama.cpp LoRA GGUF
//                                                       vs ntensor with the adapter
//   f16+eora-rN  the f16 export with that LoRA GGUF vs ntensor f32 with the adapter: the adapter's
//                effect measured without the Q4_0 path's int8 activation rounding in llama.cpp
// Checks (exit code 1 if one fails): llama.cpp tokenizes the text into its bytes and
// detokenizes them back; mean KL(llama.cpp ‖ ntensor) ≤ 1e-3 for every pair; the change the
// adapter makes to the log-probabilities on the f16 base is the same in both engines (relative
// difference of the p-weighted Δlog p ≤ 5%, and ΔNLL within 5% + 1e-4).
// Writes the JSON (default bench/results/llamacpp-check-<date>.json) with the perplexities in
// llama.cpp and the share of the RTN-to-f16 gap each method closes.
// Vocabularies: the fixture's weights with the byte-level BPE tokenizers of fixtures/tokenizers
// (GPT-2, Llama 3, Qwen2 families) exported, loaded by llama.cpp (vocabOnly) and every line of
// texts.txt tokenized there, against Python tokenizers' ids (expected.json); recorded per family
// (the lines that differ are listed; they do not fail the check: llama.cpp's own pre-tokenizer
// implementation is what is measured). --vocab-only runs just this part.
// usage: node scripts/check-llamacpp.mjs [--out FILE] [--ranks 16,32] [--threads 2] [--vocab-only]
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { createRequire } from 'module';
import { fileURLToPath, pathToFileURL } from 'url';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const arg = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const OUT = arg('--out', path.join(root, 'bench', 'results', `llamacpp-check-${new Date().toISOString().slice(0, 10)}.json`));
const RANKS = arg('--ranks', '16,32').split(',').map(Number);
const THREADS = Number(arg('--threads', '2'));
const KL_MAX = 1e-3;
const WINDOW = 256;
const EVAL_BYTES = Number(arg('--eval-bytes', '32768'));
const CALIB_TOKENS = 8192;

const peer = path.join(root, 'bench', 'peers', 'llamacpp', 'node_modules', 'node-llama-cpp');
if (!fs.existsSync(peer)) {
  console.error(`check:llamacpp: ${peer} is missing: run npm run bench:model:install`);
  process.exit(2);
}
const dist = path.join(root, 'dist', 'lib');
if (!fs.existsSync(path.join(dist, 'cli', 'export.js'))) {
  console.error('check:llamacpp: dist/ is missing or old: run npm run build:ts');
  process.exit(2);
}
const nt = require(path.join(dist, 'index.js'));
const { exportGguf } = require(path.join(dist, 'cli', 'export.js'));
const { quantizeQ4_0 } = require(path.join(dist, 'io', 'gguf-write.js'));
const { getLlama, LlamaLogLevel } = await import(pathToFileURL(path.join(peer, 'dist', 'index.js')).href);
const llamaVersion = JSON.parse(fs.readFileSync(path.join(peer, 'package.json'), 'utf8')).version;

const FIX = path.join(root, 'fixtures', 'tinyllama-fortunes');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'ntensor-llamacpp-check-'));
const log = (s) => process.stderr.write(`${s}\n`);
const started = Date.now();
const load0 = os.loadavg();
nt.setNumThreads(THREADS);

const text = fs.readFileSync(path.join(FIX, 'heldout.txt'));
const evalIds = Int32Array.from(text.subarray(0, EVAL_BYTES));
const windows = [];
for (let s = 0; s + WINDOW + 1 <= evalIds.length; s += WINDOW + 1) windows.push(evalIds.subarray(s, s + WINDOW + 1));
const calibStart = Math.floor(text.length / 2);
const calibration = Int32Array.from(text.subarray(calibStart, calibStart + CALIB_TOKENS));
const V = 256;
const positions = windows.length * WINDOW;

// ---------- llama.cpp: log-probabilities of every next token ----------
const llama = await getLlama({ gpu: false, build: 'never', skipDownload: true, maxThreads: THREADS, logLevel: LlamaLogLevel.error });

/** log p [positions, V] (float64; −Infinity where llama.cpp's softmax underflowed to 0). */
async function llamaLogProbs(gguf, lora) {
  const model = await llama.loadModel({ modelPath: gguf, gpuLayers: 0 });
  const context = await model.createContext({
    contextSize: 512,
    batchSize: WINDOW + 1,
    sequences: 1,
    threads: { ideal: THREADS, min: 1 },
    ...(lora ? { lora: { adapters: [{ filePath: lora, scale: 1 }] } } : {}),
  });
  const seq = context.getSequence();
  const out = new Float64Array(positions * V);
  let tokenizerOk = null;
  try {
    for (let w = 0; w < windows.length; ++w) {
      await seq.clearHistory();
      const input = Array.from(windows[w].subarray(0, WINDOW), (t) => [t, { generateNext: { probabilities: true, options: { temperature: 0 } } }]);
      const res = await seq.controlledEvaluate(input);
      for (let i = 0; i < WINDOW; ++i) {
        const probs = res[i]?.next?.probabilities;
        if (!probs || probs.size !== V) throw new Error(`${gguf}: no full distribution at window ${w} position ${i}`);
        const row = out.subarray((w * WINDOW + i) * V, (w * WINDOW + i + 1) * V);
        row.fill(-Infinity);
        for (const [tok, p] of probs) row[tok] = Math.log(p);
      }
    }
    const sample = text.subarray(0, 2000).toString('utf8');
    const ids = model.tokenize(sample);
    tokenizerOk = { tokensAreBytes: ids.length === Buffer.byteLength(sample) && ids.every((t, i) => t === text[i]), detokenizeExact: model.detokenize(ids) === sample };
  } finally {
    await context.dispose();
    await model.dispose();
  }
  return { logp: out, tokenizer: tokenizerOk };
}

// ---------- ntensor ----------
function ntLogProbs(model) {
  const out = new Float64Array(positions * V);
  windows.forEach((win, w) => {
    const logits = model.forward(win.subarray(0, WINDOW));
    const d = logits.data;
    for (let i = 0; i < WINDOW; ++i) {
      const row = d.subarray(i * V, (i + 1) * V);
      let m = -Infinity;
      for (let j = 0; j < V; ++j) m = Math.max(m, row[j]);
      let z = 0;
      for (let j = 0; j < V; ++j) z += Math.exp(row[j] - m);
      const lz = m + Math.log(z);
      for (let j = 0; j < V; ++j) out[(w * WINDOW + i) * V + j] = row[j] - lz;
    }
    logits.dispose();
  });
  return out;
}

/** A QTensor (int4, group 32, zero 8, f16 scales) holding Q4_0 blocks' codes and d: the same weights. */
function qtensorFromQ4_0(blocks, rows, cols) {
  const groups = cols / 32;
  const codes = new Uint8Array(rows * (cols / 2));
  const scales = new Uint16Array(rows * groups);
  for (let r = 0; r < rows; ++r)
    for (let g = 0; g < groups; ++g) {
      const o = (r * groups + g) * 18;
      scales[r * groups + g] = blocks.readUInt16LE(o);
      for (let j = 0; j < 32; ++j) {
        const q = j < 16 ? blocks[o + 2 + j] & 15 : blocks[o + 2 + j - 16] >> 4;
        const c = r * cols + g * 32 + j;
        codes[c >> 1] |= q << ((c & 1) * 4);
      }
    }
  return new nt.quant.QTensor({
    codes: nt.tensor(codes, { shape: [rows, cols / 2] }),
    scales: nt.tensor(scales, { dtype: 'f16', shape: [rows, groups] }),
    zeros: nt.full([rows, groups], 8, 'u8'),
    shape: [rows, cols],
    bits: 4,
    groupSize: 32,
    symmetric: true,
  });
}

// ---------- metrics ----------
function nllPerPosition(logp) {
  const out = new Float64Array(positions);
  windows.forEach((win, w) => {
    for (let i = 0; i < WINDOW; ++i) out[w * WINDOW + i] = -logp[(w * WINDOW + i) * V + win[i + 1]];
  });
  return out;
}
const mean = (a) => a.reduce((x, y) => x + y, 0) / a.length;
function nllOf(logp) {
  return mean(nllPerPosition(logp));
}
/** Mean of a − b per position and its standard error (paired over the same predictions). */
function pairedDelta(a, b) {
  const d = a.map((x, i) => x - b[i]);
  const m = mean(d);
  const v = d.reduce((x, y) => x + (y - m) ** 2, 0) / (d.length - 1);
  return { mean: m, se: Math.sqrt(v / d.length) };
}
/**
 * How differently two engines see an adapter: Δ = log p(with) − log p(without) per position and
 * token; sqrt(Σ p·(Δa − Δb)²) / sqrt(Σ p·Δb²) with p the second engine's base probabilities.
 */
function effectDifference(aWith, aBase, bWith, bBase) {
  let num = 0;
  let den = 0;
  for (let k = 0; k < aWith.length; ++k) {
    const p = Math.exp(bBase[k]);
    const da = aWith[k] - aBase[k];
    const db = bWith[k] - bBase[k];
    if (!Number.isFinite(da) || !Number.isFinite(db)) continue;
    num += p * (da - db) ** 2;
    den += p * db * db;
  }
  return Math.sqrt(num / den);
}
/** mean and max over positions of KL(P ‖ Q) = Σ p (log p − log q); terms with p = 0 are 0. */
function kl(logP, logQ) {
  let sum = 0;
  let max = 0;
  for (let k = 0; k < positions; ++k) {
    let d = 0;
    for (let j = 0; j < V; ++j) {
      const lp = logP[k * V + j];
      if (lp === -Infinity) continue;
      d += Math.exp(lp) * (lp - logQ[k * V + j]);
    }
    sum += d;
    max = Math.max(max, d);
  }
  return { mean: sum / positions, max };
}

// ---------- exports ----------
const results = { rows: [], comparisons: [], adapterEffect: [], tokenizer: null, exports: {} };
const failures = [];
const gguf = (name) => path.join(work, `${name}.gguf`);
function exported(name, opts) {
  const r = exportGguf(nt, { model: FIX, out: gguf(name), ...opts });
  results.exports[name] = { bytes: r.bytes, types: r.types, fileType: r.fileType, vocabulary: r.vocabulary, adapter: r.adapter ? { bytes: r.adapter.bytes, modules: r.adapter.modules, rank: r.adapter.rank } : null, notes: r.notes };
  return r;
}
function compare(label, llamaLogp, ntLogp) {
  const k = kl(llamaLogp, ntLogp);
  const row = { pair: label, meanKL: k.mean, maxKL: k.max, nllLlama: nllOf(llamaLogp), nllNtensor: nllOf(ntLogp), pass: k.mean <= KL_MAX };
  results.comparisons.push(row);
  if (!row.pass) failures.push(`${label}: mean KL ${k.mean.toExponential(3)} > ${KL_MAX}`);
  log(`  ${label}: mean KL ${k.mean.toExponential(3)} (max ${k.max.toExponential(3)}), NLL llama.cpp ${row.nllLlama.toFixed(5)} ntensor ${row.nllNtensor.toFixed(5)}`);
}
let f16Nll = null;
const pplRow = (name, what, logp) => {
  const per = nllPerPosition(logp);
  const nll = mean(per);
  if (name === 'f16') f16Nll = per;
  const vsF16 = pairedDelta(per, f16Nll);
  results.rows.push({ name, what, nll, ppl: Math.exp(nll), deltaNllVsF16: vsF16.mean, deltaNllVsF16StdErr: vsF16.se });
  log(`  ppl in llama.cpp, ${name}: ${Math.exp(nll).toFixed(4)}`);
};

log(`check:llamacpp: node-llama-cpp ${llamaVersion}, ${windows.length} windows × ${WINDOW} predictions, work dir ${work}`);

// ---------- byte-level BPE vocabularies tokenized by llama.cpp ----------
results.vocabularies = [];
{
  const TOK = path.join(root, 'fixtures', 'tokenizers');
  const lines = fs.readFileSync(path.join(TOK, 'texts.txt'), 'utf8').split('\n').slice(0, -1);
  const config = JSON.parse(fs.readFileSync(path.join(FIX, 'config.json'), 'utf8'));
  for (const family of ['gpt2', 'llama3', 'qwen2']) {
    const expected = JSON.parse(fs.readFileSync(path.join(TOK, family, 'expected.json'), 'utf8'));
    const n = Number(expected.vocab_size);
    const dir = path.join(work, `vocab-${family}`);
    fs.mkdirSync(dir);
    const tensors = nt.io.loadSafetensors(FIX);
    const embed = nt.randn([n, config.hidden_size], { seed: 5 });
    const head = nt.randn([n, config.hidden_size], { seed: 6 });
    nt.io.saveSafetensors(path.join(dir, 'model.safetensors'), { ...tensors, 'model.embed_tokens.weight': embed, 'lm_head.weight': head });
    [...Object.values(tensors), embed, head].forEach((t) => t.dispose());
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...config, vocab_size: n }));
    for (const f of ['tokenizer.json', 'tokenizer_config.json']) fs.copyFileSync(path.join(TOK, family, f), path.join(dir, f));
    const file = path.join(work, `vocab-${family}.gguf`);
    const r = exportGguf(nt, { model: dir, out: file, type: 'f16' });
    const model = await llama.loadModel({ modelPath: file, gpuLayers: 0, vocabOnly: true });
    const differ = [];
    lines.forEach((line, i) => {
      // special tokens in the text are parsed, as Python's encode does; node-llama-cpp's tokenize
      // never adds BOS (its evaluation does, per shouldPrependBosToken, compared below)
      const ids = model.tokenize(line, true);
      const want = expected.lines[i].ids_no_special;
      if (ids.length !== want.length || ids.some((t, k) => t !== want[k])) differ.push({ line: i, text: line.slice(0, 60), llamaCpp: ids.slice(0, 24), python: want.slice(0, 24) });
    });
    const bos = { llamaCpp: model.tokens.shouldPrependBosToken ? model.tokens.bos : null, python: expected.lines[0].ids.length > 0 ? expected.lines[0].ids[0] : null };
    await model.dispose();
    results.vocabularies.push({ family, vocabulary: r.vocabulary, tokens: n, lines: lines.length, linesEqualToPython: lines.length - differ.length, bosPrepended: bos, differ: differ.slice(0, 10) });
    if (bos.llamaCpp !== bos.python) log(`  vocabulary ${family}: BOS differs: llama.cpp ${bos.llamaCpp}, Python ${bos.python}`);
    log(`  vocabulary ${family}: llama.cpp tokenizes ${lines.length - differ.length}/${lines.length} lines of texts.txt as Python tokenizers do`);
  }
  if (process.argv.includes('--vocab-only')) {
    fs.mkdirSync(path.dirname(OUT), { recursive: true });
    fs.writeFileSync(OUT, JSON.stringify({ what: 'byte-level BPE tokenizer.json vocabularies exported by ntensor export and tokenized by llama.cpp (node-llama-cpp, vocabOnly) vs Python tokenizers', date: new Date().toISOString(), nodeLlamaCpp: llamaVersion, vocabularies: results.vocabularies }, null, 1) + '\n');
    fs.rmSync(work, { recursive: true, force: true });
    log(`wrote ${OUT}`);
    process.exit(0);
  }
}

// f16
exported('f16', { type: 'f16' });
let f16Llama;
let f16Nt;
{
  const l = await llamaLogProbs(gguf('f16'));
  f16Llama = l.logp;
  results.tokenizer = l.tokenizer;
  if (!l.tokenizer.tokensAreBytes || !l.tokenizer.detokenizeExact) failures.push(`tokenizer: ${JSON.stringify(l.tokenizer)}`);
  const m = nt.model.load(FIX, { dtype: 'f32' });
  f16Nt = ntLogProbs(m);
  compare('f16 export vs ntensor f32', l.logp, f16Nt);
  m.dispose();
  pplRow('f16', 'ntensor export --type f16 (token_embd/output F16, norms F32)', l.logp);
}

// (a) ggml RTN Q4_0
exported('rtn-q4_0', { type: 'q4_0' });
{
  const l = await llamaLogProbs(gguf('rtn-q4_0'));
  const m = nt.model.load(FIX, { dtype: 'f32' });
  for (const name of m.linears()) {
    const lin = m.getLinear(name);
    if (lin.inFeatures % 32 !== 0) continue; // stays F16 in the file, dense f16 values here
    const w = lin.weight;
    const blocks = quantizeQ4_0(name, w.data);
    m.setLinear(name, new nt.model.QuantLinear(qtensorFromQ4_0(blocks, w.shape[0], w.shape[1]))).dispose();
  }
  compare('RTN Q4_0 export vs ntensor on the same Q4_0 blocks (int4 g32 QTensors)', l.logp, ntLogProbs(m));
  m.dispose();
  pplRow('(a) RTN Q4_0', 'ggml reference RTN (byte-identical to gguf-py), ffn_down F16 (688 columns: no 32-block fits, as llama-quantize falls back)', l.logp);
}

/** compressModel + saveCompressed into a folder; returns its report. */
function compressTo(dir, opts) {
  const m = nt.model.load(FIX, { dtype: 'f32' });
  try {
    const report = nt.llm.compressModel(m, { bits: 4, groupSize: 32, symmetric: true, calibration, ...opts });
    nt.llm.saveCompressed(m, dir);
    return report;
  } finally {
    m.dispose();
  }
}

// (a') ntensor RTN int4 g32 symmetric
{
  const dir = path.join(work, 'nt-rtn');
  compressTo(dir, { quantizer: 'rtn', method: 'none' });
  exported('nt-rtn', { compressed: dir, type: 'f16' });
  const l = await llamaLogProbs(gguf('nt-rtn'));
  const m = nt.model.load(dir);
  compare('ntensor RTN int4 g32 sym export vs ntensor', l.logp, ntLogProbs(m));
  m.dispose();
  pplRow("(a') ntensor RTN Q4_0", 'ntensor RTN int4 g32 symmetric (scale max|w|-based), written as Q4_0; ffn_down F32 (dequantized int4)', l.logp);
}

// (b) GPTQ and (c) GPTQ + EoRA, per rank
for (const rank of RANKS) {
  const dir = path.join(work, `gptq-eora-r${rank}`);
  const rep = compressTo(dir, { quantizer: 'gptq', method: 'eora', rank });
  const name = `gptq-r${rank}`;
  const r = exported(name, { compressed: dir, type: 'f16' });
  const base = await llamaLogProbs(gguf(name));
  const withLora = await llamaLogProbs(gguf(name), r.adapter.file);
  const m = nt.model.load(dir);
  const ntBase = ntLogProbs(m);
  nt.llm.applyAdapter(m, path.join(dir, 'adapter'));
  const ntLora = ntLogProbs(m);
  m.dispose();
  compare(`GPTQ Q4_0 export (EoRA r${rank} run, adapter off) vs ntensor`, base.logp, ntBase);
  compare(`GPTQ Q4_0 + EoRA r${rank} LoRA GGUF vs ntensor + adapter`, withLora.logp, ntLora);
  // the adapter's effect on the f16 base, where the two engines agree to KL ~1e-6
  const f16Lora = await llamaLogProbs(gguf('f16'), r.adapter.file);
  const mf = nt.model.load(FIX, { dtype: 'f32' });
  nt.llm.applyAdapter(mf, path.join(dir, 'adapter'));
  const ntF16Lora = ntLogProbs(mf);
  mf.dispose();
  compare(`f16 export + EoRA r${rank} LoRA GGUF vs ntensor f32 + adapter`, f16Lora.logp, ntF16Lora);
  const effect = (aWith, aBase, bWith, bBase) => ({
    deltaNllLlama: nllOf(aWith) - nllOf(aBase),
    deltaNllNtensor: nllOf(bWith) - nllOf(bBase),
    klAdapterVsBaseLlama: kl(aWith, aBase).mean,
    klAdapterVsBaseNtensor: kl(bWith, bBase).mean,
    relativeEffectDifference: effectDifference(aWith, aBase, bWith, bBase),
  });
  const onF16 = effect(f16Lora.logp, f16Llama, ntF16Lora, f16Nt);
  const onQ4 = effect(withLora.logp, base.logp, ntLora, ntBase);
  const ok = onF16.relativeEffectDifference <= 0.05 && Math.abs(onF16.deltaNllLlama - onF16.deltaNllNtensor) <= 0.05 * Math.abs(onF16.deltaNllNtensor) + 1e-4;
  results.adapterEffect.push({ rank, onF16Base: onF16, onQ4_0Base: onQ4, pass: ok });
  if (!ok) failures.push(`adapter r${rank} on the f16 base: ${JSON.stringify(onF16)}`);
  for (const [where, e] of [['f16 base', onF16], ['Q4_0 base', onQ4]])
    log(`  adapter r${rank} on the ${where}: ΔNLL llama.cpp ${e.deltaNllLlama.toFixed(6)} ntensor ${e.deltaNllNtensor.toFixed(6)}; KL(adapter ‖ base) ${e.klAdapterVsBaseLlama.toExponential(3)} vs ${e.klAdapterVsBaseNtensor.toExponential(3)}; Δlog p differ by ${(100 * e.relativeEffectDifference).toFixed(2)}%`);
  // each rank's run calibrates later layers on the earlier layers' adapters, so its base differs slightly
  pplRow(`(b) GPTQ Q4_0 (r${rank} run)`, `ntensor GPTQ int4 g32 symmetric (the EoRA r${rank} run, adapter off), written as Q4_0; ffn_down F32 (dequantized int4)`, base.logp);
  pplRow(`(c) GPTQ Q4_0 + EoRA r${rank}`, `(b)'s run with its EoRA adapter (rank ${rank}) as a llama.cpp LoRA GGUF; mean activation error ${(100 * rep.layers.reduce((a, x) => a + x.relativeCompressed, 0) / rep.layers.length).toFixed(2)}% -> ${(100 * rep.layers.reduce((a, x) => a + x.relativeCompensated, 0) / rep.layers.length).toFixed(2)}%`, withLora.logp);
}

// the share of an RTN row's gap to f16 that each row closes: vs (a) ggml's RTN (whose ffn_down
// stays F16) and vs (a') ntensor's RTN (ffn_down quantized, as in (b) and (c))
const f16 = results.rows.find((r) => r.name === 'f16').ppl;
for (const [key, ref] of [['gapClosedVsA', '(a) RTN Q4_0'], ['gapClosedVsA2', "(a') ntensor RTN Q4_0"]]) {
  const rtn = results.rows.find((r) => r.name === ref).ppl;
  for (const r of results.rows) r[key] = r.name === 'f16' || r.name === ref ? null : (rtn - r.ppl) / (rtn - f16);
}

const report = {
  what: 'ntensor GGUF exports of fixtures/tinyllama-fortunes run in llama.cpp (node-llama-cpp, CPU) vs ntensor on the same weights',
  date: new Date().toISOString(),
  llamaCpp: { nodeLlamaCpp: llamaVersion, buildType: llama.buildType, gpu: llama.gpu },
  machine: { cpu: os.cpus()[0]?.model, cores: os.cpus().length, loadAverageStart: load0, loadAverageEnd: os.loadavg() },
  protocol: {
    text: `first ${EVAL_BYTES} bytes of fixtures/tinyllama-fortunes/heldout.txt, ${windows.length} non-overlapping windows of ${WINDOW + 1} bytes, each predicting its last ${WINDOW} (${positions} predictions)`,
    calibration: `${CALIB_TOKENS} bytes of heldout.txt from offset ${calibStart} (no overlap with the evaluation text)`,
    kl: 'mean over positions of KL(P_llama.cpp ‖ P_ntensor) over the 256-token vocabulary; llama.cpp probabilities from controlledEvaluate (temperature 0: the full softmax of the logits)',
    thresholds: { meanKL: KL_MAX, adapterDeltaNll: '|Δ llama.cpp − Δ ntensor| ≤ 2% of Δ + 1e-3' },
    threads: THREADS,
  },
  ...results,
  failures,
  pass: failures.length === 0,
  seconds: (Date.now() - started) / 1000,
};
fs.mkdirSync(path.dirname(OUT), { recursive: true });
fs.writeFileSync(OUT, JSON.stringify(report, null, 1) + '\n');
fs.rmSync(work, { recursive: true, force: true });
const pct = (v) => (v === null ? '-' : `${(100 * v).toFixed(0)}%`);
log(`\n| model in llama.cpp | ppl | ΔNLL vs f16 (nats/byte, ± s.e.) | gap closed vs (a) | vs (a') |\n|---|---|---|---|---|`);
for (const r of results.rows) log(`| ${r.name} | ${r.ppl.toFixed(4)} | ${r.name === 'f16' ? '-' : `${r.deltaNllVsF16.toExponential(2)} ± ${r.deltaNllVsF16StdErr.toExponential(1)}`} | ${pct(r.gapClosedVsA)} | ${pct(r.gapClosedVsA2)} |`);
log(`\n${failures.length === 0 ? 'PASS' : `FAIL:\n  ${failures.join('\n  ')}`}; wrote ${OUT}`);
process.exitCode = failures.length === 0 ? 0 : 1;
