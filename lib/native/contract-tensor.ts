import type { Meta, Storage } from './types';

/** Plain (synchronous-only) native functions of the tensor area. */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface TensorFunctions {}

/** Native ops of the tensor area (the addon also exports an Async twin of each). */
export interface TensorOps {
  /** dst = convert(src): same shape, any dtypes, any strides (native/ops/copy.cc). */
  copy(src: Storage, srcMeta: Meta, dst: Storage, dstMeta: Meta): void;
  /** Fill a contiguous f32/f64 tensor: distribution 0 uniform [0,1), 1 normal; seed as two uint32 words. */
  fillRandom(out: Storage, outMeta: Meta, distribution: 0 | 1, seedHi: number, seedLo: number): void;
}

export const TENSOR_FUNCTIONS: Record<keyof TensorFunctions, true> = {};
export const TENSOR_OPS: Record<keyof TensorOps, true> = { copy: true, fillRandom: true };
