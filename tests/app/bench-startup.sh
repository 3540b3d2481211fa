#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Benchmark (not a test): the time from `strata FOLDER` to the graph fully drawn for a folder
# of 1,000 images (50 bases with 9 overlays each, and 500 single images), and the app's
# memory then. Target: < 1 s, < 150 MiB.
#
#   bash tests/app/bench-startup.sh [BUILD_DIR] [RUNS]
#
# Runs headless under Xvfb with GSK_RENDERER=cairo (set it to try another); the app prints
# one line when the whole library is on screen
# (STRATA_BENCHMARK=1) and quits.
set -euo pipefail
build="$(realpath "${1:-_build}")"
runs="${2:-3}"
img="$build/src/cli/strata-img"
app="$build/src/app/strata"
folder="$(mktemp -d /tmp/strata-bench-XXXXXX)"
trap 'rm -rf "$folder"' EXIT

# Bases first, then their overlays (which read the base), then the single images.
for b in $(seq -w 0 49); do echo "$folder/vm$b-base.qcow2 4G"; done \
  | xargs -P 4 -L 1 "$img" create -q -f qcow2
for b in $(seq -w 0 49); do
  for o in $(seq 0 8); do echo "-b vm$b-base.qcow2 $folder/vm$b-overlay$o.qcow2"; done
done | xargs -P 4 -L 1 "$img" create -q -f qcow2 -F qcow2
for i in $(seq -w 0 499); do echo "$folder/disk$i.qcow2 4G"; done \
  | xargs -P 4 -L 1 "$img" create -q -f qcow2
echo "$(ls "$folder" | wc -l) images in $folder"

cat > "$folder/.run.sh" <<INNER
#!/bin/bash
export GSETTINGS_BACKEND=memory GSETTINGS_SCHEMA_DIR="$build/data" GDK_BACKEND=x11
# Xvfb has no GPU: the cairo renderer stands in for the GL one a desktop would use.
export GSK_RENDERER="\${GSK_RENDERER:-cairo}"
for run in \$(seq $runs); do
  # Drop the page cache only when allowed (root); otherwise the runs are warm.
  sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
  start=\$(date +%s%N)
  line=\$(STRATA_BENCHMARK=1 timeout 120 "$app" "$folder" 2>/dev/null | grep STRATA_BENCHMARK)
  end=\$(date +%s%N)
  echo "run \$run: \$(( (end - start) / 1000000 )) ms to a fully drawn graph; \${line#STRATA_BENCHMARK }"
done
INNER
chmod +x "$folder/.run.sh"
xvfb-run -a -s "-screen 0 1280x1024x24 -noreset" dbus-run-session -- "$folder/.run.sh" 2>&1 \
  | grep -v "fd limit"
