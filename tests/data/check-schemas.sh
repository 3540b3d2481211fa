#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# glib-compile-schemas --strict --dry-run on data/; skipped (77) while no schema is there.
set -eu
dir="$1/data"
if ! ls "$dir"/*.gschema.xml >/dev/null 2>&1; then
  echo "no GSettings schema in $dir yet"
  exit 77
fi
exec glib-compile-schemas --strict --dry-run "$dir"
