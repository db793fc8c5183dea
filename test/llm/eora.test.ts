// EoRA and its baselines (ALGORITHMS.md §1): the invariants that define them, on seeded data
// whose input columns have very different energies (where EoRA and plain SVD disagree).
import * as nt from '../../lib';
import { activationError, activationErrorAsync, activationErrors, activationErrorsAsync, compensate, compensateAsync, covarianceEigen, covarianceEigenAsync, eora, weightError } from '../../lib/llm/eora';
import type { Tensor } from '../../lib';

const TOL = {
  /** relative slack when comparing two optimal errors computed by different float32 paths */
  ordering: 1e-5,
  /** EoRA error vs its closed form √(Σ_{i>r} σ_i²(ΔW Q')) */
  closedForm: 1e-4,
  /** randomized vs exact SVD on a fast-decaying spectrum */
  randomized: 1e-3,
  /** activationError (f64 throughout) vs the same norm summed from X in f64, relative */
  activation: 1e-10,
  /** activationErrors' subtracting expansion of the compensated error, relative to the compressed error (√ε_f64 when BA cancels E) */
  expansion: 1e-7,
};

interface Layer {
  W: Tensor;
  Wc: Tensor;
  X: Tensor;
  cov: Tensor;
  meanAbs: Tensor;
  dispose(): void;
}

/** W, a perturbed Wc, calibration X [n, d_in] with column scales spanning 2 decades (energies 4). */
function layer(dOut: number, dIn: number, n: number, seed: number): Layer {
  const W = nt.randn([dOut, dIn], { seed });
  const noise = nt.randn([dOut, dIn], { seed: seed + 1 });
  const Wc = nt.add(W, nt.mul(noise, 0.05));
  noise.dispose();
  const scales = nt.tensor(Float32Array.from({ length: dIn }, (_, j) => 10 ** (-1 + (2 * ((j * 7919) % dIn)) / dIn)), { shape: [1, dIn] });
  const raw = nt.randn([n, dIn], { seed: seed + 2 });
  const X = nt.mul(raw, scales);
  raw.dispose();
  scales.dispose();
  const X64 = X.astype('f64');
  const cov = nt.div(nt.matmul(X64, X64, { transA: true }), n);
  X64.dispose();
  const absX = X.astype('f64');
  const a = absX.data as Float64Array;
  const mean = new Float64Array(dIn);
  for (let t = 0; t < n; ++t) for (let j = 0; j < dIn; ++j) mean[j] += Math.abs(a[t * dIn + j]) / n;
  absX.dispose();
  const meanAbs = nt.tensor(Float32Array.from(mean));
  return { W, Wc, X, cov, meanAbs, dispose: () => [W, Wc, X, cov, meanAbs].forEach((t) => t.dispose()) };
}

/** Singular values (descending, f64) of a matrix, via the library's f64 SVD. */
function singularValues(m: Tensor): Float64Array {
  const s = nt.linalg.svd(m.astype('f64'), { computeUV: false }).S;
  const out = Float64Array.from(s.data as Float64Array);
  s.dispose();
  return out;
}

describe('llm.eora', () => {
  test.each([
    [24, 40, 200, 11],
    [33, 17, 129, 12],
    [7, 64, 30, 13], // fewer tokens than inputs: a rank-deficient covariance
  ])('EoRA beats svd and act-s in the activation norm at every rank (W %i×%i, %i tokens)', (dOut, dIn, n, seed) => {
    const L = layer(dOut, dIn, n, seed);
    const base = activationError(L.W, L.Wc, L.cov);
    for (const rank of [1, 2, 5, Math.min(dOut, dIn)]) {
      const e = eora(L.W, L.Wc, L.cov, { rank });
      const s = compensate(L.W, L.Wc, { method: 'svd', rank });
      const a = compensate(L.W, L.Wc, { method: 'act-s', rank, meanAbs: L.meanAbs });
      const errE = activationError(L.W, L.Wc, L.cov, e);
      const errS = activationError(L.W, L.Wc, L.cov, s);
      const errA = activationError(L.W, L.Wc, L.cov, a);
      // at full rank both are float32 rounding away from 0: compare with slack relative to the start
      expect(errE).toBeLessThanOrEqual(errS * (1 + TOL.ordering) + TOL.ordering * base);
      expect(errE).toBeLessThanOrEqual(errA * (1 + TOL.ordering) + TOL.ordering * base);
      expect(errE).toBeLessThan(base);
      // and in the plain Frobenius norm the SVD is the optimum
      expect(weightError(L.W, L.Wc, s)).toBeLessThanOrEqual(weightError(L.W, L.Wc, e) * (1 + TOL.ordering) + TOL.ordering * weightError(L.W, L.Wc));
      for (const c of [e, s, a]) {
        expect(c.A.shape).toEqual([rank, dIn]);
        expect(c.B.shape).toEqual([dOut, rank]);
        c.dispose();
      }
    }
    L.dispose();
  });

  test('the EoRA error equals the closed form √(Σ_{i>r} σ_i²) of ΔW·Q·diag(√λ)', () => {
    const L = layer(20, 30, 300, 21);
    const dW = nt.sub(L.W.astype('f64'), L.Wc.astype('f64'));
    const { values, vectors } = nt.linalg.eigh(L.cov);
    const root = nt.sqrt(values).reshape([1, 30]);
    const scaled = nt.mul(vectors, root);
    const sigma = singularValues(nt.matmul(dW, scaled));
    for (const rank of [1, 3, 10]) {
      const expected = Math.sqrt(sigma.slice(rank).reduce((acc, v) => acc + v * v, 0));
      const c = eora(L.W, L.Wc, L.cov, { rank });
      expect(Math.abs(activationError(L.W, L.Wc, L.cov, c) - expected)).toBeLessThanOrEqual(TOL.closedForm * sigma[0]);
      // the kept singular values are the top-r of ΔW Q'
      for (let i = 0; i < rank; ++i) expect(Math.abs(c.singularValues[i] - sigma[i])).toBeLessThanOrEqual(TOL.closedForm * sigma[0]);
      c.dispose();
    }
    [dW, values, vectors, root, scaled].forEach((t) => t.dispose());
    L.dispose();
  });

  test('directions without activation energy are dropped: A is orthogonal to the null space of C', () => {
    // inputs only ever span the first 6 of 16 coordinates
    const dIn = 16;
    const W = nt.randn([10, dIn], { seed: 31 });
    const Wc = nt.add(W, nt.mul(nt.randn([10, dIn], { seed: 32 }), 0.1));
    const X = nt.zeros([100, dIn], 'f64');
    const xs = X.data as Float64Array;
    const g = nt.randn([100, 6], { seed: 33, dtype: 'f64' }).data as Float64Array;
    for (let t = 0; t < 100; ++t) for (let j = 0; j < 6; ++j) xs[t * dIn + j] = g[t * 6 + j];
    const cov = nt.div(nt.matmul(X, X, { transA: true }), 100);
    const c = eora(W, Wc, cov, { rank: 4 });
    expect(c.droppedDirections).toBe(dIn - 6);
    const A = c.A.astype('f64').data as Float64Array;
    for (let i = 0; i < 4; ++i) for (let j = 6; j < dIn; ++j) expect(Math.abs(A[i * dIn + j])).toBeLessThan(1e-5);
    expect([...(c.B.data as Float32Array)].every(Number.isFinite)).toBe(true);
    c.dispose();
  });

  test('outlier channels (λ_max / median λ = 1e6): nothing is dropped at τ = 1e-8 and the error keeps falling with rank', () => {
    // ALGORITHMS.md §1 step 3: 4 of 256 input channels carry λ = 1e6, the rest 0.1..10; an int4
    // g64 Wc. The old cutoff (d_in·ε_f32 relative, emulated by eigenFloor 3.05e-5) dropped
    // every ordinary channel and the error stalled at what they hold.
    const dIn = 256;
    const dOut = 96;
    const lambda = new Float64Array(dIn);
    for (let j = 0; j < dIn; ++j) lambda[j] = j % 64 === 5 ? 1e6 : 0.1 + (9.9 * ((j * 37) % dIn)) / dIn;
    const cov = nt.zeros([dIn, dIn], 'f64');
    const c = cov.data as Float64Array;
    for (let j = 0; j < dIn; ++j) c[j * dIn + j] = lambda[j];
    const W = nt.randn([dOut, dIn], { seed: 71 });
    const q = nt.quant.quantize(W, { bits: 4, groupSize: 64 });
    const Wc = nt.quant.dequantize(q);
    q.dispose();
    const err = (r: number, method: 'eora' | 'svd', eigenFloor?: number) => {
      const comp = compensate(W, Wc, { method, rank: r, covariance: cov, eigenFloor });
      const e = activationError(W, Wc, cov, comp);
      const out = { e, dropped: comp.droppedDirections, energy: comp.droppedEnergy };
      comp.dispose();
      return out;
    };
    const e16 = err(16, 'eora');
    const e64 = err(64, 'eora');
    expect(e16.dropped).toBe(0);
    expect(e16.energy).toBe(0);
    expect(e64.e).toBeLessThan(0.8 * e16.e); // keeps falling
    for (const r of [16, 64]) expect(err(r, 'eora').e).toBeLessThanOrEqual(err(r, 'svd').e * (1 + TOL.ordering));
    // the old cutoff: 252 directions and their share of Σλ dropped, reported; the error stalls
    const old16 = err(16, 'eora', 256 * 1.19e-7);
    const old64 = err(64, 'eora', 256 * 1.19e-7);
    expect(old16.dropped).toBe(252);
    let small = 0;
    let total = 0;
    for (const l of lambda) {
      total += l;
      if (l < 1e6) small += l;
    }
    expect(old16.energy).toBeCloseTo(small / total, 9);
    expect(old64.e).toBeGreaterThan(0.95 * old16.e);
    expect(old64.e).toBeGreaterThan(e64.e);
    expect(() => compensate(W, Wc, { method: 'eora', rank: 4, covariance: cov, eigenFloor: 1 })).toThrow(expect.objectContaining({ code: 'NT_VALUE', message: expect.stringMatching(/eigenFloor must be a number in \[0, 1\)/) }));
    [cov, W, Wc].forEach((t) => t.dispose());
  });

  test('randomized SVD gives the exact answer on a fast-decaying error', () => {
    const L = layer(40, 50, 400, 41);
    // a low-rank ΔW: Wc = W − u vᵀ-like structure of rank 3 plus tiny noise
    const lowRank = nt.matmul(nt.randn([40, 3], { seed: 42 }), nt.randn([3, 50], { seed: 43 }));
    const Wc = nt.sub(L.W, lowRank);
    const exact = eora(L.W, Wc, L.cov, { rank: 3, svd: 'exact' });
    const fast = eora(L.W, Wc, L.cov, { rank: 3, svd: 'randomized', seed: 7 });
    const ee = activationError(L.W, Wc, L.cov, exact);
    const ef = activationError(L.W, Wc, L.cov, fast);
    const base = activationError(L.W, Wc, L.cov);
    expect(Math.abs(ee - ef)).toBeLessThanOrEqual(TOL.randomized * base);
    [exact, fast].forEach((c) => c.dispose());
    [lowRank, Wc].forEach((t) => t.dispose());
    L.dispose();
  });

  test('act-s treats input columns that never fire as absent (no division by zero)', () => {
    const L = layer(12, 9, 50, 51);
    const m = Float32Array.from(L.meanAbs.data as Float32Array);
    m[3] = 0;
    const meanAbs = nt.tensor(m);
    const c = compensate(L.W, L.Wc, { method: 'act-s', rank: 3, meanAbs });
    const A = c.A.data as Float32Array;
    for (let i = 0; i < 3; ++i) expect(Math.abs(A[i * 9 + 3])).toBe(0);
    expect([...A].every(Number.isFinite)).toBe(true);
    c.dispose();
    meanAbs.dispose();
    L.dispose();
  });

  test('the async form equals the sync form and memory returns to its baseline', async () => {
    const L = layer(17, 23, 90, 61);
    const before = nt.memory();
    const s = eora(L.W, L.Wc, L.cov, { rank: 4 });
    const a = await compensateAsync(L.W, L.Wc, { method: 'eora', rank: 4, covariance: L.cov });
    expect(Array.from(a.A.data as Float32Array)).toEqual(Array.from(s.A.data as Float32Array));
    expect(Array.from(a.B.data as Float32Array)).toEqual(Array.from(s.B.data as Float32Array));
    s.dispose();
    a.dispose();
    expect(nt.memory()).toEqual(before);
    L.dispose();
  });

  test('one eigendecomposition shared by the linears of one input gives the adapters each would get alone (q/k/v share theirs)', async () => {
    const L = layer(19, 26, 120, 81);
    // three "linears" fed the same input: different W and Wc, one covariance
    const others = [layer(11, 26, 120, 82), layer(30, 26, 120, 83)];
    const eigen = covarianceEigen(L.cov);
    expect(eigen.values.dtype).toBe('f64');
    expect(eigen.vectors.shape).toEqual([26, 26]);
    const before = nt.memory();
    for (const [W, Wc] of [[L.W, L.Wc], ...others.map((o) => [o.W, o.Wc] as const)]) {
      for (const opts of [{ rank: 5 }, { rank: 3, eigenFloor: 0.05 }]) {
        const alone = compensate(W, Wc, { method: 'eora', covariance: L.cov, ...opts });
        const shared = compensate(W, Wc, { method: 'eora', eigen, ...opts });
        // the same eigh output goes through the same steps: bit for bit the same factors
        expect(Array.from(shared.A.data as Float32Array)).toEqual(Array.from(alone.A.data as Float32Array));
        expect(Array.from(shared.B.data as Float32Array)).toEqual(Array.from(alone.B.data as Float32Array));
        expect(shared.droppedDirections).toBe(alone.droppedDirections);
        expect(shared.droppedEnergy).toBe(alone.droppedEnergy);
        alone.dispose();
        shared.dispose();
        const sharedAsync = await compensateAsync(W, Wc, { method: 'eora', eigen, ...opts });
        const again = compensate(W, Wc, { method: 'eora', eigen, ...opts });
        expect(Array.from(sharedAsync.A.data as Float32Array)).toEqual(Array.from(again.A.data as Float32Array));
        sharedAsync.dispose();
        again.dispose();
      }
    }
    // the caller's decomposition is read, never disposed
    expect(eigen.values.isDisposed || eigen.vectors.isDisposed).toBe(false);
    expect(nt.memory()).toEqual(before);
    const viaAsync = await covarianceEigenAsync(L.cov);
    expect(Array.from(viaAsync.values.data as Float64Array)).toEqual(Array.from(eigen.values.data as Float64Array));
    expect(Array.from(viaAsync.vectors.data as Float64Array)).toEqual(Array.from(eigen.vectors.data as Float64Array));
    viaAsync.dispose();
    eigen.dispose();
    others.forEach((o) => o.dispose());
    L.dispose();
  });

  test('activationError is ‖(W − Wc − BA) Xᵀ‖_F / √n of the data itself; Wc = null gives ‖W Xᵀ‖_F / √n; the async form agrees', async () => {
    const L = layer(13, 21, 77, 91);
    const c = eora(L.W, L.Wc, L.cov, { rank: 3 });
    // reference: E and X in f64, ‖E Xᵀ‖_F summed directly (no covariance)
    const n = 77;
    const direct = (E: Float64Array, dOut: number) => {
      const x = L.X.astype('f64');
      const xs = x.data as Float64Array;
      let total = 0;
      for (let t = 0; t < n; ++t)
        for (let i = 0; i < dOut; ++i) {
          let dot = 0;
          for (let j = 0; j < 21; ++j) dot += E[i * 21 + j] * xs[t * 21 + j];
          total += dot * dot;
        }
      x.dispose();
      return Math.sqrt(total / n);
    };
    const w = Float64Array.from(L.W.data as Float32Array);
    const wc = Float64Array.from(L.Wc.data as Float32Array);
    const a = Float64Array.from(c.A.data as Float32Array);
    const b = Float64Array.from(c.B.data as Float32Array);
    const residual = w.map((v, k) => {
      const i = Math.floor(k / 21);
      const j = k % 21;
      let ba = 0;
      for (let r = 0; r < 3; ++r) ba += b[i * 3 + r] * a[r * 21 + j];
      return v - wc[k] - ba;
    });
    const cases: [number, number][] = [
      [activationError(L.W, null, L.cov), direct(w, 13)],
      [activationError(L.W, L.Wc, L.cov), direct(w.map((v, k) => v - wc[k]), 13)],
      [activationError(L.W, L.Wc, L.cov, c), direct(residual, 13)],
    ];
    for (const [got, want] of cases) expect(Math.abs(got - want)).toBeLessThanOrEqual(TOL.activation * want);
    const small = nt.zeros([3, 3], 'f64');
    const before = nt.memory();
    expect(await activationErrorAsync(L.W, L.Wc, L.cov, c)).toBe(activationError(L.W, L.Wc, L.cov, c));
    expect(await activationErrorAsync(L.W, null, L.cov)).toBe(activationError(L.W, null, L.cov));
    expect(nt.memory()).toEqual(before);
    await expect(activationErrorAsync(L.W, L.Wc, small)).rejects.toMatchObject({ code: 'NT_SHAPE', message: expect.stringMatching(/covariance must be \[21, 21\]/) });
    expect(nt.memory()).toEqual(before);
    small.dispose();
    c.dispose();
    L.dispose();
  });

  test.each([
    [24, 40, 200, 101, 3],
    [33, 17, 129, 102, 17], // full rank: the adapter removes (almost) all of the error
    [7, 64, 30, 103, 5], // rank-deficient covariance
  ])('activationErrors (two GEMMs) equals three activationError calls (W %i×%i, %i tokens, seed %i, rank %i)', async (dOut, dIn, n, seed, rank) => {
    const L = layer(dOut, dIn, n, seed);
    const c = eora(L.W, L.Wc, L.cov, { rank });
    const want = { signal: activationError(L.W, null, L.cov), compressed: activationError(L.W, L.Wc, L.cov), compensated: activationError(L.W, L.Wc, L.cov, c) };
    const got = activationErrors(L.W, L.Wc, L.cov, c);
    expect(Math.abs(got.signal - want.signal)).toBeLessThanOrEqual(TOL.activation * want.signal);
    expect(Math.abs(got.compressed - want.compressed)).toBeLessThanOrEqual(TOL.activation * want.compressed);
    // the expansion subtracts: its error scales with the compressed error, not the compensated one
    expect(Math.abs(got.compensated - want.compensated)).toBeLessThanOrEqual(TOL.expansion * want.compressed);
    if (rank < Math.min(dOut, dIn)) expect(Math.abs(got.compensated - want.compensated)).toBeLessThanOrEqual(TOL.activation * want.compressed);
    const none = activationErrors(L.W, L.Wc, L.cov);
    expect(none.compensated).toBe(none.compressed);
    const before = nt.memory();
    expect(await activationErrorsAsync(L.W, L.Wc, L.cov, c)).toEqual(got);
    expect(nt.memory()).toEqual(before);
    expect(() => activationErrors(L.W, L.Wc, L.cov, { A: c.B, B: c.A })).toThrow(expect.objectContaining({ code: 'NT_SHAPE', message: expect.stringMatching(/\[llm\.activationErrors\] adapter must be B/) }));
    expect(nt.memory()).toEqual(before);
    c.dispose();
    L.dispose();
  });

  describe('errors', () => {
    const L = layer(6, 8, 20, 71);
    afterAll(() => L.dispose());
    const cases: [string, () => unknown, string, RegExp][] = [
      ['rank 0', () => eora(L.W, L.Wc, L.cov, { rank: 0 }), 'NT_VALUE', /\[llm\.compensate\] rank must be an integer in \[1, 6\], got number 0/],
      ['rank too large', () => eora(L.W, L.Wc, L.cov, { rank: 7 }), 'NT_VALUE', /rank must be/],
      ['fractional rank', () => eora(L.W, L.Wc, L.cov, { rank: 1.5 }), 'NT_VALUE', /rank must be/],
      ['Wc shape', () => eora(L.W, nt.zeros([6, 7]), L.cov, { rank: 1 }), 'NT_SHAPE', /Wc must have W's shape \[6,8\], got \[6,7\]/],
      ['covariance shape', () => eora(L.W, L.Wc, nt.zeros([6, 6]), { rank: 1 }), 'NT_SHAPE', /covariance must be \[8, 8\]/],
      ['W rank', () => eora(nt.zeros([6, 8, 1]), L.Wc, L.cov, { rank: 1 }), 'NT_SHAPE', /W must be 2-D/],
      ['integer W', () => eora(nt.zeros([6, 8], 'i32'), L.Wc, L.cov, { rank: 1 }), 'NT_DTYPE', /W must be a float tensor, got i32/],
      ['missing covariance', () => compensate(L.W, L.Wc, { method: 'eora', rank: 1 }), 'NT_VALUE', /needs the calibration covariance/],
      ['missing meanAbs', () => compensate(L.W, L.Wc, { method: 'act-s', rank: 1 }), 'NT_VALUE', /needs meanAbs/],
      ['unknown method', () => compensate(L.W, L.Wc, { method: 'pca' as never, rank: 1 }), 'NT_VALUE', /method must be 'eora', 'svd' or 'act-s'/],
      ['bad svd option', () => eora(L.W, L.Wc, L.cov, { rank: 1, svd: 'fast' as never }), 'NT_VALUE', /svd must be 'exact' or 'randomized'/],
      ['bad factor bits', () => eora(L.W, L.Wc, L.cov, { rank: 1, factorBits: 5 as never }), 'NT_VALUE', /factorBits must be 2, 3, 4 or 8/],
      ['negative meanAbs', () => compensate(L.W, L.Wc, { method: 'act-s', rank: 1, meanAbs: nt.full([8], -1) }), 'NT_VALUE', /meanAbs must be finite and non-negative/],
      ['covariance and eigen both', () => compensate(L.W, L.Wc, { method: 'eora', rank: 1, covariance: L.cov, eigen: covarianceEigen(L.cov) }), 'NT_VALUE', /give the covariance or its eigen decomposition, not both/],
      ['eigen for svd', () => compensate(L.W, L.Wc, { method: 'svd', rank: 1, eigen: covarianceEigen(L.cov) }), 'NT_VALUE', /eigen is used by method 'eora' only, got method 'svd'/],
      ['eigen not an object', () => compensate(L.W, L.Wc, { method: 'eora', rank: 1, eigen: 3 as never }), 'NT_VALUE', /eigen must be \{ values, vectors \}/],
      ['eigen of another width', () => compensate(L.W, L.Wc, { method: 'eora', rank: 1, eigen: covarianceEigen(nt.eye(5, 'f64')) }), 'NT_SHAPE', /eigen must hold values \[8\] and vectors \[8, 8\], got \[5\] and \[5,5\]/],
      ['eigen in f32', () => compensate(L.W, L.Wc, { method: 'eora', rank: 1, eigen: { values: nt.zeros([8]), vectors: nt.zeros([8, 8]), dispose() {} } }), 'NT_DTYPE', /eigen\.values must be f64/],
      ['covarianceEigen of a non-square matrix', () => covarianceEigen(nt.zeros([3, 4])), 'NT_SHAPE', /\[llm\.covarianceEigen\] covariance must be square/],
      ['activationError with a Wc of another shape', () => activationError(L.W, nt.zeros([6, 7]), L.cov), 'NT_SHAPE', /W and Wc must be 2-D of one shape/],
      ['activationError with a bad adapter', () => activationError(L.W, L.Wc, L.cov, { A: nt.zeros([2, 8]), B: nt.zeros([6, 3]) }), 'NT_SHAPE', /adapter must be B \[6, r\], A \[r, 8\]/],
    ];
    test.each(cases)('%s', (_name, fn, code, message) => {
      expect(fn).toThrow(message);
      try {
        fn();
      } catch (e) {
        expect((e as { code: string }).code).toBe(code);
      }
    });

    test('a covariance with NaN is refused with a code', () => {
      const bad = L.cov.clone();
      (bad.data as Float64Array)[0] = NaN;
      expect(() => eora(L.W, L.Wc, bad, { rank: 1 })).toThrow(expect.objectContaining({ code: 'NT_VALUE' }));
    });

    test('a disposed input is refused with NT_DISPOSED', () => {
      const W = L.W.clone();
      W.dispose();
      expect(() => eora(W, L.Wc, L.cov, { rank: 1 })).toThrow(expect.objectContaining({ code: 'NT_DISPOSED' }));
    });
  });
});
