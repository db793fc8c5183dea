// `ntensor attention-sweep`: how far delta attention (nt.attention.delta) can sparsify the model's
// attention. For each threshold θ the model runs with every layer's softmax attention replaced by
// delta attention (hooks.attention) over non-overlapping windows of the text; printed per θ:
// sparsity (skipped / total multiply-adds of the out-of-window scores), the attention-output error
// (‖delta − dense‖ / ‖dense‖ over every layer, dense computed from the same q, k, v) and the
// perplexity against the dense run.
import type { Command } from 'commander';
import type { Tensor } from '../tensor';
import type { CliContext } from './context';
import { keyValues, table } from './format';
import { UsageError, addTokenOptions, defaultModelDir, intOption, readTokens } from './model-args';

interface SweepOptions {
  model?: string;
  text?: string;
  ids?: string;
  thresholds?: string;
  window?: string;
  ctx?: string;
  limit?: string;
  json?: boolean;
}

export interface SweepRow {
  /** null: the dense (unmodified) model. */
  threshold: number | null;
  sparsity: number;
  attentionError: number;
  nllPerToken: number;
  ppl: number;
  seconds: number;
}

export interface SweepReport {
  model: string;
  text: string;
  tokens: number;
  context: number;
  window: number;
  rows: SweepRow[];
}

export function parseThresholds(v: string | undefined): number[] {
  if (v === undefined) return [0, 0.05, 0.1, 0.2, 0.5, 1, 2, 5];
  const parts = v.split(',').map((s) => s.trim());
  const out = parts.map(Number);
  if (parts.length === 0 || parts.some((s) => s === '') || out.some((x) => !Number.isFinite(x) || x < 0))
    throw new UsageError(`--thresholds must be a comma-separated list of numbers >= 0, got '${v}'`);
  return out;
}

function logSoftmaxNll(logits: Float32Array, vocab: number, row: number, target: number): number {
  let mx = -Infinity;
  for (let j = 0; j < vocab; ++j) mx = Math.max(mx, logits[row * vocab + j]);
  let s = 0;
  for (let j = 0; j < vocab; ++j) s += Math.exp(logits[row * vocab + j] - mx);
  return Math.log(s) + mx - logits[row * vocab + target];
}

export function registerAttentionSweep(program: Command, ctx: CliContext): void {
  const cmd = program
    .command('attention-sweep')
    .description('replace the model\'s softmax attention by delta attention and print sparsity vs attention-output error vs perplexity for a range of thresholds')
    .option('--model <dir>', 'Hugging Face model folder (default: the bundled fixtures/tinyllama-fortunes)');
  addTokenOptions(cmd, 'the text the sweep scores')
    .option('--thresholds <list>', 'comma-separated θ values (default 0,0.05,0.1,0.2,0.5,1,2,5)')
    .option('--window <n>', 'keys per query scored exactly by delta attention (default 64)')
    .option('--ctx <n>', 'tokens predicted per forward window (default min(max_position_embeddings - 1, 256))')
    .option('--limit <n>', 'use only the first n tokens (default 1025)')
    .option('--json', 'print the result as JSON')
    .action((opts: SweepOptions) => {
      try {
        if ((opts.text === undefined) === (opts.ids === undefined)) {
          ctx.fail('attention-sweep', 'give exactly one of --text FILE or --ids FILE', 'NT_VALUE');
          return;
        }
        const thresholds = parseThresholds(opts.thresholds);
        const window = intOption('--window', opts.window, 1) ?? 64;
        const limit = intOption('--limit', opts.limit, 2) ?? 1025;
        const ctxArg = intOption('--ctx', opts.ctx, 1);
        const nt = ctx.library('attention-sweep');
        if (!nt) return;
        const dir = opts.model ?? defaultModelDir();
        const model = nt.model.load(dir);
        try {
          const source = (opts.text ?? opts.ids)!;
          const ids = readTokens(nt, opts, { dir, vocabSize: model.config.vocabSize }).subarray(0, limit);
          if (ids.length < 2) throw Object.assign(new Error(`${source}: needs at least 2 tokens, has ${ids.length}`), { code: 'NT_VALUE' });
          const W = Math.min(ctxArg ?? 256, model.config.maxPositionEmbeddings - 1);
          const vocab = model.config.vocabSize;
          const starts: number[] = [];
          for (let s = 0; s + 1 < ids.length; s += W) starts.push(s);
          const bar = ctx.progress('attention-sweep', (thresholds.length + 1) * starts.length);
          const rows: SweepRow[] = [];
          for (const theta of [null, ...thresholds]) {
            const t0 = Date.now();
            let done = 0;
            let dense = 0;
            let errSq = 0;
            let refSq = 0;
            let nll = 0;
            let count = 0;
            const hooks =
              theta === null
                ? undefined
                : {
                    attention: (_layer: number, q: Tensor, k: Tensor, v: Tensor) => {
                      const r = nt.attention.delta(q, k, v, { window, threshold: theta });
                      done += r.done;
                      dense += r.dense;
                      const ref = nt.attention.dense(q, k, v);
                      const a = r.out.data as Float32Array;
                      const b = ref.data as Float32Array;
                      for (let i = 0; i < a.length; ++i) {
                        errSq += (a[i] - b[i]) ** 2;
                        refSq += b[i] ** 2;
                      }
                      ref.dispose();
                      return r.out;
                    },
                  };
            for (const s of starts) {
              const n = Math.min(W, ids.length - 1 - s);
              const logits = model.forward(ids.subarray(s, s + n), { hooks });
              try {
                const l = logits.data as Float32Array;
                for (let i = 0; i < n; ++i) nll += logSoftmaxNll(l, vocab, i, ids[s + i + 1]);
                count += n;
              } finally {
                logits.dispose();
              }
              bar.tick(1);
            }
            rows.push({
              threshold: theta,
              sparsity: dense > 0 ? 1 - done / dense : 0,
              attentionError: refSq > 0 ? Math.sqrt(errSq / refSq) : 0,
              nllPerToken: nll / count,
              ppl: Math.exp(nll / count),
              seconds: (Date.now() - t0) / 1000,
            });
          }
          bar.done();
          const report: SweepReport = { model: dir, text: source, tokens: ids.length - 1, context: W, window, rows };
          if (opts.json) {
            ctx.out(JSON.stringify(report, null, 2) + '\n');
            return;
          }
          const base = rows[0];
          ctx.out(
            keyValues(
              [
                ['model', dir],
                ['tokens', `${report.tokens} predicted, windows of ${W}`],
                ['delta window', `${window} keys scored exactly per query`],
              ],
              ctx.st,
            ) + '\n',
          );
          ctx.out(
            table(
              [
                { header: 'θ', align: 'right' },
                { header: 'sparsity', align: 'right' },
                { header: 'attn rel. error', align: 'right' },
                { header: 'perplexity', align: 'right' },
                { header: 'Δ ppl', align: 'right' },
                { header: 'time', align: 'right' },
              ],
              rows.map((r) => [
                r.threshold === null ? 'dense' : String(r.threshold),
                r.threshold === null ? '-' : `${(r.sparsity * 100).toFixed(1)}%`,
                r.threshold === null ? '-' : r.attentionError.toExponential(2),
                r.ppl.toFixed(4),
                r.threshold === null ? '-' : `${r.ppl - base.ppl >= 0 ? '+' : ''}${(r.ppl - base.ppl).toFixed(4)}`,
                `${r.seconds.toFixed(2)} s`,
              ]),
              ctx.st,
            ),
          );
          ctx.out('sparsity: skipped / total multiply-adds of the out-of-window QKᵀ scores; softmax and the V sum stay dense\n');
        } finally {
          model.dispose();
        }
      } catch (e) {
        ctx.failWith('attention-sweep', e);
      }
    });
}
