/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/*
 * The one place the app reaches the engine's sample generator ("Create Sample Images" on
 * the first-run page and build-aux/run.sh). The button is hidden when the engine in this
 * build has no generator.
 */
gboolean  strata_sample_images_available     (void);
/* The folder the samples go to: $XDG_DATA_HOME/strata/samples. */
char     *strata_sample_images_folder        (void);
void      strata_sample_images_create_async  (GCancellable        *cancellable,
                                              GAsyncReadyCallback  callback,
                                              gpointer             user_data);
/* Returns the folder that now holds the samples. */
char     *strata_sample_images_create_finish (GAsyncResult        *result,
                                              GError             **error);

G_END_DECLS
