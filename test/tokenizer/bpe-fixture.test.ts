// The BPE fixture model (fixtures/tinyllama-fortunes-bpe: a Llama-3-style tokenizer.json
// trained on fortunes, and a model trained with it) through the CLI on a fresh checkout:
// `ntensor ppl --text heldout.txt` reproduces reference_ppl.json (ids equal Python's
// heldout_ids.json first), and `generate --chat` renders the chat template as transformers did
// (reference_chat.json) and continues it with transformers' greedy ids.
import * as fs from 'fs';
import * as path from 'path';
import * as nt from '../../lib';
import { cli } from '../cli/run-cli';

const BPE = path.join(__dirname, '..', '..', 'fixtures', 'tinyllama-fortunes-bpe');
const read = (f: string) => JSON.parse(fs.readFileSync(path.join(BPE, f), 'utf8'));
// the model is stored in f16 and computed in f32; the reference is transformers' f32 logits:
// the byte fixture's tolerance (test/cli/model.test.ts)
const NLL_TOL = 1e-3;

describe('fixtures/tinyllama-fortunes-bpe', () => {
  const ref = read('reference_ppl.json') as {
    tokens: number;
    window: number;
    nll_per_token: number;
    ppl: number;
    ids: string;
    whole_file: { tokens: number; window: number; nll_per_token: number }[];
  };
  const chat = read('reference_chat.json') as { messages: nt.tokenizer.ChatMessage[]; prompt: string; prompt_ids: number[]; max_new_tokens: number; greedy_ids: number[] };
  const tok = nt.tokenizer.Tokenizer.fromFolder(BPE);

  test('the tokenizer gives Python\'s ids for heldout.txt and the reference prompt', () => {
    const heldoutIds = read(ref.ids) as number[];
    const ids = tok.encode(fs.readFileSync(path.join(BPE, 'heldout.txt'), 'utf8'));
    expect(Array.from(ids.subarray(0, heldoutIds.length))).toEqual(heldoutIds);
    const prompt = fs.readFileSync(path.join(BPE, 'reference_prompt.txt'), 'utf8');
    expect(Array.from(tok.encode(prompt))).toEqual(read('reference_ids.json'));
  });

  test('ntensor ppl --text heldout.txt reproduces reference_ppl.json', async () => {
    const r = await cli(['ppl', '--model', BPE, '--text', path.join(BPE, 'heldout.txt'), '--window', String(ref.window), '--limit', String(ref.tokens + 1), '--json']);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.tokens).toBe(ref.tokens);
    expect(Math.abs(out.nllPerToken - ref.nll_per_token)).toBeLessThanOrEqual(NLL_TOL);
  });

  test('ntensor ppl --text heldout.txt without other flags scores the whole file as transformers did at the default window', async () => {
    const r = await cli(['ppl', '--model', BPE, '--text', path.join(BPE, 'heldout.txt'), '--json']);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    const whole = ref.whole_file.find((w) => w.window === out.window)!;
    expect(whole).toBeDefined();
    expect(out.tokens).toBe(whole.tokens);
    expect(Math.abs(out.nllPerToken - whole.nll_per_token)).toBeLessThanOrEqual(NLL_TOL);
  }, 240000); // 33,250 tokens: ~30 s on a loaded 2-core machine

  test('ntensor generate --chat renders the template as transformers did and continues with its greedy ids', async () => {
    expect(tok.applyChatTemplate(chat.messages)).toBe(chat.prompt);
    expect(Array.from(tok.encodeChat(chat.messages))).toEqual(chat.prompt_ids);
    expect(chat.messages.map((m) => m.role)).toEqual(['user']);
    const r = await cli(['generate', '--model', BPE, '--chat', '--prompt', chat.messages[0].content, '--max-new', String(chat.max_new_tokens), '--json']);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.promptTokens).toBe(chat.prompt_ids.length);
    // the CLI ends the reply before the first EOS id of generation_config.json
    const stop = chat.greedy_ids.findIndex((id) => tok.eosTokenIds.includes(id));
    expect(out.ids).toEqual(stop < 0 ? chat.greedy_ids : chat.greedy_ids.slice(0, stop));
    expect(out.text).toBe(tok.decode(out.ids, { skipSpecialTokens: true }));
  });
});
