/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

#include "strata-create.h"
#include "strata-job.h"

G_BEGIN_DECLS

typedef struct
{
  const char          *source_format;  /* NULL: probe */
  const char          *target_format;  /* "qcow2" or "raw" */
  gboolean             compress;       /* -c */
  StrataCreateOptions  qcow2;          /* target options (cluster size, compat, ...) */
  guint                threads;        /* compressor threads; 0 = number of CPUs */
  gboolean             force_share;    /* -U on the source */
} StrataConvertOptions;

typedef struct
{
  guint64 source_allocated; /* bytes allocated on disk by the source chain */
  guint64 target_size;      /* bytes allocated on disk by the target */
} StrataConvertResult;

void     strata_convert_options_init (StrataConvertOptions *opts);

/* Converts @source (with its chain, flattened) to @target. Writes a hidden temporary file
 * next to @target and renames it on success; on error or cancellation nothing is left under
 * @target's name and the source is untouched. */
gboolean strata_convert_sync   (const char                 *source,
                                const char                 *target,
                                const StrataConvertOptions *opts,
                                StrataJob                  *job,
                                StrataConvertResult        *result,
                                GCancellable               *cancellable,
                                GError                    **error);
void     strata_convert_async  (const char                 *source,
                                const char                 *target,
                                const StrataConvertOptions *opts,
                                StrataJob                  *job,
                                GCancellable               *cancellable,
                                GAsyncReadyCallback         callback,
                                gpointer                    user_data);
gboolean strata_convert_finish (GAsyncResult               *result,
                                StrataConvertResult        *out,
                                GError                    **error);

G_END_DECLS
