// nt.tokenizer.Tokenizer beyond the per-family comparisons: the byte vocabulary, which
// tokenizer a model folder implies, fromObject (the GGUF path), BOS/EOS precedence between the
// configs, argument and id checks, and chat-template failures as coded errors.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import * as nt from '../../lib';
import { cutLongWords } from '../../lib/tokenizer/long-words';

const { Tokenizer, loadTokenizer } = nt.tokenizer;
const ROOT = path.join(__dirname, '..', '..');
const TOKENIZERS = path.join(ROOT, 'fixtures', 'tokenizers');
const FIXTURE = path.join(ROOT, 'fixtures', 'tinyllama-fortunes');
const LINES = fs.readFileSync(path.join(TOKENIZERS, 'texts.txt'), 'utf8').split('\n');
const readJson = (...p: string[]) => JSON.parse(fs.readFileSync(path.join(...p), 'utf8'));
const code = (c: string, message?: RegExp) => expect.objectContaining(message ? { code: c, message: expect.stringMatching(message) } : { code: c });

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nt-tok-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('the byte vocabulary', () => {
  test('encode is the UTF-8 bytes and decode gives every line back exactly', () => {
    const tok = Tokenizer.bytes();
    expect(tok.kind).toBe('bytes');
    expect(tok.vocabSize).toBe(256);
    expect(tok.bosTokenId).toBeNull();
    expect(tok.eosTokenIds).toEqual([]);
    expect(tok.hasChatTemplate).toBe(false);
    for (const line of LINES) {
      const ids = tok.encode(line);
      expect(Array.from(ids)).toEqual(Array.from(Buffer.from(line, 'utf8')));
      expect(tok.decode(ids)).toBe(line);
    }
    // nt.model's byte functions are the same functions
    expect(Array.from(nt.model.encodeBytes('é'))).toEqual([0xc3, 0xa9]);
    expect(nt.model.decodeBytes([0xc3, 0xa9])).toBe('é');
    expect(() => tok.decode([256])).toThrow(code('NT_VALUE', /ids\[0\] = 256 is not a token id of this vocabulary \(0\.\.255\)/));
  });

  test('a cut multi-byte character decodes to U+FFFD, not an error', () => {
    expect(Tokenizer.bytes().decode([0xe6, 0x97])).toBe('\ufffd');
  });
});

describe('loadTokenizer: the tokenizer a model folder implies', () => {
  test('the byte fixture without tokenizer.json gets the byte vocabulary', () => {
    expect(loadTokenizer(FIXTURE)!.kind).toBe('bytes');
  });

  test('tokenizer.json wins; a folder with neither and a larger vocabulary has none', () => {
    const dir = path.join(tmp, 'plain');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ vocab_size: 32000 }));
    expect(loadTokenizer(dir)).toBeNull();
    fs.copyFileSync(path.join(TOKENIZERS, 'llama2', 'tokenizer.json'), path.join(dir, 'tokenizer.json'));
    expect(loadTokenizer(dir)!.kind).toBe('tokenizer.json');
  });

  test('a SentencePiece tokenizer.model alone is NT_UNSUPPORTED with the way out', () => {
    const dir = path.join(tmp, 'sp');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'tokenizer.model'), Buffer.from([0x0a, 0x0a, 0x08, 0x00]));
    expect(() => loadTokenizer(dir)).toThrow(code('NT_UNSUPPORTED', /cannot read SentencePiece protobufs.*save_pretrained/));
    expect(() => Tokenizer.fromFolder(dir)).toThrow(code('NT_UNSUPPORTED'));
  });

  test('bad folders are coded errors', () => {
    expect(() => Tokenizer.fromFolder(path.join(tmp, 'none'))).toThrow(code('NT_IO', /not a folder/));
    expect(() => Tokenizer.fromFolder('')).toThrow(code('NT_VALUE'));
    expect(() => loadTokenizer(42 as unknown as string)).toThrow(code('NT_VALUE'));
  });

  test('a tokenizer file that is a symlink out of the folder is refused', () => {
    const dir = path.join(tmp, 'link');
    fs.mkdirSync(dir);
    fs.copyFileSync(path.join(TOKENIZERS, 'llama2', 'tokenizer.json'), path.join(tmp, 'elsewhere.json'));
    fs.symlinkSync('../elsewhere.json', path.join(dir, 'tokenizer.json'));
    expect(() => Tokenizer.fromFolder(dir)).toThrow(code('NT_IO', /outside the checkpoint folder/));
  });
});

describe('fromObject (what the GGUF loader uses)', () => {
  const tj = readJson(TOKENIZERS, 'llama3', 'tokenizer.json');
  const tc = readJson(TOKENIZERS, 'llama3', 'tokenizer_config.json');

  test('gives the same ids as the folder', () => {
    const a = Tokenizer.fromObject(tj, { tokenizerConfig: tc });
    const b = Tokenizer.fromFolder(path.join(TOKENIZERS, 'llama3'));
    for (const line of LINES.slice(0, 60)) expect(Array.from(a.encode(line))).toEqual(Array.from(b.encode(line)));
  });

  test('BOS/EOS: generation_config.json over config.json over the token strings of tokenizer_config.json', () => {
    const id = (s: string) => (tj.added_tokens as { id: number; content: string }[]).find((t) => t.content === s)!.id;
    const only = Tokenizer.fromObject(tj, { tokenizerConfig: tc });
    expect(only.bosTokenId).toBe(id('<|begin_of_text|>'));
    expect(only.eosTokenIds).toEqual([id('<|eot_id|>')]);
    const cfg = Tokenizer.fromObject(tj, { tokenizerConfig: tc, modelConfig: { bos_token_id: 5, eos_token_id: 6 } });
    expect([cfg.bosTokenId, cfg.eosTokenIds]).toEqual([5, [6]]);
    const gen = Tokenizer.fromObject(tj, { tokenizerConfig: tc, modelConfig: { bos_token_id: 5, eos_token_id: 6 }, generationConfig: { eos_token_id: [7, 8] } });
    expect([gen.bosTokenId, gen.eosTokenIds]).toEqual([5, [7, 8]]);
    const none = Tokenizer.fromObject(tj);
    expect([none.bosTokenId, none.eosTokenIds, none.hasChatTemplate]).toEqual([null, [], false]);
  });

  test('malformed objects name the source', () => {
    expect(() => Tokenizer.fromObject(null)).toThrow(code('NT_IO', /<object>\/tokenizer\.json: expected a JSON object/));
    expect(() => Tokenizer.fromObject(tj, { name: 'x.gguf', tokenizerConfig: [] as unknown as Record<string, unknown> })).toThrow(
      code('NT_IO', /x\.gguf\/tokenizer_config\.json: expected a JSON object/),
    );
    expect(() => Tokenizer.fromObject(tj, { generationConfig: { eos_token_id: 99999 } })).toThrow(code('NT_IO', /eos_token_id: 99999 is not a token id \(0\.\.2010\)/));
    expect(() => Tokenizer.fromObject({ ...tj, model: { ...tj.model, type: 'Mamba' } })).toThrow(code('NT_IO', /model\.type "Mamba" is not one of/));
    const badRegex = { ...tj, pre_tokenizer: { type: 'Split', pattern: { Regex: '((' }, behavior: 'Isolated', invert: false } };
    expect(() => Tokenizer.fromObject(badRegex)).toThrow(code('NT_IO', /cannot build it/));
  });

  test('clean_up_tokenization_spaces on a BPE model is ignored as transformers does, and said so', () => {
    const t = Tokenizer.fromObject(tj, { tokenizerConfig: { ...tc, clean_up_tokenization_spaces: true } });
    expect(t.warnings).toEqual([expect.stringMatching(/clean_up_tokenization_spaces ignored for a BPE model/)]);
    expect(t.decode(t.encode('a , b .', { addSpecialTokens: false }))).toBe('a , b .');
    expect(Tokenizer.fromObject(tj, { tokenizerConfig: { ...tc, clean_up_tokenization_spaces: false } }).warnings).toEqual([]);
  });
});

describe('argument checks', () => {
  const tok = Tokenizer.fromFolder(path.join(TOKENIZERS, 'qwen2'));
  test('encode and decode refuse what is not text or token ids', () => {
    expect(() => tok.encode(3 as unknown as string)).toThrow(code('NT_VALUE', /text must be a string, got number/));
    expect(() => tok.encode('x', { addSpecialTokens: 1 as unknown as boolean })).toThrow(code('NT_VALUE'));
    expect(() => tok.decode([1, tok.vocabSize])).toThrow(code('NT_VALUE', /ids\[1\] = 1803 is not a token id of this vocabulary \(0\.\.1802\)/));
    expect(() => tok.decode([1.5])).toThrow(code('NT_VALUE'));
    expect(() => tok.decode([-1])).toThrow(code('NT_VALUE'));
    expect(() => tok.decode(null as unknown as number[])).toThrow(code('NT_VALUE'));
    expect(() => tok.decode([1], { skipSpecialTokens: 'yes' as unknown as boolean })).toThrow(code('NT_VALUE'));
    expect(tok.decode([])).toBe('');
    expect(tok.decode(new Int32Array(tok.encode('héllo')))).toBe('héllo');
  });

  test('messages must be a non-empty list of {role, content} strings', () => {
    expect(() => tok.applyChatTemplate([])).toThrow(code('NT_VALUE', /non-empty array/));
    expect(() => tok.applyChatTemplate([{ role: 'user' } as nt.tokenizer.ChatMessage])).toThrow(code('NT_VALUE', /messages\[0\] must be/));
    expect(() => tok.applyChatTemplate('hi' as unknown as nt.tokenizer.ChatMessage[])).toThrow(code('NT_VALUE'));
    expect(() => tok.applyChatTemplate([{ role: 'user', content: 'x' }], { addGenerationPrompt: 'no' as unknown as boolean })).toThrow(code('NT_VALUE'));
  });
});

describe('chat templates', () => {
  const tj = readJson(TOKENIZERS, 'qwen2', 'tokenizer.json');
  const withTemplate = (t: string) => Tokenizer.fromObject(tj, { tokenizerConfig: { chat_template: t }, name: 'm' });
  const hi = [{ role: 'user', content: 'hi' }];

  test('hostile templates fail with NT_VALUE naming the template, and quickly', () => {
    expect(() => withTemplate('{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}').applyChatTemplate(hi)).toThrow(
      code('NT_VALUE', /the chat template of m\/tokenizer_config\.json \(chat_template\) failed: .*call stack/i),
    );
    expect(() => withTemplate('{% for i in range(1000000000) %}x{% endfor %}').applyChatTemplate(hi)).toThrow(code('NT_VALUE', /range\(\) calls produced more than 1000000 elements/));
    expect(() => withTemplate('{% for i in range(2000) %}{% for j in range(2000) %}{% endfor %}{% endfor %}').applyChatTemplate(hi)).toThrow(code('NT_VALUE', /more than 1000000/));
    // within the budget, range is Python's range
    expect(withTemplate('{% for i in range(2, 11, 3) %}{{ i }},{% endfor %}{% for i in range(5, 0, -2) %}{{ i }}{% endfor %}').applyChatTemplate(hi)).toBe('2,5,8,531');
  });

  test("raise_exception is the template refusing the conversation, with the template's words", () => {
    expect(() => withTemplate("{{ raise_exception('only user turns') }}").applyChatTemplate(hi)).toThrow(code('NT_VALUE', /refused the conversation: only user turns/));
  });

  test('a template that does not parse is refused at load, naming the file', () => {
    expect(() => withTemplate('{% if x %}')).toThrow(code('NT_IO', /m\/tokenizer_config\.json \(chat_template\): the chat template does not parse/));
  });

  test('chat_template.jinja replaces the one in tokenizer_config.json; strftime_now gives the date', () => {
    const dir = path.join(tmp, 'jinja');
    fs.mkdirSync(dir);
    for (const f of ['tokenizer.json', 'tokenizer_config.json']) fs.copyFileSync(path.join(TOKENIZERS, 'qwen2', f), path.join(dir, f));
    fs.writeFileSync(path.join(dir, 'chat_template.jinja'), "{{ messages[0].content }}|{{ strftime_now('%Y') }}");
    const year = new Date().getFullYear();
    expect(Tokenizer.fromFolder(dir).applyChatTemplate(hi)).toMatch(new RegExp(`^hi\\|(${year}|${year + 1})$`));
  });

  test('the special-token strings are template variables', () => {
    const t = Tokenizer.fromObject(tj, { tokenizerConfig: { chat_template: '{{ eos_token }}{{ pad_token }}{{ bos_token is defined }}', eos_token: '<|im_end|>', pad_token: '<|endoftext|>' } });
    expect(t.applyChatTemplate(hi)).toBe('<|im_end|><|endoftext|>false');
  });
});

describe('long words of SentencePiece-style BPE (lib/tokenizer/long-words.ts)', () => {
  const text = fs.readFileSync(path.join(FIXTURE, 'heldout.txt'), 'utf8').slice(0, 12000) + ' 日本語 😀'.repeat(50);

  test.each(['llama2', 'mistral'])('%s: the cut is exact (merges never join across it) and gives the library\'s own ids', (family) => {
    const tj = readJson(TOKENIZERS, family, 'tokenizer.json');
    const whole = new HfTokenizer(tj, { clean_up_tokenization_spaces: false });
    const cut = new HfTokenizer(tj, { clean_up_tokenization_spaces: false });
    expect(cutLongWords(cut, tj)).toBe(true);
    expect(cut.encode(text).ids).toEqual(whole.encode(text).ids);
  });

  test('it stays off where a merge would cross the cut, or where whole-word semantics apply', () => {
    const tj = readJson(TOKENIZERS, 'llama2', 'tokenizer.json');
    expect(cutLongWords(new HfTokenizer(tj, {}), { model: { ...tj.model, merges: [...tj.model.merges, ['a', '\u2581b']] } })).toBe(false);
    const ignore = { ...tj, model: { ...tj.model, ignore_merges: true } };
    expect(cutLongWords(new HfTokenizer(ignore, {}), ignore)).toBe(false);
    // Llama 3 sets ignore_merges (a word in the vocabulary is one token): whole words only
    const l3 = readJson(TOKENIZERS, 'llama3', 'tokenizer.json');
    expect(cutLongWords(new HfTokenizer(l3, {}), l3)).toBe(false); // Llama 3 sets ignore_merges
  });
});
