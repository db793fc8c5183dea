// The soak loop (soak/loop.ts), short and fixed-seed: 1000 iterations of mixed ops, native
// (>= 64 KiB) storages disposed under async ops, 100 fixture-model loads (mapped and bf16) with
// forwards, 20 quantizeHead/quantizeEmbeddings and 2 compressModel runs, in a child process with
// --expose-gc (about 15 s); nt.memory() (nativeBytes and mappedBytes included) must return
// exactly to its start, RSS must stay within the bound after warm-up. `npm run soak` runs 10000.
import { spawnSync } from 'child_process';
import * as path from 'path';

test('1000 soak iterations: no tensor leak, RSS bounded', () => {
  const r = spawnSync(process.execPath, ['--expose-gc', path.join(__dirname, 'soak', 'run.js'), '--iterations', '1000', '--json'], {
    encoding: 'utf8',
    env: process.env,
    timeout: 280_000,
  });
  const last = r.stdout.trim().split('\n').pop() ?? '';
  let rep;
  try {
    rep = JSON.parse(last);
  } catch {
    throw new Error(`soak runner failed (status ${r.status}, signal ${r.signal}):\n${r.stderr.slice(-4000)}`);
  }
  expect(rep.problems).toEqual([]);
  expect(rep.gc).toBe(true);
  expect(rep.memoryAfter).toEqual(rep.memoryBefore);
  expect(rep.memoryAfter).toMatchObject({ tensors: 0, nativeBytes: 0, mappedBytes: 0 });
  if (!rep.sanitized) expect(rep.rssGrowthMB).toBeLessThan(20); // ASan's quarantine holds freed memory
  expect(r.status).toBe(0);
}, 300_000);
