#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Builds the libFuzzer targets (clang, ASan + UBSan), generates seed corpora with qemu-img
# and runs every target for SECONDS, two at a time (the machine has two cores). Prints
# execs/s and coverage (libFuzzer's cov/ft) per target and lists any crash it found.
#
#   build-aux/fuzz.sh [SECONDS] [TARGET...]       (default: 300 s, every target)
#
# Environment: FUZZ_BUILD (default _build-fuzz), FUZZ_JOBS (default 2).
# Findings land in $FUZZ_BUILD/fuzz-artifacts/; minimise one with
#   $FUZZ_BUILD/tests/fuzz/fuzz-TARGET -minimize_crash=1 -runs=10000 FILE
# and add it under tests/fuzz/regressions/TARGET/ once it is small.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_TARGET="${1:-300}"
shift || true
BUILD="$(realpath -m "${FUZZ_BUILD:-_build-fuzz}")"
JOBS="${FUZZ_JOBS:-2}"
ALL_TARGETS="qcow2-header qcow2-tables qcow2-compressed qcow2-check vmdk-sparse vmdk-stream vmdk-descriptor probe"
TARGETS="${*:-$ALL_TARGETS}"

if [ ! -f "$BUILD/build.ninja" ]; then
  CC=clang meson setup "$BUILD" -Dfuzzing=true >/dev/null
fi
ninja -C "$BUILD" >/dev/null

CORPUS="$BUILD/fuzz-corpus"
SEEDS="$BUILD/fuzz-seeds"
ARTIFACTS="$BUILD/fuzz-artifacts"
LOGS="$BUILD/fuzz-logs"
mkdir -p "$CORPUS" "$ARTIFACTS" "$LOGS"

# Seeds are regenerated every run from qemu-img output: small images of every shape the
# parsers know, so that the fuzzers start deep inside the formats.
make_seeds () {
  local work
  work="$(mktemp -d)"
  rm -rf "$SEEDS"
  mkdir -p "$SEEDS"/{qcow2-header,qcow2-tables,qcow2-compressed,qcow2-check,vmdk-sparse,vmdk-stream,vmdk-descriptor,probe}
  (
    cd "$work"
    # 64 KiB of guest data that compresses, with a random tail that does not.
    { (yes 'strata seed data 0123456789' || true) | head -c 49152
      head -c 16384 /dev/urandom; } > pat.raw
    qemu-img create -q -f qcow2 base.qcow2 128k
    n=0
    for opts in "cluster_size=512" "cluster_size=4096" "cluster_size=4096,compat=0.10" \
                "cluster_size=512,refcount_bits=1" "cluster_size=512,refcount_bits=64" \
                "cluster_size=16384,extended_l2=on" "cluster_size=4096,lazy_refcounts=on" \
                "cluster_size=4096,compression_type=zstd"; do
      n=$((n + 1))
      qemu-img create -q -f qcow2 -o "$opts" "q$n.qcow2" 256k
      qemu-io -c 'write -P 0xaa 0 8k' -c 'write -z 16k 8k' -c 'write -P 0x55 200k 4k' \
        "q$n.qcow2" >/dev/null
      qemu-img create -q -f qcow2 -o "$opts" -b base.qcow2 -F qcow2 "o$n.qcow2" 128k
      qemu-io -c 'write -P 0x11 4k 4k' "o$n.qcow2" >/dev/null
    done
    qemu-img convert -c -O qcow2 -o cluster_size=4096 pat.raw cz.qcow2
    qemu-img convert -c -O qcow2 -o cluster_size=4096,compression_type=zstd pat.raw cs.qcow2
    cp q*.qcow2 o*.qcow2 cz.qcow2 cs.qcow2 "$SEEDS/qcow2-tables/"
    cp q*.qcow2 cz.qcow2 "$SEEDS/qcow2-check/"
    for f in q*.qcow2 o*.qcow2; do head -c 4096 "$f" > "$SEEDS/qcow2-header/$f"; done

    qemu-img create -q -f vmdk s1.vmdk 1M
    qemu-io -f vmdk -c 'write -P 0x11 0 64k' s1.vmdk >/dev/null
    qemu-img convert -O vmdk pat.raw s2.vmdk
    qemu-img convert -O vmdk -o zeroed_grain=on pat.raw s3.vmdk
    cp s*.vmdk "$SEEDS/vmdk-sparse/"
    qemu-img convert -O vmdk -o subformat=streamOptimized pat.raw t1.vmdk
    head -c 4096 pat.raw > small.raw
    qemu-img convert -O vmdk -o subformat=streamOptimized small.raw t2.vmdk
    cp t*.vmdk "$SEEDS/vmdk-stream/"

    # Descriptors name "fuzz-flat.vmdk", which the target provides (1 MiB).
    qemu-img create -q -f vmdk -o subformat=monolithicFlat fuzz.vmdk 1M
    cp fuzz.vmdk "$SEEDS/vmdk-descriptor/flat.vmdk"
    sed 's/fuzz-flat.vmdk/fuzz-flat.vmdk" 0\nRW 2048 FLAT "fuzz-flat.vmdk/' fuzz.vmdk \
      > "$SEEDS/vmdk-descriptor/two-extents.vmdk"
    sed 's/RW 2048 FLAT "fuzz-flat.vmdk" 0/RW 2048 ZERO/' fuzz.vmdk \
      > "$SEEDS/vmdk-descriptor/zero.vmdk"
    # The descriptor embedded in a sparse file, on its own.
    strings s1.vmdk | sed -n '/# Disk DescriptorFile/,$p' \
      > "$SEEDS/vmdk-descriptor/embedded.vmdk"

    cp q1.qcow2 o1.qcow2 s1.vmdk t2.vmdk "$SEEDS/probe/"
    cp fuzz.vmdk "$SEEDS/probe/desc.vmdk"
  )
  rm -rf "$work"
  "$BUILD/tests/fuzz/fuzz-corpus-gen" "$SEEDS/qcow2-compressed" >/dev/null
}

make_seeds

max_len_for () {
  case "$1" in
    qcow2-header|vmdk-descriptor) echo 4096 ;;
    *) echo 524288 ;;
  esac
}

run_one () {
  local t="$1"
  mkdir -p "$CORPUS/$t"
  "$BUILD/tests/fuzz/fuzz-$t" "$CORPUS/$t" "$SEEDS/$t" \
    -max_total_time="$SECONDS_PER_TARGET" -timeout=20 -rss_limit_mb=2048 \
    -max_len="$(max_len_for "$t")" -print_final_stats=1 \
    -artifact_prefix="$ARTIFACTS/$t-" </dev/null >"$LOGS/$t.log" 2>&1 || true
}

echo "Fuzzing for ${SECONDS_PER_TARGET}s per target, $JOBS at a time: $TARGETS"
running=0
for t in $TARGETS; do
  run_one "$t" &
  running=$((running + 1))
  if [ "$running" -ge "$JOBS" ]; then
    wait -n || true
    running=$((running - 1))
  fi
done
wait

status=0
printf '%-18s %10s %10s %8s %8s %8s  %s\n' target execs execs/s cov ft corpus result
for t in $TARGETS; do
  log="$LOGS/$t.log"
  last="$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)"
  cov="$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")"
  ft="$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")"
  corp="$(sed -n 's/.* corp: \([0-9]*\).*/\1/p' <<<"$last")"
  execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")"
  rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")"
  result=ok
  if grep -qE 'ERROR: (AddressSanitizer|libFuzzer)|runtime error:|SUMMARY: ' "$log" ||
     ls "$ARTIFACTS/$t-"* >/dev/null 2>&1; then
    result="FINDING (see $log and $ARTIFACTS/$t-*)"
    status=1
  fi
  printf '%-18s %10s %10s %8s %8s %8s  %s\n' "$t" "${execs:-?}" "${rate:-?}" "${cov:-?}" \
    "${ft:-?}" "${corp:-?}" "$result"
done
exit "$status"
