import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as nt from '../lib';
import { PACKAGE_ROOT } from '../lib/native/loader';

describe('runtime info', () => {
  it('reports version, flavor, CPU features, chosen kernels and threads', () => {
    const info = nt.info();
    expect(info.version).toBe(require('../package.json').version);
    expect(['cpu', 'cuda']).toContain(info.flavor);
    expect(info.cpu.isas).toContain('scalar');
    expect(Object.keys(info.cpu.kernels)).toContain('f16_to_f32');
    expect(info.threads).toBeGreaterThanOrEqual(1);
    expect(Array.isArray(info.cuda)).toBe(true);
  });

  it('sets and restores the thread count', () => {
    const before = nt.getNumThreads();
    expect(nt.setNumThreads(1)).toBe(1);
    expect(nt.getNumThreads()).toBe(1);
    expect(nt.setNumThreads(0)).toBeGreaterThanOrEqual(1);
    nt.setNumThreads(before);
    expect(() => nt.setNumThreads(1.5)).toThrow(/\[setNumThreads\] n must be an integer/);
  });
});

describe('NTENSOR_ISA caps every kernel registry', () => {
  const probe = (isa: string) =>
    spawnSync(process.execPath, ['-e', "const nt = require('./dist/lib'); process.stdout.write(JSON.stringify(nt.info().cpu))"], {
      cwd: PACKAGE_ROOT,
      encoding: 'utf8',
      env: { ...process.env, NTENSOR_ISA: isa },
    });

  it('scalar: every slot of the shared table is scalar and info says so', () => {
    const r = probe('scalar');
    expect(r.status).toBe(0);
    const cpu = JSON.parse(r.stdout);
    expect(cpu.isaCap).toBe('scalar');
    expect(new Set(Object.values(cpu.kernels))).toEqual(new Set(['scalar']));
    // the families with their own tables follow the same cap (GEAR's portable kernel is its scalar one)
    expect(cpu.tables).toEqual({ attention: 'scalar', gear: 'portable', optim: 'scalar', quant: 'scalar' });
    expect(r.stderr).not.toMatch(/NTENSOR_ISA_UNKNOWN/);
  });

  it('every table reads one cap: a level a table lacks (avx2vnni) caps it at the level below, never above', () => {
    const cpu = JSON.parse(probe('avx2vnni').stdout);
    const native = JSON.parse(probe('').stdout);
    for (const family of ['attention', 'gear', 'optim']) {
      expect(['avx2', 'portable', 'scalar']).toContain(cpu.tables[family]);
      if (native.tables[family] === 'avx512') expect(cpu.tables[family]).toBe('avx2');
    }
    // the quantized matmul has an avx2vnni set of its own: the cap is its level exactly, when the CPU has it
    expect(['avx2vnni', 'avx2', 'scalar']).toContain(cpu.tables.quant);
    expect(new Set(Object.values(cpu.kernels)).has('avx512')).toBe(false);
  });

  it('an unknown level is reported, not silently ignored', () => {
    const r = probe('avx');
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout).isaCap).toBeNull();
    expect(r.stderr).toMatch(/NTENSOR_ISA_UNKNOWN.*NTENSOR_ISA=avx is not one of scalar, avx2, avx2vnni, avx512/);
  });
});

describe('huge-page advice for large storages', () => {
  it('is given only for buffers of 4 MiB or more and never alters contents', () => {
    const { native } = require('../lib/native/loader');
    expect(native.adviseHugePages(new Float32Array(1000))).toBe(false);
    const big = new Float32Array(3 << 20).fill(1.5);
    expect(typeof native.adviseHugePages(big)).toBe('boolean');
    expect(big[12345]).toBe(1.5);
    expect(() => native.adviseHugePages([1, 2])).toThrow(/\[adviseHugePages\] expected a TypedArray/);
    const t = nt.ones([3 << 20]); // allocated through the advised path
    expect(t.get(3 << 19)).toBe(1);
  });
});

describe('CUDA flavor', () => {
  const cudaPath = path.join(PACKAGE_ROOT, 'build', 'Release', 'cuda', 'ntensor.node');
  const built = fs.existsSync(cudaPath);

  (built ? it : it.skip)('loads without a GPU and reports no device instead of failing', () => {
    const cuda = require(cudaPath);
    const devices = cuda.cudaDevices();
    expect(devices.compiled).toBe(true);
    if (devices.devices.length === 0) {
      expect(devices.status).toMatch(/no CUDA device/);
      const a = new Float32Array([1, 2, 3]);
      const meta = new Float64Array([0, 1, 0, 3, 1]);
      let code = '';
      try {
        cuda.cudaAdd(a, meta, a, meta, new Float32Array(3), meta);
      } catch (e) {
        code = (e as { code: string }).code;
      }
      expect(code).toBe('NT_CUDA');
    } else {
      // a real device: the trivial kernel path must add exactly
      const a = new Float32Array(1031).map((_, i) => i * 0.5);
      const b = new Float32Array(1031).map((_, i) => 3 - i);
      const out = new Float32Array(1031);
      const meta = new Float64Array([0, 1, 0, 1031, 1]);
      cuda.cudaAdd(a, meta, b, meta, out, meta);
      expect(Array.from(out)).toEqual(Array.from(a, (x, i) => x + b[i]));
    }
  });

  (built && !process.env.NTENSOR_ADDON ? it : it.skip)('nt.info() reports why the built CUDA flavor was not used', () => {
    const info = nt.info();
    if (info.flavor === 'cpu') {
      expect(info.cuda).toEqual([]);
      expect(info.cudaStatus).toMatch(/no CUDA device/);
      expect(info.notes.join('\n')).toMatch(/CUDA flavor built, but no CUDA device/);
    } else {
      expect(info.cuda.length).toBeGreaterThan(0);
    }
  });

  it('the CPU flavor says it was not built with CUDA', () => {
    const cpu = require(path.join(PACKAGE_ROOT, 'build', 'Release', 'ntensor.node'));
    expect(cpu.cudaDevices()).toEqual({ compiled: false, status: 'not built with CUDA', devices: [] });
  });
});

test('trimHeap hands free heap memory back on glibc (malloc_trim) and says so; false elsewhere', () => {
  const glibc = (process.report.getReport() as { header: { glibcVersionRuntime?: string } }).header.glibcVersionRuntime !== undefined;
  const { trimHeap } = require('../lib') as typeof import('../lib');
  expect(trimHeap()).toBe(glibc);
  expect(trimHeap()).toBe(glibc); // idempotent
});
