#!/usr/bin/env bash
# tools/profile_latency.sh [--secs N] [--profiles "P ..."] OUT_TXT PNG
#
# What each shipped profile costs under realistic round trips: for every profile, a cluster
# under `cluster.sh up --hosts --wan` (every process on a host of its own, one-way delays from
# the profile's latency table), then through the first gateway (gRPC, reportbench):
#   - submit p50/p99 with 1 and 16 requests in flight,
#   - status read p50 (1 in flight),
#   - failover: kill -9 the leader, time until a submit is accepted in a later epoch,
#   - where the leader sits: submit p50 (1 in flight) with the leader moved next to the
#     gateway (same zone) and moved to another region, when the profile has one (moved by
#     kill -9 and restart until the election lands there: leader affinity, by hand),
# beside the physical floor for the leader it got: the round trip gateway -> leader plus the
# leader's round trip to its nearest quorum (fsync comes on top; single-az shows it).
# Prints one `profile ...` line per profile and a Markdown table (saved to OUT_TXT), and draws
# PNG with gnuplot: submit latency beside its floor, and the failover time, per profile.
#
#   sudo tools/profile_latency.sh docs/perf/profile_latency.txt docs/perf/profile_latency.png
#
# Needs root (network namespaces), the build (build/bin or $REPORT_BIN_DIR) and gnuplot.
# Takes about a minute per profile; every cluster is removed on exit, even on failure.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
BIN=${REPORT_BIN_DIR:-$ROOT/build/bin}
SECS=8
PROFILES="single-az multi-az cross-region cross-provider"
while [[ $# -gt 0 ]]; do
  case $1 in
    --secs) SECS=${2:?}; shift 2 ;;
    --profiles) PROFILES=${2:?}; shift 2 ;;
    -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) break ;;
  esac
done
[[ $# -eq 2 ]] || { echo "usage: tools/profile_latency.sh [--secs N] [--profiles \"P ...\"] OUT_TXT PNG" >&2; exit 2; }
OUT=$1
PNG=$2
command -v gnuplot >/dev/null || { echo "profile_latency.sh: gnuplot not found (apt-get install gnuplot-nox)" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || { echo "profile_latency.sh: needs root (cluster.sh up --hosts)" >&2; exit 1; }

WORK=$(mktemp -d /tmp/profile-latency.XXXXXX)
CLUSTER=""
cleanup() {
  [[ -n $CLUSTER ]] && REPORT_BIN_DIR=$BIN "$ROOT/deploy/cluster.sh" down --wipe --dir "$CLUSTER" >/dev/null 2>&1
  rm -rf "$WORK"
}
trap cleanup EXIT
cs() { REPORT_BIN_DIR=$BIN "$ROOT/deploy/cluster.sh" "$@" --dir "$CLUSTER"; }
field() { tr ' ' '\n' <<<"$1" | sed -n "s|^$2=||p" | sed 's/us$//'; }
ms() { awk -v us="$1" 'BEGIN {printf "%.1f", us / 1000}'; }

# "NAME DOMAIN EPOCH" of the leader, from reportctl's table.
leader_row() {
  "$BIN/reportctl" cluster --cluster "$CLUSTER/cluster.textproto" --timeout 2s 2>/dev/null |
    awk '$3=="leader" {print $1, $2, $5; exit}'
}
# Waits (30 s at most) until some replica leads and NAME (if given) is a follower.
wait_settled() {
  local name=${1:-} i
  for i in $(seq 1 300); do
    if "$BIN/reportctl" cluster --cluster "$CLUSTER/cluster.textproto" --timeout 2s 2>/dev/null |
        awk -v n="$name" '$3=="leader" {l=1} n=="" || ($1==n && $3=="follower") {f=1} END {exit !(l && f)}'; then
      return 0
    fi
    sleep 0.1
  done
  return 1
}
region_of() { cut -d/ -f1-2 <<<"$1"; }
# place_leader near|far: kill -9 and restart the leader until the election puts it in the
# gateway's zone (near) or outside the gateway's region (far); 10 tries.
place_leader() {
  local want=$1 name domain ep try
  for try in $(seq 1 10); do
    wait_settled || return 1
    read -r name domain ep < <(leader_row)
    if [[ $want == near && $domain == "$gateway_domain" ]] ||
       [[ $want == far && $(region_of "$domain") != "$(region_of "$gateway_domain")" ]]; then
      return 0
    fi
    cs kill "$name" >/dev/null
    wait_settled || return 1
    cs start "$name" >/dev/null
    wait_settled "$name" || return 1
  done
  return 1
}

: >"$WORK/lines"
for profile in $PROFILES; do
  CLUSTER=$WORK/$profile
  echo "== $profile: up --hosts --wan" >&2
  cs up --hosts --wan --profile "$profile" --workers 0 >"$WORK/$profile.up" 2>&1 ||
    { cat "$WORK/$profile.up" >&2; exit 1; }
  gateway=$(awk '$2=="gateway" {print $4; exit}' "$CLUSTER/processes")
  gateway_domain=$(awk '$2=="gateway" {print $3; exit}' "$CLUSTER/processes")
  read -r leader leader_domain epoch < <(leader_row)
  "$BIN/reportctl" placement latency "$CLUSTER/cluster.textproto" >"$WORK/$profile.rtt"
  floor=$(awk -v g="$gateway_domain" -v l="$leader_domain" '
    $1=="rtt" && $2==g && $3==l {hop=$4} $1=="quorum_rtt" && $2==l {q=$3}
    END {printf "%.1f", hop + q}' "$WORK/$profile.rtt")
  timing=$(sed -n 's/^timing //p' "$WORK/$profile.rtt")
  bench() {
    "$BIN/reportbench" --tls-dir "$CLUSTER/tls" --target "$gateway" --seconds "$SECS" \
      --warmup-seconds 1 "$@" 2>>"$WORK/$profile.bench.err" | tail -n 1
  }
  c1=$(bench --concurrency 1)
  c16=$(bench --concurrency 16)
  st=$(bench --mode status --concurrency 1 --pool 100)
  echo "   $c1" >&2
  echo "   $c16" >&2
  echo "   $st" >&2
  near=NaN far=NaN
  if awk -v r="$(region_of "$gateway_domain")" '$2=="replica" && index($3, r "/")!=1 {found=1} END {exit !found}' \
      "$CLUSTER/processes"; then
    if place_leader near; then
      near=$(ms "$(field "$(bench --concurrency 1)" p50)")
    fi
    if place_leader far; then
      far=$(ms "$(field "$(bench --concurrency 1)" p50)")
      far_domain=$(leader_row | awk '{print $2}')
      far+="@$far_domain"
    fi
    echo "   leader at the gateway: p50 $near ms; elsewhere: p50 $far ms" >&2
  fi
  wait_settled
  read -r leader leader_domain_now epoch < <(leader_row)
  # Failover: kill -9 the leader, submit until a receipt of a later epoch.
  cs kill "$leader" >/dev/null
  start=$(date +%s%N)
  failover=""
  for i in $(seq 1 600); do
    out=$("$BIN/reportctl" submit --gateway "$gateway" --tls-dir "$CLUSTER/tls" --timeout 2s \
      --request-id "failover-$profile-$i" --account acct-f --month 2026-04 2>/dev/null || true)
    e=$(sed -n 's/.*(epoch \([0-9]*\)).*/\1/p' <<<"$out")
    if [[ -n $e ]] && ((e > epoch)); then
      failover=$((($(date +%s%N) - start) / 1000000))
      break
    fi
  done
  [[ -n $failover ]] || failover=NaN
  cs down --wipe >/dev/null 2>&1 || true
  CLUSTER=""
  line="profile $profile leader=$leader_domain gateway=$gateway_domain floor_ms=$floor"
  line+=" c1_p50_ms=$(ms "$(field "$c1" p50)") c1_p99_ms=$(ms "$(field "$c1" p99)")"
  line+=" c16_p50_ms=$(ms "$(field "$c16" p50)") c16_p99_ms=$(ms "$(field "$c16" p99)")"
  line+=" c16_ops=$(field "$c16" ops/s) status_p50_ms=$(ms "$(field "$st" p50)")"
  line+=" failover_ms=$failover near_p50_ms=$near far_p50_ms=$far timing=\"${timing}\""
  echo "$line" | tee -a "$WORK/lines"
done

{
  echo "| profile | leader (gateway) | floor ms | submit p50 / p99 ms, 1 in flight | submit p50 / p99 ms, 16 in flight (ops/s) | status p50 ms | failover ms | p50 ms, leader at the gateway / elsewhere | replica timing |"
  echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
  while read -r line; do
    v() { tr ' ' '\n' <<<"$line" | sed -n "s/^$1=//p" | tr -d '"'; }
    t=$(sed -n 's/.*timing="\([^"]*\)".*/\1/p' <<<"$line")
    echo "| $(awk '{print $2}' <<<"$line") | $(v leader) ($(v gateway)) | $(v floor_ms) | $(v c1_p50_ms) / $(v c1_p99_ms) | $(v c16_p50_ms) / $(v c16_p99_ms) ($(v c16_ops)) | $(v status_p50_ms) | $(v failover_ms) | $(v near_p50_ms | sed 's/^NaN$/-/') / $(v far_p50_ms | sed 's/@/ (/; s/$/)/; s/^NaN)$/-/') | \`$t\` |"
  done <"$WORK/lines"
} >"$WORK/table"
{ cat "$WORK/lines"; echo; cat "$WORK/table"; } >"$OUT"
cat "$WORK/table"

# profile floor c1_p50 c1_p99 c16_p50 failover_s
awk '{
  for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
  printf "%s %s %s %s %s %.2f\n", $2, v["floor_ms"], v["c1_p50_ms"], v["c1_p99_ms"], v["c16_p50_ms"], v["failover_ms"] / 1000
}' "$WORK/lines" >"$WORK/data"
gnuplot <<EOF
set terminal pngcairo size 1100,460 font ",10"
set output "$PNG"
set multiplot layout 1,2 title "Each profile under emulated WAN round trips (cluster.sh up --hosts --wan)"
set style data histogram
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set grid ytics
set key top left
set ylabel "submit latency (ms, log scale)"
set logscale y
set yrange [0.1:*]
set title "submit latency beside its floor (gateway->leader + nearest quorum RTT)"
plot "$WORK/data" using 2:xtic(1) title "floor", "" using 3 title "p50, 1 in flight", \
     "" using 4 title "p99, 1 in flight", "" using 5 title "p50, 16 in flight"
set title "failover: leader killed -> first receipt of a later epoch"
set ylabel "seconds"
unset logscale y
set yrange [0:*]
set key off
plot "$WORK/data" using 6:xtic(1) title "failover" lc rgb "#c0504d"
unset multiplot
EOF
echo "wrote $OUT and $PNG" >&2
