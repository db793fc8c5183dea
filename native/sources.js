#!/usr/bin/env node
// The one source list. CMakeLists.txt and binding.gyp both ask this script, so a new op
// is one new file in a listed folder, never an edit to two build systems.
//   node native/sources.js core     -> C++ core (no Node-API): core, cpu, ops, linalg, io, quant, attention, kvcache, optim
//   node native/sources.js addon    -> core + Node-API bindings (napi)
//   node native/sources.js cuda     -> the .cu files of the CUDA flavor
//   node native/sources.js tests    -> C++ kernel tests (ctest)
// Paths are relative to the package root, separated by ';' with --cmake, spaces otherwise.
'use strict';
const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, '..');
const list = (dir, ext) =>
  fs.existsSync(path.join(root, dir))
    ? fs.readdirSync(path.join(root, dir)).filter((f) => f.endsWith(ext)).sort().map((f) => `${dir}/${f}`)
    : [];

const coreDirs = [
  'native/core',
  'native/cpu',
  'native/ops',
  'native/linalg',
  'native/io',
  'native/quant',
  'native/attention',
  'native/kvcache',
  'native/optim',
];
const sets = {
  core: () => [...coreDirs.flatMap((d) => list(d, '.cc'))],
  addon: () => [...sets.core(), ...list('native/napi', '.cc')],
  cudaStub: () => ['native/cuda/cuda_stub.cc'],
  cuda: () => list('native/cuda', '.cu'),
  tests: () => list('test/native', '.cc'),
};

const which = process.argv[2];
if (!sets[which]) {
  process.stderr.write(`usage: sources.js ${Object.keys(sets).join('|')} [--cmake]\n`);
  process.exit(2);
}
const files = sets[which]();
process.stdout.write(files.join(process.argv.includes('--cmake') ? ';' : ' '));
