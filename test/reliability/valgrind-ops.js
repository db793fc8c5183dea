#!/usr/bin/env node
// A representative subset of ops for `npm run test:valgrind` (plain node, no jest): creation,
// elementwise and broadcasting, reductions, matmul (threaded), eigh/svd/qr/cholesky, file
// save/load (safetensors, npy, sync and async), quantize/dequantize, async ops, and error
// paths (malformed files from the corpus, shape/dtype errors, huge requests); native storage:
// >= 64 KiB tensors allocated and disposed, storages disposed while async ops hold them (also
// through a borrowed mid-block subarray), a borrowed tensor after its owner's dispose, mapped
// safetensors and the fixture model loaded mapped and as bf16, forward, dispose. Loads the
// library from the JS mirror that scripts/test-valgrind.sh transpiles (NT_LIB).
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');

const nt = require(process.env.NT_LIB || path.join(__dirname, '..', '..', 'dist', 'lib'));
const corpus = path.join(__dirname, '..', 'corpus');

function expectCoded(f) {
  try {
    f();
  } catch (e) {
    if (typeof e.code === 'string' && e.code.startsWith('NT_')) return;
    throw e;
  }
  throw new Error('expected a coded error');
}

(async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nt-vg-'));
  const before = nt.memory();
  const own = [];
  const k = (t) => (own.push(t), t);
  const a = k(nt.randn([37, 29], { seed: 1 }));
  const b = k(nt.randn([29, 19], { seed: 2, dtype: 'f32' }));
  const h = k(a.astype('f16'));
  k(nt.add(a, k(nt.mul(a, 2))));
  k(nt.exp(k(a.transpose())));
  k(nt.gelu(h));
  k(nt.softmax(a));
  k(nt.sum(a, 0));
  k(nt.max(a));
  k(nt.matmul(a, b));
  k(await nt.matmulAsync(a, b));
  k(nt.rmsnorm(a, k(nt.ones([29]))));
  const s = k(nt.add(k(nt.matmul(a, a, { transA: true })), k(nt.eye(29))));
  const e = nt.linalg.eigh(s);
  k(e.values);
  k(e.vectors);
  for (const t of Object.values(nt.linalg.svd(a))) if (t) k(t);
  for (const t of Object.values(await nt.linalg.svdAsync(b))) if (t) k(t);
  for (const t of Object.values(nt.linalg.qr(a))) if (t && t.dispose) k(t);
  k(nt.linalg.cholesky(s));
  const q = nt.quant.quantize(k(nt.randn([8, 64], { seed: 3 })), { bits: 4, groupSize: 32 });
  k(nt.quant.dequantize(q));
  q.dispose();
  nt.io.saveSafetensors(path.join(dir, 'x.safetensors'), { a, h }, { k: 'v' });
  for (const t of Object.values(nt.io.loadSafetensors(path.join(dir, 'x.safetensors')))) k(t);
  for (const t of Object.values(await nt.io.loadSafetensorsAsync(path.join(dir, 'x.safetensors'), { dtype: 'f32' }))) k(t);
  nt.io.saveNpy(path.join(dir, 'x.npy'), k(a.transpose()));
  k(await nt.io.loadNpyAsync(path.join(dir, 'x.npy')));
  // error paths: malformed files (every 25th corpus file), wrong shapes, huge requests
  const manifest = JSON.parse(fs.readFileSync(path.join(corpus, 'manifest.json'), 'utf8'));
  let files = 0;
  for (const c of manifest.cases.filter((x, i) => i % 25 === 0 && (x.api === 'safetensors' || x.api === 'npy'))) {
    const f = path.join(corpus, c.files[0]);
    try {
      const r = c.api === 'npy' ? [nt.io.loadNpy(f)] : Object.values(nt.io.loadSafetensors(f));
      r.forEach((t) => t.dispose());
    } catch (err) {
      if (!String(err.code).startsWith('NT_')) throw err;
    }
    files++;
  }
  expectCoded(() => nt.matmul(a, a));
  expectCoded(() => nt.add(a, b));
  expectCoded(() => nt.zeros([2 ** 20, 2 ** 20]));
  try {
    await nt.linalg.eighAsync(a);
    throw new Error('eighAsync of a non-square matrix resolved');
  } catch (err) {
    if (!String(err.code).startsWith('NT_')) throw err;
  }
  // native storage (>= NATIVE_FROM = 64 KiB): heap-backed and anonymous-mmap blocks, freed by dispose
  for (const shape of [[128, 128], [300, 257], [1100, 1000]]) {
    const big = nt.randn(shape, { seed: 7 });
    const y = nt.mul(big, 3);
    y.dispose();
    big.dispose();
  }
  // a storage disposed while an async op still reads it (the op holds it), also through a
  // borrowed subarray that starts mid-block (nt.tensor(view.data))
  {
    const owner = nt.randn([1200, 1024], { seed: 8 }); // 4.7 MiB: anonymous mapping
    const bw = nt.randn([1024, 24], { seed: 9 });
    const p1 = nt.matmulAsync(owner, bw);
    const view = owner.slice([600, 1200]);
    const borrowed = nt.tensor(view.data, { shape: [600, 1024] });
    const p2 = nt.matmulAsync(borrowed, bw);
    const p3 = nt.expAsync(owner);
    view.dispose();
    owner.dispose();
    for (const t of await Promise.all([p1, p2, p3])) t.dispose();
    // a borrowed tensor after its owner's dispose: a coded error, never freed memory
    expectCoded(() => nt.sum(borrowed));
    expectCoded(() => borrowed.get(0, 0));
    borrowed.dispose();
    bw.dispose();
  }
  // mapped safetensors: save >= 64 KiB tensors, load them mapped (stored dtype) and converted, dispose
  {
    const w = nt.randn([256, 256], { seed: 10 });
    const wh = w.astype('bf16');
    nt.io.saveSafetensors(path.join(dir, 'm.safetensors'), { w, wh });
    w.dispose();
    wh.dispose();
    const m = nt.io.loadSafetensors(path.join(dir, 'm.safetensors'));
    if (nt.memory().mappedBytes === 0) throw new Error('expected a mapped load');
    const s1 = nt.sum(m.w);
    const p = nt.matmulAsync(m.w, m.w);
    for (const t of Object.values(m)) t.dispose(); // disposed while the async op reads the mapping
    (await p).dispose();
    s1.dispose();
    for (const t of Object.values(await nt.io.loadSafetensorsAsync(path.join(dir, 'm.safetensors'), { dtype: 'f32' }))) t.dispose();
  }
  // the fixture model, mapped ('auto') and converted ('bf16'): a short forward, dispose
  const fixture = path.join(__dirname, '..', '..', 'fixtures', 'tinyllama-fortunes');
  if (fs.existsSync(path.join(fixture, 'model.safetensors'))) {
    for (const dtype of ['auto', 'bf16']) {
      const model = dtype === 'auto' ? nt.model.load(fixture, { dtype }) : await nt.model.loadAsync(fixture, { dtype });
      (await model.forwardAsync([72, 101, 108, 108, 111])).dispose();
      if (dtype === 'auto') {
        model.quantizeHead({ bits: 8 });
        model.quantizeEmbeddings({ bits: 4 });
        model.forward([72, 105]).dispose();
      }
      model.dispose();
    }
  }
  own.forEach((t) => t.dispose());
  fs.rmSync(dir, { recursive: true, force: true });
  const after = nt.memory();
  if (JSON.stringify(after) !== JSON.stringify(before)) throw new Error(`nt.memory ${JSON.stringify(before)} -> ${JSON.stringify(after)}`);
  console.log(`valgrind-ops: done (${files} malformed files, memory back to baseline)`);
})().catch((err) => {
  console.error(err && err.stack);
  process.exit(1);
});
