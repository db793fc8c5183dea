// Hostile files: each malformed safetensors / .npy file fails with a coded error that names
// the file and what is wrong, in both the sync and the async form; nothing crashes, nothing
// is left allocated. Sizes a header claims beyond what the file holds are refused before any
// allocation, and a checkpoint folder cannot lead a reader outside itself (symlinks
// followed), except a Hugging Face cache snapshot into its repo's blobs/.
import * as fs from 'fs';
import * as path from 'path';
import * as nt from '../../lib';
import { checkInsideFolder } from '../../lib/io/common';
import { writeTiny } from '../model/tiny';
import { failure, npyBytes, removeDir, safetensorsBytes, tempDir } from './helpers';

let dir: string;
beforeAll(() => {
  dir = tempDir('bad');
});
afterAll(() => removeDir(dir));

interface Case {
  name: string;
  bytes: Buffer;
  code: string;
  message: RegExp;
}

const entry = (dtype: unknown, shape: unknown, offsets: unknown) => ({ dtype, shape, data_offsets: offsets });
const ok = entry('F32', [2], [0, 8]);
const st = (name: string, header: string | object | Buffer, data: number, code: string, message: RegExp): Case => ({
  name, bytes: safetensorsBytes(header, data), code, message,
});
const lengthField = (n: bigint, rest: number) => {
  const b = Buffer.alloc(8 + rest);
  b.writeBigUInt64LE(n);
  return b;
};

const SAFETENSORS_CASES: Case[] = [
  { name: 'empty file', bytes: Buffer.alloc(0), code: 'NT_IO', message: /file is 0 bytes, shorter than the 8-byte header length field/ },
  { name: '7-byte file', bytes: Buffer.alloc(7), code: 'NT_IO', message: /file is 7 bytes/ },
  { name: 'header length beyond the file', bytes: lengthField(100n, 20), code: 'NT_IO', message: /header length 100 exceeds the 20 bytes that follow the length field/ },
  { name: 'huge header length', bytes: lengthField(2n ** 63n, 20), code: 'NT_IO', message: /header length 9223372036854775808 exceeds the limit of 100000000 bytes/ },
  { name: 'header length just over 100 MB', bytes: lengthField(100000001n, 20), code: 'NT_IO', message: /exceeds the limit/ },
  st('invalid JSON', '{"x": {"dtype": "F32",', 0, 'NT_IO', /header JSON at byte \d+: unexpected end of input/),
  st('JSON with a trailing comma', `{"x": ${JSON.stringify(ok)},}`, 8, 'NT_IO', /header JSON at byte \d+: trailing comma before '}'/),
  st('trailing garbage after the JSON', '{} x', 0, 'NT_IO', /header JSON at byte 3: unexpected 'x' after the end of the document/),
  st('invalid UTF-8 in a name', Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x7b, 0x7d, 0x7d]), 0, 'NT_IO', /header JSON at byte 2: invalid UTF-8 lead byte 0xff/),
  st('JSON not an object', '[1, 2]', 0, 'NT_IO', /the header must be a JSON object, got an array/),
  st('entry not an object', { x: [1] }, 0, 'NT_IO', /tensor 'x' must be an object with dtype, shape and data_offsets, got an array/),
  st('non-string dtype', { x: entry(32, [2], [0, 8]) }, 8, 'NT_IO', /tensor 'x': dtype must be a string, got a number/),
  st('unknown dtype', { x: entry('F128', [2], [0, 8]) }, 8, 'NT_IO', /tensor 'x' has unknown dtype "F128"/),
  st('shape not an array', { x: entry('F32', 2, [0, 8]) }, 8, 'NT_IO', /tensor 'x': shape must be an array, got a number/),
  st('negative dimension', { x: entry('F32', [-2], [0, 8]) }, 8, 'NT_IO', /tensor 'x' shape dimension must be a non-negative integer, got -2/),
  st('fractional dimension', '{"x": {"dtype": "F32", "shape": [2.5], "data_offsets": [0, 8]}}', 8, 'NT_IO', /got 2\.5/),
  st('exponent dimension', '{"x": {"dtype": "F32", "shape": [2e0], "data_offsets": [0, 8]}}', 8, 'NT_IO', /got 2e0/),
  st('dimension beyond 2^53', '{"x": {"dtype": "F32", "shape": [9007199254740993], "data_offsets": [0, 8]}}', 8, 'NT_IO', /exceeds 2\^53/),
  st('shape product overflow', { x: entry('F32', [2 ** 40, 2 ** 40], [0, 8]) }, 8, 'NT_IO', /tensor 'x' shape \[1099511627776,1099511627776\] overflows 64-bit size arithmetic/),
  st('data_offsets of length 1', { x: entry('F32', [2], [8]) }, 8, 'NT_IO', /data_offsets must have exactly 2 entries, got 1/),
  st('data_offsets of length 3', { x: entry('F32', [2], [0, 8, 8]) }, 8, 'NT_IO', /data_offsets must have exactly 2 entries, got more/),
  st('data_offsets not an array', { x: entry('F32', [2], '0-8') }, 8, 'NT_IO', /data_offsets must be an array \[begin, end\], got a string/),
  st('reversed data_offsets', { x: entry('F32', [2], [8, 0]) }, 8, 'NT_IO', /tensor 'x' data_offsets \[8, 0\] are reversed/),
  st('negative data offset', { x: entry('F32', [2], [-8, 0]) }, 8, 'NT_IO', /data offset must be a non-negative integer, got -8/),
  st('data_offsets beyond the file', { x: entry('F32', [3], [0, 12]) }, 8, 'NT_IO', /tensor 'x' data_offsets \[0, 12\] exceed the data section of 8 bytes/),
  st('overlapping tensors', { x: ok, y: entry('F32', [2], [4, 12]) }, 12, 'NT_IO', /tensor 'y' data_offsets \[4, 12\] overlap tensor 'x' \[0, 8\]/),
  st('gap between tensors', { x: ok, y: entry('F32', [1], [12, 16]) }, 16, 'NT_IO', /not contiguous: bytes \[8, 12\) belong to no tensor/),
  st('trailing bytes after the last tensor', { x: ok }, 12, 'NT_IO', /not contiguous: it has 12 bytes but the tensors end at byte 8/),
  st('byte size mismatch', { x: entry('F32', [3], [0, 8]) }, 8, 'NT_IO', /tensor 'x' has shape \[3\] and dtype F32 \(12 bytes\) but data_offsets \[0, 8\] span 8 bytes/),
  st('truncated data', { x: ok, y: entry('F64', [4], [8, 40]) }, 30, 'NT_IO', /tensor 'y' data_offsets \[8, 40\] exceed the data section of 30 bytes/),
  st('duplicate tensor names', `{"x": ${JSON.stringify(ok)}, "x": ${JSON.stringify(ok)}}`, 8, 'NT_IO', /duplicate tensor name "x"/),
  st('duplicate key inside an entry', '{"x": {"dtype": "F32", "shape": [2], "shape": [2], "data_offsets": [0, 8]}}', 8, 'NT_IO', /tensor 'x' has a duplicate key "shape"/),
  st('extra key in an entry', { x: { ...ok, offsets: [0, 8] } }, 8, 'NT_IO', /tensor 'x' has unexpected key "offsets"/),
  st('missing data_offsets', { x: { dtype: 'F32', shape: [2] } }, 8, 'NT_IO', /tensor 'x' is missing "data_offsets"/),
  st('empty tensor name', { '': ok }, 8, 'NT_IO', /tensor name is empty/),
  st('metadata not an object', { __metadata__: 'pt' }, 0, 'NT_IO', /__metadata__ must be an object of strings, got a string/),
  st('metadata value not a string', { __metadata__: { format: 1 } }, 0, 'NT_IO', /__metadata__ value of "format" must be a string, got a number/),
  st('deep nesting (10000 [)', '['.repeat(10000), 0, 'NT_IO', /the header must be a JSON object, got an array/),
  st('deep nesting inside an entry', `{"x": {"shape": ${'['.repeat(10000)}`, 0, 'NT_IO', /shape dimension must be a non-negative integer, got an array/),
  st('deep nesting in metadata', `{"__metadata__": ${'{"a": '.repeat(10000)}`, 0, 'NT_IO', /__metadata__ value of "a" must be a string, got an object/),
  st('unsupported stored dtype', { x: entry('F8_E4M3', [8], [0, 8]) }, 8, 'NT_UNSUPPORTED', /tensor 'x' has dtype F8_E4M3, which ntensor cannot load/),
  st('complex stored dtype', { x: entry('C64', [1], [0, 8]) }, 8, 'NT_UNSUPPORTED', /tensor 'x' has dtype C64/),
  st('rank above 8', { x: entry('F32', [1, 1, 1, 1, 1, 1, 1, 1, 1], [0, 4]) }, 4, 'NT_UNSUPPORTED', /tensor 'x' has rank 9; ntensor tensors have at most 8 dimensions/),
];

const NPY_OK = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }\n";
const npy = (name: string, dict: string, data: number, code: string, message: RegExp, version?: [number, number]): Case => ({
  name, bytes: npyBytes(dict, data, version), code, message,
});

const NPY_CASES: Case[] = [
  { name: 'empty file', bytes: Buffer.alloc(0), code: 'NT_IO', message: /file is 0 bytes, too short for a \.npy header/ },
  { name: 'bad magic', bytes: Buffer.concat([Buffer.from('PK\x03\x04', 'latin1'), npyBytes(NPY_OK, 8).subarray(4)]), code: 'NT_IO', message: /not a \.npy file \(bad magic/ },
  { name: 'bad version', bytes: npyBytes(NPY_OK, 8, [9, 0]), code: 'NT_IO', message: /unsupported \.npy format version 9\.0/ },
  { name: 'bad minor version', bytes: npyBytes(NPY_OK, 8, [1, 3]), code: 'NT_IO', message: /version 1\.3/ },
  { name: 'truncated preamble', bytes: npyBytes(NPY_OK, 8).subarray(0, 9), code: 'NT_IO', message: /file is 9 bytes, too short/ },
  { name: 'header length beyond the file', bytes: npyBytes(NPY_OK, 0).subarray(0, 40), code: 'NT_IO', message: /header length \d+ exceeds the file \(40 bytes\)/ },
  npy('header not a dict', "['descr', '<f4']\n", 8, 'NT_IO', /the header must be a dict literal starting with '\{'/),
  npy('missing shape', "{'descr': '<f4', 'fortran_order': False, }\n", 8, 'NT_IO', /header dict is missing 'shape'/),
  npy('missing descr', "{'fortran_order': False, 'shape': (2,), }\n", 8, 'NT_IO', /header dict is missing 'descr'/),
  npy('unknown key', "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'extra': 1}\n", 8, 'NT_IO', /unexpected key 'extra'/),
  npy('duplicate key', "{'descr': '<f4', 'descr': '<f8', 'fortran_order': False, 'shape': (2,)}\n", 8, 'NT_IO', /duplicate key 'descr'/),
  npy('fortran_order not a bool', "{'descr': '<f4', 'fortran_order': 'no', 'shape': (2,)}\n", 8, 'NT_IO', /expected True or False/),
  npy('negative dimension', "{'descr': '<f4', 'fortran_order': False, 'shape': (-2,)}\n", 8, 'NT_IO', /shape dimensions must be non-negative/),
  npy('shape not a tuple', "{'descr': '<f4', 'fortran_order': False, 'shape': 2}\n", 8, 'NT_IO', /expected '\(' starting the shape tuple/),
  npy('shape product overflow', "{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296, 4294967296)}\n", 8, 'NT_IO', /overflows/),
  npy('shape mismatch with data (short)', NPY_OK, 4, 'NT_IO', /truncated: shape \[2\] of <f4 needs 8 data bytes but the file has 4/),
  npy('shape mismatch with data (long)', NPY_OK, 12, 'NT_IO', /the file has 4 bytes after the data/),
  npy('text after the dict', "{'descr': '<f4', 'fortran_order': False, 'shape': (2,)} trailing\n", 8, 'NT_IO', /unexpected text after the dict/),
  npy('unterminated dict', "{'descr': '<f4', 'fortran_order': False, 'shape': (2,)\n", 8, 'NT_IO', /expected ',' or '}'|expected '}'/),
  npy('unsupported descr (complex)', "{'descr': '<c8', 'fortran_order': False, 'shape': (2,)}\n", 16, 'NT_UNSUPPORTED', /dtype '<c8' \(complex\) is not supported/),
  npy('unsupported descr (float128)', "{'descr': '<f16', 'fortran_order': False, 'shape': (1,)}\n", 16, 'NT_UNSUPPORTED', /dtype '<f16'/),
  npy('unsupported descr (object)', "{'descr': '|O', 'fortran_order': False, 'shape': (1,)}\n", 8, 'NT_UNSUPPORTED', /dtype '\|O' \(Python object\)/),
  npy('structured descr', "{'descr': [('x', '<f4')], 'fortran_order': False, 'shape': (1,)}\n", 4, 'NT_UNSUPPORTED', /structured dtypes/),
  npy('rank above 8', "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1, 1, 1, 1, 1, 1, 1)}\n", 4, 'NT_UNSUPPORTED', /array has rank 9/),
];

function check(kind: 'safetensors' | 'npy', c: Case) {
  it(`${c.name}: ${c.code}`, async () => {
    const before = nt.memory();
    const p = path.join(dir, `${c.name.replace(/\W+/g, '_')}.${kind}`);
    fs.writeFileSync(p, c.bytes);
    const base = path.basename(p).replace(/[.^$()[\]]/g, '\\$&');
    const [syncOp, load, loadAsync] =
      kind === 'safetensors'
        ? (['io.loadSafetensors', () => nt.io.loadSafetensors(p), () => nt.io.loadSafetensorsAsync(p)] as const)
        : (['io.loadNpy', () => nt.io.loadNpy(p), () => nt.io.loadNpyAsync(p)] as const);
    const e = await failure(load);
    expect(e).toMatchObject({ code: c.code, message: expect.stringMatching(c.message) });
    expect(e.message).toMatch(new RegExp(`^\\[${syncOp.replace('.', '\\.')}\\] .*${base}: `));
    const a = await failure(loadAsync);
    expect(a).toMatchObject({ code: c.code, message: expect.stringMatching(c.message) });
    expect(a.message).toMatch(new RegExp(`^\\[${syncOp.replace('.', '\\.')}Async\\] `));
    if (kind === 'safetensors' && c.code === 'NT_IO') expect((await failure(() => nt.io.safetensorsInfo(p))).code).toBe('NT_IO');
    expect(nt.memory()).toEqual(before);
  });
}

describe('malformed safetensors files', () => {
  for (const c of SAFETENSORS_CASES) check('safetensors', c);
});

describe('malformed npy files', () => {
  for (const c of NPY_CASES) check('npy', c);
});

describe('files changed under the reader', () => {
  it('a file truncated after its header was inspected fails naming the tensor, never returning partial data', async () => {
    const p = path.join(dir, 'shrinking.safetensors');
    nt.io.saveSafetensors(p, { a: nt.tensor(new Float32Array(64)), b: nt.tensor(new Float32Array(64)) });
    const info = nt.io.safetensorsInfo(p);
    fs.truncateSync(p, info.fileBytes - 16);
    expect(await failure(() => nt.io.loadSafetensors(p))).toMatchObject({
      code: 'NT_IO', message: expect.stringMatching(/tensor '[ab]' data_offsets \[256, 512\] exceed the data section of 496 bytes/),
    });
  });

  it('a directory, a missing file and a non-safetensors file are NT_IO with the path', async () => {
    expect(await failure(() => nt.io.loadNpy(dir))).toMatchObject({ code: 'NT_IO', message: expect.stringMatching(/is a directory, not a file/) });
    const text = path.join(dir, 'notes.txt');
    fs.writeFileSync(text, 'hello world, this is not a tensor file');
    expect(await failure(() => nt.io.loadSafetensors(text))).toMatchObject({ code: 'NT_IO', message: expect.stringMatching(/notes\.txt: header length \d+ exceeds the limit/) });
    expect(await failure(() => nt.io.loadNpy(text))).toMatchObject({ code: 'NT_IO', message: expect.stringMatching(/notes\.txt: not a \.npy file/) });
  });
});

describe('sizes beyond the file are refused before allocation', () => {
  const huge: [string, object | string, number][] = [
    ['a 2^40-byte tensor with consistent offsets in a 24-byte data section', { x: entry('F32', [2 ** 38], [0, 2 ** 40]) }, 24],
    ['a 2^62-byte tensor', '{"x":{"dtype":"F64","shape":[576460752303423488],"data_offsets":[0,4611686018427387904]}}', 8],
    ['4096 tensors of 1 GB each', Object.fromEntries([...Array(4096)].map((_, i) => [`t${i}`, entry('U8', [2 ** 30], [i * 2 ** 30, (i + 1) * 2 ** 30])])), 16],
    ['a 4 GB tensor behind a real one', { a: ok, b: entry('U8', [2 ** 32], [8, 8 + 2 ** 32]) }, 8],
  ];
  it.each(huge)('%s: NT_IO from the header, no tensor allocated, sync and async', async (_name, header, data) => {
    const p = path.join(dir, `huge-${_name.replace(/\W+/g, '_')}.safetensors`);
    fs.writeFileSync(p, safetensorsBytes(header, data));
    const before = nt.memory();
    const rss = process.memoryUsage().rss;
    for (const load of [() => nt.io.loadSafetensors(p), () => nt.io.loadSafetensorsAsync(p), () => nt.io.loadSafetensors(p, { dtype: 'f64' })])
      expect(await failure(load)).toMatchObject({ code: 'NT_IO', message: expect.stringMatching(/exceed the data section of \d+ bytes|exceeds 2\^53/) });
    expect(nt.memory()).toEqual(before);
    expect(process.memoryUsage().rss - rss).toBeLessThan(64 << 20);
  });

  it('a .npy shape claiming 64 GB with 12 data bytes is NT_IO before allocation', async () => {
    const p = path.join(dir, 'huge.npy');
    fs.writeFileSync(p, npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (17179869184,), }\n", 12));
    const before = nt.memory();
    expect(await failure(() => nt.io.loadNpy(p))).toMatchObject({ code: 'NT_IO', message: expect.stringMatching(/needs 68719476736 data bytes but the file has 12/) });
    expect(nt.memory()).toEqual(before);
  });
});

describe('a checkpoint folder cannot lead outside itself', () => {
  let root: string;
  beforeAll(() => {
    root = path.join(dir, 'paths');
    writeTiny(path.join(root, 'src'));
  });
  const copyModel = (to: string) => {
    fs.mkdirSync(to, { recursive: true });
    for (const f of ['config.json', 'model.safetensors']) fs.copyFileSync(path.join(root, 'src', f), path.join(to, f));
  };

  it('a model.safetensors symlink to a valid file outside the folder is NT_IO naming both paths', async () => {
    const m = path.join(root, 'planted');
    copyModel(m);
    fs.copyFileSync(path.join(m, 'model.safetensors'), path.join(root, 'outside.safetensors'));
    fs.rmSync(path.join(m, 'model.safetensors'));
    fs.symlinkSync('../outside.safetensors', path.join(m, 'model.safetensors'));
    expect(await failure(() => nt.model.load(m))).toMatchObject({
      code: 'NT_IO',
      message: expect.stringMatching(/^\[model\.load\] .*planted\/model\.safetensors: resolves to .*outside\.safetensors, outside the checkpoint folder .*planted/),
    });
  });

  it('a shard named by the index that is an absolute symlink to a file outside is refused', async () => {
    const m = path.join(root, 'sharded');
    writeTiny(m, {}, { shards: 2 });
    const shard = fs.readdirSync(m).find((f) => f.startsWith('model-00002'))!;
    fs.renameSync(path.join(m, shard), path.join(root, 'stolen.safetensors'));
    fs.symlinkSync(path.join(root, 'stolen.safetensors'), path.join(m, shard));
    expect(await failure(() => nt.model.load(m))).toMatchObject({ code: 'NT_IO', message: expect.stringMatching(/outside the checkpoint folder/) });
  });

  it('the Hugging Face cache layout loads: snapshots/<rev>/ files are symlinks into ../../blobs/', () => {
    const repo = path.join(root, 'hub', 'models--org--tiny');
    const snap = path.join(repo, 'snapshots', 'abc123');
    fs.mkdirSync(snap, { recursive: true });
    fs.mkdirSync(path.join(repo, 'blobs'));
    for (const [i, f] of ['config.json', 'model.safetensors'].entries()) {
      fs.copyFileSync(path.join(root, 'src', f), path.join(repo, 'blobs', `blob${i}`));
      fs.symlinkSync(`../../blobs/blob${i}`, path.join(snap, f));
    }
    nt.model.load(snap).dispose();
    // the same links from a folder that is not a snapshots/<rev> folder are refused
    const other = path.join(repo, 'elsewhere');
    fs.mkdirSync(other);
    for (const [i, f] of ['config.json', 'model.safetensors'].entries()) fs.symlinkSync(`../blobs/blob${i}`, path.join(other, f));
    expect(() => nt.model.load(other)).toThrow(expect.objectContaining({ code: 'NT_IO' }));
    // and a snapshot may not reach another repo's blobs
    const evil = path.join(root, 'hub', 'models--evil--x', 'blobs');
    fs.mkdirSync(evil, { recursive: true });
    fs.copyFileSync(path.join(root, 'src', 'model.safetensors'), path.join(evil, 'w'));
    fs.rmSync(path.join(snap, 'model.safetensors'));
    fs.symlinkSync('../../../models--evil--x/blobs/w', path.join(snap, 'model.safetensors'));
    expect(() => nt.model.load(snap)).toThrow(expect.objectContaining({ code: 'NT_IO', message: expect.stringMatching(/outside the checkpoint folder/) }));
  });

  it('applyAdapter refuses an adapter folder whose files lead outside it, before touching the model', async () => {
    const model = nt.model.load(path.join(root, 'src'));
    const name = model.linears()[0];
    const lin = model.getLinear(name);
    const A = nt.tensor(new Float32Array(2 * lin.inFeatures)).reshape([2, lin.inFeatures]);
    const B = nt.tensor(new Float32Array(2 * lin.outFeatures)).reshape([lin.outFeatures, 2]);
    const adapter = path.join(root, 'adapter');
    nt.llm.saveLoraAdapter(adapter, { [name]: { A, B } });
    fs.renameSync(path.join(adapter, 'adapter_model.safetensors'), path.join(root, 'adapter-weights.safetensors'));
    fs.symlinkSync('../adapter-weights.safetensors', path.join(adapter, 'adapter_model.safetensors'));
    expect(await failure(() => nt.llm.applyAdapter(model, adapter))).toMatchObject({ code: 'NT_IO', message: expect.stringMatching(/^\[llm\.applyAdapter\] .*outside the checkpoint folder/) });
    expect(model.getLinear(name)).toBe(lin);
    expect(await failure(() => nt.llm.applyAdapter(model, 42 as never))).toMatchObject({ code: 'NT_VALUE' });
    [A, B].forEach((t) => t.dispose());
    model.dispose();
  });

  it('checkInsideFolder: missing files and links inside pass; dangling links outside and absolute links out do not', () => {
    const m = path.join(root, 'unit');
    fs.mkdirSync(path.join(m, 'sub'), { recursive: true });
    fs.writeFileSync(path.join(m, 'sub', 'real'), 'x');
    fs.symlinkSync('sub/real', path.join(m, 'inside'));
    fs.symlinkSync('../nowhere', path.join(m, 'dangling-out'));
    fs.symlinkSync('sub/nowhere', path.join(m, 'dangling-in'));
    fs.symlinkSync('/', path.join(m, 'root'));
    expect(() => checkInsideFolder('t', m, path.join(m, 'missing'))).not.toThrow();
    expect(() => checkInsideFolder('t', m, path.join(m, 'inside'))).not.toThrow();
    expect(() => checkInsideFolder('t', m, path.join(m, 'dangling-in'))).not.toThrow();
    expect(() => checkInsideFolder('t', m, path.join(m, 'dangling-out'))).toThrow(expect.objectContaining({ code: 'NT_IO' }));
    expect(() => checkInsideFolder('t', m, path.join(m, 'root'))).toThrow(expect.objectContaining({ code: 'NT_IO' }));
    // the folder itself may be reached through a link (the caller chose it)
    fs.symlinkSync(m, path.join(root, 'unit-link'));
    expect(() => checkInsideFolder('t', path.join(root, 'unit-link'), path.join(root, 'unit-link', 'inside'))).not.toThrow();
  });
});

it('covers at least 30 distinct malformed files', () => {
  expect(SAFETENSORS_CASES.length + NPY_CASES.length).toBeGreaterThanOrEqual(30);
});
