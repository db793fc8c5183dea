// A minimal GGUF v3 reader for the tests of the GGUF writer and `ntensor export`: written from
// ggml's docs/gguf.md, independent of lib/io/gguf-write.ts, and checked itself against the file
// gguf-py wrote (fixtures/gguf-write/reference.gguf). Trusting: test files only.
import * as fs from 'fs';
import { bf16BitsToNumber, f16BitsToNumber } from '../../lib/half';

export interface ParsedValue {
  type: string;
  itemType?: string;
  value: unknown;
}

export interface ParsedTensor {
  name: string;
  /** Innermost first. */
  ne: number[];
  type: number;
  offset: number;
  /** Absolute offset of the data in the file. */
  start: number;
}

export interface ParsedGguf {
  version: number;
  metadata: Map<string, ParsedValue>;
  tensors: Map<string, ParsedTensor>;
  dataStart: number;
  bytes: Buffer;
}

const TYPES = ['uint8', 'int8', 'uint16', 'int16', 'uint32', 'int32', 'float32', 'bool', 'string', 'array', 'uint64', 'int64', 'float64'];

export function parseGguf(fileOrBytes: string | Buffer): ParsedGguf {
  const b = typeof fileOrBytes === 'string' ? fs.readFileSync(fileOrBytes) : fileOrBytes;
  let o = 0;
  const u32 = () => ((o += 4), b.readUInt32LE(o - 4));
  const u64 = () => ((o += 8), Number(b.readBigUInt64LE(o - 8)));
  const str = () => {
    const n = u64();
    o += n;
    return b.toString('utf8', o - n, o);
  };
  const scalar = (t: string): unknown => {
    switch (t) {
      case 'uint8': return b.readUInt8((o += 1) - 1);
      case 'int8': return b.readInt8((o += 1) - 1);
      case 'uint16': return b.readUInt16LE((o += 2) - 2);
      case 'int16': return b.readInt16LE((o += 2) - 2);
      case 'uint32': return b.readUInt32LE((o += 4) - 4);
      case 'int32': return b.readInt32LE((o += 4) - 4);
      case 'float32': return b.readFloatLE((o += 4) - 4);
      case 'bool': return b.readUInt8((o += 1) - 1) !== 0;
      case 'string': return str();
      case 'uint64': return b.readBigUInt64LE((o += 8) - 8);
      case 'int64': return b.readBigInt64LE((o += 8) - 8);
      case 'float64': return b.readDoubleLE((o += 8) - 8);
      default: throw new Error(`bad type ${t}`);
    }
  };
  if (b.toString('latin1', 0, 4) !== 'GGUF') throw new Error('not a GGUF file');
  o = 4;
  const version = u32();
  const nTensors = u64();
  const nKv = u64();
  const metadata = new Map<string, ParsedValue>();
  for (let i = 0; i < nKv; ++i) {
    const key = str();
    const type = TYPES[u32()];
    if (type === 'array') {
      const itemType = TYPES[u32()];
      const n = u64();
      metadata.set(key, { type, itemType, value: Array.from({ length: n }, () => scalar(itemType)) });
    } else metadata.set(key, { type, value: scalar(type) });
  }
  const tensors = new Map<string, ParsedTensor>();
  for (let i = 0; i < nTensors; ++i) {
    const name = str();
    const nd = u32();
    const ne = Array.from({ length: nd }, () => u64());
    const type = u32();
    const offset = u64();
    tensors.set(name, { name, ne, type, offset, start: 0 });
  }
  const alignment = (metadata.get('general.alignment')?.value as number | undefined) ?? 32;
  const dataStart = Math.ceil(o / alignment) * alignment;
  for (const t of tensors.values()) t.start = dataStart + t.offset;
  return { version, metadata, tensors, dataStart, bytes: b };
}

/** The elements of a tensor of the file, dequantized (Q4_0: d·(q − 8), Q8_0: d·q), in file order. */
export function tensorValues(g: ParsedGguf, name: string): Float64Array {
  const t = g.tensors.get(name);
  if (!t) throw new Error(`no tensor ${name}`);
  const n = t.ne.reduce((a, c) => a * c, 1);
  const b = g.bytes;
  const out = new Float64Array(n);
  const s = t.start;
  if (t.type === 0) for (let i = 0; i < n; ++i) out[i] = b.readFloatLE(s + 4 * i);
  else if (t.type === 1) for (let i = 0; i < n; ++i) out[i] = f16BitsToNumber(b.readUInt16LE(s + 2 * i));
  else if (t.type === 30) for (let i = 0; i < n; ++i) out[i] = bf16BitsToNumber(b.readUInt16LE(s + 2 * i));
  else if (t.type === 2)
    for (let k = 0; k < n / 32; ++k) {
      const d = f16BitsToNumber(b.readUInt16LE(s + 18 * k));
      for (let j = 0; j < 16; ++j) {
        const byte = b[s + 18 * k + 2 + j];
        out[32 * k + j] = d * ((byte & 15) - 8);
        out[32 * k + 16 + j] = d * ((byte >> 4) - 8);
      }
    }
  else if (t.type === 8)
    for (let k = 0; k < n / 32; ++k) {
      const d = f16BitsToNumber(b.readUInt16LE(s + 34 * k));
      for (let j = 0; j < 32; ++j) out[32 * k + j] = d * b.readInt8(s + 34 * k + 2 + j);
    }
  else throw new Error(`type ${t.type} not decoded here`);
  return out;
}

/** Raw bytes of a tensor (its data up to the next tensor or the end, without the padding). */
export function tensorBytes(g: ParsedGguf, name: string): Buffer {
  const t = g.tensors.get(name)!;
  const n = t.ne.reduce((a, c) => a * c, 1);
  const size = { 0: 4 * n, 1: 2 * n, 30: 2 * n, 2: (n / 32) * 18, 8: (n / 32) * 34 }[t.type as 0];
  return g.bytes.subarray(t.start, t.start + size);
}
