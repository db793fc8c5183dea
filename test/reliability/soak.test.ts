// The soak loop (soak/loop.ts), short and fixed-seed: 1000 iterations of mixed ops in a child
// process with --expose-gc; nt.memory() must return exactly to its start, RSS must stay within
// the bound after warm-up. `npm run soak` runs 10000 iterations.
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
  if (!rep.sanitized) expect(rep.rssGrowthMB).toBeLessThan(20); // ASan's quarantine holds freed memory
  expect(r.status).toBe(0);
}, 300_000);
