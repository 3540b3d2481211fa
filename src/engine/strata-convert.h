/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

#include "strata-create.h"
#include "strata-job.h"
#include "strata-vmdk-write.h"

G_BEGIN_DECLS

/* Called from the thread running the conversion after each chunk reaches the target.
 * @done and @total count the guest bytes that hold data (zero and unallocated ranges are
 * not copied and not counted). */
typedef void (*StrataConvertProgressFunc) (guint64  done,
                                           guint64  total,
                                           gpointer user_data);

/* Called, from the thread running the conversion, for each region that --salvage replaced
 * by zeros (or whose block status could not be read), in guest order. */
typedef void (*StrataConvertWarningFunc) (const char *message,
                                          gpointer    user_data);

typedef struct
{
  const char          *source_format;  /* NULL: probe */
  const char          *target_format;  /* "qcow2", "raw" or "vmdk" */
  gboolean             compress;       /* -c (a vmdk target: streamOptimized only) */
  StrataCreateOptions  qcow2;          /* qcow2 target options (cluster size, compat, ...);
                                        * qcow2.backing_file (-B) makes the target an overlay
                                        * of it, see below; of a raw target only
                                        * qcow2.preallocation (falloc, full) counts */
  StrataVmdkOptions    vmdk;           /* vmdk target options (subformat, adapter, ...) */
  guint                threads;        /* compressor threads; 0 = number of CPUs */
  gboolean             force_share;    /* -U on the source */
  int                  compression_level; /* 0: the default of the compression type */
  gboolean             background;     /* the walker and compressor threads run at a lower
                                        * CPU priority (nice +10): an interactive caller's
                                        * main thread keeps its core on a busy machine */
  gboolean             existing_target; /* -n: write into @target as it is, see below */
  guint64              sparse_size;    /* -S: zero runs this long are not written (4096 by
                                        * default); 0 writes everything, fully allocated */
  gboolean             salvage;        /* --salvage: unreadable source sectors become zeros */
  StrataConvertProgressFunc progress;  /* optional */
  gpointer             progress_data;
  StrataConvertWarningFunc warning;    /* optional; see StrataConvertWarningFunc */
  gpointer             warning_data;
} StrataConvertOptions;

typedef struct
{
  guint64 source_allocated; /* bytes allocated on disk by the source chain */
  guint64 target_size;      /* bytes allocated on disk by the target */
  guint64 virtual_size;
  guint64 data_bytes;       /* guest bytes holding data that were copied */
} StrataConvertResult;

void     strata_convert_options_init (StrataConvertOptions *opts);

/* Converts @source (with its chain, flattened) to @target. Writes a hidden temporary file
 * next to @target and renames it on success; on error or cancellation nothing is left under
 * @target's name and the source is untouched. An existing @target is replaced, unless it is
 * the source, part of the source's chain or held by a running QEMU. A source whose virtual
 * size the target's file system cannot hold (a raw target larger than its largest file,
 * metadata that would lie past it) is refused before anything is written, naming the source
 * and its size.
 *
 * With opts->qcow2.backing_file (qemu-img's -B), the new qcow2 target records that backing
 * file (byte for byte, resolved against the target's folder; it must exist, and
 * opts->qcow2.backing_format names its format, or it is probed) and, as in qemu-img 7.2,
 * receives only what the source's top layer holds: its data, and its zero clusters as zero
 * clusters (within the backing's size); what the top layer leaves to its backing is left to
 * the new one. The caller vouches that the new backing holds what the source's backing held.
 *
 * With opts->existing_target (qemu-img's -n), nothing is created: @target is opened with
 * opts->target_format (qcow2 or raw), must be at least as large as the source and is
 * written in place; every range the source reads as zeros is zeroed in the target (past the
 * source's size the target is left as it was). In place means no temporary file and no
 * rename: a crash or an error part way leaves the target holding a mix of old and new data.
 * Its qcow2 metadata stays consistent throughout (the crash-safe write order of the qcow2
 * layer: at worst leaked clusters, never corruption), and running the conversion again
 * completes it. The target is locked like an image being written (a running QEMU that holds
 * it makes this fail) and must not be a file of the source's chain.
 *
 * With opts->salvage, a read error of the source does not end the conversion: the sectors
 * that cannot be read are written as zeros and opts->warning hears about each region.
 *
 * The work is a pipeline: one thread walks the source's block status, opts->threads
 * threads read (each with its own handle on the source), find all-zero clusters and
 * compress, and this thread writes in order, with a bounded number of chunks in flight so
 * memory does not grow with the image. */
gboolean strata_convert_sync   (const char                 *source,
                                const char                 *target,
                                const StrataConvertOptions *opts,
                                StrataJob                  *job,
                                StrataConvertResult        *result,
                                GCancellable               *cancellable,
                                GError                    **error);
/* @opts is copied (the strings too); opts->progress is called from the worker thread. */
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
