// `ntensor demo` (the README's main command): on the bundled fixture model by default, compress
// to int4 (RTN, group 128) and win the accuracy back with low-rank corrections, then print
// held-out perplexity for f32, int4, int4 + svd and int4 + EoRA at several ranks, and 2:4 + int4
// with and without EoRA, with timings, and write an SVG plot of perplexity vs rank.
import * as fs from 'fs';
import * as path from 'path';
import type { Command } from 'commander';
import type { CompressOptions } from '../llm/compress';
import type { CliContext } from './context';
import { keyValues, table } from './format';
import { UsageError, defaultModelDir, intListOption, intOption, readTokens } from './model-args';
import { lineChartSvg } from './plot';

interface DemoCliOptions {
  model?: string;
  text?: string;
  ids?: string;
  ranks?: string;
  bits: string;
  calibTokens?: string;
  evalTokens?: string;
  out: string;
  json?: boolean;
}

export interface DemoRow {
  label: string;
  method: string;
  rank: number | null;
  ppl: number;
  /** Mean relative activation error of the linears on the calibration data (null for f32). */
  error: number | null;
  compressSeconds: number;
  evalSeconds: number;
}

/** Evaluation text starts at the beginning of the held-out file; calibration from its middle, so they never overlap. */
const CALIBRATION_OFFSET_FRACTION = 0.5;
const WINDOW = 256;

export function registerDemo(program: Command, ctx: CliContext): void {
  program
    .command('demo')
    .description('int4 + EoRA on the bundled model: held-out perplexity for f32, int4, int4+svd and int4+EoRA at several ranks, 2:4+int4; an SVG plot')
    .option('--model <dir>', 'Hugging Face model folder with a 256-byte vocabulary (default: the bundled fixtures/tinyllama-fortunes)')
    .option('--text <file>', "held-out text, tokenized with the model's tokenizer (default: heldout.txt of the model folder)")
    .option('--ids <file>', 'held-out text as token ids instead: a .npy (int32/int64) or .json array')
    .option('--ranks <list>', 'adapter ranks', '8,16,32,64')
    .option('--bits <n>', 'quantization bits: 3 or 4', '4')
    .option('--calib-tokens <n>', 'calibration tokens (default 4096)')
    .option('--eval-tokens <n>', 'evaluation tokens (default 4096)')
    .option('--out <dir>', 'where the plot and the JSON results go', 'ntensor-demo')
    .option('--json', 'print the rows as JSON')
    .action(async (o: DemoCliOptions) => {
      try {
        const ranks = intListOption('--ranks', o.ranks, 1)!;
        if (o.bits !== '3' && o.bits !== '4') throw new UsageError(`--bits must be 3 or 4, got '${o.bits}'`);
        const bits = Number(o.bits) as 3 | 4;
        const q = `int${bits}`;
        const calibTokens = intOption('--calib-tokens', o.calibTokens, 1) ?? 4096;
        const evalTokens = intOption('--eval-tokens', o.evalTokens, 2) ?? 4096;
        const nt = ctx.library('demo');
        if (!nt) return;
        const dir = o.model ?? defaultModelDir();
        if (o.text !== undefined && o.ids !== undefined) throw new UsageError('give exactly one of --text FILE or --ids FILE');
        const textFile = o.ids ?? o.text ?? path.join(dir, 'heldout.txt');
        if (!fs.existsSync(textFile)) throw new UsageError(`${textFile} not found: give --text FILE or --ids FILE`);
        const probe = nt.model.load(dir);
        let tokens: Int32Array;
        try {
          tokens = readTokens(nt, o.ids !== undefined ? { ids: o.ids } : { text: textFile }, { dir, vocabSize: probe.config.vocabSize });
        } catch (e) {
          probe.dispose();
          throw e;
        }
        const start = Math.floor(tokens.length * CALIBRATION_OFFSET_FRACTION);
        if (tokens.length < evalTokens || start + calibTokens > tokens.length) {
          probe.dispose();
          throw new UsageError(`${textFile} has ${tokens.length} tokens: too few for ${evalTokens} evaluation tokens and ${calibTokens} calibration tokens from its middle`);
        }
        const evaluation = tokens.subarray(0, evalTokens);
        const calibration = tokens.subarray(start, start + calibTokens);
        const configs: { label: string; opts: CompressOptions | null; rank: number | null }[] = [
          { label: 'f32', opts: null, rank: null },
          { label: q, opts: { method: 'none' }, rank: null },
          ...ranks.map((r) => ({ label: `${q} + svd`, opts: { method: 'svd' as const, rank: r }, rank: r })),
          ...ranks.map((r) => ({ label: `${q} + EoRA`, opts: { method: 'eora' as const, rank: r }, rank: r })),
          { label: `2:4 + ${q}`, opts: { method: 'none', sparsity: '2:4' }, rank: null },
          { label: `2:4 + ${q} + EoRA`, opts: { method: 'eora', sparsity: '2:4', rank: Math.max(...ranks) }, rank: Math.max(...ranks) },
        ];
        const rows: DemoRow[] = [];
        const bar = ctx.progress('demo', configs.length);
        try {
          for (const c of configs) {
            const model = rows.length === 0 ? probe : nt.model.load(dir);
            try {
              let compressSeconds = 0;
              let error: number | null = null;
              if (c.opts) {
                const t = Date.now();
                // measureErrors: the table's "mean layer error" column
                const report = nt.llm.compressModel(model, { bits, groupSize: 128, quantizer: 'rtn', calibration, measureErrors: true, ...c.opts });
                compressSeconds = (Date.now() - t) / 1000;
                error = report.layers.reduce((a, l) => a + l.relativeCompensated, 0) / report.layers.length;
              }
              const t = Date.now();
              const ppl = model.perplexity(evaluation, { window: WINDOW }).ppl;
              rows.push({ label: c.label, method: c.opts?.method ?? 'f32', rank: c.rank, ppl, error, compressSeconds, evalSeconds: (Date.now() - t) / 1000 });
            } finally {
              model.dispose();
            }
            bar.tick(1, c.label + (c.rank ? ` r${c.rank}` : ''));
          }
        } finally {
          bar.done();
        }
        fs.mkdirSync(o.out, { recursive: true });
        const base = rows[0].ppl;
        const int4 = rows[1].ppl; // the quantized model without adapters
        const minRank = Math.min(...ranks);
        const maxRank = Math.max(...ranks);
        const series = (method: string, name: string) => ({ name, points: rows.filter((r) => r.method === method && r.label.startsWith(q)).map((r) => [r.rank!, r.ppl] as [number, number]) });
        const svg = await lineChartSvg({
          title: `Held-out perplexity vs adapter rank (${path.basename(dir)}, ${q} RTN g128)`,
          xLabel: 'adapter rank',
          yLabel: 'perplexity',
          logX: true,
          series: [
            series('eora', `${q} + EoRA`),
            series('svd', `${q} + svd`),
            { name: q, points: [[minRank, int4], [maxRank, int4]] },
            { name: 'f32', points: [[minRank, base], [maxRank, base]] },
          ],
        });
        const svgFile = path.join(o.out, 'ppl-vs-rank.svg');
        fs.writeFileSync(svgFile, svg);
        const jsonFile = path.join(o.out, 'demo.json');
        fs.writeFileSync(jsonFile, JSON.stringify({ model: dir, text: textFile, bits, groupSize: 128, quantizer: 'rtn', evalTokens, calibTokens, window: WINDOW, rows }, null, 2) + '\n');
        if (o.json) {
          ctx.out(JSON.stringify(rows, null, 2) + '\n');
          return;
        }
        ctx.out(
          table(
            [
              { header: 'model' },
              { header: 'rank', align: 'right' },
              { header: 'perplexity', align: 'right' },
              { header: 'Δ vs f32', align: 'right' },
              { header: `${q} gap closed`, align: 'right' },
              { header: 'layer error', align: 'right' },
              { header: 'compress', align: 'right' },
              { header: 'eval', align: 'right' },
            ],
            rows.map((r) => [
              r.label,
              r.rank === null ? '' : String(r.rank),
              r.ppl.toFixed(4),
              r.method === 'f32' ? '' : `${(100 * (r.ppl / base - 1)).toFixed(2)}%`,
              r.label.startsWith(`${q} +`) && int4 > base ? `${((100 * (int4 - r.ppl)) / (int4 - base)).toFixed(0)}%` : '',
              r.error === null ? '' : `${(100 * r.error).toFixed(2)}%`,
              r.compressSeconds ? `${r.compressSeconds.toFixed(1)} s` : '',
              `${r.evalSeconds.toFixed(1)} s`,
            ]),
            ctx.st,
          ),
        );
        ctx.out(
          '\n' +
            keyValues(
              [
                ['model', dir],
                ['evaluation', `first ${evaluation.length} tokens of ${textFile} (windows of ${WINDOW})`],
                ['calibration', `${calibration.length} tokens from offset ${start} (no overlap)`],
                ['plot', svgFile],
                ['results', jsonFile],
              ],
              ctx.st,
            ),
        );
      } catch (e) {
        ctx.failWith('demo', e);
      }
    });
}
