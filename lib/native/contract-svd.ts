import type { Meta, Storage } from './types';

/** Plain (synchronous-only) native functions of the svd area. */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface SvdFunctions {}

/**
 * Native ops of the svd area (the addon also exports an Async twin of each). Tensors are
 * (storage, meta) pairs. a: 2-D, f32/f64/f16/bf16, any strides. Outputs (allocated by the
 * caller) are f64 for f64 input and f32 otherwise: s [k] (k = min(m, n)), u [m, full ? m : k],
 * vt [full ? n : k, n].
 */
export interface SvdOps {
  /** a = u diag(s) vt with s descending and >= 0. */
  svd(a: Storage, am: Meta, s: Storage, sm: Meta, u: Storage, um: Meta, vt: Storage, vm: Meta, full: boolean): void;
  /** Singular values only (descending). */
  svdValues(a: Storage, am: Meta, s: Storage, sm: Meta): void;
}

export const SVD_FUNCTIONS: Record<keyof SvdFunctions, true> = {};
export const SVD_OPS: Record<keyof SvdOps, true> = { svd: true, svdValues: true };
