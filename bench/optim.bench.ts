// Optimizer suite: (a) step throughput of Adam and 8-bit Adam (GB/s of parameters, gradients and
// state touched per step, incl. the NaN/Inf gradient check) at 1M-16M parameters, and the raw
// native kernels; (b) GaLore's projector refresh (nt.linalg.rsvd, rank 128) at 1024² to 4096²
// and a GaLore step between refreshes; (c) the Matrix Nuclear-Norm vs the exact nuclear norm
// (SVD) of 1024 x d hidden states as d grows.
import * as nt from '../lib';
import { adam8bitStep, adamStep, zeroAdam8bitMoments } from '../lib/ops/optim-steps';
import { BenchCase, BenchContext, CaseResult, Suite, SuiteSpec, formatTime, randomF32, timeCalls } from './harness';

// Bytes per element of one step: p read+write 8, g read 4, the gradient check reads g again 4;
// Adam m, v read+write 16; 8-bit codes read+write 4 (+ 16 bytes of absmax per block).
const ADAM_BYTES = 8 + 4 + 4 + 16;
const ADAM8_BYTES = 8 + 4 + 4 + 4;

export const optimSuite: Suite = {
  name: 'optim',
  build(ctx: BenchContext): SuiteSpec {
    const cases: BenchCase[] = [];
    const owned: { dispose(): void }[] = [];
    const keep = <T extends { dispose(): void }>(t: T) => (owned.push(t), t);
    const hyper = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, step: 1 };

    // (a) step throughput
    const sizes = ctx.full ? [1 << 20, 1 << 22, 1 << 24] : [1 << 20, 1 << 22];
    for (const n of sizes) {
      const label = `${n >> 20}M`;
      const p = keep(randomF32(n, 1));
      const g = keep(randomF32(n, 2));
      const adam = keep(new nt.llm.optim.Adam([p], { weightDecay: 0.01 }));
      const p8 = keep(randomF32(n, 3));
      const adam8 = keep(new nt.llm.optim.Adam8bit([p8], { weightDecay: 0.01 }));
      const m = keep(nt.zeros([n]));
      const v = keep(nt.zeros([n]));
      const q = zeroAdam8bitMoments('bench', n, 2048);
      for (const t of [q.mCodes, q.vCodes, q.mAbsmax, q.vAbsmax]) keep(t);
      const blocks = Math.ceil(n / 2048);
      for (const threads of [1, 2]) {
        const stepName = `optimizer step, ${label} f32 params`;
        const adamId = `${stepName} | Adam (opt.step) | ${threads}t`;
        cases.push({ name: stepName, impl: 'Adam (opt.step)', threads, bytes: n * ADAM_BYTES, memoryBound: true, id: adamId, fn: () => adam.step([g]) });
        cases.push({
          name: stepName,
          impl: 'Adam8bit (opt.step)',
          threads,
          bytes: n * ADAM8_BYTES + blocks * 16,
          memoryBound: true,
          peer: adamId,
          note: 'ratio = Adam time / 8-bit time',
          fn: () => adam8.step([g]),
        });
        const kName = `step kernel only, ${label}`;
        cases.push({ name: kName, impl: 'adamStep (native)', threads, bytes: n * (ADAM_BYTES - 4), memoryBound: true, fn: () => adamStep(p, g, m, v, hyper) });
        cases.push({
          name: kName,
          impl: 'adam8bitStep (native)',
          threads,
          bytes: n * (ADAM8_BYTES - 4) + blocks * 16,
          memoryBound: true,
          fn: () => adam8bitStep(p8, g, q, hyper),
        });
      }
    }

    // (b) GaLore projector refresh and step
    const dims = ctx.full ? [1024, 2048, 4096] : [1024, 2048];
    for (const d of dims) {
      const G = keep(randomF32(d * d, 10 + d).reshape([d, d]));
      for (const rank of d >= 4096 ? [128, 256] : [128]) {
        const name = `GaLore projector refresh: rsvd ${d}x${d} rank ${rank} (oversample 10, 2 power iters)`;
        for (const threads of [1, 2])
          cases.push({
            name,
            impl: 'nt.linalg.rsvd',
            threads,
            flops: 2 * d * d * (rank + 10) * 6, // 6 products of A (or Aᵀ) with a d x (r + 10) block
            external: () =>
              timeCalls(() => {
                const r = nt.linalg.rsvd(G, rank, { seed: 1 });
                r.U.dispose();
                r.S.dispose();
                r.Vt.dispose();
              }, d >= 4096 ? 2 : 4),
          });
      }
      const W = keep(randomF32(d * d, 20 + d).reshape([d, d]));
      const galore = keep(new nt.llm.optim.GaLore([W], { rank: 128, updateGap: 1 << 30 }));
      galore.step([G]); // the refresh at step 0 happens here, not in the timed calls
      const name = `GaLore step between refreshes, ${d}x${d} rank 128`;
      for (const threads of [1, 2]) cases.push({ name, impl: 'GaLore (opt.step)', threads, bytes: d * d * 4 * 4, fn: () => galore.step([G]) });
    }

    // (c) MNN vs the exact nuclear norm
    const ds = ctx.full ? [256, 512, 1024, 2048] : [256, 512, 1024];
    for (const d of ds) {
      const h = keep(randomF32(1024 * d, 30 + d).reshape([1024, d]));
      const name = `hidden states 1024 x ${d}`;
      for (const threads of [1, 2]) {
        const svdId = `${name} | nuclearNorm (SVD) | ${threads}t`;
        cases.push({ name, impl: 'nuclearNorm (SVD)', threads, id: svdId, external: () => timeCalls(() => void nt.llm.nuclearNorm(h), 3) });
        cases.push({ name, impl: 'mnn', threads, bytes: 1024 * d * 4, peer: svdId, note: 'ratio = speed-up over the SVD', fn: () => void nt.llm.mnn(h) });
      }
    }

    return {
      name: 'optim',
      title: 'Optimizers: Adam / 8-bit Adam step throughput, GaLore projector refresh, MNN vs nuclear norm',
      cases,
      summary: (results: CaseResult[]) => {
        const lines: string[] = [];
        for (const r of results) {
          if (r.impl === 'Adam8bit (opt.step)' && r.ratio !== undefined)
            lines.push(`${r.name} (${r.threads}t): 8-bit Adam ${formatTime(r.median)}, ${r.ratio.toFixed(2)}x Adam's speed with 25% of its state`);
          if (r.impl === 'mnn' && r.ratio !== undefined) lines.push(`${r.name} (${r.threads}t): MNN ${formatTime(r.median)}, ${r.ratio.toFixed(0)}x faster than the SVD`);
        }
        return lines;
      },
      dispose: () => owned.forEach((t) => t.dispose()),
    };
  },
};
