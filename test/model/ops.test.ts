// nt.rope and nt.gatherRows (the model runner's own kernels) against float64 references.
import { tensor, zeros } from '../../lib/creation';
import { gatherRows, gatherRowsAsync, rope, ropeAsync, ropeInverseFrequencies } from '../../lib/ops';
import { memory } from '../../lib/tensor';
import type { Tensor } from '../../lib/tensor';
import { FloatDType, TOL, errorOf, asyncErrorOf, maxAbs, maxAbsDiff, randomTensor, values } from './helpers';

/** Float64 HF rotary embedding of the logical elements of x [..., seq, d]. */
function ropeReference(x: Float64Array, shape: number[], offset: number, invFreq: ArrayLike<number>): Float64Array {
  const d = shape[shape.length - 1];
  const seq = shape[shape.length - 2];
  const h = d / 2;
  const out = new Float64Array(x.length);
  for (let r = 0; r < x.length / d; ++r) {
    const p = offset + (r % seq);
    for (let i = 0; i < h; ++i) {
      const a = p * invFreq[i];
      const c = Math.cos(a);
      const s = Math.sin(a);
      out[r * d + i] = x[r * d + i] * c - x[r * d + i + h] * s;
      out[r * d + i + h] = x[r * d + i + h] * c + x[r * d + i] * s;
    }
  }
  return out;
}

function exactFreqs(d: number, theta: number): Float64Array {
  return Float64Array.from({ length: d / 2 }, (_, i) => Math.pow(theta, (-2 * i) / d));
}

describe('rope', () => {
  const cases: [number[], number][] = [
    [[1, 2], 0],
    [[7, 34], 3],
    [[3, 33, 64], 0],
    [[1, 8, 129, 32], 1000],
    [[2, 1, 128], 4095],
  ];
  test.each(cases)('f64 %j at offset %d equals the float64 reference', (shape, offset) => {
    const x = randomTensor(shape, 'f64', 11);
    const inv = tensor(exactFreqs(shape[shape.length - 1], 10000), { dtype: 'f64' });
    const y = rope(x, { invFreq: inv, positionOffset: offset });
    const want = ropeReference(values(x), shape, offset, values(inv));
    expect(maxAbsDiff(values(y), want)).toBeLessThanOrEqual(TOL.ropeF64 * (1 + offset));
    for (const t of [x, inv, y]) t.dispose();
  });

  test.each(cases)('f32 %j at offset %d with the default theta matches the float64 reference', (shape, offset) => {
    const x = randomTensor(shape, 'f32', 12);
    const y = rope(x, { positionOffset: offset });
    const d = shape[shape.length - 1];
    const want = ropeReference(values(x), shape, offset, exactFreqs(d, 10000));
    const seq = shape[shape.length - 2];
    expect(maxAbsDiff(values(y), want)).toBeLessThanOrEqual(TOL.ropeF32(offset + seq) * maxAbs(values(x)));
    x.dispose();
    y.dispose();
  });

  test.each(['f16', 'bf16'] as FloatDType[])('%s inputs compute in f32 and round the result once', (dtype) => {
    const x = randomTensor([4, 9, 16], dtype, 13);
    const y = rope(x, { positionOffset: 5 });
    expect(y.dtype).toBe(dtype);
    const want = ropeReference(values(x), [4, 9, 16], 5, exactFreqs(16, 10000));
    const u = dtype === 'f16' ? 2 ** -11 : 2 ** -8;
    // |out| <= sqrt(2)·max|x|: one rounding to the dtype plus the f32 error
    expect(maxAbsDiff(values(y), want)).toBeLessThanOrEqual((1.5 * u + TOL.ropeF32(14)) * maxAbs(values(x)));
    x.dispose();
    y.dispose();
  });

  test('d = 2 rotates each pair by its position (theta irrelevant: the one frequency is 1)', () => {
    const x = tensor([[1, 0], [1, 0], [0, 2]], { dtype: 'f64' });
    const y = rope(x, { positionOffset: 1 });
    const got = values(y);
    const want = [Math.cos(1), Math.sin(1), Math.cos(2), Math.sin(2), -2 * Math.sin(3), 2 * Math.cos(3)];
    expect(maxAbsDiff(got, want)).toBeLessThanOrEqual(1e-15);
    x.dispose();
    y.dispose();
  });

  test('strided views: the [1, heads, seq, d] view of a [seq, heads * d] projection', () => {
    const seq = 7, heads = 3, d = 8;
    const proj = randomTensor([seq, heads * d], 'f32', 14);
    const r = proj.reshape([1, seq, heads, d]);
    const view = r.transpose(0, 2, 1, 3);
    const y = rope(view, { positionOffset: 2 });
    expect(y.isContiguous).toBe(true);
    const want = ropeReference(values(view), [1, heads, seq, d], 2, exactFreqs(d, 10000));
    expect(maxAbsDiff(values(y), want)).toBeLessThanOrEqual(TOL.ropeF32(9));
    for (const t of [proj, r, view, y]) t.dispose();
  });

  test('in place (out = x) equals out of place; a sliced out receives only its view', () => {
    const x = randomTensor([2, 5, 6], 'f32', 15);
    const y = rope(x, { theta: 500 });
    const c = x.clone();
    const back = rope(c, { theta: 500, out: c });
    expect(back).toBe(c);
    expect(maxAbsDiff(values(c), values(y))).toBe(0);
    const big = zeros([2, 5, 10]);
    const win = big.slice(null, null, [2, 8]);
    rope(x, { theta: 500, out: win });
    expect(maxAbsDiff(values(win), values(y))).toBe(0);
    const all = values(big);
    for (let i = 0; i < all.length; ++i) if (i % 10 < 2 || i % 10 >= 8) expect(all[i]).toBe(0);
    for (const t of [x, y, c, big, win]) t.dispose();
  });

  test('custom invFreq (e.g. llama3-scaled) is used as given, f32 or f64', () => {
    const x = randomTensor([5, 8], 'f64', 16);
    const f = [1, 0.3, 0.01, 1e-4];
    for (const dtype of ['f32', 'f64'] as const) {
      const inv = tensor(f, { dtype });
      const y = rope(x, { invFreq: inv, positionOffset: 9 });
      expect(maxAbsDiff(values(y), ropeReference(values(x), [5, 8], 9, values(inv)))).toBeLessThanOrEqual(1e-12);
      inv.dispose();
      y.dispose();
    }
    x.dispose();
  });

  test('ropeInverseFrequencies follows HF: 1 / theta^(2i/d) in f32', () => {
    const f = ropeInverseFrequencies(8, 10000);
    expect(Array.from(f)).toEqual([1, Math.fround(0.1), Math.fround(0.01), Math.fround(0.001)]);
  });

  test('empty sequences give empty results', () => {
    const x = zeros([3, 0, 4]);
    const y = rope(x);
    expect(y.shape).toEqual([3, 0, 4]);
    x.dispose();
    y.dispose();
  });

  test('ropeAsync equals rope', async () => {
    const x = randomTensor([2, 33, 16], 'f32', 17);
    const a = rope(x, { positionOffset: 7 });
    const b = await ropeAsync(x, { positionOffset: 7 });
    expect(maxAbsDiff(values(a), values(b))).toBe(0);
    for (const t of [x, a, b]) t.dispose();
  });

  test('bad arguments are coded errors', () => {
    const x = randomTensor([3, 4], 'f32', 18);
    const cases: [() => unknown, string, RegExp][] = [
      [() => rope(randomTensor([4], 'f32', 1)), 'NT_SHAPE', /\[rope\] x must be \[\.\.\., seq, d\]/],
      [() => rope(randomTensor([2, 3], 'f32', 1)), 'NT_SHAPE', /must be even, got 3/],
      [() => rope(tensor([[1, 2]], { dtype: 'i32' })), 'NT_DTYPE', /x must be f32, f64, f16 or bf16, got i32/],
      [() => rope(x, { positionOffset: -1 }), 'NT_VALUE', /positionOffset must be an integer >= 0/],
      [() => rope(x, { positionOffset: 2 ** 24 }), 'NT_VALUE', /below 2\^24/],
      [() => rope(x, { theta: 0 }), 'NT_VALUE', /theta must be a finite number > 0/],
      [() => rope(x, { invFreq: tensor([1, 2, 3]) }), 'NT_SHAPE', /invFreq must have shape \[2\]/],
      [() => rope(x, { invFreq: tensor([1, 2], { dtype: 'i32' }) }), 'NT_DTYPE', /invFreq must be f32 or f64/],
      [() => rope(x, { out: zeros([3, 5]) }), 'NT_SHAPE', /out must have shape \[3,4\], got \[3,5\]/],
      [() => rope(x, { out: zeros([3, 4], 'f64') }), 'NT_DTYPE', /out must be f32/],
    ];
    for (const [fn, code, re] of cases) {
      const e = errorOf(fn);
      expect(e.code).toBe(code);
      expect(e.message).toMatch(re);
    }
    const d = randomTensor([2, 2], 'f32', 2);
    d.dispose();
    expect(errorOf(() => rope(d)).code).toBe('NT_DISPOSED');
    x.dispose();
  });

  test('a failed call writes nothing into out', () => {
    const out = zeros([3, 4]);
    const x = randomTensor([3, 4], 'f32', 19);
    expect(errorOf(() => rope(x, { out, positionOffset: -3 })).code).toBe('NT_VALUE');
    expect(maxAbs(values(out))).toBe(0);
    x.dispose();
    out.dispose();
  });

  test('the native entry point checks its arguments too', () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { native } = require('../../lib/native/loader');
    const x = randomTensor([2, 4], 'f32', 20);
    const inv = tensor([1, 2, 3]);
    const e = errorOf(() => native.rope(x._storage, x._metaArray, inv._storage, inv._metaArray, x._storage, x._metaArray, 0));
    expect(e.code).toBe('NT_SHAPE');
    expect(e.message).toMatch(/^\[rope\] invFreq must have shape \[2\]/);
    x.dispose();
    inv.dispose();
  });

  test('memory returns to baseline', () => {
    const base = memory();
    const x = randomTensor([4, 8, 16], 'f32', 21);
    const y = rope(x, { positionOffset: 3 });
    x.dispose();
    y.dispose();
    expect(memory()).toEqual(base);
  });
});

describe('gatherRows', () => {
  function reference(table: Tensor, ids: number[]): Float64Array {
    const t = values(table);
    const cols = table.shape[1];
    const out = new Float64Array(ids.length * cols);
    ids.forEach((id, r) => out.set(t.subarray(id * cols, (id + 1) * cols), r * cols));
    return out;
  }

  test.each([
    [1, 1, [0]],
    [7, 33, [6, 0, 3, 3, 6]],
    [129, 7, Array.from({ length: 1031 }, (_, i) => (i * 37) % 129)],
  ])('table [%d, %d] picks exactly the rows asked for', (rows, cols, ids) => {
    for (const dtype of ['f32', 'f64', 'f16', 'bf16'] as FloatDType[]) {
      const table = randomTensor([rows, cols], dtype, rows + cols);
      const y = gatherRows(table, ids);
      expect(y.dtype).toBe(dtype);
      expect(y.shape).toEqual([ids.length, cols]);
      expect(maxAbsDiff(values(y), reference(table, ids))).toBe(0);
      table.dispose();
      y.dispose();
    }
  });

  test('strided tables (a transpose), i32 tensor ids (a strided view) and an f16 out', () => {
    const base = randomTensor([9, 5], 'f32', 30);
    const table = base.transpose(); // [5, 9]
    const idsBase = tensor([4, 9, 0, 9, 2, 9], { dtype: 'i32' });
    const ids = idsBase.reshape([3, 2]).transpose().slice([0, 1]).reshape([3]); // [4, 0, 2]
    const y = gatherRows(table, ids);
    expect(maxAbsDiff(values(y), reference(table, [4, 0, 2]))).toBe(0);
    const h = zeros([3, 9], 'f16');
    gatherRows(table, [4, 0, 2], { out: h });
    expect(maxAbsDiff(values(h), values(y))).toBeLessThanOrEqual(2 ** -11);
    for (const t of [base, table, idsBase, ids, y, h]) t.dispose();
  });

  test('no ids give [0, cols]', () => {
    const table = randomTensor([3, 4], 'f32', 31);
    const y = gatherRows(table, []);
    expect(y.shape).toEqual([0, 4]);
    table.dispose();
    y.dispose();
  });

  test('gatherRowsAsync equals gatherRows', async () => {
    const table = randomTensor([50, 17], 'f32', 32);
    const ids = Int32Array.from({ length: 40 }, (_, i) => (i * 13) % 50);
    const a = gatherRows(table, ids);
    const b = await gatherRowsAsync(table, ids);
    expect(maxAbsDiff(values(a), values(b))).toBe(0);
    const e = await asyncErrorOf(gatherRowsAsync(table, [50]));
    expect(e.code).toBe('NT_VALUE');
    for (const t of [table, a, b]) t.dispose();
  });

  test('bad ids and arguments are coded errors; the native side re-checks ids', () => {
    const table = randomTensor([4, 3], 'f32', 33);
    const cases: [() => unknown, string, RegExp][] = [
      [() => gatherRows(table, [0, 4]), 'NT_VALUE', /ids\[1\] = 4 is out of range for a table of 4 rows/],
      [() => gatherRows(table, [-1]), 'NT_VALUE', /ids\[0\] = -1 is out of range/],
      [() => gatherRows(table, [2 ** 32]), 'NT_VALUE', /out of range/],
      [() => gatherRows(table, [1.5]), 'NT_VALUE', /ids\[0\] must be an integer/],
      [() => gatherRows(table, 'x' as never), 'NT_VALUE', /ids must be an i32 Tensor/],
      [() => gatherRows(table, tensor([1], { dtype: 'f32' })), 'NT_DTYPE', /ids must be i32/],
      [() => gatherRows(table, tensor([[1]], { dtype: 'i32' })), 'NT_SHAPE', /ids must be 1-D/],
      [() => gatherRows(randomTensor([4], 'f32', 1), [0]), 'NT_SHAPE', /table must be 2-D/],
      [() => gatherRows(tensor([[1]], { dtype: 'i32' }), [0]), 'NT_DTYPE', /table must be f32, f64, f16 or bf16/],
      [() => gatherRows(table, [0], { out: zeros([2, 3]) }), 'NT_SHAPE', /out must have shape \[1,3\], got \[2,3\]/],
      [() => gatherRows(table, [0], { out: zeros([1, 3], 'f64') }), 'NT_DTYPE', /out must be in table's float family/],
    ];
    for (const [fn, code, re] of cases) {
      const e = errorOf(fn);
      expect(e.code).toBe(code);
      expect(e.message).toMatch(re);
    }
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { native } = require('../../lib/native/loader');
    const ids = tensor([1, 7], { dtype: 'i32' });
    const out = zeros([2, 3]);
    const e = errorOf(() => native.gatherRows(table._storage, table._metaArray, ids._storage, ids._metaArray, out._storage, out._metaArray));
    expect(e.code).toBe('NT_VALUE');
    expect(e.message).toMatch(/^\[gatherRows\] ids\[1\] = 7 is out of range/);
    for (const t of [table, ids, out]) t.dispose();
  });

  test('memory returns to baseline', () => {
    const base = memory();
    const table = randomTensor([10, 4], 'f32', 34);
    gatherRows(table, [1, 2, 3]).dispose();
    gatherRows(table, Int32Array.of(9)).dispose();
    table.dispose();
    expect(memory()).toEqual(base);
  });
});
