// Quantized matmul suite: nt.quant.matmul (int4, group 128, f32 scales; f32 activations and the
// { activations: 'int8' } path) for the decode GEMV
// 1x4096 @ 4096x4096 and @ 4096x11008 and the small GEMMs M = 16 and 64 (K = N = 4096), at 1
// and 2 threads, beside peers measured in the same run:
//   ORT acc4 / acc0  onnxruntime-node com.microsoft MatMulNBits (bits 4, block_size 128,
//                    accuracy_level 4 = int8 activations, 0 = f32), weights as initializers
//                    (bench/peers/onnx_matmulnbits.ts), intraOpNumThreads = threads;
//   nt.matmul f32    our own f32 GEMV/GEMM on the dequantized-size f32 weight (transB).
// Memory-bound cases rotate over distinct weight copies totalling more than the last-level
// cache (ours: one copy per call, cycled; ORT: one graph with one node per copy, per-product
// time = run time / copies). The GEMMs are compute-bound and cycle 8 copies. GB/s counts the
// packed weight bytes (codes + scales + zeros) plus x and y; "% of mem BW" divides by the copy
// bandwidth of the membw suite of the same run. Before timing, ours and ORT are run once on the
// same weights and their outputs compared (reported in the summary).
// TinyLlama-1.1B shapes (hidden 2048, MLP 5632), the targets of the int8-activation kernels:
// GEMV 1x2048 @ 5632x2048 (gate/up), 1x5632 @ 2048x5632 (down) and the prefill GEMM m = 512 of
// both, int4 group 128 (asymmetric, f16 scales) and group 32 symmetric (zero 8: llama.cpp
// Q4_0's math), f32 vs int8 activations, beside nt.matmul f32 of the same shape; and the output
// layer GEMV 1x2048 @ 32000x2048 with 8-bit codes (as llama.cpp keeps lm_head), 8-bit vs bf16
// nt.matmul vs 4-bit g128. GB/s counts the packed weight (codes + f16 scales + u8 zeros) plus x and y.
import * as fs from 'fs';
import * as nt from '../lib';
import { QTensor } from '../lib/quant';
import { BenchCase, BenchContext, CaseResult, Suite, SuiteSpec, sink } from './harness';
import { NBitsWeight, matmulNBitsModel } from './peers/onnx_matmulnbits';
import { Ort, ort, ortError } from './peers/ort';

// BENCH_QUANT_THREADS=2: only those thread counts; BENCH_QUANT_SET=tinyllama: only the
// TinyLlama-shaped cases (no ORT), =ort: only the K = 4096 cases beside ORT (default both).
const THREADS = (process.env.BENCH_QUANT_THREADS || '1,2').split(',').map(Number);
const SET = process.env.BENCH_QUANT_SET || 'all';
// BENCH_QUANT_SMALL=1: a smoke run at 1/4 of every size (proves the suite works; not a figure).
const SMALL = process.env.BENCH_QUANT_SMALL === '1';
const K = SMALL ? 1024 : 4096;
const N_SMALL = SMALL ? 1024 : 4096;
const N_LARGE = SMALL ? 2752 : 11008;
const GROUP = 128;


/** Last-level cache bytes (sysfs), 32 MiB when unknown. */
function llcBytes(): number {
  for (const idx of [3, 2]) {
    try {
      const s = fs.readFileSync(`/sys/devices/system/cpu/cpu0/cache/index${idx}/size`, 'utf8').trim();
      const m = /^(\d+)([KMG]?)$/.exec(s);
      if (m) return Number(m[1]) * ({ '': 1, K: 1024, M: 2 ** 20, G: 2 ** 30 } as Record<string, number>)[m[2]];
    } catch {
      /* try the next level */
    }
  }
  return 32 * 2 ** 20;
}

/** Random 4-bit weight parts [n, k] (xorshift bytes: never constant data). */
function randomWeight(n: number, k: number, seed: number): NBitsWeight {
  const groups = k / GROUP;
  const words = new Uint32Array((n * k) / 8);
  let s = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < words.length; ++i) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    words[i] = s;
  }
  const zeros = new Uint8Array(n * groups);
  const scales = new Float32Array(n * groups);
  for (let i = 0; i < zeros.length; ++i) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    zeros[i] = s & 15;
    scales[i] = 0.002 + (s >>> 8) / 2 ** 24 / 100;
  }
  return { codes: new Uint8Array(words.buffer), scales, zeros };
}

function toQTensor(w: NBitsWeight, n: number, k: number): QTensor {
  const groups = k / GROUP;
  return new QTensor({
    codes: nt.tensor(w.codes, { shape: [n, k / 2], dtype: 'u8' }),
    scales: nt.tensor(w.scales, { shape: [n, groups] }),
    zeros: nt.tensor(w.zeros, { shape: [n, groups], dtype: 'u8' }),
    gIdx: null,
    shape: [n, k],
    bits: 4,
    groupSize: GROUP,
    symmetric: false,
  });
}

/**
 * Random 4- or 8-bit QTensor [n, k] in groups of `group`, f16 scales, codes from a seeded
 * xorshift; symmetric: every zero is the grid's middle (8 as Q4_0, 128 for 8 bits). Scales keep
 * the dequantized weights near 0.02 in magnitude either way.
 */
function randomQ(bits: 4 | 8, n: number, k: number, group: number, symmetric: boolean, seed: number): QTensor {
  const groups = k / group;
  const codes = new Uint8Array((n * k * bits) / 8);
  let s = (seed * 2654435761) >>> 0 || 1;
  const next = () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>>= 0);
  };
  for (let i = 0; i < codes.length; ++i) codes[i] = next() & 255;
  const maxq = (1 << bits) - 1;
  const unit = bits === 8 ? 1e-4 : 1e-3;
  const zeros = new Uint8Array(n * groups);
  const scales = new Float32Array(n * groups);
  for (let i = 0; i < zeros.length; ++i) {
    zeros[i] = symmetric ? 1 << (bits - 1) : next() & maxq;
    scales[i] = 2 * unit + (10 * unit * next()) / 2 ** 32;
  }
  const s32 = nt.tensor(scales, { shape: [n, groups] });
  const s16 = s32.astype('f16');
  s32.dispose();
  return new QTensor({
    codes: nt.tensor(codes, { shape: [n, (k * bits) / 8], dtype: 'u8' }),
    scales: s16,
    zeros: nt.tensor(zeros, { shape: [n, groups], dtype: 'u8' }),
    gIdx: null,
    shape: [n, k],
    bits,
    groupSize: group,
    symmetric,
  });
}

/** The TinyLlama-shaped cases and their summary lines (ratios to nt.matmul f32 of the same shape). */
function tinyLlamaCases(rotate: number, keep: <T extends { dispose(): void }>(t: T) => T): { cases: BenchCase[]; summary: (byId: Map<string, CaseResult>) => string[] } {
  const shapes = [
    { m: 1, n: 5632, k: 2048 },
    { m: 1, n: 2048, k: 5632 },
    { m: 512, n: 5632, k: 2048 },
    { m: 512, n: 2048, k: 5632 },
  ].map((sh) => (SMALL ? { m: sh.m === 1 ? 1 : 64, n: sh.n / 4, k: sh.k / 4 } : sh));
  const layouts = [
    { tag: 'g128', group: 128, symmetric: false },
    { tag: 'g32-sym', group: 32, symmetric: true },
  ];
  const cases: BenchCase[] = [];
  const rows: { id: string; f32Id: string; label: string; threads: number; peerName?: string }[] = [];
  for (const { m, n, k } of shapes) {
    const gemv = m === 1;
    const name = `TinyLlama ${gemv ? 'GEMV' : 'GEMM'} ${m}x${k} @ ${n}x${k}`;
    const x = keep(nt.randn([m, k], { seed: 11 + m + k }));
    const y = keep(nt.zeros([m, n]));
    const f32Copies = gemv ? Math.max(2, Math.ceil(rotate / (n * k * 4))) : 1;
    const f32: nt.Tensor[] = [];
    for (let c = 0; c < f32Copies; ++c) f32.push(keep(nt.randn([n, k], { seed: 90 + c })));
    const fl = 2 * m * n * k;
    for (const threads of THREADS) {
      const f32Id = `${name} | f32 | ${threads}t`;
      let j = 0;
      cases.push({
        name,
        threads,
        id: f32Id,
        impl: `nt.matmul f32 (${f32Copies} copies)`,
        bytes: n * k * 4 + (m * k + m * n) * 4,
        flops: fl,
        memoryBound: gemv,
        fn: () => void nt.matmul(x, f32[j++ % f32Copies], { transB: true, out: y }),
      });
    }
    for (const { tag, group, symmetric } of layouts) {
      const packed = (n * k) / 2 + (n * k) / group * 3; // codes + f16 scales + u8 zeros
      const copies = gemv ? Math.max(2, Math.ceil(rotate / packed)) : 2;
      const qs: QTensor[] = [];
      for (let c = 0; c < copies; ++c) qs.push(keep(randomQ(4, n, k, group, symmetric, 31 * n + k + c)));
      for (const activations of ['f32', 'int8'] as const)
        for (const threads of THREADS) {
          const id = `${name} ${tag} | ${activations} | ${threads}t`;
          let i = 0;
          cases.push({
            name: `${name} ${tag}`,
            threads,
            id,
            impl: `nt.quant.matmul ${tag} ${activations} activations`,
            bytes: packed + (m * k + m * n) * 4,
            flops: fl,
            memoryBound: gemv,
            peer: `${name} | f32 | ${threads}t`,
            fn: () => void nt.quant.matmul(x, qs[i++ % copies], { out: y, activations }),
          });
          rows.push({ id, f32Id: `${name} | f32 | ${threads}t`, label: `${name} ${tag} ${activations} activations (${nt.quant.matmulPath(qs[0], { activations }).kernel})`, threads });
        }
    }
  }
  // The output layer (lm_head) GEMV 1x2048 @ 32000x2048 as llama.cpp keeps it (8-bit), beside its
  // bf16 form through nt.matmul and a 4-bit g128 form: GB/s counts codes + f16 scales + u8 zeros.
  {
    const n = SMALL ? 8000 : 32000;
    const k = SMALL ? 512 : 2048;
    const name = `TinyLlama lm_head GEMV 1x${k} @ ${n}x${k}`;
    const x = keep(nt.randn([1, k], { seed: 17 }));
    const y = keep(nt.zeros([1, n]));
    const bf16Copies = Math.max(2, Math.ceil(rotate / (n * k * 2)));
    const bf16: nt.Tensor[] = [];
    for (let c = 0; c < bf16Copies; ++c) {
      const f = nt.randn([n, k], { seed: 190 + c });
      bf16.push(keep(f.astype('bf16')));
      f.dispose();
    }
    const fl = 2 * n * k;
    for (const threads of THREADS) {
      let j = 0;
      cases.push({
        name,
        threads,
        id: `${name} | bf16 | ${threads}t`,
        impl: `nt.matmul bf16 (${bf16Copies} copies)`,
        bytes: n * k * 2 + (k + n) * 4,
        flops: fl,
        memoryBound: true,
        fn: () => void nt.matmul(x, bf16[j++ % bf16Copies], { transB: true, out: y }),
      });
    }
    const heads = [
      { tag: '8-bit g128', bits: 8 as const, group: 128, symmetric: false },
      { tag: '8-bit g32-sym', bits: 8 as const, group: 32, symmetric: true },
      { tag: '4-bit g128', bits: 4 as const, group: 128, symmetric: false },
    ];
    for (const { tag, bits, group, symmetric } of heads) {
      const packed = (n * k * bits) / 8 + (n * k) / group * 3;
      const copies = Math.max(2, Math.ceil(rotate / packed));
      const qs: QTensor[] = [];
      for (let c = 0; c < copies; ++c)
        qs.push(keep(randomQ(bits, n, k, group, symmetric, bits === 8 ? 7 * c + 3 : 5 * c + 1)));
      for (const threads of THREADS) {
        const id = `${name} ${tag} | f32 | ${threads}t`;
        let i = 0;
        cases.push({
          name: `${name} ${tag}`,
          threads,
          id,
          impl: `nt.quant.matmul ${tag} f32 activations`,
          bytes: packed + (k + n) * 4,
          flops: fl,
          memoryBound: true,
          peer: `${name} | bf16 | ${threads}t`,
          fn: () => void nt.quant.matmul(x, qs[i++ % copies], { out: y }),
        });
        rows.push({ id, f32Id: `${name} | bf16 | ${threads}t`, label: `${name} ${tag} f32 activations (${nt.quant.matmulPath(qs[0]).kernel})`, threads, peerName: 'nt.matmul bf16' });
      }
    }
  }
  const summary = (byId: Map<string, CaseResult>): string[] =>
    rows.map(({ id, f32Id, label, threads, peerName }) => {
      const r = byId.get(id);
      const f = byId.get(f32Id);
      if (!r || r.error) return `${label}, ${threads}t: ${r?.error ?? 'not run'}`;
      const vsF32 = f && !f.error ? (f.median / r.median).toFixed(2) : 'n/a';
      const bw = r.bandwidthFraction !== undefined ? `, ${(r.bandwidthFraction * 100).toFixed(0)}% of the copy bandwidth` : '';
      return `${label}, ${threads}t: ${(r.median * 1e3).toFixed(3)} ms, ${r.gbps?.toFixed(1)} GB/s, ${r.gflops?.toFixed(1)} GFLOP/s${bw}, ${vsF32}× ${peerName ?? 'nt.matmul f32'}`;
    });
  return { cases, summary };
}

interface Shape {
  name: string;
  m: number;
  n: number;
  gemv: boolean;
}

/** Times ORT: one session (created here, released after) computing `copies` products per run. */
async function ortSamples(m: number, n: number, acc: number, threads: number, weights: NBitsWeight[], x: Float32Array): Promise<number[]> {
  const o = ort();
  if (!o) throw new Error(`onnxruntime-node unavailable: ${ortError()}`);
  const session = await o.InferenceSession.create(matmulNBitsModel(m, K, n, GROUP, acc, weights), {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
  });
  try {
    const feeds = { A: new o.Tensor('float32', x, [m, K]) };
    const run = async () => {
      const t0 = process.hrtime.bigint();
      const r = await session.run(feeds);
      const dt = Number(process.hrtime.bigint() - t0) / 1e9;
      sink.value += (r.Y0.data as Float32Array)[0];
      return dt / weights.length;
    };
    for (let i = 0; i < 2; ++i) await run();
    const samples: number[] = [];
    const budget = Math.max(1, Number(process.env.BENCH_MAX_TIME) || 0.5) * 2;
    const start = Date.now();
    while (samples.length < 5 || (samples.length < 40 && (Date.now() - start) / 1000 < budget)) samples.push(await run());
    return samples;
  } finally {
    await session.release();
  }
}

/** max |ours − ORT| / max |ours| on copy 0 (one run each). */
async function agreement(m: number, n: number, acc: number, w: NBitsWeight, q: QTensor, x: nt.Tensor): Promise<number> {
  const o = ort();
  if (!o) return NaN;
  const session = await o.InferenceSession.create(matmulNBitsModel(m, K, n, GROUP, acc, [w]), { intraOpNumThreads: 1 });
  try {
    const r = await session.run({ A: new o.Tensor('float32', x.data as Float32Array, [m, K]) });
    const theirs = r.Y0.data as Float32Array;
    const y = nt.quant.matmul(x, q);
    const ours = y.data as Float32Array;
    let diff = 0;
    let mag = 0;
    for (let i = 0; i < ours.length; ++i) {
      diff = Math.max(diff, Math.abs(ours[i] - theirs[i]));
      mag = Math.max(mag, Math.abs(ours[i]));
    }
    y.dispose();
    return diff / mag;
  } finally {
    await session.release();
  }
}

export const quantSuite: Suite = {
  name: 'quant',
  async build(ctx: BenchContext): Promise<SuiteSpec> {
    const owned: { dispose(): void }[] = [];
    const keep = <T extends { dispose(): void }>(t: T) => (owned.push(t), t);
    const llc = llcBytes();
    const rotate = SMALL ? 16 * 2 ** 20 : Math.max(1.25 * llc, 64 * 2 ** 20);
    const shapes: Shape[] = SET === 'tinyllama' ? [] : [
      { name: `int4 GEMV 1x${K} @ ${K}x${N_SMALL}`, m: 1, n: N_SMALL, gemv: true },
      { name: `int4 GEMV 1x${K} @ ${K}x${N_LARGE}`, m: 1, n: N_LARGE, gemv: true },
      { name: `int4 GEMM 16x${K} @ ${K}x${N_SMALL}`, m: 16, n: N_SMALL, gemv: false },
      { name: `int4 GEMM 64x${K} @ ${K}x${N_SMALL}`, m: 64, n: N_SMALL, gemv: false },
    ];
    const tiny = SET === 'ort' ? null : tinyLlamaCases(rotate, keep);
    const cases: BenchCase[] = tiny ? [...tiny.cases] : [];
    const agree: string[] = [];
    const weightSets = new Map<number, { parts: NBitsWeight[]; qs: QTensor[]; f32: nt.Tensor[] }>();
    const setFor = (n: number, copies: number, f32Copies: number) => {
      let set = weightSets.get(n);
      if (!set) {
        set = { parts: [], qs: [], f32: [] };
        weightSets.set(n, set);
      }
      while (set.parts.length < copies) {
        const w = randomWeight(n, K, 1000 * n + set.parts.length + 1);
        set.parts.push(w);
        set.qs.push(keep(toQTensor(w, n, K)));
      }
      while (set.f32.length < f32Copies) set.f32.push(keep(nt.randn([n, K], { seed: 77 + set.f32.length })));
      return set;
    };

    for (const sh of shapes) {
      const { m, n } = sh;
      const packed = (n * K) / 2 + (n * K / GROUP) * 5; // codes + f32 scales + u8 zeros
      const copies = sh.gemv ? Math.max(2, Math.ceil(rotate / packed)) : 8;
      const f32Copies = sh.gemv ? Math.max(2, Math.ceil(rotate / (n * K * 4))) : 2;
      const set = setFor(n, copies, f32Copies);
      const parts = set.parts.slice(0, copies);
      const qs = set.qs.slice(0, copies);
      const x = keep(nt.randn([m, K], { seed: 5 + m }));
      const y = keep(nt.zeros([m, n]));
      const bytes = packed + (m * K + m * n) * 4;
      const fl = 2 * m * n * K;
      const label = `${sh.name} g${GROUP} (${copies} rotating copies, ${((copies * packed) / 2 ** 20).toFixed(0)} MiB)`;
      {
        // our int8-activation path against our f32 path on copy 0
        const yf = nt.quant.matmul(x, qs[0]);
        const y8 = nt.quant.matmul(x, qs[0], { activations: 'int8' });
        const a = yf.data as Float32Array;
        const b = y8.data as Float32Array;
        let diff = 0;
        let mag = 0;
        for (let j = 0; j < a.length; ++j) {
          diff = Math.max(diff, Math.abs(a[j] - b[j]));
          mag = Math.max(mag, Math.abs(a[j]));
        }
        agree.push(`${sh.name}: max |ours int8 − ours f32| / max |y| = ${(diff / mag).toExponential(2)}`);
        yf.dispose();
        y8.dispose();
      }
      for (const acc of [4, 0]) {
        const e = await agreement(m, n, acc, parts[0], qs[0], x).catch((err) => {
          agree.push(`${sh.name}: ORT acc${acc} check failed: ${(err as Error).message}`);
          return NaN;
        });
        if (Number.isFinite(e)) agree.push(`${sh.name}: max |ours − ORT acc${acc}| / max |y| = ${e.toExponential(2)}${acc === 0 && e > 1e-3 ? ' (MISMATCH: not the same computation)' : ''}`);
      }
      for (const threads of THREADS) {
        const oursId = `${label} | ours | ${threads}t`;
        const acc4Id = `${label} | ort4 | ${threads}t`;
        const acc0Id = `${label} | ort0 | ${threads}t`;
        const f32Id = `${label} | f32 | ${threads}t`;
        const common = { name: label, threads, bytes, flops: fl, memoryBound: sh.gemv };
        cases.push({ ...common, id: acc4Id, impl: 'ORT MatMulNBits acc4', external: () => ortSamples(m, n, 4, threads, parts, x.data as Float32Array) });
        cases.push({ ...common, id: acc0Id, impl: 'ORT MatMulNBits acc0', external: () => ortSamples(m, n, 0, threads, parts, x.data as Float32Array) });
        let j = 0;
        const f32 = set.f32.slice(0, f32Copies);
        cases.push({
          ...common,
          bytes: n * K * 4 + (m * K + m * n) * 4,
          id: f32Id,
          impl: `nt.matmul f32 (${f32Copies} copies)`,
          fn: () => void nt.matmul(x, f32[j++ % f32Copies], { transB: true, out: y }),
        });
        let i = 0;
        cases.push({ ...common, id: oursId, impl: 'nt.quant.matmul', peer: acc4Id, fn: () => void nt.quant.matmul(x, qs[i++ % copies], { out: y }) });
        let i8 = 0;
        cases.push({
          ...common,
          id: `${label} | ours-int8 | ${threads}t`,
          impl: 'nt.quant.matmul int8',
          peer: acc4Id,
          fn: () => void nt.quant.matmul(x, qs[i8++ % copies], { out: y, activations: 'int8' }),
        });
      }
    }

    const summary = (results: CaseResult[]): string[] => {
      const byId = new Map(results.map((r) => [r.id, r]));
      const lines: string[] = [];
      lines.push(`qmatmul kernel set ${nt.info().qmatmul.kernel}, int8 kernel ${nt.info().qmatmul.int8Kernel ?? 'none'}`);
      if (tiny) lines.push(...tiny.summary(byId));
      if (!ort()) lines.push(`onnxruntime-node could not load (${ortError()}): no ORT rows`);
      lines.push(...agree);
      for (const r of results) {
        if (!r.impl.startsWith('nt.quant.matmul') || r.name.startsWith('TinyLlama') || r.error) continue;
        const tag = r.impl.endsWith('int8') ? ' | ours-int8 | ' : ' | ours | ';
        const base = r.id.slice(0, r.id.lastIndexOf(tag));
        const ratio = (tag: string) => {
          const p = byId.get(`${base} | ${tag} | ${r.threads}t`);
          return p && !p.error ? p.median / r.median : NaN;
        };
        const gemv = r.name.includes('GEMV');
        const a4 = ratio('ort4');
        const parts = [
          `${r.name.split(' (')[0]}, ${r.impl}, ${r.threads}t: ${(r.median * 1e3).toFixed(3)} ms, ${r.gbps?.toFixed(1)} GB/s`,
          r.bandwidthFraction !== undefined ? `${(r.bandwidthFraction * 100).toFixed(0)}% of the copy bandwidth` : '',
          `${a4.toFixed(2)}× ORT acc4`,
          `${ratio('ort0').toFixed(2)}× ORT acc0`,
          `${ratio('f32').toFixed(2)}× nt.matmul f32`,
          gemv
            ? `target ≥ 1.3× acc4 ${a4 >= 1.3 ? 'met' : 'missed'}, ≥ 85% BW ${r.bandwidthFraction !== undefined ? (r.bandwidthFraction >= 0.85 ? 'met' : 'missed') : 'n/a (run with membw)'}`
            : `target ≥ 1.0× acc4 ${a4 >= 1 ? 'met' : 'missed'}`,
        ];
        lines.push(parts.filter(Boolean).join(', '));
      }
      lines.push(`rotation: weight copies totalling ≥ 1.25 × the ${(llc / 2 ** 20).toFixed(0)} MiB last-level cache for the GEMVs; 8 copies for the compute-bound GEMMs`);
      lines.push('ORT per-product time = session.run time / copies (one MatMulNBits node per weight copy in one graph)');
      return lines;
    };

    return {
      name: 'quant',
      title: 'Quantized matmul (nt.quant.matmul int4, f32 and int8 activations) vs onnxruntime MatMulNBits and nt.matmul f32',
      cases,
      summary,
      dispose: () => owned.forEach((t) => t.dispose()),
    };
  },
};
