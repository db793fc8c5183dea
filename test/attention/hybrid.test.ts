// nt.attention.hybrid (LoLCATs sliding window + linear) against float64 references.
import * as nt from '../../lib';
import { errorOf } from '../helpers/reference';
import { MapKind, arr4, centralDiff, hedgehogWeights, maxRelErr, reference, softmaxReference, toTensor, weightTensor } from './linear-reference';

// Tolerances: max abs error / max(1, max |ref|); see linear.test.ts for the finite differences.
const TOL = { f64: 1e-10, f32: 2e-5, grad: 1e-6 };

type Shape4 = [number, number, number, number];

function setup(kind: MapKind, B: number, Hq: number, Hkv: number, Nq: number, Nk: number, D: number, Dv: number, f: number, window: number, seed: number) {
  const q = arr4([B, Hq, Nq, D] as Shape4, seed, -1.5, 1.5);
  const k = arr4([B, Hkv, Nk, D] as Shape4, seed + 1, -1.5, 1.5);
  const v = arr4([B, Hkv, Nk, Dv] as Shape4, seed + 2);
  const wq = kind === 'hedgehog' ? hedgehogWeights(Hq, D, f, seed + 3) : undefined;
  const wk = kind === 'hedgehog' ? hedgehogWeights(Hq, D, f, seed + 4) : undefined;
  const gamma = Array.from({ length: Hq }, (_, h) => 0.1 + 0.2 * h);
  return { q, k, v, kind, wq, wk, window, gamma, eps: 0 };
}

function maps(p: ReturnType<typeof setup>, D: number, f: number, dtype: 'f32' | 'f64' = 'f64'): nt.attention.FeatureMaps {
  if (p.kind !== 'hedgehog') return p.kind;
  return {
    q: { kind: 'hedgehog', weight: weightTensor(p.wq!, D, f, dtype) },
    k: { kind: 'hedgehog', weight: weightTensor(p.wk!, D, f, dtype) },
  };
}
function disposeMaps(m: nt.attention.FeatureMaps): void {
  if (typeof m === 'object' && 'q' in m) for (const s of [m.q, m.k]) if (typeof s === 'object') s.weight.dispose();
}

describe('attention.hybrid forward', () => {
  const cases: [MapKind, number, number, number, number, number, number][] = [
    // kind, Hq, Hkv, Nq, Nk, f, window
    ['hedgehog', 4, 2, 150, 150, 6, 64],
    ['hedgehog', 2, 1, 33, 33, 4, 1],
    ['elu+1', 3, 3, 129, 129, 0, 7],
    ['relu', 2, 1, 1, 1, 0, 3],
    ['hedgehog', 2, 2, 50, 131, 5, 16], // bottom-right alignment with a prefix
    ['elu+1', 2, 1, 7, 7, 0, 1000], // window beyond the sequence
  ];
  it.each(cases)('%s, hq %i, hkv %i, sq %i, sk %i, f %i, window %i matches the definition', (kind, Hq, Hkv, Nq, Nk, f, window) => {
    const p = setup(kind, 2, Hq, Hkv, Nq, Nk, 5, 3, f, window, Nq + window);
    const want = reference(p);
    for (const dtype of ['f64', 'f32'] as const) {
      const m = maps(p, 5, f, dtype);
      const [q, k, v] = [p.q, p.k, p.v].map((a) => toTensor(a, dtype));
      const y = nt.attention.hybrid(q, k, v, { window, featureMap: m, gamma: p.gamma });
      expect(y.shape).toEqual([2, Hq, Nq, 3]);
      expect(maxRelErr(y.data as ArrayLike<number>, want)).toBeLessThan(TOL[dtype]);
      for (const t of [q, k, v, y]) t.dispose();
      disposeMaps(m);
    }
  });

  it('with window >= sequence it is causal softmax attention whatever γ is', () => {
    const p = setup('hedgehog', 1, 4, 2, 40, 40, 8, 8, 4, 40, 3);
    const want = softmaxReference(p.q, p.k, p.v);
    const m = maps(p, 8, 4);
    const [q, k, v] = [p.q, p.k, p.v].map((a) => toTensor(a));
    for (const gamma of [0.1, 0.9, [0.3, 0.01, 1, 0.5]]) {
      const y = nt.attention.hybrid(q, k, v, { window: 40, featureMap: m, gamma });
      expect(maxRelErr(y.data as Float64Array, want)).toBeLessThan(TOL.f64);
      y.dispose();
    }
    for (const t of [q, k, v]) t.dispose();
    disposeMaps(m);
  });

  it('with a window of 1 the first query returns v_0 exactly (its only key)', () => {
    // query 0 sees only key 0: y_0 = v_0 exactly, whatever the map
    const p = setup('elu+1', 1, 1, 1, 5, 5, 3, 2, 0, 1, 8);
    const [q, k, v] = [p.q, p.k, p.v].map((a) => toTensor(a));
    const y = nt.attention.hybrid(q, k, v, { window: 1, featureMap: 'elu+1', gamma: 0.1 });
    expect(maxRelErr((y.data as Float64Array).subarray(0, 2), p.v.data.subarray(0, 2))).toBeLessThan(1e-15);
    for (const t of [q, k, v, y]) t.dispose();
  });
});

describe('attention.hybrid out and async', () => {
  it('writes into { out }, validates it first, and the async twin agrees', async () => {
    const p = setup('elu+1', 1, 2, 1, 20, 20, 4, 4, 0, 5, 61);
    const [q, k, v] = [p.q, p.k, p.v].map((a) => toTensor(a));
    const opts = { window: 5, featureMap: 'elu+1' as const, gamma: p.gamma };
    const want = reference(p);
    const out = nt.zeros([1, 2, 20, 4], 'f64');
    expect(nt.attention.hybrid(q, k, v, { ...opts, out })).toBe(out);
    expect(maxRelErr(out.data as Float64Array, want)).toBeLessThan(TOL.f64);
    const bad = nt.zeros([1, 2, 20, 3], 'f64');
    expect(errorOf(() => nt.attention.hybrid(q, k, v, { ...opts, out: bad }))).toMatchObject({ code: 'NT_SHAPE', message: expect.stringMatching(/out must have shape \[1,2,20,4\]/) });
    expect(Array.from(bad.data as Float64Array).every((x) => x === 0)).toBe(true);
    const wrongDtype = nt.zeros([1, 2, 20, 4], 'f32');
    expect(errorOf(() => nt.attention.hybrid(q, k, v, { ...opts, out: wrongDtype })).code).toBe('NT_DTYPE');
    const y = await nt.attention.hybridAsync(q, k, v, opts);
    expect(Array.from(y.data as Float64Array)).toEqual(Array.from(out.data as Float64Array));
    for (const t of [q, k, v, out, bad, wrongDtype, y]) t.dispose();
  });
});

describe('attention.HybridAttentionState (decode)', () => {
  it.each([
    [4, 2, 5],
    [2, 1, 1],
    [2, 2, 64],
  ])('hq %i, hkv %i, window %i: steps equal the prefill rows', (Hq, Hkv, window) => {
    const N = 70;
    const p = setup('hedgehog', 2, Hq, Hkv, N, N, 4, 3, 3, window, 50 + window);
    const m = maps(p, 4, 3);
    const [q, k, v] = [p.q, p.k, p.v].map((a) => toTensor(a));
    const full = nt.attention.hybrid(q, k, v, { window, featureMap: m, gamma: p.gamma });
    const st = new nt.attention.HybridAttentionState({ window, featureMap: m, gamma: p.gamma });
    const bounds = [0, 1, 6, 7, 69, 70];
    for (let s = 0; s + 1 < bounds.length; ++s) {
      const [i0, i1] = [bounds[s], bounds[s + 1]];
      const [qs, ks, vs] = [q, k, v].map((t) => t.slice(null, null, [i0, i1]));
      const y = st.step(qs, ks, vs);
      const ref = full.slice(null, null, [i0, i1]).contiguous();
      expect(maxRelErr(y.data as Float64Array, ref.data as Float64Array)).toBeLessThan(TOL.f64);
      for (const t of [qs, ks, vs, y, ref]) t.dispose();
    }
    st.dispose();
    expect(errorOf(() => st.step(q, k, v)).code).toBe('NT_DISPOSED');
    for (const t of [q, k, v, full]) t.dispose();
    disposeMaps(m);
  });
});

describe('attention.hybridBackward', () => {
  it.each([
    [4, 2, 40, 8],
    [2, 1, 9, 1],
    [2, 2, 12, 100],
    [2, 1, 100, 16], // two chunks: the reverse pass carries R across chunks
    [2, 1, 1, 3],
  ])('hq %i, hkv %i, n %i, window %i: dq, dk, dv, dWq, dWk, dp match central differences', (Hq, Hkv, N, window) => {
    const p = setup('hedgehog', 1, Hq, Hkv, N, N, 3, 2, 3, window, 90 + N);
    const m = maps(p, 3, 3);
    const [q, k, v] = [p.q, p.k, p.v].map((a) => toTensor(a));
    const gArr = arr4([1, Hq, N, 2], 7);
    const g = toTensor(gArr);
    const pArr = Float64Array.from(p.gamma, (x) => nt.attention.logit(x));
    const loss = () => {
      const y = nt.attention.hybrid(q, k, v, { window, featureMap: m, gamma: Array.from(pArr, nt.attention.sigmoid) });
      const d = y.data as Float64Array;
      let s = 0;
      for (let i = 0; i < d.length; ++i) s += d[i] * gArr.data[i];
      y.dispose();
      return s;
    };
    const grads = nt.attention.hybridBackward(q, k, v, g, { window, featureMap: m, gamma: p.gamma });
    const check = (data: Float64Array, got: ArrayLike<number>) => {
      const step = Math.max(1, Math.floor(data.length / 19));
      for (let i = 0; i < data.length; i += step) {
        const fd = centralDiff(data, i, 1e-5, loss);
        expect(Math.abs(got[i] - fd)).toBeLessThan(TOL.grad * Math.max(1, Math.abs(fd)));
      }
    };
    check(q.data as Float64Array, grads.dq.data as Float64Array);
    check(k.data as Float64Array, grads.dk.data as Float64Array);
    check(v.data as Float64Array, grads.dv.data as Float64Array);
    const mm = m as { q: nt.attention.HedgehogMap; k: nt.attention.HedgehogMap };
    check(mm.q.weight.data as Float64Array, grads.dWeightQ!.data as Float64Array);
    check(mm.k.weight.data as Float64Array, grads.dWeightK!.data as Float64Array);
    check(pArr, grads.dp);
    for (const t of [q, k, v, g, grads.dq, grads.dk, grads.dv, grads.dWeightQ!, grads.dWeightK!]) t.dispose();
    disposeMaps(m);
  });
});

describe('attention.hybridBackward in f32', () => {
  it('the float path (all-f32 views) agrees with the float64 path', () => {
    const p = setup('hedgehog', 2, 4, 2, 130, 130, 8, 8, 6, 16, 123);
    const gArr = arr4([2, 4, 130, 8], 5);
    const run = (dtype: 'f32' | 'f64') => {
      const m = maps(p, 8, 6, dtype);
      const [q, k, v, g] = [p.q, p.k, p.v, gArr].map((a) => toTensor(a, dtype));
      const r = nt.attention.hybridBackward(q, k, v, g, { window: 16, featureMap: m, gamma: p.gamma });
      const out = [r.dq, r.dk, r.dv, r.dWeightQ!, r.dWeightK!].map((t) => Float64Array.from(t.data as ArrayLike<number>));
      for (const t of [q, k, v, g, r.dq, r.dk, r.dv, r.dWeightQ!, r.dWeightK!]) t.dispose();
      disposeMaps(m);
      return { out, dp: r.dp };
    };
    const a = run('f32');
    const b = run('f64');
    a.out.forEach((x, i) => expect(maxRelErr(x, b.out[i])).toBeLessThan(1e-4));
    expect(maxRelErr(a.dp, b.dp)).toBeLessThan(1e-4);
  });
});

describe('attention.hybrid errors', () => {
  it('rejects a bad window, gamma and scale with codes', () => {
    const q = nt.zeros([1, 2, 3, 4]);
    const kv = nt.zeros([1, 1, 3, 4]);
    const call = (opts: unknown) => errorOf(() => nt.attention.hybrid(q, kv, kv, opts as nt.attention.HybridOptions));
    expect(call({ window: 0, featureMap: 'relu', gamma: 0.1 })).toMatchObject({ code: 'NT_VALUE', message: expect.stringMatching(/^\[attention\.hybrid\] window must be an integer >= 1, got number 0/) });
    expect(call({ window: 2.5, featureMap: 'relu', gamma: 0.1 }).code).toBe('NT_VALUE');
    expect(call({ window: 2, featureMap: 'relu', gamma: [0.1] })).toMatchObject({ code: 'NT_VALUE', message: expect.stringMatching(/one value per query head \(2\), got 1/) });
    expect(call({ window: 2, featureMap: 'relu', gamma: [0.1, NaN] })).toMatchObject({ code: 'NT_VALUE', message: expect.stringMatching(/finite and >= 0/) });
    expect(call({ window: 2, featureMap: 'relu', gamma: 'x' }).code).toBe('NT_VALUE');
    expect(call({ window: 2, featureMap: 'relu', gamma: 0.1, scale: Infinity })).toMatchObject({ code: 'NT_VALUE', message: expect.stringMatching(/scale must be a finite number/) });
    expect(call(null).code).toBe('NT_VALUE');
    const g = nt.zeros([1, 2, 2, 4]);
    expect(errorOf(() => nt.attention.hybridBackward(q, kv, kv, g, { window: 2, featureMap: 'relu', gamma: 0.1 }))).toMatchObject({
      code: 'NT_SHAPE',
      message: expect.stringMatching(/grad must have the output's shape \[1,2,3,4\], got \[1,2,2,4\]/),
    });
    for (const t of [q, kv, g]) t.dispose();
  });
});
