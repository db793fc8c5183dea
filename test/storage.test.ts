// Native-owned storage (native/core/storage.h, lib/tensor.ts): large storages are native memory
// that dispose() frees at once, detaching the buffer; small ones stay JS memory; an async op
// keeps what it uses alive past a dispose; views share and the last one frees.
import * as nt from '../lib';
import { NATIVE_FROM } from '../lib/tensor';

const rssMiB = () => process.memoryUsage().rss / 2 ** 20;

describe('native storage', () => {
  const base = nt.memory();
  afterAll(() => expect(nt.memory()).toEqual(base));

  it('50 rounds of allocating, writing and disposing 512 MB keep RSS bounded without a GC', () => {
    const before = rssMiB();
    let peak = before;
    for (let round = 0; round < 50; ++round) {
      const t = nt.zeros([128 << 20]); // 512 MiB of f32
      nt.add(t, round, { out: t }); // touches every page
      expect(t.get((128 << 20) - 1)).toBe(round);
      t.dispose();
      peak = Math.max(peak, rssMiB());
    }
    // (one 512 MiB round is ~0.4 s of page faults and one pass over the memory)
    // one 512 MiB buffer at a time (plus allocator slack), never the 25 GiB a GC-only scheme holds
    expect(peak - before).toBeLessThan(640);
  }, 180_000);

  it('dispose detaches: a TypedArray kept from .data reads as empty, a borrowing tensor is NT_DISPOSED', () => {
    const t = nt.randn([300, 300], { seed: 1 });
    expect(t.data.byteLength).toBeGreaterThanOrEqual(NATIVE_FROM);
    const kept = t.data;
    const borrower = nt.tensor(kept as Float32Array, { shape: [300, 300] });
    expect(borrower.get(7, 9)).toBe(t.get(7, 9));
    t.dispose();
    expect(kept.length).toBe(0);
    expect(kept[0]).toBeUndefined();
    expect(() => borrower.get(0, 0)).toThrow(expect.objectContaining({ code: 'NT_DISPOSED' }));
    expect(() => nt.add(borrower, 1)).toThrow(expect.objectContaining({ code: 'NT_DISPOSED' }));
    borrower.dispose();
  });

  it('counts native bytes apart from JS bytes; small storages stay JS memory', () => {
    const m0 = nt.memory();
    const small = nt.zeros([100]);
    const big = nt.zeros([NATIVE_FROM / 4]);
    const m1 = nt.memory();
    expect(m1.bytes - m0.bytes).toBe(400 + NATIVE_FROM);
    expect(m1.nativeBytes - m0.nativeBytes).toBe(NATIVE_FROM);
    small.dispose();
    big.dispose();
    expect(nt.memory()).toEqual(m0);
  });

  it('views share the storage: it is freed with the last of them', () => {
    const t = nt.arange(0, 1 << 16);
    const v = t.slice([100, 200]);
    const kept = t.data;
    t.dispose();
    expect(kept.length).toBe(1 << 16); // v still holds it
    expect(v.get(5)).toBe(105);
    v.dispose();
    expect(kept.length).toBe(0);
  });

  it('an async op keeps its operands alive when they are disposed while it runs', async () => {
    const n = 1 << 22;
    const x = nt.full([n], 0.5);
    const p = nt.sumAsync(x);
    x.dispose(); // the worker may still be reading: the memory waits for it
    const s = await p;
    expect(s.get()).toBe(n * 0.5);
    s.dispose();
    const y = nt.zeros([n]);
    const q = nt.addAsync(y, 2, { out: y });
    y.dispose();
    await q; // wrote into memory that stayed valid until the op settled
  });

  it('the native storage functions refuse bad arguments with coded errors naming what they got', () => {
    const { native } = require('../lib/native/loader');
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return [(e as { code?: string }).code, (e as Error).message];
      }
      return ['no error'];
    };
    expect(code(() => native.storageAllocate(0))).toEqual(['NT_VALUE', '[storageAllocate] byte count must be a positive safe integer, got 0']);
    expect(code(() => native.storageAllocate(1.5))[0]).toBe('NT_VALUE');
    const missing = require('path').join(require('os').tmpdir(), 'nt-no-such-file.safetensors');
    expect(code(() => native.storageMapFile(missing, [0], [4]))).toEqual(['NT_IO', expect.stringMatching(/nt-no-such-file\.safetensors: cannot open \(No such file or directory\)/)]);
    const file = require('path').join(require('os').tmpdir(), `nt-map-${process.pid}.bin`);
    require('fs').writeFileSync(file, Buffer.alloc(100));
    try {
      expect(code(() => native.storageMapFile(file, [96], [8]))).toEqual(['NT_IO', '[storage] view [96, +8) is outside the mapped file of 100 bytes']);
      expect(code(() => native.storageMapFile(file, [0, 8], [4]))).toEqual(['NT_VALUE', '[storageMapFile] offsets and lengths differ in length']);
      expect(code(() => native.storageMapFile(file, [-1], [4]))[0]).toBe('NT_VALUE');
    } finally {
      require('fs').unlinkSync(file);
    }
    expect(native.storageRelease(new ArrayBuffer(16))).toBe(false); // JS memory: nothing to free
    expect(code(() => native.storageRelease(new Float32Array(4)))).toEqual(['NT_VALUE', '[storageRelease] expected an ArrayBuffer']);
  });

  it('allocation failure is NT_OOM, not a crash', () => {
    // 32 GiB: more than the RAM and swap of the machines this runs on (mmap refuses it)
    expect(() => nt.zeros([2 ** 32 - 1], 'f64')).toThrow(expect.objectContaining({ code: 'NT_OOM', message: expect.stringMatching(/^\[zeros\] could not allocate/) }));
  });
});
