// nt.quant.sparseGpt24: the exact 2:4 pattern, lower activation-weighted error than magnitude
// and Wanda pruning, agreement with the unblocked float64 reference, errors, async, progress.
import * as nt from '../../lib';
import { errorOf } from '../helpers/reference';
import { TOL, agreement, calibration, proxyLoss, refSparseGpt, values } from './gptq-helpers';

function setup(rows: number, cols: number, seed: number, n = 2 * cols + 9) {
  const w = nt.randn([rows, cols], { seed });
  const x = calibration(n, cols, seed + 1);
  const acc = nt.llm.covariance(cols).update(x);
  const h = acc.hessian();
  const norms = acc.inputNorms();
  acc.dispose();
  const loss = (p: nt.Tensor) => proxyLoss(values(w), values(p), values(x), rows, cols, n);
  return { w, x, h, norms, n, loss, dispose: () => [w, x, h, norms].forEach((t) => t.dispose()) };
}

/** Rows where some group of 4 does not have exactly 2 zeros. */
function patternViolations(p: nt.Tensor): string[] {
  const [rows, cols] = p.shape;
  const v = values(p);
  const bad: string[] = [];
  for (let r = 0; r < rows; ++r)
    for (let c = 0; c < cols; c += 4) {
      const zeros = [0, 1, 2, 3].filter((i) => v[r * cols + c + i] === 0).length;
      if (zeros !== 2) bad.push(`row ${r}, columns ${c}..${c + 3}: ${zeros} zeros`);
    }
  return bad;
}

describe('nt.quant.sparseGpt24', () => {
  it('prunes exactly 2 of every 4 consecutive columns', () => {
    for (const [rows, cols] of [[1, 4], [7, 36], [33, 128]]) {
      const s = setup(rows, cols, 3 + cols);
      const p = nt.quant.sparseGpt24(s.w, { hessian: s.h });
      expect(p.shape).toEqual([rows, cols]);
      expect(p.dtype).toBe('f32');
      expect(patternViolations(p)).toEqual([]);
      p.dispose();
      s.dispose();
    }
  });

  describe('has a lower ‖(W − Ŵ)Xᵀ‖_F than magnitude and Wanda pruning', () => {
    for (const [rows, cols] of [[32, 128], [64, 256], [33, 100]]) {
      it(`${rows}x${cols}`, () => {
        for (const seed of [5, 6, 7]) {
          const s = setup(rows, cols, seed * 10 + cols);
          const p = nt.quant.sparseGpt24(s.w, { hessian: s.h });
          const m = nt.quant.prune24(s.w, { method: 'magnitude' });
          const wd = nt.quant.prune24(s.w, { method: 'wanda', inputNorms: s.norms });
          const lp = s.loss(p);
          expect(lp).toBeLessThan(s.loss(m));
          expect(lp).toBeLessThan(s.loss(wd));
          [p, m, wd].forEach((t) => t.dispose());
          s.dispose();
        }
      });
    }
  });

  it('matches the unblocked float64 reference for any block size', () => {
    const s = setup(19, 120, 41);
    const ref = refSparseGpt(values(s.w), values(s.h), 19, 120, 0.01);
    const lref = s.loss(nt.tensor(ref, { shape: [19, 120] }));
    for (const blockSize of [128, 32, 6, 1]) {
      const p = nt.quant.sparseGpt24(s.w, { hessian: s.h, blockSize });
      const v = values(p);
      const mask = (a: ArrayLike<number>) => Array.from(a, (x) => (x === 0 ? 1 : 0));
      expect(agreement(mask(v), mask(ref))).toBeGreaterThan(TOL.agreement);
      expect(Math.abs(s.loss(p) - lref) / lref).toBeLessThan(TOL.lossVsReference);
      expect(patternViolations(p)).toEqual([]);
      p.dispose();
    }
    s.dispose();
  });

  it('keeps w’s dtype, reads strided views, and an identity Hessian reduces it to magnitude pruning', () => {
    const s = setup(8, 64, 51);
    for (const dtype of ['f16', 'bf16', 'f64'] as const) {
      const wd = s.w.astype(dtype);
      const p = nt.quant.sparseGpt24(wd, { hessian: s.h });
      expect(p.dtype).toBe(dtype);
      expect(patternViolations(p)).toEqual([]);
      [wd, p].forEach((t) => t.dispose());
    }
    const wt = s.w.transpose().contiguous().transpose();
    const a = nt.quant.sparseGpt24(wt, { hessian: s.h.astype('f64') });
    const b = nt.quant.sparseGpt24(s.w, { hessian: s.h });
    expect(agreement(values(a), values(b))).toBeGreaterThan(0.99);
    // H = c·I: no propagation, and w²/U_jj² ranks like |w|: exactly magnitude pruning
    const eye = nt.mul(nt.eye(64), 3);
    const c = nt.quant.sparseGpt24(s.w, { hessian: eye });
    const m = nt.quant.prune24(s.w);
    expect(Array.from(values(c))).toEqual(Array.from(values(m)));
    [wt, a, b, eye, c, m].forEach((t) => t.dispose());
    s.dispose();
  });

  it('zeroes dead inputs and survives a singular H by raising the damping', () => {
    const cols = 32;
    const z = nt.randn([80, 3], { seed: 61 });
    const m0 = nt.randn([3, cols], { seed: 62 }).toArray() as number[][];
    for (const row of m0) row[9] = 0; // input 9 is never active: H_99 = 0
    const mx = nt.tensor(m0);
    const x = nt.matmul(z, mx);
    const h = nt.llm.covariance(cols).update(x).hessian();
    const w = nt.randn([6, cols], { seed: 63 });
    const a = nt.quant.sparseGpt24(w, { hessian: h, damp: 0 });
    const b = nt.quant.sparseGpt24(w, { hessian: h, damp: 0.01 });
    expect(Array.from(values(a))).toEqual(Array.from(values(b)));
    expect((a.toArray() as number[][]).map((row) => row[9])).toEqual(new Array(6).fill(0));
    [z, mx, x, h, w, a, b].forEach((t) => t.dispose());
  });

  describe('errors', () => {
    const w = nt.randn([4, 8], { seed: 1 });
    const h = nt.eye(8);
    afterAll(() => [w, h].forEach((t) => t.dispose()));
    const cases: [string, () => unknown, string, RegExp][] = [
      ['cols not a multiple of 4', () => nt.quant.sparseGpt24(nt.zeros([2, 6]), { hessian: nt.eye(6) }), 'NT_SHAPE', /\[quant\.sparseGpt24\] w must have a multiple of 4 columns, got \[2,6\]/],
      ['missing hessian', () => nt.quant.sparseGpt24(w, {} as never), 'NT_VALUE', /needs hessian/],
      ['no options', () => nt.quant.sparseGpt24(w, undefined as never), 'NT_VALUE', /needs hessian/],
      ['hessian of the wrong shape', () => nt.quant.sparseGpt24(w, { hessian: nt.eye(4) }), 'NT_SHAPE', /hessian must have shape \[8, 8\]/],
      ['integer hessian', () => nt.quant.sparseGpt24(w, { hessian: nt.zeros([8, 8], 'i32') }), 'NT_DTYPE', /hessian must be f32/],
      ['integer w', () => nt.quant.sparseGpt24(nt.zeros([4, 8], 'u8'), { hessian: h }), 'NT_DTYPE', /w must be f32/],
      ['3-D w', () => nt.quant.sparseGpt24(nt.zeros([1, 4, 8]), { hessian: h }), 'NT_SHAPE', /w must be 2-D/],
      ['damp above 1', () => nt.quant.sparseGpt24(w, { hessian: h, damp: 2 }), 'NT_VALUE', /damp must be a number in \[0, 1\]/],
      ['blockSize -1', () => nt.quant.sparseGpt24(w, { hessian: h, blockSize: -1 }), 'NT_VALUE', /blockSize must be a positive integer/],
      ['NaN in w', () => nt.quant.sparseGpt24(nt.full([1, 4], NaN), { hessian: nt.eye(4) }), 'NT_VALUE', /\[quant\.sparseGpt24\] w contains NaN or Inf/],
      ['Inf in the hessian', () => nt.quant.sparseGpt24(nt.ones([1, 4]), { hessian: nt.full([4, 4], Infinity) }), 'NT_VALUE', /hessian contains NaN or Inf/],
      ['indefinite hessian', () => nt.quant.sparseGpt24(nt.ones([1, 4]), { hessian: nt.sub(nt.full([4, 4], 5), nt.mul(nt.eye(4), 4)) }), 'NT_NUMERIC', /not positive definite even with damp = 0\.11/],
    ];
    for (const [name, fn, code, message] of cases) {
      it(`${name}: ${code}`, () => {
        const e = errorOf(fn);
        expect(e.code).toBe(code);
        expect(e.message).toMatch(message);
      });
    }

    it('disposed inputs: NT_DISPOSED, and no tensors are left behind', () => {
      const before = nt.memory();
      const a = nt.randn([4, 8], { seed: 2 });
      a.dispose();
      expect(errorOf(() => nt.quant.sparseGpt24(a, { hessian: h })).code).toBe('NT_DISPOSED');
      const b = nt.eye(8);
      b.dispose();
      expect(errorOf(() => nt.quant.sparseGpt24(w, { hessian: b })).message).toMatch(/hessian was disposed/);
      const nan = nt.full([1, 4], NaN);
      const h4 = nt.eye(4);
      expect(errorOf(() => nt.quant.sparseGpt24(nan, { hessian: h4 })).code).toBe('NT_VALUE');
      [nan, h4].forEach((t) => t.dispose());
      expect(nt.memory()).toEqual(before);
    });
  });

  it('sparseGpt24Async equals sync, rejects errors and reports progress before resolving', async () => {
    const s = setup(12, 200, 71);
    const a = nt.quant.sparseGpt24(s.w, { hessian: s.h, blockSize: 64 });
    const calls: number[] = [];
    const b = await nt.quant.sparseGpt24Async(s.w, { hessian: s.h, blockSize: 64, onProgress: (d, t) => calls.push(d / t) });
    expect(Array.from(values(b))).toEqual(Array.from(values(a)));
    expect(calls).toEqual([64 / 200, 128 / 200, 192 / 200, 1]);
    await expect(nt.quant.sparseGpt24Async(s.w, { hessian: nt.eye(3) })).rejects.toMatchObject({ code: 'NT_SHAPE' });
    [a, b].forEach((t) => t.dispose());
    s.dispose();
  });
});
