// GGUF files (llama.cpp's format, versions 2 and 3): the header is parsed and validated
// natively (native/io/gguf.h: every malformed case is NT_IO naming what is wrong); tensor
// data is mapped copy-on-write from the file, as safetensors tensors are, so pages are shared
// with the page cache and only the tensors asked for are touched.
//   F32 / F16 / BF16        a mapped tensor of that dtype (read into fresh memory when the
//                           file's alignment leaves it misaligned for its element size)
//   Q4_0 / Q8_0             a QTensor (symmetric, group 32, f16 scales; zero 8 / 128): the
//                           blocks' codes and scales repacked, never dequantized, so the
//                           int4 / 8-bit matmul kernels serve them
//   Q4_1, Q4_K, Q5_K, Q6_K  dequantized on load (f32, or `dtype`): Q4_1's offset m is not an
//                           integer multiple of its scale, so no integer zero point holds it
//   anything else           NT_UNSUPPORTED naming the type
// Shapes are row-major: ggml's dims reversed (a llama.cpp weight [ne0 = in, ne1 = out] is
// [out, in], as Hugging Face stores it).
import { STORAGE_CTOR } from '../dtype';
import { ntError } from '../errors';
import type { GgufHeaderNative, GgufTensorNative } from '../native/contract-gguf';
import { native } from '../native/loader';
import { QTensor } from '../quant/qtensor';
import { Tensor, adoptMappedStorage } from '../tensor';
import { checkOptions, checkPath, renamed } from './common';

/** A metadata value: integers (bigint past 2^53), floats, booleans, strings, arrays of them. */
export type GgufValue = number | bigint | boolean | string | GgufValue[];

export interface GgufTensorInfo {
  name: string;
  /** Row-major shape (ggml's dims reversed). */
  shape: number[];
  /** ggml's order: dims[0] varies fastest. */
  dims: number[];
  /** ggml type name: 'F32', 'F16', 'BF16', 'Q4_0', 'Q8_0', 'Q4_K', ... */
  type: string;
  typeId: number;
  /** Absolute byte offset of the data in the file. */
  byteOffset: number;
  byteLength: number;
}

export interface GgufTensorOptions {
  /** dtype of dequantized tensors (Q4_1 and the K-quants): 'f32' (default), 'f16' or 'bf16'. */
  dtype?: 'f32' | 'f16' | 'bf16';
}

/** How tensor(name) serves each ggml type. */
export const GGUF_TYPE_HANDLING: Readonly<Record<string, 'mapped' | 'qtensor' | 'dequantized'>> = Object.freeze({
  F32: 'mapped',
  F16: 'mapped',
  BF16: 'mapped',
  Q4_0: 'qtensor',
  Q8_0: 'qtensor',
  Q4_1: 'dequantized',
  Q4_K: 'dequantized',
  Q5_K: 'dequantized',
  Q6_K: 'dequantized',
});

const MAPPED_DTYPE: Record<string, 'f32' | 'f16' | 'bf16'> = { F32: 'f32', F16: 'f16', BF16: 'bf16' };
const ELEM_BYTES: Record<string, number> = { F32: 4, F16: 2, BF16: 2 };

export class GgufFile {
  readonly path: string;
  readonly version: number;
  readonly alignment: number;
  readonly fileBytes: number;
  /** Absolute offset of the data section. */
  readonly dataStart: number;
  /** Metadata by key, in file order. */
  readonly metadata: Readonly<Record<string, GgufValue>>;
  /** GGUF value type of each key ('u32', 'string', 'array', ...); arrays give 'array<itemType>'. */
  readonly metadataTypes: Readonly<Record<string, string>>;
  /** In file order. */
  readonly tensors: readonly GgufTensorInfo[];
  private readonly byName: Map<string, GgufTensorInfo>;
  private disposed = false;

  /** @internal Use nt.io.readGguf. */
  constructor(path: string, h: GgufHeaderNative) {
    this.path = path;
    this.version = h.version;
    this.alignment = h.alignment;
    this.fileBytes = h.fileBytes;
    this.dataStart = h.dataStart;
    const md: Record<string, GgufValue> = Object.create(null);
    const types: Record<string, string> = Object.create(null);
    for (const kv of h.metadata) {
      md[kv.key] = kv.value as GgufValue;
      types[kv.key] = kv.type === 'array' ? `array<${kv.itemType}>` : kv.type;
    }
    this.metadata = Object.freeze(md);
    this.metadataTypes = Object.freeze(types);
    this.tensors = Object.freeze(h.tensors.map((t: GgufTensorNative) => Object.freeze({
      name: t.name,
      shape: t.dims.slice().reverse(),
      dims: t.dims.slice(),
      type: t.type,
      typeId: t.typeId,
      byteOffset: h.dataStart + t.offset,
      byteLength: t.bytes,
    })));
    this.byName = new Map(this.tensors.map((t) => [t.name, t]));
  }

  private check(op: string): void {
    if (this.disposed) throw ntError('NT_DISPOSED', `[${op}] ${this.path}: the GGUF file was disposed`);
  }

  /** The info of one tensor; NT_VALUE naming the file when absent. */
  info(name: string): GgufTensorInfo {
    const t = this.byName.get(name);
    if (!t) throw ntError('NT_VALUE', `[io.gguf.info] ${this.path}: no tensor named '${String(name)}'`);
    return t;
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  /** The tensor's raw bytes (ggml blocks), mapped copy-on-write, as a u8 tensor [byteLength]. */
  raw(name: string): Tensor {
    const op = 'io.gguf.raw';
    this.check(op);
    const t = this.get(op, name);
    return this.mapBytes(op, t);
  }

  /**
   * The tensor, served by type (see GGUF_TYPE_HANDLING): a mapped F32/F16/BF16 Tensor, a
   * QTensor for Q4_0/Q8_0 (2-D [rows, cols]; higher ranks are viewed as [prod(leading), cols]),
   * a dequantized Tensor for Q4_1 and the K-quants. The caller owns (disposes) the result.
   */
  tensor(name: string, opts?: GgufTensorOptions): Tensor | QTensor {
    const op = 'io.gguf.tensor';
    this.check(op);
    const t = this.get(op, name);
    const dtype = this.dtypeOption(op, opts);
    const how = GGUF_TYPE_HANDLING[t.type];
    if (how === undefined)
      throw ntError('NT_UNSUPPORTED', `[${op}] ${this.path}: tensor '${name}' has ggml type ${t.type}, which ntensor cannot load (supported: ${Object.keys(GGUF_TYPE_HANDLING).join(', ')})`);
    if (how === 'mapped') return this.mapped(op, t);
    if (how === 'qtensor') return this.repacked(op, t);
    return this.decoded(op, t, dtype);
  }

  /** Any supported type as a dense tensor (f32 by default): Q4_0 / Q8_0 dequantized too. */
  dequantize(name: string, opts?: GgufTensorOptions): Tensor {
    const op = 'io.gguf.dequantize';
    this.check(op);
    const t = this.get(op, name);
    const dtype = this.dtypeOption(op, opts);
    if (GGUF_TYPE_HANDLING[t.type] === undefined)
      throw ntError('NT_UNSUPPORTED', `[${op}] ${this.path}: tensor '${name}' has ggml type ${t.type}, which ntensor cannot decode`);
    return this.decoded(op, t, dtype);
  }

  /** Marks the file closed: tensors already taken stay valid (each owns its mapping). */
  dispose(): void {
    this.disposed = true;
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  private get(op: string, name: unknown): GgufTensorInfo {
    if (typeof name !== 'string') throw ntError('NT_VALUE', `[${op}] name must be a string, got ${typeof name}`);
    const t = this.byName.get(name);
    if (!t) throw ntError('NT_VALUE', `[${op}] ${this.path}: no tensor named '${name}'`);
    return t;
  }

  private dtypeOption(op: string, opts: unknown): 'f32' | 'f16' | 'bf16' {
    const o = checkOptions(op, opts);
    const d = o.dtype ?? 'f32';
    if (d !== 'f32' && d !== 'f16' && d !== 'bf16') throw ntError('NT_DTYPE', `[${op}] dtype must be 'f32', 'f16' or 'bf16', got ${String(d)}`);
    return d;
  }

  private mapView(op: string, t: GgufTensorInfo): ArrayBuffer {
    try {
      return native.storageMapFile(this.path, [t.byteOffset], [t.byteLength])[0];
    } catch (e) {
      throw renamed(op, e);
    }
  }

  private mapBytes(op: string, t: GgufTensorInfo): Tensor {
    return Tensor._wrap(adoptMappedStorage(new Uint8Array(this.mapView(op, t))), 'u8', [t.byteLength]);
  }

  private mapped(op: string, t: GgufTensorInfo): Tensor {
    const dtype = MAPPED_DTYPE[t.type];
    if (t.byteOffset % ELEM_BYTES[t.type] === 0) {
      const buf = this.mapView(op, t);
      return Tensor._wrap(adoptMappedStorage(new STORAGE_CTOR[dtype](buf, 0, buf.byteLength / ELEM_BYTES[t.type])), dtype, t.shape);
    }
    // an alignment of 1 can leave the data misaligned for its element size: copy it
    const bytes = this.mapBytes(op, t);
    try {
      const out = Tensor._empty(op, t.shape, dtype);
      new Uint8Array(out.data.buffer, out.data.byteOffset, t.byteLength).set(bytes.data as Uint8Array);
      return out;
    } finally {
      bytes.dispose();
    }
  }

  private matrix(t: GgufTensorInfo): [number, number] {
    const cols = t.dims[0];
    return [t.dims.slice(1).reduce((a, b) => a * b, 1), cols];
  }

  private repacked(op: string, t: GgufTensorInfo): QTensor {
    const [rows, cols] = this.matrix(t);
    const bits = t.type === 'Q4_0' ? 4 : 8;
    const made: Tensor[] = [];
    const src = this.mapBytes(op, t);
    try {
      made.push(Tensor._empty(op, [rows, QTensor.codeRowBytes(cols, bits)], 'u8'));
      made.push(Tensor._empty(op, [rows, cols / 32], 'f16'));
      made.push(Tensor._empty(op, [rows, cols / 32], 'u8'));
      const [codes, scales, zeros] = made;
      native.ggufRepack(t.typeId, src._storage, src._metaArray, rows, cols, codes._storage, codes._metaArray,
        scales._storage, scales._metaArray, zeros._storage, zeros._metaArray);
      return new QTensor({ codes, scales, zeros, gIdx: null, shape: [rows, cols], bits, groupSize: 32, symmetric: true });
    } catch (e) {
      for (const m of made) m.dispose();
      throw renamed(op, e);
    } finally {
      src.dispose();
    }
  }

  private decoded(op: string, t: GgufTensorInfo, dtype: 'f32' | 'f16' | 'bf16'): Tensor {
    const src = this.mapBytes(op, t);
    let out: Tensor | undefined;
    try {
      out = Tensor._empty(op, t.shape, 'f32');
      native.ggufDequantize(t.typeId, src._storage, src._metaArray, out._storage, out._metaArray);
      if (dtype === 'f32') return out;
      const cast = out.astype(dtype);
      out.dispose();
      return cast;
    } catch (e) {
      out?.dispose();
      throw renamed(op, e);
    } finally {
      src.dispose();
    }
  }
}

/**
 * Parses and validates a GGUF file's header (metadata and tensor infos); tensor data is read
 * only when tensor(name) asks for it. Malformed files: NT_IO naming what is wrong.
 */
export function readGguf(path: string): GgufFile {
  const op = 'io.readGguf';
  const p = checkPath(op, path);
  let h: GgufHeaderNative;
  try {
    h = native.ggufHeader(p);
  } catch (e) {
    throw renamed(op, e);
  }
  return new GgufFile(p, h);
}
