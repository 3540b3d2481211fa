#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""The app icon is a 48x48 SVG; the symbolic icon a 16x16 SVG of filled shapes in one colour
(GTK recolours it), without strokes, gradients or bitmaps. Both render at 16 and 128 px."""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

APP_ID = 'io.github.strata.Strata'
srcdir = sys.argv[1]
icons = os.path.join(srcdir, 'data', 'icons', 'hicolor')
app = os.path.join(icons, 'scalable', 'apps', APP_ID + '.svg')
symbolic = os.path.join(icons, 'symbolic', 'apps', APP_ID + '-symbolic.svg')
SVG = '{http://www.w3.org/2000/svg}'
failures = []

for path, size in ((app, 48), (symbolic, 16)):
    root = ET.parse(path).getroot()
    if root.tag != SVG + 'svg':
        failures.append(f'{path}: not an SVG document')
        continue
    if root.get('viewBox') != f'0 0 {size} {size}' or root.get('width') != str(size) \
            or root.get('height') != str(size):
        failures.append(f'{path}: the canvas is not {size}x{size}')
    if any(el.tag == SVG + 'image' for el in root.iter()):
        failures.append(f'{path}: embeds a bitmap')

root = ET.parse(symbolic).getroot()
colours = set()
for el in root.iter():
    if el.get('stroke') not in (None, 'none') or 'stroke:' in (el.get('style') or ''):
        failures.append(f'{symbolic}: <{el.tag}> has a stroke; symbolic icons are fill only')
    if el.tag in (SVG + 'linearGradient', SVG + 'radialGradient'):
        failures.append(f'{symbolic}: has a gradient')
    if el.tag == SVG + 'path':
        colours.add(el.get('fill'))
if len(colours) != 1 or None in colours:
    failures.append(f'{symbolic}: paths use {sorted(map(str, colours))}, not one colour')

if shutil.which('rsvg-convert'):
    with tempfile.TemporaryDirectory() as tmp:
        for path in (app, symbolic):
            for px in (16, 128):
                out = os.path.join(tmp, f'{px}.png')
                r = subprocess.run(['rsvg-convert', '-w', str(px), '-h', str(px), path,
                                    '-o', out], capture_output=True, text=True)
                with open(out, 'rb') if r.returncode == 0 else open(os.devnull, 'rb') as f:
                    head = f.read(24)
                if r.returncode != 0 or head[:8] != b'\x89PNG\r\n\x1a\n' or \
                        int.from_bytes(head[16:20], 'big') != px:
                    failures.append(f'{path}: does not render at {px} px {r.stderr.strip()}')
else:
    print('rsvg-convert is not installed: icons not rendered')

for failure in failures:
    print(failure)
sys.exit(1 if failures else 0)
