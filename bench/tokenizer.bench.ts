// Tokenizer speed: encode MB/s of nt.tokenizer (@huggingface/tokenizers, pure JS, with the
// long-word cut of lib/tokenizer/long-words.ts for SentencePiece-style models),
// the `tokenizers` Node binding (napi over the Rust crate; evaluated, not a dependency) and
// Python's tokenizers (the same Rust crate), on the reference tokenizers of fixtures/tokenizers.
//
//   npx tsc -p tsconfig.build.json && node dist/bench/tokenizer.bench.js [--runs N] [--binding DIR] [--no-python]
//
// Input: the fixture's heldout.txt (127 kB of English fortunes) as one text, as ntensor ppl
// --text encodes a file, and the same text 4x (509 kB) to see how each scales; plus the
// 280-line text set (unicode, whitespace runs) encoded line by line. Per library and family: one
// warm-up, then the median of `runs` timings. --binding DIR: a folder where `npm install
// tokenizers` was run (default /tmp/tok-eval/node_modules/tokenizers; skipped when absent).
// Python: python3 with tokenizers, run once per input in a child process (skipped when absent).
// Every library must give the same ids as @huggingface/tokenizers, or the run fails.
// JSON in bench/results/tokenizer-<date>.json. Not part of `npm run bench` nor `npm test`.
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as nt from '../lib';
import { PACKAGE_ROOT } from '../lib/native/loader';
import { machineInfo, resultsDir } from './harness';

const FAMILIES = ['gpt2', 'llama3', 'qwen2', 'llama2', 'mistral'];
const ROOT = path.join(PACKAGE_ROOT, 'fixtures', 'tokenizers');

interface Input {
  name: string;
  texts: string[];
  bytes: number;
}

interface Row {
  family: string;
  input: string;
  library: string;
  mbPerS: number;
  seconds: number[];
  tokens: number;
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function timeRuns(runs: number, f: () => Promise<number[][]> | number[][]): Promise<{ seconds: number[]; ids: number[][] }> {
  let ids = await f(); // warm-up (JIT, caches)
  const seconds: number[] = [];
  for (let r = 0; r < runs; ++r) {
    const t = process.hrtime.bigint();
    ids = await f();
    seconds.push(Number(process.hrtime.bigint() - t) / 1e9);
  }
  return { seconds, ids };
}

/** Python tokenizers on the same inputs: median seconds per input, and the ids (checked equal). */
function python(family: string, inputs: Input[], runs: number): { seconds: number[]; ids: number[][] }[] | undefined {
  const code = `
import json, sys, time
from tokenizers import Tokenizer
tok = Tokenizer.from_file(sys.argv[1])
inputs = json.load(sys.stdin)
out = []
for texts in inputs:
    tok.encode_batch(texts) if len(texts) > 1 else tok.encode(texts[0])
    secs = []
    for _ in range(int(sys.argv[2])):
        t = time.perf_counter()
        ids = [tok.encode(x).ids for x in texts]
        secs.append(time.perf_counter() - t)
    out.append({'seconds': secs, 'ids': ids})
print(json.dumps(out))
`;
  try {
    const stdout = execFileSync('python3', ['-c', code, path.join(ROOT, family, 'tokenizer.json'), String(runs)], {
      input: JSON.stringify(inputs.map((i) => i.texts)),
      maxBuffer: 1 << 30,
    });
    return JSON.parse(stdout.toString());
  } catch (e) {
    console.error(`python tokenizers skipped: ${(e as Error).message.split('\n')[0]}`);
    return undefined;
  }
}

async function main(): Promise<void> {
  const runs = Number(arg('--runs') ?? 5);
  const bindingDir = arg('--binding') ?? '/tmp/tok-eval/node_modules/tokenizers';
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const binding = fs.existsSync(bindingDir) ? (require(bindingDir) as { Tokenizer: { fromFile(f: string): { encode(t: string): Promise<{ getIds(): number[] }> } } }) : undefined;
  if (!binding) console.error(`tokenizers Node binding not found at ${bindingDir}: skipped`);
  const heldout = fs.readFileSync(path.join(PACKAGE_ROOT, 'fixtures', 'tinyllama-fortunes', 'heldout.txt'), 'utf8');
  const lines = fs.readFileSync(path.join(ROOT, 'texts.txt'), 'utf8').split('\n');
  const inputs: Input[] = [
    { name: 'heldout.txt as one text', texts: [heldout] },
    { name: 'heldout.txt x4 as one text', texts: [heldout.repeat(4)] },
    { name: 'texts.txt line by line', texts: lines },
  ].map((i) => ({ ...i, bytes: i.texts.reduce((s, t) => s + Buffer.byteLength(t), 0) }));
  const rows: Row[] = [];
  const same = (a: number[][], b: number[][], what: string) => {
    if (JSON.stringify(a) !== JSON.stringify(b)) throw new Error(`${what}: ids differ from @huggingface/tokenizers`);
  };
  for (const family of FAMILIES) {
    const tok = nt.tokenizer.Tokenizer.fromFolder(path.join(ROOT, family));
    const py = arg('--no-python') === undefined && !process.argv.includes('--no-python') ? python(family, inputs, runs) : undefined;
    const bt = binding?.Tokenizer.fromFile(path.join(ROOT, family, 'tokenizer.json'));
    for (const [k, input] of inputs.entries()) {
      const add = (library: string, seconds: number[], ids: number[][]) =>
        rows.push({ family, input: input.name, library, mbPerS: input.bytes / 1e6 / median(seconds), seconds, tokens: ids.reduce((s, x) => s + x.length, 0) });
      const js = await timeRuns(runs, () => input.texts.map((t) => Array.from(tok.encode(t))));
      add('nt.tokenizer (@huggingface/tokenizers 0.2.0)', js.seconds, js.ids);
      if (bt) {
        const b = await timeRuns(runs, async () => Promise.all(input.texts.map(async (t) => (await bt.encode(t)).getIds())));
        same(b.ids, js.ids, `binding ${family} ${input.name}`);
        add('tokenizers (Node binding)', b.seconds, b.ids);
      }
      if (py) {
        same(py[k].ids, js.ids, `python ${family} ${input.name}`);
        add('tokenizers (Python)', py[k].seconds, py[k].ids);
      }
      const r = rows.filter((x) => x.family === family && x.input === input.name);
      console.log(`${family.padEnd(8)} ${input.name.padEnd(28)} ${r.map((x) => `${x.library}: ${x.mbPerS.toFixed(2)} MB/s`).join('  ')}`);
    }
  }
  const date = new Date().toISOString().slice(0, 10);
  const file = path.join(resultsDir(), `tokenizer-${date}.json`);
  fs.writeFileSync(file, JSON.stringify({ date, machine: machineInfo(), runs, inputs: inputs.map(({ name, bytes, texts }) => ({ name, bytes, texts: texts.length })), rows }, null, 1) + '\n');
  console.log(`wrote ${file}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
