// numpy peers run as python3 subprocesses (one per thread count: OpenBLAS reads
// OPENBLAS_NUM_THREADS at import). Each peer script times the op itself and prints JSON.
import { spawnSync } from 'child_process';
import * as path from 'path';
import { PACKAGE_ROOT } from '../../lib/native/loader';

let numpyAvailable: boolean | undefined;

export function hasNumpy(): boolean {
  if (numpyAvailable === undefined) numpyAvailable = spawnSync('python3', ['-c', 'import numpy'], { stdio: 'ignore' }).status === 0;
  return numpyAvailable;
}

/** Runs bench/peers/<script> with `args` on `threads` BLAS threads and parses its JSON output. */
export function runNumpyPeer<T>(script: string, args: readonly string[], threads: number): T {
  const file = path.join(PACKAGE_ROOT, 'bench', 'peers', script);
  const env = { ...process.env, OPENBLAS_NUM_THREADS: String(threads), OMP_NUM_THREADS: String(threads) };
  const r = spawnSync('python3', [file, ...args], { env, encoding: 'utf8', maxBuffer: 16 << 20 });
  if (r.status !== 0) throw new Error(`${script} ${args.join(' ')} failed: ${r.stderr || r.error}`);
  return JSON.parse(r.stdout) as T;
}
