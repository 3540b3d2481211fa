/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

#include "strata-job.h"

G_BEGIN_DECLS

/*
 * A fast copy of one image file (a base before "rebase onto a copy" or commit --into-copy).
 *
 * The copy shares the source's blocks (FICLONE) where the file system can, otherwise it copies
 * only the data extents (SEEK_DATA/SEEK_HOLE, copy_file_range, plain reads and writes as a
 * last resort), so holes stay holes. It is written under a hidden temporary name next to
 * @target and renamed once flushed and verified; on error or cancellation the temporary file
 * is removed. The copy keeps the source's permission bits.
 *
 * Refused, naming the file: a @target that exists (including the source itself, an image a
 * running QEMU holds, a protected image), and a source that another process is writing.
 * While copying, the source is locked against writers as QEMU would lock it.
 */

typedef enum
{
  STRATA_COPY_DEFAULT    = 0,
  STRATA_COPY_NO_REFLINK = 1 << 0, /* always copy the bytes (tests; also STRATA_COPY_NO_REFLINK=1
                                    * in the environment) */
  STRATA_COPY_WRITABLE   = 1 << 1, /* a protected source gives a copy with u+w added */
  STRATA_COPY_NO_COPY_RANGE = 1 << 2, /* plain reads and writes through StrataFile (tests:
                                       * they then see every write) */
} StrataCopyFlags;

typedef enum
{
  STRATA_COPY_METHOD_REFLINK,      /* blocks shared with the source (FICLONE) */
  STRATA_COPY_METHOD_COPY_RANGE,   /* data extents copied in the kernel (copy_file_range) */
  STRATA_COPY_METHOD_READ_WRITE,   /* data extents read and written */
} StrataCopyMethod;

gboolean strata_copy_image_sync   (const char          *source,
                                   const char          *target,
                                   StrataJob           *job,
                                   GCancellable        *cancellable,
                                   GError             **error);
/* As strata_copy_image_sync(), with flags; *@method (may be NULL) tells how it was copied. */
gboolean strata_copy_image_full   (const char          *source,
                                   const char          *target,
                                   StrataCopyFlags      flags,
                                   StrataCopyMethod    *method,
                                   StrataJob           *job,
                                   GCancellable        *cancellable,
                                   GError             **error);
void     strata_copy_image_async  (const char          *source,
                                   const char          *target,
                                   StrataJob           *job,
                                   GCancellable        *cancellable,
                                   GAsyncReadyCallback  callback,
                                   gpointer             user_data);
gboolean strata_copy_image_finish (GAsyncResult        *result,
                                   GError             **error);

G_END_DECLS
