#!/usr/bin/env bash
# Installs every Debian package the build, the tests, the benchmarks and the fuzz targets
# (clang and its libFuzzer/sanitizer runtimes) need.
# A no-op when they are already present; needs root (or sudo) on Debian 12.
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
)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [[ ${#missing[@]} -eq 0 ]]; then
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
