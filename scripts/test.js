#!/usr/bin/env node
// `npm test`: type-check, C++ kernel tests (ctest), then jest. Then the kernel-level suites
// again once per lower ISA level this CPU supports (NTENSOR_ISA=avx2, =scalar; see below), so a
// path the machine does not pick by default is still checked against the float64 references.
// Ends with the plain line "N passed, M failed" (jest's own summary is not that form) and exits
// non-zero on any failure. `--no-native` skips ctest; `--no-isa-levels` skips the capped reruns;
// other arguments go to every jest run.
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const root = path.join(__dirname, '..');
const run = (cmd, args, env) => spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } }).status;
const flags = new Set(['--no-native', '--no-isa-levels']);
const jestExtra = process.argv.slice(2).filter((a) => !flags.has(a));
let passed = 0;
let failed = 0;

// The suites whose results depend on the kernel set in use: tensors and conversions, ops,
// linalg, quantization and the int4 matmul, attention, the GEAR cache, optimizers, and the API
// fuzzer's slice (every op against a float64 check). The model, CLI, I/O and reliability suites
// run once, at the native level: they compose these kernels.
const KERNEL_SUITES = [
  'test/tensor.test.ts', 'test/ops/', 'test/linalg/', 'test/quant/', 'test/attention/', 'test/model/ops.test.ts',
  'test/llm/gear', 'test/llm/optim', 'test/reliability/api-fuzz.test.ts',
  // the bench probes pick their ISA under the same cap as the kernels
  'test/cli/bench.test.ts',
];

function jest(label, args, env) {
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ntensor-jest-')), 'jest.json');
  const status = run(process.execPath, [require.resolve('jest/bin/jest'), '--ci', '--json', `--outputFile=${out}`, ...args, ...jestExtra], env);
  let report;
  try {
    report = JSON.parse(fs.readFileSync(out, 'utf8'));
  } catch {
    report = undefined;
  }
  if (!report) {
    failed++;
    console.error(`jest (${label}) produced no report`);
    return;
  }
  passed += report.numPassedTests;
  failed += report.numFailedTests + report.numRuntimeErrorTestSuites;
  if (status !== 0 && report.numFailedTests + report.numRuntimeErrorTestSuites === 0) failed++;
  console.log(`jest (${label}): ${report.numPassedTests} passed, ${report.numFailedTests + report.numRuntimeErrorTestSuites} failed`);
}

// type-check everything (tests included), then emit dist/ (the CLI and package entry use it)
const tscBin = require.resolve('typescript/bin/tsc');
const tsc = run(process.execPath, [tscBin, '--noEmit', '-p', '.']) || run(process.execPath, [tscBin, '-p', 'tsconfig.build.json']);
if (tsc === 0) passed++;
else { failed++; console.error('typecheck/build of TypeScript failed'); }

// The ISA levels below the best one this CPU supports, best first (e.g. avx2, scalar on an
// AVX-512 machine; scalar on an AVX2-only one). The addon reports what the CPU supports.
let lowerLevels = [];
if (!process.argv.includes('--no-isa-levels')) {
  const probe = spawnSync(process.execPath, ['-e', "process.stdout.write(JSON.stringify(require('./dist/lib').info().cpu.isas))"], {
    cwd: root, encoding: 'utf8', env: { ...process.env, NTENSOR_ISA: '' },
  });
  try {
    lowerLevels = JSON.parse(probe.stdout).slice(1);
  } catch {
    failed++;
    console.error(`could not list the ISA levels of this CPU:\n${probe.stderr}`);
  }
}

if (!process.argv.includes('--no-native')) {
  const ctest = run(process.execPath, [path.join(__dirname, 'ctest.js'), ...lowerLevels.map((l) => `--isa=${l}`)]);
  if (ctest === 0) passed++;
  else { failed++; console.error('C++ kernel tests failed'); }
}

jest('all suites, native ISA', []);
for (const level of lowerLevels) jest(`kernel suites, NTENSOR_ISA=${level}`, KERNEL_SUITES, { NTENSOR_ISA: level });

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
