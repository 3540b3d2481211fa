#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Installs what is needed, builds Strata and runs every test suite: once in the default
# optimised build, once under AddressSanitizer + UndefinedBehaviorSanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."

bash build-aux/install-deps.sh

run_suite () {
  local dir="$1"; shift
  if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" "$@"
  fi
  ninja -C "$dir"
  meson test -C "$dir" --print-errorlogs --num-processes 2
}

echo "== Default build (debugoptimized) =="
run_suite _build

echo "== AddressSanitizer + UndefinedBehaviorSanitizer build =="
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export STRATA_TEST_SANITIZED=1
run_suite _build-asan -Db_sanitize=address,undefined -Db_lundef=false

echo "All test suites passed."
