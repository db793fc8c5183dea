// The three compression modes on the two trained fixtures: perplexity of the
// compressed folder (compressCheckpoint → nt.model.load + its adapter) on the demo's split
// (evaluation = the first 4096 tokens of heldout.txt, calibration = 4096 tokens from its
// middle, windows of 256). Layer-sequential (the default) captures each layer's inputs once
// with its original weights, after the compressed layers before it (GPTQ's reference order);
// sequential (true-sequential) also after the linears before it in its own layer; parallel
// on the original model's activations (what makes shards independent).
//
//   npm run bench:compress-modes     → Markdown on stdout, bench/results/compress-modes-<date>.json
// Not part of `npm run bench` nor of `npm test`.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as nt from '../lib';
import { PACKAGE_ROOT } from '../lib/native/loader';
import { machineInfo, resultsDir } from './harness';

const CONFIGS: { label: string; opts: Omit<nt.llm.CompressCheckpointOptions, 'calibration'> }[] = [
  { label: 'int4 RTN g128 + EoRA r64', opts: { quantizer: 'rtn', rank: 64 } },
  { label: 'int4 GPTQ g128', opts: { quantizer: 'gptq', method: 'none' } },
  { label: 'int4 GPTQ g128 + EoRA r64', opts: { quantizer: 'gptq', rank: 64 } },
  { label: '2:4 SparseGPT + int4 RTN g128', opts: { sparsity: '2:4', quantizer: 'rtn', method: 'none' } },
];
const MODES = ['layer-sequential', 'sequential', 'parallel'] as const;

function main(): void {
  const rows: Record<string, unknown>[] = [];
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'ntensor-modes-'));
  const lines = [`| fixture | compression | f32 | ${MODES.join(' | ')} | spread |`, '|---|---|---:|---:|---:|---:|---:|'];
  try {
    for (const name of ['tinyllama-fortunes', 'tinyllama-fortunes-bpe']) {
      const dir = path.join(PACKAGE_ROOT, 'fixtures', name);
      const base = nt.model.load(dir);
      const tok = base.tokenizer;
      const text = fs.readFileSync(path.join(dir, 'heldout.txt'));
      const ids = tok ? tok.encode(text.toString('utf8'), { addSpecialTokens: false }) : Int32Array.from(text);
      const evaluation = ids.subarray(0, 4096);
      const start = Math.floor(ids.length / 2);
      const calibration = ids.subarray(start, start + 4096);
      const f32 = base.perplexity(evaluation, { window: 256 }).ppl;
      base.dispose();
      for (const c of CONFIGS) {
        const row: Record<string, unknown> = { fixture: name, compression: c.label, f32, evalTokens: evaluation.length, calibrationTokens: calibration.length };
        for (const mode of MODES) {
          const out = path.join(work, mode);
          const r = nt.llm.compressCheckpoint(dir, out, { ...c.opts, groupSize: 128, calibration, mode });
          const m = nt.model.load(out);
          if (fs.existsSync(path.join(out, 'adapter', 'adapter_config.json'))) nt.llm.applyAdapter(m, path.join(out, 'adapter'));
          row[mode] = m.perplexity(evaluation, { window: 256 }).ppl;
          row[`${mode}Seconds`] = r.report.seconds;
          m.dispose();
        }
        rows.push(row);
        const p = (x: unknown) => (x as number).toFixed(4);
        const ppl = MODES.map((m) => row[m] as number);
        const spread = 100 * (Math.max(...ppl) / Math.min(...ppl) - 1);
        lines.push(`| ${name} | ${c.label} | ${p(f32)} | ${ppl.map(p).join(' | ')} | ${spread.toFixed(3)}% |`);
      }
    }
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
  const markdown = lines.join('\n') + '\n';
  process.stdout.write(markdown);
  const file = path.join(resultsDir(), `compress-modes-${new Date().toISOString().slice(0, 10)}.json`);
  fs.writeFileSync(file, JSON.stringify({ suite: 'compress-modes', date: new Date().toISOString(), machine: machineInfo(), rows, markdown }, null, 2) + '\n');
  process.stderr.write(`wrote ${file}\n`);
}

if (require.main === module) main();
