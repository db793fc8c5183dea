// `ntensor lolcats` on the committed fixture model, run in-process.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { PACKAGE_ROOT } from '../../lib/native/loader';
import * as nt from '../../lib';
import { cli } from './run-cli';

const MODEL = path.join(PACKAGE_ROOT, 'fixtures', 'tinyllama-fortunes');


let tmp: string;
let calib: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ntensor-lolcats-'));
  calib = path.join(tmp, 'calib.txt');
  fs.writeFileSync(calib, fs.readFileSync(path.join(MODEL, 'heldout.txt'), 'utf8').slice(0, 64 * 6));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('ntensor lolcats', () => {
  it('trains, writes maps + loss curve + summary, and reports MSE and three perplexities', async () => {
    const out = path.join(tmp, 'out');
    const r = await cli(['lolcats', '--model', MODEL, '--text', calib, '--steps', '12', '--window', '16', '--features', '16', '--seq-len', '64', '--eval-tokens', '128', '--out', out]);
    expect(r.stderr).toMatch(/attention transfer/);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/layer\s+MSE before \(x1000\)\s+MSE after \(x1000\)\s+mean gamma/);
    expect(r.stdout).toMatch(/attention-transfer MSE \(held out, x1000\)\s+before [\d.e+-]+, after [\d.e+-]+/);
    expect(r.stdout).toMatch(/perplexity \(held out, 127 tokens\)\s+softmax [\d.]+, untrained hybrid [\d.]+, trained hybrid [\d.]+/);
    const summary = JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8'));
    expect(summary.trainSequences).toBe(4);
    expect(summary.heldOutSequences).toBe(2);
    expect(summary.mse.meanAfter).toBeLessThan(summary.mse.meanBefore);
    for (const k of ['softmax', 'untrainedHybrid', 'trainedHybrid']) expect(Number.isFinite(summary.perplexity[k])).toBe(true);
    const svg = fs.readFileSync(path.join(out, 'loss.svg'), 'utf8');
    expect(svg).toMatch(/^<svg/);
    expect(svg).toMatch(/layer 3/);
    const maps = nt.llm.lolcats.loadMaps(path.join(out, 'lolcats_maps.safetensors'));
    expect(maps).toHaveLength(4);
    expect(maps[0].weightQ.shape).toEqual([8, 32, 16]);
    expect(maps[0].window).toBe(16);
    maps.forEach((m) => m.dispose());
  });

  it('fails with one coded line on bad flags and a missing calibration file', async () => {
    const out = path.join(tmp, 'bad');
    const steps = await cli(['lolcats', '--model', MODEL, '--text', calib, '--steps', 'many', '--out', out]);
    expect(steps.code).toBe(1);
    expect(steps.stderr).toMatch(/ntensor lolcats: --steps must be an integer >= 0, got 'many' \(NT_VALUE\)/);
    const missing = await cli(['lolcats', '--model', MODEL, '--text', path.join(tmp, 'nope.txt'), '--out', out]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/nope\.txt: .*\(NT_IO\)/);
    const short = await cli(['lolcats', '--model', MODEL, '--text', calib, '--seq-len', '1000', '--out', out]);
    expect(short.code).toBe(1);
    expect(short.stderr).toMatch(/at least 2 are needed \(train \+ held out\) \(NT_VALUE\)/);
    const noModel = await cli(['lolcats', '--text', calib, '--out', out]);
    expect(noModel.code).toBe(1);
    expect(noModel.stderr).toMatch(/--model/);
  });
});
