#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Builds Strata the way the Flatpak manifest does: meson setup of this tree in a temporary
folder with the manifest's config-opts (and flatpak-builder's prefix and libdir), then the
installed targets only, then an install into a staging folder. Every dependency meson finds
must be one the GNOME runtime provides, or a module the manifest bundles."""
import json
import os
import shutil
import subprocess
import sys
import tempfile

APP_ID = 'io.github.strata.Strata'
srcdir, meson = sys.argv[1], sys.argv[2]

# These build their own plain copy of the tree: the sanitized run would repeat them as is.
if os.environ.get('STRATA_TEST_SANITIZED'):
    print('skipped in the sanitized run: it builds its own unsanitized copy of the tree')
    sys.exit(77)

# What org.gnome.Platform/Sdk ships (pkg-config names, and meson's built-in dependencies).
RUNTIME = {
    'glib-2.0', 'gio-2.0', 'gobject-2.0', 'gmodule-2.0', 'gio-unix-2.0', 'gthread-2.0',
    'gtk4', 'libadwaita-1', 'zlib', 'libzstd', 'json-glib-1.0', 'threads', 'dl', 'm',
    'libxml-2.0', 'cairo', 'pango', 'gdk-pixbuf-2.0', 'graphene-gobject-1.0',
    'bash-completion',
}

with open(os.path.join(srcdir, 'flatpak', APP_ID + '.json'), encoding='utf-8') as f:
    manifest = json.load(f)
modules = {m['name']: m for m in manifest['modules']}
strata = modules['strata']
bundled = set(modules) - {'strata'}
config_opts = strata.get('config-opts', [])


def run(*cmd, **kw):
    print('$', ' '.join(cmd), flush=True)
    subprocess.run(cmd, check=True, **kw)


def capture(*cmd):
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


with tempfile.TemporaryDirectory(prefix='strata-flatpak-') as tmp:
    build = os.path.join(tmp, '_flatpak_build')
    run(meson, 'setup', '--prefix=/app', '--libdir=lib', *config_opts, build, srcdir,
        stdout=subprocess.DEVNULL)

    deps = json.loads(capture(meson, 'introspect', '--dependencies', build))
    failures = []
    for dep in deps:
        name = dep['name']
        if name not in RUNTIME and name not in bundled:
            failures.append(f'dependency {name} is neither in the GNOME runtime nor bundled '
                            'by the manifest')
    print('dependencies:', ', '.join(sorted(d['name'] for d in deps)))

    targets = json.loads(capture(meson, 'introspect', '--targets', build))
    outputs = [os.path.relpath(fn, build)
               for t in targets if t.get('installed')
               for fn in t['filename']]
    run('ninja', '-C', build, *outputs, stdout=subprocess.DEVNULL)
    stage = os.path.join(tmp, 'stage')
    run(meson, 'install', '-C', build, '--no-rebuild', '--quiet', '--destdir', stage)

    app = os.path.join(stage, 'app')
    expected = ['bin/strata-img',
                f'share/applications/{APP_ID}.desktop',
                f'share/metainfo/{APP_ID}.metainfo.xml',
                f'share/icons/hicolor/scalable/apps/{APP_ID}.svg']
    if os.path.exists(os.path.join(srcdir, 'src', 'app', 'meson.build')):
        expected.append('bin/strata')
    for rel in expected:
        if not os.path.exists(os.path.join(app, rel)):
            failures.append(f'/app/{rel} is not installed')
    command = manifest['command']
    if not os.path.exists(os.path.join(app, 'bin', command)):
        print(f'note: /app/bin/{command} (the manifest command) is not built yet')

    for failure in failures:
        print(failure)
    sys.exit(1 if failures else 0)
