#!/usr/bin/env bash
# `npm run test:asan [-- <jest args>]`: builds the addon with AddressSanitizer +
# UndefinedBehaviorSanitizer (CMake option NTENSOR_SANITIZE, into build-asan/, incremental)
# and runs jest against it with the sanitizer runtimes preloaded into node. Node itself is
# not instrumented and leaks at exit by design, so leak detection is off; every other report
# (heap/stack overflow, use-after-free, UB) aborts the process and fails the run, and the
# logs are scanned for reports as a second net.
# Default test set: all of test/ (pass paths to narrow it, e.g. test/io test/reliability).
set -uo pipefail
cd "$(dirname "$0")/.."

NTENSOR_CUDA=0 npx cmake-js compile -O build-asan --CDNTENSOR_SANITIZE=ON >build-asan.log 2>&1 || {
  tail -50 build-asan.log; echo "test:asan: build failed (build-asan.log)"; exit 1; }
addon="$PWD/build-asan/Release/ntensor.node"
[ -f "$addon" ] || { echo "test:asan: $addon missing"; exit 1; }

cxx=${CXX:-g++}
asan=$($cxx -print-file-name=libasan.so)
ubsan=$($cxx -print-file-name=libubsan.so)
logdir=$(mktemp -d)
export LD_PRELOAD="$asan:$ubsan"
# log_path: one file per process (jest workers), checked below; abort on the first error.
export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=1:allocator_may_return_null=1:detect_odr_violation=0:log_path=$logdir/asan"
export UBSAN_OPTIONS="halt_on_error=1:abort_on_error=1:print_stacktrace=1:log_path=$logdir/ubsan"
export NTENSOR_ADDON="$addon"

tests=("$@")
[ ${#tests[@]} -eq 0 ] && tests=(test)
# one worker at a time: sanitizer builds are slow and memory-hungry; generous timeouts
node node_modules/jest/bin/jest.js --ci -w 1 --testTimeout 600000 "${tests[@]}"
status=$?
unset LD_PRELOAD

reports=$(cat "$logdir"/* 2>/dev/null | grep -cE "ERROR: AddressSanitizer|runtime error:|ERROR: LeakSanitizer" || true)
if [ "$reports" != "0" ]; then
  echo "test:asan: $reports sanitizer report(s):"
  cat "$logdir"/* | head -200
  status=1
fi
rm -rf "$logdir"
if [ $status -eq 0 ]; then echo "test:asan: clean (0 sanitizer reports)"; else echo "test:asan: FAILED"; fi
exit $status
