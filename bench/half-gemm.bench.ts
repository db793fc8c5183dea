// Mixed-precision matmul suite: f32 activations times bf16 / f16 weights (nt.matmul with
// transB, the Linear layout) against the same product with f32 weights, at the TinyLlama 1.1B
// shapes (hidden 2048, intermediate 5632):
//   decode GEMV  x [1, 2048] · W [5632, 2048]ᵀ (gate/up) and x [1, 5632] · W [2048, 5632]ᵀ (down),
//                weights rotating over more than 256 MiB per dtype so every call streams them
//                from DRAM; GB/s counts the weight bytes only (2 per bf16/f16 weight, 4 per f32),
//                quoted against the read bandwidth of nt.max over 256 MiB measured here at the
//                same thread count (an exact max: a pure read stream, unlike nt.sum's f64
//                accumulation, which runs below the memory speed);
//   prefill GEMM x [512, 2048] · W [5632, 2048]ᵀ in GFLOP/s.
// The "vs peer" column is the f32-weight time / this time (> 1: the 16-bit weights are faster).
// Default: 2 threads; --full adds 1 thread. On a shared machine the summary quotes the best
// sample beside the median.
import * as nt from '../lib';
import { BenchCase, BenchContext, CaseResult, Suite, SuiteSpec, sink } from './harness';

type WeightType = 'f32' | 'bf16' | 'f16';
const WEIGHT_TYPES: WeightType[] = ['f32', 'bf16', 'f16'];
const BYTES: Record<WeightType, number> = { f32: 4, bf16: 2, f16: 2 };
const MiB = 2 ** 20;

export const halfGemmSuite: Suite = {
  name: 'half-gemm',
  build(ctx: BenchContext): SuiteSpec {
    const threadCounts = ctx.full ? [1, 2] : [2];
    const cases: BenchCase[] = [];
    const owned: nt.Tensor[] = [];
    const keep = <T extends nt.Tensor>(t: T): T => (owned.push(t), t);
    const id = (name: string, impl: string, threads: number) => `${name} | ${impl} | ${threads}t`;

    // read bandwidth reference: nt.max over 256 MiB of f32 (far beyond the last-level cache)
    const readName = 'read 256 MiB f32 (nt.max)';
    const big = keep(nt.rand([(256 * MiB) / 4], { seed: 7 }));
    const total = keep(nt.zeros([], 'f32'));
    for (const threads of threadCounts)
      cases.push({
        name: readName,
        impl: 'nt.max { out }',
        threads,
        bytes: 256 * MiB,
        fn: () => {
          nt.max(big, { out: total });
          sink.value += total.get();
        },
      });

    // decode: one set of rotating [5632 x 2048] weights per dtype, also read as [2048 x 5632]
    const rows = 5632;
    const cols = 2048;
    const sets: Record<WeightType, nt.Tensor[]> = { f32: [], bf16: [], f16: [] };
    for (const wt of WEIGHT_TYPES) {
      const count = Math.max(2, Math.ceil((256 * MiB) / (rows * cols * BYTES[wt])));
      for (let s = 0; s < count; ++s) {
        const w32 = nt.randn([rows, cols], { seed: 100 + s, dtype: 'f32' });
        sets[wt].push(keep(wt === 'f32' ? w32 : w32.astype(wt)));
        if (wt !== 'f32') w32.dispose();
      }
    }
    const gemvNames: string[] = [];
    for (const [n, k] of [
      [rows, cols],
      [cols, rows],
    ]) {
      const name = `GEMV 1x${k} @ ${n}x${k}ᵀ`;
      gemvNames.push(name);
      const x = keep(nt.randn([1, k], { seed: 91 }));
      const y = keep(nt.zeros([1, n]));
      const ws = WEIGHT_TYPES.map((wt) => sets[wt].map((w) => (n === rows ? w : keep(w.reshape([n, k])))));
      for (const threads of threadCounts)
        WEIGHT_TYPES.forEach((wt, t) => {
          let i = 0;
          const list = ws[t];
          cases.push({
            name,
            impl: `${wt} weights`,
            threads,
            bytes: n * k * BYTES[wt],
            flops: 2 * n * k,
            memoryBound: true,
            peer: wt === 'f32' ? undefined : id(name, 'f32 weights', threads),
            note: `${list.length} rotating weights`,
            fn: () => void nt.matmul(x, list[i++ % list.length], { transB: true, out: y }),
          });
        });
    }

    // prefill: one weight per dtype (compute bound), 512 tokens
    const m = 512;
    const gemmName = `GEMM ${m}x${cols} @ ${rows}x${cols}ᵀ`;
    const xs = keep(nt.randn([m, cols], { seed: 92 }));
    const ys = keep(nt.zeros([m, rows]));
    for (const threads of threadCounts)
      for (const wt of WEIGHT_TYPES) {
        const w = sets[wt][0];
        cases.push({
          name: gemmName,
          impl: `${wt} weights`,
          threads,
          flops: 2 * m * rows * cols,
          peer: wt === 'f32' ? undefined : id(gemmName, 'f32 weights', threads),
          fn: () => void nt.matmul(xs, w, { transB: true, out: ys }),
        });
      }

    const summary = (results: CaseResult[]): string[] => {
      const byId = new Map(results.map((r) => [r.id, r]));
      const lines: string[] = [];
      for (const threads of threadCounts) {
        const read = byId.get(id(readName, 'nt.max { out }', threads));
        const readGbps = read && !read.error ? read.gbps : undefined;
        const readBest = read && !read.error ? (256 * MiB) / read.min / 1e9 : undefined;
        if (readGbps && readBest)
          lines.push(`read bandwidth (nt.max), ${threads} thread(s): ${readGbps.toFixed(1)} GB/s median, ${readBest.toFixed(1)} GB/s best`);
        for (const name of gemvNames)
          for (const wt of WEIGHT_TYPES) {
            const r = byId.get(id(name, `${wt} weights`, threads));
            if (!r || r.error || r.gbps === undefined) continue;
            const best = (BYTES[wt] * rows * cols) / r.min / 1e9; // both GEMV shapes hold rows * cols weights
            const parts = [`${name} ${wt}, ${threads}t: ${(r.median * 1e3).toFixed(3)} ms, ${r.gbps.toFixed(1)} GB/s of weights (best ${best.toFixed(1)})`];
            if (readGbps && readBest)
              parts.push(`${((r.gbps / readGbps) * 100).toFixed(0)}% of the median read bandwidth (best vs best ${((best / readBest) * 100).toFixed(0)}%)`);
            if (r.gflops !== undefined) parts.push(`${r.gflops.toFixed(1)} GFLOP/s`);
            if (r.ratio !== undefined) parts.push(`${r.ratio.toFixed(2)}x the f32-weight speed`);
            lines.push(parts.join(', '));
          }
        for (const wt of WEIGHT_TYPES) {
          const r = byId.get(id(gemmName, `${wt} weights`, threads));
          if (!r || r.error || r.gflops === undefined) continue;
          const parts = [`${gemmName} ${wt}, ${threads}t: ${(r.median * 1e3).toFixed(1)} ms, ${r.gflops.toFixed(1)} GFLOP/s`];
          if (r.ratio !== undefined) parts.push(`${r.ratio.toFixed(2)}x the f32-weight speed`);
          lines.push(parts.join(', '));
        }
      }
      const kernels = nt.info().cpu.kernels as Record<string, string>;
      lines.push(`kernels in use: half_gemm ${kernels.half_gemm_kernel ?? 'scalar'}, gemm_f32 ${kernels.gemm_f32_kernel ?? 'scalar'}`);
      return lines;
    };

    return {
      name: 'half-gemm',
      title: 'f32 x bf16/f16 matmul (TinyLlama shapes) vs f32 weights',
      cases,
      summary,
      dispose: () => owned.forEach((t) => t.dispose()),
    };
  },
};
