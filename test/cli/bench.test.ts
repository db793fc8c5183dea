// `ntensor bench` pieces: the timing statistics and the roofline math (invariants on seeded
// inputs), the native probes (exact flop counts, sums against float64), option checking,
// and the command itself (usage errors exit 2, a small real run, JSON written atomically).
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as nt from '../../lib';
import { bestCeilings, formatSeconds, median, measure, numpyStatus, probeCeilings, rates, resolveOptions, rooflinePoint, summarize, type BenchReport, type Ceilings } from '../../lib/bench';
import { native } from '../../lib/native/loader';
import { parseList, writeAtomic } from '../../lib/cli/bench';
import { dramBytes, rotatingCopies } from '../../lib/bench/suite';
import { cli } from './run-cli';

const TOL = { rel: 1e-12, sumRel: 1e-5 };

/** A seeded xorshift in [0, 1). */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 2 ** 32;
  };
}

const codeOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    return (e as { code?: string }).code;
  }
  return 'no error';
};

let tmp: string;
let base: nt.MemoryCounters;
beforeAll(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nt-bench-'))));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
beforeEach(() => (base = nt.memory()));
afterEach(() => expect(nt.memory()).toEqual(base));

describe('bench statistics', () => {
  it('median takes the middle sample, or the mean of the two middle ones', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(codeOf(() => median([]))).toBe('NT_VALUE');
  });

  it('summarize: min <= median <= max, MAD within the range and unmoved by a shift', () => {
    const r = rng(11);
    for (let trial = 0; trial < 20; ++trial) {
      const xs = Array.from({ length: 1 + Math.floor(r() * 37) }, () => r() * 1e-3);
      const s = summarize(xs);
      expect(s.count).toBe(xs.length);
      expect(s.min).toBeLessThanOrEqual(s.median);
      expect(s.median).toBeLessThanOrEqual(s.max);
      expect(s.mad).toBeGreaterThanOrEqual(0);
      expect(s.mad).toBeLessThanOrEqual(s.max - s.min);
      const shifted = summarize(xs.map((x) => x + 0.5));
      expect(shifted.mad).toBeCloseTo(s.mad, 12);
      expect(shifted.median).toBeCloseTo(s.median + 0.5, 12);
    }
    expect(summarize([0.25]).mad).toBe(0);
    expect(codeOf(() => summarize([1, NaN]))).toBe('NT_VALUE');
    expect(codeOf(() => summarize([-1]))).toBe('NT_VALUE');
  });

  /** A clock that only the measured function advances, by dt per call. */
  const fakeClock = (dt: number) => {
    const st = { t: 0, calls: 0 };
    return { st, now: () => st.t, fn: () => void ((st.t += dt), st.calls++) };
  };

  it('measure: one sample per call for slow calls, until the budget is spent', () => {
    const c = fakeClock(1e-3);
    const xs = measure(c.fn, { budget: 0.05, warmup: 3, now: c.now });
    for (const x of xs) expect(x).toBeCloseTo(1e-3, 12);
    expect(xs.length).toBeGreaterThanOrEqual(50);
    expect(xs.length).toBeLessThanOrEqual(51);
    expect(c.st.calls).toBe(3 + 1 + xs.length); // warm-up, the one-call batch probe, the samples
  });

  it('measure: batches calls shorter than 20 µs and reports the time per call', () => {
    const c = fakeClock(1e-7);
    const xs = measure(c.fn, { budget: 0, minSamples: 4, warmup: 0, now: c.now });
    expect(xs).toHaveLength(4);
    for (const x of xs) expect(x).toBeCloseTo(1e-7, 15);
    // 256 calls of 0.1 µs are the first batch >= 20 µs: probes 1, 2, ..., 256, then 4 x 256
    expect(c.st.calls).toBe(511 + 4 * 256);
  });

  it('measure: minSamples past the budget, maxSamples caps it; bad options are NT_VALUE', () => {
    const c = fakeClock(1);
    expect(measure(c.fn, { budget: 0.5, minSamples: 7, now: c.now })).toHaveLength(7);
    const d = fakeClock(1e-3);
    expect(measure(d.fn, { budget: 100, maxSamples: 9, now: d.now })).toHaveLength(9);
    expect(codeOf(() => measure(() => {}, { budget: -1 }))).toBe('NT_VALUE');
    expect(codeOf(() => measure(() => {}, { budget: Infinity }))).toBe('NT_VALUE');
    expect(codeOf(() => measure(() => {}, { minSamples: 0 }))).toBe('NT_VALUE');
    expect(codeOf(() => measure(() => {}, { minSamples: 5, maxSamples: 4 }))).toBe('NT_VALUE');
  });

  it('formatSeconds keeps three digits in the fitting unit', () => {
    expect(formatSeconds(2.5e-7)).toBe('250 ns');
    expect(formatSeconds(1.234e-6)).toBe('1.23 µs');
    expect(formatSeconds(0.0421)).toBe('42.1 ms');
    expect(formatSeconds(3.5)).toBe('3.50 s');
    expect(formatSeconds(NaN)).toBe('-');
    expect(formatSeconds(undefined)).toBe('-');
  });

  it('rates: GFLOP/s and GB/s from the declared counts', () => {
    expect(rates(0.5, { flops: 3e9, bytes: 1e9 })).toEqual({ gflops: 6, gbps: 2 });
    expect(rates(2, { bytes: 4e9 })).toEqual({ gbps: 2 });
    expect(codeOf(() => rates(0, { flops: 1 }))).toBe('NT_VALUE');
  });
});

describe('roofline', () => {
  const c: Ceilings = { threads: 1, peak: { f32: 100, f64: 50 }, bandwidth: 20 };

  it('a call taking max(F / peak, B / bandwidth) sits exactly on the roof; the fraction scales as 1 / time', () => {
    const r = rng(5);
    for (let trial = 0; trial < 200; ++trial) {
      const flops = 10 ** (3 + 8 * r());
      const bytes = 10 ** (3 + 8 * r());
      const dtype = r() < 0.5 ? 'f32' : 'f64';
      const roofTime = Math.max(flops / (c.peak[dtype] * 1e9), bytes / (c.bandwidth * 1e9));
      const onRoof = rooflinePoint({ flops, bytes, dtype }, roofTime, c);
      expect(onRoof.fraction).toBeCloseTo(1, 10);
      expect(onRoof.bound).toBe(flops / bytes >= c.peak[dtype] / c.bandwidth ? 'compute' : 'memory');
      expect(onRoof.attainable).toBeLessThanOrEqual(c.peak[dtype] * (1 + TOL.rel));
      const slower = rooflinePoint({ flops, bytes, dtype }, roofTime * 4, c);
      expect(slower.fraction).toBeCloseTo(0.25, 10);
      expect(slower.attainable).toBe(onRoof.attainable);
    }
  });

  it('compute-bound: attainable is the peak of the dtype; memory-bound: intensity x bandwidth', () => {
    const gemm = rooflinePoint({ flops: 2e9, bytes: 1e6, dtype: 'f64' }, 0.08, c);
    expect(gemm).toEqual({ bound: 'compute', attainable: 50, unit: 'GFLOP/s', fraction: expect.closeTo(0.5, 12) });
    const gemv = rooflinePoint({ flops: 2e8, bytes: 1e8, dtype: 'f32' }, 0.01, c);
    expect(gemv.bound).toBe('memory');
    expect(gemv.attainable).toBeCloseTo(40, 12); // 2 flops per byte x 20 GB/s
    expect(gemv.fraction).toBeCloseTo(0.5, 12);
    // the ridge point (intensity = peak / bandwidth) counts as compute-bound
    expect(rooflinePoint({ flops: 5e9, bytes: 1e9 }, 1, c).bound).toBe('compute');
  });

  it('flops only: against the peak; bytes only: GB/s against the bandwidth', () => {
    expect(rooflinePoint({ flops: 1e9 }, 0.1, c)).toEqual({ bound: 'compute', attainable: 100, unit: 'GFLOP/s', fraction: expect.closeTo(0.1, 12) });
    expect(rooflinePoint({ bytes: 1e9 }, 0.1, c)).toEqual({ bound: 'memory', attainable: 20, unit: 'GB/s', fraction: expect.closeTo(0.5, 12) });
  });

  it('bestCeilings keeps the best value of every pass per thread count', () => {
    const r = rng(9);
    const pass = () => [1, 2, 3].map((threads) => ({ threads, peak: { f32: r() * 100, f64: r() * 50 }, bandwidth: r() * 30 }));
    const passes = [pass(), pass(), pass()];
    const copy = JSON.parse(JSON.stringify(passes));
    const best = bestCeilings(passes);
    expect(passes).toEqual(copy); // the passes are left as they were
    expect(best.map((b) => b.threads)).toEqual([1, 2, 3]);
    best.forEach((b, i) => {
      expect(b.peak.f32).toBe(Math.max(...passes.map((p) => p[i].peak.f32)));
      expect(b.peak.f64).toBe(Math.max(...passes.map((p) => p[i].peak.f64)));
      expect(b.bandwidth).toBe(Math.max(...passes.map((p) => p[i].bandwidth)));
    });
    expect(bestCeilings([passes[1]])).toEqual(passes[1]);
  });

  it('refuses work without counts, bad counts, bad times and empty ceilings (NT_VALUE)', () => {
    expect(codeOf(() => rooflinePoint({}, 1, c))).toBe('NT_VALUE');
    expect(codeOf(() => rooflinePoint({ flops: -1 }, 1, c))).toBe('NT_VALUE');
    expect(codeOf(() => rooflinePoint({ bytes: NaN }, 1, c))).toBe('NT_VALUE');
    expect(codeOf(() => rooflinePoint({ flops: 1 }, 0, c))).toBe('NT_VALUE');
    expect(codeOf(() => rooflinePoint({ flops: 1 }, Infinity, c))).toBe('NT_VALUE');
    expect(codeOf(() => rooflinePoint({ flops: 1 }, 1, { ...c, bandwidth: 0 }))).toBe('NT_VALUE');
  });
});

describe('native probes', () => {
  // chains x lanes of each probe (native/core/peak_probe.cc)
  const SHAPE: Record<string, { chains: number; lanes: { f32: number; f64: number } }> = {
    avx512: { chains: 16, lanes: { f32: 16, f64: 8 } },
    avx2: { chains: 12, lanes: { f32: 8, f64: 4 } },
    sse2: { chains: 14, lanes: { f32: 4, f64: 2 } },
    baseline: { chains: 16, lanes: { f32: 1, f64: 1 } },
  };

  it('runs the best ISA at or below the NTENSOR_ISA cap', () => {
    const { isas, isaCap } = nt.info().cpu;
    const levels = ['scalar', 'avx2', 'avx2vnni', 'avx512', 'avx512vnni'];
    const cap = isaCap ? levels.indexOf(isaCap) : levels.length;
    const expected = isas.includes('avx512') && cap >= levels.indexOf('avx512') ? 'avx512' : isas.includes('avx2') && cap >= levels.indexOf('avx2') ? 'avx2' : process.arch === 'x64' ? 'sse2' : 'baseline';
    expect(native.probeIsa().isa).toBe(expected);
  });

  it('fmaProbe counts 2 flops per multiply-add and lane, and really iterates (chains reach their closed form)', () => {
    const { isa } = native.probeIsa();
    const shape = SHAPE[isa];
    for (const dtype of ['f32', 'f64'] as const)
      for (const [threads, iterations] of [[1, 1], [1, 777], [3, 5001]]) {
        const r = native.fmaProbe(dtype, threads, iterations);
        expect(r.isa).toBe(isa);
        expect(r.flops).toBe(2 * shape.chains * shape.lanes[dtype] * threads * iterations);
        // chain j starts at j / chains and steps a <- 0.999 a + 1e-3: a_n = m^n a_0 + c (1 - m^n) / (1 - m)
        const m = 0.999;
        const mn = m ** iterations;
        let expected = 0;
        for (let j = 0; j < shape.chains; ++j) expected += mn * (j / shape.chains) + (1e-3 * (1 - mn)) / (1 - m);
        expected *= shape.lanes[dtype] * threads;
        expect(Math.abs(r.sink - expected) / expected).toBeLessThan(dtype === 'f32' ? 1e-3 : 1e-9);
      }
  });

  it('readProbe sums every element once, on odd sizes and thread counts', () => {
    for (const n of [1, 63, 64, 65, 1000003])
      for (const threads of [1, 2, 3]) {
        const x = nt.rand([n], { seed: n + threads, dtype: 'f32' });
        const ref = (x.data as Float32Array).reduce((a, b) => a + b, 0);
        expect(Math.abs(native.readProbe(x._storage, x._metaArray, threads) - ref)).toBeLessThanOrEqual(TOL.sumRel * ref + 1e-6);
        x.dispose();
      }
  });

  it('probe errors are coded: dtype, contiguity, threads, iterations', () => {
    const x64 = nt.zeros([8], 'f64');
    const m = nt.zeros([4, 4]);
    const col = m.transpose();
    expect(codeOf(() => native.fmaProbe('f16' as 'f32', 1, 1))).toBe('NT_VALUE');
    expect(codeOf(() => native.fmaProbe('f32', 0, 1))).toBe('NT_VALUE');
    expect(codeOf(() => native.fmaProbe('f32', 1, 0))).toBe('NT_VALUE');
    expect(codeOf(() => native.readProbe(x64._storage, x64._metaArray, 1))).toBe('NT_DTYPE');
    expect(codeOf(() => native.readProbe(col._storage, col._metaArray, 1))).toBe('NT_VALUE');
    expect(codeOf(() => native.readProbe(m._storage, m._metaArray, 0))).toBe('NT_VALUE');
    col.dispose();
    m.dispose();
    x64.dispose();
  });

  it('probeCeilings: one pass of positive ceilings per thread count, under what the hardware can do', () => {
    // timings on a shared machine are noise, so only bounds no machine crosses are checked:
    // per thread at most 4 FMA pipes x lanes x 2 flops at 6 GHz; bandwidth under 2 TB/s
    const p = probeCeilings([1, 2], 0.3, 8 * 2 ** 20);
    const isa = native.probeIsa();
    const lanes = isa.isa === 'baseline' ? 16 : isa.lanesF32; // plain C++ may be vectorized to any width
    expect(p.ceilings.map((c) => c.threads)).toEqual([1, 2]);
    expect(p.readBufferBytes).toBe(8 * 2 ** 20);
    for (const c of p.ceilings) {
      expect(c.peak.f32).toBeGreaterThan(0);
      expect(c.peak.f64).toBeGreaterThan(0);
      expect(c.peak.f32).toBeLessThan(c.threads * 4 * lanes * 2 * 6);
      expect(c.peak.f64).toBeLessThan(c.threads * 4 * Math.max(1, lanes / 2) * 2 * 6);
      expect(c.bandwidth).toBeGreaterThan(0);
      expect(c.bandwidth).toBeLessThan(2000);
    }
    expect(p.passes).toHaveLength(1);
    expect(p.passes[0].ceilings).toBe(p.ceilings);
    for (const s of p.passes[0].steadiness) expect(s.peakF32).toBeLessThanOrEqual(1), expect(s.bandwidth).toBeLessThanOrEqual(1);
    expect(p.llcBytes).toBeGreaterThan(0);
  });
});

describe('bench options', () => {
  it('unknown suites, refused sizes and threads are NT_VALUE naming them', () => {
    expect(() => resolveOptions({ only: ['gemm', 'nope'] })).toThrow(/unknown suite 'nope' \(have gemm, qmatmul, attention, membw, eigh, svd\)/);
    expect(() => resolveOptions({ only: ['qmatmul'], sizes: [100] })).toThrow(expect.objectContaining({ code: 'NT_VALUE', message: expect.stringMatching(/multiples of 128.*got 100/) }));
    expect(codeOf(() => resolveOptions({ only: [] }))).toBe('NT_VALUE');
    expect(codeOf(() => resolveOptions({ sizes: [] }))).toBe('NT_VALUE');
    expect(codeOf(() => resolveOptions({ threads: [0] }))).toBe('NT_VALUE');
    expect(codeOf(() => resolveOptions({ budget: 0 }))).toBe('NT_VALUE');
    expect(resolveOptions({ only: ['svd', 'gemm'], threads: [2, 2, 1] })).toMatchObject({ threads: [2, 1], budget: 0.3 });
    expect(resolveOptions({ only: ['svd', 'gemm'] }).suites.map((s) => s.name)).toEqual(['gemm', 'svd']);
  });

  it('a working set inside the last-level cache has no DRAM bytes; rotations span 4 x the cache', () => {
    expect(dramBytes(32 << 20, 32 << 20)).toBeUndefined();
    expect(dramBytes((32 << 20) + 1, 32 << 20)).toBe((32 << 20) + 1);
    for (const [bytes, llc] of [[1, 1 << 20], [8e6, 32 << 20], [33e6, 32 << 20], [1e9, 32 << 20]]) {
      const k = rotatingCopies(bytes, llc);
      expect(k).toBeGreaterThanOrEqual(2);
      expect(k * bytes).toBeGreaterThanOrEqual(4 * llc);
      if (k > 2) expect((k - 1) * bytes).toBeLessThan(4 * llc);
    }
  });

  it('parseList takes comma-separated positive integers only', () => {
    expect(parseList('--sizes', '64,128')).toEqual([64, 128]);
    for (const bad of ['', '0', '1.5', '-2', 'a', '64,', '1e3']) expect(() => parseList('--sizes', bad)).toThrow(/--sizes takes comma-separated positive integers/);
  });

  it('writeAtomic replaces the file whole and leaves no temporary file, even when it fails', () => {
    const file = path.join(tmp, 'w.json');
    writeAtomic(file, 'one');
    writeAtomic(file, 'two');
    expect(fs.readFileSync(file, 'utf8')).toBe('two');
    const dirAsFile = path.join(tmp, 'adir');
    fs.mkdirSync(dirAsFile);
    expect(() => writeAtomic(dirAsFile, 'x')).toThrow();
    expect(fs.readdirSync(tmp).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });
});

describe('ntensor bench (CLI)', () => {
  it('is listed by ntensor help, with its flags in ntensor bench --help', async () => {
    const help = await cli(['help']);
    expect(help.stdout).toMatch(/\n\s+bench \[options\]\s+micro-benchmarks with a roofline/);
    const own = await cli(['bench', '--help']);
    for (const flag of ['--only', '--sizes', '--threads', '--json', '--time', '--no-peers']) expect(own.stdout).toContain(flag);
  });

  it.each([
    [['--only', 'gemm,nope'], /unknown suite 'nope'/],
    [['--bogus'], /unknown option '--bogus'/],
    [['--sizes', '0'], /--sizes takes comma-separated positive integers, got '0'/],
    [['--only', 'qmatmul', '--sizes', '100'], /multiples of 128/],
    [['--threads', 'two'], /--threads takes comma-separated positive integers/],
    [['--time', '-1'], /--time takes seconds in \(0, 60\]/],
    [['--json', '/nonexistent-nt-dir/x.json'], /--json: folder \/nonexistent-nt-dir does not exist/],
    [['extra'], /too many arguments/],
  ])('usage error %j exits 2 with a message, before measuring anything', async (args, message) => {
    const r = await cli(['bench', ...(args as string[])]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message as RegExp);
    expect(r.stdout).toBe('');
  });

  it('a small run prints GFLOP/s and the share of the measured FMA peak, and writes the same report as JSON', async () => {
    const file = path.join(tmp, 'run.json');
    const r = await cli(['bench', '--only', 'gemm,svd', '--sizes', '48', '--threads', '1', '--time', '0.05', '--no-peers', '--json', file]);
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/1 thread: FMA peak [0-9.]+ GFLOP\/s f32, [0-9.]+ GFLOP\/s f64; read bandwidth [0-9.]+ GB\/s/);
    expect(r.stdout).toMatch(/SGEMM 48x48x48 +ntensor +1 .* compute: FMA peak f32/);
    expect(r.stdout).toMatch(/svd 48x48 +numpy +1 +- +peers skipped \(--no-peers\)\n/);
    const rep = JSON.parse(fs.readFileSync(file, 'utf8')) as BenchReport;
    expect(rep.suites.map((s) => s.name)).toEqual(['gemm', 'svd']);
    // two probe passes (before and after the suites); the roofline uses the best of them
    expect(rep.probes.passes).toHaveLength(2);
    expect(rep.probes.ceilings).toEqual(bestCeilings(rep.probes.passes.map((p) => p.ceilings)));
    for (const s of rep.suites) {
      const ours = s.rows.filter((x) => x.impl === 'ntensor');
      expect(ours).toHaveLength(1);
      const row = ours[0];
      expect(row.bytes).toBeUndefined(); // 48 x 48 stays in cache: the compute roof alone
      expect(row.roofline!.bound).toBe('compute');
      expect(row.gflops).toBeCloseTo(row.flops! / row.median! / 1e9, 9);
      expect(row.roofline!.fraction * 100).toBeGreaterThan(0);
      expect(row.roofline!.fraction * 100).toBeLessThanOrEqual(150);
    }
    expect(r.stdout).toContain(`JSON written to ${file}`);
  });

  it('numpy rows sit beside ours when python3 has numpy (their ratio is numpy time / ours), else say "peer not installed"', async () => {
    const file = path.join(tmp, 'peer.json');
    const r = await cli(['bench', '--only', 'gemm', '--sizes', '40', '--threads', '1', '--time', '0.05', '--json', file]);
    expect(r.code).toBe(0);
    const rep = JSON.parse(fs.readFileSync(file, 'utf8')) as BenchReport;
    const [ours, peer] = rep.suites[0].rows;
    expect([ours.impl, peer.impl]).toEqual(['ntensor', 'numpy']);
    if (numpyStatus().available) {
      expect(rep.peer).toMatch(/^numpy \d/);
      expect(peer.error).toBeUndefined();
      expect(peer.roofline!.bound).toBe('compute');
      expect(ours.vsPeer).toBeCloseTo(peer.median! / ours.median!, 12);
      expect(r.stdout).toMatch(/SGEMM 40x40x40 +numpy +1 /);
    } else {
      expect(rep.peer).toMatch(/^peer not installed/);
      expect(peer.error).toBe(rep.peer);
      expect(ours.vsPeer).toBeUndefined();
    }
  });

  it('qmatmul and attention rows declare their flops and bytes, rotate over 4 x the cache and free everything', async () => {
    const file = path.join(tmp, 'qa.json');
    const r = await cli(['bench', '--only', 'qmatmul,attention', '--sizes', '128', '--threads', '1', '--time', '0.02', '--no-peers', '--json', file]);
    expect(r.code).toBe(0);
    const rep = JSON.parse(fs.readFileSync(file, 'utf8')) as BenchReport;
    const [q, a] = rep.suites.map((s) => s.rows);
    expect(q).toHaveLength(1);
    expect(q[0].error).toBeUndefined();
    expect(q[0].flops).toBe(2 * 128 * 128);
    // 4-bit codes (n k / 2) + one scale and one zero per row and group of 128 + x and y in f32
    expect(q[0].bytes).toBeGreaterThanOrEqual((128 * 128) / 2 + 128 * 2 + 2 * 128 * 4);
    expect(q[0].bytes).toBeLessThanOrEqual((128 * 128) / 2 + 128 * 5 + 2 * 128 * 4);
    const copies = Number(/\((\d+) rotating weights\)/.exec(q[0].name)![1]);
    expect(copies * q[0].bytes!).toBeGreaterThanOrEqual(4 * rep.probes.llcBytes - 2 * 128 * 4 * copies);
    expect(a).toHaveLength(1);
    expect(a[0].error).toBeUndefined();
    expect(a[0].flops).toBe(4 * 32 * 128 * 128);
    expect(a[0].bytes).toBe(2 * 8 * 128 * 128 * 4 + 2 * 32 * 128 * 4);
    for (const row of [q[0], a[0]]) expect(row.roofline!.fraction).toBeGreaterThan(0);
  });

  it('memory-bound rows quote the read bandwidth; a missing python is "peer not installed", not a failure', async () => {
    const saved = process.env.NTENSOR_BENCH_PYTHON;
    process.env.NTENSOR_BENCH_PYTHON = path.join(tmp, 'no-such-python');
    try {
      const file = path.join(tmp, 'mem.json');
      const r = await cli(['bench', '--only', 'membw', '--sizes', '8', '--threads', '1', '--time', '0.05', '--json', file]);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/peers: peer not installed: .*no-such-python not found/);
      const rep = JSON.parse(fs.readFileSync(file, 'utf8')) as BenchReport;
      const rows = rep.suites[0].rows;
      for (const row of rows.filter((x) => x.impl === 'ntensor')) {
        expect(row.roofline).toMatchObject({ bound: 'memory', unit: 'GB/s' });
        expect(row.roofline!.fraction).toBeCloseTo(row.gbps! / rep.probes.ceilings[0].bandwidth, 9);
      }
      expect(rows.find((x) => x.impl === 'numpy')!.error).toMatch(/^peer not installed/);
      expect(rep.suites[0].notes.join('\n')).toMatch(/8 MiB is less than 4x the last-level cache/);
    } finally {
      if (saved === undefined) delete process.env.NTENSOR_BENCH_PYTHON;
      else process.env.NTENSOR_BENCH_PYTHON = saved;
    }
  });
});
