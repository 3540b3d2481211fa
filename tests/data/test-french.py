#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""A French user (LANGUAGE=fr) sees a French app: Strata is built into a temporary prefix
(so that it finds its installed catalogue), started on a folder of images with LANGUAGE=fr,
and read through the accessibility tree; a screenshot of the French main window is saved.

Runs under xvfb-run + dbus-run-session. argv: SRCDIR MESON SCHEMA_DIR SCREENSHOT_DIR."""
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

srcdir, meson, schema_dir, shots = sys.argv[1:5]

# These build their own plain copy of the tree: the sanitized run would repeat them as is.
if os.environ.get('STRATA_TEST_SANITIZED'):
    print('skipped in the sanitized run: it builds its own unsanitized copy of the tree')
    sys.exit(77)

if shutil.which('qemu-img') is None:
    print('qemu-img is not installed: no images to show')
    sys.exit(77)
sys.path.insert(0, os.path.join(srcdir, 'tests', 'app'))
try:
    from atspi_driver import check, exit_on_failures, find_app, launch, stop, walk
except ImportError:
    print('python3-pyatspi is not installed')
    sys.exit(77)


def names(app):
    out = []
    for node in walk(app):
        try:
            out.append((node.getRoleName(), node.name or ''))
        except Exception:
            pass
    return out


def wait_for_name(app, predicate, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        found = [n for n in names(app) if predicate(*n)]
        if found:
            return found
        time.sleep(0.25)
    return []


with tempfile.TemporaryDirectory(prefix='strata-fr-') as tmp:
    prefix = os.path.join(tmp, 'prefix')
    build = os.path.join(tmp, 'build')
    subprocess.run([meson, 'setup', '--prefix=' + prefix, build, srcdir], check=True,
                   stdout=subprocess.DEVNULL)
    targets = json.loads(subprocess.run([meson, 'introspect', '--targets', build], check=True,
                                        capture_output=True, text=True).stdout)
    wanted = [os.path.relpath(fn, build) for t in targets
              if t['name'] == 'strata' or t['name'].startswith('strata-fr')
              or 'fr/LC_MESSAGES' in ' '.join(t['filename'])
              for fn in t['filename']]
    subprocess.run(['ninja', '-C', build] + wanted, check=True, stdout=subprocess.DEVNULL)
    app_bin = os.path.join(build, 'src', 'app', 'strata')
    localedir = os.path.join(prefix, 'share', 'locale', 'fr', 'LC_MESSAGES')
    os.makedirs(localedir)
    shutil.copy(os.path.join(build, 'po', 'fr', 'LC_MESSAGES', 'strata.mo'), localedir)

    folder = os.path.join(tmp, 'vms')
    os.makedirs(folder)
    subprocess.run('qemu-img create -q -f qcow2 base.qcow2 1G'
                   ' && for i in 1 2 3; do qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2'
                   ' img0$i.qcow2; done'
                   ' && qemu-img create -q -f qcow2 -u -b gone.qcow2 -F qcow2 orphan.qcow2 1G',
                   shell=True, check=True, cwd=folder)

    proc = launch(folder, app=app_bin,
                  env_extra={'LANGUAGE': 'fr', 'LC_ALL': 'C.UTF-8',
                             'GSETTINGS_BACKEND': 'memory', 'GSETTINGS_SCHEMA_DIR': schema_dir,
                             'GSK_RENDERER': 'cairo'})
    try:
        app = find_app(proc.pid, timeout=30)
        check(app is not None, 'the app appears on the accessibility bus')
        if app is not None:
            found = wait_for_name(app, lambda r, n: r == 'push button'
                                  and n.startswith('Ouvrir…'))
            check(bool(found), 'the header bar button reads « Ouvrir… »')
            check(bool(wait_for_name(app, lambda r, n: n.startswith('Menu principal'), 5)),
                  'the main menu is « Menu principal »')
            check(bool(wait_for_name(app, lambda r, n: 'surcouche de base.qcow2' in n.lower(),
                                     10)), 'a node says it is a « surcouche de base.qcow2 »')
            check(bool(wait_for_name(app, lambda r, n: 'fichier sous-jacent introuvable' in n,
                                     5)), 'the sidebar reports the missing backing file in French')
            english = [n for r, n in names(app) if n.startswith(('Open…', 'Main Menu'))]
            check(not english, 'no English label left: ' + ', '.join(english))

            time.sleep(1)
            os.makedirs(shots, exist_ok=True)
            shot = os.path.join(shots, 'main-window-fr.png')
            r = subprocess.run(['import', '-window', 'root', '-trim', '+repage', shot],
                               capture_output=True, text=True) \
                if shutil.which('import') else None
            if r is not None and r.returncode == 0:
                print('screenshot:', shot)
            else:
                print('no screenshot taken (ImageMagick import missing or failed)')
    finally:
        stop(proc)

exit_on_failures()
