// GGUF reading: metadata and tensor infos as gguf-py's GGUFReader sees them, every ggml type
// ntensor reads decoded bit for bit as gguf-py's `gguf.quants.dequantize` (references in
// fixtures/gguf, scripts/fixtures/make_gguf_fixtures.py), Q4_0 / Q8_0 served as QTensors
// whose dequantization is that same reference, mapped F32/F16/BF16, and every malformed file
// of the corpus (test/corpus/gguf, scripts/corpus-gguf.js) a coded NT_IO naming what is wrong.
import * as fs from 'fs';
import * as path from 'path';
import * as nt from '../../lib';
import { QTensor } from '../../lib/quant/qtensor';
import { Tensor } from '../../lib/tensor';
import { failure, removeDir, tempDir } from './helpers';

const FIX = path.join(__dirname, '..', '..', 'fixtures', 'gguf');
const CORPUS = path.join(__dirname, '..', 'corpus');

interface Expected {
  metadata: Record<string, { type: string; itemType?: string; value: unknown }>;
  tensors: { name: string; type: string; dims: number[]; offset: number; bytes: number }[];
}
const expected: Expected = JSON.parse(fs.readFileSync(path.join(FIX, 'types.expected.json'), 'utf8'));

function bigints(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(bigints);
  if (v !== null && typeof v === 'object' && 'bigint' in v) return BigInt((v as { bigint: string }).bigint);
  return v;
}

/** Bitwise equality of two f32 arrays; the first difference in the message. */
function expectSameF32(a: Float32Array, b: Float32Array, what: string): void {
  expect(a.length).toBe(b.length);
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < ua.length; ++i)
    if (ua[i] !== ub[i]) throw new Error(`${what}: element ${i} is ${a[i]}, gguf-py gives ${b[i]}`);
}

function f32(t: Tensor): Float32Array {
  const c = t.astype('f32');
  try {
    return Float32Array.from(c.data as Float32Array);
  } finally {
    c.dispose();
  }
}

let dir: string;
let ref: Record<string, Tensor>;
let base: ReturnType<typeof nt.memory>;
beforeAll(() => {
  dir = tempDir('gguf');
  ref = nt.io.loadSafetensors(path.join(FIX, 'types.expected.safetensors'), { map: false });
  base = nt.memory();
});
afterAll(() => {
  for (const t of Object.values(ref)) t.dispose();
  removeDir(dir);
});
afterEach(() => expect(nt.memory().bytes).toBe(base.bytes));

describe('GGUF header', () => {
  test('metadata values and their GGUF types match gguf-py, u64/i64 past 2^53 as bigints', () => {
    const g = nt.io.readGguf(path.join(FIX, 'types.gguf'));
    expect(g.version).toBe(3);
    expect(g.alignment).toBe(32);
    expect(Object.keys(g.metadata)).toEqual(Object.keys(expected.metadata));
    for (const [k, e] of Object.entries(expected.metadata)) {
      expect([k, g.metadataTypes[k]]).toEqual([k, e.itemType ? `array<${e.itemType}>` : e.type]);
      const got = g.metadata[k];
      if (e.type === 'f32' || e.itemType === 'f32') expect([k, got]).toEqual([k, e.value]); // f32 widened exactly
      else expect([k, got]).toEqual([k, bigints(e.value)]);
    }
    expect(typeof g.metadata['test.u64_big']).toBe('bigint');
    expect(g.metadata['test.u64_small']).toBe(2 ** 40 + 3);
    expect(g.metadata['test.array_u64']).toEqual([1, 2n ** 60n]); // past 2^53: a bigint even where a double is exact
    g.dispose();
  });

  test('tensor infos (ggml dims, type, absolute offset, bytes) match gguf-py; shapes are the dims reversed', () => {
    const g = nt.io.readGguf(path.join(FIX, 'types.gguf'));
    expect(g.tensors.map((t) => ({ name: t.name, type: t.type, dims: t.dims, offset: t.byteOffset, bytes: t.byteLength }))).toEqual(expected.tensors);
    for (const t of g.tensors) expect(t.shape).toEqual(t.dims.slice().reverse());
    expect(g.info('q4_0_3d').shape).toEqual([2, 3, 32]);
    g.dispose();
  });
});

describe('GGUF tensor data', () => {
  const decodable = ['f32', 'f16', 'bf16', 'q8_0', 'q4_0', 'q4_0_3d', 'q4_1', 'q4_k', 'q5_k', 'q6_k', 'norm'];

  test.each(decodable)('%s dequantizes bit for bit as gguf-py does', (name) => {
    const g = nt.io.readGguf(path.join(FIX, 'types.gguf'));
    const d = g.dequantize(name);
    expect(d.dtype).toBe('f32');
    expect(d.shape).toEqual(ref[name].shape);
    expectSameF32(d.data as Float32Array, ref[name].data as Float32Array, name);
    d.dispose();
  });

  test.each([['f32', 'f32'], ['f16', 'f16'], ['bf16', 'bf16'], ['norm', 'f32']])('%s loads as a mapped %s tensor of the stored values', (name, dtype) => {
    const g = nt.io.readGguf(path.join(FIX, 'types.gguf'));
    const before = nt.memory();
    const t = g.tensor(name) as Tensor;
    expect(t).toBeInstanceOf(Tensor);
    expect(t.dtype).toBe(dtype);
    expect(t.shape).toEqual(ref[name].shape);
    expect(nt.memory().mappedBytes).toBeGreaterThan(before.mappedBytes ?? 0);
    expectSameF32(f32(t), ref[name].data as Float32Array, name);
    t.dispose();
  });

  test.each([['q4_0', 4, 8], ['q8_0', 8, 128], ['q4_0_3d', 4, 8]])('%s loads as a symmetric group-32 QTensor (%i bits, zero %i, f16 scales) equal to gguf-py', (name, bits, zero) => {
    const g = nt.io.readGguf(path.join(FIX, 'types.gguf'));
    const q = g.tensor(name) as QTensor;
    expect(q).toBeInstanceOf(QTensor);
    const shape = ref[name].shape;
    expect(q.shape).toEqual([shape.slice(0, -1).reduce((a, b) => a * b, 1), shape[shape.length - 1]]);
    expect([q.bits, q.groupSize, q.symmetric, q.scales.dtype, q.gIdx]).toEqual([bits, 32, true, 'f16', null]);
    expect(new Set(q.zeros.data as Uint8Array)).toEqual(new Set([zero]));
    const d = nt.quant.dequantize(q);
    expectSameF32(d.data as Float32Array, ref[name].data as Float32Array, name);
    d.dispose();
    q.dispose();
  });

  test('Q4_0 served by the int4 matmul equals x · dequant(W)ᵀ in float64', () => {
    const g = nt.io.readGguf(path.join(FIX, 'types.gguf'));
    const q = g.tensor('q4_0') as QTensor;
    const [rows, cols] = q.shape;
    const x = nt.randn([3, cols], { seed: 5 });
    const y = nt.quant.matmul(x, q);
    const w = ref.q4_0.data as Float32Array;
    const xv = x.data as Float32Array;
    const yv = y.data as Float32Array;
    for (let i = 0; i < 3; ++i)
      for (let r = 0; r < rows; ++r) {
        let s = 0;
        for (let c = 0; c < cols; ++c) s += xv[i * cols + c] * w[r * cols + c];
        expect(Math.abs(yv[i * rows + r] - s)).toBeLessThan(1e-4 * (1 + Math.abs(s)));
      }
    for (const t of [x, y]) t.dispose();
    q.dispose();
  });

  test.each(['q4_1', 'q4_k', 'q5_k', 'q6_k'])('%s loads dequantized (f32, or the dtype asked for)', (name) => {
    const g = nt.io.readGguf(path.join(FIX, 'types.gguf'));
    const t = g.tensor(name) as Tensor;
    expect(t.dtype).toBe('f32');
    expectSameF32(t.data as Float32Array, ref[name].data as Float32Array, name);
    t.dispose();
    const h = g.tensor(name, { dtype: 'bf16' }) as Tensor;
    const r16 = ref[name].astype('bf16');
    expect(Array.from(h.data as Uint16Array)).toEqual(Array.from(r16.data as Uint16Array));
    h.dispose();
    r16.dispose();
  });

  test.each([['q5_0', 'Q5_0'], ['q2_k', 'Q2_K']])('%s (a type ntensor does not decode) is NT_UNSUPPORTED naming %s', async (name, type) => {
    const g = nt.io.readGguf(path.join(FIX, 'types.gguf'));
    const f = await failure(() => g.tensor(name));
    expect(f.code).toBe('NT_UNSUPPORTED');
    expect(f.message).toContain(`tensor '${name}' has ggml type ${type}`);
    expect((await failure(() => g.dequantize(name))).code).toBe('NT_UNSUPPORTED');
    // its raw blocks are still readable
    const raw = g.raw(name);
    expect(raw.shape).toEqual([g.info(name).byteLength]);
    raw.dispose();
  });

  test('alignment 1: tensors at odd offsets are copied (not viewed misaligned) with the stored values', () => {
    const g = nt.io.readGguf(path.join(FIX, 'align1.gguf'));
    const r = nt.io.loadSafetensors(path.join(FIX, 'align1.expected.safetensors'), { map: false });
    expect(g.alignment).toBe(1);
    expect(g.info('odd').byteOffset % 4).not.toBe(0);
    expect(g.info('odd16').byteOffset % 2).not.toBe(0);
    for (const name of ['odd', 'odd16']) {
      const t = g.tensor(name) as Tensor;
      expectSameF32(f32(t), r[name].data as Float32Array, name);
      t.dispose();
    }
    for (const t of Object.values(r)) t.dispose();
  });

  test('tensors stay valid after the file object is disposed; the file object then refuses', async () => {
    const g = nt.io.readGguf(path.join(FIX, 'types.gguf'));
    const t = g.tensor('f32') as Tensor;
    g.dispose();
    expect(g.isDisposed).toBe(true);
    expectSameF32(t.data as Float32Array, ref.f32.data as Float32Array, 'f32');
    t.dispose();
    expect((await failure(() => g.tensor('f32'))).code).toBe('NT_DISPOSED');
  });

  test('bad arguments are coded errors', async () => {
    const g = nt.io.readGguf(path.join(FIX, 'types.gguf'));
    expect(await failure(() => g.tensor('nope'))).toMatchObject({ code: 'NT_VALUE', message: expect.stringContaining("no tensor named 'nope'") });
    expect((await failure(() => g.tensor(3 as never))).code).toBe('NT_VALUE');
    expect((await failure(() => g.tensor('q4_k', { dtype: 'i8' as never }))).code).toBe('NT_DTYPE');
    expect((await failure(() => g.tensor('q4_k', 5 as never))).code).toBe('NT_VALUE');
    expect((await failure(() => nt.io.readGguf(''))).code).toBe('NT_VALUE');
    expect(await failure(() => nt.io.readGguf(path.join(dir, 'missing.gguf')))).toMatchObject({ code: 'NT_IO', message: expect.stringContaining('[io.readGguf]') });
    expect((await failure(() => nt.io.readGguf(dir))).code).toBe('NT_IO');
  });

  test('metadata arrays past 2^22 items in all are NT_IO before they are held (a small file cannot expand into gigabytes)', async () => {
    const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32LE(n); return b; };
    const u64 = (n: number) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(n)); return b; };
    const str = (t: string) => Buffer.concat([u64(t.length), Buffer.from(t)]);
    const arr = (key: string, n: number) => Buffer.concat([str(key), u32(9), u32(0), u64(n), Buffer.alloc(n)]);
    const file = (parts: Buffer[]) => Buffer.concat([Buffer.from('GGUF'), u32(3), u64(0), u64(parts.length), ...parts]);
    const p = path.join(dir, 'items.gguf');
    fs.writeFileSync(p, file([arr('a', 3 << 20), arr('b', (1 << 20) + 1)]));
    expect(await failure(() => nt.io.readGguf(p))).toMatchObject({ code: 'NT_IO', message: expect.stringMatching(/metadata 'b': array at byte \d+ of 1048577 items takes the metadata past 4194304 array items in all/) });
    fs.writeFileSync(p, file([arr('a', 3 << 20), arr('b', 1 << 20)]));
    const g = nt.io.readGguf(p);
    expect((g.metadata.b as number[]).length).toBe(1 << 20);
  });

  test('a file truncated after its header was read: mapping the tensor past the end is NT_IO', async () => {
    const p = path.join(dir, 'shrinks.gguf');
    fs.copyFileSync(path.join(FIX, 'types.gguf'), p);
    const g = nt.io.readGguf(p);
    fs.truncateSync(p, g.info('q6_k').byteOffset);
    expect((await failure(() => g.tensor('q6_k'))).code).toBe('NT_IO');
  });
});

interface CorpusCase { id: string; api: string; mutation: string; files: string[]; expect: string; code?: string; message?: string }

describe('GGUF malformed-file corpus', () => {
  const manifest: { cases: CorpusCase[] } = JSON.parse(fs.readFileSync(path.join(CORPUS, 'manifest.json'), 'utf8'));
  const cases = manifest.cases.filter((c) => c.api === 'gguf');

  test('the corpus covers every rule', () => {
    expect(cases.length).toBeGreaterThan(80);
    expect(cases.filter((c) => c.expect === 'error' && c.message).length).toBeGreaterThan(40);
  });

  test.each(cases.filter((c) => c.expect === 'error').map((c) => [c.id, c.mutation, c]))('%s %s: NT_IO naming what is wrong', async (_id, _m, c) => {
    const cc = c as CorpusCase;
    const f = await failure(() => nt.io.readGguf(path.join(CORPUS, cc.files[0])));
    expect(f.code).toBe(cc.code ?? 'NT_IO');
    expect(f.message).toContain(cc.files[0].split('/').pop());
    if (cc.message) expect(f.message).toMatch(new RegExp(cc.message));
  });

  test("'either' cases are a coded error or a file whose every tensor reads", () => {
    let loaded = 0;
    for (const c of cases.filter((x) => x.expect === 'either')) {
      let g: nt.io.GgufFile;
      try {
        g = nt.io.readGguf(path.join(CORPUS, c.files[0]));
      } catch (e) {
        expect([c.id, (e as { code?: string }).code]).toEqual([c.id, 'NT_IO']);
        continue;
      }
      ++loaded;
      for (const t of g.tensors) {
        if (!(t.type in nt.io.GGUF_TYPE_HANDLING)) continue;
        const d = g.dequantize(t.name);
        expect(d.shape).toEqual(t.shape);
        d.dispose();
      }
    }
    expect(loaded).toBeGreaterThan(3);
  });
});
