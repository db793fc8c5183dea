#!/usr/bin/env bash
# Coverage-guided fuzzing of the file parsers with libFuzzer (clang), one binary per parser:
#   safetensors  parse_safetensors_buffer + element conversion + header round trip
#   npy          parse_npy_buffer + conversion + header round trip
#   json         the JSON DOM parser (config.json, adapter/quantize configs, indexes)
#   index        read_safetensors_index on a file (model.safetensors.index.json)
#   gguf         parse_gguf_buffer + block dequantization / Q4_0-Q8_0 repacking
# Each runs ONE job under `nice -n 19` (the machine is shared) for FUZZ_SECONDS (default 600),
# starting from test/corpus (the malformed-file corpus) plus the committed corpus
# test/fuzz/corpus/<parser>/, which is then replaced by the -merge=1 minimization of both
# (inputs capped at FUZZ_MAX_LEN bytes, so the committed corpora stay small). CI replays the
# committed corpora under g++ sanitizers (scripts/fuzz.js). Installs clang from Debian's
# packages when absent (needs root or sudo). Crashes land in build-libfuzzer/artifacts/.
#   scripts/fuzz-libfuzzer.sh [parser...]     FUZZ_SECONDS=60 scripts/fuzz-libfuzzer.sh json
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="$ROOT/build-libfuzzer"
SECONDS_PER="${FUZZ_SECONDS:-600}"
MAX_LEN="${FUZZ_MAX_LEN:-8192}"
PARSERS=("$@")
[ ${#PARSERS[@]} -eq 0 ] && PARSERS=(safetensors npy json index gguf)

target_id() {
  case "$1" in safetensors) echo 1 ;; npy) echo 2 ;; json) echo 3 ;; index) echo 4 ;; gguf) echo 5 ;; *) echo "unknown parser $1" >&2; exit 2 ;; esac
}

# ---- clang with libFuzzer ----
probe() {
  printf '#include <cstddef>\n#include <cstdint>\nextern "C" int LLVMFuzzerTestOneInput(const uint8_t*, size_t) { return 0; }\n' > "$OUT/probe.cc"
  clang++ -fsanitize=fuzzer,address,undefined "$OUT/probe.cc" -o "$OUT/probe" >/dev/null 2>&1
}
mkdir -p "$OUT"
if ! command -v clang++ >/dev/null || ! probe; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "fuzz-libfuzzer: installing clang (Debian packages)"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq clang
  probe || { DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq libclang-rt-dev || true; probe; }
fi
echo "fuzz-libfuzzer: $(clang++ --version | head -1)"

# ---- build: the parsers once (fuzzer-no-link), the harness once per parser ----
FLAGS=(-std=c++17 -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all -I "$ROOT/native")
mkdir -p "$OUT/obj"
SOURCES=()
for d in core cpu io; do for f in "$ROOT"/native/$d/*.cc; do SOURCES+=("$f"); done; done
NEWEST_H=$(find "$ROOT/native/core" "$ROOT/native/cpu" "$ROOT/native/io" "$ROOT/test/fuzz" -name '*.h' -printf '%T@\n' | sort -n | tail -1)
OBJS=()
for src in "${SOURCES[@]}"; do OBJS+=("$OUT/obj/$(echo "${src#$ROOT/}" | tr '/' '_').o"); done
for src in "${SOURCES[@]}"; do
  obj="$OUT/obj/$(echo "${src#$ROOT/}" | tr '/' '_').o"
  if [ ! -f "$obj" ] || [ "$src" -nt "$obj" ] || awk "BEGIN{exit !($NEWEST_H > $(stat -c %Y "$obj"))}"; then
    echo "$src $obj"
  fi
done | nice -n 19 xargs -r -P 2 -n 2 sh -c 'echo "  compiling ${0#'"$ROOT"'/}"; clang++ '"${FLAGS[*]}"' -fsanitize=fuzzer-no-link -c "$0" -o "$1"'

for p in "${PARSERS[@]}"; do
  id=$(target_id "$p")
  echo "  linking fuzz_$p"
  nice -n 19 clang++ "${FLAGS[@]}" -fsanitize=fuzzer -DNT_FUZZ_TARGET="$id" "$ROOT/test/fuzz/fuzz_parsers.cc" "${OBJS[@]}" \
    -o "$OUT/fuzz_$p" -lpthread
done

# ---- seeds: the malformed-file corpus and the committed corpus ----
seed_dir() {
  local p="$1" dir="$OUT/seeds/$1"
  rm -rf "$dir"; mkdir -p "$dir"
  local pattern
  case "$p" in
    safetensors) pattern='*.safetensors' ;;
    npy) pattern='*.npy' ;;
    json) pattern='*.json' ;;
    index) pattern='model.safetensors.index.json' ;;
    gguf) pattern='*.gguf' ;;
  esac
  # flattened names: many corpus files share a base name (config.json, gptq.safetensors)
  find "$ROOT/test/corpus" -name "$pattern" ! -name manifest.json -size -64k | sort | while read -r f; do
    cp "$f" "$dir/$(echo "${f#$ROOT/test/corpus/}" | tr '/' '_')"
  done
  echo "$dir"
}

SUMMARY="$OUT/summary.txt"
: > "$SUMMARY"
export ASAN_OPTIONS="detect_leaks=1:allocator_may_return_null=1:halt_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
status=0
for p in "${PARSERS[@]}"; do
  seeds=$(seed_dir "$p")
  committed="$ROOT/test/fuzz/corpus/$p"
  work="$OUT/work/$p"
  mkdir -p "$committed" "$work" "$OUT/artifacts"
  log="$OUT/$p.log"
  echo "fuzz-libfuzzer: $p for ${SECONDS_PER}s (log $log)"
  start=$(date +%s)
  set +e
  nice -n 19 "$OUT/fuzz_$p" -max_total_time="$SECONDS_PER" -max_len="$MAX_LEN" -rss_limit_mb=2048 -timeout=20 \
    -print_final_stats=1 -artifact_prefix="$OUT/artifacts/$p-" "$work" "$committed" "$seeds" > "$log" 2>&1
  rc=$?
  set -e
  took=$(( $(date +%s) - start ))
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*')
  ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*')
  # minimize everything seen into the committed corpus
  merged="$OUT/merged/$p"
  rm -rf "$merged"; mkdir -p "$merged"
  nice -n 19 "$OUT/fuzz_$p" -merge=1 -max_len="$MAX_LEN" -rss_limit_mb=2048 "$merged" "$committed" "$work" "$seeds" > "$OUT/$p.merge.log" 2>&1 || true
  if [ "$(ls -A "$merged")" ]; then rm -rf "$committed"; mv "$merged" "$committed"; fi
  files=$(find "$committed" -type f | wc -l)
  bytes=$(du -sb "$committed" | cut -f1)
  crashes=$(find "$OUT/artifacts" -name "$p-*" -type f | wc -l)
  line="$p: rc $rc, ${took}s, ${execs:-?} executions, cov ${cov:-?}, ft ${ft:-?}, corpus $files files / $bytes bytes, artifacts $crashes"
  echo "$line" | tee -a "$SUMMARY"
  [ "$rc" -ne 0 ] && status=1
done
echo "fuzz-libfuzzer: total committed corpus $(du -sb "$ROOT/test/fuzz/corpus" | cut -f1) bytes" | tee -a "$SUMMARY"
exit $status
