// The benchmark harness's bookkeeping (not speed): samples -> median and spread, declared
// bytes -> GB/s and fraction of the reference bandwidth, peer ratios, errors, JSON output.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import Benchmark = require('benchmark');
import { BenchContext, CaseResult, SuiteResult, formatTime, markdownTable, runSuite } from '../../bench/harness';
import * as nt from '../../lib';

let tmp: string;
const saved = { maxTime: process.env.BENCH_MAX_TIME, minTime: Benchmark.options.minTime };

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ntensor-bench-'));
  // tiny samples: this checks the arithmetic around the samples, not their values
  process.env.BENCH_MAX_TIME = '0.005';
  Benchmark.options.minTime = 0.0005;
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
  if (saved.maxTime === undefined) delete process.env.BENCH_MAX_TIME;
  else process.env.BENCH_MAX_TIME = saved.maxTime;
  Benchmark.options.minTime = saved.minTime;
});

function work(n: number): number {
  let acc = 0;
  for (let i = 0; i < n; ++i) acc += Math.sqrt(i);
  return acc;
}

describe('bench harness', () => {
  let result: SuiteResult;
  let ctx: BenchContext;
  const threadsBefore = nt.getNumThreads();
  let disposed = false;

  beforeAll(async () => {
    ctx = { full: false, bandwidth: new Map([[2, 10]]), outDir: tmp };
    let sink = 0;
    result = await runSuite(
      {
        name: 'unit',
        build: () => ({
          name: 'unit',
          title: 'Unit suite',
          cases: [
            { name: 'slow', impl: 'js', threads: 1, fn: () => (sink += work(2000)), bytes: 8000, bandwidthReference: true },
            { name: 'fast', impl: 'js', threads: 2, fn: () => (sink += work(200)), bytes: 800, flops: 400, peer: 'slow | js | 1t', memoryBound: true },
            { name: 'async', impl: 'promise', threads: 1, deferred: (done) => void Promise.resolve().then(() => done()) },
            { name: 'broken', impl: 'promise', threads: 1, deferred: (done) => void Promise.reject(new Error('boom')).then(() => done(), done) },
            {
              name: 'throws',
              impl: 'js',
              threads: 1,
              fn: () => {
                throw new Error('bad input');
              },
            },
          ],
          summary: (rs: CaseResult[]) => [`${rs.length} cases`],
          dispose: () => {
            disposed = true;
          },
        }),
      },
      ctx,
      () => {},
    );
    expect(sink).toBeGreaterThan(0);
  });

  it('reports the median between the fastest and slowest sample, with a MAD', () => {
    for (const r of result.results.filter((x) => !x.error)) {
      expect(r.samples).toBeGreaterThanOrEqual(5);
      expect(r.min).toBeLessThanOrEqual(r.median);
      expect(r.median).toBeLessThanOrEqual(r.max);
      expect(r.mad).toBeGreaterThanOrEqual(0);
      expect(r.mad).toBeLessThanOrEqual(r.max - r.min);
    }
  });

  it('derives GB/s and GFLOP/s from the declared counts and the median', () => {
    const [slow, fast] = result.results;
    expect(slow.gbps).toBeCloseTo(8000 / slow.median / 1e9, 12);
    expect(fast.gflops).toBeCloseTo(400 / fast.median / 1e9, 12);
    expect(slow.gflops).toBeUndefined();
  });

  it('records bandwidth references per thread count and quotes fractions of them', () => {
    const [slow, fast] = result.results;
    expect(ctx.bandwidth.get(1)).toBe(slow.gbps);
    expect(fast.bandwidthFraction).toBeCloseTo(fast.gbps! / 10, 12);
    expect(slow.bandwidthFraction).toBeUndefined();
  });

  it('quotes the ratio against the named peer of the same run', () => {
    const [slow, fast] = result.results;
    expect(fast.ratio).toBeCloseTo(slow.median / fast.median, 12);
    expect(fast.ratio).toBeGreaterThan(1);
    expect(fast.peer).toBe('js 1t');
  });

  it('runs deferred cases and reports failing cases as error rows, not a crash', () => {
    expect(result.results[2].error).toBeUndefined();
    expect(result.results[3].error).toBe('boom');
    expect(result.results[4].error).toBe('bad input');
    expect(result.markdown).toMatch(/\| broken \| promise \| 1 \| error: boom \|/);
  });

  it('restores the thread count and disposes the suite', () => {
    expect(nt.getNumThreads()).toBe(threadsBefore);
    expect(disposed).toBe(true);
  });

  it('writes the results as JSON with the machine description and the Markdown table', () => {
    const json = JSON.parse(fs.readFileSync(path.join(tmp, 'unit.json'), 'utf8'));
    expect(json.suite).toBe('unit');
    expect(json.results).toHaveLength(5);
    expect(json.machine.cores).toBe(os.cpus().length);
    expect(json.summary[0]).toBe('5 cases');
    expect(json.summary[1]).toMatch(/^machine load average \(1 min\) at the start \/ end of the suite: [0-9.]+ \/ [0-9.]+ on \d+ cores$/);
    expect(json.markdown).toBe(result.markdown);
    expect(json.markdown).toMatch(/^### Unit suite\n\n\| case \| impl \| threads \| median/);
  });

  it('rejects a peer that names no case', async () => {
    const suite = {
      name: 'badpeer',
      build: () => ({ name: 'badpeer', title: 'x', cases: [{ name: 'a', impl: 'b', threads: 1, fn: () => {}, peer: 'nope' }] }),
    };
    await expect(runSuite(suite, { full: false, bandwidth: new Map(), outDir: tmp }, () => {})).rejects.toThrow(/unknown peer "nope"/);
  });
});

describe('bench formatting', () => {
  it('formats times in the unit that keeps three digits', () => {
    expect(formatTime(2.5e-7)).toBe('250 ns');
    expect(formatTime(1.234e-6)).toBe('1.23 µs');
    expect(formatTime(0.0421)).toBe('42.1 ms');
    expect(formatTime(3.5)).toBe('3.50 s');
    expect(formatTime(NaN)).toBe('-');
  });

  it('escapes pipes in Markdown cells and right-aligns the numeric columns', () => {
    const md = markdownTable([
      { id: 'x', name: 'a|b', impl: 'i', threads: 1, samples: 3, median: 1e-3, min: 9e-4, max: 2e-3, mad: 1e-4, gbps: 12.345 },
    ]);
    const lines = md.trimEnd().split('\n');
    expect(lines[0]).toBe('| case | impl | threads | median | min … max | MAD | GB/s |');
    expect(lines[1]).toBe('|---|---|---:|---:|---|---:|---:|');
    expect(lines[2]).toBe('| a\\|b | i | 1 | 1.00 ms | 900 µs … 2.00 ms | ±10.0% | 12.3 |');
  });
});
