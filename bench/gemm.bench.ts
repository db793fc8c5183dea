// GEMM suite: nt.matmul SGEMM/DGEMM square 256-2048 (4096 with --full) and f32 GEMV
// (1x4096 @ 4096x4096 and @ 4096x11008, weights rotating over more than the LLC), at 1 and
// 2 threads, beside peers measured in the same run:
//   numpy   matmul over OpenBLAS, timed inside its own process (bench/peers/gemm_numpy.py),
//           one process per thread count with OPENBLAS_NUM_THREADS set before import;
//   ORT     onnxruntime-node MatMul f32 (a one-node model written by bench/peers/onnx_matmul.ts),
//           intraOpNumThreads 1 / 2, A and B fed as inputs each run (as ours);
//   ml-matrix  Matrix.mmul f64 at 256 and 512 (pure JS; 1 thread).
// The "vs peer" column is numpy time / ours at the same thread count (> 1: ours faster); ORT
// and ml-matrix ratios are in the summary, with GFLOP/s as a fraction of the FMA peak.
import { Matrix } from 'ml-matrix';
import * as nt from '../lib';
import { hasNumpy, runNumpyPeer } from './peers/python';
import { BenchCase, BenchContext, CaseResult, Suite, SuiteSpec, sink, timeCalls } from './harness';
import { matmulModel } from './peers/onnx_matmul';
import { Ort, ort, ortError } from './peers/ort';

type D = 'f32' | 'f64';
const THREADS = [1, 2];

// FMA peak per core of this machine class (2 FMA ports, ~2.75 GHz sustained), measured with a
// register-only FMA loop: AVX-512 ~176 GFLOP/s f32, AVX2 ~95 (the ~100 of BENCHMARKS.md).
const PEAK_PER_CORE: Record<string, Record<D, number>> = {
  avx512: { f32: 176, f64: 88 },
  avx2: { f32: 95, f64: 47.5 },
};

const flops = (m: number, k: number, n: number) => 2 * m * k * n;

// ---- numpy (one process per thread count, all cases at once) ----


const numpyRuns = new Map<number, Map<string, number[]>>();
let numpySpecs: string[] = [];
function numpySamples(threads: number, spec: string): number[] {
  let byCase = numpyRuns.get(threads);
  if (!byCase) {
    const parsed = runNumpyPeer<{ cases: { case: string; samples: number[] }[] }>('gemm_numpy.py', numpySpecs, threads);
    byCase = new Map(parsed.cases.map((c) => [c.case, c.samples]));
    numpyRuns.set(threads, byCase);
  }
  const s = byCase.get(spec);
  if (!s) throw new Error(`numpy did not run ${spec}`);
  return s;
}


// ---- onnxruntime-node ----


/** A deferred case running ORT MatMul on rotating (A, B) input sets. */
function ortCase(name: string, threads: number, m: number, k: number, n: number, inputs: { a: Float32Array; b: Float32Array }[], extra: Partial<BenchCase>): BenchCase {
  const o = ort();
  let session: Ort | undefined;
  let feeds: Ort[] = [];
  let i = 0;
  return {
    name,
    impl: 'onnxruntime-node MatMul',
    threads,
    ...extra,
    deferred: (done) => {
      const go = () =>
        session.run(feeds[i++ % feeds.length]).then(
          (r: Ort) => {
            sink.value += r.Y.data[0];
            done();
          },
          (e: unknown) => done(e),
        );
      if (!o) return done(new Error(`onnxruntime-node unavailable: ${ortError()}`));
      if (session) return void go();
      o.InferenceSession.create(matmulModel(m, k, n, 'f32'), { intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential' }).then(
        (s: Ort) => {
          session = s;
          feeds = inputs.map(({ a, b }) => ({ A: new o.Tensor('float32', a, [m, k]), B: new o.Tensor('float32', b, [k, n]) }));
          go();
        },
        (e: unknown) => done(e),
      );
    },
  };
}

// ---- the suite ----

export const gemmSuite: Suite = {
  name: 'gemm',
  build(ctx: BenchContext): SuiteSpec {
    const cases: BenchCase[] = [];
    const owned: nt.Tensor[] = [];
    const keep = <T extends nt.Tensor>(t: T) => (owned.push(t), t);
    const numpy = hasNumpy();
    const specs: string[] = [];
    const sizes = ctx.full ? [256, 512, 1024, 2048, 4096] : [256, 512, 1024, 2048];
    const ours = new Map<string, { dtype: D; flops: number; threads: number; numpy?: string; ort?: string; mlm?: string }>();

    for (const dtype of ['f32', 'f64'] as D[])
      for (const n of sizes) {
        const a = keep(nt.randn([n, n], { seed: 2 * n + 1, dtype }));
        const b = keep(nt.randn([n, n], { seed: 2 * n + 2, dtype }));
        const out = keep(nt.zeros([n, n], dtype));
        const name = `${dtype === 'f32' ? 'SGEMM' : 'DGEMM'} ${n}²`;
        const fl = flops(n, n, n);
        const reps = Math.max(10, Math.min(200, Math.round(0.6 / (fl / 100e9))));
        const spec = `gemm:${dtype}:${n}:${n}:${n}:${reps}`;
        if (numpy) specs.push(spec);
        const data = dtype === 'f32' ? [{ a: a.data as Float32Array, b: b.data as Float32Array }] : [];
        for (const threads of THREADS) {
          const npId = `${name} | numpy | ${threads}t`;
          const ortId = `${name} | ort | ${threads}t`;
          const id = `${name} | ntensor | ${threads}t`;
          if (numpy) cases.push({ name, impl: 'numpy (OpenBLAS)', threads, id: npId, flops: fl, external: () => numpySamples(threads, spec) });
          if (dtype === 'f32') cases.push(ortCase(name, threads, n, n, n, data, { id: ortId, flops: fl }));
          cases.push({ name, impl: 'ntensor', threads, id, flops: fl, peer: numpy ? npId : undefined, fn: () => void nt.matmul(a, b, { out }) });
          ours.set(id, { dtype, flops: fl, threads, numpy: numpy ? npId : undefined, ort: dtype === 'f32' ? ortId : undefined });
        }
        if (dtype === 'f64' && n <= 512) {
          const A = new Matrix(n, n);
          const B = new Matrix(n, n);
          const av = a.data as Float64Array;
          const bv = b.data as Float64Array;
          for (let i = 0; i < n; ++i)
            for (let j = 0; j < n; ++j) {
              A.set(i, j, av[i * n + j]);
              B.set(i, j, bv[i * n + j]);
            }
          const mlmId = `${name} | ml-matrix | 1t`;
          cases.push({ name, impl: 'ml-matrix mmul', threads: 1, id: mlmId, flops: fl, external: () => timeCalls(() => (sink.value += A.mmul(B).get(0, 0)), n === 512 ? 3 : 8) });
          for (const threads of THREADS) ours.get(`${name} | ntensor | ${threads}t`)!.mlm = mlmId;
        }
      }

    // GEMV: x [1, 4096] @ W [4096, n], W rotating over enough copies to exceed 512 MiB.
    for (const n of [4096, 11008]) {
      const k = 4096;
      const bytesPerSet = k * n * 4;
      const sets = Math.max(2, Math.ceil((512 * 2 ** 20) / bytesPerSet));
      const x = keep(nt.randn([1, k], { seed: 91, dtype: 'f32' }));
      const ws = Array.from({ length: sets }, (_, s) => keep(nt.randn([k, n], { seed: 100 + s, dtype: 'f32' })));
      const y = keep(nt.zeros([1, n]));
      const name = `GEMV 1x${k} @ ${k}x${n} f32 (${sets} rotating weights)`;
      const spec = `gemv:f32:${k}:${n}:${sets}:30`;
      if (numpy) specs.push(spec);
      const bytes = bytesPerSet + (k + n) * 4;
      const fl = flops(1, k, n);
      for (const threads of THREADS) {
        const npId = `${name} | numpy | ${threads}t`;
        const ortId = `${name} | ort | ${threads}t`;
        const id = `${name} | ntensor | ${threads}t`;
        if (numpy) cases.push({ name, impl: 'numpy (OpenBLAS)', threads, id: npId, bytes, flops: fl, memoryBound: true, external: () => numpySamples(threads, spec) });
        cases.push(ortCase(name, threads, 1, k, n, ws.map((w) => ({ a: x.data as Float32Array, b: w.data as Float32Array })), { id: ortId, bytes, flops: fl, memoryBound: true }));
        let i = 0;
        cases.push({ name, impl: 'ntensor', threads, id, bytes, flops: fl, memoryBound: true, peer: numpy ? npId : undefined, fn: () => void nt.matmul(x, ws[i++ % sets], { out: y }) });
        ours.set(id, { dtype: 'f32', flops: fl, threads, numpy: numpy ? npId : undefined, ort: ortId });
      }
    }
    numpySpecs = specs;

    const isa = (nt.info().cpu.kernels as Record<string, string>).gemm_f32_kernel ?? 'scalar';
    const summary = (results: CaseResult[]): string[] => {
      const byId = new Map(results.map((r) => [r.id, r]));
      const lines: string[] = [];
      const peak = PEAK_PER_CORE[isa];
      if (!numpy) lines.push('numpy not found (python3 -c "import numpy" failed): no numpy rows');
      if (!ort()) lines.push(`onnxruntime-node could not load (${ortError()}): no ORT rows`);
      for (const [id, o] of ours) {
        const r = byId.get(id);
        if (!r || r.error || r.gflops === undefined) continue;
        const parts = [`${id}: ${r.gflops.toFixed(1)} GFLOP/s`];
        if (peak && !id.startsWith('GEMV'))
          parts.push(`${((r.gflops / (peak[o.dtype] * o.threads)) * 100).toFixed(0)}% of the ${isa} FMA peak (${peak[o.dtype] * o.threads})`);
        if (!id.startsWith('GEMV') && o.dtype === 'f32')
          parts.push(`${((r.gflops / (PEAK_PER_CORE.avx2.f32 * o.threads)) * 100).toFixed(0)}% of the AVX2 peak (${PEAK_PER_CORE.avx2.f32 * o.threads})`);
        if (r.gbps !== undefined && id.startsWith('GEMV')) parts.push(`${r.gbps.toFixed(1)} GB/s of weights`);
        for (const [label, pid] of [
          ['numpy', o.numpy],
          ['ORT', o.ort],
          ['ml-matrix', o.mlm],
        ] as const) {
          const p = pid ? byId.get(pid) : undefined;
          if (p && !p.error) parts.push(`${(p.median / r.median).toFixed(2)}× vs ${label}`);
        }
        lines.push(parts.join(', '));
      }
      for (const n of [1024, 2048]) {
        const r = byId.get(`SGEMM ${n}² | ntensor | 2t`);
        const p = byId.get(`SGEMM ${n}² | numpy | 2t`);
        if (r && p && !r.error && !p.error)
          lines.push(`target SGEMM ${n}² 2 threads >= 1.0× numpy: ${(p.median / r.median).toFixed(2)}× (${p.median >= r.median ? 'met' : 'missed'})`);
      }
      lines.push(`GEMM micro-kernels in use: ${isa}; numpy rows: one python process per thread count (OPENBLAS_NUM_THREADS), timed in-process`);
      return lines;
    };

    return {
      name: 'gemm',
      title: 'GEMM / GEMV (nt.matmul) vs numpy/OpenBLAS, onnxruntime-node and ml-matrix',
      cases,
      summary,
      dispose: () => owned.forEach((t) => t.dispose()),
    };
  },
};
