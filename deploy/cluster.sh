#!/usr/bin/env bash
# deploy/cluster.sh — the one way to run a local cluster (docs/OPERATIONS.md).
#
#   up [--profile NAME] [--dir DIR] [--workers N] [--worker-args "..."]
#      [--gateway-args "..."] [--replica-args "..."] [--insecure] [--https]
#      [--monitoring [--scrape-interval DUR] [--alert-for DUR]]   also run Prometheus
#      [--hosts]                  every process on a host of its own: a network namespace
#                                 with its own address on a bridge (root)
#      [--wan]                    (with --hosts) one-way delays between hosts from the
#                                 profile's latency table, through report-wan-relay
#      (mutual TLS by default: a cluster CA and one certificate per process in DIR/tls;
#       --insecure runs plaintext, for development only; --https serves the gateways'
#       public API as HTTPS with their certificates, valid for 127.0.0.1 and localhost)
#   down [--dir DIR] [--wipe]
#   status [--dir DIR]            human table
#   endpoints [--dir DIR]         NAME KIND DOMAIN GRPC_ADDR HTTP_ADDR PID
#   kill NAME [--signal SIG] [--dir DIR]
#   start NAME [--dir DIR]        (re)start one process on its existing data
#   kill-domain DOMAIN [--dir DIR]
#   partition NAME... [--dir DIR] cut replicas/gateways off with real packet drops (root)
#   partition A B --pair|--oneway (--hosts) cut only A<->B, or only what A sends to B
#   heal [--dir DIR]              remove every rule partition added (down also heals)
#   cert NAME [--kind K --domain D] [--cluster-id ID] [--san SANS] [--dir DIR]
#                                 (re)issue DIR/tls/NAME.pem and NAME.key from the cluster CA
#                                 (kind and domain of a process in the table by default;
#                                 --san adds names for HTTPS, e.g. DNS:api.example.com,IP:10.0.0.5)
#   cert ca --cluster-id ID [--dir DIR]
#                                 make DIR/tls/ca.pem and ca.key (certificates for real hosts)
#
# up also places one read gateway, gateway-read-1, in the first replica domain outside the
# profile's ingress domains when there is one (GCP in cross-provider): it serves reads and
# answers submits 503 DomainUnavailable (docs/API.md, "Gateways in every domain").
# Every process runs from $REPORT_BIN_DIR (default build/bin), in its own failure domain,
# with its own directory (data, log, pid) under DIR, and is stopped by its recorded pid.
# Every process serves /healthz, /readyz and /metrics on its HTTP_ADDR (a gateway on its
# public HTTP address, replicas and workers on --admin-listen). --monitoring also starts
# Prometheus (kind prometheus) scraping them all with deploy/monitoring/alerts.yml loaded;
# --alert-for overrides every alert's `for:` (tests and demos).
# Without --hosts everything listens on 127.0.0.1, so partitions tell packets apart by port: each replica
# also listens on one peer-link port per other replica (cluster.proto PeerLink, table in
# DIR/links), and partition drops the ports of the links it cuts.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
BIN=${REPORT_BIN_DIR:-$ROOT/build/bin}
# Installed (cmake --install): this script is PREFIX/share/report/deploy/cluster.sh.
if [[ -z ${REPORT_BIN_DIR:-} && ! -d $ROOT/build/bin && -x $ROOT/../../bin/report-replica ]]; then
  BIN=$(cd "$ROOT/../../bin" && pwd)
fi
[[ $BIN = /* ]] || BIN="$PWD/$BIN"

die() { echo "cluster.sh: error: $*" >&2; exit 1; }
usage() { awk 'NR > 1 && !/^#/ {exit} NR > 1 {sub(/^# ?/, ""); print}' "$0" >&2; exit 2; }

VERB=${1:-}
[[ -n $VERB ]] || usage
shift
DIR=.cluster
PROFILE=cross-provider
PROFILE_SET=0
WORKERS=1
WORKER_ARGS=""
GATEWAY_ARGS=""
REPLICA_ARGS=""
SIGNAL=KILL
WIPE=0
INSECURE=0
HTTPS=0
CERT_KIND=""
CERT_DOMAIN=""
CERT_CLUSTER_ID=""
CERT_SANS=""
MONITORING=0
HOSTS=0
WAN=0
PARTITION_MODE=""
SCRAPE_INTERVAL=5s
ALERT_FOR=""
ARGS=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --dir) DIR=${2:?--dir needs a value}; shift 2 ;;
    --profile) PROFILE=${2:?--profile needs a value}; PROFILE_SET=1; shift 2 ;;
    --workers) WORKERS=${2:?--workers needs a value}; shift 2 ;;
    --worker-args) WORKER_ARGS=${2-}; shift 2 ;;
    --gateway-args) GATEWAY_ARGS=${2-}; shift 2 ;;
    --replica-args) REPLICA_ARGS=${2-}; shift 2 ;;
    --signal) SIGNAL=${2:?--signal needs a value}; shift 2 ;;
    --wipe) WIPE=1; shift ;;
    --insecure) INSECURE=1; shift ;;
    --https) HTTPS=1; shift ;;
    --kind) CERT_KIND=${2:?--kind needs a value}; shift 2 ;;
    --domain) CERT_DOMAIN=${2:?--domain needs a value}; shift 2 ;;
    --cluster-id) CERT_CLUSTER_ID=${2:?--cluster-id needs a value}; shift 2 ;;
    --san) CERT_SANS=${2:?--san needs a value}; shift 2 ;;
    --monitoring) MONITORING=1; shift ;;
    --hosts) HOSTS=1; shift ;;
    --wan) WAN=1; shift ;;
    --pair) PARTITION_MODE=pair; shift ;;
    --oneway) PARTITION_MODE=oneway; shift ;;
    --scrape-interval) SCRAPE_INTERVAL=${2:?--scrape-interval needs a value}; shift 2 ;;
    --alert-for) ALERT_FOR=${2:?--alert-for needs a value}; shift 2 ;;
    -h|--help) usage ;;
    --*) die "unknown flag $1" ;;
    *) ARGS+=("$1"); shift ;;
  esac
done
[[ $WORKERS =~ ^[0-9]+$ ]] || die "--workers must be a number"
DURATION_RE='^[0-9]+(ms|s|m|h)$'
[[ $SCRAPE_INTERVAL =~ $DURATION_RE ]] || die "--scrape-interval must be a duration like 5s"
[[ -z $ALERT_FOR || $ALERT_FOR =~ $DURATION_RE ]] || die "--alert-for must be a duration like 30s"
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
CLUSTER_FILE=$DIR/cluster.textproto
TABLE=$DIR/processes   # NAME KIND DOMAIN GRPC_ADDR HTTP_ADDR
LINKS=$DIR/links       # TO_NAME FROM_NAME ADDR: where replica TO listens for replica FROM
RULES=$DIR/partition.rules
TLS_DIR=$DIR/tls       # ca.pem ca.key NAME.pem NAME.key (docs/SECURITY.md)
# One iptables chain per cluster directory, so clusters never touch each other's rules.
CHAIN="REPORT-$(printf '%s' "$DIR" | md5sum | cut -c1-12)"

profile_file() {
  local p=$1
  if [[ -f $p ]]; then echo "$p"; return; fi
  [[ -f $ROOT/deploy/profiles/$p.textproto ]] || die "no profile '$p' (see deploy/profiles/)"
  echo "$ROOT/deploy/profiles/$p.textproto"
}

# Values of a repeated string field of a text proto, one per line.
field_values() {
  sed -n "s/^[[:space:]]*$1:[[:space:]]*\"\([^\"]*\)\".*/\1/p" "$2"
}

ALLOCATED=" "
# A port is taken when any socket uses it, listening or not (an outgoing connection's
# local port blocks a later bind too).
port_in_use() { ss -Htan "sport = :$1" 2>/dev/null | grep -q .; }
# Ports are drawn below the kernel's ephemeral range, so no outgoing connection (ours or
# anyone's) can take one between the choice and the bind.
EPHEMERAL_LOW=$(awk '{print $1}' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
PORT_LOW=10000
PORT_SPAN=$((EPHEMERAL_LOW - PORT_LOW))
((PORT_SPAN > 1000)) || { PORT_LOW=20000; PORT_SPAN=10000; }
# Sets PORT (not echoed: a $(...) subshell would forget what this cluster already took).
free_port() {
  local p
  for _ in $(seq 1 200); do
    p=$((PORT_LOW + (RANDOM * 32768 + RANDOM) % PORT_SPAN))
    [[ $ALLOCATED == *" $p "* ]] && continue
    port_in_use "$p" && continue
    ALLOCATED+="$p "
    PORT=$p
    return
  done
  die "no free port found"
}

pid_of() { [[ -f $DIR/$1/pid ]] && cat "$DIR/$1/pid" || true; }
# Running, not merely unreaped: a killed process whose parent (init) has not reaped it yet
# still answers kill -0, but it is gone.
pid_running() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [[ ${stat%% *} != Z ]]
}
alive() { local p; p=$(pid_of "$1"); [[ -n $p ]] && pid_running "$p"; }
row_of() { [[ -f $TABLE ]] || return 0; awk -v n="$1" '$1==n' "$TABLE"; }

start_process() {
  local name=$1
  [[ -f $DIR/$name/cmd ]] || die "no process named '$name' in $DIR"
  if alive "$name"; then return 0; fi
  local -a cmd
  mapfile -t cmd <"$DIR/$name/cmd"
  setsid "${cmd[@]}" >>"$DIR/$name/log" 2>&1 </dev/null &
  echo $! >"$DIR/$name/pid"
}

# stop_pid PID [SIG] [GRACE_S]: signal, wait up to GRACE_S seconds (default 4), then KILL.
stop_pid() {
  local pid=$1 sig=${2:-TERM} grace=${3:-4}
  kill "-$sig" "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 $((grace * 50))); do pid_running "$pid" || return 0; sleep 0.02; done
  kill -KILL "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do pid_running "$pid" || return 0; sleep 0.05; done
}

# --- Certificates (docs/SECURITY.md) ------------------------------------------------
# A cluster made by `up` without --insecure has DIR/tls/ca.pem; every process then gets
# --tls-dir DIR/tls and a certificate whose URI SAN is
# spiffe://CLUSTER_ID/KIND/PROVIDER/REGION/ZONE/NAME. Keys are EC P-256, mode 0600.
tls_on() { [[ -f $TLS_DIR/ca.pem ]]; }
cluster_id() { sed -n 's/^cluster_id: *"\([^"]*\)".*/\1/p' "$1" | head -n 1; }

make_ca() {  # cluster_id
  command -v openssl >/dev/null 2>&1 || die "TLS needs openssl (or run up --insecure)"
  mkdir -p "$TLS_DIR"
  chmod 700 "$TLS_DIR"
  (umask 077 && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
    -out "$TLS_DIR/ca.key" 2>/dev/null) || die "openssl could not make the CA key"
  openssl req -x509 -new -key "$TLS_DIR/ca.key" -sha256 -days 3650 \
    -subj "/CN=report cluster CA $1" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out "$TLS_DIR/ca.pem" 2>/dev/null || die "openssl could not make the CA certificate"
}

# issue_cert NAME KIND DOMAIN [CLUSTER_ID [SANS]]: a new key and certificate, written beside
# the old ones and renamed over them (a running process never reads half a file). SANS are
# more subjectAltName entries ("DNS:name,IP:addr") for clients that check host names.
issue_cert() {
  local name=$1 kind=$2 domain=$3 cid=${4:-} sans=${5:-}
  [[ -n $cid ]] || cid=$(cluster_id "$CLUSTER_FILE")
  [[ -n $cid ]] || die "no cluster_id in $CLUSTER_FILE"
  [[ $name =~ ^[A-Za-z0-9._-]+$ ]] || die "certificate name '$name' must be [A-Za-z0-9._-]"
  case $kind in replica|gateway|worker|operator) ;; *) die "unknown kind '$kind'" ;; esac
  [[ $domain =~ ^[A-Za-z0-9._-]+/[A-Za-z0-9._-]+/[A-Za-z0-9._-]+$ ]] ||
    die "certificate domain '$domain' must be PROVIDER/REGION/ZONE"
  local key=$TLS_DIR/$name.key.new pem=$TLS_DIR/$name.pem.new hosts=""
  # A gateway's certificate may also serve HTTPS to clients that check host names.
  [[ $kind == gateway ]] && hosts=",DNS:localhost,IP:127.0.0.1"
  if [[ -n $sans ]]; then
    [[ $sans =~ ^((DNS:[A-Za-z0-9.*-]+|IP:[0-9A-Fa-f.:]+),?)+$ ]] ||
      die "--san '$sans' must be a comma-separated list of DNS:NAME and IP:ADDRESS"
    hosts+=",${sans%,}"
  fi
  (umask 077 && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
    -out "$key" 2>/dev/null) || die "openssl could not make a key for $name"
  openssl req -new -key "$key" -subj "/CN=$name" 2>/dev/null |
    openssl x509 -req -CA "$TLS_DIR/ca.pem" -CAkey "$TLS_DIR/ca.key" \
      -set_serial "0x$(openssl rand -hex 16)" -days 825 -sha256 \
      -extfile <(printf '%s\n' "subjectAltName=URI:spiffe://$cid/$kind/$domain/$name$hosts" \
        "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
        "extendedKeyUsage=serverAuth,clientAuth") \
      -out "$pem" 2>/dev/null || die "openssl could not sign a certificate for $name"
  chmod 600 "$key"
  chmod 644 "$pem"
  mv -f "$key" "$TLS_DIR/$name.key"
  mv -f "$pem" "$TLS_DIR/$name.pem"
}

# Certificates for every process in the table (and the operator) that has none yet.
issue_missing_certs() {
  tls_on || return 0
  local name kind domain
  while read -r name kind domain _; do
    case $kind in replica|gateway|worker) ;; *) continue ;; esac
    local sans=""
    [[ $kind == gateway ]] && hosts_on && sans="IP:$(hosts_addr_of "$name")"
    [[ -f $TLS_DIR/$name.pem && -f $TLS_DIR/$name.key ]] || issue_cert "$name" "$kind" "$domain" "" "$sans"
  done <"$TABLE"
  [[ -f $TLS_DIR/operator.pem ]] || issue_cert operator operator -/-/-
}

tls_args() {  # the flags a process's command line gets
  if ((INSECURE)); then echo --insecure; else echo --tls-dir; echo "$TLS_DIR"; fi
}

add_process() {  # name kind domain grpc http cmd...
  local name=$1 kind=$2 domain=$3 grpc=$4 http=$5
  shift 5
  mkdir -p "$DIR/$name"
  { host_exec_prefix "$name"; printf '%s\n' "$@"; } >"$DIR/$name/cmd"
  echo "$name $kind $domain $grpc $http" >>"$TABLE"
}

wait_ready() {
  local deadline=$((SECONDS + 30))
  while ((SECONDS < deadline)); do
    if "$BIN/reportctl" cluster --cluster "$CLUSTER_FILE" --json 2>/dev/null |
        grep -q '"role": *"leader"'; then
      local ok=1
      while read -r name kind _ _ http; do
        [[ $http == - ]] && continue
        local path=/healthz url="http://$http"
        [[ $kind == prometheus ]] && path=/-/ready
        local -a ca=()
        if grep -qs -- '--http-tls-cert' "$DIR/$name/cmd"; then
          url="https://$http"
          ca=(--cacert "$TLS_DIR/ca.pem")
        fi
        curl -fsS -m 1 "${ca[@]}" "$url$path" >/dev/null 2>&1 || ok=0
      done <"$TABLE"
      ((ok)) && return 0
    fi
    for n in $(awk '{print $1}' "$TABLE"); do
      alive "$n" || die "$n exited during start-up; see $DIR/$n/log: $(tail -n 3 "$DIR/$n/log" | tr '\n' ' ')"
    done
    sleep 0.1
  done
  die "cluster did not elect a leader / processes did not answer on HTTP within 30 s (logs in $DIR)"
}

cmd_up() {
  [[ -x $BIN/report-replica ]] || die "binaries not found in $BIN (build first, or set REPORT_BIN_DIR)"
  if [[ -f $TABLE ]]; then
    for n in $(awk '{print $1}' "$TABLE"); do
      alive "$n" && die "a cluster is already running in $DIR ($n); run: $0 down --dir $DIR"
    done
  fi
  # An existing cluster in DIR comes back on its data, with the same members and ports.
  if [[ -f $CLUSTER_FILE && -f $TABLE && -f $DIR/profile ]]; then
    if [[ $PROFILE_SET == 1 && $(cat "$DIR/profile") != "$PROFILE" ]]; then
      die "$DIR holds a $(cat "$DIR/profile") cluster; run: $0 down --dir $DIR --wipe"
    fi
    ((HOSTS)) && ! hosts_on && die "$DIR holds a cluster on 127.0.0.1; --hosts needs a new one (down --wipe first)"
    hosts_on && hosts_setup
    wan_on && wan_start_relays
    issue_missing_certs
    for n in $(awk '{print $1}' "$TABLE"); do start_process "$n"; done
    wait_ready
    echo "cluster restarted in $DIR (profile $(cat "$DIR/profile"))"
    cmd_endpoints
    return 0
  fi
  local pf
  pf=$(profile_file "$PROFILE")
  "$BIN/reportctl" placement check "$pf" >/dev/null || die "profile $pf is not safe"
  local -a replicas gateways workers
  mapfile -t replicas < <(field_values replica_domains "$pf")
  mapfile -t gateways < <(field_values gateway_placements "$pf")
  mapfile -t workers < <(field_values worker_placements "$pf")
  [[ ${#gateways[@]} -gt 0 ]] || mapfile -t gateways < <(field_values ingress_domains "$pf" | grep -E '^[^/]+/[^/]+/[^/]+$' || true)
  [[ ${#workers[@]} -gt 0 ]] || mapfile -t workers < <(field_values worker_domains "$pf" | grep -E '^[^/]+/[^/]+/[^/]+$' || true)
  : >"$TABLE"
  rm -f "$HOSTS_TABLE" "$HOSTS_NET" "$WAN_FILE"
  ((WAN && !HOSTS)) && die "--wan needs --hosts (delays are between hosts)"
  ((HOSTS)) && { hosts_teardown >/dev/null; hosts_init; }
  # shellcheck disable=SC2046
  ((WAN)) && wan_init "$pf" $(printf '%s\n' "${replicas[@]}" "${gateways[@]}" "${workers[@]}" | sort -u)
  local cid
  cid="local-$(basename "$DIR" | tr -c 'A-Za-z0-9._\n-' '-')-$RANDOM$RANDOM"
  rm -rf "$TLS_DIR"
  ((INSECURE)) || make_ca "$cid"
  local -a tls https=()
  mapfile -t tls < <(tls_args)
  ((HTTPS && INSECURE)) && die "--https needs the cluster's certificates (drop --insecure)"
  {
    echo "# Written by deploy/cluster.sh up --profile $PROFILE"
    echo "cluster_id: \"$cid\""
    echo "placement {"
    grep -v '^[[:space:]]*#' "$pf" | sed 's/^/  /'
    echo "}"
    # The cluster's one sink: every worker's effect keys and files come from here.
    echo "sink { name: \"file-sink\" directory: \"$DIR/sink\" }"
  } >"$CLUSTER_FILE.tmp"
  local i=0 j d grpc admin links
  local -a grpc_addrs=()
  : >"$LINKS"
  for d in "${replicas[@]}"; do
    i=$((i + 1))
    listen_at "replica-$i" grpc
    grpc_addrs+=("$ADDR")
  done
  i=0
  for d in "${replicas[@]}"; do
    i=$((i + 1))
    grpc=${grpc_addrs[$((i - 1))]}
    links=""
    # Peer links only on 127.0.0.1, where partitions tell links apart by port; hosts have
    # addresses of their own.
    hosts_on || for j in $(seq 1 ${#replicas[@]}); do
      ((j == i)) && continue
      local lport
      free_port; lport=$PORT
      links+=" peer_links { from_id: $j address: \"127.0.0.1:$lport\" }"
      echo "replica-$i replica-$j 127.0.0.1:$lport" >>"$LINKS"
    done
    echo "members { id: $i name: \"replica-$i\" domain: \"$d\" grpc_address: \"$grpc\"$links }" >>"$CLUSTER_FILE.tmp"
    listen_at "replica-$i" admin; admin=$ADDR
    local -a wan_args
    mapfile -t wan_args < <(wan_replica_args)
    # shellcheck disable=SC2086
    add_process "replica-$i" replica "$d" "$grpc" "$admin" \
      "$BIN/report-replica" --id "$i" --domain "$d" --cluster "$CLUSTER_FILE" \
      --data-dir "$DIR/replica-$i/data" --admin-listen "$admin" "${tls[@]}" \
      "${wan_args[@]}" $REPLICA_ARGS
  done
  i=0
  local -a gateway_names=()
  for d in "${gateways[@]}"; do
    i=$((i + 1))
    gateway_names+=("gateway-$i")
  done
  # One read gateway in the first replica domain outside the ingress set, if any.
  local -a ingress=()
  mapfile -t ingress < <(field_values ingress_domains "$pf")
  local read_domain="" p inside
  for d in "${replicas[@]}"; do
    inside=0
    for p in "${ingress[@]}"; do
      [[ $d == "$p" || $d == "$p"/* ]] && inside=1
    done
    if ((inside == 0)); then read_domain=$d; break; fi
  done
  if [[ -n $read_domain ]]; then
    gateways+=("$read_domain")
    gateway_names+=("gateway-read-1")
  fi
  for i in "${!gateways[@]}"; do
    local gport hport gname=${gateway_names[$i]}
    d=${gateways[$i]}
    listen_at "$gname" gateway-grpc; gport=$ADDR
    listen_at "$gname" http; hport=$ADDR
    ((HTTPS)) && https=(--http-tls-cert "$TLS_DIR/$gname.pem" --http-tls-key "$TLS_DIR/$gname.key")
    echo "gateways { name: \"$gname\" domain: \"$d\" grpc_address: \"$gport\" http_address: \"$hport\" }" >>"$CLUSTER_FILE.tmp"
    if [[ -x $BIN/report-gateway ]]; then
      # shellcheck disable=SC2086
      add_process "$gname" gateway "$d" "$gport" "$hport" \
        "$BIN/report-gateway" --name "$gname" --domain "$d" --cluster "$CLUSTER_FILE" \
        --grpc-listen "$gport" --http-listen "$hport" "${tls[@]}" \
        "${https[@]}" $GATEWAY_ARGS
    fi
  done
  mv "$CLUSTER_FILE.tmp" "$CLUSTER_FILE"
  echo "$PROFILE" >"$DIR/profile"
  i=0
  if [[ -x $BIN/report-worker ]]; then
    for d in "${workers[@]}"; do
      for _ in $(seq 1 "$WORKERS"); do
        i=$((i + 1))
        listen_at "worker-$i" admin; admin=$ADDR
        # shellcheck disable=SC2086
        add_process "worker-$i" worker "$d" - "$admin" \
          "$BIN/report-worker" --id "worker-$i" --domain "$d" --cluster "$CLUSTER_FILE" \
          --admin-listen "$admin" "${tls[@]}" $WORKER_ARGS
      done
    done
  fi
  ((MONITORING)) && add_prometheus
  hosts_on && hosts_setup
  wan_on && { wan_write_relays; wan_start_relays; }
  issue_missing_certs
  for n in $(awk '{print $1}' "$TABLE"); do start_process "$n"; done
  wait_ready
  if ((INSECURE)); then
    echo "cluster up in $DIR (profile $PROFILE) -- INSECURE: plaintext, no authentication"
  else
    echo "cluster up in $DIR (profile $PROFILE), mutual TLS (certificates in $TLS_DIR)"
  fi
  cmd_endpoints
}

# Prometheus (Debian's prometheus package) as one more process of the cluster, on a port
# and a data directory of its own: a scrape job per kind with every process's HTTP_ADDR,
# each target labelled with its name and domain, and the shipped alerts.
add_prometheus() {
  local prom
  prom=${PROMETHEUS:-$(command -v prometheus || true)}
  [[ -n $prom && -x $prom ]] || die "--monitoring needs Prometheus (deploy/install-deps.sh installs it; or set PROMETHEUS)"
  local pdir=$DIR/prometheus kind name domain http
  mkdir -p "$pdir/data"
  free_port
  local pport=$PORT
  if [[ -n $ALERT_FOR ]]; then
    sed -E "s/^([[:space:]]*for:).*/\1 $ALERT_FOR/" "$ROOT/deploy/monitoring/alerts.yml" >"$pdir/alerts.yml"
  else
    cp "$ROOT/deploy/monitoring/alerts.yml" "$pdir/alerts.yml"
  fi
  {
    echo "# Written by deploy/cluster.sh up --monitoring"
    echo "global:"
    echo "  scrape_interval: $SCRAPE_INTERVAL"
    echo "  scrape_timeout: $SCRAPE_INTERVAL"
    echo "  evaluation_interval: $SCRAPE_INTERVAL"
    echo "  external_labels: {cluster: \"$(sed -n 's/^cluster_id: "\(.*\)"/\1/p' "$CLUSTER_FILE")\"}"
    echo "rule_files: [\"$pdir/alerts.yml\"]"
    echo "scrape_configs:"
    for kind in replica gateway worker; do
      echo "  - job_name: $kind"
      if [[ $kind == gateway ]] && grep -qs -- '--http-tls-cert' "$DIR"/gateway-*/cmd; then
        echo "    scheme: https"
        echo "    tls_config: {ca_file: \"$TLS_DIR/ca.pem\"}"
      fi
      echo "    static_configs:"
      while read -r name _ domain _ http; do
        [[ $http == - ]] && continue
        echo "      - targets: [\"$http\"]"
        echo "        labels: {name: \"$name\", domain: \"$domain\"}"
      done < <(awk -v k="$kind" '$2==k' "$TABLE")
    done
    echo "  - job_name: prometheus"
    echo "    static_configs:"
    echo "      - targets: [\"127.0.0.1:$pport\"]"
    echo "        labels: {name: \"prometheus\"}"
  } >"$pdir/prometheus.yml"
  add_process prometheus prometheus - - "127.0.0.1:$pport" \
    "$prom" --config.file="$pdir/prometheus.yml" --storage.tsdb.path="$pdir/data" \
    --web.listen-address="127.0.0.1:$pport" --storage.tsdb.retention.time=7d
}

cmd_down() {
  heal_rules || true
  if [[ -f $TABLE ]]; then
    # Workers and gateways first, so nothing is left talking to stopped replicas; within
    # each group every process is signalled at once, then waited for.
    # Gateways drain on TERM: each submit in progress is answered (committed or timed
    # out, --submit-timeout-ms 10 s by default) before they exit, so they get 15 s.
    local group n p grace
    for group in '$2!="replica"' '$2=="replica"'; do
      grace=4
      [[ $group == '$2!="replica"' ]] && grace=15
      local pids=()
      for n in $(awk "$group"'{print $1}' "$TABLE"); do
        p=$(pid_of "$n")
        if [[ -n $p ]] && pid_running "$p"; then
          kill -TERM "$p" 2>/dev/null || true
          pids+=("$p")
        fi
        rm -f "$DIR/$n/pid"
      done
      for p in "${pids[@]}"; do stop_pid "$p" TERM "$grace"; done
    done
  fi
  wan_stop_relays
  hosts_on && hosts_teardown
  if ((WIPE)); then
    rm -rf "$DIR"
    echo "cluster in $DIR stopped and wiped"
  else
    echo "cluster in $DIR stopped"
  fi
}

cmd_endpoints() {
  [[ -f $TABLE ]] || die "no cluster in $DIR"
  while read -r name kind domain grpc http; do
    local p
    p=$(pid_of "$name")
    alive "$name" || p=-
    echo "$name $kind $domain $grpc $http ${p:--}"
  done <"$TABLE"
}

cmd_status() {
  [[ -f $TABLE ]] || die "no cluster in $DIR"
  printf '%-12s %-8s %-34s %-21s %-21s %-8s %s\n' NAME KIND DOMAIN GRPC HTTP PID ALIVE
  while read -r name kind domain grpc http; do
    local p a=no
    p=$(pid_of "$name")
    alive "$name" && a=yes
    printf '%-12s %-8s %-34s %-21s %-21s %-8s %s\n' "$name" "$kind" "$domain" "$grpc" "$http" "${p:--}" "$a"
  done <"$TABLE"
  if [[ -f $RULES ]]; then
    echo
    sed -n 's/^# partition /partitioned (until heal): /p' "$RULES"
  fi
  echo
  "$BIN/reportctl" cluster --cluster "$CLUSTER_FILE" || true
}

cmd_kill() {
  local name=${ARGS[0]:-}
  [[ -n $name ]] || die "kill needs a process NAME"
  [[ -n $(row_of "$name") ]] || die "no process named '$name' in $DIR"
  local p
  p=$(pid_of "$name")
  [[ -n $p ]] && pid_running "$p" || die "$name is not running"
  kill "-$SIGNAL" "$p"
  if [[ $SIGNAL == KILL || $SIGNAL == 9 ]]; then
    for _ in $(seq 1 100); do pid_running "$p" || break; sleep 0.02; done
  fi
}

cmd_start() {
  local name=${ARGS[0]:-}
  [[ -n $name ]] || die "start needs a process NAME"
  [[ -n $(row_of "$name") ]] || die "no process named '$name' in $DIR"
  issue_missing_certs
  start_process "$name"
}

cmd_cert() {
  local name=${ARGS[0]:-}
  [[ -n $name ]] || die "cert needs a NAME"
  if [[ $name == ca ]]; then
    [[ -n $CERT_CLUSTER_ID ]] || die "cert ca needs --cluster-id ID (the cluster file's cluster_id)"
    [[ $CERT_CLUSTER_ID =~ ^[A-Za-z0-9._-]+$ ]] || die "--cluster-id must be [A-Za-z0-9._-]"
    tls_on && die "$TLS_DIR/ca.pem exists: a cluster has one CA (remove it by hand to start over)"
    make_ca "$CERT_CLUSTER_ID"
    echo "$TLS_DIR/ca.pem"
    return 0
  fi
  tls_on || die "$DIR has no cluster CA (started with --insecure? or make one: $0 cert ca --cluster-id ID --dir $DIR)"
  local kind=$CERT_KIND domain=$CERT_DOMAIN row
  row=$(row_of "$name")
  if [[ -n $row ]]; then
    [[ -n $kind ]] || kind=$(awk '{print $2}' <<<"$row")
    [[ -n $domain ]] || domain=$(awk '{print $3}' <<<"$row")
  fi
  [[ $name == operator && -z $kind ]] && kind=operator
  [[ $kind == operator && -z $domain ]] && domain=-/-/-
  [[ -n $kind && -n $domain ]] || die "'$name' is not a process of $DIR: give --kind and --domain"
  [[ -n $CERT_CLUSTER_ID || -f $CLUSTER_FILE ]] || die "no $CLUSTER_FILE here: give --cluster-id"
  issue_cert "$name" "$kind" "$domain" "$CERT_CLUSTER_ID" "$CERT_SANS"
  echo "$TLS_DIR/$name.pem"
}

cmd_kill_domain() {
  local domain=${ARGS[0]:-}
  [[ -n $domain ]] || die "kill-domain needs a DOMAIN"
  local n killed=0
  for n in $(awk -v d="$domain" '$3==d || index($3, d"/")==1 {print $1}' "$TABLE"); do
    if alive "$n"; then
      kill -KILL "$(pid_of "$n")"
      killed=$((killed + 1))
    fi
  done
  ((killed > 0)) || die "no running process in domain $domain"
  echo "killed $killed process(es) in $domain"
}


require_iptables() {
  command -v iptables >/dev/null 2>&1 || die "partition needs iptables, which is not installed"
  local err
  err=$(iptables -w -S INPUT 2>&1 >/dev/null) ||
    die "partition needs root and a working iptables (iptables -S INPUT failed: $err)"
}

port_of() { echo "${1##*:}"; }

# Ports to drop so that the named processes are cut off from everything else. A replica
# loses its client port, the links others use to reach it and the links it uses to reach
# others; links between two named replicas stay up (they form one side of the partition).
partition_ports() {
  local -A named=()
  local name
  for name in "$@"; do named[$name]=1; done
  for name in "$@"; do
    local row kind grpc http
    row=$(row_of "$name")
    [[ -n $row ]] || die "no process named '$name' in $DIR"
    read -r _ kind _ grpc http <<<"$row"
    case $kind in
      replica)
        [[ -s $LINKS ]] || die "$DIR has no peer-link table (cluster made before partition support); run: $0 down --dir $DIR --wipe, then up"
        port_of "$grpc"
        local to from addr
        while read -r to from addr; do
          if [[ $to == "$name" && -z ${named[$from]:-} ]] ||
             [[ $from == "$name" && -z ${named[$to]:-} ]]; then
            port_of "$addr"
          fi
        done <"$LINKS"
        ;;
      gateway) port_of "$grpc"; port_of "$http" ;;
      *) die "$name is a $kind: it listens on no port, so it cannot be cut off by port; partition the replicas or gateway it talks to, or kill it" ;;
    esac
  done
}

cmd_partition() {
  ((${#ARGS[@]} > 0)) || die "partition needs at least one process NAME"
  [[ -f $TABLE ]] || die "no cluster in $DIR"
  if hosts_on; then hosts_partition; return; fi
  [[ -z $PARTITION_MODE ]] || die "partition --$PARTITION_MODE needs a cluster made with up --hosts"
  local -a ports
  local listed
  listed=$(partition_ports "${ARGS[@]}")  # exits here (set -e) on an unknown or worker name
  mapfile -t ports < <(sort -un <<<"$listed")
  [[ ${#ports[@]} -gt 0 ]] || die "nothing to partition"
  require_iptables
  iptables -w -N "$CHAIN" 2>/dev/null || true
  local hook
  for hook in "INPUT -i lo" "OUTPUT -o lo"; do
    # shellcheck disable=SC2086
    iptables -w -C $hook -j "$CHAIN" 2>/dev/null || iptables -w -I $hook -j "$CHAIN"
  done
  [[ -f $RULES ]] || echo "# chain $CHAIN, jumped to from INPUT -i lo and OUTPUT -o lo" >"$RULES"
  echo "# partition ${ARGS[*]}" >>"$RULES"
  local p dir
  for p in "${ports[@]}"; do
    # Both directions: new connections and already established flows die alike.
    for dir in --dport --sport; do
      iptables -w -A "$CHAIN" -p tcp "$dir" "$p" -j DROP
      echo "-A $CHAIN -p tcp $dir $p -j DROP" >>"$RULES"
    done
  done
  echo "partitioned ${ARGS[*]} (dropping tcp ports ${ports[*]}); undo with: $0 heal --dir $DIR"
}

# Removes the cluster's chain and the jumps to it; quiet when there is nothing to remove.
heal_rules() {
  [[ -f $RULES ]] || return 0
  if hosts_on; then hosts_heal; return; fi
  if command -v iptables >/dev/null 2>&1; then
    local hook
    for hook in "INPUT -i lo" "OUTPUT -o lo"; do
      # shellcheck disable=SC2086
      while iptables -w -C $hook -j "$CHAIN" 2>/dev/null; do iptables -w -D $hook -j "$CHAIN"; done
    done
    iptables -w -F "$CHAIN" 2>/dev/null || true
    iptables -w -X "$CHAIN" 2>/dev/null || true
    if iptables -w -S "$CHAIN" >/dev/null 2>&1; then
      echo "cluster.sh: warning: could not delete iptables chain $CHAIN" >&2
      return 1
    fi
  fi
  rm -f "$RULES"
  echo "healed: removed iptables chain $CHAIN"
}

cmd_heal() {
  [[ -f $RULES ]] || { echo "nothing to heal in $DIR"; return 0; }
  require_iptables
  heal_rules
}

# --- Hosts (up --hosts; docs/OPERATIONS.md "Hosts and WANs") ---------------------------
# Every process of the cluster gets a network namespace of its own (a "host") with one
# address on a bridge that this script creates, so nothing shares 127.0.0.1: the cluster
# file and `endpoints` name those addresses, each process listens on fixed ports of its own
# address, partitions drop packets by address inside the hosts' own namespaces, and `down`
# removes every namespace, link and rule. The root namespace holds the bridge's first
# address, so tests, reportctl and Prometheus reach every host. Needs root and iproute2.
#   DIR/hosts.net   BRIDGE PREFIX (the /24 is PREFIX.0/24; the root namespace is PREFIX.1)
#   DIR/hosts       NAME NETNS ADDRESS HOST_SIDE_LINK
HOSTS_NET=$DIR/hosts.net
HOSTS_TABLE=$DIR/hosts
HOSTS_ID=$(printf '%s' "$DIR" | md5sum | cut -c1-8)
HOSTS_BRIDGE=rb-$HOSTS_ID
HOSTS_CHAIN=REPORT-PARTITION
hosts_on() { [[ -f $HOSTS_TABLE ]]; }
hosts_require() {
  [[ $(id -u) -eq 0 ]] || die "--hosts needs root (network namespaces, a bridge, veth links)"
  command -v ip >/dev/null 2>&1 || die "--hosts needs iproute2 (ip)"
  command -v iptables >/dev/null 2>&1 || die "--hosts needs iptables (partitions)"
}
hosts_prefix() { awk '{print $2}' "$HOSTS_NET"; }

# A /24 of 10.77.0.0/16 that no interface or route of the root namespace uses yet, drawn
# from the directory's digest so that two clusters rarely even try the same one.
hosts_init() {
  hosts_require
  local start=$((16#${HOSTS_ID:0:2})) k x
  for k in $(seq 0 255); do
    x=$(((start + k) % 256))
    [[ -z $(ip -4 route show to match "10.77.$x.1" | grep -v '^default') ]] || continue
    ip -4 -o addr show | grep -q " 10\.77\.$x\." && continue
    echo "$HOSTS_BRIDGE 10.77.$x" >"$HOSTS_NET"
    : >"$HOSTS_TABLE"
    return 0
  done
  die "no free /24 in 10.77.0.0/16 for the hosts' bridge"
}

# Sets HOST_ADDR to NAME's address, giving it the next one if it has none yet.
hosts_add() {
  local name=$1 row n
  row=$(awk -v n="$name" '$1==n' "$HOSTS_TABLE")
  if [[ -z $row ]]; then
    n=$(($(wc -l <"$HOSTS_TABLE") + 1))
    ((n <= 240)) || die "more than 240 hosts"
    row="$name rp-$HOSTS_ID-$name $(hosts_prefix).$((n + 10)) rv$HOSTS_ID$n"
    echo "$row" >>"$HOSTS_TABLE"
  fi
  HOST_ADDR=$(awk '{print $3}' <<<"$row")
}
hosts_ns_of() { awk -v n="$1" '$1==n {print $2}' "$HOSTS_TABLE"; }
hosts_addr_of() { awk -v n="$1" '$1==n {print $3}' "$HOSTS_TABLE"; }

# The fixed port of each listening role on a host (every host has its own address).
hosts_port() {
  case $1 in
    grpc) echo 7001 ;; gateway-grpc) echo 7100 ;; http) echo 8080 ;; admin) echo 9100 ;;
    *) die "no port for role $1" ;;
  esac
}

# Sets ADDR to HOST:PORT where process NAME listens in ROLE: its host's address and the
# role's port under --hosts, else 127.0.0.1 and a free port.
listen_at() {
  local name=$1 role=$2
  if hosts_on; then
    hosts_add "$name"
    ADDR="$HOST_ADDR:$(hosts_port "$role")"
  else
    free_port
    ADDR="127.0.0.1:$PORT"
  fi
}

# The command prefix that runs a process on its host (nothing without --hosts).
host_exec_prefix() {
  local ns
  hosts_on || return 0
  ns=$(hosts_ns_of "$1")
  [[ -n $ns ]] || return 0
  printf '%s\n' ip netns exec "$ns"
}

# Creates the bridge and every host of the table that does not exist yet (fresh `up`, and
# `up` of a stopped cluster, which comes back on the same addresses).
hosts_setup() {
  hosts_require
  local bridge prefix name ns addr link
  read -r bridge prefix <"$HOSTS_NET"
  if ! ip link show "$bridge" >/dev/null 2>&1; then
    ip link add "$bridge" type bridge || die "cannot create bridge $bridge"
    ip addr add "$prefix.1/24" dev "$bridge"
    ip link set "$bridge" up
  fi
  while read -r name ns addr link; do
    ip netns list | awk '{print $1}' | grep -qx "$ns" && continue
    ip netns add "$ns" || die "cannot create network namespace $ns"
    ip link add "$link" type veth peer name "${link/rv/rp}" || die "cannot create veth $link"
    ip link set "${link/rv/rp}" netns "$ns"
    ip -n "$ns" link set "${link/rv/rp}" name eth0
    ip -n "$ns" addr add "$addr/24" dev eth0
    ip -n "$ns" link set lo up
    ip -n "$ns" link set eth0 up
    ip link set "$link" master "$bridge"
    ip link set "$link" up
  done <"$HOSTS_TABLE"
}

# Removes every host and the bridge. Everything named after this directory's digest goes,
# whether or not the table lists it (a crashed `up` may have made more than it wrote).
hosts_teardown() {
  local ns link left=0
  command -v ip >/dev/null 2>&1 || return 0
  for ns in $(ip netns list | awk '{print $1}' | grep "^rp-$HOSTS_ID-" || true); do
    if [[ -n $(ip netns pids "$ns" 2>/dev/null) ]]; then
      echo "cluster.sh: warning: processes still run in $ns: $(ip netns pids "$ns" | tr '\n' ' ')" >&2
      left=1
    fi
    ip netns del "$ns" 2>/dev/null || true
  done
  for link in $(ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' |
      grep -E "^(rv$HOSTS_ID[0-9]+|$HOSTS_BRIDGE)$" || true); do
    ip link del "$link" 2>/dev/null || true
  done
  ((left == 0)) && echo "removed the hosts' namespaces, links and bridge $HOSTS_BRIDGE"
}

# In NAME's namespace: drop what it sends to ADDR (out), receives from ADDR (in), or both.
hosts_drop() {
  local ns=$1 addr=$2 dir=$3
  ip netns exec "$ns" iptables -w -N "$HOSTS_CHAIN" 2>/dev/null || true
  local hook
  for hook in INPUT OUTPUT; do
    ip netns exec "$ns" iptables -w -C "$hook" -j "$HOSTS_CHAIN" 2>/dev/null ||
      ip netns exec "$ns" iptables -w -I "$hook" -j "$HOSTS_CHAIN"
  done
  if [[ $dir == out || $dir == both ]]; then
    ip netns exec "$ns" iptables -w -A "$HOSTS_CHAIN" -d "$addr" -j DROP
    echo "$ns -d $addr -j DROP" >>"$RULES"
  fi
  if [[ $dir == in || $dir == both ]]; then
    ip netns exec "$ns" iptables -w -A "$HOSTS_CHAIN" -s "$addr" -j DROP
    echo "$ns -s $addr -j DROP" >>"$RULES"
  fi
}

# partition NAME...: the named hosts lose every other host and the root namespace (the
# clients); --pair A B cuts only A<->B; --oneway A B drops only what A sends to B.
hosts_partition() {
  local -a names=("${ARGS[@]}")
  local name
  for name in "${names[@]}"; do
    [[ -n $(hosts_ns_of "$name") ]] || die "no process named '$name' in $DIR"
  done
  if [[ -n $PARTITION_MODE ]]; then
    ((${#names[@]} == 2)) || die "partition --$PARTITION_MODE takes two names: A B"
    [[ ${names[0]} != "${names[1]}" ]] || die "partition --$PARTITION_MODE needs two different hosts"
  fi
  [[ -f $RULES ]] || echo "# rules in the hosts' namespaces, chain $HOSTS_CHAIN" >"$RULES"
  local a b
  a=${names[0]}
  b=${names[1]:-}
  case $PARTITION_MODE in
    pair)
      echo "# partition ${a}<->${b}" >>"$RULES"
      hosts_drop "$(hosts_ns_of "$a")" "$(hosts_addr_of "$b")" both
      hosts_drop "$(hosts_ns_of "$b")" "$(hosts_addr_of "$a")" both
      echo "partitioned $a <-> $b; undo with: $0 heal --dir $DIR" ;;
    oneway)
      echo "# partition ${a}->${b}" >>"$RULES"
      hosts_drop "$(hosts_ns_of "$a")" "$(hosts_addr_of "$b")" out
      echo "partitioned $a -> $b (packets from $a to $b are dropped; $b -> $a still flows); undo with: $0 heal --dir $DIR" ;;
    *)
      echo "# partition ${names[*]}" >>"$RULES"
      local -A named=()
      for name in "${names[@]}"; do named[$name]=1; done
      local other others=("$(hosts_prefix).1")
      while read -r other _; do
        [[ -z ${named[$other]:-} ]] && others+=("$(hosts_addr_of "$other")")
      done <"$HOSTS_TABLE"
      for name in "${names[@]}"; do
        for other in "${others[@]}"; do hosts_drop "$(hosts_ns_of "$name")" "$other" both; done
      done
      echo "partitioned ${names[*]} (from the other hosts and the root namespace); undo with: $0 heal --dir $DIR" ;;
  esac
}

hosts_heal() {
  local name ns
  while read -r name ns _; do
    ip netns list | awk '{print $1}' | grep -qx "$ns" || continue
    local hook
    for hook in INPUT OUTPUT; do
      while ip netns exec "$ns" iptables -w -C "$hook" -j "$HOSTS_CHAIN" 2>/dev/null; do
        ip netns exec "$ns" iptables -w -D "$hook" -j "$HOSTS_CHAIN"
      done
    done
    ip netns exec "$ns" iptables -w -F "$HOSTS_CHAIN" 2>/dev/null || true
    ip netns exec "$ns" iptables -w -X "$HOSTS_CHAIN" 2>/dev/null || true
  done <"$HOSTS_TABLE"
  rm -f "$RULES"
  echo "healed: removed the partition rules in every host"
}

# --- WAN (up --hosts --wan) -------------------------------------------------------------
# One-way delays between hosts from the profile's latency table (proto/cluster.proto
# LatencyTable; `reportctl placement latency` turns it into round trips per domain pair),
# made by report-wan-relay: in each replica's host the relay listens on the host's gRPC
# address and the replica on 127.0.0.1 behind it, and every byte of a connection from
# another host waits half that pair's round trip, in each direction. The root namespace
# (clients, reportctl) gets no delay: a client sits next to the gateway it uses. Replicas also
# get the consensus timing that fits the slowest replica pair (--tick-ms, --heartbeat-ticks,
# --election-ticks), unless --replica-args sets it.
#   DIR/wan          the `reportctl placement latency` lines for the cluster's domains
#   DIR/NAME/relay.cmd, relay.pid, relay.log   per replica host
WAN_FILE=$DIR/wan
wan_on() { [[ -f $WAN_FILE ]]; }

# wan_init PROFILE_FILE DOMAIN...: the round trips and timing of this placement.
wan_init() {
  local pf=$1
  shift
  [[ -x $BIN/report-wan-relay ]] || die "--wan needs $BIN/report-wan-relay (build it)"
  "$BIN/reportctl" placement latency "$pf" "$@" >"$WAN_FILE.tmp" ||
    { rm -f "$WAN_FILE.tmp"; die "no usable latency table in $pf"; }
  mv "$WAN_FILE.tmp" "$WAN_FILE"
}

# The replica flags --wan adds: listen behind the relay, and the placement's timing.
wan_replica_args() {
  wan_on || return 0
  printf '%s\n' --listen "127.0.0.1:$(hosts_port grpc)"
  if [[ ! $REPLICA_ARGS =~ --(tick-ms|heartbeat-ticks|election-ticks) ]]; then
    sed -n 's/^timing //p' "$WAN_FILE" | tr ' ' '\n'
  fi
}

wan_rtt() { awk -v a="$1" -v b="$2" '$1=="rtt" && $2==a && $3==b {print $4; exit}' "$WAN_FILE"; }

# Writes each replica host's relay command: one --delay per other host, by domain pair.
wan_write_relays() {
  local name kind domain grpc other okind odomain jitter delays rtt
  jitter=$(awk '$1=="jitter" {print $2}' "$WAN_FILE")
  while read -r name kind domain grpc _; do
    [[ $kind == replica ]] || continue
    delays=()
    while read -r other okind odomain _; do
      [[ $other == "$name" || $okind == prometheus ]] && continue
      rtt=$(wan_rtt "$odomain" "$domain")
      [[ -n $rtt ]] || die "no round trip for $odomain - $domain in $WAN_FILE"
      delays+=(--delay "$(hosts_addr_of "$other")=$(awk -v r="$rtt" 'BEGIN {print r / 2}')")
    done <"$TABLE"
    printf '%s\n' ip netns exec "$(hosts_ns_of "$name")" "$BIN/report-wan-relay" \
      --route "$grpc=127.0.0.1:${grpc##*:}" --jitter-ms "${jitter:-0}" "${delays[@]}" \
      >"$DIR/$name/relay.cmd"
  done <"$TABLE"
}

wan_start_relays() {
  local f name pid
  for f in "$DIR"/*/relay.cmd; do
    [[ -f $f ]] || continue
    name=$(basename "$(dirname "$f")")
    pid=$(cat "$DIR/$name/relay.pid" 2>/dev/null || true)
    [[ -n $pid ]] && pid_running "$pid" && continue
    local -a cmd
    mapfile -t cmd <"$f"
    setsid "${cmd[@]}" >>"$DIR/$name/relay.log" 2>&1 </dev/null &
    echo $! >"$DIR/$name/relay.pid"
  done
}

wan_stop_relays() {
  local f pid
  for f in "$DIR"/*/relay.pid; do
    [[ -f $f ]] || continue
    pid=$(cat "$f")
    [[ -n $pid ]] && stop_pid "$pid" TERM 2
    rm -f "$f"
  done
}

case "$VERB" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  endpoints) cmd_endpoints ;;
  kill) cmd_kill ;;
  start) cmd_start ;;
  kill-domain) cmd_kill_domain ;;
  partition) cmd_partition ;;
  heal) cmd_heal ;;
  cert) cmd_cert ;;
  -h|--help|help) usage ;;
  *) die "unknown verb '$VERB' (up, down, status, endpoints, kill, start, kill-domain, partition, heal, cert)" ;;
esac
