/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

/*
 * Disk usage of a few files side by side: one row per file (name, a bar scaled to the
 * largest row, the size in words), as the `ls -ls` listings of the command line would show
 * them. Each bar's accessible name says the row in words.
 */
#define STRATA_TYPE_USAGE_BARS (strata_usage_bars_get_type ())
G_DECLARE_FINAL_TYPE (StrataUsageBars, strata_usage_bars, STRATA, USAGE_BARS, GtkWidget)

GtkWidget  *strata_usage_bars_new   (void);
void        strata_usage_bars_clear (StrataUsageBars *self);
/* Adds a row; @detail (may be NULL) qualifies it ("before", "predicted", "measured"). An
 * @estimate row is drawn dimmed. */
void        strata_usage_bars_add   (StrataUsageBars *self,
                                     const char      *name,
                                     const char      *detail,
                                     guint64          bytes,
                                     gboolean         estimate);
guint       strata_usage_bars_get_n_rows (StrataUsageBars *self);
/* The size text of row @index ("486.3 MB"), for tests. */
const char *strata_usage_bars_get_size_text (StrataUsageBars *self,
                                             guint            index);

G_END_DECLS
