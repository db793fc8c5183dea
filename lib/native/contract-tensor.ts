import type { Meta, Storage } from './types';

/** Plain (synchronous-only) native functions of the tensor area. */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface TensorFunctions {}

/** Native ops of the tensor area (the addon also exports an Async twin of each). */
export interface TensorOps {
  /** dst = convert(src): same shape, any dtypes, any strides (native/ops/copy.cc). */
  copy(src: Storage, srcMeta: Meta, dst: Storage, dstMeta: Meta): void;
}

export const TENSOR_FUNCTIONS: Record<keyof TensorFunctions, true> = {};
export const TENSOR_OPS: Record<keyof TensorOps, true> = {} as never;
