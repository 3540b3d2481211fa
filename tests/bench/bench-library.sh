#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
#
# The library's scan of 1,000 images (100 bases, 900 overlays, chains up to depth 5): cold
# and warm times and the model's memory. Builds tests/bench/bench-library.c against the
# engine of a build folder. Not a pass/fail test.
#
# Usage: tests/bench/bench-library.sh [BUILD_DIR] [WORKDIR]
set -eu

SRC=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(realpath "${1:-$SRC/_build}")
WORK=${2:-/var/tmp/strata-bench-library}

ninja -C "$BUILD" src/engine/libstrata-engine.a >/dev/null
BIN="$BUILD/bench-library"
# shellcheck disable=SC2046
cc -O2 -o "$BIN" "$SRC/tests/bench/bench-library.c" -I"$SRC/src/engine" \
  "$BUILD/src/engine/libstrata-engine.a" \
  $(pkg-config --cflags --libs gio-2.0 zlib libdeflate libzstd) -lpthread
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
"$BIN" "$WORK"
echo "load average after:  $(cut -d' ' -f1-3 /proc/loadavg)"
