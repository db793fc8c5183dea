// nt.quant.prune24: the 2:4 pattern, the kept weights against a float64 reference (magnitude
// and Wanda), ties, dtypes and strided views, errors, async twin, memory.
import * as nt from '../../lib';
import { FloatDType, expectCode, expectRejects, randomTensor, values } from './helpers';

/** Float64 reference: keep the 2 largest scores of every 4 columns, ties to the lower column. */
function refPrune(w: Float64Array, rows: number, cols: number, norms: Float64Array | null): Float64Array {
  const out = new Float64Array(w.length);
  for (let r = 0; r < rows; ++r)
    for (let c0 = 0; c0 < cols; c0 += 4) {
      const idx = [0, 1, 2, 3];
      const score = (i: number) => Math.abs(w[r * cols + c0 + i]) * (norms ? norms[c0 + i] : 1);
      idx.sort((a, b) => score(b) - score(a) || a - b);
      for (const i of idx.slice(0, 2)) out[r * cols + c0 + i] = w[r * cols + c0 + i];
    }
  return out;
}

function expectPattern(v: Float64Array, rows: number, cols: number): void {
  for (let r = 0; r < rows; ++r)
    for (let c0 = 0; c0 < cols; c0 += 4) {
      let zeros = 0;
      for (let i = 0; i < 4; ++i) zeros += v[r * cols + c0 + i] === 0 ? 1 : 0;
      expect(zeros).toBeGreaterThanOrEqual(2);
    }
}

describe('nt.quant.prune24', () => {
  const base = nt.memory();
  afterAll(() => expect(nt.memory()).toEqual(base));

  it('keeps exactly the 2 largest magnitudes of every 4 columns (vs float64 reference)', () => {
    for (const [rows, cols] of [[1, 4], [7, 32], [33, 132], [129, 4]]) {
      const w = randomTensor([rows, cols], 'f32', rows + cols);
      const p = nt.quant.prune24(w, { method: 'magnitude' });
      expect(p.dtype).toBe('f32');
      expect(p.shape).toEqual([rows, cols]);
      const pv = values(p);
      expectPattern(pv, rows, cols);
      // random data has no zeros: exactly 2 of 4 survive
      expect(pv.filter((x) => x !== 0).length).toBe(rows * cols / 2);
      expect(Array.from(pv)).toEqual(Array.from(refPrune(values(w), rows, cols, null)));
      p.dispose();
      w.dispose();
    }
  });

  it('Wanda scores |W|·‖X_j‖ and differs from magnitude when norms are not uniform', () => {
    const rows = 33;
    const cols = 64;
    const w = randomTensor([rows, cols], 'f32', 21);
    const norms = randomTensor([cols], 'f64', 22, 0.01, 10);
    const m = nt.quant.prune24(w);
    const wa = nt.quant.prune24(w, { method: 'wanda', inputNorms: norms });
    const wv = values(w);
    const av = values(wa);
    expectPattern(av, rows, cols);
    expect(Array.from(av)).toEqual(Array.from(refPrune(wv, rows, cols, values(norms))));
    expect(Array.from(av)).not.toEqual(Array.from(values(m)));
    // uniform norms give the magnitude result
    const ones = nt.full([cols], 3, 'f32');
    const u = nt.quant.prune24(w, { method: 'wanda', inputNorms: ones });
    expect(Array.from(values(u))).toEqual(Array.from(values(m)));
    // norms as a strided f16 view
    const nbuf = norms.astype('f16');
    const n2 = nt.zeros([cols, 2], 'f16');
    const sl = n2.slice(null, [1, 2]);
    const col = sl.reshape([cols]);
    sl.dispose();
    nbuf.astype('f16', { out: col });
    const s = nt.quant.prune24(w, { method: 'wanda', inputNorms: col });
    expect(Array.from(values(s))).toEqual(Array.from(refPrune(wv, rows, cols, values(nbuf))));
    [m, wa, u, s, ones, nbuf, col, n2, norms, w].forEach((x) => x.dispose());
  });

  it('breaks ties toward the lower column and keeps zeros as a valid pattern', () => {
    const w = nt.tensor([[5, 5, 5, 5, 0, 0, 0, 0, -1, 1, -1, 1]], { dtype: 'f32' });
    const p = nt.quant.prune24(w);
    expect(Array.from(values(p))).toEqual([5, 5, 0, 0, 0, 0, 0, 0, -1, 1, 0, 0]);
    p.dispose();
    w.dispose();
  });

  it('keeps the dtype, copies kept weights bit for bit and reads strided views', () => {
    for (const dtype of ['f16', 'bf16', 'f64'] as FloatDType[]) {
      const w = randomTensor([7, 36], dtype, 3);
      const p = nt.quant.prune24(w);
      expect(p.dtype).toBe(dtype);
      expect(Array.from(values(p))).toEqual(Array.from(refPrune(values(w), 7, 36, null)));
      p.dispose();
      w.dispose();
    }
    const base = randomTensor([40, 9], 'f32', 4);
    const t = base.transpose(1, 0); // [9, 40], strides [1, 9]
    const p = nt.quant.prune24(t);
    expect(p.isContiguous).toBe(true);
    expect(Array.from(values(p))).toEqual(Array.from(refPrune(values(t), 9, 40, null)));
    [p, t, base].forEach((x) => x.dispose());
    const e = nt.zeros([0, 8]);
    const pe = nt.quant.prune24(e);
    expect(pe.shape).toEqual([0, 8]);
    [pe, e].forEach((x) => x.dispose());
  });

  it('refuses bad shapes, methods, norms and NaN with coded errors', () => {
    const op = /^\[quant\.prune24\]/;
    const w = randomTensor([4, 8], 'f32', 1);
    const odd = nt.zeros([4, 6]);
    expectCode(() => nt.quant.prune24(odd), 'NT_SHAPE', /\[quant\.prune24\] w must have a multiple of 4 columns/);
    expectCode(() => nt.quant.prune24(w, { method: 'random' as never }), 'NT_VALUE', /method must be 'magnitude', 'wanda' or 'sparsegpt'/);
    expectCode(() => nt.quant.prune24(w, { method: 'wanda' }), 'NT_VALUE', /method 'wanda' needs inputNorms/);
    const n = nt.ones([8]);
    expectCode(() => nt.quant.prune24(w, { inputNorms: n }), 'NT_VALUE', /inputNorms is only used by method 'wanda'/);
    const n7 = nt.ones([7]);
    expectCode(() => nt.quant.prune24(w, { method: 'wanda', inputNorms: n7 }), 'NT_SHAPE', /inputNorms must have shape \[8\]/);
    const ni = nt.ones([8], 'i32');
    expectCode(() => nt.quant.prune24(w, { method: 'wanda', inputNorms: ni }), 'NT_DTYPE', op);
    const neg = nt.full([8], -1);
    expectCode(() => nt.quant.prune24(w, { method: 'wanda', inputNorms: neg }), 'NT_VALUE', /inputNorms must be finite and >= 0/);
    const nan = nt.tensor([[1, 2, NaN, 4]], { dtype: 'f32' });
    expectCode(() => nt.quant.prune24(nan), 'NT_VALUE', /\[quant\.prune24\] w must be finite, got w\[0, 2\]/);
    const i = nt.zeros([2, 8], 'i32');
    expectCode(() => nt.quant.prune24(i), 'NT_DTYPE', op);
    const v = nt.zeros([8]);
    expectCode(() => nt.quant.prune24(v), 'NT_SHAPE', /w must be 2-D/);
    n.dispose();
    expectCode(() => nt.quant.prune24(w, { method: 'wanda', inputNorms: n }), 'NT_DISPOSED', op);
    const d = nt.zeros([2, 8]);
    d.dispose();
    expectCode(() => nt.quant.prune24(d), 'NT_DISPOSED', op);
    [w, odd, n7, ni, neg, nan, i, v].forEach((x) => x.dispose());
  });

  it("method 'sparsegpt' dispatches to nt.quant.sparseGpt24", async () => {
    const cols = 32;
    const n = 64;
    const xt = randomTensor([n, cols], 'f32', 41);
    const x = values(xt);
    xt.dispose();
    const h = new Float32Array(cols * cols);
    for (let i = 0; i < cols; ++i)
      for (let j = 0; j < cols; ++j) {
        let s = 0;
        for (let t = 0; t < n; ++t) s += x[t * cols + i] * x[t * cols + j];
        h[i * cols + j] = (2 * s) / n;
      }
    const hessian = nt.tensor(h, { shape: [cols, cols] });
    const w = randomTensor([8, cols], 'f32', 42);
    const a = nt.quant.prune24(w, { method: 'sparsegpt', hessian });
    const b = nt.quant.sparseGpt24(w, { hessian });
    const c = await nt.quant.prune24Async(w, { method: 'sparsegpt', hessian });
    expectPattern(values(a), 8, cols);
    expect(Array.from(values(b))).toEqual(Array.from(values(a)));
    expect(Array.from(values(c))).toEqual(Array.from(values(a)));
    expectCode(() => nt.quant.prune24(w, { method: 'sparsegpt' }), 'NT_VALUE', /^\[quant\.prune24\] needs hessian/);
    expectCode(() => nt.quant.prune24(w, { hessian }), 'NT_VALUE', /hessian is only used by method 'sparsegpt'/);
    [a, b, c, hessian, w].forEach((t) => t.dispose());
  });

  it('async twin equals sync; errors reject', async () => {
    const w = randomTensor([33, 128], 'f16', 6);
    const norms = randomTensor([128], 'f32', 7, 0, 2);
    const a = nt.quant.prune24(w, { method: 'wanda', inputNorms: norms });
    const b = await nt.quant.prune24Async(w, { method: 'wanda', inputNorms: norms });
    expect(Array.from(values(b))).toEqual(Array.from(values(a)));
    const nan = nt.tensor([[1, NaN, 3, 4]]);
    await expectRejects(nt.quant.prune24Async(nan), 'NT_VALUE', /\[quant\.prune24\] w must be finite/);
    await expectRejects(nt.quant.prune24Async(w, { method: 'wanda' }), 'NT_VALUE', /\[quant\.prune24\]/);
    [a, b, w, norms, nan].forEach((x) => x.dispose());
  });
});
