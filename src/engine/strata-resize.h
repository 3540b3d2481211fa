/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

#include "strata-measure.h"

G_BEGIN_DECLS

typedef struct
{
  const char     *format;   /* NULL: probe */
  gboolean        shrink;   /* allow the image to become smaller (data past the end goes) */
  StrataPrealloc  prealloc; /* for the new area: raw takes falloc and full, qcow2 all */
} StrataResizeOptions;

/*
 * Resizes @filename (raw or qcow2) to @size bytes, or by @size bytes when @relative is +1 or
 * -1. Like qemu-img: a smaller size needs opts->shrink, the result must be positive, and a
 * multiple of 512 for qcow2. qcow2 grows its L1 table in the crash-safe order (new table
 * and refcounts, flush, header); it shrinks by releasing the clusters past the new end
 * before the header changes. The new area reads as zeros even over a larger backing file.
 */
gboolean strata_resize_sync (const char                *filename,
                             const StrataResizeOptions *opts,
                             int                        relative,
                             guint64                    size,
                             GError                   **error);

G_END_DECLS
