// The API fuzzer (api-fuzz/generator.ts) over a fixed-seed slice, in a child process so that
// a crash is reported with the seed and call that reproduce it. Every call either succeeds
// with a checked result or throws a coded error; inputs are never modified; nothing leaks.
// More: `npm run fuzz:api -- --calls 100000 --seed S`.
import { spawnSync } from 'child_process';
import * as path from 'path';

const RUNNER = path.join(__dirname, 'api-fuzz', 'run.js');

function runSlice(seed: number, start: number, calls: number): { ok: boolean; calls?: number; succeeded?: number; codes?: Record<string, number>; counts?: Record<string, { ok: number; coded: number }>; failedCall?: number; message?: string } {
  const r = spawnSync(process.execPath, [RUNNER, '--seed', String(seed), '--start', String(start), '--calls', String(calls), '--json'], {
    encoding: 'utf8',
    env: process.env,
    timeout: 240_000,
    maxBuffer: 16 << 20,
  });
  const last = r.stdout.trim().split('\n').pop() ?? '';
  let report;
  try {
    report = JSON.parse(last);
  } catch {
    report = undefined;
  }
  if (r.status !== 0 || !report) {
    throw new Error(
      `api fuzzer process failed (status ${r.status}, signal ${r.signal}) on seed ${seed} calls ${start}..${start + calls - 1}` +
        ` (reproduce: node test/reliability/api-fuzz/run.js --seed ${seed} --start ${start} --calls ${calls}):\n${r.stderr.slice(-4000)}`,
    );
  }
  return report;
}

describe('API fuzzer', () => {
  test('a fixed-seed slice of 3000 calls keeps the contract', () => {
    const rep = runSlice(20261127, 0, 3000);
    expect(rep.ok).toBe(true);
    expect(rep.calls).toBe(3000);
    // both outcomes are exercised broadly, so neither check is vacuous
    expect(rep.succeeded!).toBeGreaterThan(1000);
    for (const code of ['NT_SHAPE', 'NT_DTYPE', 'NT_VALUE', 'NT_DISPOSED']) expect(rep.codes![code] ?? 0).toBeGreaterThan(0);
    const opsWithSuccess = Object.values(rep.counts!).filter((c) => c.ok > 0).length;
    expect(opsWithSuccess).toBeGreaterThanOrEqual(30);
  }, 300_000);

  test.each(['modify-input', 'leak', 'uncoded'])('the harness catches a planted violation (%s) and names the call', (inject) => {
    const r = spawnSync(process.execPath, [RUNNER, '--seed', '3', '--calls', '200', '--inject', inject], { encoding: 'utf8', env: process.env, timeout: 120_000 });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/contract violation in call \d+ \(reproduce: node test\/reliability\/api-fuzz\/run\.js --seed 3 --only \d+\)/);
    expect(r.stderr).toMatch(inject === 'modify-input' ? /an input tensor was modified/ : inject === 'leak' ? /nt\.memory\(\)/ : /uncoded error/);
  });
});
