// The async op path: a libuv worker runs the kernel while the event loop keeps going,
// inputs stay pinned, and failures reject with coded errors.
import * as nt from '../lib';
import { native } from '../lib/native/loader';

describe('async ops', () => {
  it('keep the event loop running during a long native call', async () => {
    const src = nt.randn([1 << 23], { seed: 1 });
    const dst = nt.zeros([1 << 23], 'f16');
    let ticks = 0;
    const timer = setInterval(() => ticks++, 0);
    let done = false;
    const job = (async () => {
      for (let i = 0; i < 8; ++i) await native.copyAsync(src._storage, src._metaArray, dst._storage, dst._metaArray);
      done = true;
    })();
    while (!done) await new Promise((r) => setImmediate(r));
    await job;
    clearInterval(timer);
    expect(ticks).toBeGreaterThan(0);
    expect(dst.get(12345)).toBeCloseTo(src.get(12345), 2);
  });

  it('keep inputs alive when the caller drops and disposes them mid-flight', async () => {
    let src: nt.Tensor | null = nt.rand([1 << 20], { seed: 2 });
    const expected = src.get(777);
    const dst = nt.zeros([1 << 20], 'f64');
    const p = native.copyAsync(src._storage, src._metaArray, dst._storage, dst._metaArray);
    src.dispose();
    src = null;
    await p;
    expect(dst.get(777)).toBe(expected);
  });

  it('resolve for an op with nothing to compute (the no-op)', async () => {
    await expect(native.noopAsync(new Float32Array(3), new Float64Array([0, 1, 0, 3, 1]))).resolves.toBeUndefined();
  });

  it('reject with coded errors instead of throwing synchronously', async () => {
    const a = new Float32Array(3);
    await expect(native.noopAsync(a, new Float64Array([0, 1, 0, 4, 1]))).rejects.toMatchObject({ code: 'NT_VALUE' });
    await expect(native.noopAsync(a, new Float64Array([1, 1, 0, 3, 1]))).rejects.toMatchObject({ code: 'NT_DTYPE' });
    const src = nt.tensor([1, NaN]);
    const dst = nt.zeros([2], 'i32');
    await expect(native.copyAsync(src._storage, src._metaArray, dst._storage, dst._metaArray)).rejects.toMatchObject({
      code: 'NT_VALUE',
      message: expect.stringMatching(/cannot convert NaN/),
    });
    expect(dst.toArray()).toEqual([0, 0]); // nothing half-written
  });

  it('run many at once and all complete correctly', async () => {
    const inputs = Array.from({ length: 32 }, (_, i) => nt.randn([1000 + i], { seed: i, dtype: 'f64' }));
    const outputs = inputs.map((t) => nt.zeros(t.shape, 'f32'));
    await Promise.all(inputs.map((t, i) => native.copyAsync(t._storage, t._metaArray, outputs[i]._storage, outputs[i]._metaArray)));
    inputs.forEach((t, i) => expect(outputs[i].get(999)).toBe(Math.fround(t.get(999))));
  });
});

describe('native argument guard', () => {
  it('bounds-checks views against their storage whatever the caller passes', () => {
    const a = new Float32Array(4);
    const call = (meta: number[]) => {
      try {
        native.noop(a, new Float64Array(meta));
        return 'ok';
      } catch (e) {
        return (e as { code: string }).code;
      }
    };
    expect(call([0, 1, 0, 4, 1])).toBe('ok');
    expect(call([0, 2, 0, 2, 2, 2, 1])).toBe('ok');
    expect(call([0, 2, 0, 2, 3, 3, 1])).toBe('NT_VALUE'); // reaches element 5
    expect(call([0, 1, -1, 2, 1])).toBe('NT_VALUE'); // negative offset
    expect(call([0, 1, 3, 2, -1])).toBe('ok'); // negative stride inside bounds
    expect(call([0, 1, 0, 2 ** 52, 2 ** 52])).toBe('NT_VALUE'); // overflow
    expect(call([0, 9, 0])).toBe('NT_SHAPE');
    expect(call([0, 1, 0.5, 1, 1])).toBe('NT_VALUE');
    expect(call([42, 1, 0, 1, 1])).toBe('NT_DTYPE');
    expect(call([0, 1, 0, 0, 1])).toBe('ok'); // empty
    expect(() => (native.noop as (...a: unknown[]) => void)(a)).toThrow(/missing argument 1/);
    expect(() => (native.noop as (...a: unknown[]) => void)([1, 2], new Float64Array([0, 1, 0, 1, 1]))).toThrow(/must be a TypedArray/);
  });

  it('refuses bad tensor-level calls made directly, naming what was expected', () => {
    const f32 = nt.zeros([2, 3]);
    const codeOf = (fn: () => void) => {
      try {
        fn();
        return 'ok';
      } catch (e) {
        return `${(e as { code: string }).code} ${(e as Error).message}`;
      }
    };
    expect(codeOf(() => native.fillRandom(f32._storage, f32._metaArray, 2 as 0, 0, 1))).toBe('NT_VALUE [random] unknown distribution 2');
    expect(codeOf(() => native.fillRandom(f32._storage, f32._metaArray, 0, -1, 1))).toBe('NT_VALUE [random] seed words must be uint32, got -1 and 1');
    const i32 = nt.zeros([3], 'i32');
    expect(codeOf(() => native.fillRandom(i32._storage, i32._metaArray, 0, 0, 1))).toBe('NT_DTYPE [random] expected f32 or f64 output, got i32');
    const t = f32.transpose();
    expect(codeOf(() => native.fillRandom(t._storage, t._metaArray, 0, 0, 1))).toBe('NT_VALUE [random] output must be contiguous');
    const other = nt.zeros([3, 2]);
    expect(codeOf(() => native.copy(f32._storage, f32._metaArray, other._storage, other._metaArray))).toBe('NT_SHAPE [copy] shapes differ: [2,3] vs [3,2]');
    expect(f32.toArray()).toEqual([[0, 0, 0], [0, 0, 0]]);
  });
});
