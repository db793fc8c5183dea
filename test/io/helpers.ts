// Helpers for the io tests: temp folders, raw file builders for hand-made (and hostile)
// safetensors / .npy files, seeded tensors of every dtype, and byte-exact comparison.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as nt from '../../lib';
import type { Storage } from '../../lib/native/types';
import { Tensor } from '../../lib/tensor';
import { seeded, stridedIndices } from '../helpers/reference';

export function tempDir(tag: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `ntensor-io-${tag}-`));
}

export function removeDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

/** A safetensors file: 8-byte LE length + header text (as given, unpadded) + data bytes. */
export function safetensorsBytes(header: string | object | Buffer, data: Uint8Array | number = 0): Buffer {
  const text = Buffer.isBuffer(header) ? header : Buffer.from(typeof header === 'string' ? header : JSON.stringify(header), 'utf8');
  const body = typeof data === 'number' ? Buffer.alloc(data) : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(text.length));
  return Buffer.concat([len, text, body]);
}

/** A .npy file: magic, version, LE header length (u16 for 1.0, u32 otherwise), dict text, data. */
export function npyBytes(dict: string, data: Uint8Array | number = 0, version: [number, number] = [1, 0]): Buffer {
  const text = Buffer.from(dict, 'latin1');
  const pre = Buffer.alloc(version[0] === 1 ? 10 : 12);
  Buffer.from('\x93NUMPY', 'latin1').copy(pre);
  pre[6] = version[0];
  pre[7] = version[1];
  if (version[0] === 1) pre.writeUInt16LE(text.length & 0xffff, 8);
  else pre.writeUInt32LE(text.length, 8);
  const body = typeof data === 'number' ? Buffer.alloc(data) : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return Buffer.concat([pre, text, body]);
}

/** Seeded contents for a dtype: floats in [-4, 4) (f16/bf16 as rounded bit patterns), integers over the full range. */
export function seededTensor(dtype: nt.DType, shape: readonly number[], seed: number): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const r = seeded(seed);
  let data: Storage;
  switch (dtype) {
    case 'f32': data = Float32Array.from({ length: n }, () => (r() - 0.5) * 8); break;
    case 'f64': data = Float64Array.from({ length: n }, () => (r() - 0.5) * 8); break;
    case 'f16': case 'bf16': data = Uint16Array.from({ length: n }, () => Math.floor(r() * 65536) & 0xfbff); break;
    case 'i8': data = Int8Array.from({ length: n }, () => Math.floor(r() * 256) - 128); break;
    case 'u8': data = Uint8Array.from({ length: n }, () => Math.floor(r() * 256)); break;
    case 'i32': data = Int32Array.from({ length: n }, () => Math.floor(r() * 2 ** 32) - 2 ** 31); break;
    default: throw new Error(`no seeded data for ${dtype}`);
  }
  return Tensor._wrap(data, dtype, shape);
}

/** The elements of any view in C order, as raw storage values (bits for f16/bf16). */
export function elementsOf(t: Tensor): number[] {
  const s = t._storage;
  return stridedIndices(t.shape, t.strides, t.offset).map((i) => s[i]);
}

/** Raw bytes of a contiguous tensor's elements. */
export function bytesOf(t: Tensor): Uint8Array {
  const d = t.data;
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
}

/** Runs fn and returns the error it throws (or rejects with), for code + message matching. */
export async function failure(fn: () => unknown): Promise<{ code?: string; message: string }> {
  try {
    await fn();
  } catch (e) {
    return e as { code?: string; message: string };
  }
  throw new Error('expected a failure, but the call succeeded');
}

export const LOADABLE: readonly nt.DType[] = ['f32', 'f64', 'f16', 'bf16', 'i8', 'u8', 'i32'];
