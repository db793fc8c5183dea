import type { Meta, Storage } from './types';

/** One tensor of a safetensors header, in file (offset) order. */
export interface SafetensorsEntryNative {
  name: string;
  /** The stored dtype as the format spells it: 'F32', 'BF16', 'I64', 'F8_E4M3', ... */
  dtype: string;
  /** The ntensor dtype it loads as by default; null when ntensor cannot hold it. */
  loadAs: string | null;
  shape: number[];
  /** Byte range within the data section. */
  begin: number;
  end: number;
}

export interface SafetensorsHeaderNative {
  tensors: SafetensorsEntryNative[];
  /** "__metadata__" as [key, value] pairs in header order. */
  metadata: [string, string][];
  headerBytes: number;
  dataStart: number;
  fileBytes: number;
}

export interface NpyHeaderNative {
  descr: string;
  dtype: string;
  loadAs: string | null;
  fortranOrder: boolean;
  shape: number[];
  version: string;
  dataOffset: number;
  fileBytes: number;
}

/** Plain (synchronous-only) native functions of the io area. */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface IoFunctions {}

/** Native ops of the io area (the addon also exports an Async twin of each). */
export interface IoOps {
  safetensorsHeader(path: string): SafetensorsHeaderNative;
  /** Reads (name, storage, meta) triples: contiguous outputs of the stored shapes; their dtypes pick the conversion. */
  safetensorsRead(path: string, ...triples: (string | Storage | Meta)[]): void;
  /** metadata is [key, value, key, value, ...]; then (name, storage, meta) triples. */
  safetensorsSave(path: string, metadata: string[], ...triples: (string | Storage | Meta)[]): void;
  safetensorsIndex(path: string): { names: string[]; files: string[] };
  npyHeader(path: string): NpyHeaderNative;
  /** out has the stored shape (reversed for fortran_order files). */
  npyRead(path: string, out: Storage, outMeta: Meta): void;
  npySave(path: string, t: Storage, tMeta: Meta): void;
}

export const IO_FUNCTIONS: Record<keyof IoFunctions, true> = {};
export const IO_OPS: Record<keyof IoOps, true> = {
  safetensorsHeader: true,
  safetensorsRead: true,
  safetensorsSave: true,
  safetensorsIndex: true,
  npyHeader: true,
  npyRead: true,
  npySave: true,
};
