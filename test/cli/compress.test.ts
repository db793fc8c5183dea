// `ntensor compress` and `ntensor demo`, run in-process on the committed fixture model.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as nt from '../../lib';
import { PACKAGE_ROOT } from '../../lib/native/loader';
import { shardIndexFrom, shardRange } from '../../lib/cli/compress';
import { cli } from './run-cli';

const FIXTURE = path.join(PACKAGE_ROOT, 'fixtures', 'tinyllama-fortunes');
const HELDOUT = path.join(FIXTURE, 'heldout.txt');


let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ntensor-cli-compress-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('ntensor compress', () => {
  test('writes a GPTQ folder and a PEFT adapter that `ppl --adapter` evaluates', async () => {
    const out = path.join(tmp, 'c');
    const r = await cli(['compress', '--text', HELDOUT, '--calib-tokens', '512', '--rank', '4', '--errors', '--out', out]);
    expect(r.stderr).toMatch(/compress 100% 28\/28/);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/layers\.0\.self_attn\.q_proj\s+256×256/);
    expect(r.stdout).toMatch(/compression\s+int4 rtn g128, eora rank 4/);
    expect(r.stdout).toMatch(/mean activation error\s+\d+\.\d\d% → \d+\.\d\d%/);
    expect(r.stdout).toMatch(/mode\s+layer-sequential, layers 0\.\.3 of 4/);
    expect(r.stdout).toMatch(/time\s+\d+\.\d s \(.*forward \d+\.\d+.*\)/);
    const shards = ['00001', '00002', '00003', '00004', '00005'].map((k) => `model-${k}-of-00005.safetensors`);
    for (const f of ['config.json', 'model.safetensors.index.json', ...shards, 'adapter/adapter_config.json', 'adapter/adapter_model.safetensors']) expect(fs.existsSync(path.join(out, f))).toBe(true);
    // without --errors nothing is measured, and the table says so
    const quick = await cli(['compress', '--text', HELDOUT, '--calib-tokens', '512', '--rank', '4', '--out', path.join(tmp, 'quick')]);
    expect(quick.code).toBe(0);
    expect(quick.stdout).toMatch(/mean activation error\s+not measured \(--errors\)/);
    expect(quick.stdout).toMatch(/EoRA dropped directions\s+\d+ in all/);
    expect(quick.stdout).toMatch(/lm_head\s+source dtype, \S+ \S+ \(--quantize-head to quantize it\)/);
    // --quantize-head: the head as int4 too, and the folder loads
    const headOut = path.join(tmp, 'head');
    const headq = await cli(['compress', '--text', HELDOUT, '--calib-tokens', '512', '--method', 'none', '--quantize-head', '--out', headOut]);
    expect(headq.code).toBe(0);
    expect(headq.stdout).toMatch(/lm_head\s+int4 rtn g128: \S+ \S+ → \S+ \S+/);
    expect(JSON.parse(fs.readFileSync(path.join(headOut, 'config.json'), 'utf8')).quantization_config.lm_head).toBe(true);
    const headModel = nt.model.load(headOut);
    expect(headModel.getLinear('lm_head')).toBeInstanceOf(nt.model.QuantLinear);
    headModel.dispose();
    const withAdapter = await cli(['ppl', '--model', out, '--adapter', path.join(out, 'adapter'), '--text', HELDOUT, '--limit', '257', '--window', '256', '--json']);
    const without = await cli(['ppl', '--model', out, '--text', HELDOUT, '--limit', '257', '--window', '256', '--json']);
    expect(withAdapter.code).toBe(0);
    // the library computes the same numbers
    const model = nt.model.load(out);
    nt.llm.applyAdapter(model, path.join(out, 'adapter'));
    const ids = Int32Array.from(fs.readFileSync(HELDOUT).subarray(0, 257));
    expect(JSON.parse(withAdapter.stdout).ppl).toBeCloseTo(model.perplexity(ids, { window: 256 }).ppl, 10);
    expect(JSON.parse(without.stdout).ppl).not.toBe(JSON.parse(withAdapter.stdout).ppl);
    model.dispose();
  });

  test('errors are one coded line and exit code 1', async () => {
    const cases: [string[], RegExp][] = [
      [['compress', '--out', tmp], /give exactly one of --text FILE or --ids FILE \(NT_VALUE\)/],
      [['compress', '--text', HELDOUT], /--out DIR is required \(NT_VALUE\)/],
      [['compress', '--text', HELDOUT, '--out', tmp, '--bits', '5'], /--bits must be one of 2, 3, 4, 8, none, got '5' \(NT_VALUE\)/],
      [['compress', '--text', HELDOUT, '--out', tmp, '--method', 'lora'], /--method must be one of eora, svd, act-s, none/],
      [['compress', '--text', HELDOUT, '--out', tmp, '--rank', '0'], /--rank must be an integer >= 1, got '0'/],
      [['compress', '--text', path.join(tmp, 'none.txt'), '--out', tmp], /none\.txt: no such file \(NT_IO\)/],
      [['compress', '--text', HELDOUT, '--out', tmp, '--sparsity', '2:4', '--quantizer', 'gptq'], /2:4 sparsity with the GPTQ quantizer is not supported.*\(NT_UNSUPPORTED\)/],
      [['compress', '--model', path.join(tmp, 'nope'), '--text', HELDOUT, '--out', tmp], /no such model folder \(NT_IO\)/],
      [['compress', '--text', HELDOUT, '--out', tmp, '--layers', '3:1'], /--layers must be FIRST:END with FIRST < END/],
      [['compress', '--text', HELDOUT, '--out', tmp, '--layers', '0:9'], /0 <= first < end <= 4/],
      [['compress', '--text', HELDOUT, '--out', tmp, '--layers', '0:2', '--mode', 'sequential'], /--layers and --shards need --mode parallel/],
      [['compress', '--text', HELDOUT, '--out', tmp, '--layers', '0:2', '--shards', '2'], /give --layers or --shards, not both/],
      [['compress', '--text', HELDOUT, '--out', tmp, '--shard-index', '1'], /--shard-index needs --shards N/],
      [['compress', '--text', HELDOUT, '--out', tmp, '--shards', '2', '--shard-index', '2'], /--shard-index must be an integer in 0\.\.1 \(--shards 2\), got '2'/],
      [['compress', '--text', HELDOUT, '--out', tmp, '--shards', '5', '--shard-index', '0'], /--shards 5 is more than the model's 4 layers/],
      [['compress', '--text', HELDOUT, '--out', tmp, '--mode', 'both'], /--mode must be one of sequential, layer-sequential, parallel/],
      [['compress', '--text', HELDOUT, '--out', tmp, '--bits', 'none', '--sparsity', '2:4', '--quantize-head'], /quantizeHead quantizes lm_head with the run's bits.*\(NT_VALUE\)/],
      [['merge', tmp], /--out DIR is required/],
      [['merge', '--out', path.join(tmp, 'm'), tmp], /is not a finished shard \(no shard\.json.*\(NT_IO\)/],
    ];
    for (const [args, re] of cases) {
      const r = await cli(args);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(re);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
  });
});

describe('ntensor demo', () => {
  test('prints the perplexity table, writes the plot and the JSON rows', async () => {
    const out = path.join(tmp, 'demo');
    const r = await cli(['demo', '--ranks', '2,4', '--calib-tokens', '256', '--eval-tokens', '257', '--out', out]);
    expect(r.code).toBe(0);
    const rows = JSON.parse(fs.readFileSync(path.join(out, 'demo.json'), 'utf8')).rows as { label: string; rank: number | null; ppl: number }[];
    expect(rows.map((x) => `${x.label}${x.rank ? ` ${x.rank}` : ''}`)).toEqual([
      'f32',
      'int4',
      'int4 + svd 2',
      'int4 + svd 4',
      'int4 + EoRA 2',
      'int4 + EoRA 4',
      '2:4 + int4',
      '2:4 + int4 + EoRA 4',
    ]);
    const model = nt.model.load(FIXTURE);
    expect(rows[0].ppl).toBeCloseTo(model.perplexity(Int32Array.from(fs.readFileSync(HELDOUT).subarray(0, 257)), { window: 256 }).ppl, 10);
    model.dispose();
    for (const row of rows) expect(row.ppl).toBeGreaterThan(1);
    expect(r.stdout).toMatch(/^f32 +\d+\.\d{4}/m);
    expect(r.stdout).toMatch(/int4 \+ EoRA +4 +\d+\.\d{4} +-?\d+\.\d\d%/);
    const svg = fs.readFileSync(path.join(out, 'ppl-vs-rank.svg'), 'utf8');
    expect(svg).toContain('int4 + EoRA');
    expect(svg.match(/<g class="mark-line /g)).toHaveLength(4); // one vega line mark per series
  });

  test('bad options give one coded line', async () => {
    for (const [args, re] of [
      [['demo', '--bits', '5'], /--bits must be 3 or 4, got '5' \(NT_VALUE\)/],
      [['demo', '--ranks', '8,x'], /--ranks must be a comma-separated list of integers >= 1, got '8,x'/],
      [['demo', '--eval-tokens', '999999'], /has 127313 tokens: too few/],
    ] as [string[], RegExp][]) {
      const r = await cli(args);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(re);
    }
  });
});

describe('job-array shards', () => {
  test('shard ranges tile the layers, the longer ones first', () => {
    for (const [L, n] of [[4, 4], [22, 4], [32, 3], [5, 1], [7, 7]]) {
      const ranges = Array.from({ length: n }, (_, i) => shardRange(i, n, L));
      expect(ranges[0][0]).toBe(0);
      expect(ranges[n - 1][1]).toBe(L);
      for (let i = 1; i < n; ++i) expect(ranges[i][0]).toBe(ranges[i - 1][1]);
      const sizes = ranges.map(([a, b]) => b - a);
      expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
      expect([...sizes].sort((a, b) => b - a)).toEqual(sizes);
    }
  });

  test('the index comes from --shard-index, JOB_COMPLETION_INDEX, then SLURM_ARRAY_TASK_ID', () => {
    expect(shardIndexFrom('2', 4, { JOB_COMPLETION_INDEX: '1' })).toEqual({ index: 2, from: '--shard-index' });
    expect(shardIndexFrom(undefined, 4, { JOB_COMPLETION_INDEX: '1', SLURM_ARRAY_TASK_ID: '3' })).toEqual({ index: 1, from: 'JOB_COMPLETION_INDEX' });
    expect(shardIndexFrom(undefined, 4, { SLURM_ARRAY_TASK_ID: '3' })).toEqual({ index: 3, from: 'SLURM_ARRAY_TASK_ID' });
    expect(() => shardIndexFrom(undefined, 4, {})).toThrow(/--shard-index I, or JOB_COMPLETION_INDEX or SLURM_ARRAY_TASK_ID/);
    expect(() => shardIndexFrom(undefined, 4, { SLURM_ARRAY_TASK_ID: '4' })).toThrow(/SLURM_ARRAY_TASK_ID must be an integer in 0\.\.3 \(--shards 4\), got '4'/);
    expect(() => shardIndexFrom(undefined, 4, { JOB_COMPLETION_INDEX: 'x' })).toThrow(/JOB_COMPLETION_INDEX must be an integer/);
  });
});
