#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Benchmark (not a test): the longest main-loop stall while the app converts the 1 GiB VMDK of
# tests/bench to a compressed qcow2 and commits an overlay (76 MiB written) into a copy of
# that compressed base and into the base itself (target: < 50 ms), and the conversion's wall
# time through the app against `strata-img convert -c -O qcow2` on the same input, same
# thread count (target: ≤ 1.05×).
#
#   bash tests/app/bench-stall.sh [BUILD_DIR] [SOURCE.vmdk]
#
# SOURCE defaults to bench-convert.sh's cached 1 GiB guest ($BENCH_DIR/disk.vmdk, BENCH_DIR
# default /var/tmp/strata-bench-vmdk-1g). Runs under Xvfb with a private session bus and the
# app tests' environment (GSK_RENDERER=cairo); the outputs go to a scratch folder next to
# the source, checked with qemu-img check (the conversion compared with the source by the
# program, before the commits change it), then removed.
set -euo pipefail
build="$(realpath "${1:-_build}")"
bench_dir="${BENCH_DIR:-/var/tmp/strata-bench-vmdk-1g}"
src="$(realpath "${2:-$bench_dir/disk.vmdk}")"
img="$build/src/cli/strata-img"
bench="$build/tests/app/wizards/bench-stall"
[ -f "$src" ] || { echo "bench-stall: no $src (run tests/bench/bench-convert.sh)" >&2; exit 1; }
[ -x "$bench" ] || { echo "bench-stall: build $bench first (ninja -C $build)" >&2; exit 1; }

work="$(mktemp -d "$(dirname "$src")/stall-XXXXXX")"
trap 'rm -rf "$work"' EXIT
# On a failed check the folder stays for a look.
keep () { trap - EXIT; echo "bench-stall: $1 failed; outputs kept in $work" >&2; exit 1; }
threads=$(nproc)
echo "input $src ($(stat -c %s "$src") B), $threads CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
cat "$src" > /dev/null   # both runs start with the input in the page cache

# The app: the same environment as the wizard tests (tests/app/wizards/meson.build), except
# G_DEBUG's fatal-warnings (a benchmark reports, it does not abort on a theme warning).
mkdir -p "$work/app" "$work/data-home"
export G_DEBUG=gc-friendly GSETTINGS_BACKEND=memory GSETTINGS_SCHEMA_DIR="$build/data" \
  GSK_RENDERER=cairo GDK_DEBUG=default-settings GDK_BACKEND=x11 GTK_A11Y=test \
  STRATA_IMG="$img" STRATA_TEST_TMPDIR="$work/tmp" XDG_DATA_HOME="$work/data-home" \
  STRATA_SCREENSHOT_DIR="$work/shots"
xvfb-run -a -s "-screen 0 1400x1000x24 -noreset" dbus-run-session -- \
  "$bench" "$src" "$work/app" > "$work/app.log" 2>&1 || { cat "$work/app.log"; keep "$bench"; }
grep -v -e "fd limit" -e "^# " "$work/app.log"
echo "load after the app: $(cut -d' ' -f1-3 /proc/loadavg)"

# The command line on the same input, same thread count.
start=$(date +%s%N)
"$img" convert -c -O qcow2 -m "$threads" "$src" "$work/cli.qcow2"
end=$(date +%s%N)
cli=$(printf "%.3f" "$(echo "scale=3; ($end - $start) / 1000000000" | bc)")
app=$(awk '$1 == "RESULT" && $2 == "convert" { print $3 }' "$work/app.log")
echo "strata-img convert -c -O qcow2 -m $threads: $cli s"
echo "convert through the app / strata-img: $app / $cli = $(printf "%.3f" "$(echo "scale=4; $app / $cli" | bc)")"
echo "load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"

# Not timed: QEMU judges what the app wrote.
for f in "$work"/app/*.qcow2; do qemu-img check -q "$f" || keep "qemu-img check of $f"; done
echo "qemu-img check of all outputs: clean (the conversion was compared with the source before the commits)"
