import type { Meta, Storage } from './types';

/** Plain (synchronous-only) native functions of the gemm area. */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface GemmFunctions {}

/** Native ops of the gemm area (the addon also exports an Async twin of each). */
export interface GemmOps {
  /**
   * out = alpha * op(a) op(b) + beta * out (beta = 0: out is not read), op = transpose when
   * the flag is set. a, b: 2-D or 3-D, one dtype (f32 or f64), or a f32 with b f16/bf16
   * (mixed precision: b's 16-bit values are read as stored and accumulated in f32); a 2-D or
   * batch-1 operand is broadcast over the batch; out [m, n] or [batch, m, n], a's dtype. Each
   * operand needs unit stride on one of its last two axes (transposed views are fine), else NT_VALUE.
   */
  matmul(
    a: Storage,
    am: Meta,
    b: Storage,
    bm: Meta,
    out: Storage,
    om: Meta,
    transA: boolean,
    transB: boolean,
    alpha: number,
    beta: number,
  ): void;
}

export const GEMM_FUNCTIONS: Record<keyof GemmFunctions, true> = {};
export const GEMM_OPS: Record<keyof GemmOps, true> = { matmul: true };
