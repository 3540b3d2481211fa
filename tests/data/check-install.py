#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""meson install --destdir into a staging folder, then checks that every file a GNOME
system expects is where it belongs, and that the French files are really French."""
import gettext
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile

APP_ID = 'io.github.strata.Strata'
srcdir, builddir, meson = sys.argv[1], sys.argv[2], sys.argv[3]

options = {o['name']: o['value'] for o in json.loads(subprocess.run(
    [meson, 'introspect', '--buildoptions', builddir],
    check=True, capture_output=True, text=True).stdout)}
prefix = options['prefix']


def under_prefix(name):
    value = options[name]
    return value if os.path.isabs(value) else os.path.join(prefix, value)


bindir, datadir = under_prefix('bindir'), under_prefix('datadir')
mandir, localedir = under_prefix('mandir'), under_prefix('localedir')
failures = []

with tempfile.TemporaryDirectory(prefix='strata-install-') as stage:
    subprocess.run([meson, 'install', '-C', builddir, '--no-rebuild', '--quiet',
                    '--destdir', stage], check=True)

    def staged(path):
        return os.path.join(stage, path.lstrip('/'))

    help_pages = sorted(os.path.basename(p)
                        for p in glob.glob(os.path.join(srcdir, 'help', 'C', '*.page')))
    expected = [
        f'{bindir}/strata-img',
        f'{datadir}/applications/{APP_ID}.desktop',
        f'{datadir}/metainfo/{APP_ID}.metainfo.xml',
        f'{datadir}/dbus-1/services/{APP_ID}.service',
        f'{datadir}/icons/hicolor/scalable/apps/{APP_ID}.svg',
        f'{datadir}/icons/hicolor/symbolic/apps/{APP_ID}-symbolic.svg',
        f'{localedir}/fr/LC_MESSAGES/strata.mo',
        f'{mandir}/man1/strata-img.1',
    ]
    expected += [f'{datadir}/help/{lang}/{APP_ID}/{page}'
                 for lang in ('C', 'fr') for page in help_pages]
    if os.path.exists(os.path.join(srcdir, 'src', 'app', 'meson.build')):
        expected.append(f'{bindir}/strata')
    if glob.glob(os.path.join(srcdir, 'data', '*.gschema.xml')):
        expected.append(f'{datadir}/glib-2.0/schemas/{APP_ID}.gschema.xml')
    completions = glob.glob(staged(f'{datadir}/bash-completion/completions/strata-img')) + \
        glob.glob(staged(f'{prefix}/share/bash-completion/completions/strata-img'))
    if not completions:
        failures.append('the bash completion for strata-img is not installed')

    for path in expected:
        if not os.path.isfile(staged(path)):
            failures.append(f'{path} is not installed')
        else:
            print('installed', path)

    service = staged(f'{datadir}/dbus-1/services/{APP_ID}.service')
    if os.path.isfile(service):
        with open(service, encoding='utf-8') as f:
            text = f.read()
        if f'Name={APP_ID}\n' not in text or f'Exec={bindir}/strata ' not in text:
            failures.append(f'the D-Bus service does not start {bindir}/strata as {APP_ID}')

    desktop = staged(f'{datadir}/applications/{APP_ID}.desktop')
    if os.path.isfile(desktop):
        with open(desktop, encoding='utf-8') as f:
            text = f.read()
        for line in ('DBusActivatable=true', 'Exec=strata %U', 'GenericName[fr]=',
                     'MimeType=application/x-qemu-disk;application/x-vmdk-disk;'):
            if line not in text:
                failures.append(f'the installed desktop file lacks {line!r}')

        # Every type must be one shared-mime-info knows, or Files never offers Strata.
        mime_db = '/usr/share/mime/packages/freedesktop.org.xml'
        mime_line = next((l for l in text.splitlines() if l.startswith('MimeType=')), '')
        if os.path.isfile(mime_db):
            with open(mime_db, encoding='utf-8') as f:
                known = f.read()
            for mime in filter(None, mime_line[len('MimeType='):].split(';')):
                if f'<mime-type type="{mime}">' not in known:
                    failures.append(f'{mime} is not a type shared-mime-info knows')

    metainfo = staged(f'{datadir}/metainfo/{APP_ID}.metainfo.xml')
    if os.path.isfile(metainfo):
        with open(metainfo, encoding='utf-8') as f:
            if 'xml:lang="fr"' not in f.read():
                failures.append('the installed metainfo has no French')

    mo = staged(f'{localedir}/fr/LC_MESSAGES/strata.mo')
    if os.path.isfile(mo):
        with open(mo, 'rb') as f:
            catalog = gettext.GNUTranslations(f)
        if catalog.gettext('Disk Image Manager') == 'Disk Image Manager':
            failures.append('strata.mo does not translate "Disk Image Manager"')

    fr_index = staged(f'{datadir}/help/fr/{APP_ID}/index.page')
    if os.path.isfile(fr_index):
        with open(fr_index, encoding='utf-8') as f:
            if 'Aide de Strata' not in f.read():
                failures.append('the French help index is not translated')
        if shutil.which('yelp-check'):
            pages = sorted(glob.glob(os.path.join(os.path.dirname(fr_index), '*.page')))
            r = subprocess.run(['yelp-check', 'validate'] + pages, capture_output=True,
                               text=True, cwd=os.path.dirname(fr_index))
            if r.returncode != 0:
                failures.append('the French help pages do not validate:\n' + r.stdout)

for failure in failures:
    print(failure)
sys.exit(1 if failures else 0)
