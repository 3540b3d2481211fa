/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <adwaita.h>

#include "test-util.h"

G_BEGIN_DECLS

/*
 * Helpers for the wizard and jobs tests: GTK set up for headless runs, waiting on the main
 * loop for a condition (never for a time), screenshots, images held by a qemu-io process,
 * and a way to hold a job's worker thread at its first write so that a test can cancel it at
 * a known point.
 */

void       wt_init              (int *argc, char ***argv);
/* Iterates the main context until @cond (@data) is TRUE; fails the test after a generous
 * limit (a hang, not a timing assertion). */
void       wt_wait              (gboolean (*cond) (gpointer data),
                                 gpointer  data);
/* Waits until the wizard's "page" property is @page. */
void       wt_wait_page         (GtkWidget  *wizard,
                                 const char *page);
/* Waits until the window is mapped, has a size and has drawn. */
void       wt_wait_drawn        (GtkWidget  *widget);
/* Saves @widget as screenshots/NAME.png under the build folder; returns the path. */
char      *wt_screenshot        (GtkWidget  *widget,
                                 const char *name);
/* The first descendant of @widget of @type, or NULL. */
GtkWidget *wt_find              (GtkWidget  *widget,
                                 GType       type);
/* The first descendant of @type on the wizard's page @page ("setup", "result"). */
GtkWidget *wt_find_on_page      (GtkWidget  *wizard,
                                 const char *page,
                                 GType       type);
/* The first GtkLabel or GtkButton below @widget whose text is @text, or NULL. */
GtkWidget *wt_find_label        (GtkWidget  *widget,
                                 const char *text);

/* Starts `qemu-io` on @path (read-write, or read-only) and waits until it holds the image's
 * locks. Returns the process id; wt_release() ends it. */
GPid       wt_hold              (const char *path,
                                 const char *format,
                                 gboolean    read_only);
void       wt_release           (GPid        pid);

/* From now on, the first write to a file whose name contains @needle blocks the writing
 * thread until the test calls wt_unblock(); wt_wait_blocked() waits (iterating the main
 * loop) until a thread is blocked there. */
void       wt_block_first_write (const char *needle);
void       wt_wait_blocked      (void);
void       wt_unblock           (void);
/* Cancels the wizard's job (blocked by wt_block_first_write()), lets it go on, waits for
 * the result page, asserts that the job did not succeed, and returns the summary. */
char      *wt_cancel_blocked    (GtkWidget  *wizard);

/* The string property @name of @widget (free it), and whether a wizard is "ready". */
char      *wt_string_prop       (GtkWidget  *widget,
                                 const char *name);
gboolean   wt_ready             (GtkWidget  *wizard);
/* For wt_wait(): whether the wizard @data has finished looking at its images (its "problem"
 * no longer says "Looking at …" or "Looking for …"). */
gboolean   wt_inspected_cb      (gpointer    data);

/* Disk usage in bytes (st_blocks × 512). */
guint64    wt_disk_usage        (const char *path);

G_END_DECLS
