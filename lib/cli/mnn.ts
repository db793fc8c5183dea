// `ntensor mnn`: the Matrix Nuclear-Norm of a model's final hidden states on a text, beside the
// exact nuclear norm of the same (centred, row-normalised) matrix, with the time of each.
import * as fs from 'fs';
import type { Command } from 'commander';
import type { CliContext } from './context';
import { keyValues } from './format';
import { UsageError, defaultModelDir, intOption } from './model-args';

interface MnnCliOptions {
  model?: string;
  text?: string;
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

/** Reads a text file as byte tokens (NT_IO when missing). */
export function readTextTokens(file: string): Int32Array {
  let text: Buffer;
  try {
    text = fs.readFileSync(file);
  } catch (e) {
    throw Object.assign(new Error(`${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`), { code: 'NT_IO' });
  }
  return Int32Array.from(text);
}

export function registerMnn(program: Command, ctx: CliContext): void {
  program
    .command('mnn')
    .description("Matrix Nuclear-Norm of a model's final hidden states on a text, vs the exact nuclear norm (SVD), with timings")
    .option('--model <dir>', 'Hugging Face model folder (default: the bundled fixtures/tinyllama-fortunes)')
    .requiredOption('--text <file>', 'text file, tokenized as UTF-8 bytes')
    .option('--tokens <n>', 'use the first n tokens (default: min(file, max_position_embeddings))')
    .option('--json', 'print the result as JSON')
    .action((opts: MnnCliOptions) => {
      try {
        const limit = intOption('--tokens', opts.tokens, 1);
        const nt = ctx.library('mnn');
        if (!nt) return;
        const dir = opts.model ?? defaultModelDir();
        const model = nt.model.load(dir);
        try {
          if (model.config.vocabSize !== 256) throw new UsageError(`the model's vocabulary has ${model.config.vocabSize} tokens; --text tokenizes bytes (256)`);
          let ids = readTextTokens(opts.text!);
          ids = ids.subarray(0, Math.min(limit ?? Infinity, model.config.maxPositionEmbeddings));
          if (ids.length === 0) throw new UsageError(`${opts.text} is empty`);
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
              text: opts.text!,
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
