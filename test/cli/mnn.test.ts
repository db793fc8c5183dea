// `ntensor mnn` on the committed fixture model, run in-process through main().
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as nt from '../../lib';
import { main } from '../../lib/cli/main';
import type { MnnReport } from '../../lib/cli/mnn';
import { PACKAGE_ROOT } from '../../lib/native/loader';
import { cli } from './run-cli';

const MODEL = path.join(PACKAGE_ROOT, 'fixtures', 'tinyllama-fortunes');
const TEXT = path.join(MODEL, 'heldout.txt');


jest.setTimeout(120000);

describe('ntensor mnn', () => {
  test('prints MNN and the exact nuclear norm of the final hidden states, equal to the library values', async () => {
    const r = await cli(['mnn', '--model', MODEL, '--text', TEXT, '--tokens', '300', '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const rep = JSON.parse(r.stdout) as MnnReport;
    expect(rep.tokens).toBe(300);
    expect(rep.hiddenSize).toBe(256);
    const model = nt.model.load(MODEL);
    const h = model.hidden(Int32Array.from(fs.readFileSync(TEXT)).subarray(0, 300));
    expect(rep.mnn).toBeCloseTo(nt.llm.mnn(h), 10);
    expect(rep.nuclearNorm).toBeCloseTo(nt.llm.nuclearNorm(h), 10);
    h.dispose();
    model.dispose();
    expect(rep.mnn).toBeGreaterThanOrEqual(rep.nuclearNorm); // N >= d: the L1,2 bound holds
    expect(rep.mnnSeconds).toBeGreaterThan(0);
    expect(rep.nuclearSeconds).toBeGreaterThan(0);
  });

  test('the table form names both numbers; a missing file is NT_IO and exit code 1', async () => {
    const r = await cli(['mnn', '--model', MODEL, '--text', TEXT, '--tokens', '64']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/MNN/);
    expect(r.stdout).toMatch(/nuclear norm \/ N/);
    const bad = await cli(['mnn', '--model', MODEL, '--text', path.join(os.tmpdir(), 'no-such-file-ntensor.txt')]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/no such file \(NT_IO\)/);
    const tok = await cli(['mnn', '--model', MODEL, '--text', TEXT, '--tokens', 'x']);
    expect(tok.code).toBe(1);
    expect(tok.stderr).toMatch(/--tokens must be an integer/);
  });
});
