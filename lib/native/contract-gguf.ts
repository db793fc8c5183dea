import type { Meta, Storage } from './types';

/** One metadata entry of a GGUF header, in file order. */
export interface GgufKvNative {
  key: string;
  /** 'u8' | 'i8' | 'u16' | 'i16' | 'u32' | 'i32' | 'u64' | 'i64' | 'f32' | 'f64' | 'bool' | 'string' | 'array' */
  type: string;
  /** For arrays: the type of the items. */
  itemType?: string;
  /** Integers past 2^53 are bigints; arrays are JS arrays (nested arrays nest). */
  value: unknown;
}

export interface GgufTensorNative {
  name: string;
  /** ggml order: dims[0] is the contiguous one. */
  dims: number[];
  typeId: number;
  /** ggml's name of the type: 'F32', 'Q4_0', 'Q6_K', ... */
  type: string;
  /** Relative to the data section. */
  offset: number;
  bytes: number;
}

export interface GgufHeaderNative {
  version: number;
  alignment: number;
  dataStart: number;
  fileBytes: number;
  metadata: GgufKvNative[];
  tensors: GgufTensorNative[];
}

// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface GgufFunctions {}

export interface GgufOps {
  ggufHeader(path: string): GgufHeaderNative;
  /** The blocks of src (u8) decoded into out (f32, contiguous). */
  ggufDequantize(typeId: number, src: Storage, srcMeta: Meta, out: Storage, outMeta: Meta): void;
  /** Q4_0 / Q8_0 blocks of a [rows, cols] matrix into QTensor codes, f16 scales and zeros. */
  ggufRepack(typeId: number, src: Storage, srcMeta: Meta, rows: number, cols: number, codes: Storage, codesMeta: Meta,
    scales: Storage, scalesMeta: Meta, zeros: Storage, zerosMeta: Meta): void;
}

export const GGUF_FUNCTIONS: Record<keyof GgufFunctions, true> = {};
export const GGUF_OPS: Record<keyof GgufOps, true> = { ggufHeader: true, ggufDequantize: true, ggufRepack: true };
