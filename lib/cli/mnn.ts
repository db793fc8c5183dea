// `ntensor mnn`: the Matrix Nuclear-Norm of a model's final hidden states on a text, beside the
// exact nuclear norm of the same (centred, row-normalised) matrix, with the time of each.
import type { Command } from 'commander';
import type { CliContext } from './context';
import { keyValues } from './format';
import { UsageError, addTokenOptions, defaultModelDir, intOption, readTokens } from './model-args';

interface MnnCliOptions {
  model?: string;
  text?: string;
  ids?: string;
  tokens?: string;
  json?: boolean;
}

export interface MnnReport {
  model: string;
  text: string;
  tokens: number;
  hiddenSize: number;
  mnn: number;
  nuclearNorm: number;
  /** (mnn − nuclearNorm) / nuclearNorm. */
  relativeDifference: number;
  mnnSeconds: number;
  nuclearSeconds: number;
  speedup: number;
}

function seconds(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e9;
}

export function registerMnn(program: Command, ctx: CliContext): void {
  const cmd = program
    .command('mnn')
    .description("Matrix Nuclear-Norm of a model's final hidden states on a text, vs the exact nuclear norm (SVD), with timings")
    .option('--model <dir>', 'Hugging Face model folder (default: the bundled fixtures/tinyllama-fortunes)');
  addTokenOptions(cmd, 'the text whose hidden states are measured')
    .option('--tokens <n>', 'use the first n tokens (default: min(file, max_position_embeddings))')
    .option('--json', 'print the result as JSON')
    .action((opts: MnnCliOptions) => {
      try {
        if ((opts.text === undefined) === (opts.ids === undefined)) throw new UsageError('give exactly one of --text FILE or --ids FILE');
        const limit = intOption('--tokens', opts.tokens, 1);
        const nt = ctx.library('mnn');
        if (!nt) return;
        const dir = opts.model ?? defaultModelDir();
        const model = nt.model.load(dir);
        try {
          const source = (opts.text ?? opts.ids)!;
          let ids = readTokens(nt, opts, { dir, vocabSize: model.config.vocabSize });
          ids = ids.subarray(0, Math.min(limit ?? Infinity, model.config.maxPositionEmbeddings));
          if (ids.length === 0) throw new UsageError(`${source} is empty`);
          const hidden = model.hidden(ids);
          try {
            let t = process.hrtime.bigint();
            const mnn = nt.llm.mnn(hidden);
            const mnnSeconds = seconds(t);
            t = process.hrtime.bigint();
            const nuclear = nt.llm.nuclearNorm(hidden);
            const nuclearSeconds = seconds(t);
            const report: MnnReport = {
              model: dir,
              text: source,
              tokens: ids.length,
              hiddenSize: hidden.shape[1],
              mnn,
              nuclearNorm: nuclear,
              relativeDifference: (mnn - nuclear) / nuclear,
              mnnSeconds,
              nuclearSeconds,
              speedup: nuclearSeconds / Math.max(mnnSeconds, 1e-9),
            };
            if (opts.json) ctx.out(JSON.stringify(report, null, 2) + '\n');
            else
              ctx.out(
                keyValues(
                  [
                    ['model', report.model],
                    ['hidden states', `${report.tokens} tokens x ${report.hiddenSize} (final norm, centred, rows normalised)`],
                    ['MNN', `${ctx.st.bold(mnn.toFixed(6))}  (${(mnnSeconds * 1e3).toFixed(2)} ms)`],
                    ['nuclear norm / N', `${nuclear.toFixed(6)}  (${(nuclearSeconds * 1e3).toFixed(2)} ms, SVD)`],
                    ['difference', `${(report.relativeDifference * 100).toFixed(2)}%`],
                    ['speed-up', `${report.speedup.toFixed(1)}x`],
                  ],
                  ctx.st,
                ),
              );
          } finally {
            hidden.dispose();
          }
        } finally {
          model.dispose();
        }
      } catch (e) {
        ctx.failWith('mnn', e);
      }
    });
}
