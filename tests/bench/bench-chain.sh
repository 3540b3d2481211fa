#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Commit and rebase, Strata side by side with qemu-img on the same images: an overlay with
# ~200 MB written over a 1 GiB base holding ~800 MB of incompressible data. Prints the time of
# each and the ratio (Strata / qemu-img). Not a pass/fail test.
#
# Usage: tests/bench/bench-chain.sh [STRATA_IMG] [WORKDIR]
set -eu

STRATA_IMG=${1:-${STRATA_IMG:-_build/src/cli/strata-img}}
WORK=${2:-$(mktemp -d "${TMPDIR:-/tmp}/strata-bench-chain-XXXXXX")}
STRATA_IMG=$(realpath "$STRATA_IMG")
mkdir -p "$WORK"
cd "$WORK"

now () { date +%s.%N; }
elapsed () { echo "$2 - $1" | bc; }

echo "Preparing images in $WORK ..."
if [ ! -f pre/top.qcow2 ]; then
  rm -rf pre && mkdir pre
  head -c 800M /dev/urandom > pre/base.raw
  truncate -s 1G pre/base.raw
  qemu-img convert -O qcow2 pre/base.raw pre/base.qcow2
  rm pre/base.raw
  qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 pre/top.qcow2
  # 50 runs of 4 MiB = 200 MiB, spread over the disk, some past the base's data.
  cmds=""
  i=0
  while [ $i -lt 50 ]; do
    cmds="$cmds -c 'write -P $((i % 250 + 1)) $((i * 20))M 4M'"
    i=$((i + 1))
  done
  eval qemu-io $cmds pre/top.qcow2 > /dev/null
  cp --sparse=always pre/base.qcow2 pre/copy.qcow2
fi

fresh () {
  rm -rf run && mkdir run
  cp --sparse=always pre/base.qcow2 pre/top.qcow2 pre/copy.qcow2 run/
  sync
}

# Best of $RUNS, each on fresh copies, the two tools alternating (the machine is shared).
RUNS=${RUNS:-3}
best () {
  b=""
  r=0
  while [ $r -lt "$RUNS" ]; do
    fresh
    t0=$(now)
    (cd run && eval "$1") > /dev/null
    t1=$(now)
    t=$(elapsed "$t0" "$t1")
    if [ -z "$b" ] || [ "$(echo "$t < $b" | bc)" = 1 ]; then b=$t; fi
    r=$((r + 1))
  done
  echo "$b"
}

q_commit=$(best "qemu-img commit top.qcow2")
s_commit=$(best "$STRATA_IMG commit -q --force top.qcow2")
q_rebase=$(best "qemu-img rebase -b copy.qcow2 -F qcow2 top.qcow2")
s_rebase=$(best "$STRATA_IMG rebase -b copy.qcow2 -F qcow2 top.qcow2")
q_unsafe=$(best "qemu-img rebase -u -b copy.qcow2 -F qcow2 top.qcow2")
s_unsafe=$(best "$STRATA_IMG rebase -u -b copy.qcow2 -F qcow2 top.qcow2")

printf '%-24s %10s %10s %8s\n' operation qemu-img strata ratio
for op in commit rebase unsafe; do
  eval q=\$q_$op
  eval s=\$s_$op
  printf '%-24s %9.2fs %9.2fs %7.2fx\n' "$op" "$q" "$s" "$(echo "$s / $q" | bc -l)"
done
rm -rf run
