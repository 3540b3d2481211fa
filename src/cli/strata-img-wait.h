/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

#include "strata-job.h"

G_BEGIN_DECLS

/* Starts an engine operation: calls strata_thing_async (…, @callback, @callback_data). */
typedef void (*StrataImgStartFunc) (gpointer            data,
                                    StrataJob          *job,
                                    GAsyncReadyCallback callback,
                                    gpointer            callback_data);

/* Runs the main loop until the operation that @start begins has finished, printing
 * qemu-img's "    (12.34/100%)" line four times a second when @show_progress. Returns the
 * result to hand to the operation's _finish function. */
GAsyncResult *strata_img_wait     (StrataJob          *job,
                                   gboolean            show_progress,
                                   StrataImgStartFunc  start,
                                   gpointer            data);
/* Ends the progress line started by strata_img_wait(): 100% on success, else a newline. */
void          strata_img_wait_end (gboolean            show_progress,
                                   gboolean            ok);

G_END_DECLS
