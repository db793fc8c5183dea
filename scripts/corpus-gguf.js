// GGUF cases of the malformed-file corpus (scripts/make-corpus.js calls ggufCases): a GGUF
// byte builder, valid seeds, and one case per rule of native/io/gguf.h, each with the NT_IO
// message it must produce (`message`, a regex source: test/io/gguf.test.ts checks it), plus
// truncations at every structural boundary and bit flips of the seeds ('either').
'use strict';

const VT = { u8: 0, i8: 1, u16: 2, i16: 3, u32: 4, i32: 5, f32: 6, bool: 7, string: 8, array: 9, u64: 10, i64: 11, f64: 12 };
const GT = { F32: 0, F16: 1, Q4_0: 2, Q4_1: 3, Q8_0: 8, Q4_K: 12, Q6_K: 14, BF16: 30 };
const BLOCK = { 0: [1, 4], 1: [1, 2], 2: [32, 18], 3: [32, 20], 8: [32, 34], 12: [256, 144], 14: [256, 210], 30: [1, 2] };

const u32 = (n) => { const b = Buffer.alloc(4); b.writeUInt32LE(n >>> 0); return b; };
const u64 = (n) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt.asUintN(64, BigInt(n))); return b; };
const str = (s, lenOverride) => { const b = Buffer.from(s, 'utf8'); return Buffer.concat([u64(lenOverride ?? b.length), b]); };

function scalar(type, v) {
  const b = Buffer.alloc({ u8: 1, i8: 1, bool: 1, u16: 2, i16: 2, u32: 4, i32: 4, f32: 4, u64: 8, i64: 8, f64: 8 }[type]);
  switch (type) {
    case 'u8': case 'bool': b.writeUInt8(Number(v)); break;
    case 'i8': b.writeInt8(v); break;
    case 'u16': b.writeUInt16LE(v); break;
    case 'i16': b.writeInt16LE(v); break;
    case 'u32': b.writeUInt32LE(v); break;
    case 'i32': b.writeInt32LE(v); break;
    case 'f32': b.writeFloatLE(v); break;
    case 'u64': b.writeBigUInt64LE(BigInt(v)); break;
    case 'i64': b.writeBigInt64LE(BigInt(v)); break;
    case 'f64': b.writeDoubleLE(v); break;
  }
  return b;
}

/** A value body (no type tag): arrays are { itemType, items, count? } (count lies when given). */
function value(type, v) {
  if (type === 'string') return str(v);
  if (type === 'array') {
    const parts = [u32(VT[v.itemType] ?? v.itemType), u64(v.count ?? v.items.length)];
    for (const it of v.items) parts.push(value(v.itemType, it));
    return Buffer.concat(parts);
  }
  return scalar(type, v);
}

/**
 * A GGUF file. kv: [key, type, value] (type a name or a raw number with `raw` bytes as value);
 * tensors: { name, dims, type (name or id), offset? (default: packed in order, aligned) };
 * data: bytes after the aligned header (default: exactly what the tensors need, seeded).
 */
function ggufBytes(spec, r) {
  const alignment = spec.alignment ?? 32;
  const parts = [Buffer.from(spec.magic ?? 'GGUF', 'latin1'), u32(spec.version ?? 3), u64(spec.tensorCount ?? spec.tensors.length), u64(spec.kvCount ?? spec.kv.length)];
  for (const [key, type, v] of spec.kv) {
    parts.push(str(key));
    if (typeof type === 'number') parts.push(u32(type), v);
    else parts.push(u32(VT[type]), value(type, v));
  }
  let cursor = 0;
  const layout = [];
  for (const t of spec.tensors) {
    const id = typeof t.type === 'number' ? t.type : GT[t.type];
    const [bs, ts] = BLOCK[id] ?? [1, 1];
    const n = t.dims.reduce((a, b) => a * BigInt(b), 1n);
    const bytes = Number((n / BigInt(bs)) * BigInt(ts) > 1n << 40n ? 0n : (n / BigInt(bs)) * BigInt(ts));
    const offset = t.offset ?? cursor;
    layout.push({ offset: Number(offset), bytes });
    cursor = Math.max(cursor, Math.ceil((Number(offset) + bytes) / alignment) * alignment);
    parts.push(str(t.name), u32(t.nDims ?? t.dims.length), ...t.dims.map((d) => u64(d)), u32(id), u64(offset));
  }
  let head = Buffer.concat(parts);
  head = Buffer.concat([head, Buffer.alloc((alignment - (head.length % alignment)) % alignment)]);
  let data = spec.data;
  if (data === undefined) {
    data = Buffer.alloc(cursor);
    for (let i = 0; i < data.length; ++i) data[i] = r.int(256);
    // finite f16 scales: block types start with them (Q6_K ends with d; the test only decodes)
    spec.tensors.forEach((t, k) => {
      const id = typeof t.type === 'number' ? t.type : GT[t.type];
      if (id === 0) for (let o = layout[k].offset; o + 4 <= layout[k].offset + layout[k].bytes; o += 4) data.writeFloatLE(r.next() * 2 - 1, o);
      if (id === 1) for (let o = layout[k].offset; o + 2 <= layout[k].offset + layout[k].bytes; o += 2) data.writeUInt16LE(0x3000 ^ r.int(0x7ff), o);
      if (id === 2 || id === 8) for (let o = layout[k].offset; o < layout[k].offset + layout[k].bytes; o += BLOCK[id][1]) data.writeUInt16LE(0x2000 ^ r.int(0x3ff), o);
    });
  }
  const dataEnd = head.length + layout.reduce((m, l) => Math.max(m, l.offset + l.bytes), 0);
  return { bytes: Buffer.concat([head, data]), headerBytes: head.length, dataEnd };
}

const SEED_KV = [
  ['general.architecture', 'string', 'llama'],
  ['general.alignment', 'u32', 32],
  ['llama.block_count', 'u32', 2],
  ['test.array', 'array', { itemType: 'i32', items: [1, -2, 3] }],
  ['test.strings', 'array', { itemType: 'string', items: ['a', 'bc'] }],
  ['test.f32', 'f32', 0.5],
];
const SEED_TENSORS = [
  { name: 'w.f32', dims: [3, 2], type: 'F32' },
  { name: 'w.q4_0', dims: [32, 3], type: 'Q4_0' },
  { name: 'w.q8_0', dims: [64, 1], type: 'Q8_0' },
  { name: 'w.f16', dims: [5], type: 'F16' },
];

function ggufCases(add, rng) {
  const r = rng(0x66756);
  const put = (mutation, seed, bytes, expect, message) =>
    add('gguf', mutation, seed, { '.gguf': bytes }, { single: true, api: 'gguf', expect, code: expect === 'error' ? 'NT_IO' : undefined, message });
  const seed = { kv: SEED_KV, tensors: SEED_TENSORS };
  const { bytes: file, headerBytes, dataEnd } = ggufBytes(seed, r);
  put('valid seed', 'seed', file, 'either');
  put('valid seed, version 2', 'seed', ggufBytes({ ...seed, version: 2 }, r).bytes, 'either');
  put('valid seed, no tensors', 'seed', ggufBytes({ kv: SEED_KV, tensors: [] }, r).bytes, 'either');

  // truncation at the structural boundaries of the header, then inside the data
  const cuts = new Set([0, 3, 4, 7, 8, 15, 16, 23, 24, 30, headerBytes - 1, headerBytes, dataEnd - 1]);
  for (let k = 0; k < 12; ++k) cuts.add(24 + r.int(headerBytes - 24));
  for (const at of [...cuts].sort((a, b) => a - b)) put(`truncated at byte ${at}`, 'seed', file.subarray(0, at), 'error', at < 24 ? 'shorter than the 24-byte GGUF header' : 'truncated|past the end|lies past|cannot fit');
  for (let k = 0; k < 24; ++k) {
    const b = Buffer.from(file);
    for (let j = 0, n = 1 + r.int(3); j < n; ++j) b[r.int(headerBytes)] ^= 1 << r.int(8);
    put(`header bit flips #${k}`, 'seed', b, 'either');
  }

  const bad = (mutation, spec, message) => put(mutation, 'synthetic', ggufBytes({ kv: SEED_KV, tensors: SEED_TENSORS, ...spec }, r).bytes, 'error', message);
  bad('bad magic', { magic: 'GGUG' }, 'not a GGUF file');
  bad('version 1', { version: 1 }, 'GGUF version 1 is not supported');
  bad('version 4', { version: 4 }, 'GGUF version 4 is not supported');
  bad('big-endian version field', { version: 0x03000000 }, 'big-endian GGUF');
  bad('huge tensor count', { tensorCount: 2n ** 40n }, 'tensor count 1099511627776 exceeds the limit');
  bad('huge metadata count', { kvCount: 2n ** 63n }, 'metadata count 9223372036854775808 exceeds the limit');
  bad('metadata count past the file', { kvCount: 100000 }, 'metadata count 100000 cannot fit');
  bad('tensor count past the file', { tensorCount: 50000 }, 'tensor count 50000 cannot fit');
  put('key length past EOF', 'synthetic', Buffer.concat([Buffer.from('GGUF'), u32(3), u64(0), u64(1), u64(60000), Buffer.from('abc'), Buffer.alloc(20)]), 'error', 'truncated: a metadata key at byte 24 has length 60000 but only 23 bytes remain');
  put('key length 2^62', 'synthetic', Buffer.concat([Buffer.from('GGUF'), u32(3), u64(0), u64(1), u64(2n ** 62n), Buffer.alloc(20)]), 'error', 'a metadata key at byte 24 has length 4611686018427387904, over the limit');
  bad('string value length past EOF', { kv: [['s', VT.string, u64(99999)]] }, 'a string value at byte \\d+ has length 99999 but only');
  bad('array length past EOF', { kv: [['a', VT.array, Buffer.concat([u32(VT.u32), u64(2n ** 40n)])]] }, "metadata 'a': array at byte \\d+ of 1099511627776 u32 items cannot fit");
  bad('array of strings length past EOF', { kv: [['a', 'array', { itemType: 'string', items: [], count: 10000 }]] }, "array at byte \\d+ of 10000 string items cannot fit");
  const nest = (d) => (d === 0 ? { itemType: 'u8', items: [1] } : { itemType: 'array', items: [nest(d - 1)] });
  put('arrays nested 3 deep (allowed)', 'synthetic', ggufBytes({ kv: [...SEED_KV, ['n', 'array', nest(2)]], tensors: SEED_TENSORS }, r).bytes, 'either');
  bad('arrays nested 4 deep', { kv: [['n', 'array', nest(3)]] }, "metadata 'n': arrays nested more than 3 deep");
  bad('arrays nested 1000 deep', { kv: [['n', 'array', nest(999)]] }, 'arrays nested more than 3 deep');
  bad('unknown value type', { kv: [['k', 13, u32(0)]] }, "metadata 'k': unknown value type 13");
  bad('unknown array item type', { kv: [['k', VT.array, Buffer.concat([u32(42), u64(0)])]] }, "metadata 'k': array at byte \\d+ has unknown item type 42");
  bad('bool of 2', { kv: [['b', VT.bool, Buffer.from([2])]] }, "metadata 'b': bool at byte \\d+ is 2");
  bad('empty key', { kv: [['', 'u8', 1]] }, 'metadata key at byte 24 is empty');
  bad('duplicate key', { kv: [['k', 'u8', 1], ['k', 'u8', 2]] }, "duplicate metadata key 'k'");
  bad('alignment not a power of two', { kv: [['general.alignment', 'u32', 48]] }, 'general.alignment 48 is not a power of two');
  bad('alignment 0', { kv: [['general.alignment', 'u32', 0]] }, 'general.alignment 0 is not a power of two');
  bad('alignment as u64', { kv: [['general.alignment', 'u64', 32]] }, 'general.alignment must be a u32, got u64');
  bad('unaligned tensor offset', { tensors: [{ name: 'x', dims: [4], type: 'F32', offset: 4 }] }, "tensor 'x' offset 4 is not a multiple of the alignment 32");
  bad('tensor past EOF', { tensors: [{ name: 'x', dims: [4], type: 'F32', offset: 0 }], data: Buffer.alloc(8) }, "tensor 'x' data \\[0, 16\\) of 16 bytes lies past the end of the data section \\(8 bytes\\)");
  bad('tensor offset past EOF', { tensors: [{ name: 'x', dims: [4], type: 'F32', offset: 2n ** 60n }], data: Buffer.alloc(32) }, "tensor 'x' data .* lies past the end");
  bad('overlapping tensors', { tensors: [{ name: 'a', dims: [16], type: 'F32', offset: 0 }, { name: 'b', dims: [4], type: 'F32', offset: 32 }] }, "tensor 'b' data \\[32, 48\\) overlaps tensor 'a' \\[0, 64\\)");
  bad('same offset twice', { tensors: [{ name: 'a', dims: [4], type: 'F32', offset: 0 }, { name: 'b', dims: [4], type: 'F32', offset: 0 }] }, 'overlaps tensor');
  bad('unknown ggml type', { tensors: [{ name: 'x', dims: [4], type: 77 }] }, "tensor 'x' has unknown ggml type 77");
  bad('removed ggml type Q4_2', { tensors: [{ name: 'x', dims: [32], type: 4 }] }, "tensor 'x' has unknown ggml type 4");
  bad('0 dimensions', { tensors: [{ name: 'x', dims: [], type: 'F32' }] }, "tensor 'x' has 0 dimensions \\(1 to 4 allowed\\)");
  bad('5 dimensions', { tensors: [{ name: 'x', dims: [1, 1, 1, 1, 1], type: 'F32' }] }, "tensor 'x' has 5 dimensions");
  bad('rank 2^31', { tensors: [{ name: 'x', dims: [1], nDims: 2 ** 31, type: 'F32' }] }, "tensor 'x' has 2147483648 dimensions");
  bad('dimension of size 0', { tensors: [{ name: 'x', dims: [4, 0], type: 'F32' }] }, "tensor 'x' has dimension 1 of size 0");
  bad('element count overflow', { tensors: [{ name: 'x', dims: [2n ** 32n, 2n ** 32n], type: 'F32' }] }, "tensor 'x' shape \\[4294967296,4294967296\\]: the element count overflows int64");
  bad('element count past int64', { tensors: [{ name: 'x', dims: [2n ** 62n, 2], type: 'F32' }] }, 'the element count overflows int64');
  bad('byte size past 2^64', { tensors: [{ name: 'x', dims: [2n ** 61n], type: 'F32' }] }, "tensor 'x' data .* lies past the end");
  bad('row length not a multiple of the block', { tensors: [{ name: 'x', dims: [30, 2], type: 'Q4_0' }] }, "tensor 'x' of type Q4_0 has a row length of 30, not a multiple of its block size 32");
  bad('K-quant row of 128', { tensors: [{ name: 'x', dims: [128], type: 'Q4_K' }] }, 'not a multiple of its block size 256');
  bad('duplicate tensor names', { tensors: [{ name: 'x', dims: [4], type: 'F32' }, { name: 'x', dims: [4], type: 'F32' }] }, "duplicate tensor name 'x'");
  bad('empty tensor name', { tensors: [{ name: '', dims: [4], type: 'F32' }] }, 'tensor name at byte \\d+ is empty');
  bad('tensor name of 65 bytes', { tensors: [{ name: 'n'.repeat(65), dims: [4], type: 'F32' }] }, "is 65 bytes, over ggml's limit of 64");
}

module.exports = { ggufCases, ggufBytes, VT, GT };
