// The sequential pipeline's spill file: tensors round-trip bit for bit, sync and async, the file
// is never visible in its folder, and a closed or short file is a coded error.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as nt from '../../lib';
import { runAsync, runSync } from '../../lib/job';
import { SpillFile } from '../../lib/llm/spill';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nt-spill-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function seeded(shape: number[], seed: number): nt.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const bits = new Uint32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; ++i) {
    s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
    bits[i] = s; // every bit pattern: NaN payloads, infinities, subnormals, -0
  }
  return nt.tensor(new Float32Array(bits.buffer), { shape });
}

const bitsOf = (t: nt.Tensor) => new Uint32Array((t.data as Float32Array).slice().buffer);

describe('SpillFile', () => {
  test.each([
    ['sync', <T>(job: Generator<never, T, unknown>) => Promise.resolve(runSync(job as never) as T)],
    ['async', <T>(job: Generator<never, T, unknown>) => runAsync(job as never) as Promise<T>],
  ])('round-trips tensors of odd sizes bit for bit (%s), unseen in its folder', async (_kind, run) => {
    const shapes = [[3, 7], [1, 1], [513, 33], [2, 4097]];
    const originals = shapes.map((s, i) => seeded(s, 17 + i));
    const expected = originals.map(bitsOf);
    const spill = new SpillFile(dir);
    try {
      for (const t of originals) await run(spill.put(t) as never);
      originals.forEach((t) => t.dispose()); // the file holds them now
      expect(spill.length).toBe(shapes.length);
      expect(fs.readdirSync(dir)).toEqual([]);
      for (const i of [2, 0, 3, 1, 2]) {
        const got = (await run(spill.get(i) as never)) as nt.Tensor;
        expect(got.shape).toEqual(shapes[i]);
        expect(got.dtype).toBe('f32');
        expect(bitsOf(got)).toEqual(expected[i]);
        got.dispose();
      }
    } finally {
      spill.close();
    }
  });

  test('a closed file and a file cut short are NT_VALUE and NT_IO, sync and async; nothing leaks', async () => {
    const spill = new SpillFile(dir);
    const t = seeded([64, 65], 5);
    runSync(spill.put(t));
    // cut the (unlinked) file short through its descriptor: the read stops early
    fs.ftruncateSync((spill as unknown as { fd: number }).fd, 100);
    const live = nt.memory().tensors;
    expect(() => runSync(spill.get(0))).toThrow(expect.objectContaining({ code: 'NT_IO', message: expect.stringMatching(/\[spill\] the spill file ended at byte 100, expected 16640/) }));
    await expect(runAsync(spill.get(0))).rejects.toMatchObject({ code: 'NT_IO' });
    expect(nt.memory().tensors).toBe(live); // the tensor allocated for the read is freed
    spill.close();
    spill.close(); // idempotent
    expect(() => runSync(spill.put(t))).toThrow(expect.objectContaining({ code: 'NT_VALUE', message: '[spill] the spill file is closed' }));
    expect(() => runSync(spill.get(0))).toThrow(expect.objectContaining({ code: 'NT_VALUE' }));
    t.dispose();
  });
});
