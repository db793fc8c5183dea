#!/usr/bin/env node
// `npm test`: type-check, C++ kernel tests (ctest), then jest. Ends with the plain line
// "N passed, M failed" (jest's own summary is not that form) and exits non-zero on any failure.
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const root = path.join(__dirname, '..');
const run = (cmd, args) => spawnSync(cmd, args, { cwd: root, stdio: 'inherit' }).status;
let passed = 0;
let failed = 0;

// type-check everything (tests included), then emit dist/ (the CLI and package entry use it)
const tscBin = require.resolve('typescript/bin/tsc');
const tsc = run(process.execPath, [tscBin, '--noEmit', '-p', '.']) || run(process.execPath, [tscBin, '-p', 'tsconfig.build.json']);
if (tsc === 0) passed++;
else { failed++; console.error('typecheck/build of TypeScript failed'); }

if (!process.argv.includes('--no-native')) {
  const ctest = run(process.execPath, [path.join(__dirname, 'ctest.js')]);
  if (ctest === 0) passed++;
  else { failed++; console.error('C++ kernel tests failed'); }
}

const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ntensor-jest-')), 'jest.json');
const jestArgs = ['--ci', '--json', `--outputFile=${out}`, ...process.argv.slice(2).filter((a) => a !== '--no-native')];
const jest = run(process.execPath, [require.resolve('jest/bin/jest'), ...jestArgs]);
let report;
try {
  report = JSON.parse(fs.readFileSync(out, 'utf8'));
} catch {
  report = undefined;
}
if (report) {
  passed += report.numPassedTests;
  failed += report.numFailedTests + report.numRuntimeErrorTestSuites;
} else {
  failed++;
  console.error('jest produced no report');
}
if (jest !== 0 && report && report.numFailedTests + report.numRuntimeErrorTestSuites === 0) failed++;
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
