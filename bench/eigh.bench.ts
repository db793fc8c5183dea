// eigh suite: nt.linalg.eigh (values + vectors) f32/f64 at 256, 512, 1024 (2048 with --full),
// 1 and 2 threads, beside numpy.linalg.eigh (LAPACK syevd over OpenBLAS, timed inside its own
// process by bench/peers/eigh_numpy.py with OPENBLAS_NUM_THREADS set) and the pure-JS ml-matrix
// EigenvalueDecomposition (f64 256 and 512). Values-only rows (eigvalsh) at 1024. Ratios are
// peer time / ours at the same thread count (> 1: ours is faster).
// GFLOP/s use the nominal count of syevd with vectors, 4/3 n^3 (tridiagonalization) + 2 n^3
// (back-transformation) + 4/3 n^3 (divide-and-conquer merges without deflation) = 14/3 n^3;
// values only: 4/3 n^3.
import { EigenvalueDecomposition, Matrix } from 'ml-matrix';
import * as nt from '../lib';
import { hasNumpy, runNumpyPeer } from './peers/python';
import { BenchCase, BenchContext, CaseResult, Suite, SuiteSpec, sink, timeCalls } from './harness';

type D = 'f32' | 'f64';

const flopsOf = (n: number, vectors = true) => (vectors ? (14 / 3) * n ** 3 : (4 / 3) * n ** 3);


function numpySamples(dtype: D, n: number, threads: number, reps: number, valuesOnly = false): number[] {
  const args = [dtype, String(n), String(reps), ...(valuesOnly ? ['--values'] : [])];
  return runNumpyPeer<{ samples: number[] }>('eigh_numpy.py', args, threads).samples;
}


/** A random symmetric matrix (B + B^T) / 2 like the numpy peer's. */
function randomSymmetric(n: number, dtype: D, seed: number): nt.Tensor {
  const b = nt.randn([n, n], { seed, dtype: 'f64' });
  const v = b.data as Float64Array;
  const s = new Float64Array(n * n);
  for (let i = 0; i < n; ++i) for (let j = 0; j < n; ++j) s[i * n + j] = (v[i * n + j] + v[j * n + i]) / 2;
  b.dispose();
  return nt.tensor(s, { shape: [n, n], dtype });
}

const NUMPY = 'numpy (LAPACK syevd, OpenBLAS)';

export const eighSuite: Suite = {
  name: 'eigh',
  build(ctx: BenchContext): SuiteSpec {
    const cases: BenchCase[] = [];
    const owned: nt.Tensor[] = [];
    const sizes = ctx.full ? [256, 512, 1024, 2048] : [256, 512, 1024];
    const numpy = hasNumpy();
    for (const dtype of ['f32', 'f64'] as D[])
      for (const n of sizes) {
        const a = randomSymmetric(n, dtype, 3 * n + 1);
        owned.push(a);
        const name = `eigh ${dtype} ${n} (values + vectors)`;
        const reps = n <= 256 ? 20 : n <= 512 ? 10 : n <= 1024 ? 7 : 3;
        const run = () => {
          const r = nt.linalg.eigh(a);
          sink.value += r.values.get(0);
          r.values.dispose();
          r.vectors.dispose();
        };
        for (const threads of [1, 2]) {
          const npId = `${name} | ${NUMPY} | ${threads}t`;
          if (numpy) cases.push({ name, impl: NUMPY, threads, id: npId, flops: flopsOf(n), external: () => numpySamples(dtype, n, threads, reps) });
          cases.push({
            name,
            impl: 'nt.linalg.eigh',
            threads,
            flops: flopsOf(n),
            peer: numpy ? npId : undefined,
            ...(n >= 1024 ? { external: () => timeCalls(run, reps) } : { fn: run }),
          });
        }
      }
    // values only (eigvalsh)
    for (const dtype of ['f32', 'f64'] as D[]) {
      const n = 1024;
      const a = randomSymmetric(n, dtype, 77);
      owned.push(a);
      const name = `eigh ${dtype} ${n} (values only)`;
      for (const threads of [1, 2]) {
        const npId = `${name} | numpy eigvalsh (LAPACK syevd) | ${threads}t`;
        if (numpy)
          cases.push({ name, impl: 'numpy eigvalsh (LAPACK syevd)', threads, id: npId, flops: flopsOf(n, false), external: () => numpySamples(dtype, n, threads, 7, true) });
        cases.push({
          name,
          impl: 'nt.linalg.eigh',
          threads,
          flops: flopsOf(n, false),
          peer: numpy ? npId : undefined,
          external: () =>
            timeCalls(() => {
              const r = nt.linalg.eigh(a, { vectors: false });
              sink.value += r.values.get(0);
              r.values.dispose();
            }, 7),
        });
      }
    }
    // ml-matrix (pure JS, f64)
    for (const n of [256, 512]) {
      const a = randomSymmetric(n, 'f64', 5 * n);
      owned.push(a);
      const v = a.data as Float64Array;
      const rows: number[][] = [];
      for (let i = 0; i < n; ++i) rows.push(Array.from(v.subarray(i * n, (i + 1) * n)));
      const mat = new Matrix(rows);
      const name = `eigh f64 ${n} (values + vectors) vs ml-matrix`;
      const mlId = `${name} | ml-matrix EigenvalueDecomposition | 1t`;
      cases.push({
        name,
        impl: 'ml-matrix EigenvalueDecomposition',
        threads: 1,
        id: mlId,
        flops: flopsOf(n),
        note: n === 512 ? 'one call' : undefined,
        external: () =>
          timeCalls(() => (sink.value += new EigenvalueDecomposition(mat, { assumeSymmetric: true }).realEigenvalues[0]), n === 512 ? 1 : 3, n === 512 ? 0 : 1),
      });
      for (const threads of [1, 2])
        cases.push({
          name,
          impl: 'nt.linalg.eigh',
          threads,
          flops: flopsOf(n),
          peer: mlId,
          fn: () => {
            const r = nt.linalg.eigh(a);
            sink.value += r.values.get(0);
            r.values.dispose();
            r.vectors.dispose();
          },
        });
    }
    return {
      name: 'eigh',
      title: 'Symmetric eigendecomposition vs numpy/LAPACK syevd and ml-matrix',
      cases,
      summary: (results: CaseResult[]) => summarize(results, numpy),
      dispose: () => owned.forEach((t) => t.dispose()),
    };
  },
};

function summarize(results: CaseResult[], numpy: boolean): string[] {
  const lines: string[] = [];
  const find = (name: string, impl: string, threads: number) => results.find((r) => r.name === name && r.impl === impl && r.threads === threads && !r.error);
  if (numpy)
    for (const dtype of ['f32', 'f64'] as D[]) {
      const name = `eigh ${dtype} 1024 (values + vectors)`;
      const ours = find(name, 'nt.linalg.eigh', 2);
      const peer = find(name, NUMPY, 2);
      if (ours && peer)
        lines.push(
          `target eigh ${dtype} 1024 (vectors) <= 1.0x syevd time, 2 threads: ours ${(ours.median * 1e3).toFixed(0)} ms vs numpy ${(peer.median * 1e3).toFixed(0)} ms = ${(ours.median / peer.median).toFixed(2)}x the time: ${ours.median <= peer.median ? 'met' : 'MISSED'}`,
        );
    }
  for (const n of [256, 512]) {
    const name = `eigh f64 ${n} (values + vectors) vs ml-matrix`;
    const ml = find(name, 'ml-matrix EigenvalueDecomposition', 1);
    const o = find(name, 'nt.linalg.eigh', 2);
    if (ml && o) lines.push(`f64 ${n}: ${(ml.median / o.median).toFixed(0)}x faster than ml-matrix (2 threads)`);
  }
  return lines;
}
