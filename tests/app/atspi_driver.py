# SPDX-License-Identifier: GPL-3.0-or-later
"""What the out-of-process tests share: starting the real `strata` binary, finding it and its
controls on the accessibility bus by role and name, pressing keys, typing, reading labels.
Nothing here knows a widget's position or a private pointer (see UI-TESTING.md)."""

import json
import os
import shutil
import subprocess
import sys
import time

# libatspi in this driver prints harmless cache warnings now and then ("Error in GetItems",
# see UI-TESTING.md): they must not abort the driver. The app keeps the G_DEBUG the test
# environment gives it (fatal warnings).
APP_G_DEBUG = os.environ.pop("G_DEBUG", None)

import pyatspi  # noqa: E402 (after G_DEBUG is out of the driver's environment)

# Tests that build their own binary pass it to launch() instead.
APP = os.environ.get("STRATA_APP")
failures = []

KEY_TAB = 0xff09
KEY_RETURN = 0xff0d
KEY_DOWN = 0xff54
KEY_UP = 0xff52
KEY_SPACE = 0x20


def check(condition, what):
    print(("ok: " if condition else "FAIL: ") + what, flush=True)
    if not condition:
        failures.append(what)
    return condition


def sh(cmd, cwd):
    """Runs a shell command in @cwd; returns its standard output."""
    return subprocess.run(cmd, shell=True, check=True, cwd=cwd, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE).stdout


# GTK 4.8 answers an accessibility query for the application's children while a window is
# being torn down with these criticals, from its own D-Bus handler (see gone()); nothing the
# app does calls it. Tests that open and close windows run the app with warnings non-fatal
# and fail on any other warning in its log (warnings_in()).
GTK_ATSPI_BUG = ("g_variant_is_object_path: assertion 'string != NULL' failed",
                 "g_variant_new_object_path: assertion 'g_variant_is_object_path")


def launch(*args, log=None, app=None, env_extra=None):
    """Starts the app (@app, else $STRATA_APP) with @args under the accessibility bus, as a
    user session would, with @env_extra added to its environment. With @log (a path), its
    standard error goes there and its warnings are not fatal."""
    env = dict(os.environ)
    if APP_G_DEBUG is not None:
        env["G_DEBUG"] = APP_G_DEBUG
    if log is not None:
        env["G_DEBUG"] = ",".join(flag for flag in (APP_G_DEBUG or "").split(",")
                                  if flag and not flag.startswith("fatal"))
    env.pop("GTK_A11Y", None)
    env["GDK_BACKEND"] = "x11"
    env.update(env_extra or {})
    stderr = open(log, "w") if log is not None else None
    return subprocess.Popen([app or APP] + list(args), env=env, stderr=stderr)


def warnings_in(log):
    """The app's warnings and criticals in @log, except GTK 4.8's known one (see above)."""
    with open(log, errors="replace") as f:
        lines = f.read().splitlines()
    for line in lines:
        print("app: " + line, flush=True)
    return [line for line in lines
            if ("-WARNING **" in line or "-CRITICAL **" in line)
            and not any(bug in line for bug in GTK_ATSPI_BUG)
            # Harmless noise (UI-TESTING.md).
            and "Failed to set fd limit" not in line]


def stop(proc):
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


def run_app(folder, scratch, steps):
    """Starts the app on @folder (its log in @scratch), finds it on the accessibility bus and
    calls @steps(app); then stops it, fails on the warnings it logged and removes @scratch
    (kept with STRATA_TEST_KEEP=1)."""
    log = os.path.join(scratch, "strata.log")
    proc = launch(folder, log=log)
    try:
        app = find_app(proc.pid)
        if not check(app is not None, "the app appears on the accessibility bus"):
            return
        steps(app)
        check(proc.poll() is None, "the app is still running")
    finally:
        stop(proc)
        warnings = warnings_in(log)
        check(not warnings, "the app logged no warnings: %s" % warnings)
        if os.environ.get("STRATA_TEST_KEEP") != "1":
            shutil.rmtree(scratch, ignore_errors=True)


def exit_on_failures():
    if failures:
        print("%d check(s) failed" % len(failures))
        sys.exit(1)


def info(path, cwd):
    return json.loads(sh("qemu-img info --output=json '%s'" % path, cwd))


def qemu_check_clean(path, cwd, what):
    out = sh("qemu-img check --output=json '%s' || true" % path, cwd)
    try:
        result = json.loads(out)
    except ValueError:
        result = {}
    check(result.get("check-errors", 1) == 0 and result.get("corruptions", 0) == 0
          and result.get("leaks", 0) == 0, "qemu-img check finds %s clean: %s"
          % (what, out.strip().replace("\n", " ")))


def qemu_identical(a, b, cwd, what):
    status = os.system("cd '%s' && qemu-img compare -q '%s' '%s'" % (cwd, a, b))
    check(status == 0, "qemu-img compare finds %s identical" % what)


def walk(node, depth=0):
    if node is None or depth > 60:
        return
    yield node
    # Rows come and go while the library settles: a vanished object is skipped.
    try:
        count = node.childCount
    except Exception:
        return
    for i in range(count):
        try:
            child = node.getChildAtIndex(i)
        except Exception:
            continue
        yield from walk(child, depth + 1)


def find_app(pid, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        desktop = pyatspi.Registry.getDesktop(0)
        for i in range(desktop.childCount):
            app = desktop.getChildAtIndex(i)
            try:
                if app is not None and app.get_process_id() == pid:
                    return app
            except Exception:
                pass
        time.sleep(0.2)
    return None


def wait_for(root, predicate, timeout=20):
    deadline = time.time() + timeout
    while True:
        found = [n for n in walk(root) if predicate(n)]
        if found or time.time() > deadline:
            return found
        time.sleep(0.25)


def wait_one(root, predicate, what, timeout=20):
    """The first node @predicate accepts, waiting for it; a failed check when none shows."""
    found = wait_for(root, predicate, timeout)
    check(len(found) >= 1, what)
    return found[0] if found else None


def name_of(node):
    try:
        return node.name or ""
    except Exception:
        return ""


def role_of(node):
    try:
        return node.getRoleName()
    except Exception:
        return ""


def visible(node):
    try:
        return node.getState().contains(pyatspi.STATE_VISIBLE)
    except Exception:
        return False


def checked(node):
    try:
        return node.getState().contains(pyatspi.STATE_CHECKED)
    except Exception:
        return False


def enabled(node):
    try:
        return node.getState().contains(pyatspi.STATE_SENSITIVE)
    except Exception:
        return False


def named(prefix, role=None):
    """Matches names starting with @prefix. GTK 4.8 names a button with a mnemonic after its
    label and its text ("C_onvert Convert"): underscores do not count."""
    def predicate(node):
        return name_of(node).replace("_", "").startswith(prefix) and \
            (role is None or role_of(node) == role)
    return predicate


def button(prefix):
    """A visible push button whose name starts with @prefix (the stack keeps hidden pages in
    the tree: only what shows counts)."""
    def predicate(node):
        return named(prefix, "push button")(node) and visible(node) and has_action(node, "click")
    return predicate


def has_action(node, name):
    try:
        action = node.queryAction()
        return any(action.getName(i) == name for i in range(action.nActions))
    except Exception:
        return False


def do_action(node, name):
    action = node.queryAction()
    for i in range(action.nActions):
        if action.getName(i) == name:
            return action.doAction(i)
    return False


def click(node):
    return do_action(node, "click")


def press(keysym):
    pyatspi.Registry.generateKeyboardEvent(keysym, None, pyatspi.KEY_SYM)
    time.sleep(0.15)


def focused(root):
    for node in walk(root):
        try:
            if node.getState().contains(pyatspi.STATE_FOCUSED):
                return node
        except Exception:
            pass
    return None


def tab_to(root, predicate, what, limit=80):
    """Presses Tab until the focused control is one @predicate accepts (Component.grabFocus
    does not work in GTK 4.8): the way a keyboard user gets there."""
    for _ in range(limit):
        node = focused(root)
        if node is not None and predicate(node):
            check(True, what)
            return node
        press(KEY_TAB)
    check(False, what)
    return None


def text_of(node):
    # getText(0, -1) returns "" in GTK 4.8: ask for the character count.
    text = node.queryText()
    return text.getText(0, text.characterCount)


def set_text(node, value):
    """Replaces an entry's text through EditableText (works without focus)."""
    editable = node.queryEditableText()
    length = node.queryText().characterCount
    if length:
        editable.deleteText(0, length)
    editable.insertText(0, value, len(value))
    return text_of(node) == value


def labels(root):
    """The texts of every visible label below @root."""
    return [name_of(n) for n in walk(root) if role_of(n) == "label" and visible(n)]


def windows(app):
    """The app's visible top-level windows (the application node's children: no deeper)."""
    found = []
    try:
        count = app.childCount
    except Exception:
        return found
    for i in range(count):
        try:
            window = app.getChildAtIndex(i)
        except Exception:
            continue
        if window is not None and visible(window):
            found.append(window)
    return found


def frame(app, title, timeout=20):
    """The window titled @title (a wizard is a window of its own). Asked a moment after
    whatever opened it: see gone()."""
    deadline = time.time() + timeout
    while True:
        time.sleep(0.5)
        found = [w for w in windows(app) if name_of(w) == title]
        if found or time.time() > deadline:
            return found[0] if found else None


def gone(window, timeout=20):
    """Waits until @window has closed, asking the window itself, never the application node:
    GTK 4.8 lists a window being torn down among the application's children after its
    accessible context is gone, answers with a null object path (a critical) and then
    crashes. Once the window has gone, the app is given a moment to take in the files that
    changed before anyone walks it."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            state = window.getState()
            closed = state.contains(pyatspi.STATE_DEFUNCT) or \
                not state.contains(pyatspi.STATE_VISIBLE)
        except Exception:
            closed = True
        if closed:
            time.sleep(2)
            return True
        time.sleep(0.25)
    return False


def select_node(app, prefix):
    """Tabs to the graph node whose accessible name starts with @prefix (tabbing onto a node
    selects it)."""
    wait_one(app, named(prefix, "tree item"), "the graph shows " + prefix)
    return tab_to(app, named(prefix, "tree item"), "Tab reaches the node " + prefix)


def open_wizard(app, node, action, title):
    """Selects the graph node @node (a prefix of its accessible name) with Tab, presses the
    details pane's @action, returns the wizard's window."""
    if select_node(app, node) is None:
        return None
    start = wait_one(app, button(action), "the details pane offers " + action)
    if start is None:
        return None
    click(start)
    window = frame(app, title)
    check(window is not None, "%s opens the %s wizard" % (action, title))
    return window


def format_size(n):
    """GLib's g_format_size(): decimal units, one decimal, a no-break space."""
    if n < 1000:
        return "%d byte" % n if n == 1 else "%d bytes" % n
    for unit, factor in (("kB", 1e3), ("MB", 1e6), ("GB", 1e9), ("TB", 1e12)):
        if n < factor * 1000 or unit == "TB":
            return "%.1f\u00a0%s" % (n / factor, unit)


def disk_usage(path):
    return os.stat(path).st_blocks * 512
