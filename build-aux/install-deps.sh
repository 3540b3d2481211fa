#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Installs the Debian 12 packages Strata needs to build, run and test. Skips apt entirely
# when everything is already installed. Needs root (or sudo) only when something is missing.
set -euo pipefail

packages=(
  # Build
  gcc libc6-dev meson ninja-build pkg-config git
  libglib2.0-dev libglib2.0-bin zlib1g-dev libdeflate-dev libzstd-dev libjson-glib-dev
  # The desktop app
  libgtk-4-dev libadwaita-1-dev gettext desktop-file-utils appstream yelp-tools itstool scdoc librsvg2-bin
  adwaita-icon-theme fonts-cantarell librsvg2-common shared-mime-info
  # UI tests: headless X, a session bus, the accessibility tree, screenshots
  xvfb xauth dbus-daemon dbus-x11 at-spi2-core python3-pyatspi python3-gi gir1.2-atspi-2.0
  imagemagick
  # Tests: QEMU is the oracle; images are generated at run time; the Run wizard starts VMs
  qemu-utils qemu-system-x86 e2fsprogs util-linux mount coreutils procps time python3
  # Fuzzing and sanitizers
  clang libclang-rt-14-dev
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "Installing: ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
