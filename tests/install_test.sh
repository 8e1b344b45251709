#!/usr/bin/env bash
# tests/install_test.sh BUILD_DIR: `cmake --install` into a temporary prefix puts the
# binaries, cluster.sh with its profiles and the systemd unit templates in place; the units
# name the installed binaries and pass `systemd-analyze verify`; the installed reportctl
# accepts every installed profile and the installed cluster.sh finds the installed binaries.
set -euo pipefail
BUILD=${1:?usage: install_test.sh BUILD_DIR}
fail() { echo "FAIL: $*" >&2; exit 1; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
PREFIX=$TMP/prefix
cmake --install "$BUILD" --prefix "$PREFIX" >"$TMP/install.log" 2>&1 ||
  { cat "$TMP/install.log" >&2; fail "cmake --install failed"; }

for b in report-replica report-gateway report-worker reportctl reportbench; do
  [[ -x $PREFIX/bin/$b ]] || fail "bin/$b not installed"
done
DEPLOY=$PREFIX/share/report/deploy
[[ -x $DEPLOY/cluster.sh ]] || fail "share/report/deploy/cluster.sh not installed"
[[ -f $DEPLOY/monitoring/alerts.yml ]] || fail "monitoring/alerts.yml not installed"
[[ -f $PREFIX/share/doc/report/OPERATIONS.md ]] || fail "docs not installed"
profiles=("$DEPLOY"/profiles/*.textproto)
((${#profiles[@]} >= 4)) || fail "profiles not installed (${#profiles[@]})"
for p in "${profiles[@]}"; do
  "$PREFIX/bin/reportctl" placement check "$p" >/dev/null || fail "reportctl rejects $p"
done

UNITS=$PREFIX/lib/systemd/system
for kind in replica gateway worker; do
  unit=$UNITS/report-$kind@.service
  [[ -f $unit ]] || fail "$unit not installed"
  grep -q "^ExecStart=$PREFIX/bin/report-$kind " "$unit" || fail "$unit does not run $PREFIX/bin/report-$kind"
  for key in Restart=on-failure LimitNOFILE= DynamicUser=yes NoNewPrivileges=yes \
      ProtectSystem=strict CapabilityBoundingSet= SystemCallFilter=; do
    grep -q "^$key" "$unit" || fail "$unit has no $key"
  done
  grep -q '@[A-Z_]*@' "$unit" && fail "$unit has an unreplaced @VARIABLE@"
done

# systemd-analyze verifies instances, not templates: one instance of each.
command -v systemd-analyze >/dev/null ||
  fail "systemd-analyze not found (deploy/install-deps.sh installs the systemd package)"
mkdir -p "$TMP/verify"
for kind in replica gateway worker; do
  cp "$UNITS/report-$kind@.service" "$TMP/verify/report-$kind@$kind-1.service"
done
if ! SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --man=no "$TMP"/verify/*.service \
    >"$TMP/verify.log" 2>&1; then
  cat "$TMP/verify.log" >&2
  fail "systemd-analyze verify rejects the units"
fi
if grep -v '^$' "$TMP/verify.log" | grep -q .; then
  cat "$TMP/verify.log" >&2
  fail "systemd-analyze verify warns about the units"
fi

# The installed cluster.sh runs the installed binaries (no build tree beside it).
out=$(env -u REPORT_BIN_DIR "$DEPLOY/cluster.sh" up --dir "$TMP/no-such" --profile nope 2>&1) && fail "up with an unknown profile succeeded"
grep -q "no profile 'nope'" <<<"$out" || fail "installed cluster.sh: $out"
echo "install: $(find "$PREFIX" -type f | wc -l) files under the prefix; units verified"
