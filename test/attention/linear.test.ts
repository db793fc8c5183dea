// nt.attention.linear / featureMap / LinearAttentionState against float64 references.
import * as nt from '../../lib';
import { errorOf } from '../helpers/reference';
import { MapKind, arr4, at, centralDiff, hedgehogWeights, maxRelErr, phiRow, reference, toTensor, weightTensor } from './linear-reference';

// Tolerances (max abs error / max(1, max |ref|)) per input dtype; finite differences are
// central with h = 1e-5 in f64: truncation O(h²·f''') ≈ 1e-10 plus rounding 1e-16/h ≈ 1e-11.
const TOL = { f64: 1e-10, f32: 2e-5, grad: 1e-6 };

type Shape4 = [number, number, number, number];

function problem(kind: MapKind, B: number, Hq: number, Hkv: number, Nq: number, Nk: number, D: number, Dv: number, f: number, seed: number) {
  // identity features can give a denominator near 0: keep its inputs positive
  const lo = kind === 'identity' ? 0.05 : -1;
  const q = arr4([B, Hq, Nq, D] as Shape4, seed, lo, 1);
  const k = arr4([B, Hkv, Nk, D] as Shape4, seed + 1, lo, 1);
  const v = arr4([B, Hkv, Nk, Dv] as Shape4, seed + 2);
  const wq = kind === 'hedgehog' ? hedgehogWeights(Hq, D, f, seed + 3) : undefined;
  const wk = kind === 'hedgehog' ? hedgehogWeights(Hq, D, f, seed + 4) : undefined;
  return { q, k, v, kind, wq, wk, window: 0, eps: 1e-6 };
}

function maps(kind: MapKind, wq?: Float64Array[], wk?: Float64Array[], D = 0, f = 0, dtype: 'f32' | 'f64' = 'f64'): nt.attention.FeatureMaps {
  if (kind !== 'hedgehog') return kind;
  return {
    q: { kind: 'hedgehog', weight: weightTensor(wq as Float64Array[], D, f, dtype) },
    k: { kind: 'hedgehog', weight: weightTensor(wk as Float64Array[], D, f, dtype) },
  };
}

function disposeMaps(m: nt.attention.FeatureMaps): void {
  if (typeof m === 'object' && 'q' in m) for (const s of [m.q, m.k]) if (typeof s === 'object') s.weight.dispose();
}

describe('attention.featureMap', () => {
  it.each(['identity', 'relu', 'elu+1', 'hedgehog'] as MapKind[])('%s matches the float64 definition row by row, repeating kv heads', (kind) => {
    const x = arr4([2, 2, 7, 5], 11, -2, 2);
    const w = hedgehogWeights(4, 5, 3, 5);
    const spec: nt.attention.FeatureMapSpec = kind === 'hedgehog' ? { kind, weight: weightTensor(w, 5, 3) } : kind;
    const xt = toTensor(x);
    const y = nt.attention.featureMap(xt, spec, { heads: 4 });
    const F = kind === 'hedgehog' ? 6 : 5;
    expect(y.shape).toEqual([2, 4, 7, F]);
    const got = y.data as Float64Array;
    for (let b = 0; b < 2; ++b)
      for (let h = 0; h < 4; ++h)
        for (let i = 0; i < 7; ++i) {
          const want = phiRow(kind, at(x, b, h >> 1, i), w[h]);
          const o = ((b * 4 + h) * 7 + i) * F;
          expect(maxRelErr(got.subarray(o, o + F), want)).toBeLessThan(TOL.f64);
        }
    for (const t of [xt, y]) t.dispose();
    if (typeof spec === 'object') spec.weight.dispose();
  });

  it('clamps hedgehog features at 1e-12 and passes no gradient through the clamp', () => {
    const x = nt.tensor(new Float64Array([50, -50]), { shape: [1, 1, 1, 2], dtype: 'f64' });
    const weight = nt.tensor(new Float64Array([1, 0, 0, 1]), { shape: [1, 2, 2], dtype: 'f64' });
    const y = nt.attention.featureMap(x, { kind: 'hedgehog', weight });
    expect(Math.min(...(y.data as Float64Array))).toBe(1e-12);
    const g = nt.tensor(new Float64Array([0, 1, 0, 0]), { shape: [1, 1, 1, 4], dtype: 'f64' });
    const { dx, dWeight } = nt.attention.featureMapBackward(x, { kind: 'hedgehog', weight }, g);
    // feature 1 = softmax(u)[1] = e^{-100}/(...) is clamped: its gradient is exactly 0
    expect(Array.from(dx.data as Float64Array)).toEqual([0, 0]);
    for (const t of [x, weight, y, g, dx, dWeight as nt.Tensor]) t.dispose();
  });

  it('backward matches central differences for x and the hedgehog weight', () => {
    const x = toTensor(arr4([1, 2, 3, 4], 3));
    const w = weightTensor(hedgehogWeights(4, 4, 3, 9), 4, 3);
    const gArr = arr4([1, 4, 3, 6], 4);
    const g = toTensor(gArr);
    const spec = { kind: 'hedgehog' as const, weight: w };
    const loss = () => {
      const y = nt.attention.featureMap(x, spec, { heads: 4 });
      let s = 0;
      const d = y.data as Float64Array;
      for (let i = 0; i < d.length; ++i) s += d[i] * gArr.data[i];
      y.dispose();
      return s;
    };
    const { dx, dWeight } = nt.attention.featureMapBackward(x, spec, g, { heads: 4 });
    for (let i = 0; i < x.size; i += 3) expect(Math.abs((dx.data as Float64Array)[i] - centralDiff(x.data as Float64Array, i, 1e-5, loss))).toBeLessThan(TOL.grad);
    for (let i = 0; i < w.size; i += 5)
      expect(Math.abs((dWeight!.data as Float64Array)[i] - centralDiff(w.data as Float64Array, i, 1e-5, loss))).toBeLessThan(TOL.grad);
    for (const t of [x, w, g, dx, dWeight!]) t.dispose();
  });
});

describe('attention.featureMap errors', () => {
  it('rejects unknown maps, bad heads, a wrong weight and a grad of the wrong shape with codes', () => {
    const x = nt.zeros([1, 2, 3, 4]);
    const w = nt.zeros([2, 4, 5]);
    const hh = { kind: 'hedgehog' as const, weight: w };
    expect(errorOf(() => nt.attention.featureMap(x, 'tanh' as never))).toMatchObject({ code: 'NT_VALUE', message: expect.stringMatching(/^\[attention\.featureMap\] map must be 'identity', 'relu', 'elu\+1' or/) });
    expect(errorOf(() => nt.attention.featureMap(x, 'relu', { heads: 3 }))).toMatchObject({ code: 'NT_VALUE', message: expect.stringMatching(/heads must be a positive multiple of x's 2 heads, got number 3/) });
    expect(errorOf(() => nt.attention.featureMap(x, hh, { heads: 4 }))).toMatchObject({ code: 'NT_SHAPE', message: expect.stringMatching(/map.weight must have shape \[4, 4, f >= 1\], got \[2,4,5\]/) });
    expect(errorOf(() => nt.attention.featureMap(x.reshape([2, 3, 4]), 'relu'))).toMatchObject({ code: 'NT_SHAPE', message: expect.stringMatching(/x must be 4-D/) });
    const g = nt.zeros([1, 2, 3, 9]);
    expect(errorOf(() => nt.attention.featureMapBackward(x, hh, g))).toMatchObject({ code: 'NT_SHAPE', message: expect.stringMatching(/grad must have shape \[1,2,3,10\], got \[1,2,3,9\]/) });
    expect(errorOf(() => nt.attention.hedgehogInit(0, 4))).toMatchObject({ code: 'NT_VALUE', message: expect.stringMatching(/heads must be a positive integer/) });
    for (const t of [x, w, g]) t.dispose();
  });

  it('hedgehogInit tiles identities: W[h, i, c] = 1 when c mod dim = i', () => {
    const w = nt.attention.hedgehogInit(2, 3, 7);
    expect(w.get(1, 2, 5)).toBe(1);
    expect(w.get(1, 2, 4)).toBe(0);
    expect(w.get(0, 0, 6)).toBe(1);
    expect((w.data as Float32Array).reduce((a, b) => a + b, 0)).toBe(2 * 7);
    w.dispose();
  });
});

describe('attention.linear forward', () => {
  const cases: [MapKind, number, number, number, number, number][] = [
    // kind, Hq, Hkv, Nq, Nk, f
    ['identity', 2, 2, 7, 7, 0],
    ['relu', 4, 2, 33, 33, 0],
    ['elu+1', 3, 1, 129, 129, 0],
    ['hedgehog', 4, 2, 150, 150, 6],
    ['hedgehog', 2, 1, 1, 1, 5],
    ['elu+1', 2, 2, 70, 135, 0], // fewer queries than keys: bottom-right alignment, a prefix state
    ['hedgehog', 2, 1, 0, 9, 4], // no queries
  ];
  it.each(cases)('%s, hq %i, hkv %i, sq %i, sk %i matches the O(n²) float64 sums', (kind, Hq, Hkv, Nq, Nk, f) => {
    const p = problem(kind, 2, Hq, Hkv, Nq, Nk, 5, 3, f, Nq * 7 + Hq);
    const want = reference(p);
    for (const dtype of ['f64', 'f32'] as const) {
      const m = maps(kind, p.wq, p.wk, 5, f, dtype);
      const [q, k, v] = [p.q, p.k, p.v].map((a) => toTensor(a, dtype));
      const y = nt.attention.linear(q, k, v, { featureMap: m, eps: 1e-6 });
      expect(y.shape).toEqual([2, Hq, Nq, 3]);
      expect(y.dtype).toBe(dtype);
      expect(maxRelErr(y.data as ArrayLike<number>, want)).toBeLessThan(TOL[dtype]);
      for (const t of [q, k, v, y]) t.dispose();
      disposeMaps(m);
    }
  });

  it('reads strided views (transposed [b, seq, heads, d] layouts) and f16 inputs', () => {
    const p = problem('elu+1', 1, 2, 2, 40, 40, 6, 4, 0, 5);
    const want = reference(p);
    const laid = (a: ReturnType<typeof arr4>) => {
      const t = toTensor(a, 'f32');
      const s = t.transpose(0, 2, 1, 3).contiguous(); // [b, n, h, d] storage
      t.dispose();
      return s;
    };
    const [qs, ks, vs] = [p.q, p.k, p.v].map(laid);
    const [q, k, v] = [qs, ks, vs].map((t) => t.transpose(0, 2, 1, 3));
    const y = nt.attention.linear(q, k, v, { featureMap: 'elu+1' });
    expect(maxRelErr(y.data as Float32Array, want)).toBeLessThan(TOL.f32);
    const [qh, kh, vh] = [q, k, v].map((t) => t.astype('f16'));
    const yh = nt.attention.linear(qh, kh, vh, { featureMap: 'elu+1' });
    expect(yh.dtype).toBe('f32');
    expect(maxRelErr(yh.data as Float32Array, want)).toBeLessThan(5e-3);
    for (const t of [qs, ks, vs, y, qh, kh, vh, yh]) t.dispose();
  });

  it('async twin gives the same result and memory returns to the baseline', async () => {
    const before = nt.memory();
    const p = problem('relu', 1, 2, 1, 65, 65, 4, 4, 0, 21);
    const [q, k, v] = [p.q, p.k, p.v].map((a) => toTensor(a));
    const a = nt.attention.linear(q, k, v, { featureMap: 'relu' });
    const b = await nt.attention.linearAsync(q, k, v, { featureMap: 'relu' });
    expect(Array.from(b.data as Float64Array)).toEqual(Array.from(a.data as Float64Array));
    for (const t of [q, k, v, a, b]) t.dispose();
    expect(nt.memory().tensors).toBe(before.tensors);
  });
});

describe('attention.LinearAttentionState (recurrent decode)', () => {
  it.each([
    ['hedgehog', 4, 2],
    ['elu+1', 2, 2],
  ] as [MapKind, number, number][])('%s: token-by-token and multi-token steps equal the chunked prefill', (kind, Hq, Hkv) => {
    const N = 77;
    const p = problem(kind, 2, Hq, Hkv, N, N, 4, 3, 5, 31);
    const m = maps(kind, p.wq, p.wk, 4, 5);
    const [q, k, v] = [p.q, p.k, p.v].map((a) => toTensor(a));
    const full = nt.attention.linear(q, k, v, { featureMap: m });
    const st = new nt.attention.LinearAttentionState({ featureMap: m });
    const bounds = [0, 1, 2, 40, 41, 77]; // steps of 1, 1, 38, 1, 36 tokens
    for (let s = 0; s + 1 < bounds.length; ++s) {
      const [i0, i1] = [bounds[s], bounds[s + 1]];
      const [qs, ks, vs] = [q, k, v].map((t) => t.slice(null, null, [i0, i1]));
      const y = st.step(qs, ks, vs);
      const ref = full.slice(null, null, [i0, i1]).contiguous();
      expect(maxRelErr(y.data as Float64Array, ref.data as Float64Array)).toBeLessThan(TOL.f64);
      for (const t of [qs, ks, vs, y, ref]) t.dispose();
    }
    expect(st.length).toBe(N);
    st.dispose();
    for (const t of [q, k, v, full]) t.dispose();
    disposeMaps(m);
  });
});

describe('attention.linearBackward', () => {
  it.each([
    ['hedgehog', 4, 2, 70],
    ['elu+1', 2, 1, 9],
    ['relu', 2, 2, 1],
  ] as [MapKind, number, number, number][])('%s (hq %i, hkv %i, n %i): dq, dk, dv, dW match central differences', (kind, Hq, Hkv, N) => {
    const p = problem(kind, 1, Hq, Hkv, N, N, 3, 2, 3, 41 + N);
    const m = maps(kind, p.wq, p.wk, 3, 3);
    const [q, k, v] = [p.q, p.k, p.v].map((a) => toTensor(a));
    const gArr = arr4([1, Hq, N, 2], 77);
    const g = toTensor(gArr);
    const loss = () => {
      const y = nt.attention.linear(q, k, v, { featureMap: m });
      const d = y.data as Float64Array;
      let s = 0;
      for (let i = 0; i < d.length; ++i) s += d[i] * gArr.data[i];
      y.dispose();
      return s;
    };
    const grads = nt.attention.linearBackward(q, k, v, g, { featureMap: m });
    const check = (t: nt.Tensor, dt: nt.Tensor) => {
      const step = Math.max(1, Math.floor(t.size / 23));
      for (let i = 0; i < t.size; i += step) {
        const fd = centralDiff(t.data as Float64Array, i, 1e-5, loss);
        expect(Math.abs((dt.data as Float64Array)[i] - fd)).toBeLessThan(TOL.grad * Math.max(1, Math.abs(fd)));
      }
    };
    check(q, grads.dq);
    check(k, grads.dk);
    check(v, grads.dv);
    if (typeof m === 'object' && 'q' in m && typeof m.q === 'object' && typeof m.k === 'object') {
      check(m.q.weight, grads.dWeightQ!);
      check(m.k.weight, grads.dWeightK!);
    } else {
      expect(grads.dWeightQ).toBeNull();
    }
    for (const t of [q, k, v, g, grads.dq, grads.dk, grads.dv, grads.dWeightQ, grads.dWeightK]) t?.dispose();
    disposeMaps(m);
  });
});

describe('attention.linear errors', () => {
  const t = (shape: number[], dtype: 'f32' | 'i32' = 'f32') => nt.zeros(shape, dtype);
  it.each([
    ['q not 4-D', () => [t([2, 3]), t([1, 1, 2, 2]), t([1, 1, 2, 2])], 'NT_SHAPE', /q must be 4-D/],
    ['kv heads not dividing', () => [t([1, 3, 2, 2]), t([1, 2, 2, 2]), t([1, 2, 2, 2])], 'NT_SHAPE', /kv heads \(2\) must divide query heads \(3\)/],
    ['more queries than keys', () => [t([1, 1, 3, 2]), t([1, 1, 2, 2]), t([1, 1, 2, 2])], 'NT_SHAPE', /queries \(3\) must not outnumber keys \(2\)/],
    ['integer dtype', () => [t([1, 1, 2, 2], 'i32'), t([1, 1, 2, 2]), t([1, 1, 2, 2])], 'NT_DTYPE', /q must be f32, f64, f16 or bf16/],
    ['v length differs', () => [t([1, 1, 2, 2]), t([1, 1, 2, 2]), t([1, 1, 3, 2])], 'NT_SHAPE', /v must have k's heads and length/],
  ] as [string, () => nt.Tensor[], string, RegExp][])('%s', (_name, make, code, re) => {
    const [q, k, v] = make();
    const e = errorOf(() => nt.attention.linear(q, k, v, { featureMap: 'relu' }));
    expect(e.code).toBe(code);
    expect(e.message).toMatch(re);
    expect(e.message).toMatch(/^\[attention\.linear\]/);
    for (const x of [q, k, v]) x.dispose();
  });

  it('rejects bad feature maps, eps, a disposed tensor and a wrong hedgehog weight', () => {
    const q = t([1, 2, 3, 4]);
    const bad = (opts: unknown) => errorOf(() => nt.attention.linear(q, q.slice(null, [0, 1]), q.slice(null, [0, 1]), opts as nt.attention.LinearOptions));
    expect(bad({ featureMap: 'softplus' })).toMatchObject({ code: 'NT_VALUE' });
    expect(bad({})).toMatchObject({ code: 'NT_VALUE', message: expect.stringMatching(/featureMap is required/) });
    expect(bad({ featureMap: 'relu', eps: -1 })).toMatchObject({ code: 'NT_VALUE', message: expect.stringMatching(/eps must be/) });
    const w = t([1, 4, 8]);
    expect(bad({ featureMap: { kind: 'hedgehog', weight: w } })).toMatchObject({
      code: 'NT_SHAPE',
      message: expect.stringMatching(/featureMap.q.weight must have shape \[2, 4, f >= 1\], got \[1,4,8\]/),
    });
    w.dispose();
    const d = t([1, 2, 3, 4]);
    d.dispose();
    expect(errorOf(() => nt.attention.linear(d, q, q, { featureMap: 'relu' })).code).toBe('NT_DISPOSED');
    q.dispose();
  });

  it('native entry points re-validate (direct calls never crash)', () => {
    const native = require('../../lib/native/loader').native;
    const a = t([1, 1, 2, 2]);
    const out = t([1, 1, 3, 2]);
    const e = errorOf(() => native.linearAttention(null, null, null, a._storage, a._metaArray, a._storage, a._metaArray, a._storage, a._metaArray, null, null, out._storage, out._metaArray, 0, 0, 1));
    expect(e.code).toBeDefined();
    const e2 = errorOf(() => native.linearAttention(null, null, null, null, a._storage, a._metaArray, a._storage, a._metaArray, a._storage, a._metaArray, null, null, out._storage, out._metaArray, 0, 0, 1));
    expect(e2).toMatchObject({ code: 'NT_SHAPE', message: expect.stringMatching(/^\[attention\.linear\] out must have shape \[1, 1, 2, 2\]/) });
    const e3 = errorOf(() => native.linearAttention(null, null, null, null, a._storage, a._metaArray, a._storage, a._metaArray, a._storage, a._metaArray, null, null, a._storage, a._metaArray, 2, 0, 1));
    expect(e3).toMatchObject({ code: 'NT_VALUE', message: expect.stringMatching(/window > 0 needs q, k and gamma/) });
    a.dispose();
    out.dispose();
  });
});
