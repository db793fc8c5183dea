// GGUF v3 writing (the format of llama.cpp / ggml: docs/gguf.md of ggml), so ntensor's weights
// and compressed models run in llama.cpp. Layout, little-endian:
//   "GGUF" u32 version=3 · u64 n_tensors · u64 n_kv
//   n_kv × (string key · u32 value type · value)       string = u64 byte length + UTF-8
//   n_tensors × (string name · u32 n_dims · u64 ne[n_dims] · u32 ggml type · u64 offset)
//   zero padding to `alignment` (general.alignment, default 32) · tensor data, each tensor's
//   offset (relative to the data start) a multiple of the alignment
// ne is the shape innermost first: a torch/ntensor [rows, cols] weight is ne = [cols, rows].
// Tensor data types:
//   F32, F16, BF16  from any float tensor (converted natively: round to nearest even, as numpy
//                   and ggml_compute_fp32_to_{fp16,bf16} do)
//   Q8_0, Q4_0      blocks of 32 along the row: f16 scale d + 32 codes. From a float tensor they
//                   are quantized here exactly as ggml's reference quantize_row_q{8,4}_0 (and
//                   gguf-py's numpy copy): f32 arithmetic step for step, so the bytes are
//                   identical. From a QTensor (nt.quant) the codes and scales are written as they
//                   are, no requantization: Q4_0 is x = d·(q − 8) with q in 0..15 over groups of
//                   32, exactly ntensor's symmetric 4-bit grid with group 32 (zero 8); Q8_0 is
//                   x = d·q with q int8, ntensor's symmetric 8-bit grid (zero 128, q = code − 128).
//                   f16 scales are copied bit for bit; f32 scales are rounded to f16 (nearest
//                   even), which changes no code, only d (the dequantized value becomes
//                   f16(scale)·(q − zero)); a scale past the f16 range is NT_VALUE.
// Every entry is checked and sized first (no data converted), the header written, then each
// tensor converted and streamed out in turn, atomically (lib/io/common.ts writeFileAtomicParts:
// temp file in the same folder, fsync, rename; NTENSOR_FAULT applies): the target is the old
// file or the complete new one. Memory: one converted tensor at a time, never the whole file.
import { ntError } from '../errors';
import { tensor as tensorFrom } from '../creation';
import { isFloat } from '../dtype';
import type { QTensor } from '../quant/qtensor';
import { Tensor } from '../tensor';
import { checkPath, writeFileAtomicParts } from './common';

export type GgufScalarType = 'uint8' | 'int8' | 'uint16' | 'int16' | 'uint32' | 'int32' | 'uint64' | 'int64' | 'float32' | 'float64' | 'bool' | 'string';
export type GgufScalar = number | bigint | boolean | string;

/** A metadata value: one scalar of a type, or an array of scalars of one type. */
export type GgufValue = { type: GgufScalarType; value: GgufScalar } | { type: 'array'; itemType: GgufScalarType; value: readonly GgufScalar[] };

export type GgufTensorType = 'F32' | 'F16' | 'BF16' | 'Q8_0' | 'Q4_0';

export interface GgufTensorEntry {
  /** At most 63 UTF-8 bytes (ggml's GGML_MAX_NAME − 1). */
  name: string;
  type: GgufTensorType;
  /** A float Tensor (any strides, 1-4 dims), or a QTensor for Q4_0 / Q8_0 (see the header). */
  tensor: Tensor | QTensor;
}

export interface GgufWriteReport {
  bytes: number;
  tensors: number;
  /** Tensors written from QTensors whose f32 scales were rounded to f16. */
  scalesRounded: string[];
}

const OP = 'io.saveGguf';
const VALUE_TYPE: Record<GgufScalarType | 'array', number> = {
  uint8: 0, int8: 1, uint16: 2, int16: 3, uint32: 4, int32: 5, float32: 6, bool: 7, string: 8, array: 9, uint64: 10, int64: 11, float64: 12,
};
/** ggml_type ids. */
export const GGML_TYPE: Record<GgufTensorType, number> = { F32: 0, F16: 1, Q4_0: 2, Q8_0: 8, BF16: 30 };
const QK = 32;
const BLOCK_BYTES = { Q4_0: 2 + QK / 2, Q8_0: 2 + QK } as const;
const INT_RANGE: Partial<Record<GgufScalarType, [bigint, bigint]>> = {
  uint8: [0n, 255n], int8: [-128n, 127n], uint16: [0n, 65535n], int16: [-32768n, 32767n],
  uint32: [0n, 4294967295n], int32: [-2147483648n, 2147483647n],
  uint64: [0n, 18446744073709551615n], int64: [-9223372036854775808n, 9223372036854775807n],
};
const MAX_NAME_BYTES = 63;
const MAX_DIMS = 4;

/** Little-endian byte chunks, concatenated once at the end. */
class Bytes {
  readonly parts: Buffer[] = [];
  length = 0;
  push(b: Buffer): void {
    this.parts.push(b);
    this.length += b.length;
  }
  u32(v: number): void {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v);
    this.push(b);
  }
  u64(v: number | bigint): void {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(v));
    this.push(b);
  }
  str(s: string): void {
    const b = Buffer.from(s, 'utf8');
    this.u64(b.length);
    this.push(b);
  }
  pad(alignment: number): void {
    const n = (alignment - (this.length % alignment)) % alignment;
    if (n > 0) this.push(Buffer.alloc(n));
  }
}

function scalarBytes(where: string, type: GgufScalarType, v: unknown): Buffer {
  const bad = (why: string) => ntError('NT_VALUE', `[${OP}] ${where}: ${why}`);
  if (type === 'string') {
    if (typeof v !== 'string') throw bad(`a string value must be a string, got ${typeof v}`);
    const s = Buffer.from(v, 'utf8');
    const n = Buffer.alloc(8);
    n.writeBigUInt64LE(BigInt(s.length));
    return Buffer.concat([n, s]);
  }
  if (type === 'bool') {
    if (typeof v !== 'boolean') throw bad(`a bool value must be a boolean, got ${typeof v}`);
    return Buffer.from([v ? 1 : 0]);
  }
  if (type === 'float32' || type === 'float64') {
    if (typeof v !== 'number') throw bad(`a ${type} value must be a number, got ${typeof v}`);
    const b = Buffer.alloc(type === 'float32' ? 4 : 8);
    if (type === 'float32') b.writeFloatLE(v);
    else b.writeDoubleLE(v);
    return b;
  }
  const range = INT_RANGE[type];
  if (!range) throw bad(`unknown value type '${String(type)}'`);
  if (!((typeof v === 'number' && Number.isSafeInteger(v)) || typeof v === 'bigint'))
    throw bad(`a ${type} value must be a safe integer or a bigint, got ${typeof v === 'number' ? v : typeof v}`);
  const x = BigInt(v);
  if (x < range[0] || x > range[1]) throw bad(`${x} is outside the ${type} range [${range[0]}, ${range[1]}]`);
  const size = { uint8: 1, int8: 1, uint16: 2, int16: 2, uint32: 4, int32: 4, uint64: 8, int64: 8 }[type as 'uint8'];
  const b = Buffer.alloc(size);
  if (type.startsWith('u')) {
    if (size === 8) b.writeBigUInt64LE(x);
    else b.writeUIntLE(Number(x), 0, size);
  } else if (size === 8) b.writeBigInt64LE(x);
  else b.writeIntLE(Number(x), 0, size);
  return b;
}

function writeValue(out: Bytes, key: string, v: GgufValue): void {
  if (v === null || typeof v !== 'object' || !(v.type in VALUE_TYPE))
    throw ntError('NT_VALUE', `[${OP}] metadata '${key}': expected { type, value } with type one of ${Object.keys(VALUE_TYPE).join(', ')}`);
  out.u32(VALUE_TYPE[v.type]);
  if (v.type !== 'array') {
    out.push(scalarBytes(`metadata '${key}'`, v.type, v.value));
    return;
  }
  if (!(v.itemType in VALUE_TYPE) || v.itemType === ('array' as string))
    throw ntError('NT_VALUE', `[${OP}] metadata '${key}': itemType must be a scalar type, got ${String(v.itemType)}`);
  if (!Array.isArray(v.value)) throw ntError('NT_VALUE', `[${OP}] metadata '${key}': an array value must be an array`);
  out.u32(VALUE_TYPE[v.itemType]);
  out.u64(v.value.length);
  v.value.forEach((e, i) => out.push(scalarBytes(`metadata '${key}'[${i}]`, v.itemType, e)));
}

function isQTensor(x: unknown): x is QTensor {
  return typeof x === 'object' && x !== null && 'codes' in x && 'scales' in x && 'bits' in x && 'groupSize' in x;
}

/** f32 values → f16 bits, rounded to nearest even natively; NT_VALUE past the f16 range. */
export function toF16Bits(what: string, values: Float32Array): Uint16Array {
  const t = tensorFrom(values);
  try {
    const h = t.astype('f16');
    try {
      const bits = (h.data as Uint16Array).slice();
      for (let i = 0; i < bits.length; ++i)
        if ((bits[i] & 0x7c00) === 0x7c00 && Number.isFinite(values[i]))
          throw ntError('NT_VALUE', `[${OP}] ${what}: scale ${values[i]} is outside the f16 range (|d| < 65520) that Q4_0 / Q8_0 store`);
      return bits;
    } finally {
      h.dispose();
    }
  } finally {
    t.dispose();
  }
}

/** The tensor as contiguous f32 values (a copy only when it is not already that). */
function f32Values(t: Tensor): { data: Float32Array; free: () => void } {
  if (t.dtype === 'f32' && t.isContiguous) return { data: t.data as Float32Array, free: () => undefined };
  const c = t.astype('f32');
  return { data: c.data as Float32Array, free: () => c.dispose() };
}

function checkFinite(name: string, x: Float32Array): void {
  for (let i = 0; i < x.length; ++i)
    if (!Number.isFinite(x[i])) throw ntError('NT_VALUE', `[${OP}] tensor '${name}': element ${i} is ${x[i]}; Q4_0 / Q8_0 need finite weights`);
}

/**
 * ggml's quantize_row_q4_0_ref (gguf-py quants.Q4_0) in f32 arithmetic: per block of 32,
 * max = the element of largest |x| (first one on ties), d = max / −8, q = min(15, trunc(x/d·… + 8.5)).
 * Math.fround after every operation reproduces the f32 rounding of each step.
 */
export function quantizeQ4_0(name: string, x: Float32Array): Buffer {
  checkFinite(name, x);
  const nb = x.length / QK;
  const ds = new Float32Array(nb);
  const out = Buffer.alloc(nb * BLOCK_BYTES.Q4_0);
  const f = Math.fround;
  for (let b = 0; b < nb; ++b) {
    let amax = 0;
    let max = 0;
    for (let j = 0; j < QK; ++j) {
      const v = x[b * QK + j];
      if (amax < Math.abs(v)) {
        amax = Math.abs(v);
        max = v;
      }
    }
    const d = f(max / -8);
    const id = d === 0 ? 0 : f(1 / d);
    ds[b] = d;
    const o = b * BLOCK_BYTES.Q4_0 + 2;
    for (let j = 0; j < QK / 2; ++j) {
      const q0 = Math.min(15, Math.trunc(f(f(x[b * QK + j] * id) + 8.5)));
      const q1 = Math.min(15, Math.trunc(f(f(x[b * QK + QK / 2 + j] * id) + 8.5)));
      out[o + j] = q0 | (q1 << 4);
    }
  }
  const bits = toF16Bits(`tensor '${name}'`, ds);
  for (let b = 0; b < nb; ++b) out.writeUInt16LE(bits[b], b * BLOCK_BYTES.Q4_0);
  return out;
}

/** ggml's quantize_row_q8_0_ref (gguf-py quants.Q8_0): d = max|x| / 127, q = roundf(x / d), half away from zero. */
export function quantizeQ8_0(name: string, x: Float32Array): Buffer {
  checkFinite(name, x);
  const nb = x.length / QK;
  const ds = new Float32Array(nb);
  const out = Buffer.alloc(nb * BLOCK_BYTES.Q8_0);
  const f = Math.fround;
  for (let b = 0; b < nb; ++b) {
    let amax = 0;
    for (let j = 0; j < QK; ++j) amax = Math.max(amax, Math.abs(x[b * QK + j]));
    const d = f(amax / 127);
    const id = d === 0 ? 0 : f(1 / d);
    ds[b] = d;
    const o = b * BLOCK_BYTES.Q8_0 + 2;
    for (let j = 0; j < QK; ++j) {
      const v = f(x[b * QK + j] * id);
      out.writeInt8(Math.sign(v) * Math.floor(Math.abs(v) + 0.5), o + j);
    }
  }
  const bits = toF16Bits(`tensor '${name}'`, ds);
  for (let b = 0; b < nb; ++b) out.writeUInt16LE(bits[b], b * BLOCK_BYTES.Q8_0);
  return out;
}

/** Refuses a QTensor whose grid has no Q4_0 / Q8_0 form (see the header). */
function checkQTensor(name: string, type: GgufTensorType, q: QTensor): void {
  q._check(OP, `tensor '${name}'`);
  const [rows, cols] = q.shape;
  const want = type === 'Q4_0' ? 4 : type === 'Q8_0' ? 8 : 0;
  if (want === 0)
    throw ntError('NT_UNSUPPORTED', `[${OP}] tensor '${name}': a QTensor is written as Q4_0 (4-bit) or Q8_0 (8-bit), not ${type}; dequantize it first for a float type`);
  const grid = `${type} is symmetric with groups of 32 along the row (x = d·(q − ${want === 4 ? 8 : 0}))`;
  if (q.bits !== want) throw ntError('NT_UNSUPPORTED', `[${OP}] tensor '${name}': a ${q.bits}-bit QTensor cannot be written as ${type} (${want}-bit)`);
  if (q.groupSize !== QK || cols % QK !== 0)
    throw ntError('NT_UNSUPPORTED', `[${OP}] tensor '${name}': ${q.toString()} has ${q.groupSize === QK ? `${cols} columns, not a multiple of 32` : `groups of ${q.groupSize}`}; ${grid}: quantize with groupSize 32, symmetric`);
  if (q.gIdx) throw ntError('NT_UNSUPPORTED', `[${OP}] tensor '${name}': act-order groups (gIdx) have no ${type} form; ${grid}`);
  const zero = want === 4 ? 8 : 128;
  const zeros = q.zeros.contiguous();
  try {
    const z = zeros.data as Uint8Array;
    const at = z.findIndex((v) => v !== zero);
    if (!q.symmetric || at >= 0)
      throw ntError('NT_UNSUPPORTED', `[${OP}] tensor '${name}': the QTensor is asymmetric (zero point ${at >= 0 ? z[at] : '?'} in group ${Math.max(at, 0)}, ${type} needs ${zero} everywhere); ${grid}: quantize with symmetric: true`);
  } finally {
    zeros.dispose();
  }
}

/** A QTensor's codes and scales as Q4_0 / Q8_0 blocks (checkQTensor passed). */
function qtensorBlocks(name: string, type: GgufTensorType, q: QTensor, scalesRounded: string[]): Buffer {
  const [rows, cols] = q.shape;
  const want = type === 'Q4_0' ? 4 : 8;
  const groups = cols / QK;
  let dBits: Uint16Array;
  if (q.scales.dtype === 'f16') {
    const s = q.scales.contiguous();
    dBits = (s.data as Uint16Array).slice();
    s.dispose();
  } else {
    const s = q.scales.contiguous();
    try {
      dBits = toF16Bits(`tensor '${name}'`, s.data as Float32Array);
    } finally {
      s.dispose();
    }
    scalesRounded.push(name);
  }
  const codesT = q.codes.contiguous();
  try {
    const codes = codesT.data as Uint8Array;
    const bb = BLOCK_BYTES[type as 'Q4_0' | 'Q8_0'];
    const out = Buffer.alloc(rows * groups * bb);
    for (let r = 0; r < rows; ++r)
      for (let g = 0; g < groups; ++g) {
        const o = (r * groups + g) * bb;
        out.writeUInt16LE(dBits[r * groups + g], o);
        if (want === 4) {
          // ntensor: column c in byte c >> 1, low nibble for even c; Q4_0: byte j holds
          // element j (low nibble) and element j + 16 (high nibble) of the block
          const rowBase = r * (cols / 2) + g * (QK / 2);
          const code = (c: number) => (codes[rowBase + (c >> 1)] >> ((c & 1) * 4)) & 15;
          for (let j = 0; j < QK / 2; ++j) out[o + 2 + j] = code(j) | (code(j + QK / 2) << 4);
        } else {
          const rowBase = r * cols + g * QK;
          for (let j = 0; j < QK; ++j) out[o + 2 + j] = (codes[rowBase + j] - 128) & 0xff;
        }
      }
    return out;
  } finally {
    codesT.dispose();
  }
}

/** One checked entry: its ne (shape innermost first) and the size of its data. */
interface PlannedTensor {
  entry: GgufTensorEntry;
  ne: number[];
  bytes: number;
}

/** Checks an entry and sizes its data without converting anything. */
function planTensor(e: GgufTensorEntry): PlannedTensor {
  const { name, type } = e;
  if (!(type in GGML_TYPE))
    throw ntError('NT_UNSUPPORTED', `[${OP}] tensor '${name}': type ${String(type)} is not written (F32, F16, BF16, Q8_0, Q4_0)`);
  if (isQTensor(e.tensor)) {
    checkQTensor(name, type, e.tensor);
    const [rows, cols] = e.tensor.shape;
    return { entry: e, ne: [cols, rows], bytes: rows * (cols / QK) * BLOCK_BYTES[type as 'Q4_0' | 'Q8_0'] };
  }
  if (!(e.tensor instanceof Tensor)) throw ntError('NT_VALUE', `[${OP}] tensor '${name}' is neither a Tensor nor a QTensor`);
  const t = e.tensor._check(OP, `tensor '${name}'`);
  if (!isFloat(t.dtype)) throw ntError('NT_DTYPE', `[${OP}] tensor '${name}': GGUF ${type} is written from a float tensor, got ${t.dtype}`);
  if (t.ndim < 1 || t.ndim > MAX_DIMS) throw ntError('NT_SHAPE', `[${OP}] tensor '${name}': GGUF tensors have 1 to ${MAX_DIMS} dimensions, got [${t.shape}]`);
  const ne = [...t.shape].reverse();
  const n = t.size;
  if (type === 'F32') return { entry: e, ne, bytes: 4 * n };
  if (type === 'F16' || type === 'BF16') return { entry: e, ne, bytes: 2 * n };
  if (ne[0] % QK !== 0) throw ntError('NT_SHAPE', `[${OP}] tensor '${name}': ${type} needs rows of a multiple of 32 elements, got [${t.shape}]`);
  return { entry: e, ne, bytes: (n / QK) * BLOCK_BYTES[type as 'Q4_0' | 'Q8_0'] };
}

/** The data bytes of a planned entry (converted or quantized now). */
function tensorData(p: PlannedTensor, scalesRounded: string[]): Buffer {
  const { name, type } = p.entry;
  const data = ((): Buffer => {
    if (isQTensor(p.entry.tensor)) return qtensorBlocks(name, type, p.entry.tensor, scalesRounded);
    const t = p.entry.tensor as Tensor;
    if (type === 'F16' || type === 'BF16') {
      const c = t.astype(type === 'F16' ? 'f16' : 'bf16');
      try {
        const d = c.data as Uint16Array;
        return Buffer.from(d.buffer.slice(d.byteOffset, d.byteOffset + d.byteLength));
      } finally {
        c.dispose();
      }
    }
    const v = f32Values(t);
    try {
      if (type === 'F32') return Buffer.from(v.data.buffer.slice(v.data.byteOffset, v.data.byteOffset + v.data.byteLength));
      return type === 'Q4_0' ? quantizeQ4_0(name, v.data) : quantizeQ8_0(name, v.data);
    } finally {
      v.free();
    }
  })();
  if (data.length !== p.bytes) throw ntError('NT_INTERNAL', `[${OP}] tensor '${name}': ${data.length} data bytes, ${p.bytes} planned`);
  return data;
}

/** The alignment general.alignment asks for (a uint32 multiple of 8), or 32. */
function alignmentOf(metadata: Record<string, GgufValue>): number {
  const a = Object.prototype.hasOwnProperty.call(metadata, 'general.alignment') ? metadata['general.alignment'] : undefined;
  if (a === undefined) return 32;
  if (a.type !== 'uint32' || typeof a.value !== 'number' || a.value < 8 || a.value % 8 !== 0 || a.value > 1 << 20)
    throw ntError('NT_VALUE', `[${OP}] general.alignment must be a uint32 multiple of 8 (at most 2^20), got ${JSON.stringify({ type: a.type, value: String(a.value) })}`);
  return a.value;
}

/**
 * Writes a GGUF v3 file: the metadata (in insertion order) and the tensors (in order). See the
 * header for the types; the file is replaced atomically.
 */
export function saveGguf(path: string, metadata: Record<string, GgufValue>, tensors: readonly GgufTensorEntry[]): GgufWriteReport {
  const p = checkPath(OP, path);
  if (metadata === null || typeof metadata !== 'object' || Array.isArray(metadata)) throw ntError('NT_VALUE', `[${OP}] metadata must be an object of { type, value }`);
  if (!Array.isArray(tensors)) throw ntError('NT_VALUE', `[${OP}] tensors must be an array of { name, type, tensor }`);
  const alignment = alignmentOf(metadata);
  const head = new Bytes();
  head.push(Buffer.from('GGUF', 'latin1'));
  head.u32(3);
  head.u64(tensors.length);
  const keys = Object.keys(metadata);
  head.u64(keys.length);
  for (const k of keys) {
    if (k === '') throw ntError('NT_VALUE', `[${OP}] a metadata key cannot be empty`);
    head.str(k);
    writeValue(head, k, metadata[k]);
  }
  const seen = new Set<string>();
  const planned: PlannedTensor[] = [];
  let offset = 0;
  for (const e of tensors as GgufTensorEntry[]) {
    if (e === null || typeof e !== 'object' || typeof e.name !== 'string' || e.name === '')
      throw ntError('NT_VALUE', `[${OP}] every tensor entry needs a non-empty name`);
    if (Buffer.byteLength(e.name, 'utf8') > MAX_NAME_BYTES)
      throw ntError('NT_VALUE', `[${OP}] tensor name '${e.name}' is longer than ${MAX_NAME_BYTES} bytes (ggml's limit)`);
    if (seen.has(e.name)) throw ntError('NT_VALUE', `[${OP}] tensor '${e.name}' is listed twice`);
    seen.add(e.name);
    const plan = planTensor(e);
    planned.push(plan);
    offset = alignUp(offset, alignment);
    head.str(e.name);
    head.u32(plan.ne.length);
    for (const n of plan.ne) head.u64(n);
    head.u32(GGML_TYPE[e.type]);
    head.u64(offset);
    offset += plan.bytes;
  }
  head.pad(alignment);
  // gguf-py pads the last tensor to the alignment too; ggml reads either
  const dataBytes = alignUp(offset, alignment);
  const scalesRounded: string[] = [];
  writeFileAtomicParts(OP, p, (emit) => {
    emit(Buffer.concat(head.parts));
    let at = 0;
    for (const t of planned) {
      const start = alignUp(at, alignment);
      if (start > at) emit(Buffer.alloc(start - at));
      emit(tensorData(t, scalesRounded));
      at = start + t.bytes;
    }
    if (dataBytes > at) emit(Buffer.alloc(dataBytes - at));
  });
  return { bytes: head.length + dataBytes, tensors: tensors.length, scalesRounded };
}

function alignUp(n: number, alignment: number): number {
  return Math.ceil(n / alignment) * alignment;
}
