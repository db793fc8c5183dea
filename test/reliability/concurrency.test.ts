// Concurrency: 100 async ops in flight at once on shared read-only inputs give results
// bit-identical to the sequential sync ones and leave the inputs untouched; disposing a
// tensor while an async op reads it is safe (the op pinned its storage: the result is still
// correct) and later ops on it are refused with NT_DISPOSED. Nothing leaks.
import * as path from 'path';
import * as nt from '../../lib';

const FIXTURE = path.join(__dirname, '..', '..', 'fixtures', 'tinyllama-fortunes');

function bits(t: nt.Tensor): Buffer {
  const c = t.contiguous();
  const d = c.data;
  const out = Buffer.from(Buffer.from(d.buffer, d.byteOffset, d.byteLength));
  if (c !== t) c.dispose();
  return out;
}

function symmetric(n: number, seed: number): nt.Tensor {
  const x = nt.randn([n, n], { seed, dtype: 'f64' });
  const xt = x.transpose();
  const s = nt.add(x, xt);
  x.dispose();
  xt.dispose();
  return s;
}

type Job = { name: string; sync: () => nt.Tensor[]; async: () => Promise<nt.Tensor[]> };

describe('concurrent async ops', () => {
  test('100 concurrent async ops on shared inputs equal the sequential results', async () => {
    const before = nt.memory();
    const inputs = {
      sym: [symmetric(7, 1), symmetric(16, 2), symmetric(33, 3)],
      mat: [nt.randn([9, 5], { seed: 4 }), nt.randn([24, 40], { seed: 5, dtype: 'f64' }), nt.randn([65, 17], { seed: 6 })],
      w: nt.randn([16, 128], { seed: 7 }),
    };
    const shared = [...inputs.sym, ...inputs.mat, inputs.w];
    const snapshots = shared.map(bits);

    const jobs: Job[] = [];
    for (const a of inputs.sym) {
      jobs.push({
        name: `eigh ${a.shape}`,
        sync: () => Object.values(nt.linalg.eigh(a)).filter((t): t is nt.Tensor => t instanceof nt.Tensor),
        async: async () => Object.values(await nt.linalg.eighAsync(a)).filter((t): t is nt.Tensor => t instanceof nt.Tensor),
      });
    }
    for (const a of inputs.mat) {
      jobs.push({
        name: `svd ${a.shape}`,
        sync: () => Object.values(nt.linalg.svd(a)).filter((t): t is nt.Tensor => t instanceof nt.Tensor),
        async: async () => Object.values(await nt.linalg.svdAsync(a)).filter((t): t is nt.Tensor => t instanceof nt.Tensor),
      });
      jobs.push({
        name: `matmul ${a.shape}`,
        sync: () => [nt.matmul(a, a, { transB: true })],
        async: async () => [await nt.matmulAsync(a, a, { transB: true })],
      });
    }
    const qtensorParts = (q: nt.quant.QTensor): nt.Tensor[] => {
      const parts = [q.codes.clone(), q.scales.clone(), q.zeros.clone()];
      q.dispose();
      return parts;
    };
    jobs.push({
      name: 'quantize',
      sync: () => qtensorParts(nt.quant.quantize(inputs.w, { bits: 4, groupSize: 32 })),
      async: async () => qtensorParts(await nt.quant.quantizeAsync(inputs.w, { bits: 4, groupSize: 32 })),
    });
    jobs.push({ name: 'softmax', sync: () => [nt.softmax(inputs.w)], async: async () => [await nt.softmaxAsync(inputs.w)] });
    jobs.push({ name: 'sum axis 0', sync: () => [nt.sum(inputs.w, 0)], async: async () => [await nt.sumAsync(inputs.w, 0)] });

    const expected = jobs.map((j) => {
      const ts = j.sync();
      const b = ts.map(bits);
      ts.forEach((t) => t.dispose());
      return b;
    });
    // 100 in flight, cycling through the jobs
    const picks = Array.from({ length: 100 }, (_, i) => i % jobs.length);
    const results = await Promise.all(picks.map((k) => jobs[k].async()));
    results.forEach((ts, i) => {
      const k = picks[i];
      expect([jobs[k].name, ts.map(bits)]).toEqual([jobs[k].name, expected[k]]);
      ts.forEach((t) => t.dispose());
    });
    shared.forEach((t, i) => expect(bits(t).equals(snapshots[i])).toBe(true));
    shared.forEach((t) => t.dispose());
    expect(nt.memory()).toEqual(before);
  }, 120_000);

  test('the fixture model: concurrent forwardAsync calls equal the sequential forward', async () => {
    const model = nt.model.load(FIXTURE);
    try {
      const prompts = [[1, 2, 3], [72, 101, 108, 108, 111], [10], [33, 34, 35, 36, 37, 38, 39]];
      const expected = prompts.map((p) => {
        const y = model.forward(p);
        const b = bits(y);
        y.dispose();
        return b;
      });
      const before = nt.memory();
      const picks = Array.from({ length: 12 }, (_, i) => i % prompts.length);
      const outs = await Promise.all(picks.map((k) => model.forwardAsync(prompts[k])));
      outs.forEach((y, i) => {
        expect(bits(y).equals(expected[picks[i]])).toBe(true);
        y.dispose();
      });
      expect(nt.memory()).toEqual(before);
    } finally {
      model.dispose();
    }
  }, 180_000);

  test('disposing inputs while async ops run: pinned results stay correct, later calls get NT_DISPOSED', async () => {
    const before = nt.memory();
    const a = symmetric(48, 11);
    const m = nt.randn([64, 64], { seed: 12 });
    const w = nt.randn([8, 64], { seed: 13 });
    const eRef = nt.linalg.eigh(a);
    const sRef = nt.linalg.svd(m);
    const mRef = nt.matmul(m, m);
    const want = [bits(eRef.values), bits(sRef.S), bits(mRef)];
    [eRef.values, eRef.vectors, ...Object.values(sRef).filter((t): t is nt.Tensor => t instanceof nt.Tensor), mRef].forEach((t) => t?.dispose());

    const pe = nt.linalg.eighAsync(a);
    const ps = nt.linalg.svdAsync(m);
    const pm = nt.matmulAsync(m, m);
    const quant = nt.quant.quantizeAsync(w, { bits: 4, groupSize: 32 });
    // dispose every input while the workers may still be reading them
    a.dispose();
    m.dispose();
    w.dispose();
    const e = await pe;
    const s = await ps;
    const mm = await pm;
    expect([bits(e.values), bits(s.S), bits(mm)]).toEqual(want);
    const q = await quant;
    expect(q.shape).toEqual([8, 64]);
    q.dispose();
    [e.values, e.vectors, ...Object.values(s).filter((t): t is nt.Tensor => t instanceof nt.Tensor), mm].forEach((t) => t?.dispose());

    // after dispose: refused, sync and async alike, with the op named
    expect(() => nt.linalg.eigh(a)).toThrow(expect.objectContaining({ code: 'NT_DISPOSED' }));
    await expect(nt.linalg.svdAsync(m)).rejects.toMatchObject({ code: 'NT_DISPOSED' });
    await expect(nt.matmulAsync(m, m)).rejects.toMatchObject({ code: 'NT_DISPOSED' });
    await expect(nt.quant.quantizeAsync(w, { bits: 4, groupSize: 32 })).rejects.toMatchObject({ code: 'NT_DISPOSED' });
    expect(nt.memory()).toEqual(before);
  }, 120_000);

  test('a view disposed while its async op runs keeps the base storage alive', async () => {
    const before = nt.memory();
    const base = nt.randn([40, 40], { seed: 21 });
    const view = base.transpose();
    const ref = nt.exp(view);
    const want = bits(ref);
    ref.dispose();
    const p = nt.expAsync(view);
    view.dispose();
    base.dispose();
    const got = await p;
    expect(bits(got).equals(want)).toBe(true);
    got.dispose();
    expect(nt.memory()).toEqual(before);
  });
});
