import type { Meta, Storage } from './types';

/** Plain (synchronous-only) native functions of the qmatmul area: quantized matmul (fused dequantization GEMM/GEMV over packed group-quantized weights). */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface QmatmulFunctions {}

/** Native ops of the qmatmul area (the addon also exports an Async twin of each). */
export interface QmatmulOps {
  /**
   * out f32 [m, n] = x f32 [m, k] · dequant(q)ᵀ, q given by its parts (layout:
   * native/quant/group_quant.h; contiguous): codes u8 [n, bytes], scales f32|f16 [n, groups],
   * zeros u8 [n, groups], gIdx i32 [k] or nulls. x and out may have any strides.
   * int8Activations: quantize x to int8 per row and group where the CPU and layout allow (VNNI).
   */
  quantMatmul(
    x: Storage, xm: Meta,
    codes: Storage, cm: Meta, scales: Storage, sm: Meta, zeros: Storage, zm: Meta,
    gIdx: Storage | null, gm: Meta | null, out: Storage, om: Meta,
    bits: number, groupSize: number, int8Activations: boolean,
  ): void;
}

export const QMATMUL_FUNCTIONS: Record<keyof QmatmulFunctions, true> = {};
export const QMATMUL_OPS: Record<keyof QmatmulOps, true> = { quantMatmul: true };
