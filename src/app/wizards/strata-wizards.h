/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gtk/gtk.h>

#include "strata-library.h"
#include "strata-job-manager.h"

G_BEGIN_DECLS

/*
 * The boundary between the main window and the wizards. The window knows wizards only by
 * name; each name is also a window action ("win.NAME") that opens the wizard on the selected
 * node:
 *
 *   "convert"    convert an image (VMDK, raw, qcow2) to qcow2 (or VMDK)
 *   "overlays"   create overlays on a base
 *   "rebase"     rebase an overlay (onto a copy of its base, another image, or flatten)
 *   "commit"     commit an overlay into its base (or into a copy of it)
 *   "check"      check an image (and repair leaks when safe)
 *   "protect"    make a base read-only
 *   "unprotect"  make it writable again
 *   "locate"     point an overlay whose backing file is missing at the right file
 *   "delete"     move an overlay to the trash
 *   "run"        start a VM on an overlay (only where qemu-system-x86_64 exists, not in Flatpak)
 */

/* TRUE when the wizard @name exists in this build and can run here (the window keeps the
 * action disabled and its buttons hidden otherwise). */
gboolean strata_wizard_is_available (const char *name);

/* TRUE when the wizard @name applies to @node at all (commit needs an overlay, protect a
 * writable image, locate a missing backing, ...); the window uses it to show the actions that
 * apply to the selection. Reasons a wizard would refuse (in use, protected) are shown by the
 * wizard itself, not hidden. */
gboolean strata_wizard_applies      (const char        *name,
                                     StrataLibraryNode *node);

/* Opens the wizard @name for @path (the selected node's path; for "convert" also a dropped
 * file) as a modal dialog transient for @parent. The wizard reads @library (siblings, names in
 * use), runs its operation through @jobs, and asks @library to rescan the files it changed.
 * Returns the dialog (owned by GTK; the caller need not keep it), or NULL with an error when
 * @name is unknown or unavailable. */
GtkWindow *strata_wizard_open        (const char        *name,
                                     GtkWindow         *parent,
                                     StrataLibrary     *library,
                                     StrataJobManager  *jobs,
                                     const char        *path,
                                     GError           **error);

G_END_DECLS
