/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

/* The library folders live in GSettings ("library-folders"); the window's library follows
 * the key, so the window, the preferences and drops all change folders through here. */
void strata_folder_settings_add    (GSettings  *settings,
                                    const char *folder);
void strata_folder_settings_remove (GSettings  *settings,
                                    const char *folder);

/* Asks for a folder with the portal-friendly native chooser and adds it to @settings. */
void strata_folder_settings_choose (GSettings  *settings,
                                    GtkWindow  *parent);

G_END_DECLS
