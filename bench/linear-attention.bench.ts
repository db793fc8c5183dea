// Linear-attention suite: causal prefill of linear attention (Hedgehog, 2f = 128 features),
// LoLCATs hybrid attention (window 64) and dense softmax attention (nt.attention.dense when
// present) as the sequence grows, 8 query heads / 4 kv heads x 32 (the fixture model's
// shape) — dense work grows as n², linear as n. Also the hybrid backward pass and one
// recurrent decode step after n tokens (constant cost in n).
import * as nt from '../lib';
import { BenchCase, BenchContext, Suite, SuiteSpec, randomF32 } from './harness';

const HQ = 8;
const HKV = 4;
const D = 32;
const F = 64;
const WINDOW = 64;

export const linearAttentionSuite: Suite = {
  name: 'linear-attention',
  build(ctx: BenchContext): SuiteSpec {
    const cases: BenchCase[] = [];
    const owned: { dispose(): void }[] = [];
    const keep = <T extends { dispose(): void }>(t: T) => (owned.push(t), t);
    const wq = keep(nt.attention.hedgehogInit(HQ, D, F));
    const wk = keep(nt.attention.hedgehogInit(HQ, D, F));
    const featureMap = { q: { kind: 'hedgehog' as const, weight: wq }, k: { kind: 'hedgehog' as const, weight: wk } };
    const dense = (nt.attention as Record<string, unknown>).dense as ((q: nt.Tensor, k: nt.Tensor, v: nt.Tensor) => nt.Tensor) | undefined;
    const seqs = ctx.full ? [256, 1024, 4096, 16384] : [256, 1024, 4096];
    for (const n of seqs) {
      const q = keep(randomF32(HQ * n * D, 1 + n).reshape([1, HQ, n, D]));
      const k = keep(randomF32(HKV * n * D, 2 + n).reshape([1, HKV, n, D]));
      const v = keep(randomF32(HKV * n * D, 3 + n).reshape([1, HKV, n, D]));
      const g = keep(randomF32(HQ * n * D, 4 + n).reshape([1, HQ, n, D]));
      const name = `causal prefill, seq ${n}, ${HQ}q/${HKV}kv x ${D}`;
      // multiply-adds: linear ≈ feature maps + S/z state and queries (n·2f·d·2 per head) + intra-chunk (n·64·(2f + d));
      // dense ≈ n²/2 · 2d per head
      const linFlops = 2 * HQ * n * (2 * D * F + 2 * 2 * F * D + 64 * (2 * F + D));
      const denseFlops = 2 * HQ * (n * n) * D;
      for (const threads of [1, 2]) {
        const linId = `${name} | linear (hedgehog) | ${threads}t`;
        cases.push({ name, impl: 'linear (hedgehog)', threads, id: linId, flops: linFlops, fn: () => nt.attention.linear(q, k, v, { featureMap }).dispose() });
        cases.push({
          name,
          impl: `hybrid (window ${WINDOW})`,
          threads,
          flops: linFlops + 2 * HQ * n * WINDOW * 2 * D,
          peer: linId,
          fn: () => nt.attention.hybrid(q, k, v, { window: WINDOW, featureMap, gamma: 0.1 }).dispose(),
        });
        if (dense) cases.push({ name, impl: 'nt.attention.dense', threads, flops: denseFlops, peer: linId, fn: () => dense(q, k, v).dispose() });
      }
      if (n <= 1024)
        cases.push({
          name: `hybrid backward, seq ${n}`,
          impl: 'ntensor (analytic, f64 accumulation)',
          threads: 2,
          fn: () => {
            const r = nt.attention.hybridBackward(q, k, v, g, { window: WINDOW, featureMap, gamma: 0.1 });
            for (const t of [r.dq, r.dk, r.dv, r.dWeightQ, r.dWeightK]) t?.dispose();
          },
        });
      // decode: one token after n (the state is rebuilt by a prefill step outside the timing)
      const state = keep(new nt.attention.HybridAttentionState({ window: WINDOW, featureMap, gamma: 0.1 }));
      keep(state.step(q, k, v));
      const q1 = keep(randomF32(HQ * D, 5).reshape([1, HQ, 1, D]));
      const k1 = keep(randomF32(HKV * D, 6).reshape([1, HKV, 1, D]));
      const v1 = keep(randomF32(HKV * D, 7).reshape([1, HKV, 1, D]));
      cases.push({ name: `hybrid decode step after ${n} tokens`, impl: 'HybridAttentionState.step', threads: 1, fn: () => state.step(q1, k1, v1).dispose() });
    }
    return {
      name: 'linear-attention',
      title: `Linear / hybrid (LoLCATs) attention vs dense, ${HQ}q/${HKV}kv x ${D}, Hedgehog 2x${F} features`,
      cases,
      dispose: () => owned.forEach((t) => t.dispose()),
    };
  },
};
