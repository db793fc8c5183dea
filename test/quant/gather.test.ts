// nt.quant.gatherRows (a quantized embedding lookup): every row equals that row of
// nt.quant.dequantize bit for bit, for every bit width, f16/f32 scales, gIdx, odd column
// counts and groups starting mid-byte; out dtypes convert as nt.gatherRows converts; ids in
// every accepted form; errors by code (native-layer errors included); async twin; memory.
import * as nt from '../../lib';
import { expectCode, expectRejects, randomTensor, values } from './helpers';

const BITS = [2, 3, 4, 8] as const;
const COLS = [1, 7, 33, 129] as const;

/** Rows `ids` of the row-major [rows, cols] values v. */
function pickRows(v: ArrayLike<number>, cols: number, ids: ArrayLike<number>): number[] {
  const out: number[] = [];
  for (let i = 0; i < ids.length; ++i) for (let c = 0; c < cols; ++c) out.push(v[ids[i] * cols + c]);
  return out;
}

/** Positions where got and want differ (as strings, so a failure shows expected vs received). */
function mismatches(got: ArrayLike<number>, want: ArrayLike<number>): string[] {
  const bad: string[] = [];
  if (got.length !== want.length) return [`length ${got.length} vs ${want.length}`];
  for (let i = 0; i < got.length && bad.length < 5; ++i)
    if (!Object.is(got[i], want[i])) bad.push(`[${i}]: got ${got[i]}, want ${want[i]}`);
  return bad;
}

/**
 * A QTensor with arbitrary (in-range) codes, positive scales and zeros, and optionally a gIdx
 * permuting the groups: covers layouts RTN never makes (odd groups, act-order).
 */
function syntheticQ(rows: number, cols: number, bits: 2 | 3 | 4 | 8, gs: number, scaleDtype: 'f16' | 'f32', gIdx?: number[]): nt.quant.QTensor {
  const groups = Math.ceil(cols / gs);
  const rb = nt.quant.QTensor.codeRowBytes(cols, bits);
  const maxq = 2 ** bits - 1;
  const mask = bits === 8 ? 0xff : (maxq << 4) | maxq;
  const codes = Uint8Array.from({ length: rows * rb }, (_, i) => (i * 97 + 13) & mask);
  const scales = Float32Array.from({ length: rows * groups }, (_, i) => 0.01 + ((i * 7919) % 101) / 37);
  const zeros = Uint8Array.from({ length: rows * groups }, (_, i) => (i * 5 + 1) & maxq);
  const s32 = nt.tensor(scales, { shape: [rows, groups] });
  const s = scaleDtype === 'f32' ? s32 : s32.astype('f16');
  if (s !== s32) s32.dispose();
  return new nt.quant.QTensor({
    codes: nt.tensor(codes, { shape: [rows, rb], dtype: 'u8' }),
    scales: s,
    zeros: nt.tensor(zeros, { shape: [rows, groups] }),
    gIdx: gIdx ? nt.tensor(Int32Array.from(gIdx), { shape: [cols] }) : null,
    shape: [rows, cols],
    bits,
    groupSize: gs,
    symmetric: false,
  });
}

/** Expects gatherRows(q, ids) to equal rows ids of dequantize(q), exactly. */
function expectRowsOfDequantize(q: nt.quant.QTensor, ids: number[]): void {
  const full = nt.quant.dequantize(q);
  const got = nt.quant.gatherRows(q, ids);
  try {
    expect(got.dtype).toBe('f32');
    expect(got.shape).toEqual([ids.length, q.shape[1]]);
    expect(mismatches(values(got), pickRows(values(full), q.shape[1], ids))).toEqual([]);
  } finally {
    full.dispose();
    got.dispose();
  }
}

describe('nt.quant.gatherRows', () => {
  const base = nt.memory();
  afterAll(() => expect(nt.memory()).toEqual(base));

  it('equals dequantize-then-pick bit for bit for every bits, scale dtype and odd column count (RTN tables)', () => {
    for (const cols of COLS) {
      const w = randomTensor([11, cols], 'f32', cols, -2, 1.5);
      for (const bits of BITS)
        for (const scaleDtype of ['f16', 'f32'] as const)
          for (const groupSize of [32, 'row'] as const) {
            const q = nt.quant.quantize(w, { bits, groupSize, scaleDtype, symmetric: bits !== 3 });
            expectRowsOfDequantize(q, [10, 0, 3, 3, 7, 10, 1]);
            q.dispose();
          }
      w.dispose();
    }
  });

  it('honours gIdx and groups that start mid-byte, for every bits and scale dtype', () => {
    const cols = 33;
    const gs = 5; // 7 groups, odd: groups start on either nibble
    const gIdx = Array.from({ length: cols }, (_, c) => (c * 3 + 2) % 7);
    for (const bits of BITS)
      for (const scaleDtype of ['f16', 'f32'] as const)
        for (const g of [undefined, gIdx]) {
          const q = syntheticQ(6, cols, bits, gs, scaleDtype, g);
          expectRowsOfDequantize(q, [5, 4, 0, 2, 5]);
          q.dispose();
        }
  });

  it('writes f16, bf16 and f64 outputs converted as nt.gatherRows converts an f32 table', () => {
    const q = syntheticQ(9, 129, 4, 32, 'f16');
    const ids = [8, 1, 1, 4];
    const table = nt.quant.dequantize(q);
    for (const dtype of ['f16', 'bf16'] as const) {
      const out = nt.zeros([ids.length, 129], dtype);
      const want = nt.gatherRows(table, ids, { out: nt.zeros([ids.length, 129], dtype) });
      expect(nt.quant.gatherRows(q, ids, { out })).toBe(out);
      expect(mismatches(values(out), values(want))).toEqual([]);
      [out, want].forEach((x) => x.dispose());
    }
    // f64: the f32 values widened exactly (nt.gatherRows keeps f64 apart from the f32 family)
    const wide = nt.zeros([ids.length, 129], 'f64');
    expect(nt.quant.gatherRows(q, ids, { out: wide })).toBe(wide);
    expect(mismatches(values(wide), pickRows(values(table), 129, ids))).toEqual([]);
    [wide, table].forEach((x) => x.dispose());
    q.dispose();
  });

  it('writes into a strided { out } and takes ids as number[], Int32Array or an i32 Tensor (a view at an offset too)', () => {
    const q = syntheticQ(7, 33, 3, 32, 'f32');
    const ids = [6, 0, 2];
    const full = nt.quant.dequantize(q);
    const want = pickRows(values(full), 33, ids);
    const buf = nt.zeros([33, ids.length]);
    const out = buf.transpose(1, 0);
    expect(nt.quant.gatherRows(q, ids, { out })).toBe(out);
    expect(mismatches(values(out), want)).toEqual([]);
    const fromTyped = nt.quant.gatherRows(q, Int32Array.from(ids));
    const idsBase = nt.tensor(Int32Array.from([-1, 6, 0, 2, -1]));
    const idsView = idsBase.slice([1, 4]); // a view at an offset
    const fromTensor = nt.quant.gatherRows(q, idsView);
    expect(mismatches(values(fromTyped), want)).toEqual([]);
    expect(mismatches(values(fromTensor), want)).toEqual([]);
    const none = nt.quant.gatherRows(q, []);
    expect(none.shape).toEqual([0, 33]);
    [full, buf, out, fromTyped, idsBase, idsView, fromTensor, none].forEach((x) => x.dispose());
    q.dispose();
  });

  it('splits many ids over the thread pool with the same result as row-by-row gathers', () => {
    const q = syntheticQ(50, 129, 4, 32, 'f16');
    const ids = Array.from({ length: 3001 }, (_, i) => (i * 31 + 7) % 50);
    const all = nt.quant.gatherRows(q, ids);
    const full = nt.quant.dequantize(q);
    expect(mismatches(values(all), pickRows(values(full), 129, ids))).toEqual([]);
    [all, full].forEach((x) => x.dispose());
    q.dispose();
  });

  it('the async twin equals the sync form', async () => {
    const q = syntheticQ(12, 65, 2, 32, 'f32', Array.from({ length: 65 }, (_, c) => (c * 5) % 3));
    const ids = [11, 0, 5, 5];
    const a = nt.quant.gatherRows(q, ids);
    const b = await nt.quant.gatherRowsAsync(q, Int32Array.from(ids));
    expect(mismatches(values(b), values(a))).toEqual([]);
    [a, b].forEach((x) => x.dispose());
    q.dispose();
  });

  it('refuses bad ids, outputs and tables with coded errors naming the op', () => {
    const q = syntheticQ(4, 8, 4, 4, 'f32');
    const op = /\[quant\.gatherRows\]/;
    expectCode(() => nt.quant.gatherRows(q, [0, 1, 4]), 'NT_VALUE', /\[quant\.gatherRows\] ids\[2\] = 4 is out of range for a table of 4 rows/);
    expectCode(() => nt.quant.gatherRows(q, [-1]), 'NT_VALUE', /ids\[0\] = -1 is out of range/);
    expectCode(() => nt.quant.gatherRows(q, [2 ** 32]), 'NT_VALUE', /ids\[0\] = 4294967296 is out of range/);
    expectCode(() => nt.quant.gatherRows(q, [0, 1.5]), 'NT_VALUE', /ids\[1\] must be an integer/);
    expectCode(() => nt.quant.gatherRows(q, 'abc' as never), 'NT_VALUE', op);
    const idsF32 = nt.tensor([0, 1]);
    expectCode(() => nt.quant.gatherRows(q, idsF32), 'NT_DTYPE', /ids must be i32, got f32/);
    const ids2d = nt.tensor(Int32Array.from([0, 1, 2, 3]), { shape: [2, 2] });
    expectCode(() => nt.quant.gatherRows(q, ids2d), 'NT_SHAPE', /ids must be 1-D/);
    const badIds = nt.tensor(Int32Array.from([1, 9]));
    expectCode(() => nt.quant.gatherRows(q, badIds), 'NT_VALUE', /ids\[1\] = 9 is out of range/);
    const wrongShape = nt.zeros([2, 7]);
    expectCode(() => nt.quant.gatherRows(q, [0, 1], { out: wrongShape }), 'NT_SHAPE', op);
    const wrongType = nt.zeros([2, 8], 'i32');
    expectCode(() => nt.quant.gatherRows(q, [0, 1], { out: wrongType }), 'NT_DTYPE', /out must be f32, f16, bf16 or f64, got i32/);
    expectCode(() => nt.quant.gatherRows(q, [0], 3 as never), 'NT_VALUE', op);
    expectCode(() => nt.quant.gatherRows(idsF32 as never, [0]), 'NT_VALUE', /q must be a QTensor/);
    q.dispose();
    expectCode(() => nt.quant.gatherRows(q, [0]), 'NT_DISPOSED', /\[quant\.gatherRows\] q \(QTensor\) was disposed/);
    [idsF32, ids2d, badIds, wrongShape, wrongType].forEach((x) => x.dispose());
  });

  it('rejects the same errors from the async twin', async () => {
    const q = syntheticQ(4, 8, 8, 4, 'f16');
    await expectRejects(nt.quant.gatherRowsAsync(q, [7]), 'NT_VALUE', /ids\[0\] = 7 is out of range/);
    const wrongShape = nt.zeros([1, 9]);
    await expectRejects(nt.quant.gatherRowsAsync(q, [0], { out: wrongShape }), 'NT_SHAPE', /quant\.gatherRows/);
    wrongShape.dispose();
    q.dispose();
  });

  it('checks ids, out and the parts again in the native layer (direct calls cannot read outside the table)', () => {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const { native } = require('../../lib/native/loader');
    const q = syntheticQ(3, 8, 4, 4, 'f32');
    const call = (ids: nt.Tensor, out: nt.Tensor, gIdx: nt.Tensor | null = null, bits = 4, cols = 8) =>
      native.quantGatherRows(
        q.codes._storage, q.codes._metaArray, q.scales._storage, q.scales._metaArray, q.zeros._storage, q.zeros._metaArray,
        gIdx ? gIdx._storage : null, gIdx ? gIdx._metaArray : null, ids._storage, ids._metaArray, out._storage, out._metaArray,
        bits, 4, cols,
      );
    const ok = nt.tensor(Int32Array.from([2, 0]));
    const far = nt.tensor(Int32Array.from([0, 3]));
    const out = nt.zeros([2, 8]);
    const outI32 = nt.zeros([2, 8], 'i32');
    const outShort = nt.zeros([1, 8]);
    const gBad = nt.tensor(Int32Array.from([0, 0, 1, 1, 2, 0, 0, 0]));
    expectCode(() => call(far, out), 'NT_VALUE', /\[quant\.gatherRows\] ids\[1\] = 3 is out of range for a table of 3 rows/);
    expectCode(() => call(ok, outI32), 'NT_DTYPE', /out must be f32, f16, bf16 or f64/);
    expectCode(() => call(ok, outShort), 'NT_SHAPE', /out must have shape \[2,8\], got \[1,8\]/);
    expectCode(() => call(ok, out, gBad), 'NT_VALUE', /gIdx\[4\] = 2 is outside \[0, 2\)/);
    expectCode(() => call(ok, out, null, 8), 'NT_SHAPE', /codes must have shape \[3,8\]/);
    expectCode(() => call(ok, out, null, 5), 'NT_VALUE', /bits must be 2, 3, 4 or 8/);
    expect(() => call(ok, out)).not.toThrow();
    [ok, far, out, outI32, outShort, gBad].forEach((x) => x.dispose());
    q.dispose();
  });
});
