// `ntensor generate`: continue a prompt with a LLaMA-family model, greedy by default or
// sampled with --temperature/--top-k/--seed; incremental decoding. The prompt is text
// (--prompt, or --text FILE) tokenized with the model's tokenizer, or token ids (--ids FILE);
// --chat writes it as a user turn through the model's chat template and prints the reply.
import type { Command } from 'commander';
import type { CliContext } from './context';
import {
  ModelLoadFlags,
  UsageError,
  addModelLoadOptions,
  addTokenOptions,
  checkIdsInVocab,
  defaultModelDir,
  intOption,
  numberOption,
  loadModelWith,
  modelLoadChoice,
  readFileOrFail,
  readTokens,
} from './model-args';

interface GenerateCliOptions extends ModelLoadFlags {
  model?: string;
  prompt?: string;
  text?: string;
  ids?: string;
  chat?: boolean;
  system?: string;
  maxNew?: string;
  temperature?: string;
  topK?: string;
  seed?: string;
  json?: boolean;
}

export function registerGenerate(program: Command, ctx: CliContext): void {
  const cmd = addModelLoadOptions(program.command('generate'))
    .description('continue a prompt with a LLaMA-family model (greedy, or sampled with --temperature); --chat answers it through the chat template')
    .option('--model <dir>', 'Hugging Face model folder (default: the bundled fixtures/tinyllama-fortunes)')
    .option('--prompt <text>', 'the text to continue (or the user message with --chat)');
  addTokenOptions(cmd, 'the prompt from a file')
    .option('--chat', "write the prompt as a user turn with the model's chat template (tokenizer_config.json) and print the reply")
    .option('--system <text>', 'a system message before the user turn (with --chat)')
    .option('--max-new <n>', 'tokens to generate', '64')
    .option('--temperature <t>', '0 = greedy (default); > 0 samples from softmax(logits / t)', '0')
    .option('--top-k <k>', 'sample among the k most likely tokens only')
    .option('--seed <s>', 'seed of the sampler (same seed, same text)', '0')
    .option('--json', 'print prompt, generated text, token ids and timing as JSON')
    .action((opts: GenerateCliOptions) => {
      try {
        const given = [opts.prompt, opts.text, opts.ids].filter((v) => v !== undefined).length;
        if (given !== 1) throw new UsageError('give exactly one of --prompt TEXT, --text FILE or --ids FILE');
        if (opts.chat && opts.ids !== undefined) throw new UsageError('--chat takes the user message as text (--prompt or --text), not ids');
        if (opts.system !== undefined && !opts.chat) throw new UsageError('--system is the system message of --chat');
        const maxNewTokens = intOption('--max-new', opts.maxNew, 0)!;
        const temperature = numberOption('--temperature', opts.temperature, 0)!;
        const topK = intOption('--top-k', opts.topK, 1);
        const seed = intOption('--seed', opts.seed, -(2 ** 31))!;
        const nt = ctx.library('generate');
        if (!nt) return;
        const dir = opts.model ?? defaultModelDir();
        const model = loadModelWith(nt, dir, modelLoadChoice(opts));
        try {
          const vocabSize = model.config.vocabSize;
          const tokenizer = model.tokenizer;
          let promptText: string | undefined = opts.prompt;
          let prompt: Int32Array;
          if (opts.ids !== undefined) prompt = readTokens(nt, { ids: opts.ids }, { dir, vocabSize, tokenizer });
          else {
            promptText ??= readFileOrFail(opts.text!).toString('utf8');
            if (tokenizer === null)
              throw Object.assign(new Error(`${dir} has no tokenizer.json and its vocabulary has ${vocabSize} tokens (not the 256-token byte vocabulary): pass token ids (--ids FILE)`), {
                code: 'NT_VALUE',
              });
            if (tokenizer.vocabSize > vocabSize)
              throw Object.assign(new Error(`the tokenizer of ${dir} has ${tokenizer.vocabSize} tokens but the model's embedding ${vocabSize}`), { code: 'NT_VALUE' });
            if (opts.chat) {
              const messages = [...(opts.system !== undefined ? [{ role: 'system', content: opts.system }] : []), { role: 'user', content: promptText }];
              prompt = tokenizer.encodeChat(messages, { addGenerationPrompt: true });
            } else prompt = tokenizer.encode(promptText);
            checkIdsInVocab(prompt, vocabSize, 'the prompt');
          }
          const start = Date.now();
          // generation_config.json's EOS list (Llama 3's <|eot_id|>, Qwen2's <|im_end|>) ends the turn
          const eos = tokenizer !== null && tokenizer.eosTokenIds.length > 0 ? tokenizer.eosTokenIds : model.config.eosTokenIds;
          const generated = model.generate(prompt, { maxNewTokens, temperature, topK, seed, stopTokenIds: eos });
          const seconds = (Date.now() - start) / 1000;
          const stop = generated.findIndex((id) => eos.includes(id));
          const ids = stop < 0 ? generated : generated.slice(0, stop);
          const text = tokenizer === null ? null : tokenizer.decode(ids, { skipSpecialTokens: opts.chat === true });
          if (opts.json)
            ctx.out(
              JSON.stringify(
                { model: dir, prompt: promptText ?? null, chat: opts.chat === true, promptTokens: prompt.length, text, ids, stoppedAtEos: stop >= 0, temperature, topK: topK ?? null, seed, seconds },
                null,
                2,
              ) + '\n',
            );
          else {
            if (text === null) ctx.output.err(ctx.st.dim(`${dir} has no tokenizer: printing token ids\n`));
            const shown = text ?? ids.join(' ');
            ctx.out(opts.chat || promptText === undefined ? `${shown}\n` : `${ctx.st.dim(promptText)}${shown}\n`);
            ctx.output.err(
              ctx.st.dim(`${generated.length} tokens in ${seconds.toFixed(2)} s (${(generated.length / Math.max(seconds, 1e-9)).toFixed(1)} tokens/s)${stop >= 0 ? ', stopped at EOS' : ''}\n`),
            );
          }
        } finally {
          model.dispose();
        }
      } catch (e) {
        ctx.failWith('generate', e);
      }
    });
}
