// `ntensor ppl`: perplexity of a model on a text (its tokenizer) or a token-id file, over
// non-overlapping windows (see model.perplexity), with a progress bar on stderr.
import type { Command } from 'commander';
import type { CliContext } from './context';
import { keyValues } from './format';
import { ModelLoadFlags, addModelLoadOptions, addTokenOptions, defaultModelDir, intOption, loadModelWith, modelLoadChoice, readTokens } from './model-args';

interface PplOptions extends ModelLoadFlags {
  model?: string;
  adapter?: string;
  text?: string;
  ids?: string;
  window?: string;
  limit?: string;
  json?: boolean;
}

export interface PplReport {
  model: string;
  source: string;
  tokens: number;
  window: number;
  windows: number;
  nllPerToken: number;
  ppl: number;
  seconds: number;
  tokensPerSecond: number;
}

export function registerPpl(program: Command, ctx: CliContext): void {
  const cmd = addModelLoadOptions(program.command('ppl'))
    .description("perplexity of a LLaMA-family model on a text file (the model's tokenizer) or a token-id file, over non-overlapping windows")
    .option('--model <dir>', 'Hugging Face model folder (default: the bundled fixtures/tinyllama-fortunes)')
    .option('--adapter <dir>', 'a PEFT LoRA folder (e.g. the adapter written by ntensor compress) applied to the model');
  addTokenOptions(cmd, 'the text to score')
    .option('--window <n>', 'tokens predicted per window (default: min(max_position_embeddings - 1, 2048))')
    .option('--limit <n>', 'use only the first n tokens')
    .option('--json', 'print the result as JSON')
    .action((opts: PplOptions) => {
      try {
        if ((opts.text === undefined) === (opts.ids === undefined)) {
          ctx.fail('ppl', 'give exactly one of --text FILE or --ids FILE', 'NT_VALUE');
          return;
        }
        const window = intOption('--window', opts.window, 1);
        const limit = intOption('--limit', opts.limit, 2);
        const nt = ctx.library('ppl');
        if (!nt) return;
        const dir = opts.model ?? defaultModelDir();
        const model = loadModelWith(nt, dir, modelLoadChoice(opts));
        try {
          if (opts.adapter !== undefined) nt.llm.applyAdapter(model, opts.adapter);
          let ids = readTokens(nt, opts, { dir, vocabSize: model.config.vocabSize });
          if (limit !== undefined) ids = ids.subarray(0, limit);
          const start = Date.now();
          let bar: ReturnType<CliContext['progress']> | undefined;
          const r = model.perplexity(ids, {
            window,
            onProgress: (done, total) => {
              bar ??= ctx.progress('perplexity', total);
              bar.tick(1);
            },
          });
          bar?.done();
          const seconds = (Date.now() - start) / 1000;
          const w = window ?? Math.min(model.config.maxPositionEmbeddings - 1, 2048);
          const report: PplReport = {
            model: dir,
            source: (opts.text ?? opts.ids)!,
            tokens: r.tokens,
            window: w,
            windows: Math.ceil(r.tokens / w),
            nllPerToken: r.nllPerToken,
            ppl: r.ppl,
            seconds,
            tokensPerSecond: r.tokens / Math.max(seconds, 1e-9),
          };
          if (opts.json) ctx.out(JSON.stringify(report, null, 2) + '\n');
          else
            ctx.out(
              keyValues(
                [
                  ['model', report.model + (opts.adapter ? ` + adapter ${opts.adapter}` : '')],
                  ['tokens', `${report.tokens} predicted (${report.windows} window${report.windows > 1 ? 's' : ''} of ${report.window})`],
                  ['nll/token', report.nllPerToken.toFixed(6)],
                  ['perplexity', ctx.st.bold(report.ppl.toFixed(4))],
                  ['time', `${report.seconds.toFixed(2)} s (${report.tokensPerSecond.toFixed(0)} tokens/s)`],
                ],
                ctx.st,
              ),
            );
        } finally {
          model.dispose();
        }
      } catch (e) {
        ctx.failWith('ppl', e);
      }
    });
}
