/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gtk/gtk.h>

#include "strata-library.h"

G_BEGIN_DECLS

/*
 * The library folders with their image counts, and the problems found (missing backing
 * files, unreadable images, loops) as rows that select the affected nodes. Rows activate
 * window actions: "win.show-folder" and "win.remove-folder" (the folder), and
 * "win.select-problems" (the kind of problem, as strata_node_kind_to_string() names it).
 */
#define STRATA_TYPE_SIDEBAR (strata_sidebar_get_type ())
G_DECLARE_FINAL_TYPE (StrataSidebar, strata_sidebar, STRATA, SIDEBAR, GtkWidget)

GtkWidget *strata_sidebar_new         (void);
void       strata_sidebar_set_library (StrataSidebar *self,
                                       StrataLibrary *library);
/* Folders come and go without the node list changing (an empty folder): the window says so. */
void       strata_sidebar_folders_changed (StrataSidebar *self);

G_END_DECLS
