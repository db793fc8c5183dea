// `ntensor attention-sweep` in-process on the committed fixture model: the dense row reproduces
// the model's own perplexity, θ = 0 equals dense, sparsity and error grow with θ; usage errors.
import * as path from 'path';
import { PACKAGE_ROOT } from '../../lib/native/loader';
import type { SweepReport } from '../../lib/cli/attention-sweep';
import * as nt from '../../lib';
import { cli } from './run-cli';


const FIXTURE = path.join(PACKAGE_ROOT, 'fixtures', 'tinyllama-fortunes');
const TEXT = path.join(FIXTURE, 'heldout.txt');

describe('ntensor attention-sweep', () => {
  test('dense row = model.perplexity, θ 0 = dense, sparsity grows with θ', async () => {
    const r = await cli(['attention-sweep', '--text', TEXT, '--limit', '257', '--ctx', '128', '--window', '16', '--thresholds', '0,0.1,0.5', '--json']);
    expect(r.code).toBe(0);
    const rep = JSON.parse(r.stdout) as SweepReport;
    expect(rep.rows.map((x) => x.threshold)).toEqual([null, 0, 0.1, 0.5]);
    const model = nt.model.load(FIXTURE);
    const ids = Int32Array.from(require('fs').readFileSync(TEXT).subarray(0, 257));
    const ref = model.perplexity(ids, { window: 128 });
    model.dispose();
    expect(rep.rows[0].nllPerToken).toBeCloseTo(ref.nllPerToken, 4);
    expect(rep.rows[1].attentionError).toBeLessThan(1e-5);
    expect(rep.rows[1].ppl).toBeCloseTo(rep.rows[0].ppl, 3);
    expect(rep.rows[2].sparsity).toBeGreaterThan(rep.rows[1].sparsity);
    expect(rep.rows[3].sparsity).toBeGreaterThan(rep.rows[2].sparsity);
    expect(rep.rows[3].attentionError).toBeGreaterThan(rep.rows[1].attentionError);
  }, 120000);

  test('prints a table', async () => {
    const r = await cli(['attention-sweep', '--text', TEXT, '--limit', '65', '--ctx', '64', '--thresholds', '0.2']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/sparsity/);
    expect(r.stdout).toMatch(/dense/);
    expect(r.stdout.split('\n').some((l) => /^\s*0\.2\s/.test(l))).toBe(true);
  }, 60000);

  test('usage errors', async () => {
    const a = await cli(['attention-sweep']);
    expect(a.code).not.toBe(0);
    expect(a.stderr).toMatch(/--text/);
    const b = await cli(['attention-sweep', '--text', TEXT, '--thresholds', '0,-1']);
    expect(b.code).not.toBe(0);
    expect(b.stderr).toMatch(/--thresholds must be a comma-separated list/);
    const c = await cli(['attention-sweep', '--text', path.join(FIXTURE, 'missing.txt')]);
    expect(c.code).not.toBe(0);
    expect(c.stderr).toMatch(/no such file/);
  });
});
