#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Installs what is needed, builds Strata and opens the desktop app. When the library is
# still empty, it first makes a small set of sample images (a base with overlays and a VMDK)
# under $XDG_DATA_HOME/strata/samples and opens the app on them.
set -euo pipefail
cd "$(dirname "$0")/.."

bash build-aux/install-deps.sh

if [ ! -f _build/build.ninja ]; then
  meson setup _build
fi
ninja -C _build

img=_build/src/cli/strata-img
app=_build/src/app/strata
# Run uninstalled: the settings schema comes from the build folder.
export GSETTINGS_SCHEMA_DIR="$PWD/_build/data"

samples="${XDG_DATA_HOME:-$HOME/.local/share}/strata/samples"
folders="$(gsettings get io.github.strata.Strata library-folders 2>/dev/null || echo '@as []')"
args=()
if [ "$folders" = "@as []" ] || [ "$folders" = "[]" ]; then
  if [ ! -e "$samples/base.qcow2" ] && [ -z "$(ls -A "$samples" 2>/dev/null)" ]; then
    mkdir -p "$samples"
    if "$img" create-samples "$samples" > /dev/null 2>&1; then
      echo "Sample images written by the engine into $samples"
    else
      # An engine without the sample generator: make a small chain with QEMU instead.
      qemu-img create -q -f qcow2 "$samples/base.qcow2" 8G
      qemu-io -f qcow2 -c 'write -P 0x11 0 64M' -c 'write -P 0x22 2G 16M' \
        "$samples/base.qcow2" > /dev/null
      for i in 1 2 3; do
        qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 "$samples/overlay-$i.qcow2"
      done
      qemu-io -f qcow2 -c 'write -P 0x33 1M 8M' "$samples/overlay-1.qcow2" > /dev/null
      qemu-img create -q -f vmdk "$samples/disk.vmdk" 4G
      echo "Sample images made with qemu-img in $samples"
    fi
  fi
  args=("$samples")
fi

if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
  echo "No display to open Strata on. Run it in a desktop session: $app ${args[*]:-}" >&2
  exit 1
fi
exec "$app" "${args[@]}"
