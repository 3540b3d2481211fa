#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""The real `strata` binary, driven the way a screen reader or a test robot uses it: through
the accessibility tree (AT-SPI), finding controls by role and name, never by position.

Runs under xvfb-run + dbus-run-session (see meson.build); $STRATA_APP is the binary."""

import os
import shutil
import sys
import tempfile

from atspi_driver import (check, click, failures, find_app, launch, named, sh, stop, wait_for,
                          walk)


def main():
    scratch = tempfile.mkdtemp(prefix="strata-atspi-")
    folder = os.path.join(scratch, "vms")
    other = os.path.join(scratch, "more")
    os.makedirs(folder)
    os.makedirs(other)
    sh("qemu-img create -q -f qcow2 base.qcow2 1G"
       " && for i in 1 2 3; do qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 img0$i.qcow2;"
       " done"
       " && qemu-img create -q -f qcow2 -u -b gone.qcow2 -F qcow2 orphan.qcow2 1G"
       " && qemu-img create -q -f vmdk disk.vmdk 1G", folder)
    sh("qemu-img create -q -f qcow2 later.qcow2 1G", other)

    proc = launch(folder)
    try:
        app = find_app(proc.pid)
        check(app is not None, "the app appears on the accessibility bus")
        if app is None:
            return

        nodes = wait_for(app, named("base.qcow2, base of 3 overlays"))
        check(len(nodes) == 1, "the base is a node named after what it is")
        if nodes:
            check("writable base" in nodes[0].name, "the base's name warns it is writable: "
                  + nodes[0].name)
        for i in (1, 2, 3):
            found = wait_for(app, named("img0%d.qcow2, overlay of base.qcow2" % i), 5)
            check(len(found) == 1, "img0%d.qcow2 is an overlay of base.qcow2" % i)
        found = wait_for(app, named("gone.qcow2, missing backing file"), 5)
        check(len(found) == 1, "the missing backing file is a node")
        found = wait_for(app, named("orphan.qcow2, overlay of gone.qcow2"), 5)
        check(len(found) == 1, "the orphan's name says what it points at")
        found = wait_for(app, named("disk.vmdk, standalone image"), 5)
        check(len(found) == 1, "the VMDK is a node")

        found = wait_for(app, named("1 missing backing file"), 5)
        check(len(found) >= 1, "the sidebar lists the problem")
        found = [n for n in wait_for(app, lambda n: n.getRoleName() == "push button", 5)
                 # GTK 4.8 repeats a labelled button's text in its name ("Open… Open…").
                 if (n.name or "").startswith("Open…")]
        check(len(found) == 1, "the header bar has an Open… button")
        found = [n for n in walk(app) if n.getRoleName() == "push button"
                 and "Remove" in (n.name or "") and "from the library" in n.name]
        check(len(found) == 1, "the folder's remove button says which folder")

        # The primary menu: About Strata opens the about window.
        menu = [n for n in wait_for(app, named("Main Menu", "push button"), 5)
                if n.queryAction().nActions > 0]
        check(len(menu) >= 1, "the main menu button can be pressed")
        if menu:
            click(menu[0])
            items = wait_for(app, named("Preferences", "menu item"), 5)
            check(len(items) == 1, "the main menu offers Preferences")
            about = wait_for(app, named("About Strata", "menu item"), 5)
            check(len(about) == 1, "the main menu offers About Strata")
            if about:
                click(about[0])
                window = wait_for(app, lambda n: n.getRoleName() == "frame"
                                  and "About" in (n.name or ""), 10)
                check(len(window) >= 1, "About Strata opens")

        # A second launch hands its arguments to the running window and exits.
        second = launch(other)
        second.wait(30)
        check(second.returncode == 0, "a second launch exits cleanly")
        found = wait_for(app, named("later.qcow2, standalone image"), 15)
        check(len(found) == 1, "the second launch's folder shows in the first window")
        check(proc.poll() is None, "the app is still running")
    finally:
        stop(proc)
        shutil.rmtree(scratch, ignore_errors=True)


main()
if failures:
    print("%d check(s) failed" % len(failures))
    sys.exit(1)
