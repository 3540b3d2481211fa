#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every screenshot the metainfo shows is a PNG committed under data/screenshots/, and the
default one comes first."""
import os
import sys
import xml.etree.ElementTree as ET

srcdir = sys.argv[1]
root = ET.parse(os.path.join(srcdir, 'data', 'io.github.strata.Strata.metainfo.xml.in')).getroot()
failures = []
shots = root.findall('./screenshots/screenshot')
if not shots:
    failures.append('the metainfo has no screenshots')
elif shots[0].get('type') != 'default':
    failures.append('the first screenshot is not the default one')
for shot in shots:
    url = shot.findtext('image', '').strip()
    marker = '/data/screenshots/'
    if marker not in url or not url.startswith('https://'):
        failures.append(f'{url} is not an https URL of a file under data/screenshots/')
        continue
    path = os.path.join(srcdir, 'data', 'screenshots', url.split(marker, 1)[1])
    if not os.path.isfile(path):
        failures.append(f'{url}: {path} is not in the tree')
        continue
    with open(path, 'rb') as f:
        head = f.read(24)
    if head[:8] != b'\x89PNG\r\n\x1a\n':
        failures.append(f'{path} is not a PNG')
    elif int.from_bytes(head[16:20], 'big') < 360:
        failures.append(f'{path} is narrower than 360 px')
    if not shot.findtext('caption', '').strip():
        failures.append(f'{url} has no caption')
for failure in failures:
    print(failure)
print(f'{len(shots)} screenshots')
sys.exit(1 if failures else 0)
