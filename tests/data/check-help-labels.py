#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every <gui> label the help names is a label the app shows: in English, a string of the
app's sources; in French, the translation of one in po/fr.po. The help then never tells a
user to click something that is not there."""
import glob
import os
import re
import sys
import xml.etree.ElementTree as ET

srcdir = sys.argv[1]
MAL = '{http://projectmallard.org/1.0/}'
# Labels that belong to other programs (Files' Open With menu).
FOREIGN = {'Open With', 'Strata', 'Ouvrir avec', 'Fichiers'}
failures = []


def plain(label):
    return re.sub(r'_(?=\w)', '', label).strip()


def gui_labels(page):
    root = ET.parse(page).getroot()
    return {' '.join(''.join(el.itertext()).split()) for el in root.iter(MAL + 'gui')}


def po_entries(path):
    text = open(path, encoding='utf-8').read()
    for block in text.split('\n\n'):
        fields, cur = {}, None
        for line in block.split('\n'):
            m = re.match(r'^(msgid|msgid_plural|msgstr(?:\[\d\])?) (".*")$', line)
            if m:
                cur = m.group(1)
                fields[cur] = [m.group(2)]
            elif line.startswith('"') and cur:
                fields[cur].append(line)
            else:
                cur = None
        if 'msgid' in fields:
            yield {k: ''.join(eval(x) for x in v) for k, v in fields.items()}


english = set()
for path in glob.glob(os.path.join(srcdir, 'src', 'app', '**', '*.*'), recursive=True):
    if path.endswith(('.c', '.ui')):
        text = open(path, encoding='utf-8').read()
        english.update(plain(s) for s in re.findall(r'"((?:[^"\\\n]|\\.)*)"', text))
        english.update(plain(s) for s in re.findall(r'>([^<>\n]+)</', text))
french = {plain(e.get('msgstr', '')) for e in po_entries(os.path.join(srcdir, 'po', 'fr.po'))}

pages = sorted(glob.glob(os.path.join(srcdir, 'help', 'C', '*.page')))
for page in pages:
    for label in sorted(gui_labels(page) - FOREIGN):
        if label not in english:
            failures.append(f'{os.path.basename(page)}: the app shows no "{label}"')

fr_help = {e['msgid']: e.get('msgstr', '')
           for e in po_entries(os.path.join(srcdir, 'help', 'fr', 'fr.po'))}
for msgid, msgstr in fr_help.items():
    for label in re.findall(r'<gui(?: [^>]*)?>([^<]*)</gui>', msgstr):
        label = ' '.join(label.split())
        if label not in FOREIGN and label not in french:
            failures.append(f'help/fr/fr.po: the French app shows no « {label} »')

for failure in failures:
    print(failure)
print(f'{len(pages)} pages checked')
sys.exit(1 if failures else 0)
