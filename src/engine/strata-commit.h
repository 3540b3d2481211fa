/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

#include "strata-job.h"

G_BEGIN_DECLS

typedef struct
{
  const char         *format;        /* -f: the overlay's format; NULL: probe */
  gboolean            keep_overlay;  /* -d: do not empty the overlay afterwards */
  gboolean            force;         /* --force: commit even if other images use the base */
  const char * const *library_dirs;  /* --library DIR...: also look there for siblings */
  const char         *into_copy;     /* --into-copy NEWBASE: copy the base, rebase, commit */
  const char         *base;          /* -b BASE: commit into this deeper layer of the chain */
} StrataCommitOptions;

/* Apparent size (st_size) and allocated bytes (st_blocks) of the two files. */
typedef struct
{
  guint64 overlay_apparent;
  guint64 overlay_allocated;
  guint64 base_apparent;
  guint64 base_allocated;
} StrataCommitSizes;

typedef struct
{
  char              *base;      /* the file committed into */
  StrataCommitSizes  before;    /* measured before */
  StrataCommitSizes  predicted; /* predicted after, from the allocation maps */
  StrataCommitSizes  after;     /* measured after */
  guint64            bytes_committed;
  char              *original_base; /* with into_copy: the base that was copied */
} StrataCommitResult;

void     strata_commit_result_clear (StrataCommitResult *result);

/* Predicts the sizes after a commit of @filename into its backing file (or, with base,
 * into that deeper layer), without writing. */
gboolean strata_commit_predict (const char                *filename,
                                const StrataCommitOptions *opts,
                                StrataCommitResult        *result,
                                GCancellable              *cancellable,
                                GError                   **error);

/*
 * Writes the overlay's allocated data (data and zero clusters) into its immediate backing
 * file, grows the base if the overlay is larger, flushes it, then (unless keep_overlay)
 * discards the overlay's clusters so its reads fall through to the base. Before writing it
 * looks for the other images whose resolved backing is that base (its folder and every
 * library folder) and refuses with STRATA_ERROR_SHARED_BASE naming them all unless force.
 * Protected images are refused, and QEMU's locks are taken on both files.
 *
 * With base (-b), the data of @filename and of every layer above BASE is written into BASE,
 * found in the chain as qemu-img finds it (a relative name is resolved against the folder
 * of each layer in turn; STRATA_ERROR_NOT_FOUND "Did not find 'BASE' in the backing chain of
 * 'FILE'" otherwise). No layer above BASE is changed or emptied. The sibling guard covers
 * every image outside the chain that uses BASE or an intermediate layer as its backing file:
 * all of them read BASE's new content wherever their own layers are unallocated.
 *
 * With into_copy, the base is first copied to that name (through a hidden temporary file),
 * the overlay's pointer is moved to the copy and the commit goes into the copy: the original
 * base and its other overlays are untouched.
 */
gboolean strata_commit_sync   (const char                *filename,
                               const StrataCommitOptions *opts,
                               StrataJob                 *job,
                               StrataCommitResult        *result,
                               GCancellable              *cancellable,
                               GError                   **error);
void     strata_commit_async  (const char                *filename,
                               const StrataCommitOptions *opts,
                               StrataJob                 *job,
                               GCancellable              *cancellable,
                               GAsyncReadyCallback        callback,
                               gpointer                   user_data);
/* @out receives the result (clear it with strata_commit_result_clear()). */
gboolean strata_commit_finish (GAsyncResult              *result,
                               StrataCommitResult        *out,
                               GError                   **error);

G_END_DECLS
