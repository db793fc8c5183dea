import type { Meta, Storage } from './types';

/** Plain (synchronous-only) native functions of the gptq area: GPTQ and SparseGPT (Hessian-based weight compression) and the streaming covariance accumulator. */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface GptqFunctions {}

/** Reports (done columns, total columns) on the JS thread; Async twins deliver every report before settling. */
export type NativeProgress = ((done: number, total: number) => void) | null | undefined;

/** Native ops of the gptq area (the addon also exports an Async twin of each). */
export interface GptqOps {
  /**
   * GPTQ of w [rows, cols] with hessian [cols, cols] into fresh contiguous QTensor parts: codes u8
   * [rows, codeRowBytes], scales f32|f16 [rows, groups], zeros u8 [rows, groups], gIdx i32 [cols]
   * exactly when actOrder && !staticGroups (else null, null).
   */
  gptqQuantize(
    w: Storage,
    wm: Meta,
    hessian: Storage,
    hm: Meta,
    codes: Storage,
    cm: Meta,
    scales: Storage,
    sm: Meta,
    zeros: Storage,
    zm: Meta,
    gIdx: Storage | null,
    gm: Meta | null,
    bits: number,
    groupSize: number,
    symmetric: boolean,
    actOrder: boolean,
    staticGroups: boolean,
    damp: number,
    blockSize: number,
    onProgress?: NativeProgress,
  ): void;
  /** SparseGPT 2:4 of w [rows, cols % 4 === 0] into out (w's shape and dtype). */
  sparseGpt24(
    w: Storage,
    wm: Meta,
    hessian: Storage,
    hm: Meta,
    out: Storage,
    om: Meta,
    damp: number,
    blockSize: number,
    onProgress?: NativeProgress,
  ): void;
  /**
   * gram (f64 [dim, dim] or null) += XᵀX, sumSq/sumAbs (f64 [dim]) += Σ x², Σ |x| for x [..., dim];
   * without `symmetrize` only gram's lower triangle (an empty x with it: only the mirror).
   */
  covarianceUpdate(
    x: Storage,
    xm: Meta,
    gram: Storage | null,
    gm: Meta | null,
    sumSq: Storage,
    sqm: Meta,
    sumAbs: Storage,
    abm: Meta,
    symmetrize: boolean,
  ): void;
}

export const GPTQ_FUNCTIONS: Record<keyof GptqFunctions, true> = {};
export const GPTQ_OPS: Record<keyof GptqOps, true> = { gptqQuantize: true, sparseGpt24: true, covarianceUpdate: true };
