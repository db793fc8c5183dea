import type { Meta, Storage } from './types';

/** The kernels quantMatmul runs for a weight layout (native/quant/qmatmul.h qmm_path). */
export interface QuantMatmulPathNative {
  /** The kernel set in use ('avx512vnni', 'avx512', 'avx2vnni', 'avx2', 'scalar'). */
  kernel: string;
  /** The int8-activation kernel runs. */
  int8: boolean;
  /** int8 was requested but the f32 kernels run: why; null otherwise. */
  fallback: string | null;
  /** Columns per chunk of the int8 kernel that runs (0: f32). */
  int8Chunk: number;
}

/** Plain (synchronous-only) native functions of the qmatmul area: quantized matmul (fused dequantization GEMM/GEMV over packed group-quantized weights). */
export interface QmatmulFunctions {
  /** The path quantMatmul takes for a weight of this layout on this CPU (arguments validated by the caller). */
  quantMatmulPath(bits: number, groupSize: number, cols: number, hasGIdx: boolean, int8Activations: boolean): QuantMatmulPathNative;
  /** The kernel sets this CPU supports (best first), the one in use and its int8 kernel (null: none). */
  quantKernelInfo(): { sets: string[]; inUse: string; int8Kernel: string | null };
}

/** Native ops of the qmatmul area (the addon also exports an Async twin of each). */
export interface QmatmulOps {
  /**
   * out f32 [m, n] = x f32 [m, k] · dequant(q)ᵀ, q given by its parts (layout:
   * native/quant/group_quant.h; contiguous): codes u8 [n, bytes], scales f32|f16 [n, groups],
   * zeros u8 [n, groups], gIdx i32 [k] or nulls. x and out may have any strides.
   * int8Activations: quantize x to int8 per row and group where the kernel set and layout allow
   * (quantMatmulPath); otherwise the f32 kernels run.
   */
  quantMatmul(
    x: Storage, xm: Meta,
    codes: Storage, cm: Meta, scales: Storage, sm: Meta, zeros: Storage, zm: Meta,
    gIdx: Storage | null, gm: Meta | null, out: Storage, om: Meta,
    bits: number, groupSize: number, int8Activations: boolean,
  ): void;
}

export const QMATMUL_FUNCTIONS: Record<keyof QmatmulFunctions, true> = { quantMatmulPath: true, quantKernelInfo: true };
export const QMATMUL_OPS: Record<keyof QmatmulOps, true> = { quantMatmul: true };
