import type { Meta, Storage } from './types';

/** Plain (synchronous-only) native functions of the model area: the LLaMA-family model runner (rotary embeddings and other model-only kernels). */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface ModelFunctions {}

/** Native ops of the model area (the addon also exports an Async twin of each). */
export interface ModelOps {
  /**
   * HF LLaMA rotary embedding (rotate_half) of x [..., seq, d] into out (same shape; may be x):
   * positions positionOffset + i along axis -2, invFreq f32|f64 [d / 2].
   */
  rope(x: Storage, xm: Meta, invFreq: Storage, fm: Meta, out: Storage, om: Meta, positionOffset: number): void;
  /** out [n, cols] = table [rows, cols] rows picked by ids (i32 [n], each in [0, rows)). */
  gatherRows(table: Storage, tm: Meta, ids: Storage, im: Meta, out: Storage, om: Meta): void;
}

export const MODEL_FUNCTIONS: Record<keyof ModelFunctions, true> = {};
export const MODEL_OPS: Record<keyof ModelOps, true> = { rope: true, gatherRows: true };
