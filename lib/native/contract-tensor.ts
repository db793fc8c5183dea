import type { Meta, Storage } from './types';

export interface StorageStatsNative {
  /** Bytes of native allocations JavaScript can still reach (or an in-flight op still uses). */
  ownedBytes: number;
  /** Bytes of live zero-copy views of mapped files. */
  mappedBytes: number;
  blocks: number;
}

/** Plain (synchronous-only) native functions of the tensor area (native/napi/bind_storage.cc). */
export interface TensorFunctions {
  /** Zeroed native memory as an external ArrayBuffer (NT_OOM when it cannot be had). */
  storageAllocate(bytes: number): ArrayBuffer;
  /** Zero-copy views [offset, offset + length) of one copy-on-write mapping of a file (NT_IO). */
  storageMapFile(path: string, offsets: number[], lengths: number[]): ArrayBuffer[];
  /** Detaches a native ArrayBuffer and frees it (now, or when in-flight ops settle); false for JS memory. */
  storageRelease(buffer: ArrayBuffer): boolean;
  storageStats(): StorageStatsNative;
  /** Returns the allocator's free heap memory to the OS (glibc malloc_trim); false where it cannot. */
  storageTrimHeap(): boolean;
}

/** Native ops of the tensor area (the addon also exports an Async twin of each). */
export interface TensorOps {
  /** dst = convert(src): same shape, any dtypes, any strides (native/ops/copy.cc). */
  copy(src: Storage, srcMeta: Meta, dst: Storage, dstMeta: Meta): void;
  /** Fill a contiguous f32/f64 tensor: distribution 0 uniform [0,1), 1 normal; seed as two uint32 words. */
  fillRandom(out: Storage, outMeta: Meta, distribution: 0 | 1, seedHi: number, seedLo: number): void;
}

export const TENSOR_FUNCTIONS: Record<keyof TensorFunctions, true> = { storageAllocate: true, storageMapFile: true, storageRelease: true, storageStats: true, storageTrimHeap: true };
export const TENSOR_OPS: Record<keyof TensorOps, true> = { copy: true, fillRandom: true };
