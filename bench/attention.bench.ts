// Attention suite: nt.attention.dense causal prefill (GQA 32/8 x 128 and 8 x 64; seq 512-1024,
// 2048-4096 with --full) beside onnxruntime-node's com.microsoft GroupQueryAttention (a one-node
// model written by bench/peers/onnx_gqa.ts, BSNH inputs fed each run, as ORT expects them) at
// 1 and 2 threads; sliding-window vs dense; delta attention at measured sparsities vs dense;
// decode: one query over a 4096-token cache (and 8192, 16384; KV rotating over several caches,
// so it is read from memory, not cache-hot), beside a plain read of the same K and V (nt.max,
// the read bandwidth the target is a fraction of) and, at 4096, ORT GQA decode (shared past buffer).
// GFLOP/s of causal attention = 2·2·b·h·(s²/2)·d / t (QKᵀ and PV over the lower triangle);
// decode GB/s = bytes of K and V read / t; "vs peer" of a decode row = read time / decode time.
import * as nt from '../lib';
import { BenchCase, BenchContext, CaseResult, Suite, SuiteSpec, measuredPeakPerCore, sink } from './harness';
import { GqaShape, gqaFeeds, gqaModel } from './peers/onnx_gqa';
import { Ort, ort, ortError } from './peers/ort';

const THREADS = [1, 2];


/** A deferred ORT GroupQueryAttention case over rotating input sets. */
function ortCase(name: string, id: string, threads: number, shape: GqaShape, sets: Float32Array[][], extra: Partial<BenchCase>): BenchCase {
  let session: Ort | undefined;
  let feeds: Ort[] = [];
  let i = 0;
  return {
    name,
    impl: 'onnxruntime-node GroupQueryAttention',
    threads,
    id,
    ...extra,
    deferred: (done) => {
      const o = ort();
      if (!o) return done(new Error(`onnxruntime-node unavailable: ${ortError()}`));
      const go = () =>
        session.run(feeds[i++ % feeds.length]).then(
          (r: Ort) => {
            sink.value += r.output.data[0];
            done();
          },
          (e: unknown) => done(e),
        );
      if (session) return void go();
      o.InferenceSession.create(gqaModel(shape), { intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential' }).then(
        (s: Ort) => {
          session = s;
          feeds = sets.map(([q, k, v, pk, pv]) => gqaFeeds(o, shape, q, k, v, pk, pv));
          go();
        },
        (e: unknown) => done(e),
      );
    },
  };
}

/** Queries that drift slowly along the sequence (a random walk), as real activations do. */
function driftingQueries(b: number, h: number, s: number, d: number, step: number, seed: number): nt.Tensor {
  const noise = nt.randn([b, h, s, d], { seed }).data as Float32Array;
  const out = new Float32Array(noise.length);
  for (let bh = 0; bh < b * h; ++bh)
    for (let c = 0; c < d; ++c) {
      let x = noise[bh * s * d + c];
      for (let i = 0; i < s; ++i) {
        if (i > 0) x += step * noise[(bh * s + i) * d + c];
        out[(bh * s + i) * d + c] = x;
      }
    }
  return nt.tensor(out, { shape: [b, h, s, d] });
}

export const attentionSuite: Suite = {
  name: 'attention',
  build(ctx: BenchContext): SuiteSpec {
    const cases: BenchCase[] = [];
    const owned: nt.Tensor[] = [];
    const keep = <T extends nt.Tensor>(t: T) => (owned.push(t), t);
    const prefill: { id: string; ort: string; flops: number; threads: number }[] = [];
    const ratios: { label: string; ours: string; base: string; note?: string }[] = [];

    // ---- dense causal prefill beside ORT GQA ----
    const seqs = ctx.full ? [512, 1024, 2048, 4096] : [512, 1024];
    const configs = [
      { hq: 32, hkv: 8, d: 128 },
      { hq: 8, hkv: 8, d: 64 },
    ];
    for (const { hq, hkv, d } of configs)
      for (const s of seqs) {
        const q = keep(nt.randn([1, s, hq, d], { seed: s + 1 }));
        const k = keep(nt.randn([1, s, hkv, d], { seed: s + 2 }));
        const v = keep(nt.randn([1, s, hkv, d], { seed: s + 3 }));
        // ours reads the BSNH buffers ORT gets, as [b, h, s, d] views
        const qv = keep(q.transpose(0, 2, 1, 3));
        const kv = keep(k.transpose(0, 2, 1, 3));
        const vv = keep(v.transpose(0, 2, 1, 3));
        const out = keep(nt.zeros([1, hq, s, d]));
        const name = `dense causal prefill s${s} ${hq}/${hkv}x${d}`;
        const flops = 2 * 2 * hq * ((s * s) / 2) * d;
        const shape: GqaShape = { batch: 1, heads: hq, kvHeads: hkv, seq: s, past: 0, dim: d };
        const empty = new Float32Array(0);
        for (const threads of THREADS) {
          const id = `${name} | ntensor | ${threads}t`;
          const ortId = `${name} | ort | ${threads}t`;
          cases.push(ortCase(name, ortId, threads, shape, [[q.data as Float32Array, k.data as Float32Array, v.data as Float32Array, empty, empty]], { flops }));
          cases.push({ name, impl: 'ntensor', threads, id, flops, peer: ortId, fn: () => void nt.attention.dense(qv, kv, vv, { out }) });
          prefill.push({ id, ort: ortId, flops, threads });
        }
      }

    // ---- sliding window and delta vs our dense ----
    {
      const s = ctx.full ? 4096 : 1024;
      const [hq, hkv, d] = [8, 8, 64];
      const q = keep(driftingQueries(1, hq, s, d, 0.05, 11));
      const k = keep(nt.randn([1, hkv, s, d], { seed: 12 }));
      const v = keep(nt.randn([1, hkv, s, d], { seed: 13 }));
      const out = keep(nt.zeros([1, hq, s, d]));
      const denseName = `dense causal s${s} ${hq}x${d} (drifting queries)`;
      for (const threads of THREADS) cases.push({ name: denseName, impl: 'ntensor dense', threads, id: `${denseName} | ${threads}t`, flops: 2 * 2 * hq * ((s * s) / 2) * d, fn: () => void nt.attention.dense(q, k, v, { out }) });
      for (const w of [128, 512]) {
        const name = `sliding window ${w}, s${s} ${hq}x${d}`;
        for (const threads of THREADS) {
          const id = `${name} | ${threads}t`;
          cases.push({ name, impl: 'ntensor slidingWindow', threads, id, peer: `${denseName} | ${threads}t`, fn: () => void nt.attention.slidingWindow(q, k, v, { window: w, out }) });
          ratios.push({ label: `slidingWindow ${w} vs dense (s${s}, ${threads}t)`, ours: id, base: `${denseName} | ${threads}t` });
        }
      }
      for (const theta of [0, 0.02, 0.05, 0.1, 0.2]) {
        const probe = nt.attention.delta(q, k, v, { window: 64, threshold: theta });
        const ref = nt.attention.dense(q, k, v);
        const a = probe.out.data as Float32Array;
        const b = ref.data as Float32Array;
        let err = 0;
        let mag = 0;
        for (let i = 0; i < a.length; ++i) {
          err = Math.max(err, Math.abs(a[i] - b[i]));
          mag = Math.max(mag, Math.abs(b[i]));
        }
        probe.out.dispose();
        ref.dispose();
        const note = `sparsity ${(probe.sparsity * 100).toFixed(1)}%, max rel err vs dense ${(err / mag).toExponential(1)}`;
        const name = `delta window 64 θ=${theta}, s${s} ${hq}x${d}`;
        for (const threads of THREADS) {
          const id = `${name} | ${threads}t`;
          cases.push({ name, impl: 'ntensor delta', threads, id, note, peer: `${denseName} | ${threads}t`, fn: () => void nt.attention.delta(q, k, v, { window: 64, threshold: theta, out }) });
          ratios.push({ label: `delta θ=${theta} vs dense (s${s}, ${threads}t)`, ours: id, base: `${denseName} | ${threads}t`, note });
        }
      }
    }

    // ---- decode: one query over a 4096-token cache (8192, 16384 too), beside a plain read ----
    // The read peer streams the same K and V buffers once with nt.max (no arithmetic to hide):
    // the read bandwidth of exactly these bytes in this run, the denominator of the target.
    const decodeIds: { id: string; ort?: string; read: string; len: number }[] = [];
    const total = keep(nt.zeros([], 'f32'));
    for (const len of [4096, 8192, 16384]) {
      const [hq, hkv, d] = [32, 8, 128];
      const kvBytes = 2 * hkv * len * d * 4;
      const sets = Math.max(2, Math.ceil((256 * 2 ** 20) / kvBytes));
      const qs = Array.from({ length: sets }, (_, i) => keep(nt.randn([1, hq, 1, d], { seed: 200 + i })));
      const ks = Array.from({ length: sets }, (_, i) => keep(nt.randn([1, hkv, len, d], { seed: 300 + i })));
      const vs = Array.from({ length: sets }, (_, i) => keep(nt.randn([1, hkv, len, d], { seed: 400 + i })));
      const out = keep(nt.zeros([1, hq, 1, d]));
      const name = `decode 1 query over ${len} tokens ${hq}/${hkv}x${d} (${sets} rotating caches)`;
      // ORT beside the 4096 case only (it reads ~1 GB/s: the longer caches would cost minutes)
      const feeds =
        len === 4096
          ? qs.map((q, i) => {
              const kLast = ks[i].slice(null, null, [len - 1, len]).contiguous();
              const vLast = vs[i].slice(null, null, [len - 1, len]).contiguous();
              owned.push(kLast, vLast);
              return [q.data, kLast.data, vLast.data, ks[i].data, vs[i].data] as Float32Array[];
            })
          : undefined;
      const shape: GqaShape = { batch: 1, heads: hq, kvHeads: hkv, seq: 1, past: len, dim: d };
      for (const threads of THREADS) {
        const id = `${name} | ntensor | ${threads}t`;
        const readId = `${name} | read K, V (nt.max) | ${threads}t`;
        const ortId = feeds ? `${name} | ort | ${threads}t` : undefined;
        // the read right before the decode it is the denominator of (the machine's load drifts)
        if (feeds && ortId) cases.push(ortCase(name, ortId, threads, shape, feeds, { bytes: kvBytes, memoryBound: true }));
        let r = 0;
        cases.push({ name, impl: 'read K, V (nt.max)', threads, id: readId, bytes: kvBytes, memoryBound: true, fn: () => {
          const j = r++ % sets;
          nt.max(ks[j], { out: total });
          nt.max(vs[j], { out: total });
        } });
        let i = 0;
        cases.push({ name, impl: 'ntensor', threads, id, bytes: kvBytes, memoryBound: true, peer: readId, fn: () => {
          const j = i++ % sets;
          nt.attention.dense(qs[j], ks[j], vs[j], { out });
        } });
        decodeIds.push({ id, ort: ortId, read: readId, len });
      }
    }

    // the attention kernels pick the same ISA as the GEMM kernels (both capped by NTENSOR_ISA)
    const isa = (nt.info().cpu.kernels as Record<string, string>).gemm_f32_kernel ?? 'scalar';
    const summary = (results: CaseResult[]): string[] => {
      const byId = new Map(results.map((r) => [r.id, r]));
      const lines: string[] = [];
      if (!ort()) lines.push(`onnxruntime-node could not load (${ortError()}): no ORT rows`);
      const peak = measuredPeakPerCore().f32; // this machine's, per core, at the kernels' ISA cap
      for (const p of prefill) {
        const r = byId.get(p.id);
        const o = byId.get(p.ort);
        if (!r || r.error || r.gflops === undefined) continue;
        const parts = [`${p.id}: ${r.gflops.toFixed(1)} GFLOP/s`];
        parts.push(`${((r.gflops / (peak * p.threads)) * 100).toFixed(0)}% of the measured ${isa} FMA peak (${(peak * p.threads).toFixed(0)})`);
        if (o && !o.error) parts.push(`${(o.median / r.median).toFixed(2)}× vs ORT GQA (target ≥ 1.3× at s1024-2048 32×128)`);
        lines.push(parts.join(', '));
      }
      for (const x of ratios) {
        const r = byId.get(x.ours);
        const b = byId.get(x.base);
        if (r && b && !r.error && !b.error) lines.push(`${x.label}: ${(b.median / r.median).toFixed(2)}× the speed of dense${x.note ? ` (${x.note})` : ''}`);
      }
      lines.push('delta: the softmax and the weighted sum of V still cost O(seq·d) per row; only the out-of-window QKᵀ part is sparse (target ≥ 2× vs dense at 60% sparsity)');
      for (const dd of decodeIds) {
        const r = byId.get(dd.id);
        const rd = byId.get(dd.read);
        const o = dd.ort ? byId.get(dd.ort) : undefined;
        if (!r || r.error) continue;
        const parts = [`${dd.id}: ${(r.median * 1e3).toFixed(2)} ms, ${r.gbps?.toFixed(1)} GB/s of K+V`];
        if (rd && !rd.error) parts.push(`${((rd.median / r.median) * 100).toFixed(0)}% of the read bandwidth of the same bytes (${rd.gbps?.toFixed(1)} GB/s, target ≥ 70%)`);
        if (r.bandwidthFraction !== undefined) parts.push(`${(r.bandwidthFraction * 100).toFixed(0)}% of the copy reference`);
        if (o && !o.error) parts.push(`${(o.median / r.median).toFixed(2)}× vs ORT GQA decode (${o.gbps?.toFixed(1)} GB/s)`);
        lines.push(parts.join(', '));
      }
      return lines;
    };

    return {
      name: 'attention',
      title: 'Softmax attention (nt.attention) vs onnxruntime-node GroupQueryAttention; sliding window, delta, decode',
      cases,
      summary,
      dispose: () => owned.forEach((t) => t.dispose()),
    };
  },
};
