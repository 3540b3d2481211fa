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
  if [ -z "$(ls -A "$samples" 2>/dev/null)" ]; then
    mkdir -p "$samples"
    "$img" create-samples -q "$samples"
    echo "Sample images written by the engine into $samples"
  fi
  args=("$samples")
fi

if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
  echo "No display to open Strata on. Run it in a desktop session: $app ${args[*]:-}" >&2
  exit 1
fi
exec "$app" "${args[@]}"
