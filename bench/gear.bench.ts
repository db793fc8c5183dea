// GEAR suite: (a) compress throughput (GB/s of f32 input) of KIVI / GEAR-L / GEAR at 4 bits;
// (b) single-token decode attention over a 4-bit GEAR cache (nt.llm.gear.Cache.attend: codes,
// low-rank and outliers read in place) vs the f32 cache of the model runner
// (nt.model.DenseKVCache.attend) and nt.attention.dense when present, at seq 1k-16k,
// 32 query heads / 8 kv heads x 128. Bytes per token = what each cache holds for that
// sequence (the kernel reads all of it once per decoded token). Caches are far larger than
// the LLC at >= 4k, so every call streams from DRAM.
import * as nt from '../lib';
import { BenchCase, BenchContext, CaseResult, Suite, SuiteSpec, formatTime, randomF32 } from './harness';

const HQ = 32;
const HKV = 8;
const D = 128;

export const gearSuite: Suite = {
  name: 'gear',
  build(ctx: BenchContext): SuiteSpec {
    const cases: BenchCase[] = [];
    const owned: { dispose(): void }[] = [];
    const keep = <T extends { dispose(): void }>(t: T) => (owned.push(t), t);

    // (a) compress throughput
    const x = keep(randomF32(HKV * 1024 * D, 7).reshape([1, HKV, 1024, D]));
    const variants: [string, Omit<nt.llm.gear.GearOptions, 'kind'>][] = [
      ['KIVI 4-bit', { bits: 4, preset: 'kivi' }],
      ['GEAR-L 4-bit r4', { bits: 4, rank: 4, preset: 'gear-l' }],
      ['GEAR 4-bit r4 s2%', { bits: 4, rank: 4, outlierRatio: 0.02 }],
    ];
    for (const kind of ['key', 'value'] as const)
      for (const [label, opts] of variants)
        for (const threads of [1, 2])
          cases.push({
            name: `compress ${kind}s [1, ${HKV}, 1024, ${D}] f32`,
            impl: label,
            threads,
            bytes: x.size * 4,
            fn: () => nt.llm.gear.compress(x, { kind, ...opts }).dispose(),
          });

    // (b) decode attention
    const seqs = ctx.full ? [1024, 4096, 16384] : [1024, 4096];
    const dense = (nt.attention as Record<string, unknown>).dense as
      | ((q: nt.Tensor, k: nt.Tensor, v: nt.Tensor, o?: { out?: nt.Tensor }) => nt.Tensor)
      | undefined;
    for (const seq of seqs) {
      const config = { numLayers: 1, numKvHeads: HKV, headDim: D };
      const k = keep(randomF32(HKV * seq * D, 11 + seq).reshape([1, HKV, seq, D]));
      const v = keep(randomF32(HKV * seq * D, 12 + seq).reshape([1, HKV, seq, D]));
      const gear = keep(new nt.llm.gear.Cache(config, { bits: 4, rank: 4, outlierRatio: 0.02 }));
      gear.append(0, k, v);
      const f32 = keep(new nt.model.DenseKVCache({ numLayers: 1, numKvHeads: HKV, headDim: D, maxLength: seq, capacity: seq }));
      f32.append(0, k, v);
      const qs = Array.from({ length: 4 }, (_, i) => keep(randomF32(HQ * D, 100 + i).reshape([1, HQ, 1, D])));
      const out = keep(nt.zeros([1, HQ, 1, D]));
      const gearBytes = gear.bytes.total;
      const f32Bytes = 2 * HKV * seq * D * 4;
      const name = `decode attention, seq ${seq}, ${HQ}q/${HKV}kv x ${D}`;
      const f32Id = `${name} | f32 cache (DenseKVCache.attend) | 2t`;
      let i = 0;
      for (const threads of [1, 2]) {
        cases.push({
          name,
          impl: 'f32 cache (DenseKVCache.attend)',
          threads,
          bytes: f32Bytes,
          memoryBound: true,
          id: `${name} | f32 cache (DenseKVCache.attend) | ${threads}t`,
          note: `${(f32Bytes / 2 ** 20).toFixed(1)} MiB read per token`,
          fn: () => f32.attend(0, qs[i++ & 3]).dispose(),
        });
        if (dense)
          cases.push({
            name,
            impl: 'nt.attention.dense (f32 K/V)',
            threads,
            bytes: f32Bytes,
            memoryBound: true,
            note: `${(f32Bytes / 2 ** 20).toFixed(1)} MiB read per token`,
            fn: () => void dense(qs[i++ & 3], k, v, { out }),
          });
        cases.push({
          name,
          impl: 'GEAR 4-bit r4 s2% cache (Cache.attend)',
          threads,
          bytes: gearBytes,
          memoryBound: true,
          peer: f32Id.replace('| 2t', `| ${threads}t`),
          note: `${(gearBytes / 2 ** 20).toFixed(1)} MiB read per token (${((gearBytes / f32Bytes) * 100).toFixed(0)}% of f32)`,
          fn: () => gear.attend(0, qs[i++ & 3]).dispose(),
        });
      }
    }

    return {
      name: 'gear',
      title: 'GEAR: compress throughput and decode attention over a compressed vs an f32 cache',
      cases,
      summary: (results: CaseResult[]) => {
        const lines: string[] = [];
        for (const r of results)
          if (r.impl.startsWith('GEAR') && r.ratio !== undefined)
            lines.push(`${r.name} (${r.threads}t): GEAR ${formatTime(r.median)} vs f32 cache, ratio ${r.ratio.toFixed(2)}x (target: > 1 at seq >= 4096)`);
        return lines;
      },
      dispose: () => owned.forEach((t) => t.dispose()),
    };
  },
};
