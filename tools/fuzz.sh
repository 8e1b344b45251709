#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan+UBSan) in build-fuzz and runs each one from its
# seed corpus (tests/fuzz/corpus/NAME, regression inputs included), then prints executions
# and crashes per target. See docs/FUZZING.md.
#
#   tools/fuzz.sh [RUNS | SECONDSs] [TARGET...]
#     RUNS       executions per target (default 1000000)
#     SECONDSs   run each target for that many seconds instead, e.g. 300s
#     TARGET     http_routes, peer_batch, state_machine, placement (default: all)
#   REPORT_FUZZ_MAX_SECONDS  caps each target's run time (CI's smoke run sets it)
#   REPORT_FUZZ_BUILD_DIR    build directory (default build-fuzz)
#
# New interesting inputs accumulate in BUILD/corpus/NAME (never in the repository); a crash
# leaves its input in BUILD/crashes/NAME/ and makes the script exit 1. Reproduce one with
#   BUILD/bin/NAME_fuzz BUILD/crashes/NAME/crash-...
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

budget="${1:-1000000}"
shift || true
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(http_routes peer_batch state_machine placement)
build="${REPORT_FUZZ_BUILD_DIR:-build-fuzz}"

if [[ "$budget" =~ ^[0-9]+s$ ]]; then
  limit=(-max_total_time="${budget%s}")
elif [[ "$budget" =~ ^[0-9]+$ ]]; then
  limit=(-runs="$budget")
  [[ -z "${REPORT_FUZZ_MAX_SECONDS:-}" ]] || limit+=(-max_total_time="$REPORT_FUZZ_MAX_SECONDS")
else
  echo "usage: tools/fuzz.sh [RUNS | SECONDSs] [TARGET...]" >&2
  exit 2
fi

# The same cache entries whatever folder the repository is cloned in.
export CCACHE_BASEDIR="$root" CCACHE_NOHASHDIR=1
start=$SECONDS
if [[ ! -f "$build/CMakeCache.txt" ]]; then
  CC=clang CXX=clang++ cmake -S . -B "$build" -G Ninja -DREPORT_FUZZ=ON \
    -DCMAKE_BUILD_TYPE=Debug >/dev/null
fi
cmake --build "$build" -j2 --target \
  "${targets[@]/%/_fuzz}" >/dev/null
echo "== fuzz targets built in $((SECONDS - start)) s"

# Leaks are reported by LeakSanitizer at exit, as crashes.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

printf '%-14s %12s %8s %8s %s\n' target executions crashes seconds result
passed=0
failed=0
summary=()
for name in "${targets[@]}"; do
  seeds="tests/fuzz/corpus/$name"
  work="$build/corpus/$name"
  crashes="$build/crashes/$name"
  log="$build/fuzz-$name.log"
  mkdir -p "$work" "$crashes"
  args=("${limit[@]}" -timeout=10 -print_final_stats=1 -artifact_prefix="$crashes/")
  [[ -f "tests/fuzz/$name.dict" ]] && args+=(-dict="tests/fuzz/$name.dict")
  before=$(find "$crashes" -type f | wc -l)
  t0=$SECONDS
  status=0
  "$build/bin/${name}_fuzz" "${args[@]}" "$work" "$seeds" >"$log" 2>&1 || status=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  found=$(($(find "$crashes" -type f | wc -l) - before))
  if [[ $status -ne 0 ]]; then
    result="FAILED (exit $status, log $log)"
    failed=$((failed + 1))
    found=$((found > 0 ? found : 1))
  else
    result=ok
    passed=$((passed + 1))
  fi
  printf '%-14s %12s %8s %8s %s\n' "$name" "${execs:-?}" "$found" "$((SECONDS - t0))" "$result"
  if [[ $status -ne 0 ]]; then
    grep -E 'ERROR|SUMMARY|broke|broken|Test unit written|==[0-9]+==' "$log" | head -20 >&2 || true
  fi
done
echo "== fuzzing done in $((SECONDS - start)) s"
echo "fuzz: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
