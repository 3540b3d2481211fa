#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""The bash completion and the man page know every command of strata-img --help, and every
option its synopsis shows; the completion offers values where there is a fixed set."""
import os
import re
import subprocess
import sys

srcdir, strata_img = sys.argv[1], sys.argv[2]
completion = os.path.join(srcdir, 'data', 'completions', 'strata-img')
with open(os.path.join(srcdir, 'doc', 'strata-img.1.scd'), encoding='utf-8') as f:
    manpage = f.read()
failures = []

# bash-completion's helpers, reduced to what the script uses (-s splits --opt=value).
STUBS = r'''
_init_completion () {
  words=("${COMP_WORDS[@]}"); cword=$COMP_CWORD
  cur=${COMP_WORDS[COMP_CWORD]}; prev=${COMP_WORDS[COMP_CWORD-1]}
  if [[ $1 == -s && $cur == --?*=* ]]; then prev=${cur%%=*}; cur=${cur#*=}; fi
}
_filedir () { COMPREPLY=(@FILES@); }
compopt () { :; }
'''


def complete(*words):
    line = ' '.join("'" + w.replace("'", "'\\''") + "'" for w in ('strata-img',) + words)
    script = (STUBS + f'. "{completion}"\n' + f'COMP_WORDS=({line}); COMP_CWORD={len(words)}\n'
              + '_strata_img; printf "%s\\n" "${COMPREPLY[@]}"\n')
    r = subprocess.run(['bash', '--norc', '--noprofile', '-c', script],
                       capture_output=True, text=True)
    if r.returncode != 0:
        failures.append(f'completing {words}: bash failed: {r.stderr.strip()}')
    return set(r.stdout.split())


def expect_offers(words, wanted):
    got = complete(*words)
    for w in wanted:
        if w not in got:
            failures.append(f'completing "strata-img {" ".join(words)}" does not offer {w} '
                            f'(offers {sorted(got)})')


usage = subprocess.run([strata_img, '--help'], capture_output=True, text=True, check=True).stdout
synopses = {}
for line in usage.splitlines():
    m = re.match(r'^  ([a-z][a-z-]*) ?(.*)$', line)
    if m:
        synopses[m.group(1)] = m.group(2)
if len(synopses) < 10:
    failures.append(f'strata-img --help lists only {sorted(synopses)}')

expect_offers(('',), synopses.keys())
expect_offers(('co',), [c for c in synopses if c.startswith('co')])

sections = re.split(r'^## ', manpage, flags=re.M)
common = manpage.split('# COMMON OPTIONS', 1)[-1].split('\n# ', 1)[0]
for command, synopsis in synopses.items():
    section = next((s for s in sections
                    if re.match(rf'[a-z, -]*(?<![\w-]){command}(?![\w-])', s)), None)
    if section is None:
        failures.append(f'the man page has no section for {command}')
        section = ''
    options = set(re.findall(r'(?<![\w-])(--?[A-Za-z][\w-]*)', synopsis))
    for option in sorted(options):
        prefix = option if option.startswith('--') else '-'
        offered = complete(command, prefix)
        if option not in offered and option + '=' not in offered:
            failures.append(f'completion of {command} does not offer {option}')
        if f'*{option}*' not in section and f'*{option}*' not in common and \
                f'*{option}=' not in section and f'*{option}=' not in common:
            failures.append(f'the man page does not describe {option} for {command}')

expect_offers(('convert', '-O', ''), ['qcow2', 'raw', 'vmdk'])
expect_offers(('convert', '-O', 'vmdk', '-o', ''), ['subformat='])
expect_offers(('info', '-f', ''), ['qcow2', 'raw', 'vmdk'])
expect_offers(('check', '-r', ''), ['leaks', 'all'])
expect_offers(('info', '--output='), ['human', 'json'])
expect_offers(('tree', '--output='), ['human', 'json', 'dot'])
expect_offers(('create', '-o', ''), ['compression_type=', 'cluster_size='])
expect_offers(('info', 'disk'), ['@FILES@'])

for failure in failures:
    print(failure)
print(f'{len(synopses)} commands checked')
sys.exit(1 if failures else 0)
