#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Installs what is needed, builds Strata and shows it at work: until the desktop app lands,
# it generates a small sample chain (a base with data, two overlays) and prints
# `strata-img info --backing-chain` of its top.
set -euo pipefail
cd "$(dirname "$0")/.."

bash build-aux/install-deps.sh

if [ ! -f _build/build.ninja ]; then
  meson setup _build
fi
ninja -C _build

img=_build/strata-img
[ -x "$img" ] || img=_build/src/cli/strata-img

samples="${STRATA_SAMPLES:-$HOME/.local/share/strata/samples}"
mkdir -p "$samples"
if [ ! -e "$samples/base.qcow2" ]; then
  qemu-img create -q -f qcow2 "$samples/base.qcow2" 1G
  qemu-io -f qcow2 -c 'write -P 0x11 0 4M' -c 'write -P 0x22 512M 1M' "$samples/base.qcow2" \
    > /dev/null
  "$img" create -f qcow2 -b base.qcow2 -F qcow2 "$samples/overlay-1.qcow2" > /dev/null
  qemu-io -f qcow2 -c 'write -P 0x33 1M 2M' "$samples/overlay-1.qcow2" > /dev/null
  "$img" create -f qcow2 -b overlay-1.qcow2 -F qcow2 "$samples/overlay-2.qcow2" > /dev/null
fi

echo "Sample chain in $samples:"
"$img" info --backing-chain "$samples/overlay-2.qcow2"
