// Byte-level tokenizer and token-id files.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { tensor } from '../../lib/creation';
import { saveNpy } from '../../lib/io';
import { decodeBytes, encodeBytes, loadTokenIds } from '../../lib/model';
import { errorOf } from './helpers';

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ntensor-tok-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('byte tokenizer', () => {
  test('ids are the UTF-8 bytes; decoding round-trips any text, non-ASCII included', () => {
    expect(Array.from(encodeBytes('Ab\n'))).toEqual([65, 98, 10]);
    expect(Array.from(encodeBytes('é'))).toEqual([0xc3, 0xa9]);
    for (const text of ['', 'The quick brown fox.', 'héllo wörld — ñ ß', '日本語のテキスト', 'emoji 🎉👍🏽 and \u0000 NUL', '\uFEFFbom']) {
      const ids = encodeBytes(text);
      expect(ids).toBeInstanceOf(Int32Array);
      expect(decodeBytes(ids)).toBe(text);
      expect(decodeBytes(Array.from(ids))).toBe(text);
    }
  });

  test('invalid UTF-8 (a character cut in half) decodes to U+FFFD; non-bytes are refused', () => {
    const cut = Array.from(encodeBytes('日')).slice(0, 2);
    expect(decodeBytes([104, 105, ...cut])).toBe('hi\uFFFD');
    expect(errorOf(() => decodeBytes([65, 256]))).toMatchObject({ code: 'NT_VALUE', message: '[decodeBytes] ids[1] = 256 is not a byte (0..255)' });
    expect(errorOf(() => decodeBytes([-1])).code).toBe('NT_VALUE');
    expect(errorOf(() => encodeBytes(5 as never)).code).toBe('NT_VALUE');
  });
});

describe('token-id files', () => {
  test('.npy of int32 or int64, and .json arrays', () => {
    const a = path.join(tmp, 'a.npy');
    const t = tensor([5, 70000, 0, 3], { dtype: 'i32' });
    saveNpy(a, t);
    t.dispose();
    expect(Array.from(loadTokenIds(a))).toEqual([5, 70000, 0, 3]);
    // a hand-written int64 file ('<i8'), as numpy writes token ids by default
    const b = path.join(tmp, 'b.npy');
    let dict = "{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }";
    dict += ' '.repeat((64 - ((10 + dict.length + 1) % 64)) % 64) + '\n';
    const head = Buffer.alloc(10);
    head.write('\x93NUMPY', 0, 'latin1');
    head[6] = 1;
    head.writeUInt16LE(dict.length, 8);
    fs.writeFileSync(b, Buffer.concat([head, Buffer.from(dict, 'latin1'), Buffer.from(new BigInt64Array([7n, 32000n, 1n]).buffer)]));
    expect(Array.from(loadTokenIds(b))).toEqual([7, 32000, 1]);
    const c = path.join(tmp, 'c.json');
    fs.writeFileSync(c, '[1, 2, 3]');
    expect(Array.from(loadTokenIds(c))).toEqual([1, 2, 3]);
  });

  test('bad files are coded errors', () => {
    const f = path.join(tmp, 'f.npy');
    const t = tensor([1.5], { dtype: 'f32' });
    saveNpy(f, t);
    t.dispose();
    expect(errorOf(() => loadTokenIds(f))).toMatchObject({ code: 'NT_DTYPE', message: expect.stringMatching(/token ids must be integers, got f32/) });
    const j = path.join(tmp, 'j.json');
    fs.writeFileSync(j, '{"ids": [1]}');
    expect(errorOf(() => loadTokenIds(j)).message).toMatch(/expected a JSON array of integers/);
    fs.writeFileSync(j, '[1, -2]');
    expect(errorOf(() => loadTokenIds(j)).message).toMatch(/element 1 \(-2\) is not a token id/);
    fs.writeFileSync(j, '[1,');
    expect(errorOf(() => loadTokenIds(j)).code).toBe('NT_IO');
    expect(errorOf(() => loadTokenIds(path.join(tmp, 'missing.npy'))).code).toBe('NT_IO');
    expect(errorOf(() => loadTokenIds(path.join(tmp, 'x.txt'))).code).toBe('NT_VALUE');
  });
});
