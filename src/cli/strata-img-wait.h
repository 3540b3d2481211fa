/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

#include "strata-img-progress.h"
#include "strata-job.h"

G_BEGIN_DECLS

/* Starts an engine operation: calls strata_thing_async (…, @callback, @callback_data). */
typedef void (*StrataImgStartFunc) (gpointer            data,
                                    StrataJob          *job,
                                    GAsyncReadyCallback callback,
                                    gpointer            callback_data);

/* Runs the main loop until the operation that @start begins has finished. With @progress
 * (NULL: quiet) it prints qemu-img's "    (12.34/100%)" lines as the job advances: the
 * planned ones, or with @live the job's own values when qemu-img would print them (the
 * caller has made qemu-img's first step, 0%, and ends with strata_img_progress_end()).
 * Returns the result to hand to the operation's _finish function. */
GAsyncResult *strata_img_wait     (StrataJob          *job,
                                   StrataImgProgress  *progress,
                                   gboolean            live,
                                   StrataImgStartFunc  start,
                                   gpointer            data);

G_END_DECLS
