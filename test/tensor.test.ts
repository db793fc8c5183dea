import { inspect } from 'util';
import * as nt from '../lib';
import { bf16Decode, errorOf, f16Decode, stridedIndices, uniform } from './helpers/reference';

describe('creation', () => {
  it('wraps a TypedArray without copying', () => {
    const data = new Float32Array([1, 2, 3, 4, 5, 6]);
    const t = nt.tensor(data, { shape: [2, 3] });
    expect(t.dtype).toBe('f32');
    expect(t.shape).toEqual([2, 3]);
    data[4] = 42;
    expect(t.get(1, 1)).toBe(42);
    expect(t.data.buffer).toBe(data.buffer);
    t.dispose();
  });

  it('reads Uint16Array as f16 or bf16 bits and Uint8Array as packed 4-bit', () => {
    const h = nt.tensor(new Uint16Array([0x3c00, 0xc000]));
    expect(h.dtype).toBe('f16');
    expect(h.toArray()).toEqual([1, -2]);
    expect(nt.tensor(new Uint16Array([0x3f80]), { dtype: 'bf16' }).toArray()).toEqual([1]);
    const q = nt.tensor(new Uint8Array([0x21, 0xf3]), { dtype: 'u4' });
    expect(q.shape).toEqual([4]);
    expect(q.toArray()).toEqual([1, 2, 3, 15]);
    expect(nt.tensor(new Uint8Array([0x21, 0xf3]), { dtype: 'i4' }).toArray()).toEqual([1, 2, 3, -1]);
  });

  it('converts a TypedArray whose type does not fit the requested dtype', () => {
    const t = nt.tensor(new Float64Array([0.5, -1.25]), { dtype: 'f32' });
    expect(t.dtype).toBe('f32');
    expect(t.toArray()).toEqual([0.5, -1.25]);
  });

  it('builds from nested arrays and infers the shape', () => {
    const t = nt.tensor([[1, 2, 3], [4, 5, 6]], { dtype: 'i32' });
    expect(t.shape).toEqual([2, 3]);
    expect(t.toArray()).toEqual([[1, 2, 3], [4, 5, 6]]);
    expect(nt.tensor(7).shape).toEqual([]);
    expect(nt.tensor(7).toArray()).toBe(7);
    expect(nt.tensor([]).shape).toEqual([0]);
  });

  it('zeros, ones, full, arange and eye in every dtype', () => {
    for (const d of nt.DTYPES) {
      expect(nt.zeros([2, 3], d).toArray()).toEqual([[0, 0, 0], [0, 0, 0]]);
      expect(nt.ones([3], d).toArray()).toEqual([1, 1, 1]);
      expect(nt.full([1, 3], 5, d).toArray()).toEqual([[5, 5, 5]]);
      expect(nt.eye(3, d).toArray()).toEqual([[1, 0, 0], [0, 1, 0], [0, 0, 1]]);
    }
    expect(nt.full([2], 2.5, 'f16').toArray()).toEqual([2.5, 2.5]);
    expect(nt.arange(5).toArray()).toEqual([0, 1, 2, 3, 4]);
    expect(nt.arange(1, 2, 0.25, 'f64').toArray()).toEqual([1, 1.25, 1.5, 1.75]);
    expect(nt.arange(3, 0, -1, 'i32').toArray()).toEqual([3, 2, 1]);
    expect(nt.arange(0).shape).toEqual([0]);
    expect(nt.eye(2, 'f32', 3).toArray()).toEqual([[1, 0, 0], [0, 1, 0]]);
  });

  it('rejects bad shapes, dtypes and data with coded errors', () => {
    expect(errorOf(() => nt.zeros([2, -1]))).toMatchObject({ code: 'NT_SHAPE', message: expect.stringMatching(/\[zeros\] shape must hold non-negative integers/) });
    expect(errorOf(() => nt.zeros([1.5]))).toMatchObject({ code: 'NT_SHAPE' });
    expect(errorOf(() => nt.zeros([1, 1, 1, 1, 1, 1, 1, 1, 1]))).toMatchObject({ code: 'NT_SHAPE', message: expect.stringMatching(/rank 9/) });
    expect(errorOf(() => nt.zeros([2 ** 20, 2 ** 20]))).toMatchObject({ code: 'NT_VALUE', message: expect.stringMatching(/elements; at most/) });
    expect(errorOf(() => nt.zeros([2], 'f8' as nt.DType))).toMatchObject({ code: 'NT_DTYPE', name: 'TypeError' });
    expect(errorOf(() => nt.tensor([[1, 2], [3]]))).toMatchObject({ code: 'NT_SHAPE', message: expect.stringMatching(/ragged/) });
    expect(errorOf(() => nt.tensor(new Float32Array(5), { shape: [2, 3] }))).toMatchObject({ code: 'NT_SHAPE' });
    expect(errorOf(() => nt.tensor('x' as unknown as number))).toMatchObject({ code: 'NT_VALUE' });
    expect(errorOf(() => nt.full([2], NaN, 'i32'))).toMatchObject({ code: 'NT_VALUE' });
    expect(errorOf(() => nt.arange(0, 1, 0))).toMatchObject({ code: 'NT_VALUE', message: '[arange] step must not be 0' });
    expect(errorOf(() => nt.tensor(new Uint32Array(2) as unknown as Float32Array))).toMatchObject({ code: 'NT_DTYPE' });
  });
});

describe('views', () => {
  const base = () => nt.tensor(Float64Array.from({ length: 60 }, (_, i) => i), { shape: [3, 4, 5] });

  it('transpose, slice and reshape are views over the same storage', () => {
    const t = base();
    const v = t.transpose(2, 0, 1).slice([1, 4], null, [-3]);
    expect(v.shape).toEqual([3, 3, 3]);
    const expected = stridedIndices(v.shape, v.strides, v.offset);
    expect(v.contiguous().toArray().flat(2)).toEqual(expected);
    // writes through the base storage are visible in the view
    (t.data as Float64Array)[v.offset] = -1;
    expect(v.get(0, 0, 0)).toBe(-1);
    expect(t.reshape(-1, 5).shape).toEqual([12, 5]);
    expect(t.reshape(60).get(59)).toBe(59);
  });

  it('reshape of a strided view copies, and slices clamp like Python', () => {
    const t = base().transpose();
    const r = t.reshape([5, 12]);
    const ref = stridedIndices(t.shape, t.strides, t.offset);
    expect(r.toArray().flat()).toEqual(ref);
    expect(base().slice([10, 20]).shape).toEqual([0, 4, 5]);
    expect(base().slice([-1]).shape).toEqual([1, 4, 5]);
    expect(base().slice([2, 1]).shape).toEqual([0, 4, 5]);
  });

  it('get and toArray index elements; negative indices count from the end', () => {
    const t = base();
    expect(t.get(2, 3, 4)).toBe(59);
    expect(t.get(-1, -1, -1)).toBe(59);
    expect(errorOf(() => t.get(3, 0, 0))).toMatchObject({ code: 'NT_VALUE', message: expect.stringMatching(/out of range for axis 0/) });
    expect(errorOf(() => t.get(0, 0))).toMatchObject({ code: 'NT_SHAPE' });
    expect(errorOf(() => t.get(0.5, 0, 0))).toMatchObject({ code: 'NT_VALUE' });
  });

  it('refuses bad view requests', () => {
    const t = base();
    expect(errorOf(() => t.reshape(7, 9))).toMatchObject({ code: 'NT_SHAPE', message: expect.stringMatching(/cannot reshape \[3,4,5\]/) });
    expect(errorOf(() => t.reshape(-1, -1))).toMatchObject({ code: 'NT_SHAPE' });
    expect(errorOf(() => t.transpose(0, 0, 1))).toMatchObject({ code: 'NT_VALUE' });
    expect(errorOf(() => t.slice([0, 1], [0, 1], [0, 1], [0, 1]))).toMatchObject({ code: 'NT_SHAPE' });
    expect(errorOf(() => t.slice([0.5, 2] as unknown as [number, number]))).toMatchObject({ code: 'NT_VALUE' });
    expect(errorOf(() => t.transpose().data)).toMatchObject({ code: 'NT_VALUE', message: expect.stringMatching(/strided view/) });
  });
});

describe('astype', () => {
  test('a failed conversion leaves no tensor allocated (NaN to an integer)', () => {
    const x = nt.tensor([1, NaN, 3], { dtype: 'f64' });
    const before = nt.memory();
    expect(() => x.astype('u8')).toThrow(expect.objectContaining({ code: 'NT_VALUE' }));
    expect(nt.memory()).toEqual(before);
    x.dispose();
  });

  const values = (n: number, seed: number) => {
    const v = uniform(n, seed, -300, 300);
    v[0] = 0; v[1] = -0.5; v[2] = 0.5; v[3] = 1.5; v[4] = 2.5; v[5] = 70000; v[6] = -70000; v[7] = 1e-6;
    return v;
  };

  it('rounds floats to f32/f16/bf16 to the nearest representable value', () => {
    const v = values(1031, 3);
    const src = nt.tensor(v, { dtype: 'f64' });
    const f32 = src.astype('f32').data as Float32Array;
    v.forEach((x, i) => expect(f32[i]).toBe(Math.fround(x)));
    for (const [dtype, decode] of [['f16', f16Decode], ['bf16', bf16Decode]] as const) {
      const bits = src.astype('f32').astype(dtype).data as Uint16Array;
      v.forEach((x0, i) => {
        const x = Math.fround(x0);
        const got = decode(bits[i]);
        if (!Number.isFinite(got)) {
          expect(Math.abs(x)).toBeGreaterThan(dtype === 'f16' ? 65504 : 3e38);
          return;
        }
        // no neighbouring code is closer to x
        for (const nb of [bits[i] - 1, bits[i] + 1]) {
          const other = decode(nb & 0xffff);
          if (Number.isFinite(other) && Math.sign(other) === Math.sign(got)) expect(Math.abs(x - got)).toBeLessThanOrEqual(Math.abs(x - other));
        }
      });
    }
  });

  it('truncates and saturates floats to integers, codes to 4 bits', () => {
    const t = nt.tensor([-1e10, -200.7, -8.9, -0.9, 0.9, 7.9, 15.5, 300, 1e10], { dtype: 'f64' });
    expect(t.astype('i32').toArray()).toEqual([-2147483648, -200, -8, 0, 0, 7, 15, 300, 2147483647]);
    expect(t.astype('i8').toArray()).toEqual([-128, -128, -8, 0, 0, 7, 15, 127, 127]);
    expect(t.astype('u8').toArray()).toEqual([0, 0, 0, 0, 0, 7, 15, 255, 255]);
    expect(t.astype('u4').toArray()).toEqual([0, 0, 0, 0, 0, 7, 15, 15, 15]);
    expect(t.astype('i4').toArray()).toEqual([-8, -8, -8, 0, 0, 7, 7, 7, 7]);
  });

  it('round-trips every dtype through every other dtype on values both can hold', () => {
    const small = [-8, -3, -1, 0, 1, 2, 5, 7];
    for (const from of nt.DTYPES) {
      const vals = from === 'u8' || from === 'u4' ? small.map((x) => x + 8) : small;
      const src = nt.tensor(vals, { dtype: 'f64' }).astype(from);
      for (const to of nt.DTYPES) {
        if ((to === 'u8' || to === 'u4') && vals.some((x) => x < 0)) continue;
        if (to === 'i4' && vals.some((x) => x > 7)) continue;
        expect({ from, to, out: src.astype(to).astype('f64').toArray() }).toEqual({ from, to, out: vals });
      }
    }
  });

  it('converts strided views and odd-offset packed views', () => {
    const t = nt.randn([7, 33], { seed: 5 });
    const v = t.transpose().slice([3, 30]);
    const ref = stridedIndices(v.shape, v.strides, v.offset).map((i) => Math.fround((t.data as Float32Array)[i]));
    expect(v.astype('f64').toArray().flat()).toEqual(ref);
    const q = nt.tensor([1, 2, 3, 4, 5], { dtype: 'u8' }).astype('u4');
    expect(q.slice([1, 4]).contiguous().toArray()).toEqual([2, 3, 4]);
    expect(q.slice([1, 4]).astype('i32').toArray()).toEqual([2, 3, 4]);
  });

  it('refuses NaN to integer with the op named, and keeps NaN/Inf between floats', () => {
    expect(errorOf(() => nt.tensor([1, NaN]).astype('i8'))).toMatchObject({ code: 'NT_VALUE', message: '[astype] cannot convert NaN from f32 to i8' });
    expect(nt.tensor([NaN, Infinity, -Infinity]).astype('f16').toArray()).toEqual([NaN, Infinity, -Infinity]);
    expect(nt.tensor([NaN, Infinity]).astype('bf16').astype('f64').toArray()).toEqual([NaN, Infinity]);
  });

  it('writes into { out } without allocating, and validates out before writing', () => {
    const src = nt.randn([5, 7], { seed: 9 });
    const out = nt.zeros([5, 7], 'f16');
    expect(src.astype('f16', { out })).toBe(out);
    expect(out.toArray()).toEqual(src.astype('f16').toArray());
    const fresh = nt.zeros([7, 5], 'f16');
    expect(errorOf(() => src.astype('f16', { out: fresh }))).toMatchObject({ code: 'NT_SHAPE', message: '[astype] out has shape [7,5], expected [5,7]' });
    expect(errorOf(() => src.astype('bf16', { out }))).toMatchObject({ code: 'NT_DTYPE' });
    expect(errorOf(() => src.astype('f32', { out: src }))).toMatchObject({ code: 'NT_VALUE', message: expect.stringMatching(/share storage/) });
    const gone = nt.zeros([5, 7], 'f16');
    gone.dispose();
    expect(errorOf(() => src.astype('f16', { out: gone }))).toMatchObject({ code: 'NT_DISPOSED' });
    const nan = nt.tensor([1, NaN]);
    const ints = nt.full([2], 3, 'i32');
    expect(errorOf(() => nan.astype('i32', { out: ints }))).toMatchObject({ code: 'NT_VALUE' });
    expect(ints.toArray()).toEqual([3, 3]); // untouched by the failed call
  });

  it('handles empty tensors', () => {
    const e = nt.zeros([0, 3]).astype('f16');
    expect(e.shape).toEqual([0, 3]);
    expect(e.toArray()).toEqual([]);
    expect(nt.zeros([4, 0]).transpose().contiguous().shape).toEqual([0, 4]);
  });
});

describe('random', () => {
  // Philox4x32-10 written independently here, from the paper's constants.
  function mulhilo(a: number, b: number): [number, number] {
    const lo = Math.imul(a, b) >>> 0;
    const hi = Number((BigInt(a) * BigInt(b)) >> 32n) >>> 0;
    return [hi, lo];
  }
  function philox(counter: number, seed: bigint): number[] {
    let c = [counter >>> 0, Math.floor(counter / 2 ** 32) >>> 0, 0, 0];
    let k0 = Number(seed & 0xffffffffn) >>> 0;
    let k1 = Number(seed >> 32n) >>> 0;
    for (let r = 0; r < 10; ++r) {
      const [hi0, lo0] = mulhilo(0xd2511f53, c[0]);
      const [hi1, lo1] = mulhilo(0xcd9e8d57, c[2]);
      c = [(hi1 ^ c[1] ^ k0) >>> 0, lo1, (hi0 ^ c[3] ^ k1) >>> 0, lo0];
      k0 = (k0 + 0x9e3779b9) >>> 0;
      k1 = (k1 + 0xbb67ae85) >>> 0;
    }
    return c;
  }
  const unit53 = (hi: number, lo: number) => Number(((BigInt(hi) << 32n) | BigInt(lo)) >> 11n) * 2 ** -53;

  it('rand is Philox4x32-10 exactly as documented', () => {
    const seed = 123456789012345;
    const u = nt.rand([1031], { seed, dtype: 'f64' }).data as Float64Array;
    for (const i of [0, 1, 2, 3, 500, 1029, 1030]) {
      const w = philox(i >> 1, BigInt(seed));
      const k = (i & 1) * 2;
      expect(u[i]).toBe(unit53(w[k], w[k + 1]));
    }
    const z = nt.randn([9], { seed: 7, dtype: 'f64' }).data as Float64Array;
    const w = philox(2, 7n);
    const r = Math.sqrt(-2 * Math.log1p(-unit53(w[0], w[1])));
    expect(z[4]).toBeCloseTo(r * Math.cos(2 * Math.PI * unit53(w[2], w[3])), 12);
    expect(z[5]).toBeCloseTo(r * Math.sin(2 * Math.PI * unit53(w[2], w[3])), 12);
  });

  it('is reproducible, independent of thread count, and f32 is f64 rounded', () => {
    const before = nt.getNumThreads();
    nt.setNumThreads(1);
    const a = nt.randn([100003], { seed: 11 }).data as Float32Array;
    nt.setNumThreads(2);
    const b = nt.randn([100003], { seed: 11 }).data as Float32Array;
    nt.setNumThreads(before);
    expect(Buffer.from(a.buffer).equals(Buffer.from(b.buffer))).toBe(true);
    const d = nt.randn([101], { seed: 11, dtype: 'f64' }).data as Float64Array;
    d.forEach((x, i) => expect(a[i]).toBe(Math.fround(x)));
    expect(nt.randn([5], { seed: 12 }).toArray()).not.toEqual(Array.from(a.slice(0, 5)));
  });

  it('has the right moments and range', () => {
    const u = nt.rand([200000], { seed: 3 }).data as Float32Array;
    let mn = 1, mx = 0, s = 0;
    for (const x of u) { mn = Math.min(mn, x); mx = Math.max(mx, x); s += x; }
    expect(mn).toBeGreaterThanOrEqual(0);
    expect(mx).toBeLessThan(1);
    expect(Math.abs(s / u.length - 0.5)).toBeLessThan(0.005);
    const z = nt.randn([200001], { seed: 4, dtype: 'f64' }).data as Float64Array;
    let m = 0, v = 0;
    for (const x of z) m += x;
    m /= z.length;
    for (const x of z) v += (x - m) ** 2;
    expect(Math.abs(m)).toBeLessThan(0.01);
    expect(Math.abs(v / z.length - 1)).toBeLessThan(0.02);
    expect(nt.randn([3], { seed: 1, dtype: 'bf16' }).dtype).toBe('bf16');
  });

  it('rejects bad seeds and dtypes', () => {
    expect(errorOf(() => nt.rand([2], { seed: -1 }))).toMatchObject({ code: 'NT_VALUE', message: expect.stringMatching(/\[rand\] seed/) });
    expect(errorOf(() => nt.rand([2], { seed: 1.5 }))).toMatchObject({ code: 'NT_VALUE' });
    expect(errorOf(() => nt.randn([2], { seed: 1, dtype: 'i32' }))).toMatchObject({ code: 'NT_DTYPE' });
  });
});

describe('lifetime and memory counters', () => {
  it('returns to baseline after dispose; views share storage bytes', () => {
    const base = nt.memory();
    const t = nt.zeros([10, 10]);
    expect(nt.memory().tensors).toBe(base.tensors + 1);
    expect(nt.memory().bytes).toBe(base.bytes + 400);
    const v = t.transpose();
    expect(nt.memory()).toMatchObject({ tensors: base.tensors + 2, bytes: base.bytes + 400 });
    t.dispose();
    expect(nt.memory().bytes).toBe(base.bytes + 400); // still referenced by the view
    v[Symbol.dispose]();
    expect(nt.memory()).toEqual(base);
    t.dispose(); // idempotent
    expect(nt.memory()).toEqual(base);
    {
      using scoped = nt.ones([4]);
      expect(scoped.isDisposed).toBe(false);
    }
    expect(nt.memory()).toEqual(base);
  });

  it('a disposed tensor refuses every use with NT_DISPOSED', () => {
    const t = nt.ones([3]);
    t.dispose();
    expect(t.isDisposed).toBe(true);
    for (const use of [() => t.data, () => t.get(0), () => t.toArray(), () => t.reshape(3), () => t.transpose(), () => t.slice([0, 1]), () => t.contiguous(), () => t.clone(), () => t.astype('f64')])
      expect(errorOf(use)).toMatchObject({ code: 'NT_DISPOSED', message: expect.stringMatching(/was disposed/) });
  });

  it('clone owns new storage; contiguous of a contiguous tensor shares it', () => {
    const t = nt.arange(6);
    const c = t.clone();
    (t.data as Float32Array)[0] = 9;
    expect(c.get(0)).toBe(0);
    const same = t.contiguous();
    expect(same.get(0)).toBe(9);
    expect(String(t)).toBe('Tensor(f32, [6])');
  });

  it('prints dtype, shape and leading values in console.log', () => {
    const before = nt.memory();
    expect(inspect(nt.arange(3, undefined, 1, 'f16'))).toBe('Tensor(f16, [3]) [0, 1, 2]');
    expect(inspect(nt.arange(20).reshape(4, 5).transpose())).toBe('Tensor(f32, [5,4]) [0, 5, 10, 15, 1, 6, 11, 16, ...]');
    const d = nt.ones([2]);
    d.dispose();
    expect(inspect(d)).toBe('Tensor(f32, [2], disposed)');
    // live: the f16 arange, and arange(20) with its two views; printing itself leaves nothing
    expect(nt.memory().tensors).toBe(before.tensors + 4);
  });
});
