import type { Meta, Storage } from './types';

export interface RuntimeInfoNative {
  flavor: 'cpu' | 'cuda';
  features: string[];
  isas: string[];
  kernels: Record<string, string>;
  /** The ISA of each kernel family with its own table: attention, gear, optim. */
  tables: Record<string, string>;
  threads: number;
  compiler?: string;
}

export interface CudaDeviceNative {
  index: number;
  name: string;
  computeCapability: string;
  totalMemory: number;
  multiprocessors: number;
}

/** Plain (synchronous-only) functions. */
export interface RuntimeFunctions {
  runtimeInfo(): RuntimeInfoNative;
  cudaDevices(): { compiled: boolean; status: string; devices: CudaDeviceNative[] };
  setNumThreads(n: number): number;
  getNumThreads(): number;
  /** Transparent-huge-page advice for a fresh large storage; false when not given. */
  adviseHugePages(storage: Storage): boolean;
}

/** Ops (exported with an Async twin). */
export interface RuntimeOps {
  noop(s: Storage, m: Meta): void;
  cudaAdd(a: Storage, am: Meta, b: Storage, bm: Meta, out: Storage, om: Meta): void;
}

export const RUNTIME_FUNCTIONS: Record<keyof RuntimeFunctions, true> = {
  runtimeInfo: true,
  cudaDevices: true,
  setNumThreads: true,
  getNumThreads: true,
  adviseHugePages: true,
};
export const RUNTIME_OPS: Record<keyof RuntimeOps, true> = { noop: true, cudaAdd: true };
