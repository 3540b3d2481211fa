/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gtk/gtk.h>

#include "strata-application.h"
#include "strata-window.h"

G_BEGIN_DECLS

/*
 * Shared by the app's in-process tests: a scratch folder, shell commands (qemu-img makes
 * the images), a window of a registered application, waiting for the model to settle,
 * finding what a user would see, and screenshots under the build folder.
 */

void          at_init              (int          *argc,
                                    char       ***argv);
const char   *at_dir               (void);
/* A new folder inside the scratch folder. */
char         *at_mkdir             (const char   *name);
/* Runs a shell command in the scratch folder; fails the test unless it exits 0. */
void          at_sh                (const char   *fmt,
                                    ...) G_GNUC_PRINTF (1, 2);

/* A fresh window of a fresh (non-unique, registered) application, presented. */
StrataWindow *at_window_new        (void);
void          at_window_destroy    (StrataWindow *window);

/* Iterates the main context until @check returns TRUE; fails after a generous deadline
 * (the deadline only guards against hanging, no test measures speed). */
void          at_wait_until        (gboolean    (*check) (gpointer data),
                                    gpointer      data,
                                    const char   *what);
/* Iterates until the library has finished scanning and the window has drawn. */
void          at_settle            (StrataWindow *window);

/* The first mapped descendant GtkLabel whose text contains @text (no-break spaces match
 * spaces), or NULL. */
GtkWidget    *at_find_label        (GtkWidget    *root,
                                    const char   *text);
/* The first mapped descendant of @type, or NULL. */
GtkWidget    *at_find_widget       (GtkWidget    *root,
                                    GType         type);

/* Saves @widget as it is drawn to BUILD/tests/app/screenshots/@name.png. */
void          at_screenshot        (GtkWidget    *widget,
                                    const char   *name);

G_END_DECLS
