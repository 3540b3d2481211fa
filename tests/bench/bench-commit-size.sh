#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Commit into a compressed base, as issue 9 measured it, Strata side by side with qemu-img:
# base = `strata-img convert -c` of the 1 GiB benchmark guest (bench-convert.sh's input), an
# overlay with 76 MiB written over regions the base holds, the overlay rebased onto a copy of
# the base and committed into it:
#   qemu-img:   cp --sparse=always base copy; qemu-img rebase -b copy; qemu-img commit
#   strata-img: strata-img commit --into-copy copy (copy, rebase and commit in one)
# then ROUNDS-1 more rounds of "write 76 MiB again, commit again" (plain commits into the
# copy). Prints wall time and the apparent (ls) and allocated (du) sizes of both files after
# each round. Every result is checked with qemu-img check and compare (not timed).
#
# Usage: tests/bench/bench-commit-size.sh   (env: STRATA_IMG, BENCH_DIR, ROUNDS, WORK)
set -euo pipefail

SRCDIR=$(cd "$(dirname "$0")/../.." && pwd)
BENCH_DIR=${BENCH_DIR:-/var/tmp/strata-bench}
ROUNDS=${ROUNDS:-3}
STRATA_IMG=$(realpath "${STRATA_IMG:-$SRCDIR/_build/src/cli/strata-img}")

# The guest: bench-convert.sh generates and caches it (no conversion runs with no modes).
[ -f "$BENCH_DIR/disk.raw" ] ||
  BENCH_FORMAT=raw BENCH_MODES= STRATA_IMG="$STRATA_IMG" "$SRCDIR/tests/bench/bench-convert.sh"

WORK=${WORK:-$BENCH_DIR/commit-size}
mkdir -p "$WORK"
cd "$WORK"
[ -f base.qcow2 ] || "$STRATA_IMG" convert -c -O qcow2 "$BENCH_DIR/disk.raw" base.qcow2

# 19 runs of 4 MiB (76 MiB) over the ext4 data area, different per round.
writes () {
  local round=$1 cmds="" i
  for i in $(seq 0 18); do
    cmds="$cmds -c 'write -P $((round * 19 + i + 1)) $(( (i * 37 + round * 11) % 760 + 8 ))M 4M'"
  done
  eval qemu-io "$cmds" top.qcow2 > /dev/null
}

now () { date +%s.%N; }
sizes () { stat -c '%s' "$1"; du -B1 "$1" | cut -f1; }

for tool in qemu strata; do
  rm -rf "$tool" && mkdir "$tool"
  cp --sparse=always base.qcow2 "$tool/"
  (cd "$tool" && qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 top.qcow2 && writes 0)
done
sync

printf '%-6s %-10s %8s %14s %12s %14s %12s\n' round tool time_s base_B base_du top_B top_du
for round in $(seq 1 "$ROUNDS"); do
  for tool in qemu strata; do
    cd "$WORK/$tool"
    if [ "$round" -gt 1 ]; then writes $((round - 1)); sync; fi
    qemu-img convert -O raw top.qcow2 view.raw
    t0=$(now)
    if [ "$tool" = qemu ]; then
      if [ "$round" = 1 ]; then
        cp --sparse=always base.qcow2 copy.qcow2
        qemu-img rebase -b copy.qcow2 -F qcow2 top.qcow2
      fi
      qemu-img commit -q top.qcow2
    else
      if [ "$round" = 1 ]; then
        "$STRATA_IMG" commit -q --into-copy copy.qcow2 top.qcow2
      else
        "$STRATA_IMG" commit -q --force top.qcow2
      fi
    fi
    t1=$(now)
    qemu-img check -q copy.qcow2 && qemu-img check -q top.qcow2
    qemu-img compare -q copy.qcow2 view.raw && qemu-img compare -q top.qcow2 view.raw
    rm view.raw
    read -r bs bd < <(sizes copy.qcow2 | xargs)
    read -r ts td < <(sizes top.qcow2 | xargs)
    printf '%-6s %-10s %8.2f %14s %12s %14s %12s\n' "$round" "$tool" \
      "$(echo "$t1 - $t0" | bc)" "$bs" "$bd" "$ts" "$td"
  done
done
