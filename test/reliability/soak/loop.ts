// One iteration of the soak loop: a mix of elementwise ops, reductions, matmul, small
// eigh / svd, async ops, file save/load and quantize + dequantize, everything disposed; and the
// native storage paths: >= 64 KiB tensors (native memory) disposed while an async op still
// reads them, borrowed subarrays, the fixture model (fixtures/tinyllama-fortunes) loaded mapped
// ('auto') every 10th iteration and as bf16 every 20th with a forward, quantizeHead +
// quantizeEmbeddings every 50th and nt.llm.compressModel (int4 + EoRA, 64 calibration tokens)
// every 500th, each model disposed.
import * as fs from 'fs';
import * as path from 'path';
import type * as NT from '../../../lib';

type Nt = typeof NT;

const FIXTURE = path.join(__dirname, '..', '..', '..', 'fixtures', 'tinyllama-fortunes');
let calibration: Int32Array | undefined;

/** Model load / forward / quantize / compress on the fixture (see the header for the schedule). */
async function modelStep(nt: Nt, i: number): Promise<void> {
  if (i % 10 !== 0 || !fs.existsSync(path.join(FIXTURE, 'model.safetensors'))) return;
  const dtype = i % 20 === 0 ? 'bf16' : 'auto';
  const model = i % 40 === 10 ? await nt.model.loadAsync(FIXTURE, { dtype }) : nt.model.load(FIXTURE, { dtype });
  try {
    const ids = [72 + (i % 7), 101, 108, 108, 111];
    if (i % 30 === 0) (await model.forwardAsync(ids)).dispose();
    else model.forward(ids).dispose();
    if (i % 50 === 0) {
      model.quantizeHead({ bits: i % 100 === 0 ? 8 : 4 });
      model.quantizeEmbeddings({ bits: 4 });
      model.forward(ids.slice(0, 2)).dispose();
    }
    if (i % 500 === 0) {
      calibration ??= Int32Array.from(fs.readFileSync(path.join(FIXTURE, 'heldout.txt')).subarray(0, 64));
      nt.llm.compressModel(model, { bits: 4, method: 'eora', rank: 4, calibration, calibrationWindow: 64 });
      model.forward(ids.slice(0, 3)).dispose();
    }
  } finally {
    model.dispose();
  }
}

/** >= 64 KiB storages (native memory): disposed while async ops hold them, borrowed subarrays. */
async function nativeStep(nt: Nt, i: number): Promise<void> {
  const big = nt.randn([160, 128 + (i % 5)], { seed: i }); // 80+ KiB f32: native heap block
  const w = nt.randn([128 + (i % 5), 8], { seed: i + 1 });
  const view = big.slice([80, 160]);
  const borrowed = nt.tensor(view.data, { shape: [80, 128 + (i % 5)] }); // starts mid-block
  const pending = [nt.matmulAsync(big, w), nt.matmulAsync(borrowed, w), nt.expAsync(big)];
  view.dispose();
  big.dispose(); // the async ops hold the block until they settle
  try {
    for (const t of await Promise.all(pending)) t.dispose();
    let threw = false;
    try {
      nt.sum(borrowed).dispose(); // the owner released the storage: NT_DISPOSED, not freed memory
    } catch (e) {
      threw = (e as { code?: string }).code === 'NT_DISPOSED';
    }
    if (!threw) throw new Error('a borrowed tensor after its owner\'s dispose did not throw NT_DISPOSED');
  } finally {
    borrowed.dispose();
    w.dispose();
  }
  if (i % 100 === 0) nt.zeros([1100, 1000]).dispose(); // 4.2 MB: an anonymous mapping
}

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
  await nativeStep(nt, i);
  await modelStep(nt, i);
}

export interface SoakReport {
  iterations: number;
  warmup: number;
  rssMB: number[];
  rssGrowthMB: number;
  arrayBuffersGrowthMB: number;
  memoryBefore: NT.MemoryCounters;
  memoryAfter: NT.MemoryCounters;
}

/**
 * Runs the loop, sampling RSS every `every` iterations after a GC (with --expose-gc) and
 * nt.trimHeap(): free heap pages go back to the OS first, so a sample counts live memory, not
 * the allocator's high-water mark (without the trim, the pool threads' arenas grew by ~25 MB at
 * whichever compressModel first peaked in a new arena and stayed flat after: a step, not a leak).
 */
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
      nt.trimHeap();
      const m = process.memoryUsage();
      rss.push(m.rss / 2 ** 20);
      if (i + 1 === warmup) {
        rssAtWarmup = m.rss;
        abAtWarmup = m.arrayBuffers;
      }
    }
  }
  gc();
  nt.trimHeap();
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
