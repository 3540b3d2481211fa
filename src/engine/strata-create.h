/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

#include "strata-image.h"

G_BEGIN_DECLS

/* qemu-img's preallocation modes. */
typedef enum
{
  STRATA_PREALLOC_OFF = 0,
  STRATA_PREALLOC_METADATA,
  STRATA_PREALLOC_FALLOC,
  STRATA_PREALLOC_FULL,
} StrataPrealloc;

/* The mode a preallocation= value names (off, metadata, falloc, full); FALSE for others. */
gboolean strata_prealloc_from_string (const char     *value,
                                      StrataPrealloc *mode);

/* Preallocates the bytes [@from, @to) of a raw file that is already @to bytes long: falloc
 * reserves its blocks, full writes zeros over them; off and metadata do nothing. Used by
 * create, resize and convert alike, so their raw files take the same blocks. */
gboolean strata_raw_preallocate (StrataFile      *file,
                                 StrataPrealloc   mode,
                                 guint64          from,
                                 guint64          to,
                                 GError         **error);

/* qcow2 creation options; defaults are qemu-img's. */
typedef struct
{
  guint64           size;           /* 0 with a backing file: take the backing's size */
  gboolean          has_size;
  guint             cluster_size;   /* bytes, power of two, 512 .. 2 MiB; default 65536 */
  int               compat;         /* 2 (0.10) or 3 (1.1); default 3 */
  guint             refcount_bits;  /* 1..64, power of two; default 16 */
  gboolean          lazy_refcounts;
  gboolean          extended_l2;
  StrataCompression compression_type;
  const char       *backing_file;   /* stored byte for byte */
  const char       *backing_format; /* NULL: probe the backing and record what was found */
  /* metadata: every L2 table and data cluster allocated (data reads as zeros); falloc and
   * full: the data blocks reserved or written with zeros as well. With a backing file only
   * together with extended L2 (the subclusters stay unallocated), as in qemu-img. */
  StrataPrealloc    preallocation;
} StrataCreateOptions;

void     strata_create_options_init (StrataCreateOptions *opts);
/* Splits a qemu-img style "-o" string at its commas (",," is a literal comma) into its
 * "key=value" items (char *, owned by the array); other formats' option parsers use it too. */
GPtrArray *strata_create_options_split (const char        *options);
/* Parses qemu-img style "-o" option strings (key=value,key=value) into @opts. */
gboolean strata_create_options_parse (StrataCreateOptions *opts,
                                      const char          *options,
                                      GError             **error);

/* The checks creation makes of @opts (cluster size, refcount width, what compat=0.10
 * allows, ...), in qemu-img's words, without a file name; the size is not checked. */
gboolean strata_create_options_check (const StrataCreateOptions *opts,
                                      GError                   **error);

/* Creates a qcow2 image at @filename (fails if it exists unless it is replaced through a
 * temporary file: the image is written to a temporary file and renamed). */
gboolean strata_create_qcow2        (const char                *filename,
                                     const StrataCreateOptions *opts,
                                     GError                   **error);
/* Writes a fresh empty qcow2 image into an already open, empty, writable file. */
gboolean strata_create_qcow2_in_file (StrataFile                *file,
                                      const StrataCreateOptions *opts,
                                      GError                   **error);

G_END_DECLS
