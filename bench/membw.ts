// This machine's memory bandwidth, measured in the same run as the suites that quote a
// fraction of it. The reference is native-speed code that is not ours: V8's
// TypedArray.prototype.set (a memmove for same-type arrays) on buffers far larger than the
// last-level cache, on 1 thread, and on 2: the main thread and a worker_threads worker each
// copy their own half-size buffers at the same time, started and joined through Atomics on a
// small SharedArrayBuffer. (The data buffers are not shared: V8 copies SharedArrayBuffer
// contents with relaxed atomic word moves, at about half of memmove speed here.) Copy
// bandwidth counts the bytes read plus the bytes written. Our own copy kernel, the nt.sum and
// nt.max reductions and the native read probe `ntensor bench` divides by (read bandwidth) are
// measured beside it.
import { Worker } from 'worker_threads';
import * as nt from '../lib';
import { native } from '../lib/native/loader';
import { BenchCase, BenchContext, Suite, SuiteSpec, sink } from './harness';

const MB = 2 ** 20;

// A worker that owns two random buffers of `bytes` and copies one into the other each time the
// main thread bumps ctrl[0], then increments ctrl[1]; ctrl[2] = 1 once its buffers are ready;
// a negative ctrl[0] ends it.
const WORKER_SOURCE = `
const { workerData } = require('worker_threads');
const { ctrl, bytes } = workerData;
const c = new Int32Array(ctrl);
const s = new Float64Array(bytes / 8);
const d = new Float64Array(bytes / 8);
let x = 0x9e3779b9;
for (let i = 0; i < s.length; ++i) {
  x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
  s[i] = (x >>> 0) / 4294967296;
  d[i] = s[i] * 0.5;
}
Atomics.store(c, 2, 1);
Atomics.notify(c, 2);
let seen = 0;
for (;;) {
  Atomics.wait(c, 0, seen);
  seen = Atomics.load(c, 0);
  if (seen < 0) break;
  d.set(s);
  Atomics.add(c, 1, 1);
  Atomics.notify(c, 1);
}
`;

/** Copies `bytes` with two threads: the main thread and one worker each copy bytes / 2 of their own. */
class TwoThreadCopy {
  private readonly ctrl = new Int32Array(new SharedArrayBuffer(12));
  private readonly worker: Worker;

  constructor(
    private readonly src: Float64Array,
    private readonly dst: Float64Array,
  ) {
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { ctrl: this.ctrl.buffer, bytes: src.byteLength } });
    this.worker.unref();
    // wait (bounded) until the worker has filled its buffers, so the first sample is a real copy
    while (Atomics.load(this.ctrl, 2) === 0) if (Atomics.wait(this.ctrl, 2, 0, 60000) === 'timed-out') throw new Error('membw: copy worker did not start');
  }

  copy(): void {
    const c = this.ctrl;
    Atomics.store(c, 1, 0);
    Atomics.add(c, 0, 1);
    Atomics.notify(c, 0);
    this.dst.set(this.src);
    while (Atomics.load(c, 1) === 0) Atomics.wait(c, 1, 0);
  }

  close(): void {
    Atomics.store(this.ctrl, 0, -1);
    Atomics.notify(this.ctrl, 0);
    void this.worker.terminate();
  }
}

export const membwSuite: Suite = {
  name: 'membw',
  build(ctx: BenchContext): SuiteSpec {
    const bytes = (ctx.full ? 1024 : 256) * MB;
    const label = `${bytes / MB} MB`;
    const srcT = nt.rand([bytes / 8], { seed: 1, dtype: 'f64' });
    const dstT = nt.rand([bytes / 8], { seed: 2, dtype: 'f64' });
    const s = srcT.data as Float64Array;
    const d = dstT.data as Float64Array;
    // the main thread's half for the 2-thread copy: the first halves of the same buffers
    const two = new TwoThreadCopy(s.subarray(0, s.length / 2), d.subarray(0, d.length / 2));
    const copyName = `copy ${label} f64`;
    const cases: BenchCase[] = [
      {
        name: copyName,
        impl: 'TypedArray.set (V8)',
        threads: 1,
        bytes: 2 * bytes,
        bandwidthReference: true,
        fn: () => d.set(s),
      },
      {
        name: copyName,
        impl: 'TypedArray.set, 2 workers',
        threads: 2,
        bytes: 2 * bytes,
        bandwidthReference: true,
        fn: () => two.copy(),
        note: 'main thread + one worker_threads worker, each copying half the bytes in its own buffers',
      },
    ];
    for (const threads of [1, 2]) {
      cases.push({
        name: copyName,
        impl: 'ntensor copy',
        threads,
        bytes: 2 * bytes,
        bandwidthReference: true,
        peer: `${copyName} | ${threads === 1 ? 'TypedArray.set (V8)' : 'TypedArray.set, 2 workers'} | ${threads}t`,
        fn: () => native.copy(srcT._storage, srcT._metaArray, dstT._storage, dstT._metaArray),
      });
    }
    const readName = `read ${label} f64 (sum)`;
    cases.push({
      name: readName,
      impl: 'JS loop',
      threads: 1,
      bytes,
      fn: () => {
        let acc = 0;
        for (let i = 0; i < s.length; ++i) acc += s[i];
        sink.value = acc;
      },
    });
    const total = nt.zeros([], 'f64');
    for (const threads of [1, 2])
      cases.push({
        name: readName,
        impl: 'nt.sum { out }',
        threads,
        bytes,
        peer: `${readName} | JS loop | 1t`,
        fn: () => {
          nt.sum(srcT, { out: total });
          sink.value = total.get();
        },
      });
    // the streaming sum `ntensor bench` takes as its read-bandwidth ceiling (lib/bench/probes.ts)
    const f32T = nt.rand([bytes / 4], { seed: 3, dtype: 'f32' });
    const probeName = `read ${label} f32 (read probe)`;
    for (const threads of [1, 2])
      cases.push({
        name: probeName,
        impl: 'native readProbe',
        threads,
        bytes,
        fn: () => void (sink.value = native.readProbe(f32T._storage, f32T._metaArray, threads)),
        note: 'the read-bandwidth ceiling of ntensor bench',
      });
    // a max needs no wide accumulation: the plainest streaming read we have (the reference the
    // real-size suite quotes decode bandwidth against, with nt.sum's)
    const maxName = `read ${label} f64 (max)`;
    for (const threads of [1, 2])
      cases.push({
        name: maxName,
        impl: 'nt.max { out }',
        threads,
        bytes,
        fn: () => {
          nt.max(srcT, { out: total });
          sink.value = total.get();
        },
      });
    return {
      name: 'membw',
      title: `Memory bandwidth (${label} buffers, far larger than the last-level cache)`,
      cases,
      summary: (results) => [
        ...[...ctx.bandwidth]
          .sort((a, b) => a[0] - b[0])
          .map(([t, g]) => `copy bandwidth reference, ${t} thread${t > 1 ? 's' : ''}: ${g.toFixed(1)} GB/s (best copy of this run; the denominator of "% of mem BW")`),
        ...results
          .filter((r) => (r.impl.startsWith('nt.sum') || r.impl.startsWith('nt.max') || r.impl === 'native readProbe') && r.gbps !== undefined)
          .map((r) => `read bandwidth (${r.impl.split(' ')[0]}), ${r.threads} thread${r.threads > 1 ? 's' : ''}: ${r.gbps!.toFixed(1)} GB/s`),
      ],
      dispose: () => {
        two.close();
        srcT.dispose();
        dstT.dispose();
        f32T.dispose();
        total.dispose();
      },
    };
  },
};
