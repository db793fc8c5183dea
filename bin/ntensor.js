#!/usr/bin/env node
// The `ntensor` command: a shim over the compiled CLI in dist/ (built by `npm run build:ts`,
// which npm's `prepare` runs on install).
'use strict';
const path = require('path');

const entry = path.join(__dirname, '..', 'dist', 'lib', 'cli', 'main.js');
let cli;
try {
  cli = require(entry);
} catch (e) {
  if (e && e.code === 'MODULE_NOT_FOUND' && String(e.message).includes(entry)) {
    process.stderr.write(`ntensor: ${entry} is missing: run npm run build:ts\n`);
    process.exit(1);
  }
  throw e;
}
cli.main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (e) => {
    process.stderr.write(`ntensor: ${e && e.message ? e.message : e}\n`);
    process.exitCode = 1;
  },
);
