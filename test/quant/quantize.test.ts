// nt.quant.quantize (RTN) and nt.quant.dequantize: the grid against an exact float32
// emulation of group_quant.h, the error bound, representable grids, constant groups, odd and
// empty shapes, strided and f16/bf16/f64 inputs, gIdx, { out }, errors, async twins, memory.
import * as nt from '../../lib';
import {
  FloatDType,
  TOL,
  expectCode,
  expectRejects,
  randomTensor,
  refRtn,
  unpackCodes,
  values,
} from './helpers';

const BITS = [2, 3, 4, 8] as const;
const GROUPS = [32, 64, 128, 'row'] as const;

function scalesOf(q: nt.quant.QTensor): Float64Array {
  return values(q.scales);
}

/** Checks q against the reference grid of w (row-major f32 values) and the error bound. */
function checkAgainstReference(w: nt.Tensor, q: nt.quant.QTensor, symmetric: boolean, f16: boolean): void {
  const [rows, cols] = w.shape;
  const wv = values(w);
  const ref = refRtn(wv, rows, cols, q.bits, q.groupSize, symmetric, f16);
  expect(Array.from(unpackCodes(q))).toEqual(Array.from(ref.codes));
  expect(Array.from(scalesOf(q))).toEqual(Array.from(ref.scales));
  expect(Array.from(q.zeros.data as Uint8Array)).toEqual(Array.from(ref.zeros));
  const d = nt.quant.dequantize(q);
  try {
    const dv = values(d);
    const maxq = 2 ** q.bits - 1;
    const bad: string[] = [];
    for (let r = 0; r < rows; ++r)
      for (let c = 0; c < cols; ++c) {
        const g = Math.floor(c / q.groupSize);
        const s = ref.scales[r * ref.groups + g];
        const i = r * cols + c;
        // dequantization is exactly scale · (q − zero) in f32
        if (dv[i] !== Math.fround(s * (ref.codes[i] - ref.zeros[r * ref.groups + g]))) bad.push(`value at [${r}, ${c}]`);
        const bound = TOL.stepFraction * s + (f16 ? TOL.f16Clip * maxq * s : 0) + TOL.atol;
        if (!(Math.abs(dv[i] - Math.fround(wv[i])) <= bound)) bad.push(`error at [${r}, ${c}] above ${bound}`);
      }
    expect(bad).toEqual([]);
  } finally {
    d.dispose();
  }
}

describe('nt.quant.quantize (rtn) + dequantize', () => {
  const base = nt.memory();
  afterAll(() => expect(nt.memory()).toEqual(base));

  it('match the float32 grid of group_quant.h for every bits / groupSize / symmetric / scaleDtype', () => {
    const w = randomTensor([7, 129], 'f32', 11, -1.5, 0.7);
    for (const bits of BITS)
      for (const groupSize of GROUPS)
        for (const symmetric of [false, true])
          for (const scaleDtype of ['f16', 'f32'] as const) {
            const q = nt.quant.quantize(w, { bits, groupSize, symmetric, scaleDtype });
            expect(q.bits).toBe(bits);
            expect(q.groupSize).toBe(groupSize === 'row' ? 129 : groupSize);
            expect(q.symmetric).toBe(symmetric);
            expect(q.scales.dtype).toBe(scaleDtype);
            expect(q.gIdx).toBeNull();
            expect(q.codes.shape).toEqual([7, bits === 8 ? 129 : 65]);
            checkAgainstReference(w, q, symmetric, scaleDtype === 'f16');
            q.dispose();
          }
    w.dispose();
  });

  it('defaults to 4 bits, groups of 128, asymmetric, f16 scales', () => {
    const w = randomTensor([3, 200], 'f32', 2);
    const q = nt.quant.quantize(w);
    expect([q.bits, q.groupSize, q.symmetric, q.scales.dtype, q.groups]).toEqual([4, 128, false, 'f16', 2]);
    checkAgainstReference(w, q, false, true);
    q.dispose();
    w.dispose();
  });

  it('handle odd sizes (partial last group) and empty weights', () => {
    for (const rows of [1, 7, 33, 129])
      for (const cols of [1, 7, 33, 129]) {
        const w = randomTensor([rows, cols], 'f32', rows * 1000 + cols);
        const q = nt.quant.quantize(w, { bits: 3, groupSize: 32, scaleDtype: 'f32' });
        expect(q.groups).toBe(Math.ceil(cols / 32));
        checkAgainstReference(w, q, false, false);
        q.dispose();
        w.dispose();
      }
    for (const shape of [[0, 5], [3, 0], [0, 0]]) {
      const w = nt.zeros(shape);
      const q = nt.quant.quantize(w, { groupSize: 'row' });
      const d = nt.quant.dequantize(q);
      expect(d.shape).toEqual(shape);
      d.dispose();
      q.dispose();
      w.dispose();
    }
  });

  it('reproduce representable grids exactly (asymmetric: codes and dequantized values)', () => {
    for (const bits of BITS) {
      const maxq = 2 ** bits - 1;
      const rows = 5;
      const cols = 96;
      const gs = 32;
      const codes = new Int32Array(rows * cols);
      const w = new Float32Array(rows * cols);
      for (let r = 0; r < rows; ++r)
        for (let g = 0; g < cols / gs; ++g) {
          const scale = 2 ** -(r + g + 3); // exact in f16 and f32
          const zero = (r * 7 + g * 3) % (maxq + 1);
          for (let j = 0; j < gs; ++j) {
            const c = g * gs + j;
            // codes 0 and maxq present so min/max define the grid
            const code = j === 0 ? 0 : j === 1 ? maxq : (r * 31 + c * 17) % (maxq + 1);
            codes[r * cols + c] = code;
            w[r * cols + c] = scale * (code - zero);
          }
        }
      const wt = nt.tensor(w, { shape: [rows, cols] });
      for (const scaleDtype of ['f16', 'f32'] as const) {
        const q = nt.quant.quantize(wt, { bits, groupSize: gs, scaleDtype });
        expect(Array.from(unpackCodes(q))).toEqual(Array.from(codes));
        const d = nt.quant.dequantize(q);
        expect(Array.from(d.data as Float32Array)).toEqual(Array.from(w));
        d.dispose();
        q.dispose();
      }
      wt.dispose();
    }
  });

  it('guard constant and all-zero groups', () => {
    const w = nt.tensor(
      [
        [0, 0, 0, 0, 0.75, 0.75, 0.75, 0.75],
        [-0.5, -0.5, -0.5, -0.5, 0, 0, 0, 0],
      ],
      { dtype: 'f32' },
    );
    for (const symmetric of [false, true])
      for (const bits of BITS) {
        const q = nt.quant.quantize(w, { bits, groupSize: 32, symmetric, scaleDtype: 'f32' });
        // groups of 32 > 8 columns: one partial group per row containing 0 and the constant
        checkAgainstReference(w, q, symmetric, false);
        q.dispose();
      }
    const z = nt.zeros([3, 64]);
    for (const symmetric of [false, true]) {
      const q = nt.quant.quantize(z, { groupSize: 32, symmetric });
      expect(Array.from(values(q.scales))).toEqual([1, 1, 1, 1, 1, 1]);
      const zero = symmetric ? 8 : 0;
      expect(Array.from(q.zeros.data as Uint8Array)).toEqual(new Array(6).fill(zero));
      expect(Array.from(unpackCodes(q)).every((c) => c === zero)).toBe(true);
      const d = nt.quant.dequantize(q);
      expect(Array.from(d.data as Float32Array).every((v) => v === 0)).toBe(true);
      d.dispose();
      q.dispose();
    }
    const c = nt.full([2, 32], -0.25);
    const q = nt.quant.quantize(c, { groupSize: 32 });
    checkAgainstReference(c, q, false, true);
    q.dispose();
    c.dispose();
    z.dispose();
    w.dispose();
  });

  it('read strided views and f16 / bf16 / f64 inputs like their f32 contiguous copies', () => {
    const opts = { bits: 4, groupSize: 32, symmetric: false } as const;
    const same = (a: nt.quant.QTensor, b: nt.quant.QTensor) => {
      expect(Array.from(a.codes.data as Uint8Array)).toEqual(Array.from(b.codes.data as Uint8Array));
      expect(Array.from(values(a.scales))).toEqual(Array.from(values(b.scales)));
      expect(Array.from(a.zeros.data as Uint8Array)).toEqual(Array.from(b.zeros.data as Uint8Array));
    };
    const base = randomTensor([129, 33], 'f32', 5);
    const t = base.transpose(1, 0); // [33, 129], strides [1, 33]
    const s = base.slice([1, 128], [3, 10]); // rows of stride 33, 7 columns
    for (const v of [t, s]) {
      const c = v.clone();
      const a = nt.quant.quantize(v, opts);
      const b = nt.quant.quantize(c, opts);
      same(a, b);
      a.dispose();
      b.dispose();
      c.dispose();
    }
    for (const dtype of ['f16', 'bf16', 'f64'] as FloatDType[]) {
      const w = randomTensor([7, 129], dtype, 9);
      const t1 = w.transpose(1, 0);
      const t2 = t1.clone();
      const wt = t2.transpose(1, 0); // strided view of the same values
      [t1, t2].forEach((x) => x.dispose());
      const f = w.astype('f32');
      const a = nt.quant.quantize(w, opts);
      const b = nt.quant.quantize(f, opts);
      const c = nt.quant.quantize(wt, opts);
      same(a, b);
      same(c, b);
      [a, b, c, f, wt, w].forEach((x) => x.dispose());
    }
    [t, s, base].forEach((x) => x.dispose());
  });

  it('dequantize honours gIdx and writes into { out } (any strides)', () => {
    const rows = 3;
    const cols = 10;
    const gs = 4;
    const groups = 3;
    const codeBytes = new Uint8Array(rows * 5);
    for (let i = 0; i < codeBytes.length; ++i) codeBytes[i] = (i * 37 + 11) & 0xff;
    const scales = nt.tensor(Float32Array.from({ length: rows * groups }, (_, i) => 0.5 + i), { shape: [rows, groups] });
    const zeros = nt.tensor(Uint8Array.from({ length: rows * groups }, (_, i) => i % 16), { shape: [rows, groups] });
    const gIdxValues = [2, 0, 1, 1, 2, 0, 0, 2, 1, 0];
    const gIdx = nt.tensor(Int32Array.from(gIdxValues), { shape: [cols] });
    const codes = nt.tensor(codeBytes, { shape: [rows, 5], dtype: 'u8' });
    const q = new nt.quant.QTensor({ codes, scales, zeros, gIdx, shape: [rows, cols], bits: 4, groupSize: gs, symmetric: false });
    const want: number[] = [];
    for (let r = 0; r < rows; ++r)
      for (let c = 0; c < cols; ++c) {
        const b = codeBytes[r * 5 + (c >> 1)];
        const code = c & 1 ? b >> 4 : b & 15;
        const g = gIdxValues[c];
        want.push(Math.fround((0.5 + r * groups + g) * (code - ((r * groups + g) % 16))));
      }
    const d = nt.quant.dequantize(q);
    expect(Array.from(d.data as Float32Array)).toEqual(want);
    const buf = nt.zeros([cols, rows]);
    const out = buf.transpose(1, 0);
    expect(nt.quant.dequantize(q, { out })).toBe(out);
    expect(Array.from(values(out))).toEqual(want);
    [out, buf, d].forEach((x) => x.dispose());
    q.dispose();
    expect(codes.isDisposed && scales.isDisposed && zeros.isDisposed && gIdx.isDisposed).toBe(true);
  });

  it('dequantize groups that start mid-byte (odd group sizes from imported layouts)', () => {
    for (const bits of [2, 3, 4, 8] as const) {
      const rows = 2;
      const cols = 11;
      const gs = 3;
      const groups = 4;
      const rb = bits === 8 ? cols : 6;
      const maxq = 2 ** bits - 1;
      const codeBytes = Uint8Array.from({ length: rows * rb }, (_, i) => (i * 53 + 7) & (bits === 8 ? 0xff : (maxq << 4) | maxq));
      const scaleValues = Float32Array.from({ length: rows * groups }, (_, i) => 0.25 * (i + 1));
      const zeroValues = Uint8Array.from({ length: rows * groups }, (_, i) => (i * 3) & maxq);
      const q = new nt.quant.QTensor({
        codes: nt.tensor(codeBytes.slice(), { shape: [rows, rb], dtype: 'u8' }),
        scales: nt.tensor(scaleValues.slice(), { shape: [rows, groups] }),
        zeros: nt.tensor(zeroValues.slice(), { shape: [rows, groups] }),
        shape: [rows, cols],
        bits,
        groupSize: gs,
        symmetric: false,
      });
      const want: number[] = [];
      for (let r = 0; r < rows; ++r)
        for (let c = 0; c < cols; ++c) {
          const b = codeBytes[r * rb + (bits === 8 ? c : c >> 1)];
          const code = bits === 8 ? b : c & 1 ? b >> 4 : b & 15;
          const g = Math.floor(c / gs);
          want.push(Math.fround(scaleValues[r * groups + g] * (code - zeroValues[r * groups + g])));
        }
      const d = nt.quant.dequantize(q);
      expect(Array.from(d.data as Float32Array)).toEqual(want);
      const buf = nt.zeros([cols, rows]);
      const out = buf.transpose(1, 0);
      nt.quant.dequantize(q, { out });
      expect(Array.from(values(out))).toEqual(want);
      [d, out, buf].forEach((x) => x.dispose());
      q.dispose();
    }
  });

  it('refuse NaN / Inf weights and f16 scale overflow with NT_VALUE', () => {
    for (const bad of [NaN, Infinity, -Infinity]) {
      const w = nt.tensor([[1, 2, 3], [4, bad, 6]], { dtype: 'f32' });
      expectCode(() => nt.quant.quantize(w), 'NT_VALUE', /^\[quant\.quantize\] w must be finite.*w\[1, 1\]/);
      w.dispose();
    }
    const big = nt.tensor([[-1e6, 1e6]], { dtype: 'f32' });
    expectCode(() => nt.quant.quantize(big), 'NT_VALUE', /\[quant\.quantize\] the scale of row 0, group 0 overflows f16/);
    const q = nt.quant.quantize(big, { scaleDtype: 'f32' });
    q.dispose();
    const huge = nt.tensor([[1e300, 0]], { dtype: 'f64' });
    expectCode(() => nt.quant.quantize(huge), 'NT_VALUE', /finite \(in f32\)/);
    [big, huge].forEach((x) => x.dispose());
  });

  it('refuse bad options, shapes, dtypes and disposed inputs with coded errors', () => {
    const w = randomTensor([4, 64], 'f32', 1);
    const op = /^\[quant\.quantize\]/;
    expectCode(() => nt.quant.quantize(w, { bits: 5 as never }), 'NT_VALUE', /\[quant\.quantize\] bits must be 2, 3, 4 or 8/);
    expectCode(() => nt.quant.quantize(w, { groupSize: 16 as never }), 'NT_VALUE', /groupSize must be 32, 64, 128 or 'row'/);
    expectCode(() => nt.quant.quantize(w, { groupSize: 'rows' as never }), 'NT_VALUE', op);
    expectCode(() => nt.quant.quantize(w, { symmetric: 1 as never }), 'NT_VALUE', /symmetric must be a boolean/);
    expectCode(() => nt.quant.quantize(w, { scaleDtype: 'bf16' as never }), 'NT_VALUE', /scaleDtype must be 'f16' or 'f32'/);
    expectCode(() => nt.quant.quantize(w, { method: 'awq' as never }), 'NT_VALUE', /method must be 'rtn' or 'gptq'/);
    expectCode(() => nt.quant.quantize(w, { actOrder: true }), 'NT_VALUE', /actOrder is only used by method 'gptq'/);
    expectCode(() => nt.quant.quantize(w, 4 as never), 'NT_VALUE', /options must be an object/);
    expectCode(() => nt.quant.quantize([1, 2] as never), 'NT_VALUE', /w must be a Tensor/);
    const v = nt.zeros([8]);
    expectCode(() => nt.quant.quantize(v), 'NT_SHAPE', /w must be 2-D/);
    const i = nt.zeros([2, 8], 'i32');
    expectCode(() => nt.quant.quantize(i), 'NT_DTYPE', /w must be f32, f64, f16 or bf16, got i32/);
    const d = nt.zeros([2, 8]);
    d.dispose();
    expectCode(() => nt.quant.quantize(d), 'NT_DISPOSED', op);
    const q = nt.quant.quantize(w);
    const dq = /^\[quant\.dequantize\]/;
    expectCode(() => nt.quant.dequantize(w as never), 'NT_VALUE', /q must be a QTensor/);
    const wrongShape = nt.zeros([4, 63]);
    expectCode(() => nt.quant.dequantize(q, { out: wrongShape }), 'NT_SHAPE', dq);
    const wrongType = nt.zeros([4, 64], 'f64');
    expectCode(() => nt.quant.dequantize(q, { out: wrongType }), 'NT_DTYPE', dq);
    expectCode(() => nt.quant.dequantize(q, { out: d }), 'NT_DISPOSED', dq);
    q.scales.dispose(); // a part disposed behind the QTensor's back
    expectCode(() => nt.quant.dequantize(q), 'NT_DISPOSED', /q\.scales/);
    q.dispose();
    expectCode(() => nt.quant.dequantize(q), 'NT_DISPOSED', /\[quant\.dequantize\] q \(QTensor\) was disposed/);
    [w, v, i, wrongShape, wrongType].forEach((x) => x.dispose());
  });

  it('refuse inconsistent parts in the native layer (direct calls cannot corrupt memory)', () => {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const { native } = require('../../lib/native/loader');
    const codes = nt.zeros([2, 4], 'u8');
    const scales = nt.zeros([2, 1]);
    const zeros = nt.zeros([2, 1], 'u8');
    const out = nt.zeros([2, 8]);
    const gIdx = nt.tensor(Int32Array.from([0, 0, 0, 5, 0, 0, 0, 0]));
    const call = (g: nt.Tensor | null, bits: number, gs: number) =>
      native.quantDequantize(
        codes._storage, codes._metaArray, scales._storage, scales._metaArray, zeros._storage, zeros._metaArray,
        g ? g._storage : null, g ? g._metaArray : null, out._storage, out._metaArray, bits, gs,
      );
    expectCode(() => call(gIdx, 4, 8), 'NT_VALUE', /\[quant\.dequantize\] gIdx\[3\] = 5 is outside \[0, 1\)/);
    expectCode(() => call(null, 8, 8), 'NT_SHAPE', /codes must have shape \[2,8\]/);
    expectCode(() => call(null, 4, 4), 'NT_SHAPE', /scales must have shape \[2,2\]/);
    expectCode(() => call(null, 6, 8), 'NT_VALUE', /bits must be 2, 3, 4 or 8/);
    expect(() => call(null, 4, 8)).not.toThrow();
    [codes, scales, zeros, out, gIdx].forEach((x) => x.dispose());
  });

  it('async twins equal the sync forms; argument errors reject', async () => {
    const w = randomTensor([33, 129], 'bf16', 4);
    const a = nt.quant.quantize(w, { bits: 3, groupSize: 64, symmetric: true });
    const b = await nt.quant.quantizeAsync(w, { bits: 3, groupSize: 64, symmetric: true });
    expect(Array.from(b.codes.data as Uint8Array)).toEqual(Array.from(a.codes.data as Uint8Array));
    expect(Array.from(values(b.scales))).toEqual(Array.from(values(a.scales)));
    expect(Array.from(b.zeros.data as Uint8Array)).toEqual(Array.from(a.zeros.data as Uint8Array));
    const da = nt.quant.dequantize(a);
    const db = await nt.quant.dequantizeAsync(b);
    expect(Array.from(db.data as Float32Array)).toEqual(Array.from(da.data as Float32Array));
    await expectRejects(nt.quant.quantizeAsync(w, { bits: 7 as never }), 'NT_VALUE', /\[quant\.quantize\] bits/);
    const nan = nt.tensor([[NaN, 1]]);
    await expectRejects(nt.quant.quantizeAsync(nan), 'NT_VALUE', /\[quant\.quantize\] w must be finite/);
    b.dispose();
    await expectRejects(nt.quant.dequantizeAsync(b), 'NT_DISPOSED', /\[quant\.dequantize\]/);
    [a, da, db, w, nan].forEach((x) => x.dispose());
  });

  it("method 'gptq' dispatches to nt.quant.gptq with the same options and errors", async () => {
    const cols = 32;
    const n = 64;
    const xt = randomTensor([n, cols], 'f32', 31);
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
    const w = randomTensor([8, cols], 'f32', 32);
    const opts = { bits: 4, groupSize: 32, actOrder: true } as const;
    const a = nt.quant.quantize(w, { ...opts, method: 'gptq', hessian });
    const b = nt.quant.gptq(w, { ...opts, hessian });
    const c = await nt.quant.quantizeAsync(w, { ...opts, method: 'gptq', hessian });
    for (const other of [b, c]) {
      expect(Array.from(other.codes.data as Uint8Array)).toEqual(Array.from(a.codes.data as Uint8Array));
      expect(Array.from(values(other.scales))).toEqual(Array.from(values(a.scales)));
      expect(other.gIdx === null).toBe(a.gIdx === null);
    }
    expectCode(() => nt.quant.quantize(w, { method: 'gptq' }), 'NT_VALUE', /^\[quant\.quantize\] needs hessian/);
    await expectRejects(nt.quant.quantizeAsync(w, { method: 'gptq' }), 'NT_VALUE', /^\[quant\.quantize\]/);
    [a, b, c].forEach((q) => q.dispose());
    [hessian, w].forEach((t) => t.dispose());
  });

  it('reports bytes and returns memory to baseline after dispose', () => {
    const before = nt.memory();
    const w = randomTensor([16, 256], 'f32', 8);
    const q = nt.quant.quantize(w, { bits: 4, groupSize: 128 });
    expect(q.bytes).toBe(16 * 128 + 16 * 2 * 2 + 16 * 2);
    const d = nt.quant.dequantize(q);
    q.dispose();
    d.dispose();
    w.dispose();
    expect(nt.memory()).toEqual(before);
  });
});
