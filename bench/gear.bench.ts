// GEAR suite: (a) compress throughput (GB/s of f32 input) of KIVI / GEAR-L / GEAR at 4 bits;
// (b) single-token decode attention over a 4-bit GEAR cache (nt.llm.gear.Cache.attend: scores
// and values straight from the packed codes, low-rank and outliers in place, split-K) vs the f32
// cache of the model runner (nt.model.DenseKVCache.attend = nt.attention.dense decode) and a
// 4-bit KIVI cache, at seq 8k and 16k (4k too with --full), 32 query heads / 8 kv heads x 128.
// Bytes = what each cache holds for that sequence (the kernel reads all of it once per decoded
// token), so GB/s is counted in compressed bytes and "% of bandwidth" compares it with the
// membw suite's copy bandwidth at the same thread count (run with --only=membw,gear). The
// caches are far larger than the LLC at these lengths, so every call streams from DRAM.
// (c) prefill: 4096 queries over a GEAR cache of 4096 tokens vs nt.attention.dense (causal).
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
    const seqs = ctx.full ? [4096, 8192, 16384] : [8192, 16384];
    // one more case per length: the three caches called in turn, round by round (who goes first
    // rotates), each call timed: ratios from one time window (the cases above run seconds to
    // minutes apart, and on a core shared with other work the compute-bound GEAR kernel and the
    // bandwidth-bound f32 one drift differently); the summary reports their medians
    const paired: { seq: number; names: string[]; times: number[][] }[] = [];
    const config = { numLayers: 1, numKvHeads: HKV, headDim: D };
    for (const seq of seqs) {
      const k = randomF32(HKV * seq * D, 11 + seq).reshape([1, HKV, seq, D]);
      const v = randomF32(HKV * seq * D, 12 + seq).reshape([1, HKV, seq, D]);
      const gear = keep(new nt.llm.gear.Cache(config, { bits: 4, rank: 4, outlierRatio: 0.02 }));
      const kivi = keep(new nt.llm.gear.Cache(config, { bits: 4, preset: 'kivi' }));
      const f32 = keep(new nt.model.DenseKVCache({ numLayers: 1, numKvHeads: HKV, headDim: D, maxLength: seq, capacity: seq }));
      for (const c of [gear, kivi, f32]) c.append(0, k, v);
      k.dispose();
      v.dispose();
      const qs = Array.from({ length: 4 }, (_, i) => keep(randomF32(HQ * D, 100 + i).reshape([1, HQ, 1, D])));
      {
        const caches: [string, { attend(l: number, q: nt.Tensor): nt.Tensor }][] = [['f32 cache', f32], ['GEAR 4-bit r4 s2%', gear], ['KIVI 4-bit', kivi]];
        const pair = { seq, names: caches.map(([n]) => n), times: caches.map(() => [] as number[]) };
        paired.push(pair);
        let round = 0;
        cases.push({
          name: `decode attention, seq ${seq}, ${HQ}q/${HKV}kv x ${D}`,
          impl: 'f32 / GEAR / KIVI interleaved (one call each per round)',
          threads: 2,
          fn: () => {
            for (let k = 0; k < caches.length; ++k) {
              const j = (k + round) % caches.length;
              const t0 = process.hrtime.bigint();
              caches[j][1].attend(0, qs[round & 3]).dispose();
              pair.times[j].push(Number(process.hrtime.bigint() - t0) / 1e9);
            }
            ++round;
          },
        });
      }
      const f32Bytes = 2 * HKV * seq * D * 4;
      const name = `decode attention, seq ${seq}, ${HQ}q/${HKV}kv x ${D}`;
      let i = 0;
      for (const threads of [1, 2]) {
        const f32Id = `${name} | f32 cache (DenseKVCache.attend) | ${threads}t`;
        cases.push({
          name,
          impl: 'f32 cache (DenseKVCache.attend)',
          threads,
          bytes: f32Bytes,
          memoryBound: true,
          id: f32Id,
          note: `${(f32Bytes / 2 ** 20).toFixed(1)} MiB read per token`,
          fn: () => f32.attend(0, qs[i++ & 3]).dispose(),
        });
        for (const [impl, cache] of [
          ['GEAR 4-bit r4 s2% cache (Cache.attend)', gear],
          ['KIVI 4-bit cache (Cache.attend)', kivi],
        ] as const) {
          const bytes = cache.bytes.total;
          cases.push({
            name,
            impl,
            threads,
            bytes,
            memoryBound: true,
            peer: f32Id,
            note: `${(bytes / 2 ** 20).toFixed(1)} MiB read per token (${((bytes / f32Bytes) * 100).toFixed(0)}% of f32)`,
            fn: () => cache.attend(0, qs[i++ & 3]).dispose(),
          });
        }
      }
    }

    // (c) prefill 4096: every query row of a 4096-token prompt over a GEAR cache holding it
    {
      const seq = 4096;
      const k = keep(randomF32(HKV * seq * D, 31).reshape([1, HKV, seq, D]));
      const v = keep(randomF32(HKV * seq * D, 32).reshape([1, HKV, seq, D]));
      const q = keep(randomF32(HQ * seq * D, 33).reshape([1, HQ, seq, D]));
      const gear = keep(new nt.llm.gear.Cache(config, { bits: 4, rank: 4, outlierRatio: 0.02 }));
      gear.append(0, k, v);
      const name = `prefill attention, ${seq} queries over ${seq} tokens, ${HQ}q/${HKV}kv x ${D}`;
      const denseId = `${name} | nt.attention.dense (f32 K/V, causal) | 2t`;
      const flops = 2 * 2 * HQ * D * ((seq * (seq + 1)) / 2); // QKᵀ and PV over the causal half
      cases.push({
        name,
        impl: 'nt.attention.dense (f32 K/V, causal)',
        threads: 2,
        flops,
        id: denseId,
        fn: () => nt.attention.dense(q, k, v, { causal: true }).dispose(),
      });
      cases.push({
        name,
        impl: 'GEAR 4-bit r4 s2% cache (Cache.attend)',
        threads: 2,
        flops,
        peer: denseId,
        note: 'each chunk reconstructed once per 2048-token superblock, then the dense flash tiles',
        fn: () => gear.attend(0, q).dispose(),
      });
    }

    return {
      name: 'gear',
      title: 'GEAR: compress throughput, decode attention over a compressed vs an f32 cache, prefill vs dense',
      cases,
      summary: (results: CaseResult[]) => {
        const lines: string[] = [];
        for (const p of paired) {
          const med = p.times.map((t) => t.slice(5).sort((x, y) => x - y)[(t.length - 5) >> 1]);
          const parts = p.names.map((name, k) => `${name} ${formatTime(med[k])}${k > 0 ? ` (${(med[0] / med[k]).toFixed(2)}x the f32 cache's speed)` : ''}`);
          lines.push(`decode seq ${p.seq}, interleaved (${p.times[0].length - 5} rounds, each call timed, 2 threads, medians): ${parts.join(', ')}`);
        }
        for (const r of results) {
          if (r.ratio === undefined) continue;
          if (r.name.startsWith('decode') && r.impl.startsWith('GEAR')) {
            const bw = r.bandwidthFraction === undefined ? 'no bandwidth reference in this run' : `${(r.bandwidthFraction * 100).toFixed(0)}% of the copy bandwidth`;
            const met = r.threads !== 2 ? '' : r.ratio >= 1.5 && (r.bandwidthFraction ?? 0) >= 0.7 ? ' MET' : ' MISSED';
            lines.push(`${r.name} (${r.threads}t): GEAR ${formatTime(r.median)}, ${r.ratio.toFixed(2)}x the f32 cache's speed, ${bw} (target at 2t: >= 1.5x and >= 70%)${met}`);
          }
          if (r.name.startsWith('prefill'))
            lines.push(`${r.name}: GEAR ${formatTime(r.median)} = ${(1 / r.ratio).toFixed(2)}x dense (target <= 1.3x)${1 / r.ratio <= 1.3 ? ' MET' : ' MISSED'}`);
        }
        return lines;
      },
      dispose: () => owned.forEach((t) => t.dispose()),
    };
  },
};
