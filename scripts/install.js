#!/usr/bin/env node
// npm install hook: use a prebuilt addon when one matches this platform (node-gyp-build
// looks in build/ then prebuilds/), else build from source with cmake-js (offline: the
// Node-API headers come from the node-api-headers package). --force always rebuilds.
'use strict';
const { spawnSync } = require('child_process');
const path = require('path');

const root = path.join(__dirname, '..');
if (!process.argv.includes('--force')) {
  try {
    const found = require('node-gyp-build').resolve(root);
    console.log(`ntensor: using ${path.relative(root, found)}`);
    process.exit(0);
  } catch {
    // no prebuild for this platform: build below
  }
}
const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
const r = spawnSync(process.execPath, [cmakeJs, process.argv.includes('--force') ? 'rebuild' : 'compile'], {
  cwd: root,
  stdio: 'inherit',
});
if (r.status !== 0) {
  console.error('ntensor: native build failed (needs cmake >= 3.18 and a C++17 compiler)');
  process.exit(r.status ?? 1);
}
