#!/usr/bin/env bash
# Installs every Debian package the build, the tests, the benchmarks and the fuzz targets
# (clang and its libFuzzer/sanitizer runtimes) need, then the npm packages that check
# docs/openapi.yaml (tools/openapi, pinned by its package-lock.json; once installed, the
# checks need no network). A no-op when everything is already present; needs root (or
# sudo) on Debian 12 for the Debian packages.
set -euo pipefail
PACKAGES=(
  build-essential cmake ninja-build pkg-config ccache
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libleveldb-dev libsnappy-dev libgoogle-glog-dev
  libgtest-dev libgmock-dev libboost-program-options-dev libboost-dev libssl-dev
  etcd-server etcd-client iptables iproute2 curl procps openssl
  prometheus
  systemd  # systemd-analyze: tests/install_test.sh verifies the unit templates
  clang libclang-rt-14-dev
  nodejs
)
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# The OpenAPI linter and response validator (tools/openapi/package.json), installed
# beside their package.json from the npm registry; `npm ci` only when the lock file
# changed since the last install.
install_openapi_checks() {
  local dir=$ROOT/tools/openapi
  if cmp -s "$dir/package-lock.json" "$dir/node_modules/.report-lock" 2>/dev/null; then
    return 0
  fi
  echo "installing the OpenAPI checks (npm ci in tools/openapi)" >&2
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  cp "$dir/package-lock.json" "$dir/node_modules/.report-lock"
}
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Debian's nodejs comes without npm; other builds of nodejs (NodeSource) carry their own.
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [[ ${#missing[@]} -eq 0 ]]; then
  install_openapi_checks
  exit 0
fi
SUDO=""
[[ $(id -u) -eq 0 ]] || SUDO=sudo
echo "installing: ${missing[*]}" >&2
# Packages with a service (prometheus) must not start it: `cluster.sh up --monitoring`
# runs its own Prometheus, on a port and data directory of its own. A policy-rc.d that
# denies every start is in place for the install (unless one already is).
POLICY=/usr/sbin/policy-rc.d
if [[ ! -e $POLICY ]]; then
  printf '#!/bin/sh\n# deploy/install-deps.sh: no service starts during the install\nexit 101\n' |
    $SUDO tee "$POLICY" >/dev/null
  $SUDO chmod 755 "$POLICY"
  trap '$SUDO rm -f "$POLICY"' EXIT
fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Where systemd runs, also keep the system Prometheus from starting at the next boot.
if [[ " ${missing[*]} " == *" prometheus "* ]] && [[ -d /run/systemd/system ]]; then
  $SUDO systemctl disable --now prometheus >/dev/null 2>&1 || true
fi
install_openapi_checks
