// nt.llm.covariance: the streaming accumulator against a float64 reference, batching
// invariance, input layouts, the all-or-nothing NaN rule, errors, async and memory.
import * as nt from '../../lib';
import { errorOf } from '../helpers/reference';
import { TOL, values } from '../quant/gptq-helpers';

/** Float64 reference sums of x [n, dim] (row-major values). */
function reference(x: ArrayLike<number>, n: number, dim: number) {
  const gram = new Float64Array(dim * dim);
  const sq = new Float64Array(dim);
  const ab = new Float64Array(dim);
  for (let t = 0; t < n; ++t)
    for (let i = 0; i < dim; ++i) {
      const xi = x[t * dim + i];
      sq[i] += xi * xi;
      ab[i] += Math.abs(xi);
      for (let j = 0; j < dim; ++j) gram[i * dim + j] += xi * x[t * dim + j];
    }
  return {
    mean: gram.map((v) => v / n),
    hessian: gram.map((v) => (2 * v) / n),
    norms: sq.map(Math.sqrt),
    meanAbs: ab.map((v) => v / n),
  };
}

/** max |a − b| / max |b| (0 for an all-zero reference). */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; ++i) {
    num = Math.max(num, Math.abs(a[i] - b[i]));
    den = Math.max(den, Math.abs(b[i]));
  }
  return den === 0 ? num : num / den;
}

function readouts(acc: nt.llm.CovarianceAccumulator) {
  const ts = [acc.mean(), acc.hessian(), acc.inputNorms(), acc.meanAbs()];
  const [mean, hessian, norms, meanAbs] = ts.map(values);
  expect(ts.map((t) => t.dtype)).toEqual(['f64', 'f32', 'f32', 'f32']);
  ts.forEach((t) => t.dispose());
  return { mean, hessian, norms, meanAbs };
}

describe('nt.llm.covariance', () => {
  for (const [n, dim] of [[1, 1], [7, 7], [300, 33], [1031, 129], [40, 300]]) {
    it(`matches the float64 reference: ${n} tokens of ${dim} features`, () => {
      const x = nt.randn([n, dim], { seed: n + dim });
      const acc = nt.llm.covariance(dim).update(x);
      expect(acc.count).toBe(n);
      const got = readouts(acc);
      const ref = reference(values(x), n, dim);
      expect(relErr(got.mean, ref.mean)).toBeLessThan(TOL.covF32);
      expect(relErr(got.hessian, ref.hessian)).toBeLessThan(TOL.covF32);
      expect(relErr(got.norms, ref.norms)).toBeLessThan(TOL.covF32);
      expect(relErr(got.meanAbs, ref.meanAbs)).toBeLessThan(TOL.covF32);
      // exactly symmetric
      let asymmetric = 0;
      for (let i = 0; i < dim; ++i) for (let j = 0; j < i; ++j) asymmetric += got.mean[i * dim + j] !== got.mean[j * dim + i] ? 1 : 0;
      expect(asymmetric).toBe(0);
      x.dispose();
      acc.dispose();
    });
  }

  it('keeps f64 inputs at f64 precision', () => {
    const x = nt.randn([500, 40], { seed: 3, dtype: 'f64' });
    const acc = nt.llm.covariance(40).update(x);
    const m = acc.mean();
    expect(relErr(values(m), reference(values(x), 500, 40).mean)).toBeLessThan(TOL.covF64);
    [x, m].forEach((t) => t.dispose());
    acc.dispose();
  });

  it('gives the same result however the tokens are batched', () => {
    const dim = 45;
    const x = nt.randn([700, dim], { seed: 5 });
    const one = nt.llm.covariance(dim).update(x);
    const many = nt.llm.covariance(dim);
    let at = 0;
    for (const size of [1, 0, 300, 17, 255, 127]) {
      const part = x.slice([at, at + size]);
      many.update(part);
      part.dispose();
      at += size;
    }
    expect(at).toBe(700);
    expect(many.count).toBe(700);
    const a = readouts(one);
    const b = readouts(many);
    expect(relErr(b.mean, a.mean)).toBeLessThan(TOL.covStreaming);
    expect(relErr(b.norms, a.norms)).toBeLessThan(TOL.covStreaming);
    expect(relErr(b.meanAbs, a.meanAbs)).toBeLessThan(TOL.covStreaming);
    x.dispose();
    one.dispose();
    many.dispose();
  });

  it('reads [..., dim] inputs of any float dtype and strided views', () => {
    const dim = 24;
    const base = nt.randn([2, 50, dim], { seed: 7 });
    const ref = readouts(nt.llm.covariance(dim).update(base.reshape(100, dim)));
    // the same values as a 3-D tensor, a transposed view, and other dtypes
    const cases: nt.Tensor[] = [base];
    const swapped = base.transpose(1, 0, 2); // [50, 2, dim]: a strided view with the same rows in another order
    cases.push(swapped);
    const colMajor = base.reshape(100, dim).transpose().contiguous().transpose();
    cases.push(colMajor);
    for (const c of cases) {
      const got = readouts(nt.llm.covariance(dim).update(c));
      expect(relErr(got.mean, ref.mean)).toBeLessThan(TOL.covStreaming);
      expect(relErr(got.meanAbs, ref.meanAbs)).toBeLessThan(TOL.covStreaming);
    }
    for (const dtype of ['f16', 'bf16', 'f64'] as const) {
      const xd = base.astype(dtype);
      const got = readouts(nt.llm.covariance(dim).update(xd));
      const exact = reference(values(xd), 100, dim);
      expect(relErr(got.mean, exact.mean)).toBeLessThan(TOL.covF32);
      expect(relErr(got.norms, exact.norms)).toBeLessThan(TOL.covF32);
      xd.dispose();
    }
    [swapped, colMajor, base].forEach((t) => t.dispose());
  });

  it('refuses NaN/Inf and stays unchanged', () => {
    const acc = nt.llm.covariance(3).update(nt.tensor([[1, 2, 3], [4, 5, 6]]));
    const before = readouts(acc);
    for (const bad of [NaN, Infinity, -Infinity]) {
      const x = nt.tensor([[1, 1, 1], [7, 7, 7], [1, bad, 1]]);
      const e = errorOf(() => acc.update(x));
      expect(e.code).toBe('NT_VALUE');
      expect(e.message).toMatch(/\[llm\.covariance\.update\] x contains NaN or Inf \(token row 2\)/);
      x.dispose();
    }
    expect(acc.count).toBe(2);
    expect(readouts(acc)).toEqual(before);
    acc.dispose();
  });

  it('without the gram keeps only the column statistics', () => {
    const x = nt.randn([60, 10], { seed: 9 });
    const full = nt.llm.covariance(10).update(x);
    const light = nt.llm.covariance(10, { gram: false }).update(x);
    expect(light.hasGram).toBe(false);
    expect(values(light.inputNorms())).toEqual(values(full.inputNorms()));
    expect(values(light.meanAbs())).toEqual(values(full.meanAbs()));
    const e = errorOf(() => light.mean());
    expect(e.code).toBe('NT_VALUE');
    expect(e.message).toMatch(/\[llm\.covariance\.mean\] this accumulator was created with \{ gram: false \}/);
    expect(errorOf(() => light.hessian()).code).toBe('NT_VALUE');
    x.dispose();
    full.dispose();
    light.dispose();
  });

  describe('errors', () => {
    const cases: [string, () => unknown, string, RegExp][] = [
      ['dim 0', () => nt.llm.covariance(0), 'NT_VALUE', /\[llm\.covariance\] dim must be a positive integer, got number 0/],
      ['fractional dim', () => nt.llm.covariance(2.5), 'NT_VALUE', /dim must be a positive integer/],
      ['gram not a boolean', () => nt.llm.covariance(3, { gram: 1 as never }), 'NT_VALUE', /gram must be a boolean/],
      ['options not an object', () => nt.llm.covariance(3, 'x' as never), 'NT_VALUE', /options must be an object/],
      ['dim mismatch', () => nt.llm.covariance(3).update(nt.zeros([2, 4])), 'NT_SHAPE', /\[llm\.covariance\.update\] x must be \[\.\.\., 3\], got \[2,4\]/],
      ['a scalar', () => nt.llm.covariance(1).update(nt.tensor(1)), 'NT_SHAPE', /x must be \[\.\.\., 1\]/],
      ['integer x', () => nt.llm.covariance(3).update(nt.zeros([2, 3], 'i32')), 'NT_DTYPE', /x must be f32, f64, f16 or bf16, got i32/],
      ['x not a tensor', () => nt.llm.covariance(3).update([1, 2, 3] as never), 'NT_VALUE', /x must be a Tensor/],
      ['mean before any token', () => nt.llm.covariance(3).mean(), 'NT_VALUE', /\[llm\.covariance\.mean\] no tokens accumulated yet/],
      ['meanAbs before any token', () => nt.llm.covariance(3).meanAbs(), 'NT_VALUE', /no tokens accumulated yet/],
    ];
    for (const [name, fn, code, message] of cases) {
      it(`${name}: ${code}`, () => {
        const e = errorOf(fn);
        expect(e.code).toBe(code);
        expect(e.message).toMatch(message);
      });
    }

    it('an empty update is a no-op, and input norms start at zero', () => {
      const acc = nt.llm.covariance(4);
      acc.update(nt.zeros([0, 4])).update(nt.zeros([3, 0, 4]));
      expect(acc.count).toBe(0);
      expect(Array.from(values(acc.inputNorms()))).toEqual([0, 0, 0, 0]);
      acc.dispose();
    });

    it('a disposed accumulator or input: NT_DISPOSED; memory returns to the baseline', () => {
      const before = nt.memory();
      const acc = nt.llm.covariance(5);
      const x = nt.randn([3, 5], { seed: 1 });
      acc.update(x);
      x.dispose();
      expect(errorOf(() => acc.update(x)).code).toBe('NT_DISPOSED');
      acc.dispose();
      acc.dispose();
      expect(acc.isDisposed).toBe(true);
      for (const f of [() => acc.update(nt.zeros([1, 5])), () => acc.mean(), () => acc.hessian(), () => acc.inputNorms(), () => acc.meanAbs()]) {
        const e = errorOf(f);
        expect(e.code).toBe('NT_DISPOSED');
        expect(e.message).toMatch(/the covariance accumulator was disposed/);
      }
      expect(nt.memory().bytes).toBe(before.bytes + 5 * 4); // only the zeros([1, 5]) made above
    });
  });

  describe('updateAsync', () => {
    it('equals update, runs concurrent calls in order and blocks sync use meanwhile', async () => {
      const x = nt.randn([600, 31], { seed: 11 });
      const parts = [x.slice([0, 100]), x.slice([100, 350]), x.slice([350, 600])];
      const sync = nt.llm.covariance(31);
      parts.forEach((p) => sync.update(p));
      const acc = nt.llm.covariance(31);
      const jobs = parts.map((p) => acc.updateAsync(p));
      expect(errorOf(() => acc.mean()).message).toMatch(/an updateAsync is still running; await it first/);
      expect(errorOf(() => acc.update(x)).code).toBe('NT_VALUE');
      const results = await Promise.all(jobs);
      expect(results.every((r) => r === acc)).toBe(true);
      expect(acc.count).toBe(600);
      expect(readouts(acc)).toEqual(readouts(sync));
      [x, ...parts].forEach((t) => t.dispose());
      sync.dispose();
      acc.dispose();
    });

    it('meanAsync and hessianAsync equal mean and hessian, wait for pending updates, and refuse what those refuse', async () => {
      const x = nt.randn([257, 45], { seed: 12 });
      const acc = nt.llm.covariance(45);
      await expect(acc.meanAsync()).rejects.toMatchObject({ code: 'NT_VALUE', message: expect.stringMatching(/\[llm\.covariance\.meanAsync\] no tokens accumulated yet/) });
      const pending = acc.updateAsync(x);
      const [mean, hessian] = [await acc.meanAsync(), await acc.hessianAsync()]; // after the queued update
      await pending;
      expect(acc.count).toBe(257);
      const sync = [acc.mean(), acc.hessian()];
      expect([mean.dtype, hessian.dtype]).toEqual(['f64', 'f32']);
      expect(values(mean)).toEqual(values(sync[0]));
      expect(values(hessian)).toEqual(values(sync[1]));
      [mean, hessian, ...sync].forEach((t) => t.dispose());
      const columns = nt.llm.covariance(45, { gram: false }).update(x);
      await expect(columns.hessianAsync()).rejects.toMatchObject({ code: 'NT_VALUE', message: expect.stringMatching(/created with \{ gram: false \}/) });
      columns.dispose();
      acc.dispose();
      await expect(acc.meanAsync()).rejects.toMatchObject({ code: 'NT_DISPOSED' });
      x.dispose();
    });

    it('rejects bad input without stopping the queue, and after dispose', async () => {
      const acc = nt.llm.covariance(2);
      const bad = acc.updateAsync(nt.tensor([[NaN, 1]]));
      const good = acc.updateAsync(nt.tensor([[1, 2]]));
      await expect(bad).rejects.toMatchObject({ code: 'NT_VALUE' });
      await good;
      expect(acc.count).toBe(1);
      await expect(acc.updateAsync(nt.zeros([1, 3]))).rejects.toMatchObject({ code: 'NT_SHAPE' });
      acc.dispose();
      await expect(acc.updateAsync(nt.zeros([1, 2]))).rejects.toMatchObject({ code: 'NT_DISPOSED' });
    });
  });

  describe('nt.quant.accumulateCovariance with lowerOnly', () => {
    // 2100 rows: two f32 blocks of the native update; 515 columns: two column panels
    const [n, dim] = [2100, 515];
    const state = (lowerOnly: boolean, init = 7) => ({ gram: nt.full([dim, dim], init, 'f64'), sumSq: nt.zeros([dim], 'f64'), sumAbs: nt.zeros([dim], 'f64'), lowerOnly });
    const dispose = (s: ReturnType<typeof state>) => [s.gram, s.sumSq, s.sumAbs].forEach((t) => t.dispose());

    it('fills only the lower triangle; symmetrizeCovariance then equals symmetric updates bit for bit (contiguous, strided and bf16 rows)', async () => {
      const x = nt.randn([n, dim], { seed: 11 });
      const columns = nt.randn([dim, 300], { seed: 12 });
      const strided = columns.transpose(); // [300, dim] rows read through strides
      const half = x.astype('bf16');
      const full = state(false);
      const lower = state(true);
      for (const t of [x, strided, half]) {
        nt.quant.accumulateCovariance(t, full);
        await nt.quant.accumulateCovarianceAsync(t, lower);
      }
      const [g, l] = [values(full.gram), values(lower.gram)];
      let [lowerDiffers, upperTouched] = [0, 0];
      for (let i = 0; i < dim; ++i)
        for (let j = 0; j < dim; ++j) {
          if (j <= i) lowerDiffers += l[i * dim + j] === g[i * dim + j] ? 0 : 1;
          else upperTouched += l[i * dim + j] === 7 ? 0 : 1;
        }
      expect([lowerDiffers, upperTouched]).toEqual([0, 0]);
      expect(values(lower.sumSq)).toEqual(values(full.sumSq));
      nt.quant.symmetrizeCovariance(lower);
      expect(values(lower.gram)).toEqual(g);
      // the async form, on a fresh lower-only state
      const other = state(true);
      nt.quant.accumulateCovariance(x, other);
      await nt.quant.symmetrizeCovarianceAsync(other);
      const ref = state(false, 0);
      nt.quant.accumulateCovariance(x, ref);
      const got = values(ref.gram);
      expect(values(other.gram)).toEqual(got.map((v) => v + 7));
      // against float64 sums over the rows of x, for rows of gram across both panels and the diagonal
      const xs = values(x);
      const rows = [0, 1, 255, 511, 512, 513, 514];
      const want = rows.flatMap((i) => Array.from({ length: dim }, (_, j) => {
        let acc = 0;
        for (let t = 0; t < n; ++t) acc += xs[t * dim + i] * xs[t * dim + j];
        return acc;
      }));
      expect(relErr(rows.flatMap((i) => Array.from(got.slice(i * dim, (i + 1) * dim))), want)).toBeLessThan(TOL.covF32);
      [full, lower, other, ref].forEach(dispose);
      [x, strided, columns, half].forEach((t) => t.dispose());
    });

    it('symmetrizeCovariance refuses a malformed state', () => {
      const s = state(true);
      expect(() => nt.quant.symmetrizeCovariance({ ...s, gram: nt.zeros([dim, dim]) })).toThrow(expect.objectContaining({ code: 'NT_DTYPE' }));
      expect(() => nt.quant.symmetrizeCovariance({ ...s, sumSq: nt.zeros([3], 'f64') })).toThrow(expect.objectContaining({ code: 'NT_SHAPE' }));
      dispose(s);
    });
  });
});
