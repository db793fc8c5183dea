#!/usr/bin/env node
// `npm run soak [-- --iterations N]`: the soak loop (loop.ts) for N iterations (default
// 10000) with a GC before each RSS sample. Bounds (exit 1 when broken): nt.memory() back to
// its starting value exactly; RSS growth after warm-up (the first 10%) < 20 MB; ArrayBuffer
// memory growth < 4 MB. Prints the samples and a JSON line (--json) for the jest wrapper.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
require('../ts-hook');

const args = process.argv.slice(2);
const i = args.indexOf('--iterations');
const iterations = i >= 0 ? Number(args[i + 1]) : 10000;
const nt = require(path.join(__dirname, '..', '..', '..', 'lib', 'index.ts'));
const { soak } = require(path.join(__dirname, 'loop.ts'));

const RSS_BOUND_MB = 20;
const AB_BOUND_MB = 4;

(async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nt-soak-'));
  const t0 = Date.now();
  let rep;
  try {
    rep = await soak(nt, iterations, dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const problems = [];
  if (JSON.stringify(rep.memoryAfter) !== JSON.stringify(rep.memoryBefore))
    problems.push(`nt.memory() ${JSON.stringify(rep.memoryBefore)} -> ${JSON.stringify(rep.memoryAfter)}`);
  // Under ASan (test:asan preloads it) freed memory sits in the allocator's quarantine, so RSS
  // grows by design there: the RSS bound applies to normal builds; the tensor counters always.
  const sanitized = /asan/.test(process.env.LD_PRELOAD || '');
  if (!sanitized && rep.rssGrowthMB >= RSS_BOUND_MB) problems.push(`RSS grew ${rep.rssGrowthMB.toFixed(1)} MB after warm-up (bound ${RSS_BOUND_MB} MB)`);
  if (!sanitized && rep.arrayBuffersGrowthMB >= AB_BOUND_MB) problems.push(`ArrayBuffer memory grew ${rep.arrayBuffersGrowthMB.toFixed(1)} MB (bound ${AB_BOUND_MB} MB)`);
  const summary = { ...rep, seconds: (Date.now() - t0) / 1000, gc: typeof global.gc === 'function', sanitized, ok: problems.length === 0, problems };
  if (args.includes('--json')) console.log(JSON.stringify(summary));
  else {
    console.log(`soak: ${iterations} iterations in ${summary.seconds.toFixed(1)} s (gc ${summary.gc ? 'on' : 'off: run node --expose-gc'})`);
    console.log(`  RSS samples (MB): ${rep.rssMB.join(' ')}`);
    console.log(`  RSS growth after warm-up (${rep.warmup} it): ${rep.rssGrowthMB.toFixed(1)} MB (bound ${RSS_BOUND_MB}); ArrayBuffers ${rep.arrayBuffersGrowthMB.toFixed(2)} MB (bound ${AB_BOUND_MB})`);
    console.log(`  nt.memory(): ${JSON.stringify(rep.memoryBefore)} -> ${JSON.stringify(rep.memoryAfter)}`);
    console.log(problems.length ? `soak: FAILED: ${problems.join('; ')}` : 'soak: bounds met');
  }
  process.exit(problems.length ? 1 : 0);
})().catch((e) => {
  console.error(`soak: ${e && e.stack}`);
  process.exit(1);
});
