// `ntensor gear` on the committed fixture model, run in-process through main().
import * as path from 'path';
import { main } from '../../lib/cli/main';
import { PACKAGE_ROOT } from '../../lib/native/loader';
import type { GearReport } from '../../lib/cli/gear';
import * as fs from 'fs';
import * as nt from '../../lib';
import { cli } from './run-cli';

const MODEL = path.join(PACKAGE_ROOT, 'fixtures', 'tinyllama-fortunes');
const TEXT = path.join(MODEL, 'heldout.txt');


jest.setTimeout(120000);

describe('ntensor gear', () => {
  test('reports bytes, K/V error, attention error, perplexity and speed for f32 / KIVI / GEAR-L / GEAR', async () => {
    const r = await cli(['gear', '--model', MODEL, '--text', TEXT, '--limit', '128', '--decode', '2', '--outliers', '0.1', '--ppl-tokens', '1024', '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as GearReport;
    expect(report.variants.map((v) => v.name)).toEqual(['f32 cache', 'KIVI', 'GEAR-L', 'GEAR']);
    const [f32, kivi, gearL, gear] = report.variants;
    expect(f32.bytes / f32.f16Bytes).toBe(2);
    for (const v of [kivi, gearL, gear]) {
      expect(v.bytes).toBeLessThan(v.f16Bytes);
      expect(v.attentionError).toBeGreaterThan(0);
      expect(v.attentionError).toBeLessThan(0.2);
    }
    // 4-bit codes (1/4 of f16) + an f16 scale and min per group: keys 64 tokens (1/32 of f16),
    // values a whole 32-channel head vector (1/16)
    expect(kivi.bytes / kivi.f16Bytes).toBeCloseTo(0.25 + (1 / 32 + 1 / 16) / 2, 6);
    expect(kivi.keyError).toBeGreaterThan(gearL.keyError);
    expect(gearL.keyError).toBeGreaterThan(gear.keyError);
    expect(kivi.valueError).toBeGreaterThan(gearL.valueError);
    expect(gearL.valueError).toBeGreaterThan(gear.valueError);
    const model = nt.model.load(MODEL);
    const ids = Int32Array.from(fs.readFileSync(TEXT)).subarray(0, 1024);
    expect(f32.ppl).toBeCloseTo(model.perplexity(ids, { window: 256 }).ppl, 6);
    model.dispose();
    for (const v of report.variants) {
      expect(Number.isFinite(v.ppl)).toBe(true);
      expect(v.tokensPerSecond).toBeGreaterThan(0);
    }
    // the f32 cache reproduces the model's own perplexity (same windows); 4-bit costs little
    expect(report.window).toBe(256);
    expect(Math.abs(gear.ppl - f32.ppl) / f32.ppl).toBeLessThan(0.02);
  });

  test('prints a table', async () => {
    const r = await cli(['gear', '--model', MODEL, '--text', TEXT, '--limit', '64', '--decode', '1', '--bits', '2', '--rank', '2', '--outliers', '0.05', '--ppl-tokens', '300', '--group', '32']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/cache\s+bits\s+rank\s+s\s+bytes\s+vs f16/);
    for (const name of ['f32 cache', 'KIVI', 'GEAR-L', 'GEAR']) expect(r.stdout).toContain(name);
    expect(r.stdout).toMatch(/GEAR\s+2\s+2\s+5\.0%/);
  });

  test('bad arguments fail with one line and a code', async () => {
    const cases: [string[], RegExp][] = [
      [['gear', '--model', MODEL], /give exactly one of --text FILE or --ids FILE/],
      [['gear', '--model', MODEL, '--text', TEXT, '--bits', '3'], /--bits must be 2 or 4, got '3'/],
      [['gear', '--model', MODEL, '--text', TEXT, '--outliers', '1.5'], /--outliers must be a number in \[0, 1\)/],
      [['gear', '--model', MODEL, '--text', path.join(MODEL, 'missing.txt')], /missing\.txt: no such file \(NT_IO\)/],
    ];
    for (const [args, msg] of cases) {
      const r = await cli(args);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(msg);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
  });
});
