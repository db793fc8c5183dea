// The package entry works for CommonJS require and ESM import by name (self-reference via
// package.json "exports"), from the compiled dist/ that npm's prepare step builds.
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const root = path.join(__dirname, '..');

describe('package entry', () => {
  // npm test and npm's prepare step build dist/; a bare `jest` run builds it here.
  beforeAll(() => {
    if (!fs.existsSync(path.join(root, 'dist', 'lib', 'index.js')))
      execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', path.join(root, 'tsconfig.build.json')]);
  }, 120000);

  const run = (file: string, code: string) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nt-pkg-'));
    // resolve 'ntensor' from inside the package folder, as a dependent project would
    const script = path.join(root, 'dist', `.${path.basename(dir)}${file}`);
    fs.writeFileSync(script, code);
    try {
      return execFileSync(process.execPath, [script], { encoding: 'utf8' }).trim();
    } finally {
      fs.rmSync(script);
      fs.rmSync(dir, { recursive: true });
    }
  };

  it('require("ntensor") works', () => {
    expect(run('.cjs', "const nt = require('ntensor'); console.log(nt.zeros([2, 3]).shape.join('x'), typeof nt.io)")).toBe('2x3 object');
  });

  it('import * as nt from "ntensor" and named imports work', () => {
    expect(run('.mjs', "import * as nt from 'ntensor'; import { ones } from 'ntensor'; console.log(ones([4]).size, nt.info().flavor.length > 0)")).toBe('4 true');
  });
});
