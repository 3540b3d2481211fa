/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

#include "strata-job.h"

G_BEGIN_DECLS

typedef struct
{
  const char *format_a;    /* -f; NULL: probe */
  const char *format_b;    /* -F; NULL: probe */
  gboolean    strict;      /* -s: sizes and allocation must match too */
  gboolean    force_share; /* -U */
} StrataCompareOptions;

typedef enum
{
  STRATA_COMPARE_IDENTICAL,
  STRATA_COMPARE_CONTENT_MISMATCH, /* "Content mismatch at offset N!" */
  STRATA_COMPARE_SIZE_MISMATCH,    /* strict only: "Strict mode: Image size mismatch!" */
  STRATA_COMPARE_STATUS_MISMATCH,  /* strict only: "Strict mode: Offset N block status mismatch!" */
} StrataCompareVerdict;

typedef struct
{
  StrataCompareVerdict verdict;
  guint64              offset;       /* of the first mismatch (512-byte aligned, as qemu-img) */
  gboolean             size_differs; /* "Warning: Image size mismatch!" */
  gboolean             opened;       /* FALSE when an error came from opening an image */
  guint64              common_size;  /* the smaller virtual size */
} StrataCompareResult;

/* Compares the guest-visible content of two images (each with its chain), as `qemu-img
 * compare` does: a larger image compares equal when its extra part reads as zeros. */
gboolean strata_compare_sync   (const char                 *a,
                                const char                 *b,
                                const StrataCompareOptions *opts,
                                StrataJob                  *job,
                                StrataCompareResult        *result,
                                GCancellable               *cancellable,
                                GError                    **error);
void     strata_compare_async  (const char                 *a,
                                const char                 *b,
                                const StrataCompareOptions *opts,
                                StrataJob                  *job,
                                GCancellable               *cancellable,
                                GAsyncReadyCallback         callback,
                                gpointer                    user_data);
gboolean strata_compare_finish (GAsyncResult               *result,
                                StrataCompareResult        *out,
                                GError                    **error);

G_END_DECLS
