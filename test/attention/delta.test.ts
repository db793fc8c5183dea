// nt.attention.delta against a float64 implementation of the same definition (ALGORITHMS.md §4):
// outputs and multiply-add counts, threshold 0 == dense, sparsity growing with the threshold,
// decode step by step == prefill, GQA, odd sizes, strided/f16 inputs, 1 vs 2 threads, errors.
import * as nt from '../../lib';
import { errorOf } from '../helpers/reference';
import { attentionRef, flat, maxRelErr, rnd } from './softmax-reference';

const TOL = 5e-5;

/** Float64 delta attention (fresh state, queries at sk - sq + i); returns out and the MAC counts. */
function deltaRef(q: nt.Tensor, k: nt.Tensor, v: nt.Tensor, window: number, theta: number) {
  const [b, hq, sq, d] = q.shape;
  const [, hkv, sk] = k.shape;
  const dv = v.shape[3];
  const Q = flat(q), K = flat(k), V = flat(v);
  const g = hq / hkv;
  const scale = 1 / Math.sqrt(d);
  const out = new Float64Array(b * hq * sq * dv);
  let done = 0;
  let dense = 0;
  const dot = (a: Float64Array | number[], ao: number, bo: number): number => {
    let t = 0;
    for (let c = 0; c < d; ++c) t += a[ao + c] * K[bo + c];
    return t;
  };
  for (let bi = 0; bi < b; ++bi)
    for (let h = 0; h < hq; ++h) {
      const kh = Math.floor(h / g);
      const kb = (bi * hkv + kh) * sk * d;
      const qhat = new Float64Array(d);
      const s = new Float64Array(sk);
      for (let i = 0; i < sq; ++i) {
        const p = sk - sq + i;
        const qo = ((bi * hq + h) * sq + i) * d;
        const nold = i === 0 ? 0 : Math.max(0, p - window);
        const nout = Math.max(0, p - window + 1);
        const idx: number[] = [];
        const dl: number[] = [];
        for (let c = 0; c < d; ++c) {
          const delta = Q[qo + c] - qhat[c];
          if (Math.abs(delta) > theta) {
            idx.push(c);
            dl.push(delta);
            qhat[c] = Q[qo + c];
          }
        }
        for (let j = 0; j < nold; ++j) for (let t = 0; t < idx.length; ++t) s[j] += dl[t] * K[kb + j * d + idx[t]];
        for (let j = nold; j < nout; ++j) s[j] = dot(qhat, 0, kb + j * d);
        done += idx.length * nold + d * (nout - nold);
        dense += d * nout;
        const row = new Float64Array(p + 1);
        for (let j = 0; j <= p; ++j) row[j] = (j < nout ? s[j] : dot(Q, qo, kb + j * d)) * scale;
        const mx = Math.max(...row);
        let l = 0;
        for (let j = 0; j <= p; ++j) l += row[j] = Math.exp(row[j] - mx);
        const o = ((bi * hq + h) * sq + i) * dv;
        for (let j = 0; j <= p; ++j) for (let c = 0; c < dv; ++c) out[o + c] += (row[j] / l) * V[((bi * hkv + kh) * sk + j) * dv + c];
      }
    }
  return { out, done, dense };
}

/** Queries that drift slowly (as real activations do), so thresholds give real sparsity. */
function driftingQueries(shape: number[], step: number, seed: number): nt.Tensor {
  const [b, h, s, d] = shape;
  const base = flat(rnd([b, h, 1, d], 1, seed));
  const noise = flat(rnd([b, h, s, d], step, seed + 1));
  const out = new Float32Array(b * h * s * d);
  for (let bh = 0; bh < b * h; ++bh)
    for (let c = 0; c < d; ++c) {
      let x = base[bh * d + c];
      for (let i = 0; i < s; ++i) {
        x += noise[(bh * s + i) * d + c];
        out[(bh * s + i) * d + c] = x;
      }
    }
  return nt.tensor(out, { shape });
}

describe('attention.delta', () => {
  it.each([
    [1, 1, 1, 1, 1, 1, 1, 0.1],
    [2, 8, 2, 7, 7, 3, 2, 0.05],
    [1, 4, 4, 33, 33, 64, 8, 0.02],
    [2, 6, 3, 129, 129, 80, 64, 0.02],
    [1, 4, 2, 20, 150, 16, 16, 0.03],
  ])('b %i hq %i hkv %i sq %i sk %i d %i window %i theta %f matches the float64 definition', (b, hq, hkv, sq, sk, d, w, theta) => {
    const q = driftingQueries([b, hq, sq, d], 0.05, sq + d);
    const k = rnd([b, hkv, sk, d]);
    const v = rnd([b, hkv, sk, d]);
    const r = nt.attention.delta(q, k, v, { window: w, threshold: theta });
    const ref = deltaRef(q, k, v, w, theta);
    expect(maxRelErr(flat(r.out), ref.out)).toBeLessThan(TOL);
    expect(r.done).toBe(ref.done);
    expect(r.dense).toBe(ref.dense);
    expect(r.sparsity).toBeCloseTo(ref.dense > 0 ? 1 - ref.done / ref.dense : 0, 12);
    for (const t of [q, k, v, r.out]) t.dispose();
  });

  it('threshold 0 equals dense causal attention to rounding (sparsity 0 on random queries)', () => {
    const q = rnd([1, 4, 129, 32]);
    const k = rnd([1, 2, 129, 32]);
    const v = rnd([1, 2, 129, 32]);
    const r = nt.attention.delta(q, k, v, { threshold: 0 });
    expect(maxRelErr(flat(r.out), attentionRef(q, k, v))).toBeLessThan(TOL);
    expect(r.sparsity).toBe(0);
    const w1 = nt.attention.delta(q, k, v, { window: 1, threshold: 0 });
    expect(maxRelErr(flat(w1.out), attentionRef(q, k, v))).toBeLessThan(TOL);
  });

  it('sparsity grows with the threshold; the output error versus dense is measured', () => {
    const q = driftingQueries([1, 4, 300, 64], 0.03, 7);
    const k = rnd([1, 2, 300, 64]);
    const v = rnd([1, 2, 300, 64]);
    const ref = attentionRef(q, k, v);
    let prevSparsity = -1;
    const rows: string[] = [];
    for (const theta of [0, 0.01, 0.03, 0.1, 0.3]) {
      const r = nt.attention.delta(q, k, v, { window: 32, threshold: theta });
      const err = maxRelErr(flat(r.out), ref);
      rows.push(`theta ${theta}: sparsity ${r.sparsity.toFixed(3)}, max rel err ${err.toExponential(2)}`);
      expect(r.sparsity).toBeGreaterThan(prevSparsity);
      expect(Number.isFinite(err)).toBe(true);
      if (theta === 0) expect(err).toBeLessThan(TOL);
      prevSparsity = r.sparsity;
    }
    expect(prevSparsity).toBeGreaterThan(0.5);
    expect(rows).toHaveLength(5);
  });

  it('decode step by step (and in uneven chunks) equals prefill over the same tokens', async () => {
    const sk = 90;
    const q = driftingQueries([1, 4, sk, 16], 0.05, 3);
    const k = rnd([1, 2, sk, 16]);
    const v = rnd([1, 2, sk, 16]);
    const opts = { window: 8, threshold: 0.04 };
    const pre = nt.attention.delta(q, k, v, opts);
    // a cache buffer larger than the sequence, sliced to its current length
    const state = new nt.attention.DeltaState();
    const rowsOut: number[] = [];
    let done = 0;
    let dense = 0;
    const cuts = [0, 30, 31, 32, 50, 51, 52, 53, 89, 90];
    for (let c = 0; c + 1 < cuts.length; ++c) {
      const [a, z] = [cuts[c], cuts[c + 1]];
      const qs = q.slice(null, null, [a, z]);
      const ks = k.slice(null, null, [0, z]);
      const vs = v.slice(null, null, [0, z]);
      const r = c % 2 ? await nt.attention.deltaAsync(qs, ks, vs, { ...opts, state }) : nt.attention.delta(qs, ks, vs, { ...opts, state });
      rowsOut.push(...flat(r.out.transpose(0, 2, 1, 3)));
      done += r.done;
      dense += r.dense;
    }
    expect(state.position).toBe(sk);
    expect(done).toBe(pre.done);
    expect(dense).toBe(pre.dense);
    expect(state.sparsity).toBeCloseTo(pre.sparsity, 12);
    expect(rowsOut).toEqual(Array.from(flat(pre.out.transpose(0, 2, 1, 3))));
    // the state refuses to skip or repeat positions, other shapes and other parameters
    const e1 = errorOf(() => nt.attention.delta(q.slice(null, null, [0, 1]), k, v, { ...opts, state }));
    expect(e1.code).toBe('NT_VALUE');
    expect(e1.message).toMatch(/state continues at position 90, the queries start at 89/);
    expect(errorOf(() => nt.attention.delta(q, k, v, { window: 9, threshold: 0.04, state })).message).toMatch(/state was started with window 8/);
    state.dispose();
    expect(errorOf(() => nt.attention.delta(q, k, v, { ...opts, state })).code).toBe('NT_DISPOSED');
  });

  it('takes strided and f16 inputs and gives the same result on 1 and 2 threads', () => {
    const qs = driftingQueries([1, 6, 70, 24], 0.05, 9);
    const q = qs.transpose(0, 2, 1, 3).contiguous().transpose(0, 2, 1, 3).astype('f16');
    const k = rnd([1, 70, 3, 24]).transpose(0, 2, 1, 3);
    const v = rnd([1, 3, 70, 24]);
    const ref = deltaRef(q, k, v, 16, 0.02);
    const prev = nt.getNumThreads();
    try {
      nt.setNumThreads(1);
      const a = nt.attention.delta(q, k, v, { window: 16, threshold: 0.02 });
      nt.setNumThreads(2);
      const b = nt.attention.delta(q, k, v, { window: 16, threshold: 0.02 });
      expect(Array.from(flat(b.out))).toEqual(Array.from(flat(a.out)));
      expect(maxRelErr(flat(a.out), ref.out)).toBeLessThan(TOL);
      expect(a.done).toBe(ref.done);
    } finally {
      nt.setNumThreads(prev);
    }
  });

  it('frees its temporary state and rejects bad arguments with codes', () => {
    const q = rnd([1, 2, 6, 4]);
    const [k5, v5, k4h, v4h, k3] = [rnd([1, 2, 5, 4]), rnd([1, 2, 5, 4]), rnd([1, 4, 6, 4]), rnd([1, 4, 6, 4]), rnd([1, 2, 6, 3])];
    const before = nt.memory();
    nt.attention.delta(q, q, q, { threshold: 0.1 }).out.dispose();
    expect(nt.memory()).toEqual(before);
    const cases: [() => unknown, string, RegExp][] = [
      [() => nt.attention.delta(q, q, q, {} as { threshold: number }), 'NT_VALUE', /threshold must be a finite number >= 0/],
      [() => nt.attention.delta(q, q, q, { threshold: -1 }), 'NT_VALUE', /threshold must be/],
      [() => nt.attention.delta(q, q, q, { threshold: NaN }), 'NT_VALUE', /threshold must be/],
      [() => nt.attention.delta(q, q, q, { threshold: 0, window: 0 }), 'NT_VALUE', /window must be an integer >= 1/],
      [() => nt.attention.delta(q, q, q, { threshold: 0, state: {} as nt.attention.DeltaState }), 'NT_VALUE', /state must be a DeltaState/],
      [() => nt.attention.delta(q, k5, v5, { threshold: 0 }), 'NT_SHAPE', /at least as many keys/],
      [() => nt.attention.delta(q, k4h, v4h, { threshold: 0 }), 'NT_SHAPE', /must divide/],
      [() => nt.attention.delta(q, k3, q, { threshold: 0 }), 'NT_SHAPE', /head dim/],
    ];
    for (const [fn, code, re] of cases) {
      const e = errorOf(fn);
      expect(e.code).toBe(code);
      expect(e.message).toMatch(re);
      expect(e.message).toMatch(/^\[attention\.delta\]/);
    }
    expect(nt.memory()).toEqual(before); // failed calls leave nothing behind
  });
});
