// Stored tensors the model does not read are reported, never dropped silently: a checkpoint
// whose config.json claims fewer layers than its weights hold loads those layers (the logits of
// the truncated model, checked against the float64 reference) and emits one NT_UNUSED_TENSORS
// warning naming the extra layers; a complete checkpoint emits none.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { load, loadAsync } from '../../lib/model';
import { values } from './helpers';
import { referenceLogits, writeTiny } from './tiny';

/** NT_UNUSED_TENSORS warnings emitted while fn runs (process.emitWarning spied, not printed). */
async function unusedWarnings(fn: () => Promise<void>): Promise<string[]> {
  const spy = jest.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
  try {
    await fn();
    return [...spy.mock.calls].filter((c) => (c[1] as { code?: string } | undefined)?.code === 'NT_UNUSED_TENSORS').map((c) => String(c[0]));
  } finally {
    spy.mockRestore();
  }
}

describe('model.load reports stored tensors it does not use', () => {
  let tmp: string;
  beforeAll(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nt-unused-'))));
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  test('layers past num_hidden_layers: one NT_UNUSED_TENSORS warning per folder; the first layers load exactly', async () => {
    const dir = path.join(tmp, 'truncated');
    const m = writeTiny(dir, { num_hidden_layers: 3 });
    const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...cfg, num_hidden_layers: 2 }));
    const warnings = await unusedWarnings(async () => {
      const model = load(dir);
      const ours = model.forward([1, 5, 9, 2]);
      const want = referenceLogits({ ...m, config: { ...m.config, num_hidden_layers: 2 } }, [1, 5, 9, 2]);
      const got = values(ours);
      let err = 0;
      for (let i = 0; i < got.length; ++i) err = Math.max(err, Math.abs(got[i] - want[i]));
      expect(err).toBeLessThan(1e-4);
      ours.dispose();
      model.dispose();
      (await loadAsync(dir)).dispose(); // the same folder and count: not repeated
    });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/9 stored tensor\(s\) are not used/);
    expect(warnings[0]).toContain("'model.layers.2.");
    expect(warnings[0]).toMatch(/layers up to 2 but config\.json has num_hidden_layers = 2/);
  });

  test('a complete checkpoint loads without the warning', async () => {
    const dir = path.join(tmp, 'complete');
    writeTiny(dir);
    expect(await unusedWarnings(async () => load(dir).dispose())).toHaveLength(0);
  });
});
