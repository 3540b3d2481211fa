#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""The wizards test-atspi-wizards.py does not reach, end to end through the accessibility
tree: protect and unprotect, check, rebase (onto a copy of the current base, and flatten),
locate a missing backing file (its path typed into the wizard's entry), delete (to a trash
kept in the test's folder through a private XDG_DATA_HOME). QEMU judges every file.

Runs under xvfb-run + dbus-run-session (see meson.build); $STRATA_APP is the binary."""

import os
import tempfile
import time

from atspi_driver import (KEY_DOWN, KEY_SPACE, button, check, checked, click, enabled,
                          exit_on_failures, focused, gone, has_action, info, labels,
                          name_of, named, open_wizard, press, qemu_check_clean, qemu_identical,
                          role_of, run_app, set_text, sh, tab_to, visible, wait_for, wait_one,
                          walk)


def start_and_wait(window, go_label, title_prefix, timeout=120):
    go = wait_one(window, button(go_label), "the wizard has a %s button" % go_label)
    if go is None:
        return False
    deadline = time.time() + 30
    while time.time() < deadline and not enabled(go):
        time.sleep(0.25)
    check(enabled(go), "%s is enabled" % go_label)
    click(go)
    found = wait_for(window, lambda n: role_of(n) == "label" and visible(n)
                     and name_of(n).startswith(title_prefix), timeout)
    print("result:", labels(window), flush=True)
    return check(len(found) >= 1, "the result page says “%s…”" % title_prefix)


def finish(window, title):
    done = wait_one(window, button("Done"), "the result page has Done")
    if done is not None:
        click(done)
    check(gone(window), "Done closes “%s”" % title)


def choose(window, chosen, target):
    """GTK 4.8 check buttons have no accessible action: Tab lands on the chosen one of a
    group, Down moves from row to row, Space picks the row's choice."""
    if tab_to(window, named(chosen, "check box"), "Tab reaches “%s”" % chosen) is None:
        return False
    want = wait_one(window, named(target, "check box"), "the wizard offers “%s”" % target)
    if want is None:
        return False
    for _ in range(12):
        if checked(want):
            break
        press(KEY_DOWN)
        time.sleep(0.1)
        node = focused(window)
        if node is not None and name_of(node) == name_of(want):
            press(KEY_SPACE)
            time.sleep(0.2)
            break
        if node is not None and role_of(node) == "list item" and \
                any(name_of(n) == name_of(want) for n in walk(node)):
            press(KEY_SPACE)
            time.sleep(0.2)
    return check(checked(want), "“%s” is chosen" % target)


def protect(app, folder):
    base = os.path.join(folder, "base.qcow2")
    window = open_wizard(app, "base.qcow2, ", "Make Read-Only", "Protect Image")
    if window is None:
        return False
    if not start_and_wait(window, "Protect", "base.qcow2 Is Protected"):
        return False
    check(os.stat(base).st_mode & 0o222 == 0, "base.qcow2 is read-only on disk")
    qemu_check_clean(base, folder, "the protected base")
    finish(window, "Protect Image")

    window = open_wizard(app, "base.qcow2, ", "Make Writable…", "Unprotect Image")
    if window is None:
        return False
    if not start_and_wait(window, "Unprotect", "base.qcow2 Is Writable"):
        return False
    check(os.stat(base).st_mode & 0o200 != 0, "base.qcow2 is writable again")
    finish(window, "Unprotect Image")
    return True


def check_image(app, folder):
    window = open_wizard(app, "top.qcow2, ", "Check…", "Check Image")
    if window is None:
        return False
    if not start_and_wait(window, "Check", "top.qcow2 Is Clean"):
        return False
    qemu_check_clean("top.qcow2", folder, "top.qcow2, as the wizard said")
    finish(window, "Check Image")
    return True


def rebase_copy(app, folder):
    before = sh("sha256sum base.qcow2", folder).split()[0]
    window = open_wizard(app, "top.qcow2, ", "Rebase…", "Rebase Overlay")
    if window is None:
        return False
    choose(window, "Rebase onto", "Rebase onto a copy of the current base")
    name = wait_for(window, lambda n: role_of(n) == "text" and visible(n)
                    and name_of(n) == "Name of the Copy", 10)
    if check(len(name) == 1, "the copy's name entry is there"):
        check(set_text(name[0], "base-top.qcow2"), "the copy's name is typed in")
    if not start_and_wait(window, "Rebase", "top.qcow2 Now Uses base-top.qcow2"):
        return False
    copy = os.path.join(folder, "base-top.qcow2")
    check(os.path.exists(copy), "the copy of the base exists")
    meta = info("top.qcow2", folder)
    check(meta.get("backing-filename") == "base-top.qcow2",
          "top.qcow2 now points at the copy (%s)" % meta.get("backing-filename"))
    qemu_check_clean("top.qcow2", folder, "top.qcow2")
    qemu_check_clean(copy, folder, "the copy")
    qemu_identical("top.qcow2", "../top.raw", folder, "top.qcow2 and what the guest saw")
    qemu_identical(copy, "base.qcow2", folder, "the copy and the base")
    check(sh("sha256sum base.qcow2", folder).split()[0] == before, "the base is untouched")
    finish(window, "Rebase Overlay")
    return True


def flatten(app, folder):
    window = open_wizard(app, "side.qcow2, ", "Rebase…", "Rebase Overlay")
    if window is None:
        return False
    choose(window, "Rebase onto", "Remove the backing file")
    if not start_and_wait(window, "Rebase", "side.qcow2 Stands Alone"):
        return False
    meta = info("side.qcow2", folder)
    check("backing-filename" not in meta, "side.qcow2 has no backing file any more")
    qemu_check_clean("side.qcow2", folder, "side.qcow2")
    qemu_identical("side.qcow2", "../side.raw", folder, "side.qcow2 and what the guest saw")
    finish(window, "Rebase Overlay")
    return True


def locate(app, folder):
    window = open_wizard(app, "lost.qcow2, ", "Locate Backing File…", "Locate Base")
    if window is None:
        return False
    path = wait_for(window, lambda n: role_of(n) == "text" and visible(n)
                    and name_of(n) == "Path of the Base", 10)
    if not check(len(path) == 1, "the wizard has a “Path of the Base” entry"):
        return False
    check(set_text(path[0], os.path.join(folder, "moved", "lost-base.qcow2")),
          "the base's new path is typed in")
    sure = wait_for(window, lambda n: "right file" in name_of(n).lower()
                    and role_of(n) in ("check box", "toggle button", "switch"), 10)
    print("the switch:", [(role_of(n), name_of(n), visible(n), has_action(n, "toggle"))
                          for n in walk(window) if role_of(n) in ("check box", "toggle button",
                                                                  "switch")], flush=True)
    if check(len(sure) == 1 and has_action(sure[0], "toggle"),
             "the wizard asks whether this is the right file, with a switch"):
        sure[0].queryAction().doAction(0)
        time.sleep(0.3)
        check(checked(sure[0]), "the switch is on")
    if not start_and_wait(window, "Point to It", "lost.qcow2 Found Its Base"):
        cancel = wait_one(window, button("Cancel"), "the wizard can be cancelled")
        if cancel is not None:
            click(cancel)
            gone(window)
        return False
    meta = info("lost.qcow2", folder)
    check(meta.get("backing-filename", "").endswith("moved/lost-base.qcow2"),
          "lost.qcow2 points at the moved base (%s)" % meta.get("backing-filename"))
    qemu_check_clean("lost.qcow2", folder, "lost.qcow2")
    qemu_identical("lost.qcow2", "../lost.raw", folder, "lost.qcow2 and what it held")
    finish(window, "Locate Base")
    return True


def delete(app, folder, data_home):
    # side.qcow2, flattened by the step before: it stands alone and nothing is built on it,
    # so it is offered "Move to Trash…" as an overlay is.
    before = sh("sha256sum side.qcow2", folder).split()[0]
    window = open_wizard(app, "side.qcow2, ", "Move to Trash…", "Delete Image")
    if window is None:
        return False
    if not start_and_wait(window, "Move to Trash", "side.qcow2 Is in the Trash"):
        return False
    trashed = os.path.join(data_home, "Trash", "files", "side.qcow2")
    check(not os.path.exists(os.path.join(folder, "side.qcow2")), "side.qcow2 left the folder")
    if check(os.path.exists(trashed), "side.qcow2 is in the private trash"):
        check(sh("sha256sum '%s'" % trashed, folder).split()[0] == before,
              "the trashed file is the image, byte for byte")
    finish(window, "Delete Image")
    return True


def main():
    scratch = tempfile.mkdtemp(prefix="strata-atspi-more-")
    folder = os.path.join(scratch, "vms")
    data_home = os.path.join(scratch, "data")
    os.makedirs(os.path.join(folder, "moved"))
    os.makedirs(data_home)
    os.environ["XDG_DATA_HOME"] = data_home
    sh("qemu-img create -q -f qcow2 base.qcow2 32M"
       " && qemu-io -f qcow2 -c 'write -P 0x42 0 4M' base.qcow2"
       " && qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 top.qcow2"
       " && qemu-io -f qcow2 -c 'write -P 0x5a 1M 2M' top.qcow2"
       " && qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 side.qcow2"
       " && qemu-io -f qcow2 -c 'write -P 0x6b 8M 1M' side.qcow2"
       " && qemu-img convert -O raw top.qcow2 top.raw"
       " && qemu-img convert -O raw side.qcow2 side.raw"
       " && qemu-img create -q -f qcow2 lost-base.qcow2 32M"
       " && qemu-io -f qcow2 -c 'write -P 0x11 0 1M' lost-base.qcow2"
       " && qemu-img create -q -f qcow2 -b lost-base.qcow2 -F qcow2 lost.qcow2"
       " && qemu-io -f qcow2 -c 'write -P 0x22 2M 1M' lost.qcow2"
       " && qemu-img convert -O raw lost.qcow2 lost.raw"
       " && mv lost-base.qcow2 moved/ && mv *.raw ..", folder)
    # The raw copies live beside the folder, so the app does not list them.

    def steps(app):
        # STRATA_TEST_ONLY="locate delete" runs some of them, to debug one quickly.
        only = os.environ.get("STRATA_TEST_ONLY", "").split()
        steps = [("protect", lambda: protect(app, folder)),
                 ("check", lambda: check_image(app, folder)),
                 ("rebase", lambda: rebase_copy(app, folder)),
                 ("flatten", lambda: flatten(app, folder)),
                 ("delete", lambda: delete(app, folder, data_home)),
                 ("locate", lambda: locate(app, folder))]
        for name, step in steps:
            if not only or name in only:
                step()

    run_app(folder, scratch, steps)


main()
exit_on_failures()
