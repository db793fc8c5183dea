#!/usr/bin/env node
// Builds the C++ core with its kernel tests (no Node-API) in build-tests/ and runs ctest, then
// once more per `--isa=<level>` with NTENSOR_ISA=<level> (the default kernel choice of every
// registry capped; the tests that loop over kernels_for(isa) cover each level either way).
// The same CMake project is what the GPU host builds (NTENSOR_CUDA=1) where Node is absent.
'use strict';
const { spawnSync } = require('child_process');
const path = require('path');

const root = path.join(__dirname, '..');
const dir = path.join(root, 'build-tests');
const step = (args, env) => {
  const r = spawnSync(args[0], args.slice(1), { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } });
  if (r.status !== 0) process.exit(r.status ?? 1);
};
const cuda = process.env.NTENSOR_CUDA === '1' ? 'ON' : 'OFF';
step(['cmake', '-S', root, '-B', dir, '-G', 'Ninja', '-DNTENSOR_TESTS=ON', `-DNTENSOR_CUDA=${cuda}`, '-DCMAKE_BUILD_TYPE=Release']);
step(['cmake', '--build', dir, '-j', String(require('os').cpus().length)]);
step(['ctest', '--test-dir', dir, '--output-on-failure']);
for (const arg of process.argv.slice(2)) {
  const m = /^--isa=(\w+)$/.exec(arg);
  if (!m) {
    console.error(`ctest.js: unknown argument ${arg}`);
    process.exit(2);
  }
  console.log(`ctest with NTENSOR_ISA=${m[1]}`);
  step(['ctest', '--test-dir', dir, '--output-on-failure'], { NTENSOR_ISA: m[1] });
}
