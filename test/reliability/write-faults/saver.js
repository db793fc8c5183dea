#!/usr/bin/env node
// Child process of write-faults.test.ts. Fault rules reach the native file layer through the
// real environment (getenv), which jest's sandboxed process.env does not change, so the
// faulty saves run here, in a plain node process.
//   saver.js file <target> <megabytes> <fill>   eight f32 tensors; prints "ready", saves, "done <ms>"
//   saver.js folder <sourceModelDir> <outDir>   int4 RTN + rank-2 SVD adapters, saveCompressed
//   saver.js batch <scenarios.json>             runs each scenario with its NTENSOR_FAULT rule and
//                                               prints one JSON line: per scenario null or {code, message}
// The parent kills -9 the first two at random points after "ready", and checks every file.
'use strict';
const fs = require('fs');
const path = require('path');
require('../ts-hook');

const root = path.join(__dirname, '..', '..', '..');
const nt = require(path.join(root, 'lib', 'index.ts'));

/** The small tensor set of the batch scenarios: a length field + header write, then one write each. */
const small = (fill) => ({
  a: nt.tensor(new Float32Array(4096).fill(fill)),
  b: nt.tensor(new Float32Array(64).fill(fill + 1)),
  c: nt.tensor(new Float32Array(1000).fill(fill + 2)).reshape([10, 100]),
});

const compressed = new Map();
function compressedModel(src, method) {
  const key = `${src}|${method}`;
  if (!compressed.has(key)) {
    const model = nt.model.load(src);
    nt.llm.compressModel(model, { bits: 4, groupSize: 'row', method, rank: 2, calibration: Int32Array.from({ length: 32 }, (_, i) => (i * 7) % 19) });
    compressed.set(key, model);
  }
  return compressed.get(key);
}

async function runScenario(s) {
  if (s.kind === 'file') {
    const t = small(s.fill);
    if (s.async) await nt.io.saveSafetensorsAsync(s.target, t);
    else nt.io.saveSafetensors(s.target, t);
  } else if (s.kind === 'npy') {
    nt.io.saveNpy(s.target, nt.tensor(new Float32Array([s.fill, s.fill + 1, s.fill + 2])));
  } else if (s.kind === 'folder') {
    nt.llm.saveCompressed(compressedModel(s.src, s.method ?? 'svd'), s.out, { metadata: { source: path.basename(s.src) } });
  } else throw new Error(`unknown scenario kind ${s.kind}`);
}

(async () => {
  const [mode, a, b, c] = process.argv.slice(2);
  if (mode === 'batch') {
    const results = [];
    for (const s of JSON.parse(fs.readFileSync(a, 'utf8'))) {
      if (s.spec) process.env.NTENSOR_FAULT = s.spec;
      else delete process.env.NTENSOR_FAULT;
      try {
        await runScenario(s);
        results.push(null);
      } catch (e) {
        if (typeof e?.code !== 'string') throw e;
        results.push({ code: e.code, message: e.message });
      }
    }
    delete process.env.NTENSOR_FAULT;
    process.stdout.write(`${JSON.stringify(results)}\n`);
    return;
  }
  let save;
  if (mode === 'file') {
    const n = Math.floor((Number(b) * (1 << 20)) / 4 / 8);
    const tensors = {};
    for (let i = 0; i < 8; ++i) tensors[`t${i}`] = nt.tensor(new Float32Array(n).fill(Number(c) + i));
    save = () => nt.io.saveSafetensors(a, tensors, { fill: String(c) });
  } else if (mode === 'folder') {
    const model = compressedModel(a, 'svd');
    save = () => nt.llm.saveCompressed(model, b, { metadata: { source: path.basename(a) } });
  } else {
    throw new Error(`unknown mode ${mode}`);
  }
  process.stdout.write('ready\n');
  const t0 = Date.now();
  save();
  process.stdout.write(`done ${Date.now() - t0}\n`);
})().catch((e) => {
  process.stderr.write(`${e && e.stack}\n`);
  process.exit(1);
});
