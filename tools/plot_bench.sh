#!/usr/bin/env bash
# tools/plot_bench.sh [--run] BENCH_OUTPUT PNG — ours beside etcd as a picture.
#
# Reads what tools/bench_vs_etcd.sh printed (its raw `reportbench ...` and `etcd-put ...`
# summary lines, any number of rounds) and draws three panels against the number of
# operations in flight: throughput, p50 and p99 latency, ours beside etcd, each point the
# median over the rounds. With --run it first runs the comparison itself
# (`ROUNDS=${ROUNDS:-3} SECS=${SECS:-8} tools/bench_vs_etcd.sh ${CONCS:-1 4 16 64}`) and saves
# its output to BENCH_OUTPUT, so one command regenerates the figure in docs/PERFORMANCE.md:
#
#   tools/plot_bench.sh --run docs/perf/bench_vs_etcd.txt docs/perf/bench_vs_etcd.png
#
# Needs gnuplot (`apt-get install gnuplot-nox`; not needed by the build or the tests).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RUN=0
if [[ ${1:-} == --run ]]; then RUN=1; shift; fi
[[ $# -eq 2 ]] || { echo "usage: tools/plot_bench.sh [--run] BENCH_OUTPUT PNG" >&2; exit 2; }
IN=$1
OUT=$2
command -v gnuplot >/dev/null || { echo "plot_bench.sh: gnuplot not found (apt-get install gnuplot-nox)" >&2; exit 1; }

if ((RUN)); then
  mkdir -p "$(dirname "$IN")"
  # shellcheck disable=SC2086
  ROUNDS=${ROUNDS:-3} SECS=${SECS:-8} "$HERE/bench_vs_etcd.sh" ${CONCS:-1 4 16 64} | tee "$IN"
fi
[[ -s $IN ]] || { echo "plot_bench.sh: $IN is empty or missing" >&2; exit 1; }

WORK=$(mktemp -d /tmp/plot-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

# One row per concurrency: conc ours_ops etcd_ops ours_p50 etcd_p50 ours_p99 etcd_p99 (ms),
# medians over the rounds.
awk '
  function field(line, name,   n, i, parts, kv) {
    n = split(line, parts, " ")
    for (i = 1; i <= n; i++)
      if (index(parts[i], name "=") == 1) { kv = substr(parts[i], length(name) + 2); sub(/us$/, "", kv); return kv }
    return ""
  }
  function median(list,   n, v, i, j, t) {
    n = split(list, v, " ")
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (v[j] + 0 < v[i] + 0) { t = v[i]; v[i] = v[j]; v[j] = t }
    return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
  }
  /^(reportbench|etcd-put) / {
    who = ($1 == "reportbench") ? "ours" : "etcd"
    c = field($0, "conc"); concs[c] = 1
    ops[who, c] = ops[who, c] " " field($0, "ops/s")
    p50[who, c] = p50[who, c] " " field($0, "p50") / 1000
    p99[who, c] = p99[who, c] " " field($0, "p99") / 1000
  }
  END {
    for (c in concs) if (ops["ours", c] != "" && ops["etcd", c] != "")
      printf "%d %s %s %s %s %s %s\n", c, median(ops["ours", c]), median(ops["etcd", c]),
        median(p50["ours", c]), median(p50["etcd", c]), median(p99["ours", c]), median(p99["etcd", c])
  }' "$IN" | sort -n >"$WORK/data"
[[ -s $WORK/data ]] || { echo "plot_bench.sh: no reportbench/etcd-put pairs in $IN" >&2; exit 1; }

STAMP=$(sed -n 's/^# \([0-9T:-]*Z\).*/\1/p' "$IN" | head -1)
ROUNDS_SEEN=$(grep -c '^etcd-put .*conc=1 ' "$IN" || true)
gnuplot <<GP
set terminal pngcairo size 1500,450 font "DejaVu Sans,11"
set output "$OUT"
set multiplot layout 1,3 title "quorum-committed submits (ours, multi-az) beside etcd puts, same machine and run ${STAMP:+($STAMP, }median of ${ROUNDS_SEEN:-?} rounds${STAMP:+)}"
set logscale x 2
set xlabel "operations in flight"
set key top left
set grid
set style data linespoints
set title "throughput"
set ylabel "operations/s"
plot "$WORK/data" using 1:2 title "ours" lw 2 pt 7, "" using 1:3 title "etcd" lw 2 pt 5
set title "p50 latency"
set ylabel "ms"
plot "$WORK/data" using 1:4 title "ours" lw 2 pt 7, "" using 1:5 title "etcd" lw 2 pt 5
set title "p99 latency"
plot "$WORK/data" using 1:6 title "ours" lw 2 pt 7, "" using 1:7 title "etcd" lw 2 pt 5
unset multiplot
GP
echo "wrote $OUT from $(wc -l <"$WORK/data") concurrencies"
