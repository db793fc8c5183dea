#!/usr/bin/env node
// `npm run fuzz [-- --iterations N --seed S]`: builds the parser fuzz harness
// (test/fuzz/fuzz_parsers.cc + the standalone driver) with g++ and ASan + UBSan
// (-fno-sanitize-recover: the first report aborts), replays test/corpus and the libFuzzer-grown
// corpora test/fuzz/corpus/<parser>/ (scripts/fuzz-libfuzzer.sh) and runs N seeded
// mutations (default 200000). Objects are cached in build-fuzz/ and rebuilt when a source or
// header is newer. Exits non-zero on any crash, sanitizer report or violated invariant.
'use strict';
const { spawnSync, spawn } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const root = path.join(__dirname, '..');
const out = path.join(root, 'build-fuzz');
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : dflt;
};
const iterations = opt('--iterations', '200000');
const seed = opt('--seed', '1');
const cxx = process.env.CXX || 'g++';
const flags = ['-std=c++17', '-O1', '-g', '-fno-omit-frame-pointer', '-fsanitize=address,undefined', '-fno-sanitize-recover=all',
  '-I', path.join(root, 'native')];

// The parsers and what they link against (element conversion uses the SIMD kernel table).
const dirs = ['native/core', 'native/cpu', 'native/io'];
const sources = [
  ...dirs.flatMap((d) => fs.readdirSync(path.join(root, d)).filter((f) => f.endsWith('.cc')).sort().map((f) => path.join(root, d, f))),
  path.join(root, 'test/fuzz/fuzz_parsers.cc'),
  path.join(root, 'test/fuzz/driver.cc'),
];
const headers = dirs.concat(['test/fuzz']).flatMap((d) =>
  fs.readdirSync(path.join(root, d)).filter((f) => f.endsWith('.h')).map((f) => path.join(root, d, f)));
const newestHeader = Math.max(0, ...headers.map((h) => fs.statSync(h).mtimeMs));

async function compileAll() {
  fs.mkdirSync(out, { recursive: true });
  const jobs = sources.map((src) => {
    const obj = path.join(out, path.relative(root, src).replace(/[\\/]/g, '_') + '.o');
    const stale = !fs.existsSync(obj) || fs.statSync(obj).mtimeMs < Math.max(fs.statSync(src).mtimeMs, newestHeader);
    return { src, obj, stale };
  });
  const queue = jobs.filter((j) => j.stale);
  const width = Math.max(1, Math.min(os.cpus().length, 4));
  let failed = false;
  await Promise.all(Array.from({ length: width }, async () => {
    while (queue.length && !failed) {
      const j = queue.shift();
      process.stdout.write(`fuzz: compiling ${path.relative(root, j.src)}\n`);
      const code = await new Promise((res) => spawn(cxx, [...flags, '-c', j.src, '-o', j.obj], { stdio: 'inherit' }).on('close', res));
      if (code !== 0) failed = true;
    }
  }));
  if (failed) throw new Error('compilation failed');
  const exe = path.join(out, 'fuzz_driver');
  const link = spawnSync(cxx, [...flags, ...jobs.map((j) => j.obj), '-o', exe, '-lpthread'], { stdio: 'inherit' });
  if (link.status !== 0) throw new Error('link failed');
  return exe;
}

compileAll().then((exe) => {
  const env = { ...process.env, ASAN_OPTIONS: 'detect_leaks=1:abort_on_error=0:halt_on_error=1:allocator_may_return_null=1', UBSAN_OPTIONS: 'print_stacktrace=1:halt_on_error=1' };
  const corpus = path.join(root, 'test', 'corpus');
  const grown = path.join(root, 'test', 'fuzz', 'corpus');
  const dirs = [corpus, ...(fs.existsSync(grown) ? [grown] : [])];
  const r = spawnSync(exe, ['--iterations', iterations, '--seed', seed, ...dirs], { stdio: 'inherit', env, cwd: out });
  if (r.status !== 0) {
    console.error(`fuzz: FAILED (exit ${r.status}${r.signal ? `, signal ${r.signal}` : ''}); see the finding above and build-fuzz/fuzz-finding-*.bin`);
    process.exit(1);
  }
}).catch((e) => {
  console.error(`fuzz: ${e.message}`);
  process.exit(1);
});
