/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

#include "strata-file.h"
#include "strata-job.h"

G_BEGIN_DECLS

typedef enum
{
  STRATA_CHECK_FIX_NONE   = 0,
  STRATA_CHECK_FIX_LEAKS  = 1 << 0, /* -r leaks */
  STRATA_CHECK_FIX_ERRORS = 1 << 1, /* -r all: also refcounts too low and COPIED flags */
} StrataCheckFix;

typedef struct
{
  const char     *format;      /* NULL: probe */
  StrataCheckFix  fix;
  gboolean        force_share; /* -U (refused together with a repair) */
} StrataCheckOptions;

/* What `qemu-img check` reports (its ImageCheck), counts of the final check. */
typedef struct
{
  char      *filename;
  char      *format;
  guint64    check_errors;
  guint64    corruptions;
  guint64    leaks;
  guint64    corruptions_fixed;
  guint64    leaks_fixed;
  guint64    image_end_offset;
  guint64    total_clusters;
  guint64    allocated_clusters;
  guint64    fragmented_clusters;
  guint64    compressed_clusters;
  /* The per-problem lines qemu-img prints to stderr ("Leaked cluster 10 refcount=1
   * reference=0"), in order, across the first check, the repair and the re-check. */
  GPtrArray *messages;
  /* A referenced cluster with stored refcount 0, or a broken refcount table entry: only a
   * rebuild of the refcount structures could repair it (QEMU refuses -r leaks then). */
  gboolean   needs_rebuild;
  /* Damage no repair touches: metadata the check could not follow (a table past the end, a
   * misaligned entry), or a format Strata does not repair. A repair leaves the image as it
   * is; what a repair can set right (refcounts, COPIED flags, leaks, a rebuild) is not. */
  gboolean   unrepairable;
} StrataCheckResult;

void     strata_check_result_clear (StrataCheckResult *result);
/* The exit code qemu-img gives for this result: 0 clean, 1 check errors, 2 corruption,
 * 3 leaks only. */
int      strata_check_result_exit_code (const StrataCheckResult *result);

/* Checks an image's metadata. A format without a check (raw, VMDK) fails with
 * STRATA_ERROR_UNSUPPORTED (exit code 63 in the CLI). With a repair, the image is opened for
 * writing (locks taken, protection honoured) and repaired as qemu-img repairs it, in a
 * crash-safe order: leaks and refcounts too high (-r leaks), and with -r all refcounts too
 * low and wrong OFLAG_COPIED flags (with -r leaks too once the refcounts are sound); the
 * dirty and corrupt bits are cleared when nothing is left. If anything was repaired the
 * image is checked again: @result is the second check with the fixed counts. A referenced
 * cluster with refcount 0 needs the refcount structures rebuilt: Strata then fails (exit 1)
 * and changes nothing. */
gboolean strata_check_sync   (const char               *filename,
                              const StrataCheckOptions *opts,
                              StrataJob                *job,
                              StrataCheckResult        *result,
                              GCancellable             *cancellable,
                              GError                  **error);
void     strata_check_async  (const char               *filename,
                              const StrataCheckOptions *opts,
                              StrataJob                *job,
                              GCancellable             *cancellable,
                              GAsyncReadyCallback       callback,
                              gpointer                  user_data);
/* @out receives the result (clear it with strata_check_result_clear()). */
gboolean strata_check_finish (GAsyncResult             *result,
                              StrataCheckResult        *out,
                              GError                  **error);

/* Private to the engine: the qcow2 check (strata-qcow2-check.c) on an open, locked file.
 * Counts go into @result (added); messages are appended. */
gboolean strata_qcow2_check  (StrataFile               *file,
                              StrataCheckFix            fix,
                              StrataCheckResult        *result,
                              GCancellable             *cancellable,
                              GError                  **error);

/* Private to the engine: punches the host clusters of a qcow2 file whose refcount is 0. */
gboolean strata_qcow2_punch_free (StrataFile               *file,
                                  guint64                  *punched,
                                  GError                  **error);

G_END_DECLS
