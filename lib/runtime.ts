// Build and machine introspection, threads.
import { ntError } from './errors';
import * as fs from 'fs';
import * as path from 'path';
import { ISA_LEVELS, PACKAGE_ROOT, loaded, native } from './native/loader';
import type { CudaDeviceNative } from './native/contract-runtime';

// Read at run time: the same code runs from lib/ (ts-jest) and dist/lib/ (compiled).
const VERSION: string = JSON.parse(fs.readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')).version;

export interface Info {
  version: string;
  flavor: 'cpu' | 'cuda';
  addon: string;
  /** isaCap: the NTENSOR_ISA level in effect (null: none; unknown names apply none). */
  /** tables: the ISA each kernel family with its own dispatch table runs (attention, gear, optim, and the quantized matmul's kernel set as `quant`). */
  cpu: { features: string[]; isas: string[]; kernels: Record<string, string>; tables: Record<string, string>; isaCap: string | null };
  /** Quantized matmul (nt.quant.matmul): the kernel sets this CPU supports (best first), the one in use, its int8-activation kernel (null: none). */
  qmatmul: { kernelSets: string[]; kernel: string; int8Kernel: string | null };
  threads: number;
  cuda: CudaDeviceNative[];
  cudaStatus: string;
  notes: string[];
}

function isaCapInEffect(): string | null {
  const cap = process.env.NTENSOR_ISA;
  return cap && (ISA_LEVELS as readonly string[]).includes(cap) ? cap : null;
}

export function info(): Info {
  const rt = native.runtimeInfo();
  const cuda = native.cudaDevices();
  const qmm = native.quantKernelInfo();
  return {
    version: VERSION,
    flavor: loaded.flavor,
    addon: loaded.path,
    cpu: { features: rt.features, isas: rt.isas, kernels: rt.kernels, tables: { ...rt.tables, quant: qmm.inUse }, isaCap: isaCapInEffect() },
    qmatmul: { kernelSets: qmm.sets, kernel: qmm.inUse, int8Kernel: qmm.int8Kernel },
    threads: rt.threads,
    cuda: cuda.devices,
    cudaStatus: loaded.cudaStatus ?? cuda.status,
    notes: loaded.notes.slice(),
  };
}

/** Threads used by parallel kernels; n <= 0 restores the default (hardware concurrency). */
export function setNumThreads(n: number): number {
  if (typeof n !== 'number' || !Number.isInteger(n)) throw ntError('NT_VALUE', `[setNumThreads] n must be an integer, got ${n}`);
  return native.setNumThreads(n);
}

export function getNumThreads(): number {
  return native.getNumThreads();
}
