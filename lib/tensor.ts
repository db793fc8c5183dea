// Tensor: a strided view (dtype, shape, strides, offset) over a TypedArray storage. Views
// share storage; memory counters track undisposed tensors and the bytes of storages that at
// least one of them references. Storages of NATIVE_FROM bytes or more are native memory (an
// external ArrayBuffer, see native/core/storage.h) or a zero-copy view of a mapped file:
// disposing the last tensor over one frees it at once and detaches the buffer, so a TypedArray
// kept from `.data` reads as empty, never as freed memory. Smaller storages, and those past the
// 4 GiB Node can lend as external memory (NATIVE_TO), are plain JS memory that the GC frees. The counters change only on dispose(), so they are deterministic and a
// tensor that was never disposed stays visible to leak checks, as in tfjs; native memory of a
// never-disposed tensor is still freed when its buffer is collected (a finalizer).
import { DType, DTYPE_CODE, STORAGE_CTOR, checkDType, isPacked, storageLength } from './dtype';
import { ntError } from './errors';
import { bf16BitsToNumber, f16BitsToNumber } from './half';
import { constants as bufferConstants } from 'buffer';
import { native } from './native/loader';
import type { Meta, Storage } from './native/types';
import { Shape, checkShape, contiguousStrides, numel, shapeString } from './shape';

interface StorageRecord {
  data: Storage;
  /** data.byteLength when wrapped (a detached buffer reads 0 later). */
  bytes: number;
  refs: number;
  /** Native memory or a mapped view this record owns: the last release frees it. */
  owned: NativeKind | null;
}

type NativeKind = 'native' | 'mapped';

const counters = { tensors: 0, bytes: 0, native: 0, mapped: 0 };
let handleCount = 0;

export interface MemoryCounters {
  /** Tensors not yet disposed. */
  tensors: number;
  /** Bytes of the storages they reference. */
  bytes: number;
  /** Native handles (quantized weights, caches) not yet disposed. */
  handles: number;
  /** Of `bytes`, those in native memory (freed by dispose, not by the GC). */
  nativeBytes: number;
  /** Of `bytes`, those viewing mapped checkpoint files (resident as they are read). */
  mappedBytes: number;
}

/** Live counters (see MemoryCounters); they change only on allocation and dispose(). */
export function memory(): MemoryCounters {
  return { tensors: counters.tensors, bytes: counters.bytes, handles: handleCount, nativeBytes: counters.native, mappedBytes: counters.mapped };
}

/**
 * Hands the allocator's free heap memory back to the OS (glibc's malloc_trim; false where the
 * allocator cannot). Freed tensors' memory is returned at once; this is for the scratch of
 * native ops, which glibc keeps on per-thread heaps after a long run of mid-sized blocks.
 */
export function trimHeap(): boolean {
  return native.storageTrimHeap();
}

/** For native-owned handles (quantized weights, caches, device buffers) to register themselves. */
export function trackHandle(delta: 1 | -1): void {
  handleCount += delta;
}

function retain(rec: StorageRecord): void {
  if (rec.refs++ === 0) {
    counters.bytes += rec.bytes;
    if (rec.owned) counters[rec.owned] += rec.bytes;
  }
  counters.tensors++;
}

function release(rec: StorageRecord): void {
  counters.tensors--;
  if (--rec.refs === 0) {
    counters.bytes -= rec.bytes;
    if (rec.owned) {
      counters[rec.owned] -= rec.bytes;
      rec.owned = null;
      native.storageRelease(rec.data.buffer as ArrayBuffer);
    }
  }
}

/** Storages at least this large are native memory that dispose() frees at once. */
export const NATIVE_FROM = 64 << 10;
/**
 * The largest external buffer Node lends (Buffer's limit, 4 GiB on Node 20-22): larger storages
 * are JS memory, freed by the GC after dispose() as before.
 */
export const NATIVE_TO = bufferConstants.MAX_LENGTH;

// Storages allocated natively or mapped whose owning record is not made yet: the first
// Tensor._wrap of one takes ownership (a later wrap of the same array, e.g. nt.tensor(t.data),
// only borrows it and sees it detached once the owner is disposed).
const unclaimed = new WeakMap<Storage, NativeKind>();

/**
 * Allocates zeroed storage for n elements; allocation failure becomes NT_OOM. From NATIVE_FROM
 * bytes on it is native memory (huge-page advised, freed by dispose()).
 */
export function allocStorage(op: string, dtype: DType, n: number): Storage {
  const ctor = STORAGE_CTOR[dtype];
  const length = storageLength(dtype, n);
  const bytes = length * ctor.BYTES_PER_ELEMENT;
  let storage: Storage;
  try {
    if (bytes >= NATIVE_FROM && bytes <= NATIVE_TO) {
      storage = new ctor(native.storageAllocate(bytes), 0, length);
      unclaimed.set(storage, 'native');
    } else storage = new ctor(length);
  } catch (e) {
    throw ntError('NT_OOM', `[${op}] could not allocate ${n} ${dtype} elements (${bytes} bytes): ${(e as Error).message}`);
  }
  return storage;
}

/** @internal Marks a mapped storage (native.storageMapFile) so that the tensor wrapping it first owns it. */
export function adoptMappedStorage(storage: Storage): Storage {
  unclaimed.set(storage, 'mapped');
  return storage;
}

export type IndexRange = readonly [number, number] | readonly [number] | null | undefined;

export class Tensor {
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly strides: readonly number[];
  readonly offset: number;
  /** @internal */ readonly _rec: StorageRecord;
  private _meta: Meta | undefined;
  private _disposed = false;

  /** @internal Use nt.tensor / nt.zeros / ... to create tensors. */
  constructor(rec: StorageRecord, dtype: DType, shape: readonly number[], strides: readonly number[], offset: number) {
    this._rec = rec;
    this.dtype = dtype;
    this.shape = Object.freeze(shape.slice());
    this.strides = Object.freeze(strides.slice());
    this.offset = offset;
    retain(rec);
  }

  /** @internal Wrap a storage TypedArray (no copy). */
  static _wrap(data: Storage, dtype: DType, shape: readonly number[], strides?: readonly number[], offset = 0): Tensor {
    const owned = unclaimed.get(data) ?? null;
    unclaimed.delete(data);
    return new Tensor({ data, bytes: data.byteLength, refs: 0, owned }, dtype, shape, strides ?? contiguousStrides(shape), offset);
  }

  /** @internal Fresh zeroed contiguous tensor. */
  static _empty(op: string, shape: readonly number[], dtype: DType): Tensor {
    return Tensor._wrap(allocStorage(op, dtype, numel(shape)), dtype, shape);
  }

  get ndim(): number {
    return this.shape.length;
  }
  get size(): number {
    return numel(this.shape);
  }
  get isDisposed(): boolean {
    return this._disposed;
  }

  /** @internal Storage TypedArray (whole buffer, not only this view). */
  get _storage(): Storage {
    return this._rec.data;
  }

  /** @internal [dtypeCode, ndim, offset, ...shape, ...strides] for the native side. */
  get _metaArray(): Meta {
    if (this._meta === undefined) {
      const n = this.shape.length;
      const m = new Float64Array(3 + 2 * n);
      m[0] = DTYPE_CODE[this.dtype];
      m[1] = n;
      m[2] = this.offset;
      for (let i = 0; i < n; ++i) {
        m[3 + i] = this.shape[i];
        m[3 + n + i] = this.strides[i];
      }
      this._meta = m;
    }
    return this._meta;
  }

  /** @internal Throws NT_DISPOSED naming the op and argument. */
  _check(op: string, arg = 'tensor'): this {
    if (this._disposed) throw ntError('NT_DISPOSED', `[${op}] ${arg} was disposed`);
    // a tensor borrowing native storage (e.g. nt.tensor(t.data)) whose owner was disposed
    if (this._rec.data.byteLength === 0 && this._rec.bytes !== 0)
      throw ntError('NT_DISPOSED', `[${op}] ${arg} views storage that its owning tensor released (dispose)`);
    return this;
  }

  get isContiguous(): boolean {
    let expect = 1;
    for (let i = this.shape.length - 1; i >= 0; --i) {
      if (this.shape[i] !== 1 && this.strides[i] !== expect) return false;
      expect *= this.shape[i];
    }
    return true;
  }

  /**
   * Zero-copy TypedArray of the elements (f16/bf16 as Uint16Array bits, packed 4-bit as bytes).
   * Only for contiguous tensors: call contiguous() first on a strided view.
   */
  get data(): Storage {
    this._check('data');
    if (!this.isContiguous)
      throw ntError('NT_VALUE', `[data] tensor ${shapeString(this.shape)} is a strided view; call contiguous() first`);
    const n = this.size;
    if (isPacked(this.dtype)) {
      if (this.offset % 2 !== 0)
        throw ntError('NT_UNSUPPORTED', '[data] packed 4-bit view starts mid-byte; call contiguous() first');
      return this._rec.data.subarray(this.offset / 2, this.offset / 2 + Math.ceil(n / 2));
    }
    return this._rec.data.subarray(this.offset, this.offset + n);
  }

  dispose(): void {
    if (this._disposed) return;
    this._disposed = true;
    release(this._rec);
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  /** @internal A view on the same storage. */
  _view(shape: readonly number[], strides: readonly number[], offset: number, dtype: DType = this.dtype): Tensor {
    return new Tensor(this._rec, dtype, shape, strides, offset);
  }

  /** Element at a full index (negative indices count from the end). */
  get(...idx: number[]): number {
    this._check('get');
    if (idx.length !== this.ndim)
      throw ntError('NT_SHAPE', `[get] expected ${this.ndim} indices for shape ${shapeString(this.shape)}, got ${idx.length}`);
    let pos = this.offset;
    for (let i = 0; i < idx.length; ++i) {
      let k = idx[i];
      if (!Number.isInteger(k)) throw ntError('NT_VALUE', `[get] index ${i} must be an integer, got ${k}`);
      if (k < 0) k += this.shape[i];
      if (k < 0 || k >= this.shape[i])
        throw ntError('NT_VALUE', `[get] index ${idx[i]} out of range for axis ${i} of extent ${this.shape[i]}`);
      pos += k * this.strides[i];
    }
    const s = this._rec.data;
    switch (this.dtype) {
      case 'f16': return f16BitsToNumber(s[pos]);
      case 'bf16': return bf16BitsToNumber(s[pos]);
      case 'u4': return (s[pos >> 1] >> ((pos & 1) * 4)) & 0xf;
      case 'i4': { const c = (s[pos >> 1] >> ((pos & 1) * 4)) & 0xf; return c >= 8 ? c - 16 : c; }
      default: return s[pos];
    }
  }

  /** Nested JS arrays (a number for a 0-d tensor). */
  toArray(): any {
    this._check('toArray');
    const readable = this.dtype === 'f16' || this.dtype === 'bf16' ? 'f32' : isPacked(this.dtype) ? 'i32' : this.dtype;
    const flat = this.dtype === readable && this.isContiguous ? this : this.astype(readable);
    try {
      const data = flat.data;
      if (this.ndim === 0) return data[0];
      let pos = 0;
      const build = (d: number): any => {
        const n = this.shape[d];
        const out = new Array(n);
        if (d === this.ndim - 1) for (let i = 0; i < n; ++i) out[i] = data[pos++];
        else for (let i = 0; i < n; ++i) out[i] = build(d + 1);
        return out;
      };
      return build(0);
    } finally {
      if (flat !== this) flat.dispose();
    }
  }

  /** Same elements, new shape; a view when the layout allows, else a contiguous copy. One -1 is inferred. */
  reshape(shape: readonly number[] | number, ...rest: number[]): Tensor {
    this._check('reshape');
    const req = typeof shape === 'number' ? [shape, ...rest] : shape.slice();
    const unknown = req.indexOf(-1);
    if (unknown >= 0) {
      const known = req.reduce((p, d, i) => (i === unknown ? p : p * d), 1);
      if (req.lastIndexOf(-1) !== unknown || known === 0 || this.size % known !== 0)
        throw ntError('NT_SHAPE', `[reshape] cannot infer -1 in [${req.join(', ')}] for ${this.size} elements`);
      req[unknown] = this.size / known;
    }
    const target = checkShape('reshape', req);
    if (numel(target) !== this.size)
      throw ntError('NT_SHAPE', `[reshape] cannot reshape ${shapeString(this.shape)} (${this.size} elements) to ${shapeString(target)}`);
    if (this.isContiguous) return this._view(target, contiguousStrides(target), this.offset);
    const c = this.contiguous();
    const v = c._view(target, contiguousStrides(target), c.offset);
    c.dispose();
    return v;
  }

  /** Permuted view; no axes reverses them. */
  transpose(...axes: number[]): Tensor {
    this._check('transpose');
    if (isPacked(this.dtype)) throw ntError('NT_UNSUPPORTED', '[transpose] packed 4-bit tensors cannot be permuted; astype first');
    const n = this.ndim;
    const perm = axes.length === 0 ? [...Array(n).keys()].reverse() : axes.map((a) => (a < 0 ? a + n : a));
    const seen = new Set(perm);
    if (perm.length !== n || seen.size !== n || perm.some((a) => !Number.isInteger(a) || a < 0 || a >= n))
      throw ntError('NT_VALUE', `[transpose] axes [${axes.join(', ')}] are not a permutation of ${n} axes`);
    return this._view(perm.map((a) => this.shape[a]), perm.map((a) => this.strides[a]), this.offset);
  }

  /**
   * View of a sub-range per leading axis: slice([1, 3], null, [0, -1]). A range is
   * [start, end) with negative values counting from the end; null/undefined keeps the axis.
   */
  slice(...ranges: IndexRange[]): Tensor {
    this._check('slice');
    if (ranges.length > this.ndim)
      throw ntError('NT_SHAPE', `[slice] ${ranges.length} ranges for a ${this.ndim}-D tensor`);
    const shape = this.shape.slice();
    let offset = this.offset;
    ranges.forEach((r, i) => {
      if (r === null || r === undefined) return;
      if (!Array.isArray(r) || r.length < 1 || r.length > 2 || !r.every((x) => Number.isInteger(x)))
        throw ntError('NT_VALUE', `[slice] range ${i} must be [start, end] of integers, got ${JSON.stringify(r)}`);
      const ext = this.shape[i];
      const clamp = (x: number) => Math.min(Math.max(x < 0 ? x + ext : x, 0), ext);
      const start = clamp(r[0]);
      const end = Math.max(start, clamp(r.length === 2 ? r[1] : ext));
      shape[i] = end - start;
      offset += start * this.strides[i];
    });
    if (isPacked(this.dtype) && ranges.slice(1).some((r) => r !== null && r !== undefined))
      throw ntError('NT_UNSUPPORTED', '[slice] packed 4-bit tensors can only be sliced along the first axis');
    return this._view(shape, this.strides, offset);
  }

  /** @internal Broadcast view to `shape` (stride 0 on expanded axes). */
  _expand(op: string, shape: readonly number[]): Tensor {
    const n = shape.length;
    const lead = n - this.ndim;
    if (lead < 0) throw ntError('NT_SHAPE', `[${op}] cannot broadcast ${shapeString(this.shape)} to ${shapeString(shape)}`);
    const strides = new Array<number>(n).fill(0);
    for (let i = 0; i < this.ndim; ++i) {
      const d = this.shape[i];
      if (d === shape[lead + i]) strides[lead + i] = d === 1 ? 0 : this.strides[i];
      else if (d === 1) strides[lead + i] = 0;
      else throw ntError('NT_SHAPE', `[${op}] cannot broadcast ${shapeString(this.shape)} to ${shapeString(shape)}`);
    }
    return this._view(shape, strides, this.offset);
  }

  /** A contiguous tensor with the same elements (a view of this storage when already contiguous). */
  contiguous(): Tensor {
    this._check('contiguous');
    if (this.isContiguous && (!isPacked(this.dtype) || this.offset % 2 === 0))
      return this._view(this.shape, contiguousStrides(this.shape), this.offset);
    return copyInto('contiguous', this, Tensor._empty('contiguous', this.shape, this.dtype));
  }

  /** A contiguous copy with its own storage. */
  clone(): Tensor {
    this._check('clone');
    return copyInto('clone', this, Tensor._empty('clone', this.shape, this.dtype));
  }

  /**
   * A copy converted to dtype. Floats to integers truncate toward zero and saturate at the
   * type's range; NaN cannot convert to an integer (NT_VALUE). 4-bit types hold codes
   * 0..15 (u4) or -8..7 (i4). With { out } (same shape, that dtype) nothing is allocated:
   * fresh 64 MB outputs cost more in page faults than the conversion itself.
   */
  astype(dtype: DType, opts: { out?: Tensor } = {}): Tensor {
    this._check('astype');
    const d = checkDType('astype', dtype);
    if (opts === null || typeof opts !== 'object') throw ntError('NT_VALUE', '[astype] options must be an object');
    const out = opts.out;
    if (out === undefined) {
      const fresh = Tensor._empty('astype', this.shape, d);
      try {
        return copyInto('astype', this, fresh);
      } catch (e) {
        fresh.dispose(); // a failed conversion (e.g. NaN to an integer) leaves nothing allocated
        throw e;
      }
    }
    if (!(out instanceof Tensor)) throw ntError('NT_VALUE', '[astype] out must be a Tensor');
    out._check('astype', 'out');
    if (out.dtype !== d) throw ntError('NT_DTYPE', `[astype] out has dtype ${out.dtype}, expected ${d}`);
    if (out.shape.length !== this.shape.length || out.shape.some((x, i) => x !== this.shape[i]))
      throw ntError('NT_SHAPE', `[astype] out has shape ${shapeString(out.shape)}, expected ${shapeString(this.shape)}`);
    if (out._storage.buffer === this._storage.buffer)
      throw ntError('NT_VALUE', '[astype] out must not share storage with the source');
    return copyInto('astype', this, out);
  }

  toString(): string {
    return `Tensor(${this.dtype}, ${shapeString(this.shape)}${this._disposed ? ', disposed' : ''})`;
  }

  /** console.log shows dtype, shape and up to 8 leading values instead of internals. */
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    if (this._disposed || this.size === 0) return this.toString();
    const shown = Math.min(this.size, 8);
    const flat = this.reshape(-1);
    const window = flat.slice([0, shown]);
    const head = window.astype('f64');
    const values = Array.from(head.data as Float64Array, (v) => Number(v.toPrecision(6)));
    for (const t of [head, window, flat]) t.dispose();
    return `${this.toString()} [${values.join(', ')}${this.size > shown ? ', ...' : ''}]`;
  }
}

/** Copies (and converts) src into dst of the same shape; returns dst. */
export function copyInto(op: string, src: Tensor, dst: Tensor): Tensor {
  src._check(op, 'source');
  dst._check(op, 'destination');
  if (src.shape.length !== dst.shape.length || src.shape.some((d, i) => d !== dst.shape[i]))
    throw ntError('NT_SHAPE', `[${op}] shapes differ: ${shapeString(src.shape)} vs ${shapeString(dst.shape)}`);
  try {
    native.copy(src._storage, src._metaArray, dst._storage, dst._metaArray);
  } catch (e) {
    // name the caller's op (astype, clone, ...) rather than the native primitive
    if (typeof e === 'object' && e !== null && typeof (e as Error).message === 'string')
      (e as Error).message = (e as Error).message.replace(/^\[copy\]/, `[${op}]`);
    throw e;
  }
  return dst;
}

export type { Shape };
