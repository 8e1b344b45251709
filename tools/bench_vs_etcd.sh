#!/usr/bin/env bash
# tools/bench_vs_etcd.sh [CONC...] — the product beside its reference point (docs/PERFORMANCE.md),
# on the same machine in the same run.
#
#   1. brings up a local multi-az cluster (deploy/cluster.sh, no workers) in a temp dir,
#   2. runs reportbench (quorum-committed submits) against its first gateway at each
#      concurrency (default 1 16 64) for $SECS seconds (default 10),
#   3. stops and wipes the cluster, so etcd does not share the CPU with it,
#   4. runs $ANCHORS/etcd_bench.sh (3-member etcd, 200-byte puts) at the same
#      concurrencies,
#   5. prints both raw summary lines and a side-by-side table with ratios (ours / etcd).
#
# With ROUNDS=N (default 1) steps 1-5 run N times in a row and a last table gives, per
# concurrency, the median of the N ratios: on a shared 2-core machine one run can be off by
# 30% either way, so a verdict wants several.
#
# Builds nothing: binaries come from $REPORT_BIN_DIR (default build/bin). $ANCHORS must name
# the directory of the etcd baseline (not part of this repository; docs/PERFORMANCE.md says
# what it must provide).
# Extra reportbench flags: $REPORTBENCH_ARGS (e.g. "--mode status", "--http" — then the
# gateway's HTTP address is used). Profile: $BENCH_PROFILE (default multi-az). The cluster
# runs mutual TLS as `up` makes it (reportbench presents the operator's certificate);
# BENCH_INSECURE=1 runs it plaintext (`up --insecure`), to measure what TLS costs.
# Exit: 0 when both benches ran, non-zero otherwise; the cluster is stopped on any exit.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
BIN=${REPORT_BIN_DIR:-$ROOT/build/bin}
[[ $BIN = /* ]] || BIN="$PWD/$BIN"
export REPORT_BIN_DIR=$BIN
ANCHORS=${ANCHORS:-}
SECS=${SECS:-10}
ROUNDS=${ROUNDS:-1}
PROFILE=${BENCH_PROFILE:-multi-az}
UP_ARGS=()
[[ ${BENCH_INSECURE:-0} == 1 ]] && UP_ARGS=(--insecure)
REPORTBENCH_ARGS=${REPORTBENCH_ARGS:-}
CONCS=("$@")
[[ ${#CONCS[@]} -gt 0 ]] || CONCS=(1 16 64)

die() { echo "bench_vs_etcd.sh: error: $*" >&2; exit 1; }

for c in "${CONCS[@]}"; do
  [[ $c =~ ^[1-9][0-9]*$ ]] || die "concurrency must be a positive integer, got '$c'"
done
[[ $SECS =~ ^[0-9]+([.][0-9]+)?$ ]] || die "SECS must be a number of seconds, got '$SECS'"
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive integer, got '$ROUNDS'"
for b in reportbench report-replica report-gateway reportctl; do
  [[ -x $BIN/$b ]] || die "$BIN/$b not found (build first, or set REPORT_BIN_DIR)"
done
[[ -n $ANCHORS ]] || die "set ANCHORS to the directory holding etcd_bench.sh (docs/PERFORMANCE.md)"
[[ -x $ANCHORS/etcd_bench.sh ]] || die "etcd_bench.sh not found in $ANCHORS (set ANCHORS)"

WORK=$(mktemp -d /tmp/bench-vs-etcd.XXXXXX)
CLUSTER_DIR=$WORK/cluster
CLUSTER_UP=0
cleanup() {
  local rc=$?
  if ((CLUSTER_UP)); then
    "$ROOT/deploy/cluster.sh" down --dir "$CLUSTER_DIR" --wipe >/dev/null 2>&1 || true
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "# $(date -u +%FT%TZ) $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
echo "# ours: profile $PROFILE${UP_ARGS[*]:+ (insecure)}, reportbench $REPORTBENCH_ARGS, $SECS s per concurrency"

# field(LINE, NAME): the value of NAME=... in a summary line, without a "us" suffix.
FIELD_AWK='
  function field(line, name,   n, i, parts, kv) {
    n = split(line, parts, " ")
    for (i = 1; i <= n; i++) {
      if (index(parts[i], name "=") == 1) {
        kv = substr(parts[i], length(name) + 2)
        sub(/us$/, "", kv)
        return kv
      }
    }
    return ""
  }'

# table OURS_FILE ETCD_FILE: the side-by-side table of one round.
table() {
  awk -v concs="${CONCS[*]}" "$FIELD_AWK"'
    function ratio(a, b) { return (a == "" || b == "" || b + 0 == 0) ? "-" : sprintf("%.2f", a / b) }
    function dash(v) { return v == "" ? "-" : v }
    function us(v) { return v == "" ? "-" : v "us" }
    { c = field($0, "conc"); if (FILENAME == ARGV[1]) ours[c] = $0; else etcd[c] = $0 }
    END {
      printf "%-5s %10s %10s %7s | %9s %9s %9s %9s | %7s %7s | %8s %8s\n", "conc", "ours_ops/s",
        "etcd_ops/s", "ratio", "ours_p50", "etcd_p50", "ours_p99", "etcd_p99", "p50_x", "p99_x",
        "ours_err", "etcd_err"
      n = split(concs, cs, " ")
      for (i = 1; i <= n; i++) {
        c = cs[i]
        oo = field(ours[c], "ops/s"); eo = field(etcd[c], "ops/s")
        o50 = field(ours[c], "p50"); e50 = field(etcd[c], "p50")
        o99 = field(ours[c], "p99"); e99 = field(etcd[c], "p99")
        printf "%-5s %10s %10s %7s | %9s %9s %9s %9s | %7s %7s | %8s %8s\n", c, dash(oo),
          dash(eo), ratio(oo, eo), us(o50), us(e50), us(o99), us(e99), ratio(o50, e50),
          ratio(o99, e99), dash(field(ours[c], "errors")), dash(field(etcd[c], "errors"))
      }
    }' "$1" "$2"
}

for ((round = 1; round <= ROUNDS; round++)); do
  ((ROUNDS == 1)) || echo "# round $round of $ROUNDS"
  CLUSTER_UP=1
  "$ROOT/deploy/cluster.sh" up --profile "$PROFILE" --dir "$CLUSTER_DIR" --workers 0 \
    "${UP_ARGS[@]}" >"$WORK/up.log" 2>&1 || { cat "$WORK/up.log" >&2; die "cluster did not come up"; }
  FIELD=4  # GRPC_ADDR
  [[ " $REPORTBENCH_ARGS " == *" --http "* ]] && FIELD=5  # HTTP_ADDR
  TARGET=$("$ROOT/deploy/cluster.sh" endpoints --dir "$CLUSTER_DIR" |
    awk -v f="$FIELD" '$2=="gateway" && $f!="-" {print $f; exit}')
  [[ -n $TARGET ]] || die "no gateway in the cluster (endpoints: $("$ROOT/deploy/cluster.sh" endpoints --dir "$CLUSTER_DIR" | tr '\n' ';'))"

  TLS_ENV=()
  [[ -f $CLUSTER_DIR/tls/operator.pem ]] && TLS_ENV=("REPORT_TLS_DIR=$CLUSTER_DIR/tls")
  : >"$WORK/ours.$round.txt"
  for c in "${CONCS[@]}"; do
    # shellcheck disable=SC2086
    env "${TLS_ENV[@]}" "$BIN/reportbench" --target "$TARGET" --concurrency "$c" \
      --seconds "$SECS" $REPORTBENCH_ARGS | tee -a "$WORK/ours.$round.txt"
  done

  "$ROOT/deploy/cluster.sh" down --dir "$CLUSTER_DIR" --wipe >/dev/null
  CLUSTER_UP=0

  SECS=$SECS "$ANCHORS/etcd_bench.sh" "${CONCS[@]}" | grep '^etcd-put ' | tee "$WORK/etcd.$round.txt"
  # Side by side. Throughput ratio > 1 and latency ratio < 1 mean we are ahead of etcd.
  echo
  table "$WORK/ours.$round.txt" "$WORK/etcd.$round.txt"
  echo
done

((ROUNDS > 1)) || exit 0
# Per concurrency, the median over the rounds of each ratio.
awk -v concs="${CONCS[*]}" "$FIELD_AWK"'
  function median(list,   n, v, i, j, t) {
    n = split(list, v, " ")
    if (n == 0) return "-"
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (v[j] + 0 < v[i] + 0) { t = v[i]; v[i] = v[j]; v[j] = t }
    return sprintf("%.2f", n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2)
  }
  {
    split(FILENAME, path, "/"); split(path[length(path)], name, ".")
    key = name[2] SUBSEP field($0, "conc")
    if (name[1] == "ours") ours[key] = $0; else etcd[key] = $0
    rounds[name[2]] = 1
  }
  END {
    printf "median of %d rounds\n%-5s %12s %10s %10s\n", length(rounds), "conc", "ops/s ratio", "p50_x", "p99_x"
    n = split(concs, cs, " ")
    for (i = 1; i <= n; i++) {
      c = cs[i]; t = ""; p50 = ""; p99 = ""
      for (r in rounds) {
        o = ours[r SUBSEP c]; e = etcd[r SUBSEP c]
        if (o == "" || e == "" || field(e, "ops/s") + 0 == 0 || field(e, "p50") + 0 == 0 || field(e, "p99") + 0 == 0) continue
        t = t " " field(o, "ops/s") / field(e, "ops/s")
        p50 = p50 " " field(o, "p50") / field(e, "p50")
        p99 = p99 " " field(o, "p99") / field(e, "p99")
      }
      printf "%-5s %12s %10s %10s\n", c, median(t), median(p50), median(p99)
    }
  }' "$WORK"/ours.*.txt "$WORK"/etcd.*.txt
