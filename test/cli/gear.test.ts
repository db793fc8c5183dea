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

  test('the default preset is GEAR (rank 4, s 2%); zero outlier budgets are counted and warned about on stderr', async () => {
    const r = await cli(['gear', '--model', MODEL, '--text', TEXT, '--limit', '128', '--decode', '1', '--ppl-tokens', '300', '--json']);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as GearReport;
    expect(report.preset).toBe('gear');
    expect(report.options).toEqual({ bits: 4, rank: 4, outlierRatio: 0.02, group: 64 });
    const gear = report.variants[3];
    expect(gear).toMatchObject({ name: 'GEAR', rank: 4, outlierRatio: 0.02 });
    // fixture: 4 layers x 4 kv heads, head_dim 32. compress of 128 tokens: floor(0.02·128/2) = 1 per key
    // channel, floor(0.02·32/2) = 0 per value token; the cache's one 64-token chunk: floor(0.64) = 0 per key channel
    const slices = 4 * 4;
    const none = (n: number) => ({ slices: n, slicesWithoutOutliers: 0, slicesRankClamped: 0 });
    expect(gear.budget).toEqual({
      compress: { key: none(slices), value: { ...none(slices), slicesWithoutOutliers: slices } },
      cache: { key: { ...none(slices), slicesWithoutOutliers: slices }, value: { ...none(slices), slicesWithoutOutliers: slices } },
    });
    // GEAR-L and KIVI request no outliers: nothing to report
    expect(report.variants[2].budget).toEqual({ compress: { key: none(slices), value: none(slices) }, cache: { key: none(slices), value: none(slices) } });
    expect(report.warnings).toEqual([
      `GEAR: --outliers 0.02 keeps no outliers in 16 of 16 value slices of compress over 128 tokens: floor(0.02·32/2) = 0 per side for a value token of 32 channels (head_dim)`,
      `GEAR: --outliers 0.02 keeps no outliers in 16 of 16 key slices of the streaming cache's 64-token chunks (--buffer): floor(0.02·64/2) = 0 per side for a key channel of 64 tokens`,
      `GEAR: --outliers 0.02 keeps no outliers in 16 of 16 value slices of the streaming cache's 64-token chunks (--buffer): floor(0.02·32/2) = 0 per side for a value token of 32 channels (head_dim)`,
    ]);
    expect(r.stderr.trim().split('\n')).toEqual(report.warnings.map((w) => `ntensor gear: warning: ${w}`));
    // a positive budget everywhere (s 10%): no warning
    const ok = await cli(['gear', '--model', MODEL, '--text', TEXT, '--limit', '128', '--decode', '1', '--ppl-tokens', '300', '--outliers', '0.1']);
    expect(ok.code).toBe(0);
    expect(ok.stderr).not.toMatch(/warning/); // (stderr has the progress bar in text mode)
    expect(ok.stdout).toContain('preset gear (bits 4, rank 4, s 0.1)');
  });

  test('--preset kivi and gear-l run the ladder up to the preset; the header names it', async () => {
    const kivi = await cli(['gear', '--model', MODEL, '--text', TEXT, '--limit', '64', '--decode', '1', '--ppl-tokens', '200', '--preset', 'kivi', '--json']);
    expect(kivi.code).toBe(0);
    expect(kivi.stderr).toBe('');
    const rk = JSON.parse(kivi.stdout) as GearReport;
    expect(rk.preset).toBe('kivi');
    expect(rk.options).toMatchObject({ rank: 0, outlierRatio: 0 });
    expect(rk.variants.map((v) => v.name)).toEqual(['f32 cache', 'KIVI']);
    expect(rk.warnings).toEqual([]);
    const gl = await cli(['gear', '--model', MODEL, '--text', TEXT, '--limit', '64', '--decode', '1', '--ppl-tokens', '200', '--preset', 'gear-l', '--rank', '2']);
    expect(gl.code).toBe(0);
    expect(gl.stdout).toContain('preset gear-l (bits 4, rank 2)');
    expect(gl.stdout).toMatch(/GEAR-L\s+4\s+2\s+0\s/);
    expect(gl.stdout).not.toMatch(/^GEAR\s+4/m);
    expect(gl.stdout).not.toContain('outliers per side');
  });

  test('bad arguments fail with one line and a code', async () => {
    const cases: [string[], RegExp][] = [
      [['gear', '--model', MODEL], /give exactly one of --text FILE or --ids FILE/],
      [['gear', '--model', MODEL, '--text', TEXT, '--bits', '3'], /--bits must be 2 or 4, got '3'/],
      [['gear', '--model', MODEL, '--text', TEXT, '--outliers', '1.5'], /--outliers must be a number in \[0, 1\)/],
      [['gear', '--model', MODEL, '--text', TEXT, '--preset', 'quarot'], /--preset must be gear, gear-l or kivi, got 'quarot' \(NT_VALUE\)/],
      [['gear', '--model', MODEL, '--text', TEXT, '--preset', 'kivi', '--rank', '2'], /--rank has no effect with --preset kivi \(quantization only\) \(NT_VALUE\)/],
      [['gear', '--model', MODEL, '--text', TEXT, '--preset', 'kivi', '--outliers', '0.1'], /--outliers has no effect with --preset kivi/],
      [['gear', '--model', MODEL, '--text', TEXT, '--preset', 'gear-l', '--outliers', '0.1'], /--outliers has no effect with --preset gear-l \(no outliers\) \(NT_VALUE\)/],
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
