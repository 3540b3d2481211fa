/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

#include "strata-file.h"

G_BEGIN_DECLS

/*
 * A StrataImage is one open disk image (one layer) with its backing chain opened below it.
 * It is reference counted and not thread-safe: one thread uses an image (and its chain) at a
 * time. Worker threads open their own images or take ownership of one.
 */
typedef struct _StrataImage StrataImage;

typedef enum
{
  STRATA_OPEN_READ_ONLY   = 0,
  STRATA_OPEN_WRITE       = 1 << 0, /* open the top layer read-write (takes write locks) */
  STRATA_OPEN_FORCE_SHARE = 1 << 1, /* -U: open even if a running QEMU holds it; no locks */
  STRATA_OPEN_NO_BACKING  = 1 << 2, /* do not open the backing chain */
  STRATA_OPEN_NO_LOCK     = 1 << 3, /* take no locks at all (temporary files of our own) */
  STRATA_OPEN_FORCE_SHARE_BACKING = 1 << 4, /* -U for the backing chain only (rebase -U) */
} StrataOpenFlags;

typedef enum
{
  STRATA_BLOCK_UNALLOCATED = 0, /* not stored in this layer: the backing answers */
  STRATA_BLOCK_ZERO,            /* reads as zeros, decided by this layer */
  STRATA_BLOCK_DATA,            /* data stored in this layer */
} StrataBlockKind;

/* The state of a run of bytes in one layer. */
typedef struct
{
  StrataBlockKind kind;
  guint64         length;          /* bytes from the queried offset with this state */
  gboolean        has_host_offset; /* data (or a raw hole) at a fixed offset in a file */
  guint64         host_offset;
  StrataFile     *host_file;       /* the file holding it (a VMDK extent); not a reference */
  gboolean        compressed;
  /* Like QEMU's BDRV_BLOCK_RECURSE: DATA at host_offset, but QEMU asks the host file
   * whether the bytes are a hole and then reports them as data that reads as zeros (qcow2
   * images QEMU takes for metadata-preallocated). Only `map` output uses it. */
  gboolean        recurse;
} StrataBlockStatus;

/* The state of a run of bytes through the whole chain, as `qemu-img map` reports it. */
typedef struct
{
  StrataBlockKind kind;        /* UNALLOCATED: no layer has it (reads as zeros) */
  guint64         length;
  int             depth;       /* 0 = top; the layer that answered */
  StrataImage    *layer;       /* the layer that answered (NULL if none); not a reference */
  gboolean        has_host_offset;
  guint64         host_offset;
  StrataFile     *host_file;
  gboolean        compressed;
  gboolean        recurse;         /* as in StrataBlockStatus */
} StrataChainStatus;

typedef enum
{
  STRATA_COMPRESSION_ZLIB = 0,
  STRATA_COMPRESSION_ZSTD = 1,
} StrataCompression;

/* One internal snapshot, as `qemu-img snapshot -l` and `info` list it. */
typedef struct
{
  char     *id;
  char     *name;
  guint64   vm_state_size;
  gint64    date_sec;
  guint32   date_nsec;
  guint64   vm_clock_nsec;
  guint64   disk_size;             /* the virtual size when it was taken */
  gboolean  has_icount;
  guint64   icount;
} StrataSnapshotInfo;

void             strata_snapshot_info_free    (StrataSnapshotInfo *info);

/* What `qemu-img info` reports, plus a few extras. Strings may be NULL. */
typedef struct
{
  char     *filename;
  char     *format;
  guint64   virtual_size;
  guint64   actual_size;           /* bytes allocated on disk, all files of the image */
  guint64   cluster_size;          /* 0 when the format has none */
  gboolean  has_dirty_flag;
  gboolean  dirty_flag;
  char     *backing_filename;      /* byte-for-byte as stored */
  char     *full_backing_filename; /* resolved */
  char     *backing_format;
  gboolean  encrypted;
  gboolean  in_use;                /* opened with force-share while another process holds it */
  gboolean  read_only_mode;        /* the file's write bits are all clear ("protected") */
  guint64   allocated_bytes;       /* guest bytes stored in this layer (data + zero) */
  gboolean  has_allocated_bytes;   /* FALSE when it could not be worked out */
  /* Format specific data, a{sv}, with qemu-img's keys and types ("compat", "refcount-bits",
   * ...). NULL when the format has none. */
  GVariant *format_specific;
  GPtrArray *snapshots;            /* StrataSnapshotInfo *, internal snapshots; NULL if none */
  char    **warnings;              /* features recognised but not supported (bitmaps, ...) */
} StrataImageInfo;

StrataImage     *strata_image_open            (const char       *filename,
                                               const char       *format,
                                               StrataOpenFlags   flags,
                                               GError          **error);
StrataImage     *strata_image_ref             (StrataImage      *self);
void             strata_image_unref           (StrataImage      *self);

const char      *strata_image_get_filename    (StrataImage      *self);
const char      *strata_image_get_format      (StrataImage      *self);
guint64          strata_image_get_size        (StrataImage      *self);
StrataImage     *strata_image_get_backing     (StrataImage      *self);
const char      *strata_image_get_backing_name (StrataImage     *self);
const char      *strata_image_get_backing_format (StrataImage   *self);
/* The backing file's path as resolved against this image's folder, or NULL. */
const char      *strata_image_get_backing_path (StrataImage     *self);
StrataFile      *strata_image_get_file        (StrataImage      *self);
/* Cluster (or grain) size, 0 if none; the natural unit for copying. */
guint64          strata_image_get_cluster_size (StrataImage     *self);
gboolean         strata_image_is_writable     (StrataImage      *self);
/* Every file the whole chain reads (each layer's file and its VMDK extents), as StrataFile
 * pointers owned by the images. */
GPtrArray       *strata_image_list_chain_files (StrataImage     *self);

/* Reads guest data through the whole chain: unallocated ranges come from the backing,
 * ranges past a shorter backing read as zeros. */
gboolean         strata_image_read            (StrataImage      *self,
                                               guint64           offset,
                                               gsize             length,
                                               void             *buf,
                                               GError          **error);
/* State of the run starting at @offset in this layer only (at most @length bytes). */
gboolean         strata_image_block_status    (StrataImage      *self,
                                               guint64           offset,
                                               guint64           length,
                                               StrataBlockStatus *status,
                                               GError          **error);
/* State of the run starting at @offset through the chain (at most @length bytes). */
gboolean         strata_image_chain_status    (StrataImage      *self,
                                               guint64           offset,
                                               guint64           length,
                                               StrataChainStatus *status,
                                               GError          **error);

/* Writing (the top layer must be open with STRATA_OPEN_WRITE and the driver must write). */
gboolean         strata_image_write           (StrataImage      *self,
                                               guint64           offset,
                                               gsize             length,
                                               const void       *buf,
                                               GError          **error);
/* Makes the range read as zeros in this layer (a zero cluster in qcow2 v3, a hole in raw). */
gboolean         strata_image_write_zeroes    (StrataImage      *self,
                                               guint64           offset,
                                               guint64           length,
                                               GError          **error);
/* Like strata_image_write_zeroes(), but the range reads as zeros whatever backing lies
 * below, now or after the backing pointer changes: zero clusters (qcow2 v3) or zero data
 * (v2) even where nothing is below today. For a safe rebase onto a new backing. */
gboolean         strata_image_write_zeroes_masking (StrataImage *self,
                                               guint64           offset,
                                               guint64           length,
                                               GError          **error);
/* Makes the range unallocated so reads fall through to the backing. */
gboolean         strata_image_discard         (StrataImage      *self,
                                               guint64           offset,
                                               guint64           length,
                                               GError          **error);
/* Writes one whole cluster already compressed by the caller with the image's compression
 * type (raw deflate or a zstd frame); only for formats that support it. */
gboolean         strata_image_write_compressed (StrataImage     *self,
                                               guint64           offset,
                                               const void       *data,
                                               gsize             length,
                                               GError          **error);
gboolean         strata_image_supports_compression (StrataImage *self);
StrataCompression strata_image_get_compression (StrataImage     *self);
gboolean         strata_image_flush           (StrataImage      *self,
                                               GError          **error);
gboolean         strata_image_truncate        (StrataImage      *self,
                                               guint64           size,
                                               GError          **error);
/* Rewrites the backing pointer (the header) of this layer; NULL name removes it. */
gboolean         strata_image_set_backing     (StrataImage      *self,
                                               const char       *backing_name,
                                               const char       *backing_format,
                                               GError          **error);
/* Flushes and closes the writable layer cleanly (clears the dirty bit). Returns the first
 * error; the image must still be unreffed. */
gboolean         strata_image_close           (StrataImage      *self,
                                               GError          **error);

StrataImageInfo *strata_image_get_info        (StrataImage      *self,
                                               GError          **error);
void             strata_image_info_free       (StrataImageInfo  *info);

/* Probes a file's format by content, as QEMU does: "qcow2", "vmdk" or "raw". */
const char      *strata_probe_format          (const char       *filename,
                                               GError          **error);

/* Resolves a backing name against the folder of @image_filename; refuses json: and
 * protocol names (STRATA_ERROR_BACKING). */
char            *strata_resolve_backing_name  (const char       *image_filename,
                                               const char       *backing_name,
                                               GError          **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (StrataImage, strata_image_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (StrataImageInfo, strata_image_info_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (StrataSnapshotInfo, strata_snapshot_info_free)

G_END_DECLS
