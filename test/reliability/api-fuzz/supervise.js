#!/usr/bin/env node
// Long API-fuzz runs that survive a crash: run.js in child processes of --chunk calls each
// (--keep-going --progress). A child that dies (a native abort, a signal, the OOM killer) is
// recorded with the call it was running (its last "call I" line), and the run resumes at the
// next call, so one bug cannot hide the rest of the run. Prints one summary; exit 1 when any
// call crashed or broke the contract.
//   node test/reliability/api-fuzz/supervise.js --seed S --calls N [--start I] [--chunk C]
'use strict';
const { spawn } = require('child_process');
const path = require('path');

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? Number(args[i + 1]) : dflt;
};
const seed = opt('--seed', 1);
const calls = opt('--calls', 100000);
const first = opt('--start', 0);
const chunk = opt('--chunk', 5000);
const RUNNER = path.join(__dirname, 'run.js');

function runChunk(start, n) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [RUNNER, '--seed', String(seed), '--start', String(start), '--calls', String(n), '--json', '--keep-going', '--progress'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let lastCall = start - 1;
    let tail = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => {
      const text = String(d);
      for (const m of text.matchAll(/^call (\d+)$/gm)) lastCall = Number(m[1]);
      tail = (tail + text.replace(/^call \d+\n/gm, '')).slice(-4000);
    });
    child.on('close', (code, signal) => {
      let report = null;
      try {
        report = JSON.parse(out.trim().split('\n').pop());
      } catch {
        report = null;
      }
      resolve({ code, signal, report, lastCall, tail });
    });
  });
}

(async () => {
  const t0 = Date.now();
  const total = { calls: 0, succeeded: 0, codes: {}, violations: [], crashes: [] };
  let start = first;
  const end = first + calls;
  while (start < end) {
    const n = Math.min(chunk, end - start);
    const r = await runChunk(start, n);
    if (r.report) {
      total.calls += r.report.calls;
      total.succeeded += r.report.succeeded;
      for (const [k, v] of Object.entries(r.report.codes)) total.codes[k] = (total.codes[k] || 0) + v;
      for (const v of r.report.violations || []) total.violations.push(v);
      start += n;
    } else {
      // died in call lastCall: the calls before it ran (and kept the contract, or the JSON
      // would have said otherwise only at the end: rerun them so their outcome is counted)
      const crashed = r.lastCall;
      const firstLine = r.tail.split('\n').find((l) => l.trim()) || '';
      total.crashes.push({ call: crashed, exit: r.code, signal: r.signal, message: firstLine.slice(0, 300) });
      console.error(`api-fuzz supervisor: call ${crashed} killed the process (exit ${r.code}, signal ${r.signal}): ${firstLine.slice(0, 300)} (reproduce: node test/reliability/api-fuzz/run.js --seed ${seed} --only ${crashed})`);
      if (crashed > start) {
        const before = await runChunk(start, crashed - start);
        if (before.report) {
          total.calls += before.report.calls;
          total.succeeded += before.report.succeeded;
          for (const [k, v] of Object.entries(before.report.codes)) total.codes[k] = (total.codes[k] || 0) + v;
          for (const v of before.report.violations || []) total.violations.push(v);
        }
      }
      total.calls += 1;
      start = crashed + 1;
    }
    console.error(`api-fuzz supervisor: ${start - first}/${calls} calls, ${total.violations.length} violations, ${total.crashes.length} crashes, ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  }
  const coded = total.calls - total.succeeded - total.crashes.length;
  console.log(JSON.stringify({ seed, start: first, calls: total.calls, succeeded: total.succeeded, coded, codes: total.codes, violations: total.violations, crashes: total.crashes, seconds: Math.round((Date.now() - t0) / 1000) }));
  process.exit(total.violations.length || total.crashes.length ? 1 : 0);
})();
