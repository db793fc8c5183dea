// `ntensor ppl` and `ntensor generate`, run in-process on the committed fixture model.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { PACKAGE_ROOT } from '../../lib/native/loader';
import { cli } from './run-cli';



const FIXTURE = path.join(PACKAGE_ROOT, 'fixtures', 'tinyllama-fortunes');
const REF = JSON.parse(fs.readFileSync(path.join(FIXTURE, 'reference_ppl.json'), 'utf8')) as { bytes: number; window: number; nll_per_byte: number };

let tmp: string;
let cwd: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ntensor-cli-model-'));
  cwd = process.cwd();
  process.chdir(tmp); // the default --model must not depend on the working directory
});
afterAll(() => {
  process.chdir(cwd);
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('ntensor ppl', () => {
  test('reproduces reference_ppl.json on the bundled fixture (default --model), with progress on stderr', async () => {
    const r = await cli(['ppl', '--text', path.join(FIXTURE, 'heldout.txt'), '--window', String(REF.window), '--limit', String(REF.bytes + 1), '--json']);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.tokens).toBe(REF.bytes);
    expect(out.windows).toBe(16);
    expect(out.model).toBe(FIXTURE);
    // f16 copy: within the tolerance test/model/helpers.ts justifies (TOL.nllF16)
    expect(Math.abs(out.nllPerToken - REF.nll_per_byte)).toBeLessThanOrEqual(1e-3);
    expect(out.ppl).toBeCloseTo(Math.exp(out.nllPerToken), 10);
    expect(r.stderr).toMatch(/perplexity 100% 16\/16/);
  });

  test('--dtype bf16 and --head-bits 8 stay within 0.5% of the f32 perplexity', async () => {
    const args = ['ppl', '--text', path.join(FIXTURE, 'heldout.txt'), '--window', '128', '--limit', '1025', '--json'];
    const f32 = JSON.parse((await cli([...args, '--dtype', 'f32'])).stdout).ppl;
    const r = await cli([...args, '--dtype', 'bf16', '--head-bits', '8']);
    expect(r.code).toBe(0);
    const ppl = JSON.parse(r.stdout).ppl;
    expect(Math.abs(ppl / f32 - 1)).toBeLessThan(5e-3);
    expect(ppl).not.toBe(f32);
  });

  test('prints a readable summary; --ids takes a token-id file', async () => {
    const ids = path.join(tmp, 'ids.json');
    fs.writeFileSync(ids, JSON.stringify(Array.from(Buffer.from('A penny saved is a penny earned. A penny saved is a penny earned.'))));
    const a = await cli(['ppl', '--model', FIXTURE, '--ids', ids, '--window', '32']);
    expect(a.code).toBe(0);
    expect(a.stdout).toMatch(/tokens\s+64 predicted \(2 windows of 32\)/);
    expect(a.stdout).toMatch(/perplexity\s+\d+\.\d{4}/);
    const text = path.join(tmp, 'same.txt');
    fs.writeFileSync(text, 'A penny saved is a penny earned. A penny saved is a penny earned.');
    const b = await cli(['ppl', '--text', text, '--window', '32', '--json']);
    const c = await cli(['ppl', '--ids', ids, '--window', '32', '--json']);
    expect(JSON.parse(b.stdout).ppl).toBe(JSON.parse(c.stdout).ppl);
  });

  test('errors are one line with a code and exit code 1', async () => {
    const cases: [string[], RegExp][] = [
      [['ppl'], /ntensor ppl: give exactly one of --text FILE or --ids FILE \(NT_VALUE\)/],
      [['ppl', '--text', 'nope.txt'], /ntensor ppl: nope\.txt: no such file \(NT_IO\)/],
      [['ppl', '--text', 'x', '--window', '0'], /--window must be an integer >= 1, got '0' \(NT_VALUE\)/],
      [['ppl', '--text', 'x', '--adapter', path.join(tmp, 'no-adapter')], /\[llm\.loadLoraAdapter\] .*no-adapter.adapter_config\.json not found \(not a PEFT adapter folder\) \(NT_IO\)/],
      [['ppl', '--model', path.join(tmp, 'none'), '--text', 'x'], /\[model\.load\] .*none: no such model folder \(NT_IO\)/],
      [['ppl', '--text', 'x', '--dtype', 'int4'], /--dtype must be one of auto, f32, bf16, f16, got 'int4' \(NT_VALUE\)/],
      [['ppl', '--text', 'x', '--activations', 'int4'], /--activations must be f32 or int8, got 'int4' \(NT_VALUE\)/],
      [['ppl', '--text', 'x', '--head-bits', '3'], /--head-bits must be 4 or 8, got '3' \(NT_VALUE\)/],
    ];
    for (const [args, re] of cases) {
      const r = await cli(args);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(re);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
    const big = path.join(tmp, 'big.txt');
    fs.writeFileSync(big, 'abc');
    const w = await cli(['ppl', '--text', big, '--window', '5000']);
    expect(w.stderr).toMatch(/window must be an integer in \[1, 1024\]/);
  });
});

describe('ntensor generate', () => {
  test('greedy continuation is deterministic; --json reports the ids', async () => {
    const a = await cli(['generate', '--prompt', 'A penny saved', '--max-new', '16', '--json']);
    expect(a.code).toBe(0);
    const out = JSON.parse(a.stdout);
    expect(out.ids).toHaveLength(16);
    expect(out.text).toBe(Buffer.from(out.ids).toString('utf8'));
    const b = await cli(['generate', '--prompt', 'A penny saved', '--max-new', '16']);
    expect(b.stdout).toBe(`A penny saved${out.text}\n`);
    expect(b.stderr).toMatch(/16 tokens in/);
  });

  test('sampling: the same seed gives the same text', async () => {
    const args = ['generate', '--model', FIXTURE, '--prompt', 'The', '--max-new', '24', '--temperature', '1', '--top-k', '20', '--seed', '42', '--json'];
    const a = JSON.parse((await cli(args)).stdout);
    const b = JSON.parse((await cli(args)).stdout);
    expect(a.ids).toEqual(b.ids);
    expect(a.topK).toBe(20);
  });

  test('bad options are one-line errors', async () => {
    const cases: [string[], RegExp][] = [
      [['generate', '--prompt', 'x', '--max-new', '-2'], /--max-new must be an integer >= 0/],
      [['generate', '--prompt', 'x', '--temperature', 'hot'], /--temperature must be a number >= 0, got 'hot'/],
      [['generate', '--prompt', 'x', '--top-k', '0'], /--top-k must be an integer >= 1/],
      [['generate', '--prompt', 'x', '--max-new', '5000'], /exceed max_position_embeddings 1024/],
    ];
    for (const [args, re] of cases) {
      const r = await cli(args);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(re);
    }
    const missing = await cli(['generate']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/give exactly one of --prompt TEXT, --text FILE or --ids FILE \(NT_VALUE\)/);
    // the fixture has a byte vocabulary and no chat template
    const chat = await cli(['generate', '--prompt', 'x', '--chat']);
    expect(chat.code).toBe(1);
    expect(chat.stderr).toMatch(/no chat template.*\(NT_UNSUPPORTED\)/);
  });
});
