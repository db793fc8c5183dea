// SVD suite: nt.linalg.svd (U, S, V thin) f32/f64 at 256, 512, 1024 (2048² and 4096x1024 with
// --full), 1 and 2 threads, beside numpy.linalg.svd (LAPACK gesdd over OpenBLAS, timed inside
// its own process by bench/peers/svd_numpy.py with OPENBLAS_NUM_THREADS set) and the pure-JS
// ml-matrix SVD (f64 256, and 512 once). Ratios in the table are numpy time / ours at the same
// thread count (> 1: ours is faster); the ml-matrix ratio is in the summary lines.
// Ours: divide-and-conquer bidiagonal solve from min(m, n) = 64 (gesdd's route), QR iteration
// below. GFLOP/s use the nominal Golub-Van Loan count for U1, S, V of the Golub-Kahan-Reinsch SVD,
// 14 m n^2 + 8 n^3 (m >= n), whatever the algorithm actually executes.
import { Matrix, SVD } from 'ml-matrix';
import * as nt from '../lib';
import { hasNumpy, runNumpyPeer } from './peers/python';
import { BenchCase, BenchContext, CaseResult, Suite, SuiteSpec, sink, timeCalls } from './harness';

type D = 'f32' | 'f64';

const flopsOf = (m: number, n: number) => {
  const [M, N] = m >= n ? [m, n] : [n, m];
  return 14 * M * N * N + 8 * N ** 3;
};


function numpySamples(dtype: D, m: number, n: number, threads: number, reps: number): number[] {
  return runNumpyPeer<{ samples: number[] }>('svd_numpy.py', [dtype, String(m), String(n), String(reps)], threads).samples;
}


export const svdSuite: Suite = {
  name: 'svd',
  build(ctx: BenchContext): SuiteSpec {
    const cases: BenchCase[] = [];
    const owned: nt.Tensor[] = [];
    const shapes: [number, number][] = [
      [256, 256],
      [512, 512],
      [1024, 1024],
    ];
    if (ctx.full) shapes.push([2048, 2048], [4096, 1024]);
    const numpy = hasNumpy();
    for (const dtype of ['f32', 'f64'] as D[])
      for (const [m, n] of shapes) {
        const a = nt.randn([m, n], { seed: m * 7 + n, dtype });
        owned.push(a);
        const name = `svd ${dtype} ${m}x${n} (U,S,V)`;
        const big = m * n >= 1024 * 1024;
        const reps = m * n <= 256 * 256 ? 20 : m * n <= 512 * 512 ? 10 : m * n <= 1024 * 1024 ? 5 : 3;
        const run = () => {
          const r = nt.linalg.svd(a);
          sink.value += r.S.get(0);
          r.U!.dispose();
          r.S.dispose();
          r.Vt!.dispose();
        };
        for (const threads of [1, 2]) {
          const npId = `${name} | numpy (LAPACK gesdd, OpenBLAS) | ${threads}t`;
          if (numpy)
            cases.push({ name, impl: 'numpy (LAPACK gesdd, OpenBLAS)', threads, id: npId, flops: flopsOf(m, n), external: () => numpySamples(dtype, m, n, threads, reps) });
          cases.push({
            name,
            impl: 'nt.linalg.svd',
            threads,
            flops: flopsOf(m, n),
            peer: numpy ? npId : undefined,
            ...(big ? { external: () => timeCalls(run, reps) } : { fn: run }),
          });
        }
      }
    // ml-matrix (pure JS, f64)
    const mlSizes = [256, 512];
    for (const n of mlSizes) {
      const a = nt.randn([n, n], { seed: 5 * n, dtype: 'f64' });
      owned.push(a);
      const rows: number[][] = [];
      const v = a.data as Float64Array;
      for (let i = 0; i < n; ++i) rows.push(Array.from(v.subarray(i * n, (i + 1) * n)));
      const mat = new Matrix(rows);
      const name = `svd f64 ${n}x${n} (U,S,V) vs ml-matrix`;
      const mlId = `${name} | ml-matrix SVD | 1t`;
      cases.push({
        name,
        impl: 'ml-matrix SVD',
        threads: 1,
        id: mlId,
        flops: flopsOf(n, n),
        note: n === 512 ? 'one call' : undefined,
        external: () => timeCalls(() => (sink.value += new SVD(mat).diagonal[0]), n === 512 ? 1 : 3, n === 512 ? 0 : 1),
      });
      for (const threads of [1, 2])
        cases.push({
          name,
          impl: 'nt.linalg.svd',
          threads,
          flops: flopsOf(n, n),
          peer: mlId,
          fn: () => {
            const r = nt.linalg.svd(a);
            sink.value += r.S.get(0);
            r.U!.dispose();
            r.S.dispose();
            r.Vt!.dispose();
          },
        });
    }
    return {
      name: 'svd',
      title: 'Dense SVD (U, S, V thin) vs numpy/LAPACK gesdd and ml-matrix',
      cases,
      summary: (results: CaseResult[]) => summarize(results, numpy),
      dispose: () => owned.forEach((t) => t.dispose()),
    };
  },
};

function summarize(results: CaseResult[], numpy: boolean): string[] {
  const lines: string[] = [];
  const find = (name: string, impl: string, threads: number) => results.find((r) => r.name === name && r.impl === impl && r.threads === threads && !r.error);
  const ours = find('svd f32 1024x1024 (U,S,V)', 'nt.linalg.svd', 2);
  const peer = find('svd f32 1024x1024 (U,S,V)', 'numpy (LAPACK gesdd, OpenBLAS)', 2);
  if (ours && peer && numpy)
    lines.push(
      `target SVD f32 1024² (U,S,V) <= 1.0x gesdd time, 2 threads: ours ${(ours.median * 1e3).toFixed(0)} ms vs numpy ${(peer.median * 1e3).toFixed(0)} ms = ${(ours.median / peer.median).toFixed(2)}x the time: ${ours.median <= peer.median ? 'met' : 'MISSED'}`,
    );
  const o512 = find('svd f64 512x512 (U,S,V)', 'nt.linalg.svd', 2);
  const p512 = find('svd f64 512x512 (U,S,V)', 'numpy (LAPACK gesdd, OpenBLAS)', 2);
  if (o512 && p512 && numpy)
    lines.push(
      `target SVD f64 512² (U,S,V) >= 1.0x gesdd, 2 threads: ours ${(o512.median * 1e3).toFixed(1)} ms vs numpy ${(p512.median * 1e3).toFixed(1)} ms = ${(p512.median / o512.median).toFixed(2)}x: ${o512.median <= p512.median ? 'met' : 'MISSED'}`,
    );
  for (const n of [256, 512]) {
    const name = `svd f64 ${n}x${n} (U,S,V) vs ml-matrix`;
    const ml = find(name, 'ml-matrix SVD', 1);
    const o = find(name, 'nt.linalg.svd', 2);
    if (ml && o) lines.push(`f64 ${n}²: ${(ml.median / o.median).toFixed(0)}x faster than ml-matrix (2 threads; target >= 50x)`);
  }
  return lines;
}
