/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/*
 * State shared by the qcow2 files (strata-qcow2*.c). Everything here is private to the
 * engine's qcow2 driver and to tools that walk its metadata (check).
 *
 * Layout reminders (docs/interop/qcow2.rst):
 * - guest offset -> L1 index = offset >> (cluster_bits + l2_bits), L2 index = (offset >>
 *   cluster_bits) & (l2_entries - 1);
 * - an L1 entry holds an L2 table offset (bits 9..55) and COPIED (bit 63);
 * - an L2 entry holds a cluster offset (bits 9..55), ZERO (bit 0, v3), COMPRESSED (bit 62)
 *   and COPIED (bit 63); with extended L2 a second 64-bit word follows: allocation bitmap
 *   (bits 0..31) and zero bitmap (bits 32..63) of the 32 subclusters;
 * - host cluster index i has its refcount in the refcount block found at
 *   refcount_table[i >> rb_bits], entry i & ((1 << rb_bits) - 1).
 *
 * Tables held in memory (l1_table, refcount_table) are in host byte order. Cached L2 tables
 * and refcount blocks are kept in on-disk (big-endian) byte order.
 *
 * Walking the metadata (what a checker needs), given an image opened read-only with
 * strata_image_open (path, "qcow2", STRATA_OPEN_READ_ONLY | STRATA_OPEN_NO_BACKING, ...):
 *
 *   Qcow2State *s = QCOW2_STATE (image);
 *   for (guint64 i = 0; i < s->l1_size; i++)
 *     {
 *       guint64 l2_offset = s->l1_table[i] & QCOW2_OFFSET_MASK;   // 0: no L2 table
 *       // COPIED: s->l1_table[i] & QCOW2_OFLAG_COPIED; reserved: & QCOW2_L1_RESERVED_MASK
 *       guint8 *l2 = qcow2_cache_get (s, &s->l2_cache, l2_offset, FALSE, &error);
 *       for (guint64 j = 0; j < s->l2_entries; j++)
 *         {
 *           guint64 entry = qcow2_ldq (l2 + j * s->l2_entry_bytes);
 *           guint64 bitmap = s->extended_l2 ? qcow2_ldq (l2 + j * s->l2_entry_bytes + 8) : 0;
 *           // compressed: entry & QCOW2_OFLAG_COMPRESSED, range from qcow2_compressed_range()
 *           //   (count every host cluster the range touches);
 *           // otherwise host cluster entry & QCOW2_OFFSET_MASK (0: none), zero flag bit 0.
 *         }
 *     }
 *
 * The pointer from qcow2_cache_get() stays valid until the next qcow2_cache_get() on the same
 * cache. Refcounts: qcow2_get_refcount (s, host_offset >> s->cluster_bits, &rc, &error), or
 * walk s->refcount_table[0 .. refcount_table_size) (block offset & QCOW2_REFT_OFFSET_MASK)
 * yourself; each block has 1 << s->rb_bits entries of s->refcount_bits bits. Other
 * referenced areas: cluster 0 (header), the refcount table (refcount_table_offset,
 * refcount_table_clusters), the L1 table (l1_table_offset, l1_size * 8 bytes), the snapshot
 * table (snapshots_offset, snapshots_size bytes) and each snapshot's L1 table
 * (s->snapshots[i].l1_table_offset, l1_size entries: walk it like the active one), and the
 * bitmap directory
 * (bitmap_dir_offset, bitmap_dir_size). s->file_size is the file size at open.
 * qcow2_classify() validates one entry the way the reader does (errors name the file).
 */

#include "strata-driver.h"
#include "strata-error.h"

#include <string.h>

G_BEGIN_DECLS

#define QCOW2_MAGIC                   0x514649fbu
#define QCOW2_V2_HEADER_LENGTH        72
#define QCOW2_V3_HEADER_MIN_LENGTH    104

#define QCOW2_MAX_L1_BYTES            (32u * 1024 * 1024)
#define QCOW2_MAX_REFTABLE_BYTES      (8u * 1024 * 1024)
#define QCOW2_MAX_BACKING_NAME        1023
#define QCOW2_MAX_SNAPSHOTS           65536
#define QCOW2_MAX_SNAPSHOT_EXTRA      1024
#define QCOW2_MAX_SNAPSHOTS_BYTES     (64u * 1024 * 1024)

/* Header extension types. */
#define QCOW2_EXT_END                 0x00000000u
#define QCOW2_EXT_BACKING_FORMAT      0xe2792acau
#define QCOW2_EXT_FEATURE_TABLE       0x6803f857u
#define QCOW2_EXT_BITMAPS             0x23852875u
#define QCOW2_EXT_DATA_FILE           0x44415441u
#define QCOW2_EXT_CRYPTO              0x0537be77u

/* Feature bits. */
#define QCOW2_INCOMPAT_DIRTY          (1ull << 0)
#define QCOW2_INCOMPAT_CORRUPT        (1ull << 1)
#define QCOW2_INCOMPAT_DATA_FILE      (1ull << 2)
#define QCOW2_INCOMPAT_COMPRESSION    (1ull << 3)
#define QCOW2_INCOMPAT_EXTL2          (1ull << 4)
#define QCOW2_INCOMPAT_KNOWN          0x1full
#define QCOW2_COMPAT_LAZY_REFCOUNTS   (1ull << 0)
#define QCOW2_AUTOCLEAR_BITMAPS       (1ull << 0)
#define QCOW2_AUTOCLEAR_DATA_RAW      (1ull << 1)
#define QCOW2_AUTOCLEAR_KNOWN         0x3ull

/* Table entry bits. */
#define QCOW2_OFLAG_COPIED            (1ull << 63)
#define QCOW2_OFLAG_COMPRESSED        (1ull << 62)
#define QCOW2_OFLAG_ZERO              (1ull << 0)
#define QCOW2_OFFSET_MASK             0x00fffffffffffe00ull
#define QCOW2_L1_RESERVED_MASK        0x7f000000000001ffull
#define QCOW2_L2_RESERVED_MASK        0x3f000000000001feull
#define QCOW2_REFT_OFFSET_MASK        0xfffffffffffffe00ull

/* The kind of a guest cluster (or subcluster) as its L2 entry says. */
typedef enum
{
  QCOW2_CLUSTER_UNALLOCATED,  /* read through to the backing */
  QCOW2_CLUSTER_ZERO_PLAIN,   /* reads zeros, no host cluster */
  QCOW2_CLUSTER_ZERO_ALLOC,   /* reads zeros, host cluster kept (preallocated) */
  QCOW2_CLUSTER_NORMAL,       /* data at the host offset */
  QCOW2_CLUSTER_COMPRESSED,   /* compressed data, byte granular */
} Qcow2ClusterKind;

/* A header extension we do not interpret, kept so header rewrites preserve it; also a
 * marker for where the backing format (no data) and the feature name table stood. */
typedef struct
{
  guint32  type;
  guint32  length;
  guint8  *data;
} Qcow2Extension;

/* One entry of the snapshot table (docs/interop/qcow2.rst, "Snapshots"), host byte order. */
typedef struct
{
  guint64  l1_table_offset;
  guint32  l1_size;
  char    *id;
  char    *name;
  guint32  date_sec;
  guint32  date_nsec;
  guint64  vm_clock_nsec;
  guint64  vm_state_size;
  guint64  disk_size;           /* the virtual size when it was taken */
  guint64  icount;              /* G_MAXUINT64 when not recorded */
  guint32  unknown_extra_size;  /* extra data past the fields we know, kept as is */
  guint8  *unknown_extra;
} Qcow2Snapshot;

/* One cached table (an L2 table or a refcount block), big-endian as on disk. */
typedef struct
{
  guint64  offset;    /* host offset; 0 = free slot */
  guint8  *data;      /* cluster_size bytes */
  guint64  lru;
  gboolean dirty;
} Qcow2CacheEntry;

/* A small write-back cache of cluster-sized tables. */
typedef struct
{
  Qcow2CacheEntry *entries;
  guint            n_entries;
  guint64          lru_clock;
  GHashTable      *index;     /* host offset (guint64 *) -> Qcow2CacheEntry * */
} Qcow2Cache;

typedef struct
{
  StrataImage *image;           /* not a reference */
  StrataFile  *file;            /* image->file; not a reference */
  const char  *filename;        /* image->filename */
  gboolean     writable;

  /* Header fields. */
  guint32      version;
  guint32      cluster_bits;
  guint64      cluster_size;
  guint32      crypt_method;
  guint32      l1_size;                 /* entries */
  guint64      l1_table_offset;
  guint64      refcount_table_offset;
  guint32      refcount_table_clusters;
  guint32      nb_snapshots;
  guint64      snapshots_offset;
  Qcow2Snapshot *snapshots;             /* nb_snapshots entries, parsed at open */
  guint64      snapshots_size;          /* bytes of the snapshot table */
  guint64      incompatible_features;
  guint64      compatible_features;
  guint64      autoclear_features;
  guint32      refcount_order;          /* refcount width = 1 << refcount_order bits */
  guint32      header_length;
  StrataCompression compression;
  guint64      backing_file_offset;
  guint32      backing_file_size;

  /* Derived geometry. */
  gboolean     extended_l2;
  guint        l2_entry_bytes;          /* 8, or 16 with extended L2 */
  guint        l2_bits;                 /* log2 of entries per L2 table */
  guint64      l2_entries;
  guint64      subcluster_size;         /* cluster_size / 32 with extended L2 */
  guint        refcount_bits;
  guint        rb_bits;                 /* log2 of refcount entries per refcount block */
  guint64      csize_shift;             /* compressed descriptor: sector count shift */
  guint64      csize_mask;
  guint64      coffset_mask;

  /* Header extensions. */
  char        *feature_names[3][64];    /* [incompat, compat, autoclear][bit] or NULL */
  GPtrArray   *unknown_extensions;      /* Qcow2Extension * */
  gboolean     has_bitmaps_ext;
  guint32      nb_bitmaps;
  guint64      bitmap_dir_size;
  guint64      bitmap_dir_offset;
  char        *data_file;               /* external data file name, NULL if none */
  gboolean     has_crypto_ext;
  guint64      crypto_header_offset;    /* where the LUKS header lies in the file */
  guint64      crypto_header_length;

  /* Tables in host byte order. */
  guint64     *l1_table;                /* l1_size entries */
  guint64     *refcount_table;          /* refcount_table_size entries */
  guint64      refcount_table_size;

  /* Caches. */
  Qcow2Cache   l2_cache;
  Qcow2Cache   refblock_cache;
  guint64      cached_cluster_offset;   /* host descriptor of the decompressed cluster */
  guint8      *cached_cluster;          /* cluster_size bytes */
  gboolean     cached_cluster_valid;
  guint8      *compressed_buf;          /* scratch for compressed input, 2 clusters */
  gpointer     zstd_dctx;
  gpointer     deflate_dec;             /* struct libdeflate_decompressor */

  /* Write state. */
  guint64      file_size;               /* as at open, then kept up to date */
  guint64      host_end;                /* first byte after the last cluster we used */
  guint64      compressed_next;         /* where the next compressed cluster may start */
  GArray      *dirty_l1;                /* indices of L1 entries to write back (guint32) */
  GArray      *dirty_reftable;          /* indices of refcount table entries (guint32) */
  GArray      *pending_free;            /* (offset, length) guint64 pairs to free after the
                                         * L2 tables that dropped them are on disk */
  guint64      pending_free_bytes;      /* bytes queued in pending_free */
  /* Reuse of free clusters (strata-qcow2-refcount.c): clusters whose refcount dropped to 0
   * in this session (sorted lazily, consumed from free_head), and a cursor over the
   * refcounts for clusters found free at open or not kept in the list. */
  GArray      *free_clusters;           /* guint64 cluster indices */
  guint        free_head;
  gboolean     free_sorted;
  guint64      free_scan;               /* next cluster index the cursor looks at */
  gboolean     reusing;                 /* inside the write back that frees for reuse */
  gboolean     reftable_moved;          /* the whole table must be written, then the header */
  gboolean     reftable_growing;        /* inside grow_reftable: write blocks only */
  gboolean     data_unflushed;          /* guest data written since the last flush */

  /* Block status: whether the image looks metadata-preallocated (decided once). */
  gboolean     prealloc_checked;
  gboolean     metadata_prealloc;
} Qcow2State;

#define QCOW2_STATE(image) ((Qcow2State *) (image)->priv)

/* strata-qcow2.c */
gboolean qcow2_corrupt          (Qcow2State  *s,
                                 GError     **error,
                                 const char  *format,
                                 ...) G_GNUC_PRINTF (3, 4);
gboolean qcow2_check_host_range (Qcow2State  *s,
                                 guint64      offset,
                                 guint64      length,
                                 guint64      alignment,
                                 const char  *what,
                                 GError     **error);
/* Writes the header, extensions and backing name into cluster 0 (used by set_backing). */
gboolean qcow2_write_header     (Qcow2State  *s,
                                 const char  *backing_name,
                                 const char  *backing_format,
                                 GError     **error);
/* Serialises a header with its extensions; shared with strata-create.c. */
GByteArray *qcow2_build_header  (Qcow2State  *s,
                                 guint64      virtual_size,
                                 const char  *backing_name,
                                 const char  *backing_format,
                                 GError     **error);

/* strata-qcow2-cluster.c: lookup, reading, block status, the L2 cache. */
void     qcow2_cache_init       (Qcow2Cache  *cache,
                                 guint        n_entries);
void     qcow2_cache_clear      (Qcow2Cache  *cache);
/* Returns the cached table at @offset, reading it unless @fresh (then zero-filled). */
guint8  *qcow2_cache_get        (Qcow2State  *s,
                                 Qcow2Cache  *cache,
                                 guint64      offset,
                                 gboolean     fresh,
                                 GError     **error);
void     qcow2_cache_mark_dirty (Qcow2Cache  *cache,
                                 guint64      offset);
/* Forgets a table (its cluster was freed) without writing it. */
void     qcow2_cache_drop       (Qcow2Cache  *cache,
                                 guint64      offset);

/* Reads the L2 entry (and extended bitmap, 0 without extended L2) of a guest offset; both 0
 * when the L1 entry is empty. */
gboolean qcow2_get_l2_entry     (Qcow2State  *s,
                                 guint64      guest_offset,
                                 guint64     *entry,
                                 guint64     *bitmap,
                                 GError     **error);
/* Classifies an L2 entry (validated: reserved bits, alignment, inside the file). For
 * extended L2, @sub selects the subcluster. */
gboolean qcow2_classify         (Qcow2State  *s,
                                 guint64      guest_offset,
                                 guint64      entry,
                                 guint64      bitmap,
                                 guint        sub,
                                 Qcow2ClusterKind *kind,
                                 GError     **error);
/* Host offset and length of a compressed cluster descriptor. */
void     qcow2_compressed_range (Qcow2State  *s,
                                 guint64      entry,
                                 guint64     *host_offset,
                                 guint64     *length);
/* Decompresses the cluster described by @entry into s->cached_cluster. */
gboolean qcow2_load_compressed  (Qcow2State  *s,
                                 guint64      entry,
                                 GError     **error);
gboolean qcow2_block_status     (StrataImage *self,
                                 guint64      offset,
                                 guint64      length,
                                 StrataBlockStatus *status,
                                 GError     **error);
gboolean qcow2_read             (StrataImage *self,
                                 guint64      offset,
                                 gsize        length,
                                 void        *buf,
                                 GError     **error);

/* strata-qcow2-refcount.c */
gboolean qcow2_get_refcount     (Qcow2State  *s,
                                 guint64      cluster_index,
                                 guint64     *refcount,
                                 GError     **error);
guint64  qcow2_refcount_max     (Qcow2State  *s);
/* Adds @delta to the refcount of every cluster overlapping [offset, offset + length). */
gboolean qcow2_update_refcount  (Qcow2State  *s,
                                 guint64      offset,
                                 guint64      length,
                                 gint64       delta,
                                 GError     **error);
/* Allocates @n contiguous clusters at the end of the image (refcount 1). */
gboolean qcow2_alloc_clusters   (Qcow2State  *s,
                                 guint64      n,
                                 guint64     *host_offset,
                                 GError     **error);
/* Allocates up to @max contiguous clusters (at least one), reusing free clusters first;
 * *@n is how many were given. */
gboolean qcow2_alloc_some_clusters (Qcow2State *s,
                                    guint64     max,
                                    guint64    *host_offset,
                                    guint64    *n,
                                    GError    **error);
/* Once every guest cluster of the image is discarded (commit empties its overlay): drops the
 * L2 tables that map nothing (when @drop_empty_l2), then cuts the file after the last
 * cluster still in use, in crash-safe order. Does nothing for other formats. */
gboolean strata_qcow2_shrink    (StrataImage *image,
                                 gboolean     drop_empty_l2,
                                 GError     **error);
/* Queues a refcount decrement to happen after the next write back (the L2 entry that
 * referenced the range must be on disk first). */
gboolean qcow2_free_later       (Qcow2State  *s,
                                 guint64      offset,
                                 guint64      length,
                                 GError     **error);
/* Writes everything back in crash-safe order (see strata-qcow2-write.c). */
gboolean qcow2_writeback        (Qcow2State  *s,
                                 GError     **error);
/* Writes dirty refcount blocks and refcount table entries, then flushes. */
gboolean qcow2_writeback_refcounts (Qcow2State *s,
                                    GError    **error);

/* strata-qcow2-snapshot.c: the snapshot table and internal snapshots. */
/* Parses the snapshot table into s->snapshots (QEMU's limits and checks). */
gboolean qcow2_read_snapshots   (Qcow2State  *s,
                                 GError     **error);
void     qcow2_free_snapshots   (Qcow2State  *s);
/* The snapshots of a qcow2 image as `info` lists them (empty for other formats). */
GPtrArray *strata_qcow2_snapshot_list (StrataImage *image);
/* The first snapshot whose ID (unless NULL) and name (unless NULL) match; FALSE if none
 * (or not qcow2). */
gboolean strata_qcow2_snapshot_find   (StrataImage  *image,
                                       const char   *id,
                                       const char   *name,
                                       guint        *index);
/* On an image open for writing; each step in crash-safe order (strata-qcow2-snapshot.c).
 * Refused with STRATA_ERROR_UNSUPPORTED for other formats. */
gboolean strata_qcow2_snapshot_create (StrataImage  *image,
                                       const char   *name,
                                       gint64        date_sec,
                                       guint32       date_nsec,
                                       GError      **error);
gboolean strata_qcow2_snapshot_apply  (StrataImage  *image,
                                       guint         index,
                                       GError      **error);
gboolean strata_qcow2_snapshot_delete (StrataImage  *image,
                                       guint         index,
                                       GError      **error);

/* strata-qcow2-write.c: the write side of the driver table. */
gboolean qcow2_open_for_writing (Qcow2State  *s,
                                 GError     **error);
gboolean qcow2_begin_change     (Qcow2State  *s,
                                 GError     **error);
gboolean qcow2_clear_unknown_autoclear (StrataFile *file,
                                        guint64    *autoclear,
                                        GError    **error);
gboolean qcow2_write            (StrataImage *self,
                                 guint64      offset,
                                 gsize        length,
                                 const void  *buf,
                                 GError     **error);
gboolean qcow2_write_zeroes     (StrataImage *self,
                                 guint64      offset,
                                 guint64      length,
                                 GError     **error);
gboolean qcow2_write_zeroes_masking (StrataImage *self,
                                     guint64      offset,
                                     guint64      length,
                                     GError     **error);
gboolean qcow2_discard          (StrataImage *self,
                                 guint64      offset,
                                 guint64      length,
                                 GError     **error);
gboolean qcow2_write_compressed (StrataImage *self,
                                 guint64      offset,
                                 const void  *data,
                                 gsize        length,
                                 GError     **error);
gboolean qcow2_flush            (StrataImage *self,
                                 GError     **error);
gboolean qcow2_truncate         (StrataImage *self,
                                 guint64      size,
                                 GError     **error);
gboolean qcow2_close_clean      (StrataImage *self,
                                 GError     **error);
/* Replaces the L2 entry of a guest cluster, making its L2 table first if there is none
 * (the data the entry maps must be written already). */
gboolean qcow2_set_l2_entry     (Qcow2State  *s,
                                 guint64      guest_offset,
                                 guint64      entry,
                                 guint64      bitmap,
                                 GError     **error);

static inline guint64
qcow2_ldq (const guint8 *p)
{
  guint64 v;

  memcpy (&v, p, 8);
  return GUINT64_FROM_BE (v);
}

static inline void
qcow2_stq (guint8 *p, guint64 v)
{
  v = GUINT64_TO_BE (v);
  memcpy (p, &v, 8);
}

static inline guint32
qcow2_ldl (const guint8 *p)
{
  guint32 v;

  memcpy (&v, p, 4);
  return GUINT32_FROM_BE (v);
}

static inline void
qcow2_stl (guint8 *p, guint32 v)
{
  v = GUINT32_TO_BE (v);
  memcpy (p, &v, 4);
}

G_END_DECLS
