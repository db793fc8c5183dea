// .npy: round trips of every dtype and view, numpy's exact header layout, files numpy
// writes in other versions / byte orders / Fortran order, conversions, async forms.
import * as fs from 'fs';
import * as path from 'path';
import * as nt from '../../lib';
import { f16Decode } from '../helpers/reference';
import { bytesOf, elementsOf, failure, npyBytes, removeDir, seededTensor, tempDir } from './helpers';

let dir: string;
beforeAll(() => {
  dir = tempDir('npy');
});
afterAll(() => removeDir(dir));

const file = (name: string) => path.join(dir, name);
const NPY_DTYPES: nt.DType[] = ['f32', 'f64', 'f16', 'i8', 'u8', 'i32'];

describe('npy round trips', () => {
  const shapes: number[][] = [[], [0], [1], [7], [33, 3], [2, 0, 5], [3, 1, 129], [1031]];

  it.each(NPY_DTYPES)('%s arrays of odd, 0-d and empty shapes come back bit for bit', (dtype) => {
    const base = nt.memory();
    shapes.forEach((s, i) => {
      const t = seededTensor(dtype, s, 200 + i);
      const p = file(`${dtype}-${i}.npy`);
      nt.io.saveNpy(p, t);
      const back = nt.io.loadNpy(p);
      expect(back.dtype).toBe(dtype);
      expect(back.shape).toEqual(s);
      expect(Array.from(bytesOf(back))).toEqual(Array.from(bytesOf(t)));
      back.dispose();
      t.dispose();
    });
    expect(nt.memory()).toEqual(base);
  });

  it('writes the header numpy writes: version 1.0, 64-byte aligned data', () => {
    nt.io.saveNpy(file('hdr.npy'), nt.tensor(new Float32Array(12), { shape: [3, 4] }));
    const bytes = fs.readFileSync(file('hdr.npy'));
    const dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }";
    expect(bytes.length).toBe(128 + 48);
    expect(bytes.subarray(0, 10)).toEqual(Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, 118, 0]));
    expect(bytes.subarray(10, 128).toString('latin1')).toBe(dict + ' '.repeat(128 - 11 - dict.length) + '\n');
    nt.io.saveNpy(file('hdr1.npy'), nt.tensor(new Uint8Array(5)));
    expect(fs.readFileSync(file('hdr1.npy')).subarray(10).toString('latin1').startsWith("{'descr': '|u1', 'fortran_order': False, 'shape': (5,), }")).toBe(true);
    nt.io.saveNpy(file('hdr0.npy'), nt.tensor(new Float64Array([2.5]), { shape: [] }));
    expect(fs.readFileSync(file('hdr0.npy')).toString('latin1')).toContain("'shape': (), }");
  });

  it('writes strided views in C order', () => {
    const m = seededTensor('f64', [6, 5], 3);
    for (const v of [m.transpose(), m.slice([1, 5], [1, 4]), m.slice(null, [0, 1]), m.slice([2, 3])._expand('test', [4, 5])]) {
      nt.io.saveNpy(file('view.npy'), v);
      const back = nt.io.loadNpy(file('view.npy'));
      expect(back.shape).toEqual(v.shape);
      expect(Array.from(back.data)).toEqual(elementsOf(v));
    }
  });

  it('saves asynchronously with the same bytes', async () => {
    const t = seededTensor('i32', [7, 3], 4).transpose();
    nt.io.saveNpy(file('a1.npy'), t);
    await nt.io.saveNpyAsync(file('a2.npy'), t);
    expect(fs.readFileSync(file('a2.npy'))).toEqual(fs.readFileSync(file('a1.npy')));
  });
});

describe('npy files from numpy', () => {
  const f32 = (xs: number[]) => new Uint8Array(new Float32Array(xs).buffer);

  it('reads format versions 2.0 and 3.0', () => {
    for (const version of [[2, 0], [3, 0]] as [number, number][]) {
      fs.writeFileSync(file('v.npy'), npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }    \n", f32([1, 2, 3, 4]), version));
      expect(nt.io.loadNpy(file('v.npy')).toArray()).toEqual([[1, 2], [3, 4]]);
    }
  });

  it('loads fortran_order arrays as transposed views of the stored data', () => {
    // numpy.asfortranarray([[1, 2, 3], [4, 5, 6]]) stores column by column
    fs.writeFileSync(file('f.npy'), npyBytes("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }\n", f32([1, 4, 2, 5, 3, 6])));
    const t = nt.io.loadNpy(file('f.npy'));
    expect(t.shape).toEqual([2, 3]);
    expect(t.strides).toEqual([1, 2]);
    expect(t.toArray()).toEqual([[1, 2, 3], [4, 5, 6]]);
    const before = nt.memory();
    t.dispose();
    expect(nt.memory().tensors).toBe(before.tensors - 1);
    expect(nt.memory().bytes).toBe(before.bytes - 24);
  });

  it('byte-swaps big-endian data', () => {
    const be = Buffer.alloc(16);
    be.writeDoubleBE(1.5, 0);
    be.writeDoubleBE(-1e300, 8);
    fs.writeFileSync(file('be.npy'), npyBytes("{'descr': '>f8', 'fortran_order': False, 'shape': (2,), }\n", be));
    expect(nt.io.loadNpy(file('be.npy')).toArray()).toEqual([1.5, -1e300]);
    const bi = Buffer.alloc(8);
    bi.writeInt32BE(-7, 0);
    bi.writeInt32BE(123456789, 4);
    fs.writeFileSync(file('bi.npy'), npyBytes("{'descr': '>i4', 'fortran_order': False, 'shape': (2,), }\n", bi));
    expect(nt.io.loadNpy(file('bi.npy')).toArray()).toEqual([-7, 123456789]);
    const bh = Buffer.alloc(2);
    bh.writeUInt16BE(0x3c00, 0);
    fs.writeFileSync(file('bh.npy'), npyBytes("{'descr': '>f2', 'fortran_order': False, 'shape': (1,), }\n", bh));
    expect(nt.io.loadNpy(file('bh.npy')).toArray()).toEqual([1]);
  });

  it('loads b1 as u8 and wider integers as range-checked i32', async () => {
    fs.writeFileSync(file('b.npy'), npyBytes("{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }\n", new Uint8Array([1, 0, 1])));
    expect(nt.io.loadNpy(file('b.npy'))).toMatchObject({ dtype: 'u8' });
    expect(nt.io.loadNpy(file('b.npy')).toArray()).toEqual([1, 0, 1]);
    // numpy.arange(5) is int64
    fs.writeFileSync(file('i8.npy'), npyBytes("{'descr': '<i8', 'fortran_order': False, 'shape': (5,), }\n", new Uint8Array(new BigInt64Array([0n, 1n, 2n, 3n, -4n]).buffer)));
    const ids = nt.io.loadNpy(file('i8.npy'));
    expect(ids.dtype).toBe('i32');
    expect(ids.toArray()).toEqual([0, 1, 2, 3, -4]);
    expect(nt.io.loadNpy(file('i8.npy'), { dtype: 'f64' }).toArray()).toEqual([0, 1, 2, 3, -4]);
    fs.writeFileSync(file('big.npy'), npyBytes("{'descr': '<u8', 'fortran_order': False, 'shape': (2,), }\n", new Uint8Array(new BigUint64Array([1n, 2n ** 63n]).buffer)));
    expect(await failure(() => nt.io.loadNpy(file('big.npy')))).toMatchObject({
      code: 'NT_VALUE', message: expect.stringMatching(/^\[io\.loadNpy\] .*big\.npy: array data: element 1 = 9223372036854775808 does not fit i32/),
    });
    expect(nt.io.loadNpy(file('big.npy'), { dtype: 'f64' }).toArray()).toEqual([1, 2 ** 63]);
  });

  it('converts on load when asked (any dtype but packed)', async () => {
    const t = seededTensor('f16', [3, 7], 9);
    nt.io.saveNpy(file('h.npy'), t);
    expect(Array.from(nt.io.loadNpy(file('h.npy'), { dtype: 'f32' }).data)).toEqual(Array.from(t.data as Uint16Array, f16Decode));
    expect(nt.io.loadNpy(file('h.npy'), { dtype: 'bf16' }).dtype).toBe('bf16');
    const x = nt.tensor(new Float32Array([-1.5, 0.5, 300, Number.NaN]));
    nt.io.saveNpy(file('x.npy'), x.slice([0, 3]));
    expect(nt.io.loadNpy(file('x.npy'), { dtype: 'i8' }).toArray()).toEqual([-1, 0, 127]);
    nt.io.saveNpy(file('x.npy'), x);
    expect(await failure(() => nt.io.loadNpy(file('x.npy'), { dtype: 'i32' }))).toMatchObject({ code: 'NT_VALUE', message: expect.stringMatching(/element 3 is NaN, which cannot convert to i32/) });
    expect(await failure(() => nt.io.loadNpy(file('x.npy'), { dtype: 'i4' }))).toMatchObject({ code: 'NT_UNSUPPORTED' });
    expect(await failure(() => nt.io.loadNpy(file('x.npy'), { dtype: 'x' as never }))).toMatchObject({ code: 'NT_DTYPE' });
  });

  it('refuses to save what .npy cannot hold', async () => {
    expect(await failure(() => nt.io.saveNpy(file('no.npy'), seededTensor('bf16', [2], 1)))).toMatchObject({ code: 'NT_UNSUPPORTED', message: expect.stringMatching(/\[io\.saveNpy\] dtype bf16 has no \.npy equivalent \(numpy has no bfloat16/) });
    expect(await failure(() => nt.io.saveNpy(file('no.npy'), nt.tensor(new Uint8Array(1), { dtype: 'u4' })))).toMatchObject({ code: 'NT_UNSUPPORTED' });
    expect(await failure(() => nt.io.saveNpy(file('no.npy'), [1, 2] as never))).toMatchObject({ code: 'NT_VALUE', message: expect.stringMatching(/expected a Tensor/) });
    const gone = seededTensor('f32', [1], 1);
    gone.dispose();
    expect(await failure(() => nt.io.saveNpy(file('no.npy'), gone))).toMatchObject({ code: 'NT_DISPOSED' });
    expect(fs.existsSync(file('no.npy'))).toBe(false);
  });
});

describe('npy async loading', () => {
  it('equals the sync load and rejects with the async op name', async () => {
    const t = seededTensor('f64', [129, 3], 7);
    nt.io.saveNpy(file('async.npy'), t);
    const a = await nt.io.loadNpyAsync(file('async.npy'));
    expect(Array.from(bytesOf(a))).toEqual(Array.from(bytesOf(nt.io.loadNpy(file('async.npy')))));
    fs.writeFileSync(file('fa.npy'), npyBytes("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }\n", new Uint8Array(new Float32Array([1, 4, 2, 5, 3, 6]).buffer)));
    expect((await nt.io.loadNpyAsync(file('fa.npy'))).toArray()).toEqual([[1, 2, 3], [4, 5, 6]]);
    await expect(nt.io.loadNpyAsync(file('none.npy'))).rejects.toMatchObject({
      code: 'NT_IO', message: expect.stringMatching(/^\[io\.loadNpyAsync\] .*none\.npy: cannot open: No such file or directory/),
    });
  });
});
