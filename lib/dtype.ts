// dtypes and their storage. Codes match native/core/dtype.h (never renumber).
import { ntError } from './errors';
import type { Storage } from './native/types';

/** Element types. 'u4'/'i4' are packed 4-bit codes, two per byte, element 2k in the low nibble. */
export type DType = 'f32' | 'f64' | 'f16' | 'bf16' | 'i8' | 'u8' | 'i32' | 'u4' | 'i4';

export const DTYPES: readonly DType[] = ['f32', 'f64', 'f16', 'bf16', 'i8', 'u8', 'i32', 'u4', 'i4'];

export const DTYPE_CODE: Readonly<Record<DType, number>> = {
  f32: 0, f64: 1, f16: 2, bf16: 3, i8: 4, u8: 5, i32: 6, u4: 7, i4: 8,
};

type StorageCtor = { new (n: number): Storage; new (buf: ArrayBufferLike, byteOffset: number, length: number): Storage; BYTES_PER_ELEMENT: number };

export const STORAGE_CTOR: Readonly<Record<DType, StorageCtor>> = {
  f32: Float32Array, f64: Float64Array, f16: Uint16Array, bf16: Uint16Array,
  i8: Int8Array, u8: Uint8Array, i32: Int32Array, u4: Uint8Array, i4: Uint8Array,
};

export function isPacked(d: DType): boolean {
  return d === 'u4' || d === 'i4';
}
export function isFloat(d: DType): boolean {
  return d === 'f32' || d === 'f64' || d === 'f16' || d === 'bf16';
}

/** Number of storage elements (TypedArray length) that hold n tensor elements. */
export function storageLength(d: DType, n: number): number {
  return isPacked(d) ? Math.ceil(n / 2) : n;
}

export function checkDType(op: string, d: unknown, arg = 'dtype'): DType {
  if (typeof d !== 'string' || !(DTYPES as readonly string[]).includes(d))
    throw ntError('NT_DTYPE', `[${op}] ${arg} must be one of ${DTYPES.join(', ')}, got ${String(d)}`);
  return d as DType;
}

/** The dtype a TypedArray maps to without copying (Uint16Array -> f16 unless told bf16). */
export function dtypeOfArray(a: ArrayBufferView): DType | undefined {
  if (a instanceof Float32Array) return 'f32';
  if (a instanceof Float64Array) return 'f64';
  if (a instanceof Uint16Array) return 'f16';
  if (a instanceof Int8Array) return 'i8';
  if (a instanceof Uint8Array) return 'u8';
  if (a instanceof Int32Array) return 'i32';
  // other realms (jest vm contexts): fall back to the tag
  switch (Object.prototype.toString.call(a)) {
    case '[object Float32Array]': return 'f32';
    case '[object Float64Array]': return 'f64';
    case '[object Uint16Array]': return 'f16';
    case '[object Int8Array]': return 'i8';
    case '[object Uint8Array]': return 'u8';
    case '[object Int32Array]': return 'i32';
  }
  return undefined;
}

/** True when a TypedArray can serve as storage for dtype d as-is. */
export function storageFits(a: ArrayBufferView, d: DType): boolean {
  const own = dtypeOfArray(a);
  if (own === undefined) return false;
  if (d === 'bf16') return own === 'f16';
  if (isPacked(d)) return own === 'u8';
  return own === d;
}
