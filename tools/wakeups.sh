#!/usr/bin/env bash
# tools/wakeups.sh [CONC] [SECS] — where a submit's thread wake-ups and CPU go.
#
# Brings up a multi-az cluster without workers (deploy/cluster.sh, in a temp dir), runs
# reportbench at CONC in flight (default 1) for SECS seconds (default 5), and prints, per
# process kind and thread name, the voluntary context switches (a thread going to sleep and
# being woken again) per accepted submit, then the CPU per accepted submit of every process.
# The replica with the most `peer-sender` or `driver` switches is the leader.
# Binaries from $REPORT_BIN_DIR (default build/bin); the cluster is stopped on any exit.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
BIN=${REPORT_BIN_DIR:-$ROOT/build/bin}
[[ $BIN = /* ]] || BIN="$PWD/$BIN"
export REPORT_BIN_DIR=$BIN
CONC=${1:-1}
SECS=${2:-5}
[[ $CONC =~ ^[1-9][0-9]*$ ]] || { echo "wakeups.sh: CONC must be a positive integer" >&2; exit 2; }
[[ $SECS =~ ^[1-9][0-9]*$ ]] || { echo "wakeups.sh: SECS must be a positive integer" >&2; exit 2; }

WORK=$(mktemp -d /tmp/wakeups.XXXXXX)
cleanup() {
  "$ROOT/deploy/cluster.sh" down --dir "$WORK/cluster" --wipe >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$ROOT/deploy/cluster.sh" up --profile multi-az --dir "$WORK/cluster" --workers 0 \
  >"$WORK/up.log" 2>&1 || { cat "$WORK/up.log" >&2; exit 1; }
ENDPOINTS=$("$ROOT/deploy/cluster.sh" endpoints --dir "$WORK/cluster")
TARGET=$(awk '$2=="gateway" {print $4; exit}' <<<"$ENDPOINTS")

# snapshot FILE: one line per thread: NAME KIND COMM VOLUNTARY_SWITCHES, and per process
# NAME KIND cpu TICKS.
snapshot() {
  while read -r name kind _ _ _ pid; do
    [[ $pid =~ ^[0-9]+$ ]] || continue
    for task in /proc/"$pid"/task/*; do
      comm=$(tr ' ' '_' <"$task/comm" 2>/dev/null) || continue
      v=$(awk '/^voluntary_ctxt_switches/ {print $2}' "$task/status" 2>/dev/null) || continue
      echo "$name $kind $comm ${v:-0}"
    done
    awk -v n="$name" -v k="$kind" '{print n, k, "cpu", $14 + $15}' "/proc/$pid/stat"
  done <<<"$ENDPOINTS" >"$1"
}

# Warm up (connections, first elections of the gateway's batching), then measure.
"$BIN/reportbench" --target "$TARGET" --concurrency "$CONC" --seconds 1 >/dev/null
snapshot "$WORK/before"
LINE=$("$BIN/reportbench" --target "$TARGET" --concurrency "$CONC" --seconds "$SECS")
snapshot "$WORK/after"
echo "$LINE"
OPS=$(sed -n 's/.* ops=\([0-9]*\) .*/\1/p' <<<"$LINE")
[[ ${OPS:-0} -gt 0 ]] || { echo "wakeups.sh: no accepted submits" >&2; exit 1; }
TICK=$(getconf CLK_TCK)

awk -v ops="$OPS" -v tick="$TICK" '
  FNR == NR { before[$1 " " $3] += $4; next }
  { after[$1 " " $3] += $4; kind[$1] = $2 }
  END {
    printf "%-12s %-8s %-18s %10s\n", "process", "kind", "thread", "per submit"
    for (k in after) {
      split(k, p, " ")
      d = after[k] - before[k]
      if (p[2] == "cpu") { cpu[p[1]] = d; continue }
      if (d <= 0) continue
      printf "%-12s %-8s %-18s %10.2f\n", p[1], kind[p[1]], p[2], d / ops
      total += d
    }
    printf "total wake-ups per submit (cluster processes): %.1f\n", total / ops
    for (n in cpu) { printf "cpu per submit %-12s %6.0f us\n", n, cpu[n] / tick * 1e6 / ops; sum += cpu[n] }
    printf "cpu per submit, all cluster processes: %.0f us\n", sum / tick * 1e6 / ops
  }' "$WORK/before" "$WORK/after" | sort
