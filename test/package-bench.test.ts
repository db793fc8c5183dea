// `npx ntensor bench` from an installed package: npm pack, install the tarball into an empty
// folder, run the command there. The tarball is the one `npm run prebuild` + `npm pack`
// would make: the addon this checkout built goes in prebuilds/<platform>-<arch>/ (as
// prebuildify names it), so the package's install script finds it through node-gyp-build
// instead of compiling the C++ again (minutes on 2 cores). The install asserts that it did.
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const root = path.join(__dirname, '..');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const npx = process.platform === 'win32' ? 'npx.cmd' : 'npx';

/**
 * The outer npm's per-run settings (npm test sets npm_config_local_prefix, npm_package_*, ...)
 * must not steer the inner npm into the checkout; where its cache and registry are stays.
 */
const KEEP = /^npm_config_(cache|registry|userconfig|globalconfig)$/i;
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^npm_/i.test(k) || KEEP.test(k)) env[k] = v;
  return env;
}

const sh = (cmd: string, args: string[], cwd: string) => execFileSync(cmd, args, { cwd, encoding: 'utf8', env: cleanEnv(), maxBuffer: 64 << 20 });

/** dist/ is what npm packs: build it when it is missing or older than the sources this test is about. */
function ensureDist(): void {
  const pairs = [
    ['lib/bench/run.ts', 'dist/lib/bench/run.js'],
    ['lib/bench/probes.ts', 'dist/lib/bench/probes.js'],
    ['lib/cli/bench.ts', 'dist/lib/cli/bench.js'],
    ['lib/cli/main.ts', 'dist/lib/cli/main.js'],
  ];
  const stale = pairs.some(([src, out]) => !fs.existsSync(path.join(root, out)) || fs.statSync(path.join(root, out)).mtimeMs < fs.statSync(path.join(root, src)).mtimeMs);
  if (stale) execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', path.join(root, 'tsconfig.build.json')]);
}

describe('npx ntensor bench from an installed package', () => {
  let work: string;
  let app: string;
  let installLog: string;

  beforeAll(() => {
    ensureDist();
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const addon = (require('node-gyp-build') as { resolve(dir: string): string }).resolve(root);
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'nt-pack-'));
    const first = sh(npm, ['pack', '--ignore-scripts', '--pack-destination', work], root).trim().split('\n').pop()!;
    const stage = path.join(work, 'stage');
    fs.mkdirSync(stage);
    sh('tar', ['-xzf', path.join(work, first), '-C', stage], work);
    const pkg = path.join(stage, 'package');
    expect(fs.existsSync(path.join(pkg, 'build'))).toBe(false); // the tarball ships sources, no build dir
    const prebuilds = path.join(pkg, 'prebuilds', `${process.platform}-${process.arch}`);
    fs.mkdirSync(prebuilds, { recursive: true });
    fs.copyFileSync(addon, path.join(prebuilds, 'ntensor.napi.node'));
    const final = path.join(work, 'final');
    fs.mkdirSync(final);
    const tgz = sh(npm, ['pack', '--ignore-scripts', '--pack-destination', final], pkg).trim().split('\n').pop()!;
    app = path.join(work, 'app');
    fs.mkdirSync(app);
    fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'nt-bench-app', version: '1.0.0', private: true }));
    // --prefer-offline: the dependencies come from npm's cache (filled by the checkout's own
    // install); only a cold cache reaches the registry. Install scripts run: ntensor's must
    // find the prebuild.
    installLog = sh(npm, ['install', '--prefer-offline', '--no-audit', '--no-fund', '--foreground-scripts', path.join(final, tgz)], app);
  }, 180000);

  afterAll(() => {
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  it('installs from the tarball without compiling: the install script picks the prebuild', () => {
    expect(installLog).toMatch(/ntensor: using prebuilds[\\/][a-z0-9]+-[a-z0-9]+[\\/]ntensor\.napi\.node/);
    const installed = path.join(app, 'node_modules', 'ntensor');
    expect(fs.existsSync(path.join(installed, 'build'))).toBe(false);
    const addon = sh(process.execPath, ['-e', "process.stdout.write(require('ntensor').info().addon)"], app);
    expect(fs.realpathSync(addon)).toBe(fs.realpathSync(path.join(installed, 'prebuilds', `${process.platform}-${process.arch}`, 'ntensor.napi.node')));
  });

  it('npx ntensor bench --only gemm --sizes 64 prints GFLOP/s and % of the measured FMA peak', () => {
    const out = sh(npx, ['--no-install', 'ntensor', 'bench', '--only', 'gemm', '--sizes', '64', '--threads', '1', '--time', '0.1', '--json', 'out.json'], app);
    expect(out).toMatch(/1 thread: FMA peak [0-9.]+ GFLOP\/s f32/);
    expect(out).toMatch(/GFLOP\/s/);
    expect(out).toMatch(/% of roof/);
    const row = /SGEMM 64x64x64 +ntensor +1 +\S+ \S+ +±\S+ +([0-9.]+) +(?:\S+ +)?([0-9.]+)% +compute: FMA peak f32 ([0-9.]+) GFLOP\/s/.exec(out);
    expect(row).not.toBeNull();
    const rep = JSON.parse(fs.readFileSync(path.join(app, 'out.json'), 'utf8'));
    const ours = rep.suites[0].rows.find((r: { impl: string }) => r.impl === 'ntensor');
    expect(ours.roofline.bound).toBe('compute');
    expect(ours.roofline.attainable).toBe(rep.probes.ceilings[0].peak.f32);
    const percent = ours.roofline.fraction * 100;
    expect(percent).toBeGreaterThan(0);
    expect(percent).toBeLessThanOrEqual(150);
    expect(Number(row![2])).toBeCloseTo(percent, 1);
  });
});
