// The tokenizer part of the malformed-file corpus (test/corpus/tokenizer, made with the
// reference tokenizers by scripts/fixtures/make_tokenizers.py): each case lays its file over a
// seed folder of fixtures/tokenizers and must fail with a coded error (exactly `code` when the
// manifest says) or, where 'either', load into a tokenizer that encodes and decodes. 'chat'
// cases load and then refuse to render (hostile or broken templates). Nothing may throw an
// uncoded error or crash; symlinks leading outside the folder are refused.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as nt from '../../lib';

interface TokenizerCase {
  id: string;
  format: 'tokenizer';
  api: 'load' | 'chat';
  seed: string;
  mutation: string;
  expect: 'error' | 'either';
  code?: string;
  files?: Record<string, string>;
  remove?: string[];
  mkdir?: string[];
  links?: Record<string, string>;
}

const CORPUS = path.join(__dirname, '..', 'corpus', 'tokenizer');
const SEEDS = path.join(__dirname, '..', '..', 'fixtures', 'tokenizers');
const manifest = JSON.parse(fs.readFileSync(path.join(CORPUS, 'manifest.json'), 'utf8')) as { count: number; cases: TokenizerCase[] };
const ALLOWED = ['NT_IO', 'NT_UNSUPPORTED', 'NT_VALUE'];

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nt-tok-corpus-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function layOut(c: TokenizerCase): string {
  const root = path.join(tmp, c.id);
  const dir = path.join(root, 'model');
  fs.mkdirSync(dir, { recursive: true });
  for (const f of ['tokenizer.json', 'tokenizer_config.json', 'generation_config.json', 'config.json'])
    fs.copyFileSync(path.join(SEEDS, c.seed, f), path.join(dir, f));
  for (const f of c.remove ?? []) fs.rmSync(path.join(dir, f));
  for (const f of c.mkdir ?? []) fs.mkdirSync(path.join(dir, f));
  for (const [name, rel] of Object.entries(c.files ?? {})) fs.copyFileSync(path.join(CORPUS, rel), path.join(dir, name));
  for (const [name, target] of Object.entries(c.links ?? {})) {
    // the target is a valid tokenizer.json, so only the link's direction is wrong
    fs.copyFileSync(path.join(SEEDS, c.seed, name), path.resolve(dir, target));
    fs.rmSync(path.join(dir, name), { force: true });
    fs.symlinkSync(target, path.join(dir, name));
  }
  return dir;
}

type Outcome = { ok: true } | { ok: false; code: string; message: string };

function attempt(f: () => void): Outcome {
  try {
    f();
    return { ok: true };
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    return { ok: false, code: typeof code === 'string' ? code : `uncoded ${(e as Error).name}`, message: (e as Error).message };
  }
}

const MESSAGES = [{ role: 'user', content: 'Hello there' }];

function run(c: TokenizerCase): Outcome {
  const dir = layOut(c);
  if (c.api === 'chat') {
    const tok = nt.tokenizer.Tokenizer.fromFolder(dir); // must load: the template parses
    return attempt(() => tok.applyChatTemplate(MESSAGES));
  }
  return attempt(() => {
    const tok = nt.tokenizer.Tokenizer.fromFolder(dir);
    // a load is checked: ids in range, and the text comes back
    const ids = tok.encode('Hello, wörld 123 日本 😀', { addSpecialTokens: false });
    if (ids.length === 0 || ids.some((i) => i < 0 || i >= tok.vocabSize)) throw new Error(`bad ids ${Array.from(ids)}`);
    if (!tok.decode(ids).includes('Hello')) throw new Error(`decode lost the text: ${tok.decode(ids)}`);
    if (tok.hasChatTemplate) tok.applyChatTemplate(MESSAGES);
  });
}

test('the corpus covers tokenizer.json, tokenizer_config.json, generation_config.json, chat templates and links', () => {
  expect(manifest.count).toBe(manifest.cases.length);
  expect(manifest.cases.length).toBeGreaterThanOrEqual(150);
  const files = new Set(manifest.cases.flatMap((c) => Object.keys(c.files ?? {})));
  for (const f of ['tokenizer.json', 'tokenizer_config.json', 'generation_config.json', 'config.json', 'chat_template.jinja', 'tokenizer.model']) expect(files).toContain(f);
  expect(manifest.cases.filter((c) => c.api === 'chat').length).toBeGreaterThanOrEqual(10);
  expect(manifest.cases.filter((c) => c.links).length).toBeGreaterThanOrEqual(2);
});

test('every case is a coded error or a verified load', () => {
  const failures: string[] = [];
  const counts: Record<string, number> = {};
  for (const c of manifest.cases) {
    let out: Outcome;
    try {
      out = run(c);
    } catch (e) {
      failures.push(`${c.id} (${c.mutation}): ${(e as Error).message.split('\n')[0]}`);
      continue;
    }
    const key = out.ok ? 'ok' : out.code;
    counts[key] = (counts[key] ?? 0) + 1;
    if (!out.ok && !ALLOWED.includes(out.code)) failures.push(`${c.id} (${c.mutation}): code ${out.code} not allowed: ${out.message}`);
    if (c.expect === 'error' && out.ok) failures.push(`${c.id} (${c.mutation}): loaded, but must fail`);
    if (c.code && !out.ok && out.code !== c.code) failures.push(`${c.id} (${c.mutation}): expected ${c.code}, got ${out.code}: ${out.message}`);
    // a load error names the file it is about
    if (!out.ok && c.api === 'load' && c.files && !Object.keys(c.files).some((f) => out.message.includes(f)) && c.code !== 'NT_UNSUPPORTED')
      failures.push(`${c.id} (${c.mutation}): the message does not name the file: ${out.message}`);
  }
  expect(failures).toEqual([]);
  expect(counts.ok ?? 0).toBeGreaterThan(0);
  expect(counts.NT_IO ?? 0).toBeGreaterThan(0);
});
