/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <adwaita.h>

G_BEGIN_DECLS

#define STRATA_TYPE_PREFERENCES_WINDOW (strata_preferences_window_get_type ())
G_DECLARE_FINAL_TYPE (StrataPreferencesWindow, strata_preferences_window, STRATA,
                      PREFERENCES_WINDOW, AdwPreferencesWindow)

/* The library folders and the recursive scan, written straight to @settings. */
GtkWidget *strata_preferences_window_new (GSettings *settings);

G_END_DECLS
