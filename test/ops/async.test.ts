// The Async twins: same results as the sync forms, the event loop keeps running during a
// long reduction, inputs stay alive when the caller drops them, and argument errors
// (including disposed tensors) reject instead of throwing.
import * as nt from '../../lib';
import { fromValues, randomTensor, values } from './helpers';

describe('async ops', () => {
  it('let the event loop run while a 64M-element f32 sum computes', async () => {
    const n = 1 << 26;
    const x = nt.full([n], 0.5);
    let ticks = 0;
    let settled = false;
    const tick = () => {
      if (settled) return;
      ticks++;
      setImmediate(tick);
    };
    setImmediate(tick);
    const timer = setInterval(() => ticks++, 0);
    const s = await nt.sumAsync(x).finally(() => (settled = true));
    clearInterval(timer);
    expect(ticks).toBeGreaterThan(0);
    expect(s.toArray()).toBe(n / 2);
    x.dispose();
  });

  it('give the same results as the sync forms', async () => {
    const x = randomTensor([9, 33], 'f32', 1, -2, 2);
    const b = randomTensor([33], 'f32', 2, 0.5, 2);
    const w = randomTensor([33], 'f32', 3);
    const same = async (p: Promise<nt.Tensor>, t: nt.Tensor) => expect(Array.from(values(await p))).toEqual(Array.from(values(t)));
    await same(nt.addAsync(x, b), nt.add(x, b));
    await same(nt.subAsync(1, x), nt.sub(1, x));
    await same(nt.mulAsync(x, b), nt.mul(x, b));
    await same(nt.divAsync(x, b), nt.div(x, b));
    await same(nt.expAsync(x), nt.exp(x));
    await same(nt.logAsync(b), nt.log(b));
    await same(nt.sqrtAsync(b), nt.sqrt(b));
    await same(nt.siluAsync(x), nt.silu(x));
    await same(nt.geluAsync(x, { approximate: 'tanh' }), nt.gelu(x, { approximate: 'tanh' }));
    await same(nt.sumAsync(x, 0), nt.sum(x, 0));
    await same(nt.meanAsync(x, { axis: 1, keepdims: true }), nt.mean(x, { axis: 1, keepdims: true }));
    await same(nt.maxAsync(x), nt.max(x));
    await same(nt.minAsync(x, 1), nt.min(x, 1));
    await same(nt.argmaxAsync(x, 1), nt.argmax(x, 1));
    await same(nt.normAsync(x, { axis: 0, ord: 1 }), nt.norm(x, { axis: 0, ord: 1 }));
    await same(nt.softmaxAsync(x, 0), nt.softmax(x, 0));
    await same(nt.rmsnormAsync(x, w), nt.rmsnorm(x, w));
  });

  it('write into out (also through the temporary when out overlaps an input)', async () => {
    const x = fromValues([1, 2, 3, 4, 5, 6], [2, 3], 'f64');
    const out = nt.zeros([2, 3], 'f64');
    expect(await nt.addAsync(x, x, { out })).toBe(out);
    expect(Array.from(values(out))).toEqual([2, 4, 6, 8, 10, 12]);
    const row0 = x.slice([0, 1]);
    await nt.sumAsync(x, { axis: 0, keepdims: true, out: row0 });
    expect(Array.from(values(x))).toEqual([5, 7, 9, 4, 5, 6]);
  });

  it('keep inputs alive when the caller drops and disposes them before the promise settles', async () => {
    let x: nt.Tensor | null = nt.rand([1 << 20], { seed: 4 });
    const want = nt.sum(x).toArray();
    const p = nt.sumAsync(x);
    x.dispose();
    x = null;
    expect((await p).toArray()).toBe(want);
  });

  it('reject (not throw) on bad arguments and on tensors disposed before the call', async () => {
    const x = nt.ones([3]);
    x.dispose();
    const p = nt.sumAsync(x);
    expect(p).toBeInstanceOf(Promise);
    await expect(p).rejects.toMatchObject({ code: 'NT_DISPOSED', message: '[sum] x was disposed' });
    await expect(nt.addAsync(nt.ones([2]), nt.ones([3]))).rejects.toMatchObject({ code: 'NT_SHAPE' });
    await expect(nt.softmaxAsync(nt.ones([2]), 3)).rejects.toMatchObject({ code: 'NT_VALUE' });
    await expect(nt.rmsnormAsync(nt.ones([2]), nt.ones([3]))).rejects.toMatchObject({ code: 'NT_SHAPE' });
    await expect(nt.meanAsync(nt.zeros([0]))).rejects.toMatchObject({ code: 'NT_VALUE' });
  });

  it('leave memory at the baseline', async () => {
    const x = randomTensor([100], 'f32', 5);
    const base = nt.memory();
    (await nt.normAsync(x)).dispose();
    (await nt.expAsync(x)).dispose();
    await expect(nt.maxAsync(x, 5)).rejects.toMatchObject({ code: 'NT_VALUE' });
    expect(nt.memory()).toEqual(base);
  });
});
