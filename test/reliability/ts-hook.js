'use strict';
// Lets a plain `node` process require the TypeScript sources (lib/, the reliability
// generators) directly: each .ts file is transpiled with the project's typescript on load.
// No ts-node and no dist/ build needed, so the runners always test the current sources.
// Transpiled output is cached by a hash of the source text (and the typescript version) in
// a folder of the user's own under the OS temp folder, so the child processes the
// reliability tests spawn start in well under a second instead of transpiling lib/ each time.
const crypto = require('crypto');
const fs = require('fs');
const os = require('os');
const path = require('path');

let ts = null;
const tsVersion = require('typescript/package.json').version;
const uid = typeof process.getuid === 'function' ? process.getuid() : 0;
const cacheDir = path.join(os.tmpdir(), `ntensor-ts-hook-${tsVersion}-${uid}`);

// The temp folder is shared: use the cache only when the folder is ours and closed to others,
// or another user could plant code that this process would run.
function cacheUsable() {
  try {
    fs.mkdirSync(cacheDir, { recursive: true, mode: 0o700 });
    const st = fs.lstatSync(cacheDir);
    return st.isDirectory() && (typeof process.getuid !== 'function' || (st.uid === uid && (st.mode & 0o077) === 0));
  } catch {
    return false;
  }
}
const useCache = cacheUsable();

require.extensions['.ts'] = (module, filename) => {
  const source = fs.readFileSync(filename, 'utf8');
  const key = crypto.createHash('sha256').update(filename).update('\0').update(source).digest('hex').slice(0, 40);
  const cached = path.join(cacheDir, `${key}.js`);
  let out;
  try {
    if (!useCache) throw new Error('no cache');
    out = fs.readFileSync(cached, 'utf8');
  } catch {
    ts = ts || require('typescript');
    out = ts.transpileModule(source, {
      fileName: filename,
      compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true, sourceMap: false },
    }).outputText;
    try {
      if (!useCache) throw new Error('no cache');
      const temp = `${cached}.${process.pid}.tmp`;
      fs.writeFileSync(temp, out);
      fs.renameSync(temp, cached); // atomic: a concurrent reader sees all or nothing
    } catch {
      // a read-only temp folder only costs the speed-up
    }
  }
  module._compile(out, filename);
};
