import type { Meta, Storage } from './types';

/** Plain (synchronous-only) native functions of the quant area. */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface QuantFunctions {}

/**
 * Native ops of the quant area (the addon also exports an Async twin of each): round-to-nearest
 * group quantization, dequantization, 2:4 magnitude/Wanda pruning and the AutoGPTQ checkpoint
 * packing. Layout of codes/scales/zeros/gIdx: native/quant/group_quant.h.
 */
export interface QuantOps {
  /** w float [rows, cols] -> codes u8, scales f32|f16 [rows, groups], zeros u8 [rows, groups]. */
  quantRtn(
    w: Storage, wm: Meta,
    codes: Storage, cm: Meta, scales: Storage, sm: Meta, zeros: Storage, zm: Meta,
    bits: number, groupSize: number, symmetric: boolean,
  ): void;
  /** out f32 [rows, cols] = scale · (code − zero); gIdx i32 [cols] or nulls. */
  quantDequantize(
    codes: Storage, cm: Meta, scales: Storage, sm: Meta, zeros: Storage, zm: Meta,
    gIdx: Storage | null, gm: Meta | null, out: Storage, om: Meta,
    bits: number, groupSize: number,
  ): void;
  /** out [n, cols] (f32, f16, bf16 or f64) = rows ids (i32 [n]) of the dequantized table; gIdx i32 [cols] or nulls. */
  quantGatherRows(
    codes: Storage, cm: Meta, scales: Storage, sm: Meta, zeros: Storage, zm: Meta,
    gIdx: Storage | null, gm: Meta | null, ids: Storage, im: Meta, out: Storage, om: Meta,
    bits: number, groupSize: number, cols: number,
  ): void;
  /** out (w's dtype and shape) = w with 2 of every 4 columns zeroed; norms [cols] (Wanda) or nulls (magnitude). */
  quantPrune24(w: Storage, wm: Meta, norms: Storage | null, nm: Meta | null, out: Storage, om: Meta): void;
  /** codes/zeros -> AutoGPTQ qweight i32 [cols·bits/32, rows], qzeros i32 [groups, rows·bits/32]; zeroOffset 1 (v1) or 0 (v2). */
  quantGptqPack(
    codes: Storage, cm: Meta, zeros: Storage, zm: Meta, qweight: Storage, qwm: Meta, qzeros: Storage, qzm: Meta,
    cols: number, bits: number, groupSize: number, zeroOffset: number,
  ): void;
  /** The inverse of quantGptqPack: writes codes and zeros. */
  quantGptqUnpack(
    qweight: Storage, qwm: Meta, qzeros: Storage, qzm: Meta, codes: Storage, cm: Meta, zeros: Storage, zm: Meta,
    cols: number, bits: number, groupSize: number, zeroOffset: number,
  ): void;
}

export const QUANT_FUNCTIONS: Record<keyof QuantFunctions, true> = {};
export const QUANT_OPS: Record<keyof QuantOps, true> = {
  quantRtn: true,
  quantDequantize: true,
  quantGatherRows: true,
  quantPrune24: true,
  quantGptqPack: true,
  quantGptqUnpack: true,
};
