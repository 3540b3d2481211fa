#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Side by side: qemu-img convert (fastest: -W -m 16, and default) against strata-img convert
# on a realistic guest disk, for zlib, zstd and uncompressed qcow2 targets and VMDK targets
# (streamOptimized, monolithicSparse). Prints time,
# output size and peak memory of each run and Strata's ratios against qemu-img's fastest
# setting. See README.md in this folder.
#
# Environment:
#   BENCH_DIR      work folder (default /var/tmp/strata-bench); the input is cached there
#   BENCH_FORMAT   source format: vmdk (default), qcow2 or raw
#   BENCH_MODES    subset of "zlib zstd none vmdk vmdk-sparse" (default: all five)
#   BENCH_REPEAT   runs per command, best time kept (default 1)
#   BENCH_DISK_SIZE, BENCH_DATA_BYTES  the input's size and the bytes of files in it
#                  (default 1G and 800000000; use another BENCH_DIR for other values)
#   STRATA_IMG     strata-img to use (default: build one with --buildtype=release)
set -euo pipefail

SRCDIR=$(cd "$(dirname "$0")/../.." && pwd)
BENCH_DIR=${BENCH_DIR:-/var/tmp/strata-bench}
BENCH_FORMAT=${BENCH_FORMAT:-vmdk}
BENCH_MODES=${BENCH_MODES-"zlib zstd none vmdk vmdk-sparse"}
BENCH_REPEAT=${BENCH_REPEAT:-1}
DISK_SIZE=${BENCH_DISK_SIZE:-1G}
DATA_BYTES=${BENCH_DATA_BYTES:-$((800 * 1000 * 1000))}

die () { echo "bench-convert: $*" >&2; exit 1; }

for tool in qemu-img mke2fs /usr/bin/time; do
  command -v "$tool" >/dev/null ||
    die "$tool is missing (apt-get install qemu-utils e2fsprogs time)"
done

if [ -z "${STRATA_IMG:-}" ]; then
  build="$SRCDIR/_build-release"
  if [ ! -d "$build" ]; then
    meson setup --buildtype=release "$build" "$SRCDIR" >/dev/null
  fi
  ninja -C "$build" src/cli/strata-img >/dev/null
  STRATA_IMG="$build/src/cli/strata-img"
fi

mkdir -p "$BENCH_DIR"
cd "$BENCH_DIR"

# The input: an ext4 filesystem holding ~0.8 GB of real Debian files, as a guest disk would.
# Files are taken in a fixed pseudo-random order (a mix of binaries, libraries and data), the
# same from run to run on one machine.
if [ ! -f "disk.$BENCH_FORMAT" ]; then
  if [ ! -f disk.raw ]; then
    echo "Generating the input (${DISK_SIZE} ext4 with ~${DATA_BYTES} bytes of files from /usr)..." >&2
    rm -rf staging && mkdir staging
    find /usr/bin /usr/lib /usr/share -xdev -type f -size -64M -printf '%s %p\n' 2>/dev/null \
      | sort -k2 | shuf --random-source=<(yes) \
      | awk -v max="$DATA_BYTES" '{ if (total + $1 <= max) { total += $1;
                                    print substr($0, index($0, " ") + 1) } }' \
      > files.list
    # --parents keeps the tree; unreadable files are skipped.
    xargs -a files.list -d '\n' cp --parents -t staging 2>/dev/null || true
    rm -f disk.raw
    mke2fs -q -t ext4 -d staging disk.raw "$DISK_SIZE"
    rm -rf staging files.list
  fi
  if [ "$BENCH_FORMAT" != raw ]; then
    qemu-img convert -O "$BENCH_FORMAT" disk.raw "disk.$BENCH_FORMAT"
  fi
fi
SRC="disk.$BENCH_FORMAT"

# Runs a command BENCH_REPEAT times with a warm page cache; prints "seconds peak_kib cpu_s"
# of the fastest run. CPU time (user + sys) is printed too: on a shared, loaded machine it
# is the steadier measure of the work done.
measure () {
  local best="" mem="" cpu="" out t m u s
  cat "$SRC" > /dev/null
  for _ in $(seq "$BENCH_REPEAT"); do
    rm -f "$OUT"
    /usr/bin/time -o time.out -f '%e %M %U %S' "$@" > /dev/null 2> cmd.err ||
      die "failed: $* ($(cat cmd.err))"
    read -r t m u s < time.out
    if [ -z "$best" ] || awk "BEGIN { exit !($t < $best) }"; then
      best=$t; mem=$m; cpu=$(awk "BEGIN { print $u + $s }")
    fi
  done
  echo "$best $mem $cpu"
}

# Apparent size (what ls shows); alloc_of: bytes allocated on disk (what du shows).
size_of () { stat -c %s "$1"; }
alloc_of () { echo $(($(stat -c %b "$1") * 512)); }

printf '\nSource: %s (%s, %s bytes, %s bytes allocated); %s CPUs; load %s\n' "$SRC" \
  "$BENCH_FORMAT" "$(size_of "$SRC")" "$(($(stat -c %b "$SRC") * 512))" "$(nproc)" \
  "$(cut -d' ' -f1-3 /proc/loadavg)"
printf 'strata-img: %s\n\n' "$STRATA_IMG"
printf '%-6s %-20s %7s %6s %7s %6s %11s %6s %6s %8s\n' mode tool time_s x_fast cpu_s \
  x_fast size_B x_fast x_du peak_MiB

for mode in $BENCH_MODES; do
  # streamOptimized compresses every grain, -c or not: both tools get the same options.
  fmt=qcow2
  case $mode in
    zlib) copt=(-c) ;;
    zstd) copt=(-c -o compression_type=zstd) ;;
    none) copt=() ;;
    vmdk) fmt=vmdk copt=(-o subformat=streamOptimized) ;;
    vmdk-sparse) fmt=vmdk copt=(-o subformat=monolithicSparse) ;;
    *) die "unknown mode $mode" ;;
  esac
  OUT=out.$fmt

  read -r t_fast m_fast c_fast < <(measure qemu-img convert -W -m 16 "${copt[@]}" -O $fmt \
                                   "$SRC" "$OUT")
  s_fast=$(size_of "$OUT") a_fast=$(alloc_of "$OUT")
  read -r t_def m_def c_def < <(measure qemu-img convert "${copt[@]}" -O $fmt "$SRC" "$OUT")
  s_def=$(size_of "$OUT") a_def=$(alloc_of "$OUT")
  read -r t_st m_st c_st < <(measure "$STRATA_IMG" convert "${copt[@]}" -O $fmt "$SRC" \
                             "$OUT")
  s_st=$(size_of "$OUT") a_st=$(alloc_of "$OUT")

  # Not timed: QEMU must find Strata's output clean and identical to the source.
  qemu-img check -q "$OUT" || die "$mode: qemu-img check failed on Strata's output"
  qemu-img compare -q "$SRC" "$OUT" || die "$mode: Strata's output differs from the source"

  # Columns: time, CPU (user+sys), apparent size, allocated size (x_du), each as a ratio
  # to qemu-img -W -m 16; peak resident memory.
  row () {
    printf '%-6s %-20s %7.2f %6.2f %7.2f %6.2f %11d %6.3f %6.3f %8.1f\n' "$mode" "$1" "$2" \
      "$(awk "BEGIN { print $2 / $t_fast }")" "$5" "$(awk "BEGIN { print $5 / $c_fast }")" \
      "$3" "$(awk "BEGIN { print $3 / $s_fast }")" "$(awk "BEGIN { print $6 / $a_fast }")" \
      "$(awk "BEGIN { print $4 / 1024 }")"
  }
  row "qemu-img -W -m 16" "$t_fast" "$s_fast" "$m_fast" "$c_fast" "$a_fast"
  row "qemu-img (default)" "$t_def" "$s_def" "$m_def" "$c_def" "$a_def"
  row "strata-img" "$t_st" "$s_st" "$m_st" "$c_st" "$a_st"
done
rm -f out.qcow2 out.vmdk time.out cmd.err
printf '\nload after: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
