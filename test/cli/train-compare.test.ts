// `ntensor train-compare` on the committed fixture model, run in-process through main().
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { main } from '../../lib/cli/main';
import { PACKAGE_ROOT } from '../../lib/native/loader';
import { cli } from './run-cli';

const MODEL = path.join(PACKAGE_ROOT, 'fixtures', 'tinyllama-fortunes');
const TEXT = path.join(MODEL, 'heldout.txt');


jest.setTimeout(180000);

describe('ntensor train-compare', () => {
  test('writes loss.svg and results.json with a loss curve and state bytes per optimizer', async () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'ntensor-train-'));
    const r = await cli(['train-compare', '--model', MODEL, '--text', TEXT, '--steps', '3', '--tokens', '48', '--rank', '16', '--update-gap', '2', '--out', out]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/GradNormLoRP8bit/);
    const res = JSON.parse(fs.readFileSync(path.join(out, 'results.json'), 'utf8'));
    expect(res.runs.map((x: { method: string }) => x.method)).toEqual(['Adam', 'Adam8bit', 'GaLore', 'GradNormLoRP', 'GradNormLoRP8bit']);
    for (const run of res.runs) {
      expect(run.losses).toHaveLength(4);
      expect(run.losses[3]).toBeLessThan(run.losses[0]);
      expect(Number.isFinite(run.evalLoss)).toBe(true);
    }
    expect(res.runs[0].vsAdam).toBe(0);
    expect(res.runs[2].vsAdam).toBeLessThan(0);
    const svg = fs.readFileSync(path.join(out, 'loss.svg'), 'utf8');
    expect(svg).toMatch(/^<svg/);
    expect(svg).toMatch(/GaLore/);
    fs.rmSync(out, { recursive: true, force: true });
  });

  test('bad options are refused with a coded one-line error', async () => {
    const r = await cli(['train-compare', '--model', MODEL, '--text', TEXT, '--steps', '0', '--out', os.tmpdir()]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/--steps must be an integer >= 1/);
  });
});
