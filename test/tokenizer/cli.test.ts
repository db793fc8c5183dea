// The one text-to-ids path of the CLI (lib/cli/model-args.ts readTokens): --text FILE goes
// through the model folder's tokenizer.json (or bytes for a 256-token byte vocabulary), --ids
// FILE is taken as given, the same flags in every command, and a vocabulary mismatch is a
// coded NT_VALUE in every command, never ids that index something else. generate --chat
// renders the chat template and decodes with the tokenizer. Tiny random models carry the
// reference tokenizers of fixtures/tokenizers.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as nt from '../../lib';
import { writeTiny } from '../model/tiny';
import { cli } from '../cli/run-cli';

const TOKENIZERS = path.join(__dirname, '..', '..', 'fixtures', 'tokenizers');
let tmp: string;
let llama2: string; // vocab 1200 + the Llama-2-style tokenizer and its [INST] chat template
let noTokenizer: string; // vocab 1200, no tokenizer files
let small: string; // vocab 1000 + the Llama-3-style tokenizer (2011 tokens): larger than the embedding
let text: string;

function withTokenizer(dir: string, family: string): void {
  for (const f of ['tokenizer.json', 'tokenizer_config.json', 'generation_config.json'])
    fs.copyFileSync(path.join(TOKENIZERS, family, f), path.join(dir, f));
}

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nt-tok-cli-'));
  llama2 = writeTiny(path.join(tmp, 'llama2'), { vocab_size: 1200, max_position_embeddings: 512 }).dir;
  withTokenizer(llama2, 'llama2');
  noTokenizer = writeTiny(path.join(tmp, 'plain'), { vocab_size: 1200, max_position_embeddings: 512 }).dir;
  small = writeTiny(path.join(tmp, 'small'), { vocab_size: 1000, max_position_embeddings: 512 }).dir;
  withTokenizer(small, 'llama3');
  text = path.join(tmp, 'text.txt');
  fs.writeFileSync(text, fs.readFileSync(path.join(TOKENIZERS, 'texts.txt'), 'utf8').split('\n').slice(0, 40).join('\n'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const json = (r: { stdout: string }) => JSON.parse(r.stdout);

describe('--text through the model folder tokenizer', () => {
  test('ppl --text scores exactly the ids the tokenizer gives (BOS included), the same as --ids of those ids', async () => {
    const ids = nt.tokenizer.Tokenizer.fromFolder(llama2).encode(fs.readFileSync(text, 'utf8'));
    expect(ids[0]).toBe(1); // <s>
    const idsFile = path.join(tmp, 'ids.json');
    fs.writeFileSync(idsFile, JSON.stringify(Array.from(ids)));
    const a = await cli(['ppl', '--model', llama2, '--text', text, '--window', '128', '--json']);
    const b = await cli(['ppl', '--model', llama2, '--ids', idsFile, '--window', '128', '--json']);
    expect(a.code).toBe(0);
    expect(json(a).tokens).toBe(ids.length - 1);
    expect(json(a).ppl).toBe(json(b).ppl);
    expect(Number.isFinite(json(a).ppl)).toBe(true);
  });

  test('generate --prompt encodes with the tokenizer and decodes the continuation with it', async () => {
    const r = await cli(['generate', '--model', llama2, '--prompt', 'Hello there', '--max-new', '6', '--json']);
    expect(r.code).toBe(0);
    const out = json(r);
    const tok = nt.tokenizer.Tokenizer.fromFolder(llama2);
    expect(out.promptTokens).toBe(tok.encode('Hello there').length);
    expect(out.text).toBe(tok.decode(out.ids));
  });

  test('generate --chat renders the chat template (system and user turns) and prints the reply', async () => {
    const r = await cli(['generate', '--model', llama2, '--chat', '--system', 'Be brief.', '--prompt', 'What is 2 + 2?', '--max-new', '8', '--json']);
    expect(r.code).toBe(0);
    const out = json(r);
    const tok = nt.tokenizer.Tokenizer.fromFolder(llama2);
    const rendered = tok.applyChatTemplate([
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'What is 2 + 2?' },
    ]);
    expect(rendered).toBe('<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nWhat is 2 + 2? [/INST]');
    expect(out.chat).toBe(true);
    expect(out.promptTokens).toBe(tok.encode(rendered, { addSpecialTokens: false }).length);
    expect(out.text).toBe(tok.decode(out.ids, { skipSpecialTokens: true }));
    expect(out.ids).not.toContain(2); // the reply ends before </s>
    const plain = await cli(['generate', '--model', llama2, '--chat', '--prompt', 'What is 2 + 2?', '--max-new', '4']);
    expect(plain.code).toBe(0);
  });

  test('generate --chat refuses what the template refuses, and --chat with ids', async () => {
    const mistral = writeTiny(path.join(tmp, 'mistral'), { vocab_size: 1200, max_position_embeddings: 512 }).dir;
    withTokenizer(mistral, 'mistral');
    const r = await cli(['generate', '--model', mistral, '--chat', '--system', 'x', '--prompt', 'hi']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/chat template of .*tokenizer_config\.json \(chat_template\) refused the conversation: Conversation roles must alternate.*\(NT_VALUE\)/);
    const ids = path.join(tmp, 'few.json');
    fs.writeFileSync(ids, '[1, 2, 3]');
    expect((await cli(['generate', '--model', llama2, '--chat', '--ids', ids])).stderr).toMatch(/--chat takes the user message as text.*\(NT_VALUE\)/);
    expect((await cli(['generate', '--model', llama2, '--system', 'x', '--prompt', 'y'])).stderr).toMatch(/--system is the system message of --chat \(NT_VALUE\)/);
  });
});

describe('vocabulary mismatches are coded errors in every command', () => {
  const commands: [string, string[]][] = [
    ['ppl', []],
    ['generate', []],
    ['mnn', []],
    ['gear', []],
    ['attention-sweep', []],
    ['train-compare', ['--steps', '1', '--out', 'OUT']],
    ['compress', ['--out', 'OUT']],
    ['lolcats', ['--out', 'OUT']],
  ];
  const run = (cmd: string, extra: string[], model: string, source: string[]) =>
    cli([cmd, '--model', model, ...source, ...extra.map((a) => (a === 'OUT' ? path.join(tmp, `out-${cmd}`) : a))]);

  test.each(commands)('%s: --text on a 1200-token model without a tokenizer asks for --ids', async (cmd, extra) => {
    const r = await run(cmd, extra, noTokenizer, ['--text', text]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/has no tokenizer\.json and its vocabulary has 1200 tokens \(not the 256-token byte vocabulary\): pass token ids \(--ids FILE\) \(NT_VALUE\)/);
  });

  test.each(commands)('%s: a tokenizer larger than the embedding is refused', async (cmd, extra) => {
    const r = await run(cmd, extra, small, ['--text', text]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/tokenizer of .* has 2011 tokens but the model's embedding 1000.*\(NT_VALUE\)/);
  });

  test.each(commands)('%s: --ids with an id past the vocabulary is refused', async (cmd, extra) => {
    const ids = path.join(tmp, 'bad-ids.json');
    fs.writeFileSync(ids, JSON.stringify([...Array.from({ length: 300 }, (_, i) => i % 1200), 1200]));
    const r = await run(cmd, extra, noTokenizer, ['--ids', ids]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/token id 1200 at position 300 is outside the model's vocabulary \(0\.\.1199\) \(NT_VALUE\)/);
  });

  test.each(commands)('%s: neither or both of --text / --ids is a usage error', async (cmd, extra) => {
    const none = await run(cmd, extra, llama2, []);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/give exactly one of (--prompt TEXT, )?--text FILE or --ids FILE/);
    const both = await run(cmd, extra, llama2, ['--text', text, '--ids', text]);
    expect(both.code).toBe(1);
    expect(both.stderr).toMatch(/give exactly one of/);
  });
});

test('a text file that is not UTF-8 is refused for a tokenizer.json model', async () => {
  const bad = path.join(tmp, 'latin1.txt');
  fs.writeFileSync(bad, Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x0a]));
  const r = await cli(['ppl', '--model', llama2, '--text', bad]);
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(/latin1\.txt is not UTF-8 text.*\(NT_VALUE\)/);
});

describe('deprecated flag names', () => {
  test('compress --calib / --calib-ids and lolcats --calib still work, with a warning', async () => {
    const c = await cli(['compress', '--calib', text]);
    expect(c.stderr).toMatch(/ntensor compress: --calib is deprecated: use --text/);
    expect(c.stderr).toMatch(/--out DIR is required \(NT_VALUE\)/);
    const ci = await cli(['compress', '--calib-ids', text]);
    expect(ci.stderr).toMatch(/--calib-ids is deprecated: use --ids/);
    const both = await cli(['compress', '--calib', text, '--text', text, '--out', tmp]);
    expect(both.stderr).toMatch(/give --text only \(--calib is its deprecated name\) \(NT_VALUE\)/);
    const l = await cli(['lolcats', '--model', noTokenizer, '--calib', text, '--out', path.join(tmp, 'lol')]);
    expect(l.stderr).toMatch(/ntensor lolcats: --calib is deprecated: use --text/);
    // and the check lolcats lacked: byte ids are not fed to a 1200-token model
    expect(l.stderr).toMatch(/pass token ids \(--ids FILE\) \(NT_VALUE\)/);
  });
});
