// Core suite: (a) the N-API round trip of the no-op op, (b) elementwise add f32 into a
// preallocated { out } beside a plain JS loop, (c) f16 -> f32 conversion beside JS decoding.
// Inputs are random; the memory-bound sizes rotate over several buffer sets whose total
// exceeds the last-level cache, so each call streams from DRAM.
import * as nt from '../lib';
import { native } from '../lib/native/loader';
import { BenchCase, BenchContext, CaseResult, Suite, SuiteSpec, formatTime, randomF32, sink } from './harness';

/** The floor of every TS op: the disposed check and the (storage, meta) marshalling, then the native call. */
export function noopOp(t: nt.Tensor): void {
  t._check('noop', 'x');
  native.noop(t._storage, t._metaArray);
}

/** Enough buffer sets that one pass over them is at least `bytes` (more than the LLC). */
function setsFor(bytesPerSet: number, atLeast: number): number {
  return Math.max(1, Math.ceil(atLeast / bytesPerSet));
}

const LLC_DEFEAT_BYTES = 512 * 2 ** 20;

const rotating = (sets: number) => (sets > 1 ? `${sets} rotating sets` : '1 set, larger than the LLC');

const sizeLabel = (n: number) => (n >= 2 ** 20 ? `${n / 2 ** 20}M` : n >= 1024 ? `${n / 1024}K` : String(n));

// f16 bits -> f32 bits with integer operations (the usual JS decoder): rebias the exponent
// of normal numbers, map inf/NaN, and scale subnormals through the float path.
function f16ToF32Bits(h: Uint16Array, outBits: Uint32Array, outF: Float32Array): void {
  for (let i = 0; i < h.length; ++i) {
    const x = h[i];
    const e = x & 0x7c00;
    if (e !== 0 && e !== 0x7c00) outBits[i] = ((x & 0x8000) << 16) | (((x & 0x7fff) + 0x1c000) << 13);
    else if (e === 0x7c00) outBits[i] = ((x & 0x8000) << 16) | 0x7f800000 | ((x & 0x3ff) << 13);
    else outF[i] = (x & 0x8000 ? -1 : 1) * (x & 0x3ff) * 5.960464477539063e-8;
  }
}

/** f16 bits -> number (for the lookup table). */
function f16Decode(h: number): number {
  const exp = (h >> 10) & 0x1f;
  const man = h & 0x3ff;
  const mag = exp === 0 ? man * 5.960464477539063e-8 : exp === 0x1f ? (man ? NaN : Infinity) : (1024 + man) * 2 ** (exp - 25);
  return h & 0x8000 ? -mag : mag;
}

export const coreSuite: Suite = {
  name: 'core',
  build(ctx: BenchContext): SuiteSpec {
    const cases: BenchCase[] = [];
    const owned: nt.Tensor[] = [];
    const keep = <T extends nt.Tensor>(t: T) => (owned.push(t), t);

    // (a) N-API round trip
    const x = keep(randomF32(4, 11));
    const xs = x._storage;
    const xm = x._metaArray;
    cases.push(
      { name: 'noop call', impl: 'native (raw)', threads: 1, fn: () => native.noop(xs, xm) },
      { name: 'noop call', impl: 'TS op path', threads: 1, fn: () => noopOp(x) },
      {
        name: 'noop call',
        impl: 'async (worker + Promise)',
        threads: 1,
        deferred: (done) => void native.noopAsync(xs, xm).then(() => done(), done),
      },
    );

    // (b) add f32 into { out }
    const addSizes = ctx.full ? [1024, 2 ** 20, 2 ** 24, 2 ** 26] : [1024, 2 ** 20, 2 ** 24];
    for (const n of addSizes) {
      const large = n * 12 > 64 * 2 ** 20;
      const sets = large ? setsFor(n * 12, LLC_DEFEAT_BYTES) : 1;
      const bufs = Array.from({ length: sets }, (_, k) => ({
        a: keep(randomF32(n, 100 + 3 * k)),
        b: keep(randomF32(n, 101 + 3 * k)),
        out: keep(randomF32(n, 102 + 3 * k)),
      }));
      const arr = bufs.map(({ a, b, out }) => ({ a: a.data as Float32Array, b: b.data as Float32Array, out: out.data as Float32Array }));
      const name = `add f32 ${sizeLabel(n)}${large ? ` (${rotating(sets)})` : ' (cache-hot)'}`;
      let k = 0;
      const jsId = `${name} | JS loop | 1t`;
      cases.push({
        name,
        impl: 'JS loop',
        threads: 1,
        bytes: 12 * n,
        flops: n,
        memoryBound: large,
        id: jsId,
        fn: () => {
          const { a, b, out } = arr[k];
          k = (k + 1) % sets;
          for (let i = 0; i < a.length; ++i) out[i] = a[i] + b[i];
        },
      });
      for (const threads of [1, 2])
        cases.push({
          name,
          impl: 'nt.add { out }',
          threads,
          bytes: 12 * n,
          flops: n,
          memoryBound: large,
          peer: jsId,
          fn: () => {
            const { a, b, out } = bufs[k];
            k = (k + 1) % sets;
            nt.add(a, b, { out });
          },
        });
    }

    // (c) f16 -> f32
    const convSizes = ctx.full ? [2 ** 24, 2 ** 26] : [2 ** 24];
    for (const n of convSizes) {
      const sets = setsFor(n * 6, LLC_DEFEAT_BYTES);
      const bufs = Array.from({ length: sets }, (_, k) => ({
        h: keep(nt.rand([n], { seed: 200 + 2 * k, dtype: 'f16' })),
        f: keep(randomF32(n, 201 + 2 * k)),
      }));
      const arr = bufs.map(({ h, f }) => {
        const fd = f.data as Float32Array;
        return { h: h.data as Uint16Array, f: fd, bits: new Uint32Array(fd.buffer, fd.byteOffset, fd.length) };
      });
      const name = `f16 -> f32 ${sizeLabel(n)} (${rotating(sets)})`;
      let k = 0;
      const lut = new Float32Array(65536);
      for (let i = 0; i < 65536; ++i) lut[i] = f16Decode(i);
      const lutId = `${name} | JS loop (65536-entry table) | 1t`;
      cases.push(
        {
          name,
          impl: 'JS loop (bit decode)',
          threads: 1,
          bytes: 6 * n,
          memoryBound: true,
          fn: () => {
            const { h, f, bits } = arr[k];
            k = (k + 1) % sets;
            f16ToF32Bits(h, bits, f);
          },
        },
        {
          name,
          impl: 'JS loop (65536-entry table)',
          threads: 1,
          bytes: 6 * n,
          memoryBound: true,
          id: lutId,
          fn: () => {
            const { h, f } = arr[k];
            k = (k + 1) % sets;
            for (let i = 0; i < h.length; ++i) f[i] = lut[h[i]];
          },
        },
      );
      for (const threads of [1, 2]) {
        cases.push({
          name,
          impl: "t.astype('f32', { out })",
          threads,
          bytes: 6 * n,
          memoryBound: true,
          peer: lutId,
          fn: () => {
            const { h, f } = bufs[k];
            k = (k + 1) % sets;
            h.astype('f32', { out: f });
          },
        });
        cases.push({
          name,
          impl: "t.astype('f32')",
          threads,
          bytes: 6 * n,
          memoryBound: true,
          peer: lutId,
          note: 'includes allocating the output (fresh pages fault in on first write)',
          fn: () => {
            const { h } = bufs[k];
            k = (k + 1) % sets;
            const f = h.astype('f32');
            sink.value = f.size;
            f.dispose();
          },
        });
      }
    }

    // reductions of a 4096 x 4096 f32 matrix (64 MiB, past the LLC) over its rows (axis 1,
    // contiguous runs) and over its columns (axis 0, runs 16 KiB apart): the column walk against
    // the row walk measured in the same run
    {
      const n = 4096;
      const m = keep(randomF32(n * n, 301).reshape([n, n]));
      const out0 = keep(nt.zeros([n]));
      const out1 = keep(nt.zeros([n]));
      for (const op of ['sum', 'max'] as const)
        for (const threads of [1, 2]) {
          const name = `${op} of a ${n}x${n} f32 matrix`;
          const rowId = `${name} | axis 1 (rows) | ${threads}t`;
          cases.push({ name, impl: 'axis 1 (rows)', id: rowId, threads, bytes: 4 * n * n, memoryBound: true, fn: () => nt[op](m, { axis: 1, out: out1 }) });
          cases.push({ name, impl: 'axis 0 (columns)', peer: rowId, threads, bytes: 4 * n * n, memoryBound: true, fn: () => nt[op](m, { axis: 0, out: out0 }) });
        }
    }

    return {
      name: 'core',
      title: 'Core: N-API call overhead, elementwise add, f16 -> f32, reductions by rows and by columns',
      cases,
      summary: (results: CaseResult[]) => summarize(results, ctx),
      dispose: () => owned.forEach((t) => t.dispose()),
    };
  },
};

function summarize(results: CaseResult[], ctx: BenchContext): string[] {
  const lines: string[] = [];
  const verdict = (ok: boolean) => (ok ? 'met' : 'NOT met');
  const ts = results.find((r) => r.name === 'noop call' && r.impl === 'TS op path' && !r.error);
  if (ts) lines.push(`N-API no-op through the TS op path: ${formatTime(ts.median)} per call (target ≤ 2 µs): ${verdict(ts.median <= 2e-6)}`);
  const big = results.filter((r) => r.name.startsWith('add f32') && r.impl.startsWith('nt.add') && r.threads === 2 && r.bandwidthFraction !== undefined);
  for (const r of big)
    lines.push(
      `${r.name}, 2 threads: ${r.gbps!.toFixed(1)} GB/s = ${(r.bandwidthFraction! * 100).toFixed(0)}% of the ${ctx.bandwidth.get(2)?.toFixed(1) ?? '?'} GB/s copy bandwidth (target ≥ 70%): ${verdict(r.bandwidthFraction! >= 0.7)}`,
    );
  return lines;
}
