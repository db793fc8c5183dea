#!/usr/bin/env node
// Installs the llama.cpp peer of bench/model.bench.ts into this folder: node-llama-cpp pinned
// at exactly 3.21.1 by package.json and package-lock.json (~700 MB with its prebuilt binaries,
// so it is never a dependency of ntensor itself). `npm ci` from the committed lock; the
// package's postinstall (which would look for, download or build other binaries) is skipped:
// the bench uses the prebuilt CPU binaries of @node-llama-cpp/linux-x64 through
// getLlama({ gpu: false, build: 'never', skipDownload: true }).
// usage: node bench/peers/llamacpp/install.js [--check]   (--check: exit 0 if installed, else 1)
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const VERSION = '3.21.1';
const here = __dirname;

function installedVersion() {
  try {
    return JSON.parse(fs.readFileSync(path.join(here, 'node_modules', 'node-llama-cpp', 'package.json'), 'utf8')).version;
  } catch {
    return null;
  }
}

function main() {
  const have = installedVersion();
  if (have === VERSION) {
    process.stdout.write(`node-llama-cpp ${VERSION} is installed in ${here}\n`);
    return 0;
  }
  if (process.argv.includes('--check')) return 1;
  process.stdout.write(`installing node-llama-cpp ${VERSION} into ${here} (npm ci, ~700 MB)...\n`);
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const r = spawnSync(npm, ['ci', '--ignore-scripts', '--no-audit', '--no-fund'], {
    cwd: here,
    stdio: 'inherit',
    env: { ...process.env, NODE_LLAMA_CPP_SKIP_DOWNLOAD: 'true' },
  });
  if (r.status !== 0) {
    process.stderr.write(`npm ci failed in ${here} (exit ${r.status ?? r.error})\n`);
    return 1;
  }
  if (installedVersion() !== VERSION) {
    process.stderr.write(`after npm ci, node-llama-cpp is ${installedVersion()}, expected ${VERSION}\n`);
    return 1;
  }
  return 0;
}

process.exitCode = main();
