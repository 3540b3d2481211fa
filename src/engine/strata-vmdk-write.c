/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "strata-vmdk-write.h"
#include "strata-compress.h"
#include "strata-create.h"
#include "strata-error.h"

#include <string.h>

/*
 * Layout of what this writes, in 512-byte sectors (VMware's "Virtual Disk Format 1.1"):
 *
 * monolithicSparse: header | descriptor (20 sectors) | redundant GD | redundant GTs |
 *                   GD | GTs | grains, from sector 128-aligned "overhead" on, in guest order.
 *   Every GT is preallocated (QEMU only writes into grain tables that exist); the ones that
 *   stay empty are holes in the file.
 *
 * streamOptimized:  header (gdOffset = -1) | descriptor | from sector 128: for each 32 MiB
 *                   of guest space with data, its grains (a 12-byte marker — guest sector
 *                   and length — then the zlib stream, padded to a sector), then a GT marker
 *                   and the GT | GD marker and GD | footer marker, footer (the header with
 *                   the real gdOffset) | end-of-stream marker.
 *
 * An empty streamOptimized image from strata_vmdk_create_empty() has the monolithicSparse
 * layout instead (both directories and every GT preallocated, the header's gdOffset real,
 * no footer), with the stream's header flags: the shape qemu-img creates, the one QEMU can
 * append compressed grains to. QEMU rewrites the header of a stream that has a footer.
 *
 * Zero grains are never written (their GT entry stays 0: unallocated, reads as zeros).
 */

#define SECTOR            512
#define GRAIN_SECTORS     (STRATA_VMDK_GRAIN_SIZE / SECTOR)
#define GTES_PER_GT       512
#define GT_SECTORS        (GTES_PER_GT * 4 / SECTOR)
#define DESC_OFFSET       1
#define DESC_SECTORS      20
#define GD_AT_END         G_MAXUINT64

#define FLAG_VALID_NEWLINE (1u << 0)
#define FLAG_REDUNDANT_GD  (1u << 1)
#define FLAG_COMPRESSED    (1u << 16)
#define FLAG_MARKERS       (1u << 17)
#define COMPRESSION_DEFLATE 1

#define MARKER_EOS    0
#define MARKER_GT     1
#define MARKER_GD     2
#define MARKER_FOOTER 3

/* streamOptimized output is gathered into writes of about this size. */
#define STAGING_SIZE  (1024 * 1024)

struct _StrataVmdkWriter
{
  StrataFile        *file;
  StrataVmdkOptions  opts;
  gboolean           stream;        /* compressed grains, stream header flags */
  gboolean           tables_first;  /* GDs and GTs preallocated after the descriptor */
  int                level;

  guint64            capacity;      /* sectors */
  guint32            n_gts;
  guint64            gd_sectors;
  guint64            rgd_offset;    /* sectors; monolithicSparse */
  guint64            rgt_start;
  guint64            gd_offset;
  guint64            gt_start;
  guint64            grain_offset;
  guint8             header[SECTOR];

  guint32           *gd;            /* streamOptimized: filled as the GTs are written */
  guint32            gt[GTES_PER_GT];
  gint64             gt_index;      /* the GT in gt[]; -1 before the first grain */
  gboolean           gt_dirty;
  guint64            next_grain;    /* grains must come in increasing order */

  guint64            end;           /* file offset of the next grain, staged bytes included */
  guint8            *staging;
  gsize              staged;
  gsize              staging_size;

  StrataCompressor  *compressor;    /* for grains handed over uncompressed */
  guint8            *zbuf;
  gsize              zbuf_size;
};

void
strata_vmdk_options_init (StrataVmdkOptions *opts)
{
  g_return_if_fail (opts != NULL);

  memset (opts, 0, sizeof *opts);
  opts->subformat = STRATA_VMDK_MONOLITHIC_SPARSE;
  opts->adapter = STRATA_VMDK_ADAPTER_IDE;
  opts->hwversion = 4;
  opts->parent_cid = 0xffffffff;
}

const char *
strata_vmdk_subformat_name (StrataVmdkSubformat subformat)
{
  return subformat == STRATA_VMDK_STREAM_OPTIMIZED ? "streamOptimized" : "monolithicSparse";
}

static const char *
adapter_name (StrataVmdkAdapter adapter)
{
  switch (adapter)
    {
    case STRATA_VMDK_ADAPTER_LSILOGIC:   return "lsilogic";
    case STRATA_VMDK_ADAPTER_BUSLOGIC:   return "buslogic";
    case STRATA_VMDK_ADAPTER_LEGACY_ESX: return "legacyESX";
    case STRATA_VMDK_ADAPTER_IDE:
    default:                             return "ide";
    }
}

gboolean
strata_vmdk_options_parse (StrataVmdkOptions  *opts,
                           const char         *options,
                           GError            **error)
{
  g_autoptr(GPtrArray) items = NULL;
  gboolean has_hwversion = FALSE;
  gboolean compat6 = FALSE;

  g_return_val_if_fail (opts != NULL, FALSE);

  items = strata_create_options_split (options);

  for (guint i = 0; i < items->len; i++)
    {
      char *item = g_ptr_array_index (items, i);
      char *value = strchr (item, '=');
      const char *key = item;
      gboolean ok = TRUE;

      if (value != NULL)
        *value++ = '\0';

      if (g_str_equal (key, "subformat"))
        {
          if (g_strcmp0 (value, "monolithicSparse") == 0)
            opts->subformat = STRATA_VMDK_MONOLITHIC_SPARSE;
          else if (g_strcmp0 (value, "streamOptimized") == 0)
            opts->subformat = STRATA_VMDK_STREAM_OPTIMIZED;
          else if (g_strcmp0 (value, "monolithicFlat") == 0 ||
                   g_strcmp0 (value, "twoGbMaxExtentSparse") == 0 ||
                   g_strcmp0 (value, "twoGbMaxExtentFlat") == 0)
            {
              g_set_error (error, STRATA_ERROR, STRATA_ERROR_UNSUPPORTED,
                           "subformat=%s is not supported for writing (monolithicSparse or "
                           "streamOptimized)", value);
              return FALSE;
            }
          else
            ok = FALSE;
        }
      else if (g_str_equal (key, "adapter_type"))
        {
          if (g_strcmp0 (value, "ide") == 0)
            opts->adapter = STRATA_VMDK_ADAPTER_IDE;
          else if (g_strcmp0 (value, "lsilogic") == 0)
            opts->adapter = STRATA_VMDK_ADAPTER_LSILOGIC;
          else if (g_strcmp0 (value, "buslogic") == 0)
            opts->adapter = STRATA_VMDK_ADAPTER_BUSLOGIC;
          else if (g_strcmp0 (value, "legacyESX") == 0)
            opts->adapter = STRATA_VMDK_ADAPTER_LEGACY_ESX;
          else
            ok = FALSE;
        }
      else if (g_str_equal (key, "hwversion"))
        {
          guint64 v = 0;

          /* qemu-img writes any text into the descriptor; a number is what VMware and
           * VirtualBox read there, so that is all we accept. */
          if (g_strcmp0 (value, "undefined") == 0)
            v = 4;
          else
            {
              ok = value != NULL && g_ascii_string_to_unsigned (value, 10, 1, 999, &v, NULL);
              has_hwversion = TRUE;
            }
          opts->hwversion = v;
        }
      else if (g_str_equal (key, "compat6"))
        {
          if (value == NULL || g_str_equal (value, "on") || g_str_equal (value, "true"))
            compat6 = TRUE;
          else if (g_str_equal (value, "off") || g_str_equal (value, "false"))
            compat6 = FALSE;
          else
            ok = FALSE;
        }
      else if (g_str_equal (key, "preallocation"))
        {
          if (g_strcmp0 (value, "off") != 0)
            {
              g_set_error (error, STRATA_ERROR, STRATA_ERROR_UNSUPPORTED,
                           "preallocation=%s is not supported (only preallocation=off)",
                           value != NULL ? value : "");
              return FALSE;
            }
        }
      else
        {
          g_set_error (error, STRATA_ERROR, STRATA_ERROR_INVALID_ARGUMENT,
                       "invalid option \"%s\" for the vmdk format", key);
          return FALSE;
        }

      if (!ok)
        {
          g_set_error (error, STRATA_ERROR, STRATA_ERROR_INVALID_ARGUMENT,
                       "invalid value \"%s\" for option \"%s\"", value != NULL ? value : "",
                       key);
          return FALSE;
        }
    }

  /* qemu-img's older spelling of hwversion=6. */
  if (compat6 && has_hwversion)
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_INVALID_ARGUMENT,
                   "compat6 cannot be enabled with hwversion set");
      return FALSE;
    }
  if (compat6)
    opts->hwversion = 6;

  return TRUE;
}

static inline guint64
div_round_up (guint64 v,
              guint64 d)
{
  return v / d + (v % d != 0);
}

static inline void
put_le32 (guint8  *p,
          guint32  v)
{
  v = GUINT32_TO_LE (v);
  memcpy (p, &v, 4);
}

static inline void
put_le64 (guint8  *p,
          guint64  v)
{
  v = GUINT64_TO_LE (v);
  memcpy (p, &v, 8);
}

/* Fills in the layout fields from @size; FALSE if the size cannot be addressed. */
static gboolean
compute_layout (StrataVmdkWriter        *self,
                guint64                  size,
                const StrataVmdkOptions *opts,
                gboolean                 empty)
{
  guint64 grains;

  if (size > STRATA_VMDK_MAX_SIZE)
    return FALSE;

  self->stream = opts->subformat == STRATA_VMDK_STREAM_OPTIMIZED;
  self->tables_first = !self->stream || empty;
  self->capacity = div_round_up (size, SECTOR);
  grains = div_round_up (self->capacity, GRAIN_SECTORS);
  self->n_gts = div_round_up (grains, GTES_PER_GT);
  self->gd_sectors = div_round_up ((guint64) self->n_gts * 4, SECTOR);
  /* A stream ends with a GD marker and GD even for an empty disk; an empty disk with its
   * tables up front has none, and both directories sit at one offset, as in qemu-img's. */
  if (!self->tables_first)
    self->gd_sectors = MAX (1, self->gd_sectors);

  if (!self->tables_first)
    {
      self->grain_offset = GRAIN_SECTORS;
      return TRUE;
    }

  self->rgd_offset = DESC_OFFSET + DESC_SECTORS;
  self->rgt_start = self->rgd_offset + self->gd_sectors;
  self->gd_offset = self->rgt_start + (guint64) self->n_gts * GT_SECTORS;
  self->gt_start = self->gd_offset + self->gd_sectors;
  self->grain_offset = self->gt_start + (guint64) self->n_gts * GT_SECTORS;
  self->grain_offset = div_round_up (self->grain_offset, GRAIN_SECTORS) * GRAIN_SECTORS;
  return TRUE;
}

guint64
strata_vmdk_metadata_size (guint64                  size,
                           const StrataVmdkOptions *opts)
{
  StrataVmdkWriter layout = { 0 };

  g_return_val_if_fail (opts != NULL, 0);

  if (!compute_layout (&layout, size, opts, FALSE))
    return 0;
  return layout.grain_offset * SECTOR;
}

static void
build_header (StrataVmdkWriter *self,
              guint64           gd_offset,
              guint8           *out)
{
  guint32 flags = FLAG_VALID_NEWLINE;

  memset (out, 0, SECTOR);
  memcpy (out, "KDMV", 4);
  if (self->stream)
    flags |= FLAG_COMPRESSED | FLAG_MARKERS;
  if (self->tables_first)
    flags |= FLAG_REDUNDANT_GD;
  put_le32 (out + 4, self->stream ? 3 : 1);
  put_le32 (out + 8, flags);
  put_le64 (out + 12, self->capacity);
  put_le64 (out + 20, GRAIN_SECTORS);
  put_le64 (out + 28, DESC_OFFSET);
  put_le64 (out + 36, DESC_SECTORS);
  put_le32 (out + 44, GTES_PER_GT);
  put_le64 (out + 48, self->tables_first ? self->rgd_offset : 0);
  put_le64 (out + 56, gd_offset);
  put_le64 (out + 64, self->grain_offset);
  out[72] = 0;        /* uncleanShutdown */
  /* The characters a file transfer in text mode would mangle. */
  out[73] = '\n';
  out[74] = ' ';
  out[75] = '\r';
  out[76] = '\n';
  out[77] = self->stream ? COMPRESSION_DEFLATE : 0;
  out[78] = 0;
}

static char *
build_descriptor (StrataVmdkWriter *self,
                  const char       *extent_name)
{
  guint heads = self->opts.adapter == STRATA_VMDK_ADAPTER_IDE ? 16 : 255;
  guint64 cylinders = self->capacity / (63 * (guint64) heads);
  g_autofree char *uuid = g_uuid_string_random ();
  guint32 cid;
  const char *nil_uuid = "00000000-0000-0000-0000-000000000000";
  g_autofree char *hint = self->opts.parent_hint == NULL ? g_strdup ("")
                          : g_strdup_printf ("parentFileNameHint=\"%s\"\n",
                                             self->opts.parent_hint);

  /* 0xffffffff means "no parent" in parentCID; keep the CID clear of it. */
  do
    cid = g_random_int ();
  while (cid == 0xffffffff);

  /* What qemu-img writes, plus VirtualBox's identity keys (in its own spelling), so that
   * VirtualBox can register the disk without writing into it first. */
  return g_strdup_printf ("# Disk DescriptorFile\n"
                          "version=1\n"
                          "encoding=\"UTF-8\"\n"
                          "CID=%08x\n"
                          "parentCID=%08x\n"
                          "createType=\"%s\"\n"
                          "%s"
                          "\n"
                          "# Extent description\n"
                          "RW %" G_GUINT64_FORMAT " SPARSE \"%s\"\n"
                          "\n"
                          "# The Disk Data Base\n"
                          "#DDB\n"
                          "\n"
                          "ddb.virtualHWVersion = \"%u\"\n"
                          "ddb.geometry.cylinders = \"%" G_GUINT64_FORMAT "\"\n"
                          "ddb.geometry.heads = \"%u\"\n"
                          "ddb.geometry.sectors = \"63\"\n"
                          "ddb.adapterType = \"%s\"\n"
                          "ddb.toolsVersion = \"2147483647\"\n"
                          "ddb.uuid.image=\"%s\"\n"
                          "ddb.uuid.parent=\"%s\"\n"
                          "ddb.uuid.modification=\"%s\"\n"
                          "ddb.uuid.parentmodification=\"%s\"\n",
                          cid, self->opts.parent_cid,
                          strata_vmdk_subformat_name (self->opts.subformat), hint,
                          self->capacity, extent_name, self->opts.hwversion, cylinders, heads,
                          adapter_name (self->opts.adapter), uuid, nil_uuid, nil_uuid,
                          nil_uuid);
}

void
strata_vmdk_writer_free (StrataVmdkWriter *self)
{
  if (self == NULL)
    return;

  g_clear_pointer (&self->file, strata_file_unref);
  g_clear_pointer (&self->compressor, strata_compressor_free);
  g_free (self->gd);
  g_free (self->staging);
  g_free (self->zbuf);
  g_free (self);
}

static StrataVmdkWriter *
writer_new (StrataFile              *file,
            const char              *extent_name,
            guint64                  size,
            const StrataVmdkOptions *opts,
            int                      level,
            gboolean                 empty,
            GError                 **error)
{
  g_autoptr(StrataVmdkWriter) self = NULL;
  g_autofree char *desc = NULL;
  const char *path;

  g_return_val_if_fail (file != NULL, NULL);
  g_return_val_if_fail (extent_name != NULL, NULL);
  g_return_val_if_fail (opts != NULL, NULL);

  path = strata_file_get_path (file);
  self = g_new0 (StrataVmdkWriter, 1);
  self->file = strata_file_ref (file);
  self->opts = *opts;
  self->level = level;
  self->gt_index = -1;

  if (!compute_layout (self, size, opts, empty))
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_UNSUPPORTED,
                   "%s: a VMDK sparse extent holds at most %" G_GUINT64_FORMAT " bytes "
                   "(32-bit sector offsets); this disk has %" G_GUINT64_FORMAT,
                   path, STRATA_VMDK_MAX_SIZE, size);
      return NULL;
    }

  /* The descriptor quotes the names and ends a line with each. */
  for (int n = 0; n < 2; n++)
    {
      const char *name = n == 0 ? extent_name : opts->parent_hint;

      for (const char *p = name; p != NULL && *p != '\0'; p++)
        if (*p == '"' || (guchar) *p < 0x20 || *p == 0x7f)
          {
            g_set_error (error, STRATA_ERROR, STRATA_ERROR_INVALID_ARGUMENT,
                         "%s: a VMDK descriptor cannot name a file \"%s\" (quotes and control "
                         "characters are not allowed in the name)", path, name);
            return NULL;
          }
    }

  desc = build_descriptor (self, extent_name);
  if (strlen (desc) > DESC_SECTORS * SECTOR)
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_INVALID_ARGUMENT,
                   "%s: the file name \"%s\" is too long for the VMDK descriptor", path,
                   extent_name);
      return NULL;
    }

  build_header (self, self->tables_first ? self->gd_offset : GD_AT_END, self->header);
  if (!strata_file_pwrite (file, self->header, SECTOR, 0, error) ||
      !strata_file_pwrite (file, desc, strlen (desc), DESC_OFFSET * SECTOR, error))
    return NULL;

  if (!self->tables_first)
    {
      self->gd = g_new0 (guint32, MAX (1, self->n_gts));
      self->staging_size = STAGING_SIZE + 2 * strata_compress_zlib_bound (STRATA_VMDK_GRAIN_SIZE);
      self->staging = g_malloc (self->staging_size);
    }
  else if (self->n_gts > 0)
    {
      /* Both directories point at their own preallocated tables. */
      gsize len = self->gd_sectors * SECTOR;
      g_autofree guint8 *gd = g_malloc0 (len);
      g_autofree guint8 *rgd = g_malloc0 (len);

      for (guint32 i = 0; i < self->n_gts; i++)
        {
          put_le32 (gd + 4 * i, self->gt_start + (guint64) i * GT_SECTORS);
          put_le32 (rgd + 4 * i, self->rgt_start + (guint64) i * GT_SECTORS);
        }
      if (!strata_file_pwrite (file, rgd, len, self->rgd_offset * SECTOR, error) ||
          !strata_file_pwrite (file, gd, len, self->gd_offset * SECTOR, error))
        return NULL;
    }

  self->end = self->grain_offset * SECTOR;
  if (!strata_file_truncate (file, self->end, error))
    return NULL;

  return g_steal_pointer (&self);
}

StrataVmdkWriter *
strata_vmdk_writer_new (StrataFile              *file,
                        const char              *extent_name,
                        guint64                  size,
                        const StrataVmdkOptions *opts,
                        int                      level,
                        GError                 **error)
{
  return writer_new (file, extent_name, size, opts, level, FALSE, error);
}

gboolean
strata_vmdk_create_empty (StrataFile              *file,
                          const char              *extent_name,
                          guint64                  size,
                          const StrataVmdkOptions *opts,
                          GError                 **error)
{
  g_autoptr(StrataVmdkWriter) self = NULL;

  g_return_val_if_fail (file != NULL, FALSE);
  g_return_val_if_fail (extent_name != NULL, FALSE);
  g_return_val_if_fail (opts != NULL, FALSE);

  /* No grains: the header, descriptor and tables are the whole image, and a stream of
   * this layout ends without a footer. */
  self = writer_new (file, extent_name, size, opts, 0, TRUE, error);
  return self != NULL && strata_file_flush (file, error);
}

gboolean
strata_vmdk_writer_is_compressed (StrataVmdkWriter *self)
{
  g_return_val_if_fail (self != NULL, FALSE);
  return self->stream;
}

static gboolean
staging_flush (StrataVmdkWriter  *self,
               GError           **error)
{
  guint64 at = self->end - self->staged;

  if (self->staged == 0)
    return TRUE;
  if (!strata_file_pwrite (self->file, self->staging, self->staged, at, error))
    return FALSE;
  self->staged = 0;
  return TRUE;
}

/* Room for @len more bytes in the staging buffer (padded to a sector). */
static gboolean
staging_reserve (StrataVmdkWriter  *self,
                 gsize              len,
                 GError           **error)
{
  if (self->staged + len + SECTOR > self->staging_size)
    return staging_flush (self, error);
  return TRUE;
}

static void
staging_append (StrataVmdkWriter *self,
                const void       *data,
                gsize             len)
{
  memcpy (self->staging + self->staged, data, len);
  self->staged += len;
  self->end += len;
}

static void
staging_pad (StrataVmdkWriter *self)
{
  gsize pad = (SECTOR - self->end % SECTOR) % SECTOR;

  memset (self->staging + self->staged, 0, pad);
  self->staged += pad;
  self->end += pad;
}

static gboolean
stream_append_marker (StrataVmdkWriter  *self,
                      guint64            sectors,
                      guint32            type,
                      GError           **error)
{
  guint8 marker[SECTOR] = { 0 };

  put_le64 (marker, sectors);
  put_le32 (marker + 12, type);
  if (!staging_reserve (self, SECTOR, error))
    return FALSE;
  staging_append (self, marker, SECTOR);
  return TRUE;
}

/* Writes the GT in gt[] where it belongs, if it maps any grain. */
static gboolean
gt_flush (StrataVmdkWriter  *self,
          GError           **error)
{
  if (!self->gt_dirty)
    return TRUE;
  self->gt_dirty = FALSE;

  if (self->stream)
    {
      if (!stream_append_marker (self, GT_SECTORS, MARKER_GT, error) ||
          !staging_reserve (self, sizeof self->gt, error))
        return FALSE;
      self->gd[self->gt_index] = GUINT32_TO_LE ((guint32) (self->end / SECTOR));
      staging_append (self, self->gt, sizeof self->gt);
      return TRUE;
    }

  return strata_file_pwrite (self->file, self->gt, sizeof self->gt,
                             (self->rgt_start + self->gt_index * GT_SECTORS) * SECTOR,
                             error) &&
         strata_file_pwrite (self->file, self->gt, sizeof self->gt,
                             (self->gt_start + self->gt_index * GT_SECTORS) * SECTOR, error);
}

/* Checks that grain @offset may come next and makes its GT the current one (writing out
 * the previous GT, which for streamOptimized moves the end of the file). */
static gboolean
grain_begin (StrataVmdkWriter  *self,
             guint64            offset,
             GError           **error)
{
  guint64 grain = offset / STRATA_VMDK_GRAIN_SIZE;
  gint64 gt_index = grain / GTES_PER_GT;

  if (offset % STRATA_VMDK_GRAIN_SIZE != 0 || grain < self->next_grain ||
      offset >= self->capacity * SECTOR)
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_INVALID_ARGUMENT,
                   "%s: grain at %" G_GUINT64_FORMAT " written out of order or past the end",
                   strata_file_get_path (self->file), offset);
      return FALSE;
    }

  if (gt_index != self->gt_index)
    {
      if (!gt_flush (self, error))
        return FALSE;
      self->gt_index = gt_index;
      memset (self->gt, 0, sizeof self->gt);
    }
  return TRUE;
}

/* Points the GT entry of grain @offset (made current by grain_begin()) at @sector. */
static gboolean
grain_map (StrataVmdkWriter  *self,
           guint64            offset,
           guint64            sector,
           GError           **error)
{
  guint64 grain = offset / STRATA_VMDK_GRAIN_SIZE;

  if (sector > G_MAXUINT32)
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_UNSUPPORTED,
                   "%s: the VMDK file would grow past 2 TiB, which its 32-bit grain offsets "
                   "cannot address", strata_file_get_path (self->file));
      return FALSE;
    }
  self->gt[grain % GTES_PER_GT] = GUINT32_TO_LE ((guint32) sector);
  self->gt_dirty = TRUE;
  self->next_grain = grain + 1;
  return TRUE;
}

gboolean
strata_vmdk_writer_write_compressed (StrataVmdkWriter  *self,
                                     guint64            offset,
                                     const void        *data,
                                     gsize              len,
                                     GError           **error)
{
  guint8 marker[12];

  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (data != NULL || len == 0, FALSE);

  if (!self->stream)
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_UNSUPPORTED,
                   "%s: a monolithicSparse VMDK holds no compressed grains",
                   strata_file_get_path (self->file));
      return FALSE;
    }
  if (len == 0 || len > G_MAXUINT32)
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_INVALID_ARGUMENT,
                   "%s: invalid compressed grain length %" G_GSIZE_FORMAT,
                   strata_file_get_path (self->file), len);
      return FALSE;
    }

  if (!grain_begin (self, offset, error) ||
      !staging_reserve (self, sizeof marker + len, error) ||
      !grain_map (self, offset, self->end / SECTOR, error))
    return FALSE;

  put_le64 (marker, offset / SECTOR);
  put_le32 (marker + 8, len);
  staging_append (self, marker, sizeof marker);
  staging_append (self, data, len);
  staging_pad (self);
  return TRUE;
}

gboolean
strata_vmdk_writer_write (StrataVmdkWriter  *self,
                          guint64            offset,
                          const void        *buf,
                          gsize              len,
                          GError           **error)
{
  const guint8 *p = buf;
  guint64 n_grains;
  gsize whole;

  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (buf != NULL || len == 0, FALSE);

  n_grains = div_round_up (len, STRATA_VMDK_GRAIN_SIZE);
  whole = len - len % STRATA_VMDK_GRAIN_SIZE;

  if (self->stream)
    {
      if (self->compressor == NULL)
        {
          self->compressor = strata_compressor_new_zlib (self->level);
          self->zbuf_size = strata_compress_zlib_bound (STRATA_VMDK_GRAIN_SIZE);
          self->zbuf = g_malloc (self->zbuf_size);
        }

      for (guint64 i = 0; i < n_grains; i++)
        {
          g_autofree guint8 *grain = NULL;
          const guint8 *in = p + i * STRATA_VMDK_GRAIN_SIZE;
          gsize n;

          /* Every grain is inflated to a whole grain: pad the cut last one. */
          if (i * STRATA_VMDK_GRAIN_SIZE >= whole)
            {
              grain = g_malloc0 (STRATA_VMDK_GRAIN_SIZE);
              memcpy (grain, in, len - whole);
              in = grain;
            }
          n = strata_compressor_compress (self->compressor, in, STRATA_VMDK_GRAIN_SIZE,
                                          self->zbuf, self->zbuf_size);
          g_assert (n > 0);
          if (!strata_vmdk_writer_write_compressed (self, offset + i * STRATA_VMDK_GRAIN_SIZE,
                                                    self->zbuf, n, error))
            return FALSE;
        }
      return TRUE;
    }

  for (guint64 i = 0; i < n_grains; i++)
    if (!grain_begin (self, offset + i * STRATA_VMDK_GRAIN_SIZE, error) ||
        !grain_map (self, offset + i * STRATA_VMDK_GRAIN_SIZE,
                    self->end / SECTOR + i * GRAIN_SECTORS, error))
      return FALSE;

  if (whole > 0 && !strata_file_pwrite (self->file, p, whole, self->end, error))
    return FALSE;
  if (whole < len)
    {
      /* The disk's last grain, cut at the virtual size: store it whole. */
      g_autofree guint8 *grain = g_malloc0 (STRATA_VMDK_GRAIN_SIZE);

      memcpy (grain, p + whole, len - whole);
      if (!strata_file_pwrite (self->file, grain, STRATA_VMDK_GRAIN_SIZE, self->end + whole,
                               error))
        return FALSE;
    }
  self->end += n_grains * STRATA_VMDK_GRAIN_SIZE;
  return TRUE;
}

gboolean
strata_vmdk_writer_finish (StrataVmdkWriter  *self,
                           GError           **error)
{
  g_return_val_if_fail (self != NULL, FALSE);

  if (!gt_flush (self, error))
    return FALSE;

  if (self->stream)
    {
      gsize gd_len = self->gd_sectors * SECTOR;
      guint64 gd_offset;
      guint8 footer[SECTOR];

      if (!stream_append_marker (self, self->gd_sectors, MARKER_GD, error) ||
          !staging_flush (self, error))
        return FALSE;
      gd_offset = self->end / SECTOR;
      {
        g_autofree guint8 *gd = g_malloc0 (gd_len);

        memcpy (gd, self->gd, (gsize) self->n_gts * 4);
        if (!strata_file_pwrite (self->file, gd, gd_len, self->end, error))
          return FALSE;
        self->end += gd_len;
      }

      build_header (self, gd_offset, footer);
      if (!stream_append_marker (self, 1, MARKER_FOOTER, error))
        return FALSE;
      staging_append (self, footer, SECTOR);
      if (!stream_append_marker (self, 0, MARKER_EOS, error) ||
          !staging_flush (self, error))
        return FALSE;
    }

  return strata_file_flush (self->file, error);
}
