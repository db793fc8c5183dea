// GGUF writer (lib/io/gguf-write.ts) against gguf-py, llama.cpp's own Python library: the
// quantized blocks and a whole file byte for byte (fixtures/gguf-write, made offline by
// scripts/fixtures/make_gguf_write_refs.py), QTensors written as Q4_0 / Q8_0 without
// requantization, the round trip back, crash safety and every refusal.
import * as fs from 'fs';
import * as path from 'path';
import * as nt from '../../lib';
import { readGguf } from '../../lib/io/gguf';
import { GgufTensorEntry, GgufValue, saveGguf } from '../../lib/io/gguf-write';
import { QTensor } from '../../lib/quant/qtensor';
import { Tensor } from '../../lib/tensor';
import { f16Decode, seeded } from '../helpers/reference';
import { parseGguf, tensorBytes, tensorValues } from './gguf-parse';
import { removeDir, tempDir } from './helpers';

const FIX = path.join(__dirname, '..', '..', 'fixtures', 'gguf-write');
const REFS = JSON.parse(fs.readFileSync(path.join(FIX, 'refs.json'), 'utf8'));
const INPUTS = ['a', 'b', 'c', 'd'] as const;

const input = (name: string): Tensor => nt.io.loadNpy(path.join(FIX, `${name}.f32.npy`));
const refBytes = (name: string, type: string): Buffer => {
  const t = nt.io.loadNpy(path.join(FIX, `${name}.${type}.npy`));
  const b = Buffer.from(t.data as Uint8Array);
  t.dispose();
  return b;
};

let dir: string;
let base: nt.MemoryCounters;
beforeEach(() => {
  dir = tempDir('gguf-write');
  base = nt.memory();
});
afterEach(() => {
  delete process.env.NTENSOR_FAULT;
  expect(nt.memory()).toEqual(base);
  removeDir(dir);
});

/** The data of one tensor written alone. */
function written(entry: GgufTensorEntry): Buffer {
  const file = path.join(dir, 'one.gguf');
  saveGguf(file, {}, [entry]);
  return Buffer.from(tensorBytes(parseGguf(file), entry.name));
}

/** A QTensor holding the codes and scales of Q4_0 (bits 4, zero 8) or Q8_0 (bits 8, zero 128) blocks. */
function qtensorFromBlocks(blocks: Buffer, rows: number, cols: number, bits: 4 | 8, scaleDtype: 'f16' | 'f32' = 'f16'): QTensor {
  const groups = cols / 32;
  const bb = bits === 4 ? 18 : 34;
  const codes = new Uint8Array(rows * (bits === 4 ? cols / 2 : cols));
  const scales16 = new Uint16Array(rows * groups);
  for (let r = 0; r < rows; ++r)
    for (let g = 0; g < groups; ++g) {
      const o = (r * groups + g) * bb;
      scales16[r * groups + g] = blocks.readUInt16LE(o);
      for (let j = 0; j < 32; ++j) {
        const c = r * cols + g * 32 + j;
        if (bits === 8) codes[c] = blocks.readInt8(o + 2 + j) + 128;
        else {
          const q = j < 16 ? blocks[o + 2 + j] & 15 : blocks[o + 2 + j - 16] >> 4;
          codes[c >> 1] |= q << ((c & 1) * 4);
        }
      }
    }
  const scales =
    scaleDtype === 'f16'
      ? nt.tensor(scales16, { dtype: 'f16', shape: [rows, groups] })
      : nt.tensor(Float32Array.from(scales16, f16Decode), { shape: [rows, groups] });
  return new QTensor({
    codes: nt.tensor(codes, { shape: [rows, codes.length / rows] }),
    scales,
    zeros: nt.full([rows, groups], bits === 4 ? 8 : 128, 'u8'),
    shape: [rows, cols],
    bits,
    groupSize: 32,
    symmetric: true,
  });
}

describe('tensor data, byte for byte with gguf-py', () => {
  test.each(INPUTS.flatMap((n) => ['F16', 'BF16', 'Q8_0', 'Q4_0'].map((t) => [n, t])))('%s as %s equals gguf.quants.quantize', (name, type) => {
    const x = input(name);
    try {
      if (x.shape[x.ndim - 1] % 32 !== 0 && type.startsWith('Q')) {
        expect(() => written({ name: 'x', type: type as 'Q4_0', tensor: x })).toThrow(expect.objectContaining({ code: 'NT_SHAPE' }));
        return;
      }
      expect(written({ name: 'x', type: type as 'Q4_0', tensor: x }).equals(refBytes(name, type))).toBe(true);
    } finally {
      x.dispose();
    }
  });

  test('a strided f64 view is converted like its contiguous f32 copy', () => {
    const x = input('a');
    const wide = x.astype('f64');
    const wideT = wide.transpose(1, 0);
    const colMajor = wideT.contiguous();
    const t = colMajor.transpose(1, 0); // same values, column-major strides
    try {
      expect(t.isContiguous).toBe(false);
      expect(written({ name: 'x', type: 'Q4_0', tensor: t }).equals(refBytes('a', 'Q4_0'))).toBe(true);
      expect(written({ name: 'x', type: 'F32', tensor: t }).equals(Buffer.from((x.data as Float32Array).buffer, (x.data as Float32Array).byteOffset, x.size * 4))).toBe(true);
    } finally {
      [x, wide, wideT, colMajor, t].forEach((v) => v.dispose());
    }
  });
});

describe('a whole file', () => {
  function refMetadata(): Record<string, GgufValue> {
    const big = (type: string, v: unknown) => (type === 'uint64' || type === 'int64') && typeof v === 'string' ? BigInt(v) : v;
    const md: Record<string, GgufValue> = {};
    for (const m of REFS.metadata) {
      md[m.key] =
        m.type === 'array'
          ? { type: 'array', itemType: m.itemType, value: (m.value as unknown[]).map((v) => big(m.itemType, v)) as never }
          : ({ type: m.type, value: big(m.type, m.value) } as GgufValue);
    }
    return md;
  }

  test('metadata of every type and tensors of every type: identical to gguf.GGUFWriter', () => {
    const sources = Object.fromEntries(INPUTS.map((n) => [n, input(n)]));
    try {
      const file = path.join(dir, 'ours.gguf');
      const report = saveGguf(file, refMetadata(), REFS.tensors.map((t: { name: string; source: string; type: string }) => ({ name: t.name, type: t.type, tensor: sources[t.source] })));
      const ours = fs.readFileSync(file);
      const theirs = fs.readFileSync(path.join(FIX, 'reference.gguf'));
      expect(report).toEqual({ bytes: theirs.length, tensors: REFS.tensors.length, scalesRounded: [] });
      expect(ours.length).toBe(theirs.length);
      expect(ours.equals(theirs)).toBe(true);
    } finally {
      Object.values(sources).forEach((t) => t.dispose());
    }
  });

  test('the test parser reads gguf-py\'s file: metadata values and dequantized tensors', () => {
    const g = parseGguf(path.join(FIX, 'reference.gguf'));
    expect(g.version).toBe(3);
    expect(g.metadata.get('test.u64')).toEqual({ type: 'uint64', value: 2n ** 63n + 12345n });
    expect(g.metadata.get('test.arr.string')).toEqual({ type: 'array', itemType: 'string', value: ['a', '', 'ü€𝄞'] });
    const a = input('a');
    try {
      const x = a.data as Float32Array;
      expect(Array.from(tensorValues(g, 'a.f32'))).toEqual(Array.from(x));
      const q = tensorValues(g, 'a.q4_0');
      // Q4_0 reconstructs within one step |d| = max|block| / 8 (half a step, or a full one where 16 clips to 15), plus d's f16 rounding
      for (let i = 0; i < x.length; ++i) expect(Math.abs(q[i] - x[i])).toBeLessThanOrEqual((maxAbsBlock(x, i) / 8) * 1.01 + 1e-7);
    } finally {
      a.dispose();
    }
  });

  test('alignment from general.alignment; every tensor offset a multiple of it', () => {
    const t = nt.tensor(Float32Array.from({ length: 5 }, (_, i) => i));
    try {
      const file = path.join(dir, 'a64.gguf');
      saveGguf(file, { 'general.alignment': { type: 'uint32', value: 64 } }, [
        { name: 'x', type: 'F32', tensor: t },
        { name: 'y', type: 'F16', tensor: t },
      ]);
      const g = parseGguf(file);
      expect(g.dataStart % 64).toBe(0);
      expect([...g.tensors.values()].map((e) => e.offset)).toEqual([0, 64]);
      expect(Array.from(tensorValues(g, 'y'))).toEqual([0, 1, 2, 3, 4]);
      expect(fs.statSync(file).size % 64).toBe(0);
    } finally {
      t.dispose();
    }
  });
});

function maxAbsBlock(x: Float32Array, i: number): number {
  const s = i - (i % 32);
  let m = 0;
  for (let j = s; j < s + 32; ++j) m = Math.max(m, Math.abs(x[j]));
  return m;
}

describe('QTensors are written as Q4_0 / Q8_0 codes and scales, never requantized', () => {
  test.each([
    ['a', 4, 7, 96],
    ['b', 4, 15, 64],
    ['a', 8, 7, 96],
    ['c', 8, 1, 32],
  ] as const)('the QTensor of gguf-py\'s %s blocks (%d-bit) writes back the same bytes', (name, bits, rows, cols) => {
    const ref = refBytes(name, bits === 4 ? 'Q4_0' : 'Q8_0');
    const q = qtensorFromBlocks(ref, rows, cols, bits);
    try {
      expect(written({ name: 'q', type: bits === 4 ? 'Q4_0' : 'Q8_0', tensor: q }).equals(ref)).toBe(true);
    } finally {
      q.dispose();
    }
  });

  test.each(['rtn', 'gptq'] as const)('ntensor %s int4 symmetric group 32 (f16 scales): the file dequantizes to exactly nt.quant.dequantize', (method) => {
    const rows = 13;
    const cols = 96;
    const r = seeded(7);
    const w = nt.tensor(Float32Array.from({ length: rows * cols }, () => (r() - 0.5) * 0.2), { shape: [rows, cols] });
    const x = nt.tensor(Float32Array.from({ length: 200 * cols }, () => r() - 0.5), { shape: [200, cols] });
    const xt = x.transpose(1, 0);
    const h = nt.matmul(xt, x);
    const q = nt.quant.quantize(w, { bits: 4, groupSize: 32, symmetric: true, ...(method === 'gptq' ? { method, hessian: h } : {}) });
    const dq = nt.quant.dequantize(q);
    try {
      const file = path.join(dir, 'q.gguf');
      saveGguf(file, {}, [{ name: 'w', type: 'Q4_0', tensor: q }]);
      const g = parseGguf(file);
      expect(g.tensors.get('w')).toMatchObject({ ne: [cols, rows], type: 2 });
      expect(Array.from(tensorValues(g, 'w'))).toEqual(Array.from(dq.data as Float32Array));
    } finally {
      [w, x, xt, h, q, dq].forEach((t) => t.dispose());
    }
  });

  test('f32 scales are rounded to f16 and reported; the codes stay the same', () => {
    const rows = 9;
    const cols = 64;
    const r = seeded(11);
    const w = nt.tensor(Float32Array.from({ length: rows * cols }, () => (r() - 0.5) * 3), { shape: [rows, cols] });
    for (const bits of [4, 8] as const) {
      const q = nt.quant.quantize(w, { bits, groupSize: 32, symmetric: true, scaleDtype: 'f32' });
      try {
        const file = path.join(dir, `s${bits}.gguf`);
        expect(saveGguf(file, {}, [{ name: 'w', type: bits === 4 ? 'Q4_0' : 'Q8_0', tensor: q }]).scalesRounded).toEqual(['w']);
        const blocks = tensorBytes(parseGguf(file), 'w');
        // the codes read back from the blocks are the QTensor's own, byte for byte
        const back = qtensorFromBlocks(Buffer.from(blocks), rows, cols, bits, 'f32');
        try {
          expect(Buffer.from(back.codes.data as Uint8Array).equals(Buffer.from(q.codes.data as Uint8Array))).toBe(true);
          // and d is the f16 rounding (nearest even) of the f32 scale
          const s = q.scales.data as Float32Array;
          const half = q.scales.astype('f16');
          expect(Array.from(back.scales.data as Float32Array)).toEqual(Array.from(half.data as Uint16Array, f16Decode));
          expect(Array.from(back.scales.data as Float32Array).some((v, i) => v !== s[i])).toBe(true);
          half.dispose();
        } finally {
          back.dispose();
        }
      } finally {
        q.dispose();
      }
    }
    w.dispose();
  });
});

describe('round trip: ntensor -> GGUF -> ntensor', () => {
  test('F32 is exact for every float dtype; F16 / BF16 exact for tensors already in that dtype', () => {
    const r = seeded(3);
    const f32 = nt.tensor(Float32Array.from({ length: 3 * 5 * 7 }, () => r() - 0.5), { shape: [3, 5, 7] });
    const f16 = f32.astype('f16');
    const bf16 = f32.astype('bf16');
    const one = nt.tensor(Float32Array.from([1.5, -2, 3.25]));
    try {
      const file = path.join(dir, 'rt.gguf');
      saveGguf(file, { 'general.architecture': { type: 'string', value: 'llama' } }, [
        { name: 'f32', type: 'F32', tensor: f32 },
        { name: 'f16', type: 'F16', tensor: f16 },
        { name: 'bf16', type: 'BF16', tensor: bf16 },
        { name: 'f16.as.f32', type: 'F32', tensor: f16 },
        { name: 'one', type: 'F32', tensor: one },
      ]);
      const g = parseGguf(file);
      expect(g.tensors.get('f32')!.ne).toEqual([7, 5, 3]);
      expect(g.tensors.get('one')!.ne).toEqual([3]);
      const vals = (t: Tensor) => {
        const c = t.astype('f64');
        const v = Array.from(c.data as Float64Array);
        c.dispose();
        return v;
      };
      expect(Array.from(tensorValues(g, 'f32'))).toEqual(vals(f32));
      expect(Array.from(tensorValues(g, 'f16'))).toEqual(vals(f16));
      expect(Array.from(tensorValues(g, 'bf16'))).toEqual(vals(bf16));
      expect(Array.from(tensorValues(g, 'f16.as.f32'))).toEqual(vals(f16));
      expect(Array.from(tensorValues(g, 'one'))).toEqual([1.5, -2, 3.25]);
    } finally {
      [f32, f16, bf16, one].forEach((t) => t.dispose());
    }
  });
});

describe('round trip through nt.io\'s GGUF reader (lib/io/gguf.ts, written independently)', () => {
  test('metadata of every type and F32 / F16 / BF16 / Q8_0 / Q4_0 tensors (float and QTensor) read back as written', () => {
    const r = seeded(21);
    const w = nt.tensor(Float32Array.from({ length: 5 * 64 }, () => r() - 0.5), { shape: [5, 64] });
    const w16 = w.astype('f16');
    const wb = w.astype('bf16');
    const q4 = nt.quant.quantize(w, { bits: 4, groupSize: 32, symmetric: true });
    const q8 = nt.quant.quantize(w, { bits: 8, groupSize: 32, symmetric: true });
    const md: Record<string, GgufValue> = {
      'general.architecture': { type: 'string', value: 'llama' },
      u8: { type: 'uint8', value: 7 }, i16: { type: 'int16', value: -300 }, u32: { type: 'uint32', value: 4000000000 },
      i64: { type: 'int64', value: -(2n ** 40n) }, f32: { type: 'float32', value: 0.25 }, f64: { type: 'float64', value: Math.PI },
      b: { type: 'bool', value: true }, s: { type: 'string', value: 'ü€' },
      strs: { type: 'array', itemType: 'string', value: ['a', '', 'b'] }, ints: { type: 'array', itemType: 'int32', value: [-1, 2] },
    };
    const file = path.join(dir, 'rt.gguf');
    saveGguf(file, md, [
      { name: 'f32', type: 'F32', tensor: w },
      { name: 'f16', type: 'F16', tensor: w16 },
      { name: 'bf16', type: 'BF16', tensor: wb },
      { name: 'q8', type: 'Q8_0', tensor: q8 },
      { name: 'q4', type: 'Q4_0', tensor: q4 },
      { name: 'q4rtn', type: 'Q4_0', tensor: w },
    ]);
    const g = readGguf(file);
    const made: Tensor[] = [w, w16, wb];
    try {
      expect(g.version).toBe(3);
      expect(g.metadata).toMatchObject({ 'general.architecture': 'llama', u8: 7, i16: -300, u32: 4000000000, f32: 0.25, f64: Math.PI, b: true, s: 'ü€', strs: ['a', '', 'b'], ints: [-1, 2] });
      expect(BigInt(g.metadata.i64 as bigint | number)).toBe(-(2n ** 40n));
      const values = (t: Tensor) => {
        const c = t.astype('f64');
        made.push(c);
        return Array.from(c.data as Float64Array);
      };
      for (const [name, src] of [['f32', w], ['f16', w16], ['bf16', wb]] as const) {
        const back = g.dequantize(name);
        made.push(back);
        expect(back.shape).toEqual([5, 64]);
        expect(values(back)).toEqual(values(src));
      }
      for (const [name, q] of [['q8', q8], ['q4', q4]] as const) {
        const back = g.dequantize(name);
        const dq = nt.quant.dequantize(q);
        made.push(back, dq);
        expect(values(back)).toEqual(values(dq));
      }
      // ggml's RTN blocks, as gguf-py's dequantize reads them: within one step of each weight
      const back = g.dequantize('q4rtn');
      made.push(back);
      const x = w.data as Float32Array;
      values(back).forEach((v, i) => expect(Math.abs(v - x[i])).toBeLessThanOrEqual((maxAbsBlock(x, i) / 8) * 1.01));
    } finally {
      g.dispose();
      made.forEach((t) => t.dispose());
      q4.dispose();
      q8.dispose();
    }
  });
});

describe('crash safety', () => {
  test.each(['write:EIO', 'fsync:EIO', 'rename:EIO', 'open:ENOSPC'])('NTENSOR_FAULT=%s: NT_IO, the old file intact, no temp file left', (rule) => {
    const t = nt.tensor(Float32Array.from({ length: 64 }, (_, i) => i));
    try {
      const file = path.join(dir, 'x.gguf');
      process.env.NTENSOR_FAULT = rule;
      expect(() => saveGguf(file, {}, [{ name: 'x', type: 'F32', tensor: t }])).toThrow(expect.objectContaining({ code: 'NT_IO' }));
      expect(fs.readdirSync(dir)).toEqual([]);
      fs.writeFileSync(file, 'old');
      expect(() => saveGguf(file, {}, [{ name: 'x', type: 'F32', tensor: t }])).toThrow(expect.objectContaining({ code: 'NT_IO' }));
      expect(fs.readFileSync(file, 'utf8')).toBe('old');
      expect(fs.readdirSync(dir)).toEqual(['x.gguf']);
      delete process.env.NTENSOR_FAULT;
      saveGguf(file, {}, [{ name: 'x', type: 'F32', tensor: t }]);
      expect(Array.from(tensorValues(parseGguf(file), 'x'))).toEqual(Array.from({ length: 64 }, (_, i) => i));
    } finally {
      t.dispose();
    }
  });
});

describe('streaming: the file is written one tensor at a time', () => {
  const entries = (third: Tensor): GgufTensorEntry[] => [
    { name: 'a', type: 'F16', tensor: nt.tensor(Float32Array.from({ length: 96 }, (_, i) => i / 7), { shape: [3, 32] }) },
    { name: 'b', type: 'Q8_0', tensor: nt.tensor(Float32Array.from({ length: 64 }, (_, i) => Math.sin(i)), { shape: [2, 32] }) },
    { name: 'c', type: 'Q4_0', tensor: third },
  ];

  test('a tensor that fails while streaming (NaN in the third) or a write failing after the header: NT_VALUE / NT_IO, the old file intact, no temp file', () => {
    const file = path.join(dir, 'm.gguf');
    fs.writeFileSync(file, 'old');
    const bad = nt.full([1, 32], NaN);
    const es = entries(bad);
    try {
      // the header and the first two tensors are out when the third refuses
      expect(() => saveGguf(file, {}, es)).toThrow(expect.objectContaining({ code: 'NT_VALUE', message: expect.stringMatching(/element 0 is NaN/) }));
      expect(fs.readFileSync(file, 'utf8')).toBe('old');
      expect(fs.readdirSync(dir)).toEqual(['m.gguf']);
      process.env.NTENSOR_FAULT = 'write:EIO:after=2';
      es[2] = { name: 'c', type: 'Q4_0', tensor: nt.ones([1, 32]) };
      expect(() => saveGguf(file, {}, es)).toThrow(expect.objectContaining({ code: 'NT_IO' }));
      expect(fs.readFileSync(file, 'utf8')).toBe('old');
      expect(fs.readdirSync(dir)).toEqual(['m.gguf']);
      delete process.env.NTENSOR_FAULT;
      const r = saveGguf(file, {}, es);
      expect(r.bytes).toBe(fs.statSync(file).size);
      const g = parseGguf(file);
      expect(Array.from(tensorValues(g, 'c'))).toEqual(Array(32).fill(1));
    } finally {
      delete process.env.NTENSOR_FAULT;
      bad.dispose();
      for (const e of es) (e.tensor as Tensor).dispose();
    }
  });
});

describe('refusals, each with a code', () => {
  const f = () => nt.tensor(Float32Array.from({ length: 64 }, (_, i) => i - 30), { shape: [2, 32] });

  test.each<[string, (x: Tensor) => [Record<string, GgufValue>, GgufTensorEntry[]], string, RegExp]>([
    ['an unknown tensor type', (x) => [{}, [{ name: 'x', type: 'Q4_1' as never, tensor: x }]], 'NT_UNSUPPORTED', /Q4_1 is not written/],
    ['an integer tensor', () => [{}, [{ name: 'x', type: 'F32', tensor: nt.zeros([2, 32], 'i32') }]], 'NT_DTYPE', /float tensor, got i32/],
    ['rows not a multiple of 32 for Q4_0', () => [{}, [{ name: 'x', type: 'Q4_0', tensor: nt.zeros([2, 48]) }]], 'NT_SHAPE', /multiple of 32/],
    ['5 dimensions', () => [{}, [{ name: 'x', type: 'F32', tensor: nt.zeros([1, 1, 1, 1, 2]) }]], 'NT_SHAPE', /1 to 4 dimensions/],
    ['NaN in a weight to quantize', () => [{}, [{ name: 'x', type: 'Q8_0', tensor: nt.full([1, 32], NaN) }]], 'NT_VALUE', /element 0 is NaN/],
    ['a duplicate tensor name', (x) => [{}, [{ name: 'x', type: 'F32', tensor: x }, { name: 'x', type: 'F16', tensor: x }]], 'NT_VALUE', /listed twice/],
    ['a 64-byte name', (x) => [{}, [{ name: 'n'.repeat(64), type: 'F32', tensor: x }]], 'NT_VALUE', /longer than 63 bytes/],
    ['a uint8 out of range', (x) => [{ k: { type: 'uint8', value: 256 } }, [{ name: 'x', type: 'F32', tensor: x }]], 'NT_VALUE', /outside the uint8 range/],
    ['a fractional integer', (x) => [{ k: { type: 'int32', value: 1.5 } }, [{ name: 'x', type: 'F32', tensor: x }]], 'NT_VALUE', /safe integer or a bigint/],
    ['a string typed as bool', (x) => [{ k: { type: 'bool', value: 'yes' } }, [{ name: 'x', type: 'F32', tensor: x }]], 'NT_VALUE', /must be a boolean/],
    ['an unknown value type', (x) => [{ k: { type: 'float16' as never, value: 1 } }, [{ name: 'x', type: 'F32', tensor: x }]], 'NT_VALUE', /expected \{ type, value \}/],
    ['an array of arrays', (x) => [{ k: { type: 'array', itemType: 'array' as never, value: [] } }, [{ name: 'x', type: 'F32', tensor: x }]], 'NT_VALUE', /itemType must be a scalar/],
    ['an alignment not a multiple of 8', (x) => [{ 'general.alignment': { type: 'uint32', value: 12 } }, [{ name: 'x', type: 'F32', tensor: x }]], 'NT_VALUE', /multiple of 8/],
  ])('%s', (_what, make, code, message) => {
    const x = f();
    const [md, entries] = make(x);
    try {
      expect(() => saveGguf(path.join(dir, 'bad.gguf'), md, entries)).toThrow(expect.objectContaining({ code, message: expect.stringMatching(message) }));
      expect(fs.readdirSync(dir)).toEqual([]);
    } finally {
      x.dispose();
      for (const e of entries) if (e.tensor !== x) e.tensor.dispose();
    }
  });

  test('a disposed tensor or QTensor: NT_DISPOSED', () => {
    const x = f();
    x.dispose();
    expect(() => saveGguf(path.join(dir, 'x.gguf'), {}, [{ name: 'x', type: 'F32', tensor: x }])).toThrow(expect.objectContaining({ code: 'NT_DISPOSED' }));
    const w = f();
    const q = nt.quant.quantize(w, { bits: 4, groupSize: 32, symmetric: true });
    w.dispose();
    q.dispose();
    expect(() => saveGguf(path.join(dir, 'x.gguf'), {}, [{ name: 'q', type: 'Q4_0', tensor: q }])).toThrow(expect.objectContaining({ code: 'NT_DISPOSED' }));
  });

  test.each<[string, Parameters<typeof nt.quant.quantize>[1], 'Q4_0' | 'Q8_0' | 'F16', RegExp]>([
    ['group 64', { bits: 4, groupSize: 64, symmetric: true }, 'Q4_0', /groups of 64; Q4_0 is symmetric with groups of 32/],
    ['asymmetric', { bits: 4, groupSize: 32 }, 'Q4_0', /asymmetric .*Q4_0 needs 8 everywhere/],
    ['3 bits', { bits: 3, groupSize: 32, symmetric: true }, 'Q4_0', /3-bit QTensor cannot be written as Q4_0/],
    ['8 bits as Q4_0', { bits: 8, groupSize: 32, symmetric: true }, 'Q4_0', /8-bit QTensor cannot be written as Q4_0/],
    ['a float type', { bits: 4, groupSize: 32, symmetric: true }, 'F16', /written as Q4_0 \(4-bit\) or Q8_0 \(8-bit\), not F16/],
  ])('a QTensor with %s: NT_UNSUPPORTED saying why', (_what, opts, type, message) => {
    const w = f();
    const q = nt.quant.quantize(w, opts);
    try {
      expect(() => saveGguf(path.join(dir, 'x.gguf'), {}, [{ name: 'q', type, tensor: q }])).toThrow(
        expect.objectContaining({ code: 'NT_UNSUPPORTED', message: expect.stringMatching(message) }),
      );
    } finally {
      w.dispose();
      q.dispose();
    }
  });

  test('f32 scales past the f16 range: NT_VALUE', () => {
    const w = nt.full([1, 32], 1e6);
    const q = nt.quant.quantize(w, { bits: 4, groupSize: 32, symmetric: true, scaleDtype: 'f32' });
    try {
      expect(() => saveGguf(path.join(dir, 'x.gguf'), {}, [{ name: 'q', type: 'Q4_0', tensor: q }])).toThrow(
        expect.objectContaining({ code: 'NT_VALUE', message: expect.stringMatching(/outside the f16 range/) }),
      );
    } finally {
      w.dispose();
      q.dispose();
    }
  });

  test('an unwritable path: NT_IO; a bad path argument: NT_VALUE', () => {
    const x = f();
    try {
      expect(() => saveGguf(path.join(dir, 'missing', 'x.gguf'), {}, [{ name: 'x', type: 'F32', tensor: x }])).toThrow(expect.objectContaining({ code: 'NT_IO' }));
      expect(() => saveGguf('', {}, [])).toThrow(expect.objectContaining({ code: 'NT_VALUE' }));
      expect(() => saveGguf(path.join(dir, 'x.gguf'), [] as never, [])).toThrow(expect.objectContaining({ code: 'NT_VALUE' }));
      expect(() => saveGguf(path.join(dir, 'x.gguf'), {}, [{ name: 'x', type: 'F32', tensor: {} as never }])).toThrow(expect.objectContaining({ code: 'NT_VALUE' }));
    } finally {
      x.dispose();
    }
  });
});
