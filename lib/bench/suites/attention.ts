// Attention decode: one query token over a KV cache of `len` tokens, 32 query heads sharing
// 8 KV heads of dimension 128 (LLaMA-style GQA). 4·hq·len·d flops (q·Kᵀ and p·V) over the K
// and V bytes: hq / (2·hkv) = 2 flops per byte, memory-bound. The caches rotate over copies
// spanning 4 x the last-level cache, as a model's layers do. No numpy peer (numpy has no
// fused attention; a composed one would measure numpy's temporaries).
import * as nt from '../../index';
import { ntError } from '../../errors';
import { type BenchSuite, type BuiltSuite, type RowSpec, type SuiteOptions, rotatingCopies } from '../suite';

const [HQ, HKV, D] = [32, 8, 128];

export const attentionSuite: BenchSuite = {
  name: 'attention',
  title: `Attention decode (nt.attention.dense, 1 query, GQA ${HQ}/${HKV} heads x ${D}, f32 cache)`,
  defaultSizes: [4096],
  sizeMeaning: 'KV cache length in tokens',
  checkSizes(sizes) {
    for (const n of sizes)
      if (!(Number.isInteger(n) && n >= 1 && n <= 262144)) throw ntError('NT_VALUE', `[bench attention] sizes must be integers in [1, 262144], got ${n}`);
  },
  build(o: SuiteOptions): BuiltSuite {
    const owned: nt.Tensor[] = [];
    const rows: RowSpec[] = [];
    for (const len of o.sizes) {
      const kvBytes = 2 * HKV * len * D * 4;
      const copies = rotatingCopies(kvBytes, o.llcBytes);
      const qs = Array.from({ length: copies }, (_, i) => nt.randn([1, HQ, 1, D], { seed: 200 + i }));
      const ks = Array.from({ length: copies }, (_, i) => nt.randn([1, HKV, len, D], { seed: 300 + i }));
      const vs = Array.from({ length: copies }, (_, i) => nt.randn([1, HKV, len, D], { seed: 400 + i }));
      const out = nt.zeros([1, HQ, 1, D]);
      owned.push(...qs, ...ks, ...vs, out);
      let i = 0;
      for (const threads of o.threads)
        rows.push({
          name: `decode over ${len} tokens (${copies} rotating caches)`,
          threads,
          dtype: 'f32',
          flops: 4 * HQ * len * D,
          bytes: kvBytes + 2 * HQ * D * 4,
          run: () => {
            const j = i++ % copies;
            nt.attention.dense(qs[j], ks[j], vs[j], { out });
          },
        });
    }
    return {
      rows,
      notes: ['flops 4·hq·len·d (q·Kᵀ and p·V); bytes: K and V read once + q + out; no numpy peer (no fused attention in numpy)'],
      dispose: () => owned.forEach((t) => t.dispose()),
    };
  },
};
