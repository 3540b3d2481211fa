/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "strata-driver.h"
#include "strata-error.h"
#include "strata-vmdk-descriptor.h"

#include <libdeflate.h>
#include <string.h>

/*
 * VMDK, read only, as QEMU 7.2 reads it: hosted sparse extents ("KDMV", including
 * streamOptimized with compressed grains and an optional footer), flat extents, and text
 * descriptors that list extents (monolithicFlat, twoGbMaxExtentSparse/Flat).
 *
 * Layout of a sparse extent: a 512-byte header, then a grain directory (GD) of 32-bit sector
 * offsets of grain tables (GT), each GT holding num_gtes_per_gt 32-bit sector offsets of
 * grains. A GT entry of 0 is unallocated, 1 is a zeroed grain when the header says so.
 */

#define SECTOR 512
#define SPARSE_MAGIC   "KDMV"
#define COWD_MAGIC     "COWD"
#define DESCRIPTOR_BANNER "# Disk DescriptorFile"

/* Header flags that matter for reading. The redundant GD (flag bit 1) is only a backup for
 * VMware's repair tools: QEMU reads the primary one and so do we. Compression is decided by
 * compressAlgorithm alone, as in QEMU, not by flag bit 16. */
#define FLAG_ZERO_GRAIN (1u << 2)
#define FLAG_MARKERS    (1u << 17)
#define COMPRESSION_DEFLATE 1
#define GD_AT_END G_MAXUINT64

#define MARKER_EOS    0
#define MARKER_FOOTER 3

#define GTE_ZEROED 1

/* QEMU's limits: a grain of 1 GiB is already absurd; 512 entries per GT; 32 Mi GD entries. */
#define MAX_GRAIN_SECTORS      0x200000
#define MAX_GTES_PER_GT        512
#define MAX_GD_ENTRIES         (32 * 1024 * 1024)
/* A compressed grain is inflated in memory: keep that bounded. */
#define MAX_COMPRESSED_GRAIN   (16 * 1024 * 1024)
/* 64 PiB: far beyond any VMDK, small enough that no byte offset overflows. */
#define MAX_VIRTUAL_SIZE       (G_GUINT64_CONSTANT (1) << 56)
/* A text descriptor bigger than this is not a descriptor (QEMU reads at most 1 MiB). */
#define MAX_DESCRIPTOR         (1024 * 1024)
/* Bounds the work of one block_status call; the caller asks again for the rest. */
#define MAX_STATUS_STEPS       65536

/* One grain-table cache for all extents (a split image may have thousands), direct-mapped:
 * 256 tables of at most 2 KiB. */
#define GT_CACHE_SLOTS 256

typedef enum
{
  EXTENT_SPARSE,
  EXTENT_FLAT,
  EXTENT_ZERO,
} ExtentKind;

typedef struct
{
  ExtentKind  kind;
  char       *type_name;     /* the descriptor's word ("SPARSE", "FLAT"); NULL if monolithic */
  char       *path;          /* as opened; used in messages and `info` */
  char       *label;         /* lazily built message prefix */
  StrataFile *file;          /* NULL for ZERO */
  guint64     file_size;
  guint64     start;         /* guest offset of the first byte */
  guint64     size;          /* guest bytes */

  guint64     flat_offset;   /* FLAT: bytes into the file */

  /* SPARSE */
  guint64     grain_size;
  guint32     gtes_per_gt;
  guint64     gt_coverage;   /* guest bytes per GT */
  guint32    *gd;
  guint32     gd_entries;
  gboolean    compressed;
  gboolean    has_markers;
  gboolean    zero_grain;

  guint       index;         /* position in the extent list */
} Extent;

typedef struct
{
  Extent  *extent;
  guint32  sector;
  guint32 *table;            /* MAX_GTES_PER_GT entries, allocated on first use */
} GtSlot;

typedef struct
{
  GPtrArray *extents;        /* of Extent */
  char      *create_type;
  guint32    cid;
  guint32    parent_cid;

  GtSlot     gt_cache[GT_CACHE_SLOTS];

  /* The last inflated grain: guest reads go through it a few KiB at a time. */
  Extent    *cached_extent;
  guint64    cached_grain;   /* grain index inside cached_extent */
  guint8    *grain_buf;
  gsize      grain_len;
  gsize      grain_buf_size;
  struct libdeflate_decompressor *decompressor;
} VmdkState;

typedef struct
{
  guint32 version;
  guint32 flags;
  guint64 capacity;
  guint64 granularity;
  guint64 desc_offset;
  guint64 desc_size;
  guint32 num_gtes_per_gt;
  guint64 rgd_offset;
  guint64 gd_offset;
  guint64 grain_offset;
  guint16 compress_algorithm;
} SparseHeader;

static void
extent_free (gpointer data)
{
  Extent *e = data;

  g_free (e->type_name);
  g_free (e->path);
  g_free (e->label);
  g_clear_pointer (&e->file, strata_file_unref);
  g_free (e->gd);
  g_free (e);
}

static void
vmdk_state_free (VmdkState *s)
{
  if (s == NULL)
    return;
  g_clear_pointer (&s->extents, g_ptr_array_unref);
  g_free (s->create_type);
  g_free (s->grain_buf);
  g_clear_pointer (&s->decompressor, libdeflate_free_decompressor);
  for (guint i = 0; i < GT_CACHE_SLOTS; i++)
    g_free (s->gt_cache[i].table);
  g_free (s);
}

static int
vmdk_probe (const guint8 *buf,
            gsize         len,
            const char   *filename)
{
  const char *p = (const char *) buf;
  const char *end = p + len;

  if (len >= 4 && (memcmp (buf, SPARSE_MAGIC, 4) == 0 || memcmp (buf, COWD_MAGIC, 4) == 0))
    return 100;

  /* VMware's descriptor banner. QEMU would take a damaged descriptor that keeps it for a raw
   * disk; claiming it means the damage is reported instead of shown as a tiny raw disk. */
  if (len >= strlen (DESCRIPTOR_BANNER) &&
      memcmp (buf, DESCRIPTOR_BANNER, strlen (DESCRIPTOR_BANNER)) == 0)
    return 100;

  /* Otherwise a text descriptor is recognised the way QEMU does it: comment lines and lines
   * of spaces, then "version=1", "2" or "3". */
  while (p < end)
    {
      if (*p == '#')
        {
          while (p < end && *p != '\n')
            p++;
          p++;
          continue;
        }
      if (*p == ' ')
        {
          while (p < end && *p == ' ')
            p++;
          if (p < end && *p == '\r')
            p++;
          if (p == end || *p != '\n')
            return 0;
          p++;
          continue;
        }
      for (char v = '1'; v <= '3'; v++)
        {
          char lf[] = { 'v', 'e', 'r', 's', 'i', 'o', 'n', '=', v, '\n' };
          char crlf[] = { 'v', 'e', 'r', 's', 'i', 'o', 'n', '=', v, '\r', '\n' };

          if ((gsize) (end - p) >= sizeof lf && memcmp (p, lf, sizeof lf) == 0)
            return 100;
          if ((gsize) (end - p) >= sizeof crlf && memcmp (p, crlf, sizeof crlf) == 0)
            return 100;
        }
      return 0;
    }
  return 0;
}

static void
parse_sparse_header (const guint8 *b,
                     SparseHeader *h)
{
  /* Little-endian fields after the 4-byte magic, packed. */
  memcpy (&h->version, b + 4, 4);
  memcpy (&h->flags, b + 8, 4);
  memcpy (&h->capacity, b + 12, 8);
  memcpy (&h->granularity, b + 20, 8);
  memcpy (&h->desc_offset, b + 28, 8);
  memcpy (&h->desc_size, b + 36, 8);
  memcpy (&h->num_gtes_per_gt, b + 44, 4);
  memcpy (&h->rgd_offset, b + 48, 8);
  memcpy (&h->gd_offset, b + 56, 8);
  memcpy (&h->grain_offset, b + 64, 8);
  memcpy (&h->compress_algorithm, b + 77, 2);
  h->version = GUINT32_FROM_LE (h->version);
  h->flags = GUINT32_FROM_LE (h->flags);
  h->capacity = GUINT64_FROM_LE (h->capacity);
  h->granularity = GUINT64_FROM_LE (h->granularity);
  h->desc_offset = GUINT64_FROM_LE (h->desc_offset);
  h->desc_size = GUINT64_FROM_LE (h->desc_size);
  h->num_gtes_per_gt = GUINT32_FROM_LE (h->num_gtes_per_gt);
  h->rgd_offset = GUINT64_FROM_LE (h->rgd_offset);
  h->gd_offset = GUINT64_FROM_LE (h->gd_offset);
  h->grain_offset = GUINT64_FROM_LE (h->grain_offset);
  h->compress_algorithm = GUINT16_FROM_LE (h->compress_algorithm);
}

static guint32
le32_at (const guint8 *b)
{
  return (guint32) b[0] | (guint32) b[1] << 8 | (guint32) b[2] << 16 | (guint32) b[3] << 24;
}

static guint64
le64_at (const guint8 *b)
{
  return (guint64) le32_at (b) | (guint64) le32_at (b + 4) << 32;
}

/* The footer of a streamOptimized file whose header has gdOffset = -1: a footer marker
 * sector, a copy of the header with the real gdOffset, and an end-of-stream marker. */
static gboolean
read_footer (Extent        *e,
             SparseHeader  *h,
             GError       **error)
{
  guint8 footer[3 * SECTOR];
  guint64 at;

  if (e->file_size < 4 * SECTOR)
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_CORRUPT,
                   "%s: the grain directory is at the end of the file (gdOffset -1), but the "
                   "file is too small (%" G_GUINT64_FORMAT " bytes) to hold a footer",
                   e->path, e->file_size);
      return FALSE;
    }

  at = (e->file_size / SECTOR) * SECTOR - sizeof footer;
  if (!strata_file_pread (e->file, footer, sizeof footer, at, error))
    return FALSE;

  if (le32_at (footer + 8) != 0 || le32_at (footer + 12) != MARKER_FOOTER ||
      memcmp (footer + SECTOR, SPARSE_MAGIC, 4) != 0 ||
      le64_at (footer + 2 * SECTOR) != 0 || le32_at (footer + 2 * SECTOR + 8) != 0 ||
      le32_at (footer + 2 * SECTOR + 12) != MARKER_EOS)
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_CORRUPT,
                   "%s: the grain directory is at the end of the file (gdOffset -1), but "
                   "there is no valid footer at 0x%" G_GINT64_MODIFIER "x", e->path, at);
      return FALSE;
    }

  parse_sparse_header (footer + SECTOR, h);
  if (h->gd_offset == GD_AT_END)
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_CORRUPT,
                   "%s: the footer at 0x%" G_GINT64_MODIFIER "x does not say where the grain "
                   "directory is", e->path, at);
      return FALSE;
    }
  return TRUE;
}

/* Opens the sparse extent e->file; @header returns the header actually used (the footer's
 * copy for a streamOptimized file with the directory at the end). */
static gboolean
open_sparse_extent (Extent        *e,
                    SparseHeader  *header,
                    GError       **error)
{
  guint8 buf[SECTOR];
  SparseHeader h;
  guint64 gd_bytes;
  guint64 gt_bytes;

  if (e->file_size < SECTOR)
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_CORRUPT,
                   "%s: the file is too small (%" G_GUINT64_FORMAT " bytes) for a VMDK "
                   "sparse header", e->path, e->file_size);
      return FALSE;
    }
  if (!strata_file_pread (e->file, buf, sizeof buf, 0, error))
    return FALSE;

  if (memcmp (buf, COWD_MAGIC, 4) == 0)
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_UNSUPPORTED,
                   "%s: VMFS sparse (COWD) extents are not supported", e->path);
      return FALSE;
    }
  if (memcmp (buf, SPARSE_MAGIC, 4) != 0)
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_CORRUPT,
                   "%s: not a VMDK sparse extent (no \"KDMV\" magic)", e->path);
      return FALSE;
    }

  parse_sparse_header (buf, &h);

  if (h.capacity == 0 && h.desc_offset != 0)
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_UNSUPPORTED,
                   "%s: a sparse file whose embedded descriptor lists other extents is not "
                   "supported", e->path);
      return FALSE;
    }

  if (h.gd_offset == GD_AT_END && !read_footer (e, &h, error))
    return FALSE;

  if (h.version > 3)
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_UNSUPPORTED,
                   "%s: unsupported VMDK sparse version %u", e->path, h.version);
      return FALSE;
    }
  if (h.num_gtes_per_gt == 0 || h.num_gtes_per_gt > MAX_GTES_PER_GT)
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_CORRUPT,
                   "%s: invalid number of entries per grain table: %u (expected 1 to %d)",
                   e->path, h.num_gtes_per_gt, MAX_GTES_PER_GT);
      return FALSE;
    }
  if (h.granularity == 0 || (h.granularity & (h.granularity - 1)) != 0 ||
      h.granularity > MAX_GRAIN_SECTORS)
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_CORRUPT,
                   "%s: invalid grain size of %" G_GUINT64_FORMAT " sectors (must be a power "
                   "of two, at most %d)", e->path, h.granularity, MAX_GRAIN_SECTORS);
      return FALSE;
    }
  if (h.capacity > MAX_VIRTUAL_SIZE / SECTOR)
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_CORRUPT,
                   "%s: absurd capacity of %" G_GUINT64_FORMAT " sectors", e->path,
                   h.capacity);
      return FALSE;
    }

  e->compressed = h.compress_algorithm == COMPRESSION_DEFLATE;
  e->has_markers = (h.flags & FLAG_MARKERS) != 0;
  e->zero_grain = (h.flags & FLAG_ZERO_GRAIN) != 0;
  e->grain_size = h.granularity * SECTOR;
  e->gtes_per_gt = h.num_gtes_per_gt;
  e->gt_coverage = e->grain_size * e->gtes_per_gt;
  e->size = h.capacity * SECTOR;

  if (e->compressed && e->grain_size > MAX_COMPRESSED_GRAIN)
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_UNSUPPORTED,
                   "%s: compressed grains of %" G_GUINT64_FORMAT " bytes are too large "
                   "(at most %d)", e->path, e->grain_size, MAX_COMPRESSED_GRAIN);
      return FALSE;
    }

  if (h.grain_offset > e->file_size / SECTOR)
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_CORRUPT,
                   "%s: the file is truncated: grains start at 0x%" G_GINT64_MODIFIER "x but "
                   "the file has only %" G_GUINT64_FORMAT " bytes", e->path,
                   h.grain_offset * SECTOR, e->file_size);
      return FALSE;
    }

  e->gd_entries = 0;
  if (e->size > 0)
    {
      guint64 n = (e->size + e->gt_coverage - 1) / e->gt_coverage;

      if (n > MAX_GD_ENTRIES)
        {
          g_set_error (error, STRATA_ERROR, STRATA_ERROR_CORRUPT,
                       "%s: the grain directory would have %" G_GUINT64_FORMAT " entries "
                       "(at most %d)", e->path, n, MAX_GD_ENTRIES);
          return FALSE;
        }
      e->gd_entries = (guint32) n;
    }

  /* Check the table against the file before allocating it: a few corrupt bytes must not
   * make us allocate gigabytes. */
  gd_bytes = (guint64) e->gd_entries * 4;
  if (h.gd_offset > e->file_size / SECTOR ||
      gd_bytes > e->file_size - h.gd_offset * SECTOR)
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_CORRUPT,
                   "%s: the grain directory at 0x%" G_GINT64_MODIFIER "x (%u entries) points "
                   "past the end of the file (%" G_GUINT64_FORMAT " bytes)", e->path,
                   h.gd_offset * SECTOR, e->gd_entries, e->file_size);
      return FALSE;
    }

  e->gd = g_new (guint32, MAX (e->gd_entries, 1));
  if (gd_bytes > 0 &&
      !strata_file_pread (e->file, e->gd, gd_bytes, h.gd_offset * SECTOR, error))
    return FALSE;

  gt_bytes = (guint64) e->gtes_per_gt * 4;
  for (guint32 i = 0; i < e->gd_entries; i++)
    {
      e->gd[i] = GUINT32_FROM_LE (e->gd[i]);
      if (e->gd[i] != 0 &&
          ((guint64) e->gd[i] > e->file_size / SECTOR ||
           gt_bytes > e->file_size - (guint64) e->gd[i] * SECTOR))
        {
          g_set_error (error, STRATA_ERROR, STRATA_ERROR_CORRUPT,
                       "%s: grain table %u at 0x%" G_GINT64_MODIFIER "x points past the end "
                       "of the file (%" G_GUINT64_FORMAT " bytes)", e->path, i,
                       (guint64) e->gd[i] * SECTOR, e->file_size);
          return FALSE;
        }
    }

  *header = h;
  return TRUE;
}

static gboolean
check_descriptor_ids (StrataImage          *self,
                      StrataVmdkDescriptor *desc,
                      const char           *where,
                      GError              **error)
{
  VmdkState *s = self->priv;

  /* QEMU refuses to open an image whose descriptor lacks these. */
  if (!desc->has_cid)
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_CORRUPT,
                   "%s: the %s has no CID line", self->filename, where);
      return FALSE;
    }
  if (!desc->has_parent_cid)
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_CORRUPT,
                   "%s: the %s has no parentCID line", self->filename, where);
      return FALSE;
    }
  s->cid = desc->cid;
  s->parent_cid = desc->parent_cid;

  if (desc->parent_hint != NULL)
    {
      if (desc->parent_hint[0] == '\0')
        {
          g_set_error (error, STRATA_ERROR, STRATA_ERROR_CORRUPT,
                       "%s: parentFileNameHint is empty", self->filename);
          return FALSE;
        }
      self->backing_name = g_strdup (desc->parent_hint);
      /* QEMU records the parent of a VMDK as a VMDK. */
      self->backing_format = g_strdup ("vmdk");
    }
  return TRUE;
}

static gboolean
open_monolithic_sparse (StrataImage  *self,
                        guint64       file_size,
                        GError      **error)
{
  VmdkState *s = self->priv;
  g_autoptr(StrataVmdkDescriptor) desc = NULL;
  g_autofree char *text = NULL;
  SparseHeader h;
  Extent *e;
  guint64 desc_len;

  e = g_new0 (Extent, 1);
  e->index = s->extents->len;
  g_ptr_array_add (s->extents, e);
  e->kind = EXTENT_SPARSE;
  e->path = g_strdup (self->filename);
  e->file = strata_file_ref (self->file);
  e->file_size = file_size;

  if (!open_sparse_extent (e, &h, error))
    return FALSE;

  s->create_type = g_strdup (e->compressed ? "streamOptimized" : "monolithicSparse");

  /* The embedded descriptor holds the CIDs and the parent link. */
  if (h.desc_offset == 0 || h.desc_size == 0)
    {
      /* What qemu-img and VMware write for the pieces of a split image. */
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_CORRUPT,
                   "%s: this sparse file has no embedded descriptor; it is probably one "
                   "extent of a split VMDK image: open its descriptor file instead",
                   self->filename);
      return FALSE;
    }
  if (h.desc_offset > file_size / SECTOR)
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_CORRUPT,
                   "%s: the sparse header points to no embedded descriptor (offset "
                   "0x%" G_GINT64_MODIFIER "x, %" G_GUINT64_FORMAT " sectors)", self->filename,
                   h.desc_offset * SECTOR, h.desc_size);
      return FALSE;
    }
  desc_len = MIN (MIN (h.desc_size, (guint64) MAX_DESCRIPTOR / SECTOR) * SECTOR,
                  file_size - h.desc_offset * SECTOR);
  text = g_malloc (desc_len);
  if (!strata_file_pread (self->file, text, desc_len, h.desc_offset * SECTOR, error))
    return FALSE;

  desc = strata_vmdk_descriptor_parse (text, desc_len, self->filename, error);
  if (desc == NULL)
    return FALSE;
  if (!desc->has_cid && desc->create_type == NULL && desc->extents->len == 0)
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_CORRUPT,
                   "%s: this sparse file has an empty descriptor; it is probably one extent "
                   "of a split VMDK image: open its descriptor file instead", self->filename);
      return FALSE;
    }
  if (!check_descriptor_ids (self, desc, "embedded descriptor", error))
    return FALSE;

  self->virtual_size = e->size;
  return TRUE;
}

static char *
resolve_extent_path (const char *descriptor_path,
                     const char *name)
{
  const char *slash;

  if (g_path_is_absolute (name))
    return g_strdup (name);
  /* Relative to the descriptor's folder, as the descriptor was named (like QEMU). */
  slash = strrchr (descriptor_path, '/');
  if (slash == NULL)
    return g_strdup (name);
  return g_strdup_printf ("%.*s%s", (int) (slash - descriptor_path + 1), descriptor_path,
                          name);
}

static gboolean
open_descriptor_extent (StrataImage                *self,
                        const StrataVmdkExtentDesc *d,
                        Extent                     *e,
                        GError                    **error)
{
  g_autoptr(GError) local_error = NULL;
  SparseHeader h;

  e->type_name = g_strdup (d->type_name);

  if (d->sectors > MAX_VIRTUAL_SIZE / SECTOR)
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_CORRUPT,
                   "%s: descriptor line %u: absurd extent size of %" G_GUINT64_FORMAT
                   " sectors", self->filename, d->line, d->sectors);
      return FALSE;
    }

  switch (d->type)
    {
    case STRATA_VMDK_EXTENT_ZERO:
      e->kind = EXTENT_ZERO;
      e->size = d->sectors * SECTOR;
      return TRUE;

    case STRATA_VMDK_EXTENT_FLAT:
    case STRATA_VMDK_EXTENT_VMFS:
    case STRATA_VMDK_EXTENT_SPARSE:
      break;

    case STRATA_VMDK_EXTENT_VMFSSPARSE:
    case STRATA_VMDK_EXTENT_SESPARSE:
    case STRATA_VMDK_EXTENT_OTHER:
    default:
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_UNSUPPORTED,
                   "%s: descriptor line %u: %s extents are not supported", self->filename,
                   d->line, d->type_name);
      return FALSE;
    }

  e->path = resolve_extent_path (self->filename, d->filename);
  e->file = strata_file_open (e->path, STRATA_FILE_READ, &local_error);
  if (e->file == NULL)
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_CORRUPT,
                   "%s: cannot open the extent \"%s\" (descriptor line %u): %s",
                   self->filename, d->filename, d->line, local_error->message);
      return FALSE;
    }
  if (!strata_file_get_size (e->file, &e->file_size, error))
    return FALSE;

  if (d->type == STRATA_VMDK_EXTENT_SPARSE)
    {
      e->kind = EXTENT_SPARSE;
      if (!open_sparse_extent (e, &h, &local_error))
        {
          g_set_error (error, local_error->domain, local_error->code,
                       "%s: extent \"%s\": %s", self->filename, d->filename,
                       local_error->message);
          return FALSE;
        }
      /* Like QEMU, the sparse header's capacity wins over the descriptor's count. */
      return TRUE;
    }

  e->kind = EXTENT_FLAT;
  e->size = d->sectors * SECTOR;
  if (d->offset > MAX_VIRTUAL_SIZE / SECTOR)
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_CORRUPT,
                   "%s: extent \"%s\": absurd offset of %" G_GUINT64_FORMAT " sectors",
                   self->filename, d->filename, d->offset);
      return FALSE;
    }
  e->flat_offset = d->offset * SECTOR;
  return TRUE;
}

static gboolean
open_text_descriptor (StrataImage  *self,
                      guint64       file_size,
                      GError      **error)
{
  static const char *const supported[] = {
    "monolithicFlat", "twoGbMaxExtentSparse", "twoGbMaxExtentFlat", "vmfs",
  };
  VmdkState *s = self->priv;
  g_autoptr(StrataVmdkDescriptor) desc = NULL;
  g_autofree char *text = NULL;
  gsize len = MIN (file_size, MAX_DESCRIPTOR);
  gboolean ok = FALSE;
  guint64 total = 0;

  text = g_malloc (len + 1);
  if (!strata_file_pread (self->file, text, len, 0, error))
    return FALSE;
  text[len] = '\0';

  desc = strata_vmdk_descriptor_parse (text, len, self->filename, error);
  if (desc == NULL)
    return FALSE;

  if (desc->create_type == NULL)
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_CORRUPT,
                   "%s: invalid VMDK descriptor: no createType", self->filename);
      return FALSE;
    }
  for (guint i = 0; i < G_N_ELEMENTS (supported); i++)
    ok = ok || strcmp (desc->create_type, supported[i]) == 0;
  if (!ok)
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_UNSUPPORTED,
                   "%s: unsupported VMDK descriptor type \"%s\"", self->filename,
                   desc->create_type);
      return FALSE;
    }
  s->create_type = g_strdup (desc->create_type);

  if (desc->extents->len == 0)
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_CORRUPT,
                   "%s: the VMDK descriptor lists no extents", self->filename);
      return FALSE;
    }

  for (guint i = 0; i < desc->extents->len; i++)
    {
      const StrataVmdkExtentDesc *d = g_ptr_array_index (desc->extents, i);
      Extent *e;

      if (d->access == STRATA_VMDK_ACCESS_NOACCESS)
        {
          g_set_error (error, STRATA_ERROR, STRATA_ERROR_UNSUPPORTED,
                       "%s: descriptor line %u: NOACCESS extents are not supported",
                       self->filename, d->line);
          return FALSE;
        }

      e = g_new0 (Extent, 1);
      e->index = s->extents->len;
      g_ptr_array_add (s->extents, e);
      if (!open_descriptor_extent (self, d, e, error))
        return FALSE;

      if (e->size > MAX_VIRTUAL_SIZE - total)
        {
          g_set_error (error, STRATA_ERROR, STRATA_ERROR_CORRUPT,
                       "%s: descriptor line %u: the extents add up to an absurd size",
                       self->filename, d->line);
          return FALSE;
        }
      e->start = total;
      total += e->size;
    }

  if (!check_descriptor_ids (self, desc, "descriptor", error))
    return FALSE;

  self->virtual_size = total;
  return TRUE;
}

static gboolean
vmdk_open (StrataImage  *self,
           GError      **error)
{
  VmdkState *s;
  guint64 size;
  guint8 magic[4];

  if (self->flags & STRATA_OPEN_WRITE)
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_UNSUPPORTED,
                   "%s: VMDK images can only be opened read-only", self->filename);
      return FALSE;
    }

  s = g_new0 (VmdkState, 1);
  s->extents = g_ptr_array_new_with_free_func (extent_free);
  self->priv = s;

  if (!strata_file_get_size (self->file, &size, error))
    return FALSE;
  if (size < 4)
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_CORRUPT,
                   "%s: the file is too small (%" G_GUINT64_FORMAT " bytes) to be a VMDK image",
                   self->filename, size);
      return FALSE;
    }
  if (!strata_file_pread (self->file, magic, sizeof magic, 0, error))
    return FALSE;

  if (memcmp (magic, SPARSE_MAGIC, 4) == 0)
    return open_monolithic_sparse (self, size, error);
  if (memcmp (magic, COWD_MAGIC, 4) == 0)
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_UNSUPPORTED,
                   "%s: VMFS sparse (COWD) images are not supported", self->filename);
      return FALSE;
    }
  return open_text_descriptor (self, size, error);
}

static void
vmdk_close (StrataImage *self)
{
  g_clear_pointer ((VmdkState **) &self->priv, vmdk_state_free);
}

/* "extent NAME: " when the extent is not the image file itself, for messages. */
static const char *
extent_label (StrataImage *self,
              Extent      *e)
{
  if (e->file == self->file)
    return "";
  if (e->label == NULL)
    e->label = g_strdup_printf ("extent %s: ", e->path);
  return e->label;
}

static Extent *
find_extent (VmdkState *s,
             guint64    offset)
{
  guint lo = 0, hi = s->extents->len;

  /* Extents are sorted by start and contiguous. */
  while (lo < hi)
    {
      guint mid = lo + (hi - lo) / 2;
      Extent *e = g_ptr_array_index (s->extents, mid);

      if (offset < e->start)
        hi = mid;
      else if (offset - e->start >= e->size)
        lo = mid + 1;
      else
        return e;
    }
  return NULL;
}

/* The GT entry of the grain holding @rel (bytes into the extent). */
static gboolean
lookup_gte (VmdkState *s,
            Extent    *e,
            guint64    rel,
            guint32   *gte,
            GError   **error)
{
  guint64 gd_index = rel / e->gt_coverage;
  GtSlot *slot;

  g_assert (gd_index < e->gd_entries);
  if (e->gd[gd_index] == 0)
    {
      *gte = 0;
      return TRUE;
    }

  slot = &s->gt_cache[(gd_index + (guint64) e->index * 131) % GT_CACHE_SLOTS];
  if (slot->extent != e || slot->sector != e->gd[gd_index])
    {
      if (slot->table == NULL)
        slot->table = g_new (guint32, MAX_GTES_PER_GT);
      slot->extent = NULL;
      if (!strata_file_pread (e->file, slot->table, (gsize) e->gtes_per_gt * 4,
                              (guint64) e->gd[gd_index] * SECTOR, error))
        return FALSE;
      for (guint32 i = 0; i < e->gtes_per_gt; i++)
        slot->table[i] = GUINT32_FROM_LE (slot->table[i]);
      slot->extent = e;
      slot->sector = e->gd[gd_index];
    }

  *gte = slot->table[(rel / e->grain_size) % e->gtes_per_gt];
  return TRUE;
}

/* Status of one step inside extent @e at @rel: at most to the end of the grain (or the GT's
 * range, when the whole GT is missing, or the extent for flat and zero extents). */
static gboolean
extent_status (StrataImage       *self,
               Extent            *e,
               guint64            rel,
               guint64            max,
               StrataBlockStatus *st,
               GError           **error)
{
  guint32 gte;
  guint64 in_grain;

  memset (st, 0, sizeof *st);
  max = MIN (max, e->size - rel);

  switch (e->kind)
    {
    case EXTENT_ZERO:
      st->kind = STRATA_BLOCK_ZERO;
      st->length = max;
      return TRUE;

    case EXTENT_FLAT:
      {
        gboolean is_data;
        guint64 host = e->flat_offset + rel;

        st->has_host_offset = TRUE;
        st->host_offset = host;
        st->host_file = e->file;
        if (host >= e->file_size)
          {
            /* A short flat file reads as zeros past its end, as in QEMU. */
            st->kind = STRATA_BLOCK_ZERO;
            st->length = max;
            return TRUE;
          }
        max = MIN (max, e->file_size - host);
        if (!strata_file_seek_data (e->file, host, max, &is_data, &st->length, error))
          return FALSE;
        st->kind = is_data ? STRATA_BLOCK_DATA : STRATA_BLOCK_ZERO;
        return TRUE;
      }

    case EXTENT_SPARSE:
    default:
      break;
    }

  if (e->gd[rel / e->gt_coverage] == 0)
    {
      st->kind = STRATA_BLOCK_UNALLOCATED;
      st->length = MIN (max, e->gt_coverage - rel % e->gt_coverage);
      return TRUE;
    }

  if (!lookup_gte (self->priv, e, rel, &gte, error))
    return FALSE;

  in_grain = rel % e->grain_size;
  st->length = MIN (max, e->grain_size - in_grain);

  if (gte == 0)
    st->kind = STRATA_BLOCK_UNALLOCATED;
  else if (gte == GTE_ZEROED && e->zero_grain)
    st->kind = STRATA_BLOCK_ZERO;
  else
    {
      guint64 host = (guint64) gte * SECTOR;

      if (host >= e->file_size)
        {
          g_set_error (error, STRATA_ERROR, STRATA_ERROR_CORRUPT,
                       "%s: %sthe grain for guest offset 0x%" G_GINT64_MODIFIER "x at "
                       "0x%" G_GINT64_MODIFIER "x points past the end of the file "
                       "(%" G_GUINT64_FORMAT " bytes)", self->filename, extent_label (self, e),
                       e->start + rel, host, e->file_size);
          return FALSE;
        }
      st->kind = STRATA_BLOCK_DATA;
      st->host_file = e->file;
      if (e->compressed)
        st->compressed = TRUE;
      else
        {
          st->has_host_offset = TRUE;
          st->host_offset = host + in_grain;
        }
    }
  return TRUE;
}

static gboolean
vmdk_block_status (StrataImage       *self,
                   guint64            offset,
                   guint64            length,
                   StrataBlockStatus *status,
                   GError           **error)
{
  VmdkState *s = self->priv;
  guint64 pos = offset;
  guint64 end = offset + length;
  guint steps = 0;

  memset (status, 0, sizeof *status);

  while (pos < end && steps++ < MAX_STATUS_STEPS)
    {
      Extent *e = find_extent (s, pos);
      StrataBlockStatus st;

      if (e == NULL)
        {
          g_set_error (error, STRATA_ERROR, STRATA_ERROR_INVALID_ARGUMENT,
                       "%s: offset 0x%" G_GINT64_MODIFIER "x is past the last extent",
                       self->filename, pos);
          return FALSE;
        }
      if (!extent_status (self, e, pos - e->start, end - pos, &st,
                          pos == offset ? error : NULL))
        {
          /* Damage further on is reported when the caller gets there. */
          if (pos == offset)
            return FALSE;
          break;
        }
      g_assert (st.length > 0);

      if (pos == offset)
        *status = st;
      else if (st.kind != status->kind || st.compressed != status->compressed ||
               st.has_host_offset != status->has_host_offset ||
               (st.has_host_offset &&
                (st.host_file != status->host_file ||
                 st.host_offset != status->host_offset + status->length)) ||
               (st.kind == STRATA_BLOCK_DATA && st.host_file != status->host_file))
        break;
      else
        status->length += st.length;

      pos += st.length;
    }

  return TRUE;
}

/* Inflates grain @grain of extent @e into the state's grain buffer. */
static gboolean
load_compressed_grain (StrataImage  *self,
                       Extent       *e,
                       guint64       grain,
                       guint32       gte,
                       GError      **error)
{
  VmdkState *s = self->priv;
  guint64 at = (guint64) gte * SECTOR;
  guint64 data_len;
  g_autofree guint8 *in = NULL;
  enum libdeflate_result result;
  size_t in_used, out_len;

  if (s->cached_extent == e && s->cached_grain == grain)
    return TRUE;
  s->cached_extent = NULL;

  if (at >= e->file_size)
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_CORRUPT,
                   "%s: %sthe compressed grain at 0x%" G_GINT64_MODIFIER "x is past the end "
                   "of the file (%" G_GUINT64_FORMAT " bytes)", self->filename,
                   extent_label (self, e), at, e->file_size);
      return FALSE;
    }

  if (e->has_markers)
    {
      guint8 marker[12];

      if (at > e->file_size || e->file_size - at < sizeof marker)
        {
          g_set_error (error, STRATA_ERROR, STRATA_ERROR_CORRUPT,
                       "%s: %sthe grain marker at 0x%" G_GINT64_MODIFIER "x is past "
                       "the end of the file", self->filename, extent_label (self, e), at);
          return FALSE;
        }
      if (!strata_file_pread (e->file, marker, sizeof marker, at, error))
        return FALSE;
      data_len = le32_at (marker + 8);
      at += sizeof marker;
      if (data_len == 0 || data_len > 2 * e->grain_size || data_len > e->file_size - at)
        {
          g_set_error (error, STRATA_ERROR, STRATA_ERROR_CORRUPT,
                       "%s: %sthe compressed grain at 0x%" G_GINT64_MODIFIER "x has "
                       "an invalid length of %" G_GUINT64_FORMAT " bytes (the file has %"
                       G_GUINT64_FORMAT ")", self->filename, extent_label (self, e),
                       at - sizeof marker,
                       data_len, e->file_size);
          return FALSE;
        }
    }
  else
    data_len = MIN (2 * e->grain_size, e->file_size - at);

  in = g_malloc (data_len);
  if (!strata_file_pread (e->file, in, data_len, at, error))
    return FALSE;

  if (s->grain_buf_size < e->grain_size)
    {
      g_free (s->grain_buf);
      s->grain_buf = g_malloc (e->grain_size);
      s->grain_buf_size = e->grain_size;
    }

  /* libdeflate decodes the zlib stream (and checks its Adler-32) two to three times faster
   * than zlib; converting a streamOptimized image spends most of its reading time here. */
  if (s->decompressor == NULL && (s->decompressor = libdeflate_alloc_decompressor ()) == NULL)
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_FAILED,
                   "%s: out of memory for a decompressor", self->filename);
      return FALSE;
    }
  result = libdeflate_zlib_decompress_ex (s->decompressor, in, data_len, s->grain_buf,
                                          e->grain_size, &in_used, &out_len);
  if (result != LIBDEFLATE_SUCCESS)
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_CORRUPT,
                   "%s: %sthe compressed grain at 0x%" G_GINT64_MODIFIER "x cannot "
                   "be decompressed (%s)", self->filename, extent_label (self, e), at,
                   result == LIBDEFLATE_INSUFFICIENT_SPACE ? "it is larger than a grain"
                                                           : "bad zlib data");
      return FALSE;
    }
  s->grain_len = out_len;

  s->cached_extent = e;
  s->cached_grain = grain;
  return TRUE;
}

static gboolean
read_sparse (StrataImage  *self,
             Extent       *e,
             guint64       rel,
             gsize         length,
             guint8       *p,
             GError      **error)
{
  VmdkState *s = self->priv;

  while (length > 0)
    {
      guint64 in_grain = rel % e->grain_size;
      gsize n = MIN (length, e->grain_size - in_grain);
      guint32 gte = 0;

      if (e->gd[rel / e->gt_coverage] != 0 && !lookup_gte (s, e, rel, &gte, error))
        return FALSE;

      if (gte == 0 || (gte == GTE_ZEROED && e->zero_grain))
        memset (p, 0, n);
      else if (e->compressed)
        {
          if (!load_compressed_grain (self, e, rel / e->grain_size, gte, error))
            return FALSE;
          if (in_grain + n > s->grain_len)
            {
              g_set_error (error, STRATA_ERROR, STRATA_ERROR_CORRUPT,
                           "%s: %sthe compressed grain at 0x%" G_GINT64_MODIFIER
                           "x holds only %" G_GSIZE_FORMAT " bytes", self->filename,
                           extent_label (self, e),
                           (guint64) gte * SECTOR, s->grain_len);
              return FALSE;
            }
          memcpy (p, s->grain_buf + in_grain, n);
        }
      else
        {
          guint64 host = (guint64) gte * SECTOR;

          if (host >= e->file_size)
            {
              g_set_error (error, STRATA_ERROR, STRATA_ERROR_CORRUPT,
                           "%s: %sthe grain for guest offset 0x%" G_GINT64_MODIFIER "x at "
                           "0x%" G_GINT64_MODIFIER "x points past the end of the file",
                           self->filename, extent_label (self, e), e->start + rel, host);
              return FALSE;
            }
          /* The last grain of a file may be cut short; its tail reads as zeros. */
          if (!strata_file_pread_zerofill (e->file, p, n, host + in_grain, error))
            return FALSE;
        }

      p += n;
      rel += n;
      length -= n;
    }
  return TRUE;
}

static gboolean
vmdk_read (StrataImage  *self,
           guint64       offset,
           gsize         length,
           void         *buf,
           GError      **error)
{
  VmdkState *s = self->priv;
  guint8 *p = buf;

  while (length > 0)
    {
      Extent *e = find_extent (s, offset);
      guint64 rel;
      gsize n;

      if (e == NULL)
        {
          g_set_error (error, STRATA_ERROR, STRATA_ERROR_INVALID_ARGUMENT,
                       "%s: offset 0x%" G_GINT64_MODIFIER "x is past the last extent",
                       self->filename, offset);
          return FALSE;
        }
      rel = offset - e->start;
      n = MIN (length, e->size - rel);

      switch (e->kind)
        {
        case EXTENT_ZERO:
          memset (p, 0, n);
          break;
        case EXTENT_FLAT:
          if (!strata_file_pread_zerofill (e->file, p, n, e->flat_offset + rel, error))
            return FALSE;
          break;
        case EXTENT_SPARSE:
        default:
          if (!read_sparse (self, e, rel, n, p, error))
            return FALSE;
          break;
        }

      p += n;
      offset += n;
      length -= n;
    }
  return TRUE;
}

static gboolean
extents_same_type (const Extent *a,
                   const Extent *b)
{
  gboolean a_flat = a->kind != EXTENT_SPARSE;
  gboolean b_flat = b->kind != EXTENT_SPARSE;

  return a_flat == b_flat && a->compressed == b->compressed &&
         (a_flat || a->grain_size == b->grain_size);
}

static guint64
vmdk_get_cluster_size (StrataImage *self)
{
  VmdkState *s = self->priv;
  Extent *first;

  if (s == NULL || s->extents->len == 0)
    return 0;

  /* As qemu-img: a grain size only when every extent agrees, and never for flat ones. */
  first = g_ptr_array_index (s->extents, 0);
  for (guint i = 1; i < s->extents->len; i++)
    if (!extents_same_type (first, g_ptr_array_index (s->extents, i)))
      return 0;
  return first->kind == EXTENT_SPARSE ? first->grain_size : 0;
}

static StrataCompression
vmdk_get_compression (StrataImage *self)
{
  return STRATA_COMPRESSION_ZLIB;
}

static GVariant *
extent_info (Extent *e)
{
  GVariantBuilder b;

  /* Keys in qemu-img's order: compressed, virtual-size, filename, cluster-size, format. */
  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  if (e->compressed)
    g_variant_builder_add (&b, "{sv}", "compressed", g_variant_new_boolean (TRUE));
  g_variant_builder_add (&b, "{sv}", "virtual-size", g_variant_new_int64 (e->size));
  if (e->path != NULL)
    g_variant_builder_add (&b, "{sv}", "filename", g_variant_new_string (e->path));
  if (e->kind == EXTENT_SPARSE)
    g_variant_builder_add (&b, "{sv}", "cluster-size", g_variant_new_int64 (e->grain_size));
  g_variant_builder_add (&b, "{sv}", "format",
                         g_variant_new_string (e->type_name ? e->type_name : ""));
  return g_variant_builder_end (&b);
}

static void
vmdk_fill_info (StrataImage     *self,
                StrataImageInfo *info)
{
  VmdkState *s = self->priv;
  GVariantBuilder b;
  GVariantBuilder extents;
  guint64 actual = strata_file_get_allocated (self->file);
  guint64 allocated = 0;
  guint64 pos = 0;

  info->cluster_size = vmdk_get_cluster_size (self);

  g_variant_builder_init (&extents, G_VARIANT_TYPE ("aa{sv}"));
  for (guint i = 0; i < s->extents->len; i++)
    {
      Extent *e = g_ptr_array_index (s->extents, i);

      /* qemu-img counts the descriptor plus every extent kept in another file. */
      if (e->file != NULL && e->file != self->file)
        actual += strata_file_get_allocated (e->file);
      g_variant_builder_add_value (&extents, extent_info (e));
    }
  info->actual_size = actual;

  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", "cid", g_variant_new_int64 (s->cid));
  g_variant_builder_add (&b, "{sv}", "parent-cid", g_variant_new_int64 (s->parent_cid));
  g_variant_builder_add (&b, "{sv}", "create-type", g_variant_new_string (s->create_type));
  g_variant_builder_add (&b, "{sv}", "extents", g_variant_builder_end (&extents));
  info->format_specific = g_variant_ref_sink (g_variant_builder_end (&b));

  /* QEMU refuses to read through a parent whose CID no longer matches: the parent changed
   * after this overlay was made, so what the guest sees is probably not what it wrote. */
  if (self->backing != NULL && self->backing->driver == &strata_vmdk_driver &&
      self->backing->priv != NULL &&
      ((VmdkState *) self->backing->priv)->cid != s->parent_cid)
    {
      guint n = info->warnings != NULL ? g_strv_length (info->warnings) : 0;

      info->warnings = g_renew (char *, info->warnings, n + 2);
      info->warnings[n] = g_strdup_printf ("parentCID %08x does not match the CID %08x of the "
                                           "parent %s: the parent changed after this image "
                                           "was made (QEMU refuses to read through it)",
                                           s->parent_cid,
                                           ((VmdkState *) self->backing->priv)->cid,
                                           self->backing->filename);
      info->warnings[n + 1] = NULL;
    }

  /* Guest bytes this layer decides (data and zeros); a damaged table just stops the count. */
  while (pos < self->virtual_size)
    {
      StrataBlockStatus st;

      if (!vmdk_block_status (self, pos, self->virtual_size - pos, &st, NULL))
        break;
      if (st.kind != STRATA_BLOCK_UNALLOCATED)
        allocated += st.length;
      pos += st.length;
    }
  info->allocated_bytes = allocated;
  info->has_allocated_bytes = TRUE;
}

static void
vmdk_list_files (StrataImage *self,
                 GPtrArray   *files)
{
  VmdkState *s = self->priv;

  if (s == NULL || s->extents == NULL)
    return;

  for (guint i = 0; i < s->extents->len; i++)
    {
      Extent *e = g_ptr_array_index (s->extents, i);

      if (e->file != NULL && e->file != self->file)
        g_ptr_array_add (files, e->file);
    }
}

const StrataDriver strata_vmdk_driver = {
  .name = "vmdk",
  .probe = vmdk_probe,
  .open = vmdk_open,
  .close = vmdk_close,
  .block_status = vmdk_block_status,
  .read = vmdk_read,
  .fill_info = vmdk_fill_info,
  .get_cluster_size = vmdk_get_cluster_size,
  .get_compression = vmdk_get_compression,
  .list_files = vmdk_list_files,
};
