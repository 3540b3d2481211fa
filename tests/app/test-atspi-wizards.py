#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""The wizards, end to end, the way a keyboard or screen-reader user goes through them: the
real `strata` binary on a folder, driven only through the accessibility tree (Tab to a node,
press the details pane's buttons, type into entries, pick from combo rows with the keyboard,
read the result page back), then QEMU judges every file the wizards wrote.

The flow is the seed's: a VMDK made by qemu-img is converted to a compressed qcow2, overlays
are created on it, the guest writes to one overlay, and that overlay is committed into a copy
of the base (its sibling still shares the base).

Runs under xvfb-run + dbus-run-session (see meson.build); $STRATA_APP is the binary."""

import os
import tempfile
import time

from atspi_driver import (KEY_DOWN, KEY_RETURN, KEY_SPACE, KEY_UP, button, check, checked, click,
                          disk_usage, enabled, exit_on_failures, focused, format_size, gone,
                          has_action, info, labels, name_of, named, open_wizard, press,
                          qemu_check_clean, qemu_identical, role_of, run_app, set_text, sh,
                          tab_to, visible, wait_for, wait_one, walk)


def pick(app, window, combo_name, choice):
    """Chooses @choice in the combo row @combo_name with the keyboard: Tab to it, Return
    opens its list (and must not press the wizard's default button), the arrows move, Return
    picks."""
    combo = tab_to(window, named(combo_name, "combo box"), "Tab reaches " + combo_name)
    if combo is None:
        return False
    press(KEY_RETURN)
    # The list shows in a popover: its rows are list items named after nothing, holding
    # the labels. Walk it with the arrows until the focused row shows @choice.
    for _ in range(12):
        row = focused(app)
        if row is not None and choice in [name_of(n) for n in walk(row)]:
            break
        press(KEY_DOWN)
    press(KEY_RETURN)
    time.sleep(0.3)
    shown = [name_of(n) for n in walk(combo) if role_of(n) == "label" and visible(n)]
    check(len(wait_for(window, button("Cancel"), 2)) == 1,
          "Return on %s opened its list, not the next page" % combo_name)
    return check(choice in shown, "%s now shows %s (%s)" % (combo_name, choice, shown))


def entry(window, title):
    found = wait_for(window, lambda n: role_of(n) == "text" and name_of(n) == title
                     and visible(n), 10)
    check(len(found) == 1, "the entry “%s” is there" % title)
    return found[0] if found else None


def wait_result(window, title_prefix, what, timeout=120):
    found = wait_for(window, lambda n: role_of(n) == "label" and visible(n)
                     and name_of(n).startswith(title_prefix), timeout)
    check(len(found) >= 1, what)


def bar_names(window):
    """The usage bars say each row in words: "NAME, DETAIL: SIZE on disk"."""
    return [name_of(n) for n in walk(window) if role_of(n) == "progress bar" and visible(n)]


def finish(app, window, title):
    done = wait_one(window, button("Done"), "the result page has Done")
    if done is not None:
        click(done)
    check(gone(window), "Done closes “%s”" % title)


def convert(app, folder):
    vmdk = os.path.join(folder, "disk.vmdk")
    target = os.path.join(folder, "converted.qcow2")

    window = open_wizard(app, "disk.vmdk, standalone image", "Convert…", "Convert Image")
    if window is None:
        return False

    name = entry(window, "Name")
    if name is not None:
        check(set_text(name, "converted.qcow2"), "the new image's name is typed in")
    pick(app, window, "Compression", "zstd")
    go = wait_one(window, button("Convert"), "the wizard has a Convert button")
    if go is None:
        return False
    click(go)
    wait_result(window, "converted.qcow2 Is Ready", "the result page says the image is ready")

    texts = labels(window)
    bars = bar_names(window)
    print("convert result:", texts, bars, flush=True)
    check(any(b.startswith("disk.vmdk, source: ") for b in bars),
          "the result shows the source's disk usage")
    want = "converted.qcow2, new image: %s on disk" % format_size(disk_usage(target))
    check(want in bars, "the result's bar for the new image is what is on disk: " + want)

    check(os.path.exists(target), "converted.qcow2 exists")
    qemu_check_clean(target, folder, "converted.qcow2")
    qemu_identical(vmdk, target, folder, "the VMDK and the qcow2")
    meta = info(target, folder)
    check(meta.get("format") == "qcow2", "the new image is qcow2")
    check(meta.get("format-specific", {}).get("data", {}).get("compression-type") == "zstd",
          "the new image is zstd-compressed, as picked")
    check(disk_usage(target) < disk_usage(vmdk), "compressed, it uses less disk than the VMDK")
    finish(app, window, "Convert Image")
    return True


def overlays(app, folder):
    base = os.path.join(folder, "converted.qcow2")

    window = open_wizard(app, "converted.qcow2, standalone image", "New Overlays…",
                         "Create Overlays")
    if window is None:
        return False

    # How many: the spin button, by keyboard (Up/Down change it by one).
    spin = tab_to(window, lambda n: role_of(n) == "spin button"
                  and name_of(n).startswith("How Many"), "Tab reaches How Many Overlays")
    if spin is not None:
        for _ in range(5):
            if spin.queryValue().currentValue <= 2:
                break
            press(KEY_DOWN)
        check(spin.queryValue().currentValue == 2, "How Many is set to 2")
    pattern = entry(window, "Names (# is the number)")
    if pattern is not None:
        check(set_text(pattern, "vm#.qcow2"), "the names' pattern is typed in")
    preview = wait_for(window, lambda n: role_of(n) == "label" and visible(n)
                       and "vm1.qcow2" in name_of(n) and "vm2.qcow2" in name_of(n), 10)
    check(len(preview) >= 1, "the preview names vm1.qcow2 and vm2.qcow2")
    # The switch (a check box with a toggle action in GTK 4.8) is on by default.
    protect = [n for n in walk(window) if named("Protect the Base First", "check box")(n)
               and visible(n)]
    check(len(protect) == 1 and checked(protect[0]) and has_action(protect[0], "toggle"),
          "the wizard offers to protect the base first, switched on")

    go = wait_one(window, button("Create"), "the wizard has a Create button")
    if go is None:
        return False
    click(go)
    wait_result(window, "2 Overlays", "the result page says the overlays were created")
    bars = bar_names(window)
    print("overlays result:", labels(window), bars, flush=True)
    for i in (1, 2):
        path = os.path.join(folder, "vm%d.qcow2" % i)
        if not check(os.path.exists(path), "vm%d.qcow2 exists" % i):
            continue
        want = "vm%d.qcow2, overlay: %s on disk" % (i, format_size(disk_usage(path)))
        check(want in bars, "the result's bar for vm%d.qcow2 is what is on disk" % i)
        meta = info(path, folder)
        check(meta.get("backing-filename") == "converted.qcow2"
              and meta.get("backing-filename-format") == "qcow2",
              "vm%d.qcow2 is an overlay of converted.qcow2 with its format recorded" % i)
        qemu_check_clean(path, folder, "vm%d.qcow2" % i)
        qemu_identical(path, base, folder, "vm%d.qcow2 and its base" % i)
    check(os.stat(base).st_mode & 0o222 == 0, "the base was protected first")
    finish(app, window, "Create Overlays")
    return True


def commit(app, folder):
    base = os.path.join(folder, "converted.qcow2")
    overlay = os.path.join(folder, "vm1.qcow2")
    copy = os.path.join(folder, "converted-vm1.qcow2")

    # The guest writes to its overlay.
    sh("qemu-io -f qcow2 -c 'write -P 0x5a 1M 3M' -c 'write -P 0x5b 40M 1M' vm1.qcow2",
       folder)
    sh("qemu-img convert -O raw vm1.qcow2 want.raw && qemu-img convert -O raw vm2.qcow2 "
       "want2.raw", folder)
    base_before = sh("sha256sum converted.qcow2", folder).split()[0]

    window = open_wizard(app, "vm1.qcow2, overlay of converted.qcow2", "Commit into Base…",
                         "Commit Overlay")
    if window is None:
        return False

    # vm2.qcow2 shares the base (and the base is protected): into a copy, by default.
    sibling = wait_for(window, lambda n: visible(n) and "vm2.qcow2" in name_of(n), 20)
    check(len(sibling) >= 1, "the wizard names the sibling vm2.qcow2")
    # GTK 4.8 gives check buttons no accessible action: choose with the keyboard. Tab lands
    # on the chosen one; the arrows move from row to row of the list, Space picks the row's
    # choice. Into the base itself is refused, in words, while vm2 shares the base.
    into_copy = tab_to(window, named("Commit into a copy of the base", "check box"),
                       "Tab reaches the chosen “Commit into a copy of the base”")
    go = wait_one(window, button("Commit"), "the wizard has a Commit button")
    into_base = wait_one(window, named("Commit into the base itself", "check box"),
                         "the wizard offers the base itself")
    if into_copy is None or go is None or into_base is None:
        return False
    check(checked(into_copy), "into a copy is the default while another image shares the base")
    base_row = named("The Base, converted.qcow2", "list item")
    for _ in range(4):
        node = focused(window)
        if node is not None and (base_row(node) or name_of(node) == name_of(into_base)):
            break
        press(KEY_DOWN)
    check(base_row(node) or name_of(node) == name_of(into_base),
          "Down reaches the base's row (%s %s)" % (role_of(node), name_of(node)))
    press(KEY_SPACE)
    # The base was protected by the overlays wizard: that is the first reason.
    refusal = wait_for(window, lambda n: role_of(n) == "label" and visible(n)
                       and name_of(n).startswith("converted.qcow2 is protected (read-only)")
                       and "Commit into a copy" in name_of(n), 10)
    check(checked(into_base) and len(refusal) == 1,
          "into the base itself, the wizard says why it refuses and the way out")
    check(not enabled(go), "and Commit is disabled")
    copy_row = named("A Copy of the Base", "list item")
    for _ in range(4):
        node = focused(window)
        if node is not None and (copy_row(node) or name_of(node) == name_of(into_copy)):
            break
        press(KEY_UP)
    press(KEY_SPACE)
    check(checked(into_copy) and not checked(into_base), "into a copy of the base is chosen")
    name = entry(window, "Name of the Copy")
    if name is not None:
        check(set_text(name, "converted-vm1.qcow2"), "the copy's name is typed in")

    # Starting is allowed once the wizard has looked at the images around the overlay.
    deadline = time.time() + 60
    while time.time() < deadline and not enabled(go):
        time.sleep(0.25)
    check(enabled(go), "Commit is enabled for the copy")
    click(go)
    wait_result(window, "Committed into converted-vm1.qcow2",
                "the result page says where the data went")
    bars = bar_names(window)
    print("commit result:", labels(window), bars, flush=True)
    check("vm1.qcow2, measured: %s on disk" % format_size(disk_usage(overlay)) in bars,
          "the result's measured bar for the overlay is what is on disk")
    check("converted-vm1.qcow2, measured: %s on disk" % format_size(disk_usage(copy)) in bars,
          "the result's measured bar for the copy is what is on disk")

    check(os.path.exists(copy), "the copy of the base exists")
    qemu_check_clean(copy, folder, "the copy")
    qemu_check_clean(overlay, folder, "vm1.qcow2")
    qemu_identical(copy, "want.raw", folder, "the copy and what the guest saw")
    qemu_identical(overlay, "want.raw", folder, "vm1.qcow2 and what the guest saw")
    check(info(overlay, folder).get("backing-filename") == "converted-vm1.qcow2",
          "vm1.qcow2 now uses the copy as its base")
    check(sh("sha256sum converted.qcow2", folder).split()[0] == base_before,
          "the shared base is untouched")
    qemu_identical("vm2.qcow2", "want2.raw", folder, "the sibling and what it held before")
    finish(app, window, "Commit Overlay")
    return True


def main():
    scratch = tempfile.mkdtemp(prefix="strata-atspi-wizards-")
    folder = os.path.join(scratch, "vms")
    os.makedirs(folder)
    sh("qemu-img create -q -f vmdk disk.vmdk 64M"
       " && qemu-io -f vmdk -c 'write -P 0x42 0 8M' -c 'write -P 0x43 32M 4M' disk.vmdk",
       folder)

    def steps(app):
        if convert(app, folder) and overlays(app, folder):
            commit(app, folder)

    run_app(folder, scratch, steps)


main()
exit_on_failures()
