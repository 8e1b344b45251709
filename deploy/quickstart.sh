#!/usr/bin/env bash
# README command one: installs what is missing (Debian packages), builds, starts a local
# cluster on the default cross-provider profile (.cluster/) and runs the seed's program as a
# user would: submit a report through the AWS gateway, watch a GCP worker complete it, read
# the status at the receipt's offset, and show where the report is.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
say() { printf '\n== %s\n' "$*"; }

say "installing dependencies (Debian packages; no-op when present)"
bash deploy/install-deps.sh
say "building (build/bin)"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j2 --target report-replica report-gateway report-worker reportctl

DIR=${REPORT_CLUSTER_DIR:-.cluster}
say "starting a local cross-provider cluster in $DIR"
if [[ -f $DIR/processes ]] && deploy/cluster.sh endpoints --dir "$DIR" | awk '$6!="-"' | grep -q .; then
  echo "a cluster is already running in $DIR; using it"
  deploy/cluster.sh endpoints --dir "$DIR"
else
  deploy/cluster.sh up --dir "$DIR"
fi
# reportctl presents the operator's certificate (mutual TLS, docs/SECURITY.md).
[[ -f $DIR/tls/operator.pem ]] && export REPORT_TLS_DIR=$DIR/tls
read -r _ _ GW_DOMAIN GW_GRPC GW_HTTP _ < <(deploy/cluster.sh endpoints --dir "$DIR" | awk '$2=="gateway"' | head -n 1)

ID=req-2026-04-acct-1
say "POST /reports through the AWS gateway ($GW_DOMAIN, http://$GW_HTTP)"
echo "curl http://$GW_HTTP/reports --json '{\"request_id\":\"$ID\",\"account_id\":\"acct-1\",\"month\":\"2026-04\"}'"
RECEIPT=$(curl -sS -X POST "http://$GW_HTTP/reports" -H 'Content-Type: application/json' \
  -d "{\"request_id\":\"$ID\",\"account_id\":\"acct-1\",\"month\":\"2026-04\"}")
echo "$RECEIPT"
OFFSET=$(echo "$RECEIPT" | sed -n 's/.*"accepted_offset":"\{0,1\}\([0-9]*\).*/\1/p')
[[ -n $OFFSET ]] || { echo "quickstart: no receipt: $RECEIPT" >&2; exit 1; }

say "following the request until a GCP worker completes it (status at offset >= $OFFSET)"
build/bin/reportctl status "$ID" --min-offset "$OFFSET" --wait 60s --gateway "$GW_GRPC"
STATUS=$(curl -sS "http://$GW_HTTP/reports/$ID?min_offset=$OFFSET&wait_ms=1000")
say "GET /reports/$ID?min_offset=$OFFSET"
echo "$STATUS"
echo "$STATUS" | grep -q '"state":"COMPLETED"' || { echo "quickstart: not completed" >&2; exit 1; }
LOCATION=$(echo "$STATUS" | sed -n 's/.*"report_location":"\([^"]*\)".*/\1/p')
say "the report is at $LOCATION"
head -c 700 "${LOCATION#file://}"
echo "..."

cat <<MSG

== your turn
  export REPORT_GATEWAY=$GW_GRPC REPORT_TLS_DIR=$DIR/tls
  build/bin/reportctl submit --request-id my-first --account acct-42 --month 2026-05
  build/bin/reportctl status my-first --wait 30s
  curl http://$GW_HTTP/reports --json '{"request_id":"my-second","account_id":"acct-7","month":"2026-06"}'
  curl "http://$GW_HTTP/reports/my-second?min_offset=1&wait_ms=2000"
  deploy/cluster.sh status --dir $DIR          # processes, roles, epochs, offsets
  deploy/cluster.sh kill replica-1 --dir $DIR  # a failure; submits keep working
  deploy/cluster.sh start replica-1 --dir $DIR
  deploy/cluster.sh down --dir $DIR [--wipe]   # stop (and delete the data)
MSG
