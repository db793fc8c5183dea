import type { Meta, Storage } from './types';

/** Plain (synchronous-only) native functions of the eigh area. */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface EighFunctions {}

/** Native ops of the eigh area (the addon also exports an Async twin of each). */
export interface EighOps {
  /**
   * Symmetric eigendecomposition of a (n x n, f32/f64, any strides; only the lower triangle is
   * read). Writes the ascending eigenvalues with indices first .. first+k-1 into values (contiguous
   * [k], a's dtype) and, when given, their eigenvectors into the columns of vectors (contiguous
   * [n, k], a's dtype). vectors/vecm null: values only.
   */
  eigh(a: Storage, am: Meta, values: Storage, vm: Meta, vectors: Storage | null, vecm: Meta | null, first: number): void;
}

export const EIGH_FUNCTIONS: Record<keyof EighFunctions, true> = {};
export const EIGH_OPS: Record<keyof EighOps, true> = { eigh: true };
