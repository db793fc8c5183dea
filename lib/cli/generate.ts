// `ntensor generate`: continue a prompt with a LLaMA-family model (byte-level vocabulary),
// greedy by default or sampled with --temperature/--top-k/--seed; incremental decoding.
import type { Command } from 'commander';
import type { CliContext } from './context';
import { ModelLoadFlags, addModelLoadOptions, defaultModelDir, intOption, numberOption, loadModelWith, modelLoadChoice } from './model-args';

interface GenerateCliOptions extends ModelLoadFlags {
  model?: string;
  prompt?: string;
  maxNew?: string;
  temperature?: string;
  topK?: string;
  seed?: string;
  json?: boolean;
}

export function registerGenerate(program: Command, ctx: CliContext): void {
  addModelLoadOptions(program.command('generate'))
    .description('continue a prompt with a LLaMA-family model of 256-byte vocabulary (greedy, or sampled with --temperature)')
    .option('--model <dir>', 'Hugging Face model folder (default: the bundled fixtures/tinyllama-fortunes)')
    .requiredOption('--prompt <text>', 'the text to continue')
    .option('--max-new <n>', 'tokens to generate', '64')
    .option('--temperature <t>', '0 = greedy (default); > 0 samples from softmax(logits / t)', '0')
    .option('--top-k <k>', 'sample among the k most likely tokens only')
    .option('--seed <s>', 'seed of the sampler (same seed, same text)', '0')
    .option('--json', 'print prompt, generated text, token ids and timing as JSON')
    .action((opts: GenerateCliOptions) => {
      try {
        const maxNewTokens = intOption('--max-new', opts.maxNew, 0)!;
        const temperature = numberOption('--temperature', opts.temperature, 0)!;
        const topK = intOption('--top-k', opts.topK, 1);
        const seed = intOption('--seed', opts.seed, -(2 ** 31))!;
        const nt = ctx.library('generate');
        if (!nt) return;
        const dir = opts.model ?? defaultModelDir();
        const model = loadModelWith(nt, dir, modelLoadChoice(opts));
        try {
          if (model.config.vocabSize !== 256)
            throw Object.assign(new Error(`the model's vocabulary has ${model.config.vocabSize} tokens; generate tokenizes the prompt as bytes (256)`), { code: 'NT_UNSUPPORTED' });
          const prompt = nt.model.encodeBytes(opts.prompt!);
          const start = Date.now();
          const ids = model.generate(prompt, { maxNewTokens, temperature, topK, seed });
          const seconds = (Date.now() - start) / 1000;
          const text = nt.model.decodeBytes(ids);
          if (opts.json)
            ctx.out(JSON.stringify({ model: dir, prompt: opts.prompt, text, ids, temperature, topK: topK ?? null, seed, seconds }, null, 2) + '\n');
          else {
            ctx.out(`${ctx.st.dim(opts.prompt!)}${text}\n`);
            ctx.output.err(ctx.st.dim(`${ids.length} tokens in ${seconds.toFixed(2)} s (${(ids.length / Math.max(seconds, 1e-9)).toFixed(1)} tokens/s, prompt included)\n`));
          }
        } finally {
          model.dispose();
        }
      } catch (e) {
        ctx.failWith('generate', e);
      }
    });
}
