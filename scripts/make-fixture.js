#!/usr/bin/env node
// Makes fixtures/tinyllama-fortunes/: the float16 copy of the shared float32 fixture model,
// written with ntensor's own io (load with dtype 'f16' = round to nearest even, then
// saveSafetensors). The other files are copied unchanged.
//   node scripts/make-fixture.js [source folder] [destination folder]
// Defaults: ../shared/fixtures/tinyllama-fortunes -> fixtures/tinyllama-fortunes.
// Runs from the TypeScript sources (transpiled on the fly), so no build step is needed
// beyond the addon; NTENSOR_ADDON=<path to ntensor.node> picks a side build.
'use strict';
const fs = require('fs');
const path = require('path');
const ts = require('typescript');

require.extensions['.ts'] = (module, filename) => {
  const { outputText } = ts.transpileModule(fs.readFileSync(filename, 'utf8'), {
    fileName: filename,
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
  });
  module._compile(outputText, filename);
};
const nt = require('../lib/index.ts');

const root = path.join(__dirname, '..');
const src = path.resolve(process.argv[2] ?? path.join(root, '..', 'shared', 'fixtures', 'tinyllama-fortunes'));
const dst = path.resolve(process.argv[3] ?? path.join(root, 'fixtures', 'tinyllama-fortunes'));
const COPIED = ['config.json', 'heldout.txt', 'reference_prompt.txt', 'reference_logits.npy', 'reference_ppl.json', 'training.json', 'checksums.json'];

fs.mkdirSync(dst, { recursive: true });
const info = nt.io.safetensorsInfo(path.join(src, 'model.safetensors'));
const weights = nt.io.loadSafetensors(path.join(src, 'model.safetensors'), { dtype: 'f16' });
nt.io.saveSafetensors(path.join(dst, 'model.safetensors'), weights, {
  ...info.metadata,
  ntensor_note: 'float16 copy of the float32 tinyllama-fortunes weights (round to nearest even), made by ntensor scripts/make-fixture.js',
});
for (const f of COPIED) {
  fs.rmSync(path.join(dst, f), { force: true });
  fs.copyFileSync(path.join(src, f), path.join(dst, f));
  fs.chmodSync(path.join(dst, f), 0o644); // the shared originals are read-only
}

fs.writeFileSync(
  path.join(dst, 'README.md'),
  `# tinyllama-fortunes (float16 copy)

The small LLaMA-architecture model of \`../shared/fixtures/tinyllama-fortunes\` (hidden 256,
4 layers, 8 heads / 4 KV heads, SwiGLU 688, byte vocabulary of 256; see that folder's
README), with \`model.safetensors\` stored as F16 instead of F32 to halve its size.

Made by \`node scripts/make-fixture.js\`: ntensor loads the float32 file with
\`nt.io.loadSafetensors(path, { dtype: 'f16' })\` (round to nearest even) and writes it with
\`nt.io.saveSafetensors\`. Every other file is copied unchanged, so \`checksums.json\` (each
tensor's shape and float64 sum), \`reference_logits.npy\` and \`reference_ppl.json\` describe
the float32 original: sums of this copy agree within float16 rounding, and logits or
perplexity computed from it differ from the references by the effect of that rounding.
`,
);

const back = nt.io.safetensorsInfo(path.join(dst, 'model.safetensors'));
const checksums = JSON.parse(fs.readFileSync(path.join(dst, 'checksums.json'), 'utf8'));
for (const t of back.tensors) {
  const want = checksums[t.name];
  if (!want || JSON.stringify(want.shape) !== JSON.stringify(t.shape) || t.fileDtype !== 'F16')
    throw new Error(`${t.name}: ${t.fileDtype} ${JSON.stringify(t.shape)} does not match checksums.json`);
}
console.log(`${dst}: ${back.tensors.length} F16 tensors, ${back.fileBytes} bytes (from ${info.fileBytes})`);
