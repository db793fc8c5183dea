#!/usr/bin/env node
// Generates the malformed-file corpus under test/corpus/ deterministically from valid seeds:
//   safetensors/  single files (small synthetic seeds + the fixture model's real header)
//   npy/          .npy files, format 1.0 / 2.0 / 3.0
//   model/        overlays on model/_seed* (a tiny LLaMA folder): config.json, weights, shard index
//   adapter/      overlays on adapter/_seed (a PEFT LoRA folder): adapter_config.json, weights
//   gptq/         quantization_config in config.json (nt.model.load) and GPTQ layer tensors
//                 + quantize_config.json (nt.quant.fromGptq)
// Mutations: truncation at every structural boundary, bit flips, length-field lies, offsets
// overlapping / out of range / beyond u64, dtype / shape / byte-count mismatches, shape
// products that overflow, non-UTF-8 and deeply nested JSON, duplicate keys, NaN / Infinity
// literals, wrong types; sizes that claim more bytes than the file holds; names and symlinks
// that lead outside the folder (and the Hugging Face cache layout, which must load).
// test/corpus/manifest.json lists every case: its files, the seed and mutation, and
// `expect`: 'error' (must fail with a coded error; `code` when exactly known), 'ok' (must
// load) or 'either' (a coded error or a load that the test then checks). Folder cases may
// say how the test lays them out on disk, since git keeps no symlinks portably:
//   layout      the folder's path below the case root (default: the root itself)
//   outside     { path relative to the folder (may climb out of it): seed file to copy there }
//   links       { name in the folder: symlink text } ('abs:' + path: the absolute path of
//               that path relative to the folder); the link replaces any copied file
//   folderLink  a symlink (path below the case root) to the folder; the case loads through it
//   node scripts/make-corpus.js           writes the corpus
//   node scripts/make-corpus.js --check   exits 1 when the files on disk differ from a fresh run
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');

const ROOT = path.join(__dirname, '..');
const OUT = path.join(ROOT, 'test', 'corpus');
const FIXTURE = path.join(ROOT, 'fixtures', 'tinyllama-fortunes', 'model.safetensors');

// ---------- deterministic randomness ----------
function rng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { next, int: (n) => Math.floor(next() * n), pick: (xs) => xs[Math.floor(next() * xs.length)] };
}

// ---------- format writers ----------
const SIZES = { BOOL: 1, U8: 1, I8: 1, F8_E5M2: 1, F8_E4M3: 1, I16: 2, U16: 2, F16: 2, BF16: 2, I32: 4, U32: 4, F32: 4, F64: 8, I64: 8, U64: 8, C64: 8 };

function u64le(n) {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt.asUintN(64, BigInt(n)));
  return b;
}

/** A safetensors file: length field (or an explicit lie) + header text + data. */
function stBytes(header, data, lengthOverride) {
  const h = Buffer.isBuffer(header) ? header : Buffer.from(typeof header === 'string' ? header : JSON.stringify(header));
  return Buffer.concat([u64le(lengthOverride ?? h.length), h, data]);
}

/** A valid safetensors seed from [name, dtype, shape, fill(i)] tensors (offsets in order). */
function stSeed(tensors, metadata, r) {
  const header = {};
  if (metadata) header.__metadata__ = metadata;
  const parts = [];
  let off = 0;
  for (const [name, dtype, shape] of tensors) {
    const n = shape.reduce((a, b) => a * b, 1);
    const bytes = n * SIZES[dtype];
    const buf = Buffer.alloc(bytes);
    if (dtype === 'F32') for (let i = 0; i < n; ++i) buf.writeFloatLE(r.next() * 2 - 1, i * 4);
    else if (dtype === 'F64') for (let i = 0; i < n; ++i) buf.writeDoubleLE(r.next() * 2 - 1, i * 8);
    else if (dtype === 'I64') for (let i = 0; i < n; ++i) buf.writeBigInt64LE(BigInt(r.int(2000) - 1000), i * 8);
    else if (dtype === 'U64') for (let i = 0; i < n; ++i) buf.writeBigUInt64LE(BigInt(r.int(5000)), i * 8);
    else if (dtype === 'BOOL') for (let i = 0; i < n; ++i) buf[i] = r.int(2);
    else if (dtype === 'F16' || dtype === 'BF16') for (let i = 0; i < n; ++i) buf.writeUInt16LE(0x3c00 ^ r.int(0x3ff), i * 2);
    else for (let i = 0; i < bytes; ++i) buf[i] = r.int(256);
    header[name] = { dtype, shape, data_offsets: [off, off + bytes] };
    parts.push(buf);
    off += bytes;
  }
  const json = JSON.stringify(header);
  return { header, json, data: Buffer.concat(parts) };
}

/** A .npy file from a dict text; version picks the length-field width (v3 allows UTF-8). */
function npyBytes(dict, data, version = [1, 0], lengthOverride) {
  const major = version[0];
  const pre = major === 1 ? 10 : 12;
  let text = Buffer.from(dict, 'utf8');
  const pad = (64 - ((pre + text.length + 1) % 64)) % 64;
  text = Buffer.concat([text, Buffer.alloc(pad, 0x20), Buffer.from('\n')]);
  const head = Buffer.alloc(pre);
  Buffer.from('\x93NUMPY', 'latin1').copy(head, 0);
  head[6] = version[0];
  head[7] = version[1];
  const len = lengthOverride ?? text.length;
  if (pre === 10) head.writeUInt16LE(len & 0xffff, 8);
  else head.writeUInt32LE(len >>> 0, 8);
  return Buffer.concat([head, text, data]);
}

function npyDict(descr, shape, fortran = false) {
  const s = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  return `{'descr': '${descr}', 'fortran_order': ${fortran ? 'True' : 'False'}, 'shape': ${s}, }`;
}

function randomBytes(r, n) {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; ++i) b[i] = r.int(256);
  return b;
}

/** Positions just before and after each JSON / dict structural character. */
function boundaries(text, base, limit) {
  const out = new Set();
  for (let i = 0; i < text.length; ++i) if ('{}[],:"\'()'.includes(text[i])) { out.add(base + i); out.add(base + i + 1); }
  let xs = [...out].sort((a, b) => a - b);
  if (limit && xs.length > limit) {
    const step = xs.length / limit;
    xs = Array.from({ length: limit }, (_, k) => xs[Math.floor(k * step)]);
  }
  return xs;
}

function flipBits(buf, r, count, from = 0, to = buf.length) {
  const b = Buffer.from(buf);
  for (let k = 0; k < count; ++k) b[from + r.int(Math.max(1, to - from))] ^= 1 << r.int(8);
  return b;
}

// ---------- the case list ----------
const cases = [];
const files = new Map(); // relative path -> Buffer
let counter = 0;

function add(format, mutation, seed, fileMap, opts = {}) {
  const id = `${format}-${String(++counter).padStart(4, '0')}`;
  const list = [];
  for (const [name, bytes] of Object.entries(fileMap)) {
    const rel = opts.single ? `${format}/${id}${name}` : `${format}/${id}/${name}`;
    files.set(rel, bytes);
    list.push(rel);
  }
  const c = { id, format, api: opts.api, seed, mutation, files: list, expect: opts.expect ?? 'either' };
  if (opts.base) c.base = opts.base;
  if (opts.remove) c.remove = opts.remove;
  if (opts.code) c.code = opts.code;
  if (opts.message) c.message = opts.message;
  for (const k of ['layout', 'outside', 'links', 'folderLink']) if (opts[k]) c[k] = opts[k];
  cases.push(c);
}

// ---------- safetensors ----------
function safetensorsCases() {
  const r = rng(0x5afe);
  const seeds = {
    'f32-2x3': stSeed([['a', 'F32', [2, 3]]], null, r),
    mixed: stSeed([['h', 'F16', [4]], ['b', 'BF16', [2, 2]], ['i', 'I64', [3]], ['u', 'U8', [5]], ['z', 'BOOL', [2]]], { format: 'pt', note: 'seed' }, r),
    'scalar-empty': stSeed([['s', 'F64', []], ['e', 'I32', [0, 4]], ['c', 'I8', [3]]], null, r),
    'f8-unsupported': stSeed([['q', 'F8_E4M3', [4]], ['w', 'F32', [1]]], null, r),
    'u64-big': (() => {
      const s = stSeed([['big', 'U64', [2]]], null, r);
      s.data.writeBigUInt64LE(1n << 40n, 8);  // out of i32 range: NT_VALUE on load
      return s;
    })(),
  };
  const put = (mutation, seed, bytes, expect = 'either', code) =>
    add('safetensors', mutation, seed, { '.safetensors': bytes }, { single: true, api: 'safetensors', expect, code });

  for (const [name, s] of Object.entries(seeds)) {
    const file = stBytes(s.json, s.data);
    put('valid seed', name, file);
    const hEnd = 8 + Buffer.byteLength(s.json);
    // truncation: inside the length field, at every JSON boundary, in the data, one short
    for (let k = 0; k < 8; ++k) put(`truncated at byte ${k} (length field)`, name, file.subarray(0, k), 'error', 'NT_IO');
    for (const at of boundaries(s.json, 8)) if (at < file.length) put(`truncated at JSON boundary ${at}`, name, file.subarray(0, at), 'error', 'NT_IO');
    for (const at of [hEnd, hEnd + 1, file.length - 1]) if (at < file.length && at >= 8) put(`truncated at ${at} (data)`, name, file.subarray(0, at), 'error', 'NT_IO');
    put('one trailing byte', name, Buffer.concat([file, Buffer.from([0])]), 'error', 'NT_IO');
    // header-length lies
    const n = Buffer.byteLength(s.json);
    for (const lie of [0, 1, n - 1, n + 1, n + 8, file.length - 8, file.length - 7, 100000001, 2 ** 32, 2n ** 63n, 2n ** 64n - 1n])
      if (BigInt(lie) !== BigInt(n)) put(`header length ${lie} (true ${n})`, name, stBytes(s.json, s.data, lie), 'error', 'NT_IO');
    // random bit flips, in the header and anywhere
    const rr = rng(name.length * 977 + 13);
    for (let k = 0; k < 12; ++k) put(`bit flips in the header #${k}`, name, flipBits(file, rr, 1 + rr.int(3), 8, hEnd));
    for (let k = 0; k < 6; ++k) put(`bit flips anywhere #${k}`, name, flipBits(file, rr, 1 + rr.int(4)));
    // data-only bit flips must still load (the header is intact)
    if (s.data.length) put('bit flips in the data', name, flipBits(file, rr, 3, hEnd, file.length));
  }

  // header-level edits of the f32 seed (entry x F32 [2, 3] at [0, 24])
  const base = seeds['f32-2x3'];
  const data = base.data;
  const ent = (dtype, shape, offs) => ({ dtype, shape, data_offsets: offs });
  const hdr = (obj, d = data) => stBytes(obj, d);
  const edits = [
    ['offsets overlap', { a: ent('F32', [2, 3], [0, 24]), b: ent('F32', [2], [16, 24]) }],
    ['offsets out of range', { a: ent('F32', [2, 3], [8, 32]) }],
    ['offsets reversed', { a: ent('F32', [2, 3], [24, 0]) }],
    ['offsets equal, non-empty shape', { a: ent('F32', [2, 3], [0, 0]) }],
    ['gap before the tensor', { a: ent('F32', [2, 2], [8, 24]) }],
    ['offsets of 3 entries', { a: ent('F32', [2, 3], [0, 24, 24]) }],
    ['offsets of 1 entry', { a: ent('F32', [2, 3], [24]) }],
    ['offsets empty', { a: ent('F32', [2, 3], []) }],
    ['offsets strings', { a: ent('F32', [2, 3], ['0', '24']) }],
    ['offsets floats', '{"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0.0,24.0]}}'],
    ['offsets beyond u64', '{"a":{"dtype":"F32","shape":[2,3],"data_offsets":[18446744073709551616,18446744073709551640]}}'],
    ['offsets u64 max', '{"a":{"dtype":"F32","shape":[2,3],"data_offsets":[18446744073709551592,18446744073709551615]}}'],
    ['offsets 2^53 + 1', '{"a":{"dtype":"F32","shape":[2,3],"data_offsets":[9007199254740993,9007199254741017]}}'],
    ['offsets negative', '{"a":{"dtype":"F32","shape":[2,3],"data_offsets":[-24,0]}}'],
    ['offsets -0', '{"a":{"dtype":"F32","shape":[2,3],"data_offsets":[-0,24]}}'],
    ['offsets exponent', '{"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,2.4e1]}}'],
    ['offsets NaN', '{"a":{"dtype":"F32","shape":[2,3],"data_offsets":[NaN,24]}}'],
    ['offsets Infinity', '{"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,Infinity]}}'],
    ['shape NaN', '{"a":{"dtype":"F32","shape":[NaN,3],"data_offsets":[0,24]}}'],
    ['shape -Infinity', '{"a":{"dtype":"F32","shape":[-Infinity],"data_offsets":[0,24]}}'],
    ['shape product mismatch', { a: ent('F32', [2, 4], [0, 24]) }],
    ['dtype size mismatch (F64)', { a: ent('F64', [2, 3], [0, 24]) }],
    ['dtype size mismatch (F16)', { a: ent('F16', [2, 3], [0, 24]) }],
    ['same size other dtype (I32)', { a: ent('I32', [2, 3], [0, 24]) }],
    ['same size other dtype (U32)', { a: ent('U32', [2, 3], [0, 24]) }],
    ['same size other dtype (F16 x12)', { a: ent('F16', [12], [0, 24]) }],
    ['same size other dtype (BOOL x24)', { a: ent('BOOL', [24], [0, 24]) }],
    ['same size other dtype (C64 x3)', { a: ent('C64', [3], [0, 24]) }],
    ['same size other dtype (F8_E5M2)', { a: ent('F8_E5M2', [24], [0, 24]) }],
    ['sub-byte dtype F4 x48', { a: ent('F4', [48], [0, 24]) }],
    ['sub-byte dtype F4 odd count', { a: ent('F4', [47], [0, 24]) }],
    ['sub-byte dtype F6_E2M3 x32', { a: ent('F6_E2M3', [32], [0, 24]) }],
    ['unknown dtype', { a: ent('F128', [2, 3], [0, 24]) }],
    ['lowercase dtype', { a: ent('f32', [2, 3], [0, 24]) }],
    ['dtype number', { a: ent(32, [2, 3], [0, 24]) }],
    ['dtype null', { a: ent(null, [2, 3], [0, 24]) }],
    ['shape string', { a: ent('F32', '2,3', [0, 24]) }],
    ['shape object', { a: ent('F32', { 0: 2, 1: 3 }, [0, 24]) }],
    ['shape nested', { a: ent('F32', [[2, 3]], [0, 24]) }],
    ['shape float', '{"a":{"dtype":"F32","shape":[2.0,3],"data_offsets":[0,24]}}'],
    ['shape negative', { a: ent('F32', [-2, -3], [0, 24]) }],
    ['shape true', { a: ent('F32', [true, 3], [0, 24]) }],
    ['shape product overflows u64', { a: ent('F32', [2 ** 32, 2 ** 32], [0, 24]) }],
    ['shape product x size overflows u64', { a: ent('F32', [2 ** 31, 2 ** 31], [0, 24]) }],
    ['shape 2^53 x 2^53', '{"a":{"dtype":"F32","shape":[9007199254740992,9007199254740992],"data_offsets":[0,24]}}'],
    ['shape [0, 2^53] (empty, huge dim)', '{"a":{"dtype":"F32","shape":[0,9007199254740992],"data_offsets":[0,0]}}'],
    ['shape [2^31, 0]', `{"a":{"dtype":"F32","shape":[2147483648,0],"data_offsets":[0,0]}}`],
    ['rank 9', { a: ent('F32', [1, 1, 1, 1, 1, 1, 1, 1, 6], [0, 24]) }],
    ['rank 64', { a: ent('F32', [...Array(63).fill(1), 6], [0, 24]) }],
    ['rank 65', { a: ent('F32', [...Array(64).fill(1), 6], [0, 24]) }],
    ['rank 1000', { a: ent('F32', [...Array(999).fill(1), 6], [0, 24]) }],
    ['missing dtype', { a: { shape: [2, 3], data_offsets: [0, 24] } }],
    ['missing shape', { a: { dtype: 'F32', data_offsets: [0, 24] } }],
    ['missing offsets', { a: { dtype: 'F32', shape: [2, 3] } }],
    ['extra key', { a: { ...ent('F32', [2, 3], [0, 24]), extra: 1 } }],
    ['entry is an array', { a: [] }],
    ['entry is null', { a: null }],
    ['root is an array', [ent('F32', [2, 3], [0, 24])]],
    ['root is a string', '"a"'],
    ['root is null', 'null'],
    ['root is a number', '24'],
    ['empty header', ''],
    ['whitespace header', '        '],
    ['empty object (data left over)', '{}'],
    ['tensor named __proto__', { __proto__: null, ['__proto__']: ent('F32', [2, 3], [0, 24]) }],
    ['tensor named constructor', { constructor: ent('F32', [2, 3], [0, 24]) }],
    ['empty tensor name', { '': ent('F32', [2, 3], [0, 24]) }],
    ['name with NUL escape', '{"a\\u0000b":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}}'],
    ['name with a surrogate pair', '{"\\ud83d\\ude00":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}}'],
    ['name with a lone high surrogate', '{"\\ud83d":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}}'],
    ['name with a lone low surrogate', '{"\\ude00":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}}'],
    ['name with a bad escape', '{"a\\x":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}}'],
    ['name with a raw newline', '{"a\nb":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}}'],
    ['single quotes', "{'a':{'dtype':'F32','shape':[2,3],'data_offsets':[0,24]}}"],
    ['trailing comma in shape', '{"a":{"dtype":"F32","shape":[2,3,],"data_offsets":[0,24]}}'],
    ['trailing comma in root', '{"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},}'],
    ['missing comma', '{"a":{"dtype":"F32" "shape":[2,3],"data_offsets":[0,24]}}'],
    ['leading zero', '{"a":{"dtype":"F32","shape":[02,3],"data_offsets":[0,24]}}'],
    ['plus sign', '{"a":{"dtype":"F32","shape":[+2,3],"data_offsets":[0,24]}}'],
    ['hex number', '{"a":{"dtype":"F32","shape":[0x2,3],"data_offsets":[0,24]}}'],
    ['comment', '{"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}} // c'],
    ['trailing garbage', '{"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}}x'],
    ['two documents', '{"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}}{}'],
    ['padded with NULs', Buffer.concat([Buffer.from(base.json), Buffer.alloc(8)])],
    ['padded with spaces (valid)', base.json + '        '],
    ['BOM before the object', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(base.json)])],
    ['duplicate tensor name', `{"a":${JSON.stringify(ent('F32', [2, 3], [0, 24]))},"a":${JSON.stringify(ent('F32', [2, 3], [0, 24]))}}`],
    ['duplicate dtype key', '{"a":{"dtype":"F32","dtype":"F16","shape":[2,3],"data_offsets":[0,24]}}'],
    ['duplicate __metadata__', '{"__metadata__":{},"__metadata__":{},"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}}'],
    ['duplicate metadata key', '{"__metadata__":{"k":"1","k":"2"},"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}}'],
    ['metadata value number', { __metadata__: { k: 1 }, a: ent('F32', [2, 3], [0, 24]) }],
    ['metadata value null', { __metadata__: { k: null }, a: ent('F32', [2, 3], [0, 24]) }],
    ['metadata value object', { __metadata__: { k: {} }, a: ent('F32', [2, 3], [0, 24]) }],
    ['metadata is an array', { __metadata__: ['k'], a: ent('F32', [2, 3], [0, 24]) }],
    ['metadata key __proto__', '{"__metadata__":{"__proto__":"x"},"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}}'],
    ['metadata deeply nested 100', `{"__metadata__":${'{"k":'.repeat(100)}"v"${'}'.repeat(100)},"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}}`],
    ['metadata deeply nested 10000 (unclosed)', `{"__metadata__":${'{"k":'.repeat(10000)}`],
    ['deep arrays 20000', '['.repeat(20000)],
    ['deep arrays 64 closed', '['.repeat(64) + ']'.repeat(64)],
    ['deep arrays 65 closed', '['.repeat(65) + ']'.repeat(65)],
    ['deep nesting in shape', `{"a":{"dtype":"F32","shape":${'['.repeat(70)}${']'.repeat(70)},"data_offsets":[0,24]}}`],
    ['long string 256 KB', `{"${'x'.repeat(1 << 18)}":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}}`],
    ['many tensors (4096 empty)', JSON.stringify(Object.fromEntries([...Array(4096)].map((_, i) => [`t${i}`, ent('F32', [0], [0, 0])]).concat([['a', ent('F32', [2, 3], [0, 24])]])))],
    ['many empty tensors at the end', JSON.stringify({ a: ent('F32', [2, 3], [0, 24]), z: ent('F32', [0], [24, 24]) })],
    ['empty tensor at offset 0 plus data', JSON.stringify({ e: ent('F32', [0], [0, 0]), a: ent('F32', [2, 3], [0, 24]) })],
  ];
  for (const [mutation, h] of edits) {
    const bytes = Buffer.isBuffer(h) ? stBytes(h, data) : hdr(h);
    const valid = ['long string 256 KB', 'padded with spaces (valid)', 'tensor named __proto__', 'tensor named constructor', 'name with a surrogate pair', 'many empty tensors at the end', 'empty tensor at offset 0 plus data', 'metadata key __proto__', 'same size other dtype (I32)', 'same size other dtype (U32)', 'same size other dtype (F16 x12)', 'same size other dtype (BOOL x24)', 'same size other dtype (C64 x3)', 'same size other dtype (F8_E5M2)', 'sub-byte dtype F4 x48', 'sub-byte dtype F6_E2M3 x32', 'rank 9', 'rank 64', 'many tensors (4096 empty)', 'shape [0, 2^53] (empty, huge dim)', 'shape [2^31, 0]', 'name with NUL escape'];
    put(mutation, 'f32-2x3', bytes, valid.includes(mutation) ? 'either' : 'error');
  }
  // NaN / Inf payloads in the data are fine (floats) and must load bit-exactly
  const nanData = Buffer.alloc(24);
  [NaN, Infinity, -Infinity, -0, 3.4e38, 1e-45].forEach((v, i) => nanData.writeFloatLE(v, i * 4));
  put('NaN/Inf/denormal data', 'f32-2x3', stBytes(base.json, nanData), 'either');

  // the fixture's real header (data section cut: the file is 6 MB)
  const fx = fs.readFileSync(FIXTURE);
  const fn = Number(fx.readBigUInt64LE(0));
  const fjson = fx.subarray(8, 8 + fn);
  const fhead = fx.subarray(0, 8 + fn);
  const fr = rng(0xf1c5);
  put('fixture header, data cut at 0', 'fixture', fhead, 'error', 'NT_IO');
  put('fixture header, data cut at 4096', 'fixture', fx.subarray(0, 8 + fn + 4096), 'error', 'NT_IO');
  for (const at of boundaries(fjson.toString('latin1'), 8, 24)) put(`fixture truncated at JSON boundary ${at}`, 'fixture', fhead.subarray(0, at), 'error', 'NT_IO');
  for (let k = 0; k < 24; ++k) put(`fixture header bit flips #${k}`, 'fixture', flipBits(fhead, fr, 1 + fr.int(2), 8), 'error');
  for (const lie of [fn - 1, fn + 1, 2 ** 31, 2n ** 63n]) put(`fixture header length ${lie}`, 'fixture', stBytes(fjson, Buffer.alloc(0), lie), 'error', 'NT_IO');
  // the fixture header with every offset shifted so tensors overlap, and with a shape doubled
  const fobj = JSON.parse(fjson.toString('utf8'));
  const names = Object.keys(fobj).filter((k) => k !== '__metadata__');
  const shifted = JSON.parse(JSON.stringify(fobj));
  shifted[names[1]].data_offsets = shifted[names[1]].data_offsets.map((x) => x - 2);
  put('fixture header, overlapping offsets', 'fixture', stBytes(shifted, Buffer.alloc(0)), 'error', 'NT_IO');
  const doubled = JSON.parse(JSON.stringify(fobj));
  doubled[names[2]].shape = doubled[names[2]].shape.map((x) => x * 2);
  put('fixture header, shape doubled', 'fixture', stBytes(doubled, Buffer.alloc(0)), 'error', 'NT_IO');
}

// ---------- npy ----------
function npyCases() {
  const r = rng(0x9e1);
  const f32 = (n) => { const b = Buffer.alloc(4 * n); for (let i = 0; i < n; ++i) b.writeFloatLE(r.next() - 0.5, 4 * i); return b; };
  const seeds = {
    'v1 <f4 (3,4)': [npyDict('<f4', [3, 4]), f32(12), [1, 0]],
    'v2 <f8 (5,)': [npyDict('<f8', [5]), randomBytes(r, 40).map((x, i) => (i % 8 === 7 ? 0x3f : x)), [2, 0]],
    'v3 <i2 (2,2)': [npyDict('<i2', [2, 2]), randomBytes(r, 8), [3, 0]],
    'v1 >f4 (4,)': [npyDict('>f4', [4]), Buffer.from([0x3f, 0x80, 0, 0, 0x40, 0, 0, 0, 0xc0, 0x40, 0, 0, 0x7f, 0xc0, 0, 0]), [1, 0]],
    'v1 <f4 fortran (2,3)': [npyDict('<f4', [2, 3], true), f32(6), [1, 0]],
    'v1 |b1 (4,)': [npyDict('|b1', [4]), Buffer.from([0, 1, 1, 0]), [1, 0]],
    'v1 <i8 (3,)': [npyDict('<i8', [3]), Buffer.concat([u64le(5), u64le(-7), u64le(2 ** 31 - 1)]), [1, 0]],
    'v1 <u8 (2,) out of i32 range': [npyDict('<u8', [2]), Buffer.concat([u64le(1), u64le(2 ** 40)]), [1, 0]],
    'v1 |u1 ()': [npyDict('|u1', []), Buffer.from([7]), [1, 0]],
    'v1 <f2 (0,)': [npyDict('<f2', [0]), Buffer.alloc(0), [1, 0]],
    'v1 <c8 (2,)': [npyDict('<c8', [2]), Buffer.alloc(16), [1, 0]],
    'v1 |i1 (2,3,1,1)': [npyDict('|i1', [2, 3, 1, 1]), randomBytes(r, 6), [1, 0]],
  };
  const put = (mutation, seed, bytes, expect = 'either', code) =>
    add('npy', mutation, seed, { '.npy': bytes }, { single: true, api: 'npy', expect, code });
  for (const [name, [dict, data, version]] of Object.entries(seeds)) {
    const file = npyBytes(dict, data, version);
    // the descr is checked before the data size: an unsupported one wins over a size error
    const sizeCode = name.includes('<c8') ? undefined : 'NT_IO';
    const pre = version[0] === 1 ? 10 : 12;
    const dataStart = file.length - data.length;
    put('valid seed', name, file);
    for (let k = 0; k < pre; ++k) put(`truncated at byte ${k} (preamble)`, name, file.subarray(0, k), 'error', 'NT_IO');
    for (const at of boundaries(dict, pre)) put(`truncated at dict boundary ${at}`, name, file.subarray(0, at), 'error', 'NT_IO');
    if (data.length) {
      put('truncated data by one byte', name, file.subarray(0, file.length - 1), 'error', sizeCode);
      put('truncated at the data start', name, file.subarray(0, dataStart), 'error', sizeCode);
    }
    put('one trailing byte', name, Buffer.concat([file, Buffer.from([0])]), 'error', sizeCode);
    const len = dataStart - pre;
    for (const lie of [0, 1, len - 1, len + 1, len + 64, 65535, 0xffffffff])
      if (lie !== len && !(pre === 10 && lie > 0xffff)) put(`header length ${lie} (true ${len})`, name, npyBytes(dict, data, version, lie), 'error');
    for (const v of [[0, 0], [4, 0], [1, 1], [2, 5], [255, 255]]) put(`version ${v.join('.')}`, name, npyBytes(dict, data, v), 'error', 'NT_IO');
    const bad = Buffer.from(file);
    bad[0] = 0x94;
    put('bad magic', name, bad, 'error', 'NT_IO');
    const rr = rng(name.length * 31 + 7);
    for (let k = 0; k < 10; ++k) put(`bit flips in the header #${k}`, name, flipBits(file, rr, 1 + rr.int(3), 0, dataStart));
    if (data.length) put('bit flips in the data', name, flipBits(file, rr, 2, dataStart, file.length));
  }
  // dict-level edits on a (3,) <f4 array
  const d12 = f32(3);
  const dictEdits = [
    ...['<f16', '<c16', '|O', '<U3', '|S4', 'V8', '<M8[ns]', '<m8', '', '<', 'f4', '<fX', '<f4 ', '>i2', '=f4', '|f4', '<f04', '<b1', '<u16', '<g', '<e'].map((d) => [`descr '${d}'`, `{'descr': '${d}', 'fortran_order': False, 'shape': (3,), }`]),
    ['descr structured list', "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (3,), }"],
    ['descr double quoted', '{"descr": "<f4", "fortran_order": False, "shape": (3,), }'],
    ['descr unterminated', "{'descr': '<f4, 'fortran_order': False, 'shape': (3,), }"],
    ['descr with a backslash', "{'descr': '<f\\4', 'fortran_order': False, 'shape': (3,), }"],
    ['fortran_order None', "{'descr': '<f4', 'fortran_order': None, 'shape': (3,), }"],
    ['fortran_order 1', "{'descr': '<f4', 'fortran_order': 1, 'shape': (3,), }"],
    ['fortran_order true', "{'descr': '<f4', 'fortran_order': true, 'shape': (3,), }"],
    ['fortran_order Truex', "{'descr': '<f4', 'fortran_order': Truex, 'shape': (3,), }"],
    ['shape (3) not a tuple', "{'descr': '<f4', 'fortran_order': False, 'shape': (3), }"],
    ['shape list', "{'descr': '<f4', 'fortran_order': False, 'shape': [3], }"],
    ['shape (-3,)', "{'descr': '<f4', 'fortran_order': False, 'shape': (-3,), }"],
    ['shape (03,)', "{'descr': '<f4', 'fortran_order': False, 'shape': (03,), }"],
    ['shape (3L,)', "{'descr': '<f4', 'fortran_order': False, 'shape': (3L,), }"],
    ['shape (3.0,)', "{'descr': '<f4', 'fortran_order': False, 'shape': (3.0,), }"],
    ['shape (3,,)', "{'descr': '<f4', 'fortran_order': False, 'shape': (3,,), }"],
    ['shape (,)', "{'descr': '<f4', 'fortran_order': False, 'shape': (,), }"],
    ['shape () with data', "{'descr': '<f4', 'fortran_order': False, 'shape': (), }"],
    ['shape (1, 3)', "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3), }"],
    ['shape (3, 0)', "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 0), }"],
    ['shape 2^64', "{'descr': '<f4', 'fortran_order': False, 'shape': (18446744073709551616,), }"],
    ['shape 2^53 + 1', "{'descr': '<f4', 'fortran_order': False, 'shape': (9007199254740993,), }"],
    ['shape product overflow', "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }"],
    ['shape product x size overflow', "{'descr': '<f8', 'fortran_order': False, 'shape': (2147483648, 2147483648, 4), }"],
    ['shape (0, 2^53)', "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 9007199254740992), }"],
    ['shape 9 dims', "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1, 1, 1, 1, 1, 1, 3), }"],
    ['shape 64 dims', `{'descr': '<f4', 'fortran_order': False, 'shape': (${[...Array(63).fill(1), 3].join(', ')}), }`],
    ['shape 65 dims', `{'descr': '<f4', 'fortran_order': False, 'shape': (${[...Array(64).fill(1), 3].join(', ')}), }`],
    ['shape 10000 dims', `{'descr': '<f4', 'fortran_order': False, 'shape': (${[...Array(9999).fill(1), 3].join(', ')}), }`],
    ['shape nested tuple', "{'descr': '<f4', 'fortran_order': False, 'shape': ((3,),), }"],
    ['duplicate shape', "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), 'shape': (3,), }"],
    ['duplicate fortran_order', "{'descr': '<f4', 'fortran_order': False, 'fortran_order': True, 'shape': (3,), }"],
    ['unknown key', "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), 'x': 1, }"],
    ['missing fortran_order', "{'descr': '<f4', 'shape': (3,), }"],
    ['empty dict', '{}'],
    ['not a dict', '[3]'],
    ['no closing brace', "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), "],
    ['two commas', "{'descr': '<f4',, 'fortran_order': False, 'shape': (3,), }"],
    ['text after the dict', "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), } x"],
    ['NUL in the dict', "{'descr': '<f4',\u0000 'fortran_order': False, 'shape': (3,), }"],
    ['non-ASCII key', "{'déscr': '<f4', 'fortran_order': False, 'shape': (3,), }"],
    ['key order shuffled (valid)', "{'shape': (3,), 'fortran_order': False, 'descr': '<f4'}"],
    ['no trailing comma (valid)', "{'descr': '<f4', 'fortran_order': False, 'shape': (3,)}"],
    ['extra whitespace (valid)', "{ 'descr' : '<f4' ,\t'fortran_order' : False , 'shape' : ( 3 , ) }"],
  ];
  const okDicts = ['shape (1, 3)', 'descr double quoted', 'key order shuffled (valid)', 'no trailing comma (valid)', 'extra whitespace (valid)', 'shape (3L,)', "descr '>i2'", "descr '=f4'", "descr '|f4'", "descr '<b1'"];
  for (const [mutation, dict] of dictEdits) put(mutation, 'v1 <f4 (3,)', npyBytes(dict, d12), okDicts.includes(mutation) ? 'either' : 'error');
  // non-UTF-8 / raw bytes in a v3 dict, and the same dict in v1 (ASCII only)
  const raw = Buffer.concat([Buffer.from("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), '"), Buffer.from([0xff, 0xfe, 0xc0, 0x80]), Buffer.from("': 1}")]);
  for (const v of [[1, 0], [3, 0]]) {
    const pre = v[0] === 1 ? 10 : 12;
    const head = Buffer.alloc(pre);
    Buffer.from('\x93NUMPY', 'latin1').copy(head);
    head[6] = v[0];
    if (pre === 10) head.writeUInt16LE(raw.length + 1, 8);
    else head.writeUInt32LE(raw.length + 1, 8);
    put(`non-UTF-8 bytes in the dict (v${v[0]})`, 'v1 <f4 (3,)', Buffer.concat([head, raw, Buffer.from('\n'), d12]), 'error');
  }
  // a v2 header longer than 65535 bytes (legal) and one past the reader's 1 MB limit
  const longDict = "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }" + ' '.repeat(70000);
  put('v2 header of 70 KB (valid)', 'v2', npyBytes(longDict, d12, [2, 0]), 'either');
  put('v2 header length 2 MB', 'v2', npyBytes(npyDict('<f4', [3]), d12, [2, 0], 2 << 20), 'error', 'NT_IO');
}

// ---------- JSON mutations shared by config.json / index / adapter / quantize configs ----------
function jsonMutations(text, r, opts = {}) {
  const out = [];
  const buf = Buffer.from(text);
  for (const at of boundaries(text, 0, opts.limit ?? 40)) out.push([`truncated at JSON boundary ${at}`, buf.subarray(0, at), 'error']);
  out.push(['empty file', Buffer.alloc(0), 'error']);
  for (let k = 0; k < (opts.flips ?? 8); ++k) out.push([`bit flips #${k}`, flipBits(buf, r, 1 + r.int(2)), 'either']);
  out.push(['invalid UTF-8 (0xff) in a string', Buffer.concat([Buffer.from('{"x\xff": 1, '.replace('\xff', '')), Buffer.from([0xff]), buf.subarray(1)]), 'either']);
  out.push(['overlong UTF-8 NUL', Buffer.concat([Buffer.from('{"a'), Buffer.from([0xc0, 0x80]), Buffer.from('": 1, '), buf.subarray(1)]), 'either']);
  out.push(['lone surrogate escape key', Buffer.from('{"\\ud800": 1, ' + text.slice(1)), 'either']);
  out.push(['UTF-16LE encoded', Buffer.from(text, 'utf16le'), 'error']);
  out.push(['BOM prefix', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), buf]), 'either']);
  out.push(['deeply nested 20000 (unclosed)', Buffer.from('{"x": ' + '['.repeat(20000)), 'error']);
  out.push(['deeply nested 5000 (closed)', Buffer.from('{"deep": ' + '['.repeat(5000) + ']'.repeat(5000) + ', ' + text.slice(1)), 'either']);
  out.push(['NaN literal', Buffer.from(text.replace(/:\s*(\d+)/, ': NaN')), 'error']);
  out.push(['Infinity literal', Buffer.from(text.replace(/:\s*(\d+)/, ': Infinity')), 'error']);
  out.push(['-Infinity literal', Buffer.from(text.replace(/:\s*(\d+)/, ': -Infinity')), 'error']);
  out.push(['1e999 number', Buffer.from(text.replace(/:\s*(\d+)/, ': 1e999')), 'either']);
  out.push(['trailing garbage', Buffer.from(text + ' }'), 'error']);
  out.push(['trailing comma', Buffer.from(text.replace(/\s*}\s*$/, ',}')), 'error']);
  out.push(['root is an array', Buffer.from(`[${text}]`), 'error']);
  out.push(['root is null', Buffer.from('null'), 'error']);
  out.push(['root is a string', Buffer.from(JSON.stringify(text)), 'error']);
  out.push(['root is a number', Buffer.from('42'), 'error']);
  if (opts.huge) out.push(['a 1 MB string value', Buffer.from('{"pad": "' + 'x'.repeat(1 << 20) + '", ' + text.slice(1)), 'either']);
  return out;
}

/** Field-level edits of a JSON object: every key removed or replaced by every wrong type. */
function fieldMutations(obj, keys) {
  const out = [];
  const wrong = [null, 'str', -1, 0, 2.5, 1e308, 2 ** 53 + 2, [1], { a: 1 }, true];
  for (const k of keys) {
    const { [k]: _, ...rest } = obj;
    out.push([`key ${k} removed`, rest]);
    for (const w of wrong) out.push([`key ${k} = ${JSON.stringify(w)}`, { ...obj, [k]: w }]);
  }
  return out;
}

function duplicateKey(text, key, value) {
  return Buffer.from(text.replace(/^\{/, `{"${key}": ${JSON.stringify(value)}, `));
}

// ---------- tiny model folder ----------
const TINY = {
  architectures: ['LlamaForCausalLM'], model_type: 'llama', vocab_size: 8, hidden_size: 8, intermediate_size: 12,
  num_hidden_layers: 1, num_attention_heads: 2, num_key_value_heads: 1, head_dim: 4, max_position_embeddings: 16,
  rms_norm_eps: 1e-5, rope_theta: 10000, hidden_act: 'silu', tie_word_embeddings: false,
};
function tinyTensors(cfg, dtype = 'F32') {
  const H = cfg.hidden_size, I = cfg.intermediate_size, d = cfg.head_dim, V = cfg.vocab_size;
  const t = [['model.embed_tokens.weight', dtype, [V, H]], ['model.norm.weight', dtype, [H]], ['lm_head.weight', dtype, [V, H]]];
  for (let l = 0; l < cfg.num_hidden_layers; ++l) {
    const p = `model.layers.${l}.`;
    t.push([`${p}input_layernorm.weight`, dtype, [H]], [`${p}post_attention_layernorm.weight`, dtype, [H]],
      [`${p}self_attn.q_proj.weight`, dtype, [cfg.num_attention_heads * d, H]], [`${p}self_attn.k_proj.weight`, dtype, [cfg.num_key_value_heads * d, H]],
      [`${p}self_attn.v_proj.weight`, dtype, [cfg.num_key_value_heads * d, H]], [`${p}self_attn.o_proj.weight`, dtype, [H, cfg.num_attention_heads * d]],
      [`${p}mlp.gate_proj.weight`, dtype, [I, H]], [`${p}mlp.up_proj.weight`, dtype, [I, H]], [`${p}mlp.down_proj.weight`, dtype, [H, I]]);
  }
  return t;
}
const stFile = (s) => stBytes(s.json, s.data);

function modelCases() {
  const r = rng(0x70de1);
  const cfgText = JSON.stringify(TINY, null, 1);
  const seed = stSeed(tinyTensors(TINY), { format: 'pt' }, r);
  files.set('model/_seed/config.json', Buffer.from(cfgText));
  files.set('model/_seed/model.safetensors', stFile(seed));
  // sharded seed: two shards + index
  const all = tinyTensors(TINY);
  const half = Math.ceil(all.length / 2);
  const s1 = stSeed(all.slice(0, half), { format: 'pt' }, r);
  const s2 = stSeed(all.slice(half), { format: 'pt' }, r);
  const weightMap = {};
  all.forEach(([n], i) => { weightMap[n] = i < half ? 'model-00001-of-00002.safetensors' : 'model-00002-of-00002.safetensors'; });
  const index = { metadata: { total_size: s1.data.length + s2.data.length }, weight_map: weightMap };
  const indexText = JSON.stringify(index, null, 1);
  files.set('model/_seed_sharded/config.json', Buffer.from(cfgText));
  files.set('model/_seed_sharded/model.safetensors.index.json', Buffer.from(indexText));
  files.set('model/_seed_sharded/model-00001-of-00002.safetensors', stFile(s1));
  files.set('model/_seed_sharded/model-00002-of-00002.safetensors', stFile(s2));

  const put = (mutation, fileMap, expect, opts = {}) => add('model', mutation, opts.base ?? '_seed', fileMap, { api: 'model', base: opts.base ?? '_seed', expect, remove: opts.remove, code: opts.code });
  put('valid seed', {}, 'either');
  put('valid sharded seed', {}, 'either', { base: '_seed_sharded' });
  for (const [m, b, e] of jsonMutations(cfgText, rng(11), { flips: 16, huge: true })) put(`config.json: ${m}`, { 'config.json': b }, e);
  for (const [m, o] of fieldMutations(TINY, ['model_type', 'vocab_size', 'hidden_size', 'intermediate_size', 'num_hidden_layers', 'num_attention_heads', 'num_key_value_heads', 'head_dim', 'max_position_embeddings', 'rms_norm_eps', 'rope_theta', 'hidden_act', 'tie_word_embeddings']))
    put(`config.json: ${m}`, { 'config.json': Buffer.from(JSON.stringify(o)) }, 'either');
  const sem = [
    ['heads not divisible by kv heads', { num_attention_heads: 3 }],
    ['odd head_dim', { head_dim: 3 }],
    ['model_type gpt2', { model_type: 'gpt2' }],
    ['model_type mistral (valid)', { model_type: 'mistral' }],
    ['hidden_act gelu', { hidden_act: 'gelu' }],
    ['attention_bias true', { attention_bias: true }],
    ['mlp_bias true', { mlp_bias: true }],
    ['hidden_size disagrees with weights', { hidden_size: 16 }],
    ['vocab_size disagrees with weights', { vocab_size: 9 }],
    ['vocab_size 2^31', { vocab_size: 2 ** 31 }],
    ['intermediate_size 2^40', { intermediate_size: 2 ** 40 }],
    ['num_hidden_layers 2 (tensors missing)', { num_hidden_layers: 2 }],
    ['num_hidden_layers 20000', { num_hidden_layers: 20000 }],
    ['tie_word_embeddings true (lm_head unused)', { tie_word_embeddings: true }],
    ['rope_scaling linear (valid)', { rope_scaling: { type: 'linear', factor: 2 } }],
    ['rope_scaling yarn (valid)', { rope_scaling: { type: 'yarn', factor: 2 } }],
    ['rope_scaling unknown', { rope_scaling: { type: 'ntk-by-parts', factor: 2 } }],
    ['rope_scaling longrope', { rope_scaling: { rope_type: 'longrope', factor: 2, short_factor: [1], long_factor: [1] } }],
    ['rope_scaling dynamic (valid)', { rope_scaling: { rope_type: 'dynamic', factor: 2 } }],
    ['rope_parameters (transformers 5, valid)', { rope_theta: undefined, rope_parameters: { rope_type: 'default', rope_theta: 500000 } }],
    ['rope_parameters conflicting with rope_theta', { rope_parameters: { rope_type: 'default', rope_theta: 500000 } }],
    ['rope_parameters per layer type, different', { layer_types: ['full_attention', 'sliding_attention'], rope_parameters: { full_attention: { rope_type: 'default', rope_theta: 10000 }, sliding_attention: { rope_type: 'default', rope_theta: 1000 } } }],
    ['partial_rotary_factor 0.5', { partial_rotary_factor: 0.5 }],
    ['dtype conflicting with torch_dtype', { dtype: 'bfloat16', torch_dtype: 'float32' }],
    ['model_type qwen2 (bias tensors missing)', { model_type: 'qwen2' }],
    ['model_type qwen3 (q/k norm tensors missing)', { model_type: 'qwen3', head_dim: 4 }],
    ['model_type phi3 (fused tensors missing)', { model_type: 'phi3' }],
    ['qwen2 with too few layer_types', { model_type: 'qwen2', use_sliding_window: true, layer_types: ['full_attention'] }],
    ['mistral sliding_window 0', { model_type: 'mistral', sliding_window: 0 }],
    ['rope_scaling factor NaN-ish', { rope_scaling: { type: 'linear', factor: -1 } }],
    ['rope_scaling llama3 inverted', { rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 4, high_freq_factor: 1, original_max_position_embeddings: 8192 } }],
    ['rope_scaling is a string', { rope_scaling: 'linear' }],
    ['sliding_window short', { sliding_window: 4 }],
    ['eos_token_id array', { eos_token_id: [1, 2] }],
    ['eos_token_id negative', { eos_token_id: -1 }],
    ['eos_token_id string', { eos_token_id: 'x' }],
    ['head_dim absent, hidden/heads = 4', { head_dim: undefined }],
    ['rms_norm_eps 0', { rms_norm_eps: 0 }],
    ['rope_theta 1e400', '1e400'],
  ];
  for (const [m, o] of sem) {
    const text = typeof o === 'string' ? cfgText.replace('"rope_theta": 10000', `"rope_theta": ${o}`) : JSON.stringify({ ...TINY, ...o });
    put(`config.json: ${m}`, { 'config.json': Buffer.from(text) }, 'either');
  }
  put('config.json: duplicate key', { 'config.json': duplicateKey(cfgText, 'hidden_size', 16) }, 'either');
  put('config.json: __proto__ key', { 'config.json': Buffer.from(cfgText.replace(/^\{/, '{"__proto__": {"hidden_size": 99}, ')) }, 'either');
  put('config.json missing', {}, 'error', { remove: ['config.json'], code: 'NT_IO' });
  put('model.safetensors missing', {}, 'error', { remove: ['model.safetensors'], code: 'NT_IO' });
  // weights
  const w = stFile(seed);
  const hEnd = 8 + Buffer.byteLength(seed.json);
  for (const at of [0, 7, 8, 100, hEnd - 1, hEnd, hEnd + 100, w.length - 1]) put(`model.safetensors truncated at ${at}`, { 'model.safetensors': w.subarray(0, at) }, 'error', { code: 'NT_IO' });
  const wr = rng(99);
  for (let k = 0; k < 16; ++k) put(`model.safetensors bit flips #${k}`, { 'model.safetensors': flipBits(w, wr, 1 + wr.int(2), 8, hEnd) }, 'either');
  put('weights in F16 (valid)', { 'model.safetensors': stFile(stSeed(tinyTensors(TINY, 'F16'), null, r)) }, 'either');
  put('weights in BF16 (valid)', { 'model.safetensors': stFile(stSeed(tinyTensors(TINY, 'BF16'), null, r)) }, 'either');
  put('weights in F64 (valid)', { 'model.safetensors': stFile(stSeed(tinyTensors(TINY, 'F64'), null, r)) }, 'either');
  put('weights in I32', { 'model.safetensors': stFile(stSeed(tinyTensors(TINY, 'I32'), null, r)) }, 'error');
  put('weights in F8_E4M3', { 'model.safetensors': stFile(stSeed(tinyTensors(TINY, 'F8_E4M3'), null, r)) }, 'error');
  put('weights in U8', { 'model.safetensors': stFile(stSeed(tinyTensors(TINY, 'U8'), null, r)) }, 'error');
  const t2 = tinyTensors(TINY);
  put('one tensor missing', { 'model.safetensors': stFile(stSeed(t2.slice(1), null, r)) }, 'error', { code: 'NT_IO' });
  put('one extra tensor (valid)', { 'model.safetensors': stFile(stSeed([...t2, ['extra.bias', 'F32', [3]]], null, r)) }, 'either');
  put('one tensor transposed', { 'model.safetensors': stFile(stSeed(t2.map(([n, d, s]) => [n, d, n.includes('gate_proj') ? [...s].reverse() : s]), null, r)) }, 'error', { code: 'NT_SHAPE' });
  put('one tensor of rank 3', { 'model.safetensors': stFile(stSeed(t2.map(([n, d, s]) => [n, d, n === 'model.norm.weight' ? [1, 1, s[0]] : s]), null, r)) }, 'error');
  const nanSeed = stSeed(t2, null, r);
  for (let i = 0; i < nanSeed.data.length; i += 64) nanSeed.data.writeFloatLE(NaN, i);
  put('NaN weights (loads)', { 'model.safetensors': stFile(nanSeed) }, 'either');
  // sharded index
  for (const [m, b, e] of jsonMutations(indexText, rng(12), { limit: 24, flips: 8 })) put(`index: ${m}`, { 'model.safetensors.index.json': b }, e, { base: '_seed_sharded' });
  const firstName = all[0][0];
  const idxEdits = [
    ['shard ../escape', { ...index, weight_map: { ...weightMap, [firstName]: '../model-00001-of-00002.safetensors' } }],
    ['shard absolute path', { ...index, weight_map: { ...weightMap, [firstName]: '/etc/passwd' } }],
    ['shard missing file', { ...index, weight_map: { ...weightMap, [firstName]: 'model-00003-of-00003.safetensors' } }],
    ['shard empty name', { ...index, weight_map: { ...weightMap, [firstName]: '' } }],
    ['shard is the folder', { ...index, weight_map: { ...weightMap, [firstName]: '.' } }],
    ['shard name not a string', { ...index, weight_map: { ...weightMap, [firstName]: 1 } }],
    ['shard name null', { ...index, weight_map: { ...weightMap, [firstName]: null } }],
    ['shard is the index itself', { ...index, weight_map: { ...weightMap, [firstName]: 'model.safetensors.index.json' } }],
    ['shard is config.json', { ...index, weight_map: { ...weightMap, [firstName]: 'config.json' } }],
    ['tensor placed in the wrong shard', { ...index, weight_map: { ...weightMap, [firstName]: 'model-00002-of-00002.safetensors' } }],
    ['tensor missing from the index', { ...index, weight_map: Object.fromEntries(Object.entries(weightMap).slice(1)) }],
    ['weight_map missing', { metadata: index.metadata }],
    ['weight_map an array', { ...index, weight_map: Object.keys(weightMap) }],
    ['weight_map null', { ...index, weight_map: null }],
    ['weight_map empty', { ...index, weight_map: {} }],
    ['total_size wrong (ignored)', { ...index, metadata: { total_size: -5 } }],
  ];
  for (const [m, o] of idxEdits) put(`index: ${m}`, { 'model.safetensors.index.json': Buffer.from(JSON.stringify(o)) }, m.includes('ignored') ? 'either' : 'error', { base: '_seed_sharded' });
  put('index: duplicate tensor key', { 'model.safetensors.index.json': Buffer.from(indexText.replace('"weight_map": {', `"weight_map": {"${firstName}": "model-00002-of-00002.safetensors", `)) }, 'either', { base: '_seed_sharded' });
  put('shard 2 missing', {}, 'error', { base: '_seed_sharded', remove: ['model-00002-of-00002.safetensors'], code: 'NT_IO' });
  put('shard 1 truncated', { 'model-00001-of-00002.safetensors': stFile(s1).subarray(0, 40) }, 'error', { base: '_seed_sharded', code: 'NT_IO' });
  return { seed, TINY };
}

// ---------- PEFT adapter folder ----------
function adapterCases() {
  const r = rng(0xada);
  const cfg = { peft_type: 'LORA', task_type: 'CAUSAL_LM', base_model_name_or_path: null, r: 2, lora_alpha: 2, lora_dropout: 0, bias: 'none', fan_in_fan_out: false, target_modules: ['q_proj', 'v_proj'], use_rslora: false, use_dora: false, inference_mode: true };
  const cfgText = JSON.stringify(cfg, null, 2);
  const mods = ['model.layers.0.self_attn.q_proj', 'model.layers.0.self_attn.v_proj'];
  const tensorsFor = (rank, dtype = 'F32', tweak = (x) => x) => mods.flatMap((m) => [
    [`base_model.model.${m}.lora_A.weight`, dtype, tweak([rank, 8], 'A', m)],
    [`base_model.model.${m}.lora_B.weight`, dtype, tweak([m.endsWith('q_proj') ? 8 : 4, rank], 'B', m)],
  ]);
  const seed = stSeed(tensorsFor(2), { format: 'pt' }, r);
  files.set('adapter/_seed/adapter_config.json', Buffer.from(cfgText));
  files.set('adapter/_seed/adapter_model.safetensors', stFile(seed));
  const put = (mutation, fileMap, expect, opts = {}) => add('adapter', mutation, '_seed', fileMap, { api: 'adapter', base: '_seed', expect, remove: opts.remove, code: opts.code });
  put('valid seed', {}, 'either');
  for (const [m, b, e] of jsonMutations(cfgText, rng(21), { limit: 30 })) put(`adapter_config.json: ${m}`, { 'adapter_config.json': b }, e);
  for (const [m, o] of fieldMutations(cfg, ['peft_type', 'r', 'lora_alpha', 'use_rslora', 'use_dora']))
    put(`adapter_config.json: ${m}`, { 'adapter_config.json': Buffer.from(JSON.stringify(o)) }, 'either');
  put('adapter_config.json: r disagrees with the weights', { 'adapter_config.json': Buffer.from(JSON.stringify({ ...cfg, r: 3 })) }, 'error', { code: 'NT_SHAPE' });
  put('adapter_config.json: rslora (valid)', { 'adapter_config.json': Buffer.from(JSON.stringify({ ...cfg, use_rslora: true, lora_alpha: 4 })) }, 'either');
  put('adapter_config.json: peft_type IA3', { 'adapter_config.json': Buffer.from(JSON.stringify({ ...cfg, peft_type: 'IA3' })) }, 'error', { code: 'NT_UNSUPPORTED' });
  put('adapter_config.json missing', {}, 'error', { remove: ['adapter_config.json'], code: 'NT_IO' });
  put('adapter_model.safetensors missing', {}, 'error', { remove: ['adapter_model.safetensors'], code: 'NT_IO' });
  const w = stFile(seed);
  const hEnd = 8 + Buffer.byteLength(seed.json);
  for (const at of [0, 8, hEnd - 1, hEnd + 1, w.length - 1]) put(`weights truncated at ${at}`, { 'adapter_model.safetensors': w.subarray(0, at) }, 'error', { code: 'NT_IO' });
  const wr = rng(23);
  for (let k = 0; k < 10; ++k) put(`weights bit flips #${k}`, { 'adapter_model.safetensors': flipBits(w, wr, 1 + wr.int(2), 8, hEnd) }, 'either');
  put('lora_B missing', { 'adapter_model.safetensors': stFile(stSeed(tensorsFor(2).filter(([n]) => !n.endsWith('q_proj.lora_B.weight')), null, r)) }, 'error', { code: 'NT_IO' });
  put('no lora tensors', { 'adapter_model.safetensors': stFile(stSeed([['x', 'F32', [2]]], null, r)) }, 'error', { code: 'NT_IO' });
  put('A has rank 3', { 'adapter_model.safetensors': stFile(stSeed(tensorsFor(2, 'F32', (s, k) => (k === 'A' ? [3, 8] : s)), null, r)) }, 'error', { code: 'NT_SHAPE' });
  put('A is 1-D', { 'adapter_model.safetensors': stFile(stSeed(tensorsFor(2, 'F32', (s, k) => (k === 'A' ? [16] : s)), null, r)) }, 'error', { code: 'NT_SHAPE' });
  put('weights in F16 (valid)', { 'adapter_model.safetensors': stFile(stSeed(tensorsFor(2, 'F16'), null, r)) }, 'either');
  put('weights in I32', { 'adapter_model.safetensors': stFile(stSeed(tensorsFor(2, 'I32'), null, r)) }, 'either');
  put('weights in F8_E4M3', { 'adapter_model.safetensors': stFile(stSeed(tensorsFor(2, 'F8_E4M3'), null, r)) }, 'error', { code: 'NT_UNSUPPORTED' });
  put('.default keys (valid)', { 'adapter_model.safetensors': stFile(stSeed(tensorsFor(2).map(([n, d, s]) => [n.replace(/\.weight$/, '.default.weight').replace('lora_A.default', 'lora_A.default').replace('lora_B.default', 'lora_B.default'), d, s]), null, r)) }, 'either');
}

// ---------- GPTQ ----------
function gptqCases() {
  const r = rng(0x9797);
  // quantization_config inside a model's config.json (nt.model.load)
  const qc = { quant_method: 'gptq', bits: 4, group_size: 32, desc_act: false, sym: true, checkpoint_format: 'gptq' };
  const withQc = (q) => Buffer.from(JSON.stringify({ ...TINY, quantization_config: q }));
  const putModel = (mutation, bytes, expect) => add('gptq', mutation, 'model/_seed', { 'config.json': bytes }, { api: 'model', base: '../model/_seed', expect });
  putModel('quantization_config valid (dense weights)', withQc(qc), 'either');
  for (const [m, o] of fieldMutations(qc, ['quant_method', 'bits', 'group_size', 'desc_act', 'sym', 'checkpoint_format'])) putModel(`quantization_config: ${m}`, withQc(o), 'either');
  for (const v of [null, 'gptq', [], 7]) putModel(`quantization_config = ${JSON.stringify(v)}`, withQc(v), 'either');
  const qcText = JSON.stringify({ ...TINY, quantization_config: qc });
  for (const [m, b, e] of jsonMutations(qcText, rng(31), { limit: 12, flips: 6 })) putModel(`config with quantization_config: ${m}`, b, e);

  // one GPTQ layer: K = 64 in, N = 8 out, 4 bits, group 32 -> qweight [8, 8], qzeros [2, 1], scales [2, 8], g_idx [64]
  const K = 64, N = 8, G = 2;
  const layer = (over = {}) => {
    const spec = {
      qweight: ['I32', [K / 8, N]], qzeros: ['I32', [G, N / 8]], scales: ['F16', [G, N]], g_idx: ['I32', [K]], ...over,
    };
    const tensors = Object.entries(spec).filter(([k, v]) => ['qweight', 'qzeros', 'scales', 'g_idx'].includes(k) && v).map(([k, [d, s]]) => [`layer.${k}`, d, s]);
    const s = stSeed(tensors, null, r);
    // plausible contents: g_idx = k / 32, zeros 8 - 1 packed, positive scales
    const h = s.header;
    if (h['layer.g_idx'] && h['layer.g_idx'].dtype === 'I32') {
      const [b] = h['layer.g_idx'].data_offsets;
      const n = h['layer.g_idx'].shape.reduce((a, c) => a * c, 1);
      for (let k = 0; k < n; ++k) s.data.writeInt32LE(over.gIdxValue ? over.gIdxValue(k) : Math.floor(k / 32), b + 4 * k);
    }
    if (h['layer.qzeros'] && h['layer.qzeros'].dtype === 'I32') {
      const [b, e] = h['layer.qzeros'].data_offsets;
      for (let o = b; o < e; o += 4) s.data.writeInt32LE(0x77777777, o);
    }
    if (h['layer.scales'] && h['layer.scales'].dtype === 'F16') {
      const [b, e] = h['layer.scales'].data_offsets;
      for (let o = b; o < e; o += 2) s.data.writeUInt16LE(over.scaleBits ?? 0x2c00, o);
    }
    return stFile(s);
  };
  const qcfg = { bits: 4, group_size: 32, desc_act: false, sym: true, checkpoint_format: 'gptq' };
  const putLayer = (mutation, tensors, config, expect, code) =>
    add('gptq', mutation, 'layer K=64 N=8 4-bit g32', { 'quantize_config.json': Buffer.from(typeof config === 'string' ? config : JSON.stringify(config)), 'gptq.safetensors': tensors }, { api: 'gptq-layer', expect, code });
  putLayer('valid layer', layer(), qcfg, 'either');
  putLayer('valid layer, v2 format', layer(), { ...qcfg, checkpoint_format: 'gptq_v2' }, 'either');
  for (const [m, o] of fieldMutations(qcfg, ['bits', 'group_size', 'sym', 'checkpoint_format'])) putLayer(`quantize_config: ${m}`, layer(), o, 'either');
  for (const b of [2, 3, 8]) putLayer(`bits ${b} with 4-bit tensors`, layer(), { ...qcfg, bits: b }, 'error');
  putLayer('group_size -1 with 2 groups', layer(), { ...qcfg, group_size: -1 }, 'error');
  putLayer('group_size 64 with 2 groups', layer(), { ...qcfg, group_size: 64 }, 'error');
  putLayer('qweight f32', layer({ qweight: ['F32', [K / 8, N]] }), qcfg, 'error', 'NT_DTYPE');
  putLayer('qweight I64 (loads as i32)', layer({ qweight: ['I64', [K / 8, N]] }), qcfg, 'either');
  putLayer('qweight wrong rows', layer({ qweight: ['I32', [K / 8 + 1, N]] }), qcfg, 'error', 'NT_SHAPE');
  putLayer('qweight 1-D', layer({ qweight: ['I32', [K]] }), qcfg, 'error');
  putLayer('qweight empty', layer({ qweight: ['I32', [0, N]] }), qcfg, 'error');
  putLayer('qzeros wrong shape', layer({ qzeros: ['I32', [G + 1, N / 8]] }), qcfg, 'error');
  putLayer('qzeros f16', layer({ qzeros: ['F16', [G, N / 8]] }), qcfg, 'error');
  putLayer('scales f32 (accepted or refused)', layer({ scales: ['F32', [G, N]] }), qcfg, 'either');
  putLayer('scales I32', layer({ scales: ['I32', [G, N]] }), qcfg, 'error');
  putLayer('scales wrong shape', layer({ scales: ['F16', [G, N + 1]] }), qcfg, 'error');
  putLayer('scales Inf', layer({ scaleBits: 0x7c00 }), qcfg, 'either');
  putLayer('scales NaN', layer({ scaleBits: 0x7e00 }), qcfg, 'either');
  putLayer('scales negative', layer({ scaleBits: 0xac00 }), qcfg, 'either');
  putLayer('g_idx missing (plain groups)', layer({ g_idx: null }), qcfg, 'either');
  putLayer('g_idx wrong length', layer({ g_idx: ['I32', [K + 1]] }), qcfg, 'error');
  putLayer('g_idx f32', layer({ g_idx: ['F32', [K]] }), qcfg, 'error');
  putLayer('g_idx value = G (out of range)', layer({ gIdxValue: (k) => (k === 5 ? G : Math.floor(k / 32)) }), qcfg, 'error');
  putLayer('g_idx value = 2^31-1', layer({ gIdxValue: (k) => (k === 0 ? 0x7fffffff : Math.floor(k / 32)) }), qcfg, 'error');
  putLayer('g_idx value negative', layer({ gIdxValue: (k) => (k === 63 ? -1 : Math.floor(k / 32)) }), qcfg, 'error');
  putLayer('g_idx value -2^31', layer({ gIdxValue: (k) => (k === 1 ? -0x80000000 : Math.floor(k / 32)) }), qcfg, 'error');
  putLayer('g_idx act-order permutation (valid)', layer({ gIdxValue: (k) => (k * 7) % 2 }), { ...qcfg, desc_act: true }, 'either');
  const lr = rng(41);
  const good = layer();
  for (let k = 0; k < 12; ++k) putLayer(`layer bit flips #${k}`, flipBits(good, lr, 1 + lr.int(3)), qcfg, 'either');
  putLayer('layer truncated', good.subarray(0, good.length - 3), qcfg, 'error', 'NT_IO');
  putLayer('quantize_config not JSON', good, '{"bits": 4, ', 'error');
}

// ---------- names and symlinks that lead outside a folder; the Hugging Face cache layout ----------
function pathCases() {
  const seedFiles = ['config.json', 'model.safetensors'];
  const shardFiles = ['config.json', 'model.safetensors.index.json', 'model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'];
  const putModel = (mutation, base, expect, opts) => add('model', mutation, base, {}, { api: 'model', base, expect, ...opts });
  // plain folder: a symlink planted in it points at a valid copy of the same file outside, so
  // the only reason to refuse is where it leads
  for (const f of seedFiles) {
    putModel(`symlink: ${f} -> ../outside/${f}`, '_seed', 'error', { code: 'NT_IO', layout: 'm', outside: { [`../outside/${f}`]: f }, links: { [f]: `../outside/${f}` } });
    putModel(`symlink: ${f} -> absolute path outside`, '_seed', 'error', { code: 'NT_IO', layout: 'm', outside: { [`../outside/${f}`]: f }, links: { [f]: `abs:../outside/${f}` } });
  }
  putModel('symlink: model.safetensors -> dangling, outside', '_seed', 'error', { code: 'NT_IO', layout: 'm', links: { 'model.safetensors': '../nowhere/model.safetensors' } });
  putModel('symlink: model.safetensors -> ../../m/... (climbs out and back in: inside)', '_seed', 'ok', { layout: 'a/m', outside: { 'weights/real.safetensors': 'model.safetensors' }, links: { 'model.safetensors': '../../a/m/weights/real.safetensors' } });
  putModel('symlink: model.safetensors -> weights/real.safetensors (inside)', '_seed', 'ok', { layout: 'm', outside: { 'weights/real.safetensors': 'model.safetensors' }, links: { 'model.safetensors': 'weights/real.safetensors' } });
  putModel('symlink: model.safetensors -> a folder outside', '_seed', 'error', { code: 'NT_IO', layout: 'm', outside: { '../outside/x/model.safetensors': 'model.safetensors' }, links: { 'model.safetensors': '../outside/x' } });
  putModel('the folder itself reached through a symlink (the caller chose it)', '_seed', 'ok', { layout: 'real/m', folderLink: 'link' });
  for (const f of shardFiles.slice(1))
    putModel(`sharded symlink: ${f} -> ../outside/${f}`, '_seed_sharded', 'error', { code: 'NT_IO', layout: 'm', outside: { [`../outside/${f}`]: f }, links: { [f]: `../outside/${f}` } });
  // the Hugging Face hub cache: snapshots/<rev>/<file> -> ../../blobs/<sha256 of the file>
  const rev = 'snapshots/0f1e2d3c4b5a69788796a5b4c3d2e1f0a9b8c7d6';
  const hub = (base, names, mutate = {}) => {
    const outside = {};
    const links = {};
    for (const f of names) {
      const bytes = files.get(`model/${base}/${f}`);
      const blob = crypto.createHash('sha256').update(bytes).digest('hex');
      outside[`../../blobs/${blob}`] = f;
      links[f] = mutate[f] ?? `../../blobs/${blob}`;
    }
    return { outside, links };
  };
  putModel('hub cache layout: snapshot of symlinks into ../../blobs (valid)', '_seed', 'ok', { layout: `hub/models--org--tiny/${rev}`, ...hub('_seed', seedFiles) });
  putModel('hub cache layout, sharded (valid)', '_seed_sharded', 'ok', { layout: `hub/models--org--tiny/${rev}`, ...hub('_seed_sharded', shardFiles) });
  putModel('hub cache layout: config.json a plain file, weights a blob (valid)', '_seed', 'ok', { layout: `hub/models--org--tiny/${rev}`, ...hub('_seed', ['model.safetensors']) });
  const other = hub('_seed', seedFiles);
  putModel("hub cache layout: a link into another repo's blobs", '_seed', 'error', {
    code: 'NT_IO', layout: `hub/models--org--tiny/${rev}`,
    outside: { ...other.outside, '../../../models--evil--x/blobs/0badc0de': 'model.safetensors' },
    links: { ...other.links, 'model.safetensors': '../../../models--evil--x/blobs/0badc0de' },
  });
  putModel('hub cache layout: a link into the repo but outside blobs/ (refs/)', '_seed', 'error', {
    code: 'NT_IO', layout: `hub/models--org--tiny/${rev}`,
    outside: { ...other.outside, '../../refs/weights': 'model.safetensors' }, links: { ...other.links, 'model.safetensors': '../../refs/weights' },
  });
  putModel('hub cache layout: a link out of the cache entirely', '_seed', 'error', {
    code: 'NT_IO', layout: `hub/models--org--tiny/${rev}`,
    outside: { ...other.outside, '../../../../../outside/model.safetensors': 'model.safetensors' }, links: { ...other.links, 'model.safetensors': '../../../../../outside/model.safetensors' },
  });
  putModel('hub-like names, but not a snapshots/<rev> folder', '_seed', 'error', {
    code: 'NT_IO', layout: 'hub/models--org--tiny/main',
    outside: { '../blobs/aa': 'config.json', '../blobs/bb': 'model.safetensors' }, links: { 'config.json': '../blobs/aa', 'model.safetensors': '../blobs/bb' },
  });
  putModel('hub cache layout: a link to the blobs/ folder itself', '_seed', 'error', {
    code: 'NT_IO', layout: `hub/models--org--tiny/${rev}`,
    outside: { ...other.outside, '../../blobs/sub/model.safetensors': 'model.safetensors' }, links: { ...other.links, 'model.safetensors': '../../blobs' },
  });
  // names inside the index that are not plain file names
  const index = JSON.parse(files.get('model/_seed_sharded/model.safetensors.index.json').toString());
  const first = Object.keys(index.weight_map)[0];
  for (const [m, shard] of [
    ['backslash ..', '..\\model-00001-of-00002.safetensors'], ['subfolder', 'sub/model-00001-of-00002.safetensors'],
    ['./ prefix', './model-00001-of-00002.safetensors'], ['drive letter', 'C:model-00001-of-00002.safetensors'],
    ['NUL inside', 'model-00001-of-00002.safetensors\u0000.txt'], ['..', '..'], ['percent-encoded ..', '%2e%2e%2fmodel-00001-of-00002.safetensors'],
  ]) {
    const text = JSON.stringify({ ...index, weight_map: { ...index.weight_map, [first]: '@@' } }).replace('"@@"', `"${shard}"`);
    add('model', `index: shard name ${m}`, '_seed_sharded', { 'model.safetensors.index.json': Buffer.from(text) }, { api: 'model', base: '_seed_sharded', expect: 'error', code: 'NT_IO' });
  }
  // sizes: a weight whose header claims far more than the file holds
  const big = JSON.parse(JSON.stringify(stSeedHeader('_seed')));
  const emb = big['model.embed_tokens.weight'];
  const last = Object.values(big).filter((e) => e.data_offsets).reduce((a, e) => Math.max(a, e.data_offsets[1]), 0);
  emb.shape = [2 ** 31, 8];
  const seedBytes = files.get('model/_seed/model.safetensors');
  const headerLen = Number(seedBytes.readBigUInt64LE(0));
  add('model', 'size: embed_tokens header claims [2^31, 8] F32 (64 GB) in a small file', '_seed', { 'model.safetensors': stBytes(big, seedBytes.subarray(8 + headerLen)) }, { api: 'model', base: '_seed', expect: 'error', code: 'NT_IO' });
  void last;
  // adapters: the same symlink rule (nt.llm.applyAdapter checks; see the corpus test for loadLoraAdapter)
  for (const f of ['adapter_config.json', 'adapter_model.safetensors'])
    add('adapter', `symlink: ${f} -> ../outside/${f}`, '_seed', {}, { api: 'adapter', base: '_seed', expect: 'error', code: 'NT_IO', layout: 'm', outside: { [`../outside/${f}`]: f }, links: { [f]: `../outside/${f}` } });
}

// ---------- sizes that would allocate more than the file holds: refused from the header alone ----------
function sizeCases() {
  const ent = (dtype, shape, offs) => ({ dtype, shape, data_offsets: offs });
  const data = Buffer.alloc(24);
  const st = (mutation, header) => add('safetensors', mutation, 'f32-2x3', { '.safetensors': stBytes(header, data) }, { single: true, api: 'safetensors', expect: 'error', code: 'NT_IO' });
  st('size: 2^40-byte tensor, consistent offsets, 24-byte data', { a: ent('F32', [2 ** 38], [0, 2 ** 40]) });
  st('size: 2^32-element tensor after a real one', { a: ent('F32', [2, 3], [0, 24]), b: ent('U8', [2 ** 32], [24, 24 + 2 ** 32]) });
  st('size: 2^62-byte F64 tensor', '{"a":{"dtype":"F64","shape":[576460752303423488],"data_offsets":[0,4611686018427387904]}}');
  st('size: 4096 tensors of 1 GB each', JSON.stringify(Object.fromEntries([...Array(4096)].map((_, i) => [`t${i}`, ent('U8', [2 ** 30], [i * 2 ** 30, (i + 1) * 2 ** 30])]))));
  const d12 = Buffer.alloc(12);
  const npy = (mutation, dict) => add('npy', mutation, 'v1 <f4 (3,)', { '.npy': npyBytes(dict, d12) }, { single: true, api: 'npy', expect: 'error', code: 'NT_IO' });
  npy('size: shape (2^34,) <f4 with 12 data bytes', npyDict('<f4', [2 ** 34]));
  npy('size: shape (2^20, 2^20) <f8 with 12 data bytes', npyDict('<f8', [2 ** 20, 2 ** 20]));
}

function stSeedHeader(base) {
  const b = files.get(`model/${base}/model.safetensors`);
  return JSON.parse(b.subarray(8, 8 + Number(b.readBigUInt64LE(0))).toString());
}

function generate() {
  cases.length = 0;
  files.clear();
  counter = 0;
  safetensorsCases();
  npyCases();
  modelCases();
  adapterCases();
  gptqCases();
  pathCases();
  sizeCases();
  require('./corpus-gguf').ggufCases(add, rng);
  const manifest = {
    generator: 'scripts/make-corpus.js',
    note: "expect 'error': must fail with a coded error (code, when given, exactly); 'either': a coded error or a load the test verifies",
    count: cases.length,
    cases: cases.map((c) => ({ ...c, sha256: c.files.map((f) => crypto.createHash('sha256').update(files.get(f)).digest('hex').slice(0, 16)) })),
  };
  // one case per line: small, and diffs of a regenerated corpus stay readable
  const { cases: list, ...head } = manifest;
  const text = JSON.stringify(head).replace(/}$/, ',"cases":[\n') + list.map((c) => JSON.stringify(c)).join(',\n') + '\n]}\n';
  files.set('manifest.json', Buffer.from(text));
  return { files: new Map(files), manifest };
}

// test/corpus/tokenizer has its own generator (scripts/fixtures/make_tokenizers.py) and manifest
const OTHER_GENERATORS = new Set(['tokenizer']);

function listDisk(dir, base = '') {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? listDisk(path.join(dir, e.name), `${base}${e.name}/`) : [`${base}${e.name}`]);
}

if (require.main === module) {
  const { files: out, manifest } = generate();
  if (process.argv.includes('--check')) {
    const disk = listDisk(OUT).filter((f) => !OTHER_GENERATORS.has(f.split('/')[0])).sort();
    const want = [...out.keys()].sort();
    const differ = want.filter((f) => !fs.existsSync(path.join(OUT, f)) || !fs.readFileSync(path.join(OUT, f)).equals(out.get(f)));
    const extra = disk.filter((f) => !out.has(f));
    if (differ.length || extra.length) {
      console.error(`corpus out of date: ${differ.length} differ, ${extra.length} extra (run node scripts/make-corpus.js)`);
      process.exit(1);
    }
    console.log(`corpus up to date: ${manifest.count} cases, ${want.length} files`);
  } else {
    for (const e of fs.existsSync(OUT) ? fs.readdirSync(OUT) : []) if (!OTHER_GENERATORS.has(e)) fs.rmSync(path.join(OUT, e), { recursive: true, force: true });
    let bytes = 0;
    for (const [rel, b] of out) {
      fs.mkdirSync(path.dirname(path.join(OUT, rel)), { recursive: true });
      fs.writeFileSync(path.join(OUT, rel), b);
      bytes += b.length;
    }
    const by = {};
    for (const c of manifest.cases) by[c.format] = (by[c.format] || 0) + 1;
    console.log(`corpus: ${manifest.count} cases (${Object.entries(by).map(([k, v]) => `${k} ${v}`).join(', ')}), ${out.size} files, ${(bytes / 1e6).toFixed(2)} MB`);
  }
}

module.exports = { generate };
