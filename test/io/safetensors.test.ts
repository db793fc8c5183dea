// safetensors: round trips of every dtype and view, byte-exact agreement with the reference
// writer, lazy and converting loads, metadata, atomic saves, sharded checkpoints, and the
// async forms (same results, event loop free).
import * as fs from 'fs';
import * as path from 'path';
import * as nt from '../../lib';
import { Tensor } from '../../lib/tensor';
import { bf16Decode, f16Decode } from '../helpers/reference';
import { LOADABLE, bytesOf, elementsOf, failure, removeDir, safetensorsBytes, seededTensor, tempDir } from './helpers';

let dir: string;
beforeAll(() => {
  dir = tempDir('st');
});
afterAll(() => removeDir(dir));

const file = (name: string) => path.join(dir, name);

function disposeAll(ts: Record<string, Tensor>): void {
  for (const t of Object.values(ts)) t.dispose();
}

describe('safetensors round trips', () => {
  const shapes: number[][] = [[], [0], [1], [7], [33, 3], [2, 0, 5], [3, 1, 129], [1031]];

  it.each(LOADABLE)('%s tensors of odd, 0-d and empty shapes come back bit for bit', (dtype) => {
    const base = nt.memory();
    const tensors: Record<string, Tensor> = {};
    shapes.forEach((s, i) => (tensors[`t${i}.${s.join('x')}`] = seededTensor(dtype, s, 100 + i)));
    const p = file(`all-${dtype}.safetensors`);
    nt.io.saveSafetensors(p, tensors);
    const back = nt.io.loadSafetensors(p);
    expect(Object.keys(back).sort()).toEqual(Object.keys(tensors).sort());
    for (const [name, t] of Object.entries(tensors)) {
      expect(back[name].dtype).toBe(dtype);
      expect(back[name].shape).toEqual(t.shape);
      expect(Array.from(bytesOf(back[name]))).toEqual(Array.from(bytesOf(t)));
    }
    disposeAll(back);
    disposeAll(tensors);
    expect(nt.memory()).toEqual(base);
  });

  it('writes strided views (transposed, sliced, broadcast) contiguously', () => {
    const m = seededTensor('f32', [5, 7], 1);
    const h = seededTensor('f16', [4, 6, 3], 2);
    const views: Record<string, Tensor> = {
      transposed: m.transpose(),
      sliced: m.slice([1, 4], [2, 7]),
      permuted: h.transpose(2, 0, 1),
      strided: h.slice(null, [1, 5]).transpose(),
      broadcast: m.slice([2, 3])._expand('test', [3, 1, 7]),
    };
    const p = file('views.safetensors');
    nt.io.saveSafetensors(p, views);
    const back = nt.io.loadSafetensors(p);
    for (const [name, v] of Object.entries(views)) {
      expect(back[name].isContiguous).toBe(true);
      expect(back[name].shape).toEqual(v.shape);
      expect(Array.from(back[name].data)).toEqual(elementsOf(v));
    }
  });

  it('writes exactly the bytes of the reference implementation', () => {
    // huggingface/safetensors tests: test_serialization, test_empty, test_serialization_forced_alignement
    const data = new Float32Array([0, 1, 2, 3, 4, 5]);
    nt.io.saveSafetensors(file('ref1.safetensors'), { 'attn.0': nt.tensor(data, { shape: [1, 2, 3] }) });
    const header = '{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}';
    expect(fs.readFileSync(file('ref1.safetensors'))).toEqual(safetensorsBytes(header, new Uint8Array(data.buffer)));

    nt.io.saveSafetensors(file('ref2.safetensors'), { attn0: nt.tensor(data, { shape: [1, 1, 2, 3] }) });
    const padded = '{"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}       ';
    expect(fs.readFileSync(file('ref2.safetensors'))).toEqual(safetensorsBytes(padded, new Uint8Array(data.buffer)));

    nt.io.saveSafetensors(file('ref3.safetensors'), {}, { framework: 'pt' });
    expect(fs.readFileSync(file('ref3.safetensors'))).toEqual(safetensorsBytes('{"__metadata__":{"framework":"pt"}}     '));
    nt.io.saveSafetensors(file('ref4.safetensors'), {});
    expect(fs.readFileSync(file('ref4.safetensors'))).toEqual(safetensorsBytes('{}      '));
  });

  it('orders data by element size then name so every tensor is aligned', () => {
    const p = file('aligned.safetensors');
    nt.io.saveSafetensors(p, {
      b: seededTensor('u8', [3], 1),
      a: seededTensor('f16', [5], 2),
      c: seededTensor('f64', [2], 3),
      d: seededTensor('i32', [1], 4),
    });
    const info = nt.io.safetensorsInfo(p);
    expect(info.tensors.map((t) => t.name)).toEqual(['c', 'd', 'a', 'b']);
    for (const t of info.tensors) expect(t.byteOffset % ({ F64: 8, I32: 4, F16: 2, U8: 1 } as Record<string, number>)[t.fileDtype]).toBe(0);
    expect((info.headerBytes + 8) % 8).toBe(0);
  });

  it('keeps metadata and odd names (unicode, quotes, __proto__)', () => {
    const p = file('names.safetensors');
    const names = ['caf\u00e9.w', 'a "quoted" \\ name', '__proto__', 'emoji \u{1f600}', 'tab\tnewline\n'];
    const tensors: Record<string, Tensor> = {};
    names.forEach((n, i) => Object.defineProperty(tensors, n, { value: seededTensor('f32', [2], i), enumerable: true }));
    const metadata = { format: 'pt', 'note \u00e9': 'x "y" \n z' };
    nt.io.saveSafetensors(p, tensors, metadata);
    const back = nt.io.loadSafetensors(p);
    expect(Object.getPrototypeOf(back)).toBe(Object.prototype);
    expect(Object.keys(back).sort()).toEqual(names.slice().sort());
    for (const n of names) expect(Array.from(back[n].data)).toEqual(Array.from(tensors[n].data));
    expect(nt.io.safetensorsInfo(p).metadata).toEqual(metadata);
  });

  it('replaces an existing file atomically and leaves no temp files', () => {
    const p = file('atomic.safetensors');
    nt.io.saveSafetensors(p, { x: seededTensor('f32', [4], 1) });
    nt.io.saveSafetensors(p, { y: seededTensor('f64', [2], 2) });
    expect(Object.keys(nt.io.loadSafetensors(p))).toEqual(['y']);
    expect(fs.readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });
});

describe('safetensors loading options', () => {
  let p: string;
  let src: Record<string, Tensor>;
  beforeAll(() => {
    p = file('opts.safetensors');
    src = {
      'w.f32': seededTensor('f32', [33, 7], 11),
      'w.bf16': seededTensor('bf16', [129], 12),
      'w.f16': seededTensor('f16', [3, 5], 13),
      'w.f64': seededTensor('f64', [9], 14),
      ids: seededTensor('i32', [6], 15),
      mask: seededTensor('u8', [4], 16),
    };
    nt.io.saveSafetensors(p, src);
  });

  it('reads only the named tensors, in the order asked', () => {
    const before = nt.memory();
    const got = nt.io.loadSafetensors(p, { names: ['w.f16', 'ids'] });
    expect(Object.keys(got)).toEqual(['w.f16', 'ids']);
    expect(Array.from(got.ids.data)).toEqual(Array.from(src.ids.data));
    expect(nt.memory().tensors - before.tensors).toBe(2);
    disposeAll(got);
    expect(nt.io.loadSafetensors(p, { names: [] })).toEqual({});
  });

  it('converts floating-point tensors to the requested dtype and leaves integers alone', () => {
    const got = nt.io.loadSafetensors(p, { dtype: 'f32' });
    expect(got['w.f32'].dtype).toBe('f32');
    expect(Array.from(got['w.bf16'].data)).toEqual(Array.from(src['w.bf16'].data as Uint16Array, bf16Decode));
    expect(Array.from(got['w.f16'].data)).toEqual(Array.from(src['w.f16'].data as Uint16Array, f16Decode));
    expect(Array.from(got['w.f64'].data)).toEqual(Array.from(src['w.f64'].data, Math.fround));
    expect(got.ids.dtype).toBe('i32');
    expect(got.mask.dtype).toBe('u8');
    const f64 = nt.io.loadSafetensors(p, { names: ['w.f16'], dtype: 'f64' });
    expect(Array.from(f64['w.f16'].data)).toEqual(Array.from(src['w.f16'].data as Uint16Array, f16Decode));
    // f32 -> f16/bf16 rounds to nearest even, as astype does
    const h = nt.io.loadSafetensors(p, { names: ['w.f32', 'w.f64'], dtype: 'f16' });
    const ref = src['w.f32'].astype('f16');
    expect(Array.from(h['w.f32'].data)).toEqual(Array.from(ref.data));
    expect(Array.from(h['w.f64'].data)).toEqual(Array.from(src['w.f64'].astype('f16').data));
    const b = nt.io.loadSafetensors(p, { names: ['w.f32'], dtype: 'bf16' });
    expect(Array.from(b['w.f32'].data)).toEqual(Array.from(src['w.f32'].astype('bf16').data));
  });

  it('reports the header without reading data', () => {
    const info = nt.io.safetensorsInfo(p);
    expect(info.fileBytes).toBe(fs.statSync(p).size);
    expect(info.metadata).toEqual({});
    const bf = info.tensors.find((t) => t.name === 'w.bf16')!;
    expect(bf).toMatchObject({ dtype: 'bf16', fileDtype: 'BF16', shape: [129], byteLength: 258 });
    const fd = fs.openSync(p, 'r');
    const raw = Buffer.alloc(bf.byteLength);
    fs.readSync(fd, raw, 0, bf.byteLength, bf.byteOffset);
    fs.closeSync(fd);
    expect(new Uint16Array(raw.buffer, raw.byteOffset, 129)).toEqual(src['w.bf16'].data);
  });

  it('loads other stored integer types as i32 (range-checked) and bool as u8', () => {
    const i64 = new BigInt64Array([-3n, 0n, 2147483647n]);
    const u16 = new Uint16Array([0, 65535]);
    const bool = new Uint8Array([0, 1, 1, 0]);
    const data = Buffer.concat([Buffer.from(i64.buffer), Buffer.from(u16.buffer), Buffer.from(bool)]);
    const q = file('ints.safetensors');
    fs.writeFileSync(q, safetensorsBytes({
      a: { dtype: 'I64', shape: [3], data_offsets: [0, 24] },
      b: { dtype: 'U16', shape: [2], data_offsets: [24, 28] },
      c: { dtype: 'BOOL', shape: [2, 2], data_offsets: [28, 32] },
    }, data));
    const got = nt.io.loadSafetensors(q);
    expect(got.a.toArray()).toEqual([-3, 0, 2147483647]);
    expect(got.b.dtype).toBe('i32');
    expect(got.b.toArray()).toEqual([0, 65535]);
    expect(got.c.dtype).toBe('u8');
    expect(got.c.toArray()).toEqual([[0, 1], [1, 0]]);
    expect(nt.io.safetensorsInfo(q).tensors.map((t) => [t.fileDtype, t.dtype])).toEqual([['I64', 'i32'], ['U16', 'i32'], ['BOOL', 'u8']]);
  });

  it('rejects bad options and names with coded errors', async () => {
    expect(await failure(() => nt.io.loadSafetensors(p, { names: ['nope'] }))).toMatchObject({
      code: 'NT_IO', message: expect.stringMatching(/^\[io\.loadSafetensors\] .*opts\.safetensors: no tensor named 'nope'$/),
    });
    expect(await failure(() => nt.io.loadSafetensors(p, { names: 'ids' as never }))).toMatchObject({ code: 'NT_VALUE', message: expect.stringMatching(/names must be an array of strings/) });
    expect(await failure(() => nt.io.loadSafetensors(p, { names: ['ids', 'ids'] }))).toMatchObject({ code: 'NT_VALUE', message: expect.stringMatching(/'ids' twice/) });
    expect(await failure(() => nt.io.loadSafetensors(p, { dtype: 'i32' }))).toMatchObject({ code: 'NT_DTYPE', message: expect.stringMatching(/dtype must be one of f32, f64, f16, bf16, got i32/) });
    expect(await failure(() => nt.io.loadSafetensors(p, { dtype: 'u4' }))).toMatchObject({ code: 'NT_UNSUPPORTED' });
    expect(await failure(() => nt.io.loadSafetensors(p, null as never))).toMatchObject({ code: 'NT_VALUE', message: expect.stringMatching(/options must be an object/) });
    expect(await failure(() => nt.io.loadSafetensors(42 as never))).toMatchObject({ code: 'NT_VALUE', message: expect.stringMatching(/path must be a non-empty string/) });
    expect(await failure(() => nt.io.loadSafetensors(''))).toMatchObject({ code: 'NT_VALUE' });
    expect(await failure(() => nt.io.loadSafetensors('a\0b'))).toMatchObject({ code: 'NT_VALUE', message: expect.stringMatching(/NUL/) });
    expect(await failure(() => nt.io.loadSafetensors(file('missing.safetensors')))).toMatchObject({
      code: 'NT_IO', message: expect.stringMatching(/missing\.safetensors: no such file or directory/),
    });
    expect(await failure(() => nt.io.safetensorsInfo(dir))).toMatchObject({ code: 'NT_IO', message: expect.stringMatching(/neither model\.safetensors nor model\.safetensors\.index\.json/) });
  });

  it('rejects unsaveable tensors and metadata before writing anything', async () => {
    const q = file('never.safetensors');
    const packed = nt.tensor(new Uint8Array([0x21]), { dtype: 'u4' });
    expect(await failure(() => nt.io.saveSafetensors(q, { p: packed }))).toMatchObject({ code: 'NT_UNSUPPORTED', message: expect.stringMatching(/tensor 'p' has dtype u4, which safetensors cannot store/) });
    expect(await failure(() => nt.io.saveSafetensors(q, { i: nt.tensor(new Uint8Array([1]), { dtype: 'i4' }) }))).toMatchObject({ code: 'NT_UNSUPPORTED' });
    expect(await failure(() => nt.io.saveSafetensors(q, { x: src.ids }, { n: 1 as never }))).toMatchObject({ code: 'NT_VALUE', message: expect.stringMatching(/metadata\['n'\] must be a string/) });
    expect(await failure(() => nt.io.saveSafetensors(q, { __metadata__: src.ids }))).toMatchObject({ code: 'NT_VALUE', message: expect.stringMatching(/reserved/) });
    expect(await failure(() => nt.io.saveSafetensors(q, { '': src.ids }))).toMatchObject({ code: 'NT_VALUE' });
    expect(await failure(() => nt.io.saveSafetensors(q, { x: 3 as never }))).toMatchObject({ code: 'NT_VALUE', message: expect.stringMatching(/tensors\['x'\] is not a Tensor/) });
    expect(await failure(() => nt.io.saveSafetensors(q, src.ids as never))).toMatchObject({ code: 'NT_VALUE' });
    const gone = seededTensor('f32', [2], 1);
    gone.dispose();
    expect(await failure(() => nt.io.saveSafetensors(q, { gone }))).toMatchObject({ code: 'NT_DISPOSED', message: expect.stringMatching(/\[io\.saveSafetensors\] tensors\['gone'\] was disposed/) });
    expect(await failure(() => nt.io.saveSafetensors(path.join(dir, 'no-such-dir', 'x.safetensors'), { x: src.ids }))).toMatchObject({
      code: 'NT_IO', message: expect.stringMatching(/^\[io\.saveSafetensors\] .*x\.safetensors: cannot create .*No such file or directory/),
    });
    expect(fs.existsSync(q)).toBe(false);
    expect(fs.readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });
});

describe('sharded checkpoints', () => {
  let shardDir: string;
  let all: Record<string, Tensor>;
  beforeAll(() => {
    shardDir = path.join(dir, 'sharded');
    fs.mkdirSync(shardDir);
    all = {
      'model.embed.weight': seededTensor('bf16', [16, 8], 1),
      'model.layers.0.w': seededTensor('bf16', [8, 8], 2),
      'model.layers.1.w': seededTensor('bf16', [8, 8], 3),
      'model.norm.weight': seededTensor('f32', [8], 4),
    };
    const shards = ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'];
    const weightMap: Record<string, string> = {};
    Object.keys(all).forEach((n, i) => (weightMap[n] = shards[i < 2 ? 0 : 1]));
    for (const s of shards) {
      const part: Record<string, Tensor> = {};
      for (const [n, f] of Object.entries(weightMap)) if (f === s) part[n] = all[n];
      nt.io.saveSafetensors(path.join(shardDir, s), part, { format: 'pt' });
    }
    fs.writeFileSync(path.join(shardDir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: 600 }, weight_map: weightMap }, null, 2));
  });

  it('loads every tensor through the index, from the folder or the index path', async () => {
    for (const target of [shardDir, path.join(shardDir, 'model.safetensors.index.json')]) {
      const got = nt.io.loadSafetensors(target, { dtype: 'f32' });
      expect(Object.keys(got)).toEqual(Object.keys(all));
      for (const [n, t] of Object.entries(all)) {
        const expected = t.dtype === 'bf16' ? Array.from(t.data as Uint16Array, bf16Decode) : Array.from(t.data);
        expect(Array.from(got[n].data)).toEqual(expected);
      }
      disposeAll(got);
    }
    const lazy = await nt.io.loadSafetensorsAsync(shardDir, { names: ['model.norm.weight'] });
    expect(Object.keys(lazy)).toEqual(['model.norm.weight']);
    expect(Array.from(lazy['model.norm.weight'].data)).toEqual(Array.from(all['model.norm.weight'].data));
  });

  it('loads a folder holding a single model.safetensors', () => {
    const single = path.join(dir, 'single');
    fs.mkdirSync(single);
    nt.io.saveSafetensors(path.join(single, 'model.safetensors'), { a: all['model.norm.weight'] });
    expect(Object.keys(nt.io.loadSafetensors(single))).toEqual(['a']);
    expect(nt.io.safetensorsInfo(single).tensors[0].name).toBe('a');
    expect(fs.readdirSync(single)).toEqual(['model.safetensors']);
  });

  it('rejects indexes that escape the folder, are malformed, or disagree with their shards', async () => {
    const bad = path.join(dir, 'bad-index');
    fs.mkdirSync(bad);
    fs.copyFileSync(path.join(shardDir, 'model-00001-of-00002.safetensors'), path.join(bad, 'a.safetensors'));
    const index = path.join(bad, 'model.safetensors.index.json');
    const write = (o: unknown) => fs.writeFileSync(index, typeof o === 'string' ? o : JSON.stringify(o));
    const cases: [unknown, string, RegExp][] = [
      [{ weight_map: { x: '../a.safetensors' } }, 'NT_IO', /shard file '\.\.\/a\.safetensors' of tensor 'x' must be a plain file name/],
      [{ weight_map: { x: '/etc/passwd' } }, 'NT_IO', /must be a plain file name/],
      [{ weight_map: { x: 'sub\\a.safetensors' } }, 'NT_IO', /must be a plain file name/],
      [{ weight_map: { x: 3 } }, 'NT_IO', /"weight_map" entry 'x' must be a string, got a number/],
      [{ metadata: {} }, 'NT_IO', /the index has no "weight_map"/],
      ['{"weight_map": {"x": "a.safetensors", "x": "a.safetensors"}}', 'NT_IO', /duplicate key "x"/],
      ['{"weight_map": ', 'NT_IO', /index JSON at byte 15: unexpected end of input/],
      [{ weight_map: { 'model.embed.weight': 'missing.safetensors' } }, 'NT_IO', /missing\.safetensors: no such file or directory|missing\.safetensors: cannot open/],
      [{ weight_map: { 'model.norm.weight': 'a.safetensors' } }, 'NT_IO', /a\.safetensors: the index places tensor 'model\.norm\.weight' in this shard, but it has no such tensor/],
    ];
    for (const [content, code, re] of cases) {
      write(content);
      expect(await failure(() => nt.io.loadSafetensors(bad))).toMatchObject({ code, message: expect.stringMatching(re) });
      expect(await failure(() => nt.io.loadSafetensorsAsync(bad))).toMatchObject({ code, message: expect.stringMatching(re) });
    }
    write({ weight_map: { 'model.embed.weight': 'a.safetensors' } });
    expect(await failure(() => nt.io.loadSafetensors(bad, { names: ['zzz'] }))).toMatchObject({ code: 'NT_IO', message: expect.stringMatching(/the index has no tensor 'zzz'/) });
    expect(Object.keys(nt.io.loadSafetensors(bad))).toEqual(['model.embed.weight']);
    expect(await failure(() => nt.io.safetensorsInfo(bad))).toMatchObject({ code: 'NT_VALUE', message: expect.stringMatching(/sharded checkpoint/) });
  });
});

describe('async loading', () => {
  it('gives the same tensors as the sync form', async () => {
    const p = file('async.safetensors');
    nt.io.saveSafetensors(p, { a: seededTensor('bf16', [129, 7], 1), b: seededTensor('i8', [1031], 2), c: seededTensor('f64', [], 3) });
    for (const opts of [{}, { dtype: 'f32' as const }, { names: ['c', 'a'] }]) {
      const sync = nt.io.loadSafetensors(p, opts);
      const pending = nt.io.loadSafetensorsAsync(p, opts);
      expect(pending).toBeInstanceOf(Promise);
      const got = await pending;
      expect(Object.keys(got)).toEqual(Object.keys(sync));
      for (const n of Object.keys(sync)) {
        expect(got[n].dtype).toBe(sync[n].dtype);
        expect(got[n].shape).toEqual(sync[n].shape);
        expect(Array.from(bytesOf(got[n]))).toEqual(Array.from(bytesOf(sync[n])));
      }
    }
  });

  it('reads on a worker while the event loop keeps turning', async () => {
    const p = file('big.safetensors');
    const big = seededTensor('f32', [1 << 18], 5);
    nt.io.saveSafetensors(p, { big });
    // The header and the data are two worker jobs; the loop must turn (check phase) at least
    // once between them. A load done synchronously inside the call would settle before any turn.
    let settled = false;
    const pending = nt.io.loadSafetensorsAsync(p, { dtype: 'f16' }).then((r) => {
      settled = true;
      return r;
    });
    let turnsWhilePending = 0;
    while (!settled) {
      await new Promise((r) => setImmediate(r));
      if (!settled) turnsWhilePending++;
    }
    const loaded = (await pending).big;
    expect(turnsWhilePending).toBeGreaterThan(0);
    expect(Array.from(loaded.data.subarray(0, 1031))).toEqual(Array.from(big.slice([0, 1031]).astype('f16').data));
  });

  it('rejects (never throws synchronously) and releases what it allocated', async () => {
    const before = nt.memory();
    const p = file('async-bad.safetensors');
    fs.writeFileSync(p, safetensorsBytes({ x: { dtype: 'I64', shape: [1], data_offsets: [0, 8] } }, new Uint8Array(new BigInt64Array([2n ** 40n]).buffer)));
    const pending = nt.io.loadSafetensorsAsync(p);
    await expect(pending).rejects.toMatchObject({ code: 'NT_VALUE', message: expect.stringMatching(/^\[io\.loadSafetensorsAsync\] .*tensor 'x': element 0 = 1099511627776 does not fit i32/) });
    expect(await failure(() => nt.io.loadSafetensors(p))).toMatchObject({ code: 'NT_VALUE', message: expect.stringMatching(/^\[io\.loadSafetensors\] /) });
    await expect(nt.io.loadSafetensorsAsync(42 as never)).rejects.toMatchObject({ code: 'NT_VALUE' });
    expect(nt.memory()).toEqual(before);
  });

  it('saves asynchronously with the same bytes as the sync form', async () => {
    const t = { w: seededTensor('f32', [7, 5], 9).transpose(), b: seededTensor('u8', [3], 10) };
    nt.io.saveSafetensors(file('s1.safetensors'), t, { k: 'v' });
    await nt.io.saveSafetensorsAsync(file('s2.safetensors'), t, { k: 'v' });
    expect(fs.readFileSync(file('s2.safetensors'))).toEqual(fs.readFileSync(file('s1.safetensors')));
  });
});

describe('mapped loading', () => {
  /** A safetensors file from a header object and data bytes, with the header padded to `headerLen`. */
  function rawFile(p: string, header: object, data: Buffer, headerLen?: number): void {
    let json = JSON.stringify(header);
    if (headerLen !== undefined) json = json.padEnd(headerLen, ' ');
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
    fs.writeFileSync(p, Buffer.concat([len, Buffer.from(json), data]));
  }

  it('tensors kept in their stored dtype are zero-copy views; in-place writes never reach the file', () => {
    const base = nt.memory();
    const p = file('mapped.safetensors');
    const src = { w: seededTensor('bf16', [300, 129], 1), n: seededTensor('f32', [129], 2) };
    nt.io.saveSafetensors(p, src);
    const before = fs.readFileSync(p);
    const t = nt.io.loadSafetensors(p);
    expect(nt.memory().mappedBytes - base.mappedBytes).toBe(300 * 129 * 2 + 129 * 4);
    expect(bytesOf(t.w)).toEqual(bytesOf(src.w));
    nt.add(t.n, 1, { out: t.n }); // copy-on-write: private to this process
    expect(fs.readFileSync(p).equals(before)).toBe(true);
    const again = nt.io.loadSafetensors(p, { names: ['n'] });
    expect(bytesOf(again.n)).toEqual(bytesOf(src.n));
    disposeAll(again);
    // converted or map: false tensors are read into native memory instead
    const conv = nt.io.loadSafetensors(p, { dtype: 'f32', map: false });
    expect(conv.w.dtype).toBe('f32');
    expect(nt.memory().mappedBytes - base.mappedBytes).toBe(300 * 129 * 2 + 129 * 4);
    disposeAll(conv);
    disposeAll(t);
    disposeAll(src);
    expect(nt.memory()).toEqual(base);
    expect(() => nt.io.loadSafetensors(p, { map: 'yes' as never })).toThrow(expect.objectContaining({ code: 'NT_VALUE' }));
  });

  it('disposing a mapped tensor gives its pages back while other tensors of the file stay mapped', () => {
    const p = file('two-big.safetensors');
    const n = 16 << 20; // 64 MiB of f32 each
    const a = nt.full([n], 1.5);
    const b = nt.full([n], -2);
    nt.io.saveSafetensors(p, { a, b });
    a.dispose();
    b.dispose();
    const t = nt.io.loadSafetensors(p);
    const rss = () => process.memoryUsage().rss / 2 ** 20;
    const sumA = nt.sum(t.a); // reads every page of both
    const sumB = nt.sum(t.b);
    expect([sumA.get(), sumB.get()]).toEqual([1.5 * n, -2 * n]);
    const touched = rss();
    t.a.dispose();
    expect(touched - rss()).toBeGreaterThan(48); // a's 64 MiB left RSS; the file is still mapped for b
    const again = nt.sum(t.b);
    expect(again.get()).toBe(-2 * n);
    [sumA, sumB, again, t.b].forEach((x) => x.dispose());
    fs.unlinkSync(p);
  });

  it('a tensor misaligned in the file for its element type is read instead of mapped', () => {
    const base = nt.memory();
    const p = file('misaligned.safetensors');
    const vals = Float32Array.from([1.5, -2, 3.25, 1e-3, 7]);
    // a 9-byte-odd header puts the data section at an offset that is not a multiple of 4
    rawFile(p, { a: { dtype: 'F32', shape: [5], data_offsets: [0, 20] } }, Buffer.from(vals.buffer), 61);
    expect((8 + 61) % 4).not.toBe(0);
    const t = nt.io.loadSafetensors(p);
    expect(Array.from(t.a.data as Float32Array)).toEqual(Array.from(vals));
    expect(nt.memory().mappedBytes).toBe(base.mappedBytes);
    disposeAll(t);
  });

  it('reads a tensor that starts past 4 GiB (a sparse file)', () => {
    const p = file('huge-sparse.safetensors');
    const big = 2 ** 30 + 4; // f32 elements: 4 GiB + 16 bytes, never written (a hole)
    const header = JSON.stringify({ big: { dtype: 'F32', shape: [big], data_offsets: [0, big * 4] }, small: { dtype: 'F32', shape: [4], data_offsets: [big * 4, big * 4 + 16] } });
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(header.length));
    const fd = fs.openSync(p, 'w');
    try {
      fs.writeSync(fd, len);
      fs.writeSync(fd, header);
      fs.writeSync(fd, Buffer.from(Float32Array.from([1, 2, 3, 4]).buffer), 0, 16, 8 + header.length + big * 4);
    } finally {
      fs.closeSync(fd);
    }
    for (const map of [true, false]) {
      const t = nt.io.loadSafetensors(p, { names: ['small'], map });
      expect(Array.from(t.small.data as Float32Array)).toEqual([1, 2, 3, 4]);
      disposeAll(t);
    }
    fs.unlinkSync(p);
  });
});
