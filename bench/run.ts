// `npm run bench`: runs every suite in one process (memory bandwidth first: the other suites
// quote fractions of it), prints the Markdown tables and writes bench/results/<suite>.json.
// Flags: --full (large sizes), --only=<suite,...>. Env: BENCH_MAX_TIME (seconds per case).
import * as fs from 'fs';
import * as path from 'path';
import { BenchContext, Suite, SuiteResult, machineInfo, maxTime, resultsDir, runSuite } from './harness';
import { membwSuite } from './membw';

/** Every bench/<name>.bench.ts registers itself by exporting a Suite; membw runs first. */
function discoverSuites(): Suite[] {
  const found: Suite[] = [];
  for (const file of fs.readdirSync(__dirname).filter((f) => /\.bench\.(js|ts)$/.test(f) && !f.endsWith('.d.ts')).sort()) {
    // standalone scripts (batch, tokenizer) call main() at load, unguarded: requiring them would
    // run them and overwrite their dated results; they have their own npm scripts
    if (/^main\(\)/m.test(fs.readFileSync(path.join(__dirname, file), 'utf8'))) continue;
    const mod = require(path.join(__dirname, file)) as Record<string, unknown>;
    for (const value of Object.values(mod))
      if (value && typeof value === 'object' && 'name' in value && 'build' in value) found.push(value as Suite);
  }
  return [membwSuite, ...found];
}

const SUITES: Suite[] = discoverSuites();

async function runAll(argv: string[]): Promise<number> {
  const full = argv.includes('--full');
  const only = argv.find((a) => a.startsWith('--only='))?.slice('--only='.length).split(',');
  const unknown = argv.filter((a) => a !== '--full' && !a.startsWith('--only='));
  if (unknown.length > 0) {
    process.stderr.write(`bench: unknown argument(s) ${unknown.join(' ')} (use --full, --only=membw,core)\n`);
    return 1;
  }
  const selected = only ? SUITES.filter((s) => only.includes(s.name)) : SUITES;
  if (only && selected.length !== only.length) {
    process.stderr.write(`bench: unknown suite in --only (have ${SUITES.map((s) => s.name).join(', ')})\n`);
    return 1;
  }
  const m = machineInfo();
  process.stdout.write(
    `ntensor ${m.ntensor} (${m.flavor}, kernels ${(m.isas as string[]).join('/')}) on ${m.cpu}, ${m.cores} cores, node ${m.node}; ` +
      `benchmark.js maxTime ${maxTime()} s per case${full ? ', full sizes' : ''}\n`,
  );
  const ctx: BenchContext = { full, bandwidth: new Map() };
  const results: SuiteResult[] = [];
  for (const suite of selected) results.push(await runSuite(suite, ctx));
  process.stdout.write('\n');
  for (const r of results) process.stdout.write(r.markdown + '\n');
  process.stdout.write(`JSON written to ${resultsDir()}/{${results.map((r) => r.suite).join(',')}}.json\n`);
  return 0;
}

runAll(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e) => {
    process.stderr.write(`bench failed: ${(e as Error).stack ?? e}\n`);
    process.exitCode = 1;
  },
);
