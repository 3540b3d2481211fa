#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Checks the structure of flatpak/io.github.strata.Strata.json, and runs
flatpak-builder --show-manifest on it where flatpak-builder is installed."""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

APP_ID = 'io.github.strata.Strata'
srcdir = sys.argv[1]
manifest_path = os.path.join(srcdir, 'flatpak', APP_ID + '.json')
failures = []


def expect(condition, message):
    if not condition:
        failures.append(message)


with open(manifest_path, encoding='utf-8') as f:
    manifest = json.load(f)

expect(manifest.get('id') == APP_ID, f'id is not {APP_ID}')
expect(manifest.get('runtime') == 'org.gnome.Platform', 'runtime is not org.gnome.Platform')
expect(manifest.get('sdk') == 'org.gnome.Sdk', 'sdk is not org.gnome.Sdk')
version = str(manifest.get('runtime-version', ''))
expect(re.fullmatch(r'\d+', version) is not None and int(version) >= 47,
       f'runtime-version {version!r} is not a GNOME release >= 47')
expect(manifest.get('command') == 'strata', 'command is not strata')

args = manifest.get('finish-args', [])
for needed in ('--socket=wayland', '--socket=fallback-x11', '--share=ipc', '--device=dri'):
    expect(needed in args, f'finish-args lacks {needed}')
# The minimum: no plain X11 next to the fallback, no network, no whole host, no session bus.
for refused in ('--socket=x11', '--share=network', '--filesystem=host', '--device=all',
                '--socket=session-bus', '--socket=system-bus'):
    expect(refused not in args, f'finish-args has {refused}, more than Strata needs')
filesystems = [a for a in args if a.startswith('--filesystem=')]
expect(len(filesystems) >= 1, 'no --filesystem: backing files next to an opened image '
       'would be out of reach (portals hand out single files)')
expect(len(args) == len(set(args)), 'a finish-arg is listed twice')

modules = manifest.get('modules', [])
expect(len(modules) >= 2, 'expected libdeflate and strata modules')
names = [m.get('name') for m in modules if isinstance(m, dict)]
expect('libdeflate' in names, 'libdeflate is not bundled')
expect(names[-1:] == ['strata'], 'strata must be the last module')

for module in modules:
    if not isinstance(module, dict):
        failures.append('a module is not an object')
        continue
    sources = module.get('sources', [])
    expect(len(sources) >= 1, f'module {module.get("name")} has no sources')
    if module.get('name') == 'libdeflate':
        for src in sources:
            expect(src.get('type') == 'archive', 'libdeflate source is not an archive')
            expect(str(src.get('url', '')).startswith('https://'), 'libdeflate url is not https')
            expect(re.fullmatch(r'[0-9a-f]{64}', src.get('sha256', '')) is not None,
                   'libdeflate source has no sha256')
            expect(all(u.startswith('https://') for u in src.get('mirror-urls', [])),
                   'a libdeflate mirror url is not https')
    if module.get('name') == 'strata':
        expect(module.get('buildsystem') == 'meson', 'strata is not built with meson')
        expect(all(isinstance(o, str) for o in module.get('config-opts', [])),
               'config-opts are not strings')
        dirs = [s for s in sources if s.get('type') == 'dir']
        expect(len(dirs) == 1, 'strata is not built from this tree (one "dir" source)')
        if dirs:
            tree = os.path.normpath(os.path.join(os.path.dirname(manifest_path), dirs[0]['path']))
            expect(os.path.samefile(tree, srcdir), f'the dir source {tree} is not the source tree')

if shutil.which('flatpak-builder'):
    # It leaves a .flatpak-builder folder behind in its working directory.
    with tempfile.TemporaryDirectory() as tmp:
        r = subprocess.run(['flatpak-builder', '--show-manifest', manifest_path],
                           capture_output=True, text=True, cwd=tmp)
    expect(r.returncode == 0, 'flatpak-builder --show-manifest failed: ' + r.stderr.strip())
    if r.returncode == 0:
        expect(json.loads(r.stdout).get('id') == APP_ID,
               'flatpak-builder reads a different id')
    print('flatpak-builder --show-manifest: ' + ('ok' if r.returncode == 0 else 'failed'))
else:
    print('flatpak-builder is not installed: only the structure was checked')

for failure in failures:
    print(failure)
sys.exit(1 if failures else 0)
