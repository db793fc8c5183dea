// Factor suite: nt.linalg.qr (Q and R) and nt.linalg.cholesky at 1024, f32/f64, 1 and 2 threads,
// beside numpy (LAPACK geqrf+orgqr / potrf over OpenBLAS) and ml-matrix (pure JS, f64); and
// nt.linalg.rsvd rank 64 of a 4096² f32 matrix (oversample 10, 2 power iterations) beside the
// same randomized algorithm in numpy and numpy's full SVD (gesdd, one call, 2 threads: it takes
// tens of seconds). numpy times itself in its own process (bench/peers/factor_numpy.py, with
// OPENBLAS_NUM_THREADS set); both sides read the same .npy inputs, which numpy writes once.
// The rsvd input is Q1 diag(0.9^i) Q2^T (i < 512), so its exact singular values are known; the
// summary reports the top-64 relative error of ours, of numpy's rsvd and of numpy's full SVD.
// GFLOP/s use nominal counts: QR with Q 8/3 n³ (geqrf 4/3 n³ + orgqr 4/3 n³), Cholesky n³/3,
// rsvd 12 m n l (the 2 q + 2 products with A, l = rank + oversample; QRs not counted).
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { CholeskyDecomposition, Matrix, QrDecomposition } from 'ml-matrix';
import * as nt from '../lib';
import { hasNumpy, runNumpyPeer } from './peers/python';
import { BenchCase, BenchContext, CaseResult, Suite, SuiteSpec, sink, timeCalls } from './harness';

type D = 'f32' | 'f64';
const N = 1024;
const RSVD = { n: 4096, rank: 64, oversample: 10, powerIters: 2 };
const NUMPY_IMPL = 'numpy (LAPACK, OpenBLAS)';



interface NumpyOut {
  samples: number[];
  s?: number[];
}

function numpyRun(args: string[], threads: number): NumpyOut {
  return runNumpyPeer<NumpyOut>('factor_numpy.py', args, threads);
}


function toMlMatrix(t: nt.Tensor): Matrix {
  const f = t.astype('f64');
  const v = f.data as Float64Array;
  const [m, n] = t.shape;
  const rows: number[][] = [];
  for (let i = 0; i < m; ++i) rows.push(Array.from(v.subarray(i * n, (i + 1) * n)));
  f.dispose();
  return new Matrix(rows);
}

/** max_i |got_i - want_i| / want_i over the first `k`. */
function maxRelError(got: ArrayLike<number>, want: ArrayLike<number>, k: number): number {
  let e = 0;
  for (let i = 0; i < k; ++i) e = Math.max(e, Math.abs(got[i] - want[i]) / want[i]);
  return e;
}

interface Accuracy {
  ours?: number[];
  numpyRsvd?: number[];
  numpySvd?: number[];
  exact?: number[];
}

export const factorSuite: Suite = {
  name: 'factor',
  build(ctx: BenchContext): SuiteSpec {
    const cases: BenchCase[] = [];
    const owned: nt.Tensor[] = [];
    const numpy = hasNumpy();
    const acc: Accuracy = {};
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nt-factor-bench-'));
    const file = (name: string) => path.join(dir, name);
    let inputs: Record<string, nt.Tensor>;
    if (numpy) {
      numpyRun(['gen', dir], 2);
      inputs = {
        qr_f32: nt.io.loadNpy(file('qr_f32.npy')),
        qr_f64: nt.io.loadNpy(file('qr_f64.npy')),
        spd_f32: nt.io.loadNpy(file('spd_f32.npy')),
        spd_f64: nt.io.loadNpy(file('spd_f64.npy')),
        rsvd_f32: nt.io.loadNpy(file('rsvd_f32.npy')),
      };
      const sigma = nt.io.loadNpy(file('rsvd_sigma.npy'));
      acc.exact = Array.from(sigma.data as Float64Array);
      sigma.dispose();
    } else {
      // no numpy: the same kinds of inputs from nt's own generator (no peer rows)
      const g = (dtype: D) => nt.randn([N, N], { seed: 2024, dtype });
      // SPD: H H^T / n + I (scaled in place through a contiguous f64 view of the product)
      const spd = (dtype: D) => {
        const h = nt.randn([N, N], { seed: 7, dtype });
        const a = nt.matmul(h, h, { transB: true });
        h.dispose();
        const v = a.data as Float32Array | Float64Array;
        for (let i = 0; i < v.length; ++i) v[i] /= N;
        for (let i = 0; i < N; ++i) v[i * N + i] += 1;
        return a;
      };
      inputs = { qr_f32: g('f32'), qr_f64: g('f64'), spd_f32: spd('f32'), spd_f64: spd('f64'), rsvd_f32: nt.randn([RSVD.n, RSVD.n], { seed: 3 }) };
    }
    owned.push(...Object.values(inputs));

    for (const op of ['qr', 'cholesky'] as const)
      for (const dtype of ['f32', 'f64'] as D[]) {
        const a = inputs[`${op === 'qr' ? 'qr' : 'spd'}_${dtype}`];
        const name = `${op} ${dtype} ${N}x${N}${op === 'qr' ? ' (Q and R)' : ''}`;
        const flops = op === 'qr' ? (8 / 3) * N ** 3 : N ** 3 / 3;
        const run =
          op === 'qr'
            ? () => {
                const { Q, R } = nt.linalg.qr(a);
                sink.value += R.get(0, 0);
                Q.dispose();
                R.dispose();
              }
            : () => {
                const L = nt.linalg.cholesky(a);
                sink.value += L.get(0, 0);
                L.dispose();
              };
        for (const threads of [1, 2]) {
          const npId = `${name} | ${NUMPY_IMPL} | ${threads}t`;
          if (numpy)
            cases.push({
              name,
              impl: NUMPY_IMPL,
              threads,
              id: npId,
              flops,
              external: () => numpyRun([op, file(`${op === 'qr' ? 'qr' : 'spd'}_${dtype}.npy`), '7'], threads).samples,
            });
          cases.push({ name, impl: `nt.linalg.${op}`, threads, flops, peer: numpy ? npId : undefined, external: () => timeCalls(run, 7) });
        }
        if (dtype === 'f64') {
          // ml-matrix (pure JS, f64 only): few calls, it is slow
          const mat = toMlMatrix(a);
          const mlId = `${name} | ml-matrix | 1t`;
          cases.push({
            name,
            impl: 'ml-matrix',
            threads: 1,
            id: mlId,
            flops,
            note: 'one warm-up, 2 calls',
            external: () =>
              timeCalls(
                op === 'qr'
                  ? () => (sink.value += new QrDecomposition(mat).orthogonalMatrix.get(0, 0))
                  : () => (sink.value += new CholeskyDecomposition(mat).lowerTriangularMatrix.get(0, 0)),
                2,
              ),
          });
          cases.push({ name, impl: `nt.linalg.${op}`, threads: 1, flops, peer: mlId, id: `${name} | nt vs ml-matrix | 1t`, external: () => timeCalls(run, 5) });
        }
      }

    // randomized SVD, rank 64 of 4096² f32
    const a = inputs.rsvd_f32;
    const l = RSVD.rank + RSVD.oversample;
    const rsvdName = `rsvd f32 ${RSVD.n}x${RSVD.n} rank ${RSVD.rank} (p ${RSVD.oversample}, q ${RSVD.powerIters})`;
    const rsvdFlops = 12 * RSVD.n * RSVD.n * l;
    const svdId = `${rsvdName} | numpy full SVD (gesdd, U S V) | 2t`;
    if (numpy)
      cases.push({
        name: rsvdName,
        impl: 'numpy full SVD (gesdd, U S V)',
        threads: 2,
        id: svdId,
        note: 'one call, no warm-up',
        external: () => {
          const out = numpyRun(['svd', file('rsvd_f32.npy'), '1'], 2);
          acc.numpySvd = out.s;
          return out.samples;
        },
      });
    for (const threads of [1, 2]) {
      const npId = `${rsvdName} | numpy rsvd (same algorithm) | ${threads}t`;
      if (numpy)
        cases.push({
          name: rsvdName,
          impl: 'numpy rsvd (same algorithm)',
          threads,
          id: npId,
          flops: rsvdFlops,
          external: () => {
            const out = numpyRun(['rsvd', file('rsvd_f32.npy'), String(RSVD.rank), String(RSVD.oversample), String(RSVD.powerIters), '3'], threads);
            acc.numpyRsvd = out.s;
            return out.samples;
          },
        });
      cases.push({
        name: rsvdName,
        impl: 'nt.linalg.rsvd',
        threads,
        flops: rsvdFlops,
        peer: numpy ? npId : undefined,
        external: () =>
          timeCalls(() => {
            const r = nt.linalg.rsvd(a, RSVD.rank, { oversample: RSVD.oversample, powerIters: RSVD.powerIters, seed: 1 });
            acc.ours = Array.from(r.S.data as Float32Array);
            r.U.dispose();
            r.S.dispose();
            r.Vt.dispose();
          }, 3),
      });
      if (numpy)
        cases.push({
          name: rsvdName,
          impl: 'nt.linalg.rsvd vs full SVD',
          threads,
          flops: rsvdFlops,
          peer: svdId,
          id: `${rsvdName} | nt vs full SVD | ${threads}t`,
          external: () =>
            timeCalls(() => {
              const r = nt.linalg.rsvd(a, RSVD.rank, { oversample: RSVD.oversample, powerIters: RSVD.powerIters, seed: 1 });
              r.U.dispose();
              r.S.dispose();
              r.Vt.dispose();
            }, 3),
        });
    }

    return {
      name: 'factor',
      title: 'Factorizations: QR, Cholesky, randomized SVD vs numpy/LAPACK and ml-matrix',
      cases,
      summary: (results: CaseResult[]) => summarize(results, acc, ctx),
      dispose: () => {
        owned.forEach((t) => t.dispose());
        fs.rmSync(dir, { recursive: true, force: true });
      },
    };
  },
};

function summarize(results: CaseResult[], acc: Accuracy, _ctx: BenchContext): string[] {
  const lines: string[] = [];
  const k = RSVD.rank;
  const find = (name: string, impl: string, threads: number) => results.find((r) => r.name.startsWith(name) && r.impl === impl && r.threads === threads && !r.error);
  for (const op of ['qr', 'cholesky'])
    for (const dtype of ['f32', 'f64']) {
      const ours = find(`${op} ${dtype} ${N}x${N}`, `nt.linalg.${op}`, 2);
      const peer = find(`${op} ${dtype} ${N}x${N}`, NUMPY_IMPL, 2);
      if (ours && peer)
        lines.push(`${op} ${dtype} ${N}, 2 threads: ours ${(ours.median * 1e3).toFixed(1)} ms vs numpy ${(peer.median * 1e3).toFixed(1)} ms (${(peer.median / ours.median).toFixed(2)}x)`);
    }
  // fraction of the FMA peak (~100 GFLOP/s f32, ~50 f64 per core; BENCHMARKS.md) of our 1-thread rows
  for (const r of results)
    if (r.impl.startsWith('nt.linalg.') && r.threads === 1 && r.gflops !== undefined && !r.id.includes(' vs ')) {
      const peak = r.name.includes('f64') ? 50 : 100;
      lines.push(`${r.name}, 1 thread: ${r.gflops.toFixed(1)} GFLOP/s = ${((r.gflops / peak) * 100).toFixed(0)}% of one core's FMA peak (${peak})`);
    }
  const exact = acc.exact;
  const fmt = (x: number) => x.toExponential(2);
  if (exact && acc.ours) {
    const e = maxRelError(acc.ours, exact, k);
    lines.push(`rsvd top-${k} singular values, max relative error vs the exact 0.9^i: ours ${fmt(e)} (target 1e-3: ${e <= 1e-3 ? 'met' : 'MISSED'})`);
  }
  if (exact && acc.numpyRsvd) lines.push(`  numpy rsvd (same algorithm, f32): ${fmt(maxRelError(acc.numpyRsvd, exact, k))}`);
  if (exact && acc.numpySvd) lines.push(`  numpy full SVD (f32 gesdd): ${fmt(maxRelError(acc.numpySvd, exact, k))}`);
  if (acc.ours && acc.numpySvd) lines.push(`  ours vs numpy's full SVD values: ${fmt(maxRelError(acc.ours, acc.numpySvd, k))}`);
  const svd = results.find((r) => r.impl.startsWith('numpy full SVD') && !r.error);
  const ours = find('rsvd f32', 'nt.linalg.rsvd', 2);
  if (svd && ours) {
    const speedup = svd.median / ours.median;
    lines.push(`rsvd rank ${k} of ${RSVD.n}² vs numpy full SVD, 2 threads: ${speedup.toFixed(0)}x faster (target >= 20x: ${speedup >= 20 ? 'met' : 'MISSED'})`);
  }
  lines.push(`ml-matrix has no randomized SVD and its full SVD of ${RSVD.n}² is out of reach (3.2 s at 512², O(n³)): not run`);
  return lines;
}
