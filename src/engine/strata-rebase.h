/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

#include "strata-job.h"

G_BEGIN_DECLS

typedef struct
{
  const char *format;         /* -f: the overlay's format; NULL: probe */
  const char *backing;        /* -b: the new backing name, stored byte for byte; "" or NULL:
                               * none (flatten) */
  const char *backing_format; /* -F: required whenever @backing is not empty */
  gboolean    unsafe;         /* -u: only rewrite the pointer */
  gboolean    force_share;    /* -U: open the old and new backing files even if in use */
} StrataRebaseOptions;

/*
 * Changes the backing file of @filename, as `qemu-img rebase`. Safe mode: wherever the
 * overlay is unallocated, the old and the new backing are compared and the old content is
 * copied into the overlay where they differ (with -b "", everything the old chain provides
 * is copied); the header is rewritten last, after a flush. A relative new name is resolved
 * against the overlay's folder. The overlay is opened for writing (QEMU's locks), and a
 * protected overlay is refused.
 */
gboolean strata_rebase_sync   (const char                *filename,
                               const StrataRebaseOptions *opts,
                               StrataJob                 *job,
                               GCancellable              *cancellable,
                               GError                   **error);
void     strata_rebase_async  (const char                *filename,
                               const StrataRebaseOptions *opts,
                               StrataJob                 *job,
                               GCancellable              *cancellable,
                               GAsyncReadyCallback        callback,
                               gpointer                   user_data);
gboolean strata_rebase_finish (GAsyncResult              *result,
                               GError                   **error);

G_END_DECLS
