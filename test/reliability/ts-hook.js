'use strict';
// Lets a plain `node` process require the TypeScript sources (lib/, the reliability
// generators) directly: each .ts file is transpiled with the project's typescript on load.
// No ts-node and no dist/ build needed, so the runners always test the current sources.
const fs = require('fs');
const ts = require('typescript');

require.extensions['.ts'] = (module, filename) => {
  const out = ts.transpileModule(fs.readFileSync(filename, 'utf8'), {
    fileName: filename,
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true, sourceMap: false },
  });
  module._compile(out.outputText, filename);
};
