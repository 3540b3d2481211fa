#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fails when a source file with translatable strings is missing from po/POTFILES.in,
or when POTFILES.in lists a file that does not exist."""
import os
import re
import sys

srcdir = sys.argv[1]

C_MARKERS = re.compile(r'(?<![A-Za-z0-9_])(?:_|N_|C_|NC_|Q_|g_dgettext|g_dngettext|'
                       r'g_dpgettext2?|ngettext|dngettext)\s*\(')
UI_MARKER = re.compile(r'translatable\s*=\s*"(?:yes|true|1)"')
SCHEMA_MARKER = re.compile(r'<(?:summary|description)\b|\bl10n\s*=')


def strip_c_comments(text):
    return re.sub(r'/\*.*?\*/|//[^\n]*', '', text, flags=re.S)


def translatable(path):
    with open(path, encoding='utf-8', errors='replace') as f:
        text = f.read()
    if path.endswith(('.c', '.h')):
        # A macro definition of _() itself (#define _(String) ...) is not a translatable string.
        code = '\n'.join(l for l in strip_c_comments(text).splitlines()
                         if not l.lstrip().startswith('#define'))
        return C_MARKERS.search(code) is not None
    if path.endswith('.ui'):
        return UI_MARKER.search(text) is not None
    if path.endswith('.gschema.xml'):
        return SCHEMA_MARKER.search(text) is not None
    if path.endswith(('.desktop.in', '.metainfo.xml.in', '.appdata.xml.in')):
        return True
    return False


def candidates():
    for top in ('src', 'data'):
        for root, dirs, files in os.walk(os.path.join(srcdir, top)):
            dirs[:] = [d for d in dirs if not d.startswith(('.', '_build'))]
            for name in files:
                path = os.path.join(root, name)
                yield os.path.relpath(path, srcdir)


def main():
    if sys.argv[2:] == ['--list']:
        # For whoever updates POTFILES.in: the files it should list.
        print('\n'.join(sorted(p for p in candidates() if translatable(os.path.join(srcdir, p)))))
        return 0
    with open(os.path.join(srcdir, 'po', 'POTFILES.in'), encoding='utf-8') as f:
        listed = [l.strip() for l in f if l.strip() and not l.lstrip().startswith('#')]
    skipped = set()
    skip_path = os.path.join(srcdir, 'po', 'POTFILES.skip')
    if os.path.exists(skip_path):
        with open(skip_path, encoding='utf-8') as f:
            skipped = {l.strip() for l in f if l.strip() and not l.startswith('#')}

    failures = []
    for path in listed:
        if not os.path.isfile(os.path.join(srcdir, path)):
            failures.append(f'po/POTFILES.in lists {path}, which does not exist')
    if len(set(listed)) != len(listed):
        failures.append('po/POTFILES.in lists a file twice')

    found = sorted(p for p in candidates() if translatable(os.path.join(srcdir, p)))
    for path in found:
        if path not in listed and path not in skipped:
            failures.append(f'{path} has translatable strings but is not in po/POTFILES.in')

    for failure in failures:
        print(failure)
    print(f'{len(found)} files with translatable strings, {len(listed)} in POTFILES.in')
    return 1 if failures else 0


sys.exit(main())
