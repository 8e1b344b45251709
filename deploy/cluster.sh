#!/usr/bin/env bash
# deploy/cluster.sh — the one way to run a local cluster (docs/OPERATIONS.md).
#
#   up [--profile NAME] [--dir DIR] [--workers N] [--worker-args "..."]
#      [--gateway-args "..."] [--replica-args "..."] [--insecure] [--https]
#      [--monitoring [--scrape-interval DUR] [--alert-for DUR]]   also run Prometheus
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
#   heal [--dir DIR]              remove every rule partition added (down also heals)
#   cert NAME [--kind K --domain D] [--cluster-id ID] [--dir DIR]
#                                 (re)issue DIR/tls/NAME.pem and NAME.key from the cluster CA
#                                 (kind and domain of a process in the table by default)
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
# Everything listens on 127.0.0.1, so partitions tell packets apart by port: each replica
# also listens on one peer-link port per other replica (cluster.proto PeerLink, table in
# DIR/links), and partition drops the ports of the links it cuts.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
BIN=${REPORT_BIN_DIR:-$ROOT/build/bin}
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
MONITORING=0
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
    --monitoring) MONITORING=1; shift ;;
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
row_of() { awk -v n="$1" '$1==n' "$TABLE"; }

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

# issue_cert NAME KIND DOMAIN [CLUSTER_ID]: a new key and certificate, written beside the
# old ones and renamed over them (a running process never reads half a file).
issue_cert() {
  local name=$1 kind=$2 domain=$3 cid=${4:-}
  [[ -n $cid ]] || cid=$(cluster_id "$CLUSTER_FILE")
  [[ -n $cid ]] || die "no cluster_id in $CLUSTER_FILE"
  [[ $name =~ ^[A-Za-z0-9._-]+$ ]] || die "certificate name '$name' must be [A-Za-z0-9._-]"
  case $kind in replica|gateway|worker|operator) ;; *) die "unknown kind '$kind'" ;; esac
  [[ $domain =~ ^[A-Za-z0-9._-]+/[A-Za-z0-9._-]+/[A-Za-z0-9._-]+$ ]] ||
    die "certificate domain '$domain' must be PROVIDER/REGION/ZONE"
  local key=$TLS_DIR/$name.key.new pem=$TLS_DIR/$name.pem.new hosts=""
  # A gateway's certificate may also serve HTTPS to clients that check host names.
  [[ $kind == gateway ]] && hosts=",DNS:localhost,IP:127.0.0.1"
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
    [[ -f $TLS_DIR/$name.pem && -f $TLS_DIR/$name.key ]] || issue_cert "$name" "$kind" "$domain"
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
  printf '%s\n' "$@" >"$DIR/$name/cmd"
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
  local i=0 j d port aport links
  local -a grpc_ports=()
  : >"$LINKS"
  for d in "${replicas[@]}"; do free_port; grpc_ports+=("$PORT"); done
  for d in "${replicas[@]}"; do
    i=$((i + 1))
    port=${grpc_ports[$((i - 1))]}
    links=""
    for j in $(seq 1 ${#replicas[@]}); do
      ((j == i)) && continue
      local lport
      free_port; lport=$PORT
      links+=" peer_links { from_id: $j address: \"127.0.0.1:$lport\" }"
      echo "replica-$i replica-$j 127.0.0.1:$lport" >>"$LINKS"
    done
    echo "members { id: $i name: \"replica-$i\" domain: \"$d\" grpc_address: \"127.0.0.1:$port\"$links }" >>"$CLUSTER_FILE.tmp"
    free_port; aport=$PORT
    # shellcheck disable=SC2086
    add_process "replica-$i" replica "$d" "127.0.0.1:$port" "127.0.0.1:$aport" \
      "$BIN/report-replica" --id "$i" --domain "$d" --cluster "$CLUSTER_FILE" \
      --data-dir "$DIR/replica-$i/data" --admin-listen "127.0.0.1:$aport" "${tls[@]}" \
      $REPLICA_ARGS
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
    free_port; gport=$PORT
    free_port; hport=$PORT
    ((HTTPS)) && https=(--http-tls-cert "$TLS_DIR/$gname.pem" --http-tls-key "$TLS_DIR/$gname.key")
    echo "gateways { name: \"$gname\" domain: \"$d\" grpc_address: \"127.0.0.1:$gport\" http_address: \"127.0.0.1:$hport\" }" >>"$CLUSTER_FILE.tmp"
    if [[ -x $BIN/report-gateway ]]; then
      # shellcheck disable=SC2086
      add_process "$gname" gateway "$d" "127.0.0.1:$gport" "127.0.0.1:$hport" \
        "$BIN/report-gateway" --name "$gname" --domain "$d" --cluster "$CLUSTER_FILE" \
        --grpc-listen "127.0.0.1:$gport" --http-listen "127.0.0.1:$hport" "${tls[@]}" \
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
        free_port; aport=$PORT
        # shellcheck disable=SC2086
        add_process "worker-$i" worker "$d" - "127.0.0.1:$aport" \
          "$BIN/report-worker" --id "worker-$i" --domain "$d" --cluster "$CLUSTER_FILE" \
          --admin-listen "127.0.0.1:$aport" "${tls[@]}" $WORKER_ARGS
      done
    done
  fi
  ((MONITORING)) && add_prometheus
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
  tls_on || die "$DIR has no cluster CA (started with --insecure?)"
  local kind=$CERT_KIND domain=$CERT_DOMAIN row
  row=$(row_of "$name")
  if [[ -n $row ]]; then
    [[ -n $kind ]] || kind=$(awk '{print $2}' <<<"$row")
    [[ -n $domain ]] || domain=$(awk '{print $3}' <<<"$row")
  fi
  [[ $name == operator && -z $kind ]] && kind=operator
  [[ $kind == operator && -z $domain ]] && domain=-/-/-
  [[ -n $kind && -n $domain ]] || die "'$name' is not a process of $DIR: give --kind and --domain"
  issue_cert "$name" "$kind" "$domain" "$CERT_CLUSTER_ID"
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
