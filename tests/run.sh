#!/usr/bin/env bash
# The test command of the README: installs what it needs (Debian packages), builds
# everything and runs every test (unit, simulation, integration, fault).
#   tests/run.sh [extra ctest args, e.g. -L unit]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
bash deploy/install-deps.sh
BUILD=${REPORT_BUILD_DIR:-build}
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" -j2
# Unit and simulation tests run two at a time; tests that start clusters run alone
# (RUN_SERIAL) so their timing is not at the mercy of a parallel build of work.
ctest --test-dir "$BUILD" --output-on-failure -j2 "$@"
