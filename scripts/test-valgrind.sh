#!/usr/bin/env bash
# `npm run test:valgrind`: runs test/reliability/valgrind-ops.js (a representative subset of
# ops and error paths, plain node) under valgrind --leak-check=full against a normal Release
# addon (NTENSOR_ADDON, default build/Release/ntensor.node). Node and V8 keep memory to exit
# and JIT code confuses the error checker, so only reports whose stack passes through the
# addon (ntensor.node / nt::) count: any definite leak or memory error there fails the run.
set -uo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "test:valgrind: valgrind is not installed"; exit 1; }
addon=${NTENSOR_ADDON:-$PWD/build/Release/ntensor.node}
[ -f "$addon" ] || { echo "test:valgrind: $addon missing (npm run build:addon, or set NTENSOR_ADDON)"; exit 1; }

# lib/ as plain JS (typescript's transpiler, no type check) so valgrind does not run tsc
mirror=$PWD/build-valgrind/lib
rm -rf build-valgrind
node -e '
const fs = require("fs"), path = require("path"), ts = require("typescript");
const walk = (src, dst) => { fs.mkdirSync(dst, { recursive: true });
  for (const e of fs.readdirSync(src, { withFileTypes: true })) {
    const s = path.join(src, e.name);
    if (e.isDirectory()) walk(s, path.join(dst, e.name));
    else if (e.name.endsWith(".ts") && !e.name.endsWith(".d.ts"))
      fs.writeFileSync(path.join(dst, e.name.replace(/\.ts$/, ".js")), ts.transpileModule(fs.readFileSync(s, "utf8"),
        { fileName: s, compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true } }).outputText);
  } };
walk("lib", process.argv[1]);' "$mirror" || exit 1

log=build-valgrind/valgrind.log
NT_LIB=$mirror NTENSOR_ADDON=$addon valgrind --leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite \
  --num-callers=40 --trace-children=no --log-file=$log node test/reliability/valgrind-ops.js
status=$?
# blocks of the report: a line "==PID== <what>" up to the next blank "==PID== " line
ours=$(awk '
  /^==[0-9]+== [^ ]/ { if (block != "") flush(); block = $0 "\n"; next }
  /^==[0-9]+== *$/ { flush(); next }
  { block = block $0 "\n" }
  function flush() { if (block ~ /(definitely lost|Invalid (read|write|free)|uninitialised|Mismatched free|overlap)/ && block ~ /(ntensor\.node|nt::)/) { print block; n++ } block = "" }
  END { flush(); print "BLOCKS " n+0 }' "$log")
count=$(echo "$ours" | awk '/^BLOCKS/ { print $2 }')
definite=$(grep -E "definitely lost:" "$log" | tail -1)
echo "test:valgrind: node exit $status; whole process: ${definite#*== }"
if [ "$status" -ne 0 ] || [ "$count" != "0" ]; then
  echo "$ours" | head -150
  echo "test:valgrind: FAILED ($count report(s) in ntensor code; full log in $log)"
  exit 1
fi
echo "test:valgrind: clean (0 definite leaks or memory errors in ntensor code; log in $log)"
