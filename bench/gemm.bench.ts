// GEMM suite: nt.matmul SGEMM/DGEMM square 256-2048 (4096 with --full) and f32 GEMV
// (1x4096 @ 4096x4096 and @ 4096x11008, weights rotating over more than the LLC), at 1 and
// 2 threads, beside peers measured in the same run:
//   numpy   matmul over OpenBLAS, timed inside its own process (bench/peers/gemm_numpy.py),
//           one process per case and thread count with OPENBLAS_NUM_THREADS set before import; the
//           OpenBLAS core type in use is reported (this machine's environment sets
//           OPENBLAS_CORETYPE=Haswell, AVX2 kernels only; unset, OpenBLAS 0.3.31 picks SkylakeX
//           on its Zen 5). When ours run AVX-512 and numpy's core has no AVX-512 kernels,
//           the SGEMM cases also run numpy with OPENBLAS_CORETYPE=SkylakeX (its AVX-512
//           kernels forced), and that row is the peer: the like-for-like comparison;
//   ORT     onnxruntime-node MatMul f32 (a one-node model written by bench/peers/onnx_matmul.ts),
//           intraOpNumThreads 1 / 2, A and B fed as inputs each run (as ours);
//   ml-matrix  Matrix.mmul f64 at 256 and 512 (pure JS; 1 thread).
// The "vs peer" column is numpy time / ours at the same thread count (> 1: ours faster); ORT
// and ml-matrix ratios are in the summary, with GFLOP/s as a fraction of the FMA peak.
import { spawnSync } from 'child_process';
import { Matrix } from 'ml-matrix';
import * as nt from '../lib';
import { hasNumpy, runNumpyPeer } from './peers/python';
import { BenchCase, BenchContext, CaseResult, Suite, SuiteSpec, measuredPeakPerCore, sink, timeCalls } from './harness';
import { matmulModel } from './peers/onnx_matmul';
import { Ort, ort, ortError } from './peers/ort';

type D = 'f32' | 'f64';
const THREADS = [1, 2];

const flops = (m: number, k: number, n: number) => 2 * m * k * n;

// ---- numpy (one process per case, thread count and core type) ----
// A process per case, started when the harness reaches that case: the numpy row is then timed
// next to ours (the ntensor row follows it) instead of minutes earlier in one batch, which on a
// loaded machine moved the ratios by 20-50% from run to run.

// OpenBLAS core types with AVX-512 SGEMM kernels, and the one forced when numpy's own pick has none.
const OPENBLAS_AVX512_CORES = ['SkylakeX', 'Cooperlake', 'SapphireRapids'];
const FORCED_CORE = 'SkylakeX';

/** The core type numpy's OpenBLAS uses: OPENBLAS_CORETYPE as this process has it (undefined),
 *  unset (null: OpenBLAS's own pick) or `coretype`; '?' if unknown. */
function openblasCore(coretype?: string | null): string {
  const probe = [
    'import ctypes, numpy',
    "libs = sorted({l.split()[-1] for l in open('/proc/self/maps') if 'openblas' in l.lower() and '.so' in l})",
    'names = ["scipy_openblas_get_corename64_", "scipy_openblas_get_corename", "openblas_get_corename64_", "openblas_get_corename"]',
    'out = "?"',
    'for lib in libs:',
    '    h = ctypes.CDLL(lib)',
    '    for n in names:',
    '        f = getattr(h, n, None)',
    '        if f is not None:',
    '            f.restype = ctypes.c_char_p',
    '            out = f().decode()',
    '            break',
    'print(out)',
  ].join('\n');
  const env = { ...process.env };
  if (coretype === null) delete env.OPENBLAS_CORETYPE;
  else if (coretype) env.OPENBLAS_CORETYPE = coretype;
  const r = spawnSync('python3', ['-c', probe], { env, encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() || '?' : '?';
}

function numpySamples(threads: number, spec: string, coretype = ''): number[] {
  // runNumpyPeer passes process.env on: set the core type for this one spawn only
  const saved = process.env.OPENBLAS_CORETYPE;
  if (coretype) process.env.OPENBLAS_CORETYPE = coretype;
  try {
    const parsed = runNumpyPeer<{ cases: { case: string; samples: number[] }[] }>('gemm_numpy.py', [spec], threads);
    const s = parsed.cases.find((c) => c.case === spec)?.samples;
    if (!s) throw new Error(`numpy${coretype ? ` (OPENBLAS_CORETYPE=${coretype})` : ''} did not run ${spec}`);
    return s;
  } finally {
    if (saved === undefined) delete process.env.OPENBLAS_CORETYPE;
    else process.env.OPENBLAS_CORETYPE = saved;
  }
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
    const isa = (nt.info().cpu.kernels as Record<string, string>).gemm_f32_kernel ?? 'scalar';
    const core = numpy ? openblasCore() : '?';
    // an inherited OPENBLAS_CORETYPE (this machine's environment sets Haswell) is reported beside OpenBLAS's own pick
    const ownPick = numpy && process.env.OPENBLAS_CORETYPE ? openblasCore(null) : core;
    // ours on AVX-512 against an OpenBLAS that picked AVX2 kernels: also force its AVX-512 ones
    const forced = numpy && isa === 'avx512' && !OPENBLAS_AVX512_CORES.includes(core) ? openblasCore(FORCED_CORE) : undefined;
    const forcedOk = forced === FORCED_CORE;
    const sizes = ctx.full ? [256, 512, 1024, 2048, 4096] : [256, 512, 1024, 2048];
    const ours = new Map<string, { dtype: D; flops: number; threads: number; numpy?: string; numpyForced?: string; ort?: string; mlm?: string }>();

    for (const dtype of ['f32', 'f64'] as D[])
      for (const n of sizes) {
        const a = keep(nt.randn([n, n], { seed: 2 * n + 1, dtype }));
        const b = keep(nt.randn([n, n], { seed: 2 * n + 2, dtype }));
        const out = keep(nt.zeros([n, n], dtype));
        const name = `${dtype === 'f32' ? 'SGEMM' : 'DGEMM'} ${n}²`;
        const fl = flops(n, n, n);
        const reps = Math.max(10, Math.min(200, Math.round(0.6 / (fl / 100e9))));
        const spec = `gemm:${dtype}:${n}:${n}:${n}:${reps}`;
        const withForced = forcedOk && dtype === 'f32';
        const data = dtype === 'f32' ? [{ a: a.data as Float32Array, b: b.data as Float32Array }] : [];
        for (const threads of THREADS) {
          const npId = `${name} | numpy | ${threads}t`;
          const npForcedId = `${name} | numpy ${FORCED_CORE} | ${threads}t`;
          const ortId = `${name} | ort | ${threads}t`;
          const id = `${name} | ntensor | ${threads}t`;
          if (numpy) cases.push({ name, impl: `numpy (OpenBLAS ${core})`, threads, id: npId, flops: fl, external: () => numpySamples(threads, spec) });
          if (withForced)
            cases.push({ name, impl: `numpy (OpenBLAS ${FORCED_CORE} forced)`, threads, id: npForcedId, flops: fl, external: () => numpySamples(threads, spec, FORCED_CORE) });
          if (dtype === 'f32') cases.push(ortCase(name, threads, n, n, n, data, { id: ortId, flops: fl }));
          const peer = withForced ? npForcedId : numpy ? npId : undefined;
          cases.push({ name, impl: 'ntensor', threads, id, flops: fl, peer, fn: () => void nt.matmul(a, b, { out }) });
          ours.set(id, { dtype, flops: fl, threads, numpy: numpy ? npId : undefined, numpyForced: withForced ? npForcedId : undefined, ort: dtype === 'f32' ? ortId : undefined });
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
    const peak = measuredPeakPerCore();
    const summary = (results: CaseResult[]): string[] => {
      const byId = new Map(results.map((r) => [r.id, r]));
      const lines: string[] = [];
      lines.push(`FMA peak per core, measured at suite start (register-only loop, ${isa}, best of 15 calls in wall time): ${peak.f32.toFixed(0)} GFLOP/s f32, ${peak.f64.toFixed(0)} f64`);
      if (!numpy) lines.push('numpy not found (python3 -c "import numpy" failed): no numpy rows');
      if (!ort()) lines.push(`onnxruntime-node could not load (${ortError()}): no ORT rows`);
      for (const [id, o] of ours) {
        const r = byId.get(id);
        if (!r || r.error || r.gflops === undefined) continue;
        const parts = [`${id}: ${r.gflops.toFixed(1)} GFLOP/s`];
        if (!id.startsWith('GEMV'))
          parts.push(`${((r.gflops / (peak[o.dtype] * o.threads)) * 100).toFixed(0)}% of the ${isa} FMA peak (${(peak[o.dtype] * o.threads).toFixed(0)})`);
        if (r.gbps !== undefined && id.startsWith('GEMV')) parts.push(`${r.gbps.toFixed(1)} GB/s of weights`);
        for (const [label, pid] of [
          [`numpy ${core}`, o.numpy],
          [`numpy ${FORCED_CORE}`, o.numpyForced],
          ['ORT', o.ort],
          ['ml-matrix', o.mlm],
        ] as const) {
          const p = pid ? byId.get(pid) : undefined;
          if (p && !p.error) parts.push(`${(p.median / r.median).toFixed(2)}× vs ${label}`);
        }
        lines.push(parts.join(', '));
      }
      for (const n of [1024, 2048])
        for (const threads of THREADS)
          for (const [label, pid] of [
            [`numpy (OpenBLAS ${core})`, `SGEMM ${n}² | numpy | ${threads}t`],
            [`numpy (OpenBLAS ${FORCED_CORE} forced)`, `SGEMM ${n}² | numpy ${FORCED_CORE} | ${threads}t`],
          ]) {
            const r = byId.get(`SGEMM ${n}² | ntensor | ${threads}t`);
            const p = byId.get(pid);
            // the best samples beside the medians: on a loaded machine the two processes are
            // timed minutes apart, and the fastest call of each is the least disturbed
            if (r && p && !r.error && !p.error)
              lines.push(
                `target SGEMM ${n}² ${threads} thread${threads > 1 ? 's' : ''} >= 1.0× ${label}: ${(p.median / r.median).toFixed(2)}× (${p.median >= r.median ? 'met' : 'missed'}); best sample vs best sample ${(p.min / r.min).toFixed(2)}×`,
              );
          }
      const cap = process.env.NTENSOR_ISA ? ` (capped with NTENSOR_ISA=${process.env.NTENSOR_ISA})` : '';
      const coreNote = numpy
        ? `numpy's OpenBLAS core type: ${core}${process.env.OPENBLAS_CORETYPE ? ` (OPENBLAS_CORETYPE=${process.env.OPENBLAS_CORETYPE} in the environment; unset, OpenBLAS picks ${ownPick})` : ' (its own pick)'}` +
          (forced === undefined ? '' : forcedOk ? `; SGEMM also with OPENBLAS_CORETYPE=${FORCED_CORE} (took effect), the peer of ours` : `; OPENBLAS_CORETYPE=${FORCED_CORE} did not take effect (core ${forced}): no forced rows`)
        : 'no numpy';
      lines.push(`GEMM micro-kernels in use: ${isa}${cap}; ${coreNote}; numpy rows: one python process per case, thread count and core type (OPENBLAS_NUM_THREADS), timed in-process just before ours`);
      return lines;
    };

    return {
      // an ISA-capped run (NTENSOR_ISA=avx2) writes its own file beside the native one
      name: process.env.NTENSOR_ISA ? `gemm-${process.env.NTENSOR_ISA}` : 'gemm',
      title: 'GEMM / GEMV (nt.matmul) vs numpy/OpenBLAS, onnxruntime-node and ml-matrix',
      cases,
      summary,
      dispose: () => owned.forEach((t) => t.dispose()),
    };
  },
};
