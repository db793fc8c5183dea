// Loads the addon. Prefers the CUDA flavor (build/Release/cuda/ntensor.node) when it exists
// and sees a device; otherwise the CPU flavor through node-gyp-build (local build, then
// prebuilds/). NTENSOR_FLAVOR=cpu|cuda forces a choice. Every failure is collected into
// one message so a broken install explains itself.
import * as fs from 'fs';
import * as path from 'path';
import type { NativeModule } from './contract';

export interface LoadedNative {
  native: NativeModule;
  flavor: 'cpu' | 'cuda';
  path: string;
  notes: string[];
  /** What the CUDA flavor reported when it was probed and not chosen (e.g. "no CUDA device: ..."). */
  cudaStatus?: string;
}

function packageRoot(start: string): string {
  let dir = start;
  for (;;) {
    if (fs.existsSync(path.join(dir, 'package.json')) && fs.existsSync(path.join(dir, 'native'))) return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`ntensor: package root not found above ${start}`);
    dir = up;
  }
}

export const PACKAGE_ROOT = packageRoot(__dirname);

function load(): LoadedNative {
  const forced = process.env.NTENSOR_FLAVOR;
  const notes: string[] = [];
  let cudaStatus: string | undefined;
  const explicit = process.env.NTENSOR_ADDON; // a specific .node file (sanitizer or side builds)
  if (explicit) {
    const native = require(path.resolve(explicit)) as NativeModule;
    return { native, flavor: native.cudaDevices().compiled ? 'cuda' : 'cpu', path: path.resolve(explicit), notes };
  }
  const cudaPath = path.join(PACKAGE_ROOT, 'build', 'Release', 'cuda', 'ntensor.node');
  if (forced !== 'cpu' && fs.existsSync(cudaPath)) {
    try {
      const native = require(cudaPath) as NativeModule;
      const cuda = native.cudaDevices();
      if (cuda.devices.length > 0 || forced === 'cuda') return { native, flavor: 'cuda', path: cudaPath, notes };
      cudaStatus = cuda.status;
      notes.push(`CUDA flavor built, but ${cuda.status}; using the CPU flavor`);
    } catch (e) {
      notes.push(`CUDA flavor failed to load: ${(e as Error).message}`);
    }
  } else if (forced === 'cuda') {
    notes.push(`NTENSOR_FLAVOR=cuda but ${cudaPath} does not exist`);
  }
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const resolve = require('node-gyp-build').resolve as (dir: string) => string;
    const cpuPath = resolve(PACKAGE_ROOT);
    return { native: require(cpuPath) as NativeModule, flavor: 'cpu', path: cpuPath, notes, cudaStatus };
  } catch (e) {
    notes.push(`CPU flavor failed to load: ${(e as Error).message}`);
  }
  throw new Error(
    `ntensor: could not load the native addon.\n  ${notes.join('\n  ')}\n` +
      `Rebuild it with \`npm run build:addon\` (needs cmake >= 3.18 and a C++17 compiler).`,
  );
}

/** The levels NTENSOR_ISA may name (native/core/cpu_features.h isa_priority_cap). */
export const ISA_LEVELS = ['scalar', 'avx2', 'avx2vnni', 'avx512', 'avx512vnni'] as const;

export const loaded: LoadedNative = load();
export const native: NativeModule = loaded.native;

// An unknown level caps nothing natively; a typo must not pass for a capped run.
const isaCap = process.env.NTENSOR_ISA;
if (isaCap && !(ISA_LEVELS as readonly string[]).includes(isaCap))
  process.emitWarning(`NTENSOR_ISA=${isaCap} is not one of ${ISA_LEVELS.join(', ')}; no ISA cap applies`, { code: 'NTENSOR_ISA_UNKNOWN' });
