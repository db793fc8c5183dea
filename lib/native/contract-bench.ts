import type { Meta, Storage } from './types';

/** Plain (synchronous-only) native functions of the bench area (native/napi/bind_bench.cc). */
export interface BenchFunctions {
  /**
   * The ISA both roofline probes run: the best the CPU has at or below the NTENSOR_ISA cap
   * (sse2 on x86-64 below AVX2: multiply then add, no FMA; baseline: plain C++ off x86).
   */
  probeIsa(): { isa: 'avx512' | 'avx2' | 'sse2' | 'baseline'; lanesF32: number };
}

/** Native ops of the bench area (the addon also exports an Async twin of each). */
export interface BenchOps {
  /**
   * `threads` threads (own threads, not the pool) each run `iterations` steps of independent
   * register-only multiply-adds; flops = the count done (2 per multiply-add and lane).
   */
  fmaProbe(dtype: 'f32' | 'f64', threads: number, iterations: number): { flops: number; isa: string; sink: number };
  /** Streams x (f32, contiguous) once with `threads` threads; returns its sum. */
  readProbe(x: Storage, xm: Meta, threads: number): number;
}

export const BENCH_FUNCTIONS: Record<keyof BenchFunctions, true> = { probeIsa: true };
export const BENCH_OPS: Record<keyof BenchOps, true> = { fmaProbe: true, readProbe: true };
