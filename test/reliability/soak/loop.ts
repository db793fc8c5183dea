// One iteration of the soak loop: a mix of elementwise ops, reductions, matmul, small
// eigh / svd, async ops, file save/load and quantize + dequantize, everything disposed.
import * as fs from 'fs';
import * as path from 'path';
import type * as NT from '../../../lib';

type Nt = typeof NT;

export async function iteration(nt: Nt, i: number, dir: string): Promise<void> {
  const own: NT.Tensor[] = [];
  const keep = <T extends NT.Tensor>(t: T): T => {
    own.push(t);
    return t;
  };
  try {
    const a = keep(nt.randn([33, 33], { seed: i + 1 }));
    const b = keep(nt.randn([33, 17], { seed: i + 2 }));
    const c = keep(nt.add(a, keep(nt.mul(a, 0.5))));
    keep(nt.softmax(keep(nt.exp(keep(nt.mul(c, 0.01))))));
    keep(nt.sum(c, 0));
    keep(nt.matmul(c, b));
    const v = keep(keep(a.transpose()).slice([1, 20]));
    keep(nt.silu(v));
    keep(await nt.expAsync(keep(nt.mul(b, 0.1))));
    keep(await nt.matmulAsync(a, b));
    if (i % 5 === 0) {
      const s = keep(nt.add(a, keep(a.transpose())));
      const small = keep(keep(s.slice([0, 8], [0, 8])).contiguous());
      const e = nt.linalg.eigh(small);
      keep(e.values);
      if (e.vectors) keep(e.vectors);
      const d = await nt.linalg.svdAsync(keep(keep(b.slice([0, 12], [0, 7])).contiguous()));
      for (const t of Object.values(d)) if (t && typeof (t as NT.Tensor).dispose === 'function') keep(t as NT.Tensor);
    }
    if (i % 10 === 0) {
      const f = path.join(dir, `soak-${i % 3}.safetensors`);
      nt.io.saveSafetensors(f, { a, b }, { iteration: String(i) });
      for (const t of Object.values(nt.io.loadSafetensors(f))) keep(t);
      const n = path.join(dir, `soak-${i % 3}.npy`);
      await nt.io.saveNpyAsync(n, b);
      keep(await nt.io.loadNpyAsync(n));
    }
    if (i % 10 === 5 && nt.quant?.quantize) {
      const w = keep(nt.randn([16, 64], { seed: i }));
      const q = nt.quant.quantize(w, { bits: 4, groupSize: 32 });
      keep(nt.quant.dequantize(q));
      q.dispose();
    }
  } finally {
    for (const t of own) t.dispose();
  }
}

export interface SoakReport {
  iterations: number;
  warmup: number;
  rssMB: number[];
  rssGrowthMB: number;
  arrayBuffersGrowthMB: number;
  memoryBefore: { tensors: number; bytes: number; handles: number };
  memoryAfter: { tensors: number; bytes: number; handles: number };
}

/** Runs the loop, sampling RSS (after a GC when --expose-gc) every `every` iterations. */
export async function soak(nt: Nt, iterations: number, dir: string, every = 100): Promise<SoakReport> {
  const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
  const warmup = Math.max(every, Math.floor(iterations / 10));
  const memoryBefore = nt.memory();
  const rss: number[] = [];
  let rssAtWarmup = 0;
  let abAtWarmup = 0;
  fs.mkdirSync(dir, { recursive: true });
  for (let i = 0; i < iterations; ++i) {
    await iteration(nt, i, dir);
    if ((i + 1) % every === 0 || i + 1 === warmup) {
      gc();
      const m = process.memoryUsage();
      rss.push(m.rss / 2 ** 20);
      if (i + 1 === warmup) {
        rssAtWarmup = m.rss;
        abAtWarmup = m.arrayBuffers;
      }
    }
  }
  gc();
  const end = process.memoryUsage();
  return {
    iterations,
    warmup,
    rssMB: rss.map((x) => Math.round(x * 10) / 10),
    rssGrowthMB: (end.rss - rssAtWarmup) / 2 ** 20,
    arrayBuffersGrowthMB: (end.arrayBuffers - abAtWarmup) / 2 ** 20,
    memoryBefore,
    memoryAfter: nt.memory(),
  };
}
