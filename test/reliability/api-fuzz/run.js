#!/usr/bin/env node
// Runs the API fuzzer (generator.ts) in this process, straight from the TypeScript sources
// (a require hook transpiles lib/ and the generator with the project's typescript; no
// ts-node, no dist/ needed). Spawned by test/reliability/api-fuzz.test.ts so that a crash
// of the process is seen, with its seed, by the parent.
//   node test/reliability/api-fuzz/run.js [--seed S] [--calls N] [--start I] [--only I] [--json] [--keep-going] [--progress]
// `npm run fuzz:api -- --calls 100000 --seed 7` runs more. Exit 0: every call kept the
// contract; 1: a violation (printed with the call index and seed to reproduce it).
// --progress writes "call I" to stderr before each call, so a supervisor (supervise.js) can
// name the call that killed the process and carry on after it.
'use strict';
const path = require('path');
require('../ts-hook');

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? Number(args[i + 1]) : dflt;
};
const seed = opt('--seed', 1);
const calls = opt('--calls', 2000);
const start = opt('--start', 0);
const only = opt('--only', -1);
const json = args.includes('--json');
const injectAt = args.indexOf('--inject'); // harness self-test: plant a violation in every call
const inject = injectAt >= 0 ? args[injectAt + 1] : undefined;
const keepGoing = args.includes('--keep-going'); // long runs: report every violation, exit 1 at the end
const progress = args.includes('--progress');
const violations = [];

const root = path.join(__dirname, '..', '..', '..');
const nt = require(path.join(root, 'lib', 'index.ts'));
const { runCall } = require(path.join(__dirname, 'generator.ts'));

(async () => {
  const counts = {};
  const codes = {};
  let current = -1;
  process.on('uncaughtException', (e) => {
    console.error(`api-fuzz: uncaught exception during call ${current} (reproduce: --seed ${seed} --only ${current}): ${e && e.stack}`);
    process.exit(1);
  });
  const first = only >= 0 ? only : start;
  const last = only >= 0 ? only + 1 : start + calls;
  for (let i = first; i < last; ++i) {
    current = i;
    if (progress) process.stderr.write(`call ${i}\n`);
    let rep;
    try {
      rep = await runCall(nt, seed, i, inject);
    } catch (e) {
      console.error(`api-fuzz: contract violation in call ${i} (reproduce: node test/reliability/api-fuzz/run.js --seed ${seed} --only ${i}):\n${e && e.stack ? e.stack : e}`);
      if (keepGoing) {
        violations.push(i);
        continue;
      }
      if (json) console.log(JSON.stringify({ ok: false, seed, failedCall: i, message: String(e && e.message) }));
      process.exit(1);
    }
    const c = (counts[rep.op] = counts[rep.op] || { ok: 0, coded: 0, skip: 0 });
    c[rep.outcome]++;
    if (rep.code) codes[rep.code] = (codes[rep.code] || 0) + 1;
  }
  const total = last - first;
  const ok = Object.values(counts).reduce((s, c) => s + c.ok, 0);
  if (violations.length) {
    console.error(`api-fuzz: ${violations.length} violation(s) in calls ${violations.join(', ')} (seed ${seed})`);
    if (json) console.log(JSON.stringify({ ok: false, seed, calls: total, succeeded: ok, counts, codes, violations }));
    process.exit(1);
  }
  if (json) console.log(JSON.stringify({ ok: true, seed, calls: total, succeeded: ok, counts, codes }));
  else {
    console.log(`api-fuzz: seed ${seed}, calls ${first}..${last - 1}: ${total} calls, ${ok} succeeded (checked), ${total - ok} coded errors / skips, 0 violations`);
    console.log(`codes: ${JSON.stringify(codes)}`);
    for (const [op, c] of Object.entries(counts).sort()) console.log(`  ${op.padEnd(28)} ok ${c.ok}  coded ${c.coded}`);
  }
})();
