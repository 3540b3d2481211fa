/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "strata-qcow2-private.h"

#include <stdarg.h>
#include <libdeflate.h>
#include <zstd.h>

/*
 * The qcow2 driver: header and extension parsing, validation with QEMU's limits, the
 * driver table and `info`. Cluster lookup and reading live in strata-qcow2-cluster.c,
 * refcounts in strata-qcow2-refcount.c, writing in strata-qcow2-write.c.
 */

static const char *const default_feature_names[3][5] = {
  { "dirty bit", "corrupt bit", "external data file", "compression type",
    "extended L2 entries" },
  { "lazy refcounts" },
  { "bitmaps", "raw external data" },
};

gboolean
qcow2_corrupt (Qcow2State  *s,
               GError     **error,
               const char  *format,
               ...)
{
  g_autofree char *msg = NULL;
  va_list args;

  va_start (args, format);
  msg = g_strdup_vprintf (format, args);
  va_end (args);

  g_set_error (error, STRATA_ERROR, STRATA_ERROR_CORRUPT, "%s: %s", s->filename, msg);
  return FALSE;
}

gboolean
qcow2_check_host_range (Qcow2State  *s,
                        guint64      offset,
                        guint64      length,
                        guint64      alignment,
                        const char  *what,
                        GError     **error)
{
  if (alignment > 1 && (offset & (alignment - 1)) != 0)
    return qcow2_corrupt (s, error, "%s at 0x%" G_GINT64_MODIFIER "x is not aligned to "
                         "the cluster size", what, offset);
  if (offset == 0 && length > 0)
    return qcow2_corrupt (s, error, "%s at offset 0 overlaps the header", what);
  if (offset > s->file_size || length > s->file_size - offset)
    return qcow2_corrupt (s, error, "%s at 0x%" G_GINT64_MODIFIER "x points past the end "
                          "of the file", what, offset);
  return TRUE;
}

static int
qcow2_probe (const guint8 *buf,
             gsize         len,
             const char   *filename)
{
  /* Any qcow magic is ours: a bad or old version must be an error, never raw. */
  if (len >= 4 && qcow2_ldl (buf) == QCOW2_MAGIC)
    return 100;
  return 0;
}

static const char *
feature_name (Qcow2State *s,
              guint       type,
              guint       bit)
{
  if (s->feature_names[type][bit] != NULL)
    return s->feature_names[type][bit];
  if (bit < G_N_ELEMENTS (default_feature_names[type]))
    return default_feature_names[type][bit];
  return NULL;
}

/* Remembers where an extension we rewrite ourselves stood (header rewrites keep the
 * original order), with its bytes when they are kept as they are. */
static void
keep_position (Qcow2State   *s,
               guint32       type,
               const guint8 *data,
               guint32       len)
{
  Qcow2Extension *ext = g_new0 (Qcow2Extension, 1);

  for (guint i = 0; i < s->unknown_extensions->len; i++)
    if (((Qcow2Extension *) g_ptr_array_index (s->unknown_extensions, i))->type == type)
      g_ptr_array_remove_index (s->unknown_extensions, i--);
  ext->type = type;
  ext->length = len;
  ext->data = data != NULL ? g_memdup2 (data, len) : NULL;
  g_ptr_array_add (s->unknown_extensions, ext);
}

static gboolean
parse_extensions (Qcow2State    *s,
                  const guint8  *cluster0,
                  guint64        start,
                  guint64        end,
                  char         **backing_format,
                  GError       **error)
{
  guint64 off = start;

  while (off + 8 <= end)
    {
      guint32 type = qcow2_ldl (cluster0 + off);
      guint32 len = qcow2_ldl (cluster0 + off + 4);
      const guint8 *data = cluster0 + off + 8;

      if (type == QCOW2_EXT_END)
        return TRUE;
      if (len > end - off - 8)
        return qcow2_corrupt (s, error, "header extension 0x%08x at 0x%" G_GINT64_MODIFIER
                              "x is longer than the header cluster", type, off);

      switch (type)
        {
        case QCOW2_EXT_BACKING_FORMAT:
          if (len > 1023)
            return qcow2_corrupt (s, error, "the backing format name is too long");
          g_free (*backing_format);
          *backing_format = g_strndup ((const char *) data, len);
          keep_position (s, type, NULL, 0);
          break;

        case QCOW2_EXT_FEATURE_TABLE:
          for (guint32 i = 0; i + 48 <= len; i += 48)
            {
              guint t = data[i], bit = data[i + 1];

              if (t < 3 && bit < 64)
                {
                  g_free (s->feature_names[t][bit]);
                  s->feature_names[t][bit] = g_strndup ((const char *) data + i + 2, 46);
                }
            }
          /* The image's own table, byte for byte, where it was. */
          keep_position (s, type, data, len);
          break;

        default:
          {
            Qcow2Extension *ext = g_new0 (Qcow2Extension, 1);

            if (type == QCOW2_EXT_BITMAPS)
              {
                s->has_bitmaps_ext = TRUE;
                if (len >= 24)
                  {
                    s->nb_bitmaps = qcow2_ldl (data);
                    s->bitmap_dir_size = qcow2_ldq (data + 8);
                    s->bitmap_dir_offset = qcow2_ldq (data + 16);
                  }
              }
            else if (type == QCOW2_EXT_DATA_FILE)
              {
                g_free (s->data_file);
                s->data_file = g_strndup ((const char *) data, len);
              }
            else if (type == QCOW2_EXT_CRYPTO)
              {
                s->has_crypto_ext = TRUE;
                if (len >= 16)
                  {
                    s->crypto_header_offset = qcow2_ldq (data);
                    s->crypto_header_length = qcow2_ldq (data + 8);
                  }
              }

            /* Kept as is, so that a header rewrite preserves it. */
            ext->type = type;
            ext->length = len;
            ext->data = g_memdup2 (data, len);
            g_ptr_array_add (s->unknown_extensions, ext);
          }
          break;
        }

      off += 8 + (((guint64) len + 7) & ~7ull);
    }

  return TRUE;
}

static void
extension_free (gpointer data)
{
  Qcow2Extension *ext = data;

  g_free (ext->data);
  g_free (ext);
}

static gboolean
check_incompatible (Qcow2State  *s,
                    GError     **error)
{
  guint64 unknown = s->incompatible_features & ~QCOW2_INCOMPAT_KNOWN;
  g_autoptr(GString) names = NULL;

  if (unknown == 0)
    return TRUE;

  names = g_string_new (NULL);
  for (guint bit = 0; bit < 64; bit++)
    {
      const char *name;

      if (!(unknown & (1ull << bit)))
        continue;
      if (names->len > 0)
        g_string_append (names, ", ");
      name = feature_name (s, 0, bit);
      if (name != NULL)
        g_string_append (names, name);
      else
        g_string_append_printf (names, "unknown incompatible feature %u", bit);
    }

  g_set_error (error, STRATA_ERROR, STRATA_ERROR_UNSUPPORTED,
               "%s: unsupported qcow2 feature(s): %s", s->filename, names->str);
  return FALSE;
}

static gboolean
qcow2_open (StrataImage  *self,
            GError      **error)
{
  Qcow2State *s;
  guint8 hdr[QCOW2_V3_HEADER_MIN_LENGTH + 8] = { 0 };
  g_autofree guint8 *cluster0 = NULL;
  g_autofree char *backing_format = NULL;
  guint64 size, ext_end, l1_needed, per_l1;

  /* close() frees whatever is set up here, also when open fails. */
  s = g_new0 (Qcow2State, 1);
  self->priv = s;
  s->image = self;
  s->file = self->file;
  s->filename = self->filename;
  s->writable = (self->flags & STRATA_OPEN_WRITE) != 0;
  s->unknown_extensions = g_ptr_array_new_with_free_func (extension_free);

  if (!strata_file_get_size (s->file, &s->file_size, error))
    return FALSE;
  if (s->file_size < QCOW2_V2_HEADER_LENGTH)
    return qcow2_corrupt (s, error, "the file is too short to be a qcow2 image");
  if (!strata_file_pread_zerofill (s->file, hdr, sizeof hdr, 0, error))
    return FALSE;

  if (qcow2_ldl (hdr) != QCOW2_MAGIC)
    return qcow2_corrupt (s, error, "not a qcow2 image (bad magic)");

  s->version = qcow2_ldl (hdr + 4);
  if (s->version != 2 && s->version != 3)
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_UNSUPPORTED,
                   "%s: unsupported qcow2 version %u", s->filename, s->version);
      return FALSE;
    }

  s->backing_file_offset = qcow2_ldq (hdr + 8);
  s->backing_file_size = qcow2_ldl (hdr + 16);
  s->cluster_bits = qcow2_ldl (hdr + 20);
  size = qcow2_ldq (hdr + 24);
  s->crypt_method = qcow2_ldl (hdr + 32);
  s->l1_size = qcow2_ldl (hdr + 36);
  s->l1_table_offset = qcow2_ldq (hdr + 40);
  s->refcount_table_offset = qcow2_ldq (hdr + 48);
  s->refcount_table_clusters = qcow2_ldl (hdr + 56);
  s->nb_snapshots = qcow2_ldl (hdr + 60);
  s->snapshots_offset = qcow2_ldq (hdr + 64);

  if (s->cluster_bits < 9 || s->cluster_bits > 21)
    return qcow2_corrupt (s, error, "unsupported cluster size 2^%u (must be 2^9 to 2^21)",
                          s->cluster_bits);
  s->cluster_size = 1ull << s->cluster_bits;

  if (s->version == 2)
    {
      s->refcount_order = 4;
      s->header_length = QCOW2_V2_HEADER_LENGTH;
    }
  else
    {
      s->incompatible_features = qcow2_ldq (hdr + 72);
      s->compatible_features = qcow2_ldq (hdr + 80);
      s->autoclear_features = qcow2_ldq (hdr + 88);
      s->refcount_order = qcow2_ldl (hdr + 96);
      s->header_length = qcow2_ldl (hdr + 100);

      if (s->header_length < QCOW2_V3_HEADER_MIN_LENGTH)
        return qcow2_corrupt (s, error, "the qcow2 header is too short (%u bytes)",
                              s->header_length);
      if (s->header_length % 8 != 0)
        return qcow2_corrupt (s, error, "the qcow2 header length %u is not a multiple of 8",
                              s->header_length);
      if (s->header_length > s->cluster_size)
        return qcow2_corrupt (s, error, "the qcow2 header is longer than a cluster");
      if (s->refcount_order > 6)
        return qcow2_corrupt (s, error, "unsupported refcount width 2^%u bits",
                              s->refcount_order);
    }

  /* The whole header cluster (at most 2 MiB), zero-filled past the end of a short file. */
  cluster0 = g_malloc (s->cluster_size);
  if (!strata_file_pread_zerofill (s->file, cluster0, s->cluster_size, 0, error))
    return FALSE;

  if (s->version == 3 && s->header_length > 104)
    {
      guint8 type = cluster0[104];

      if (type > 1)
        {
          g_set_error (error, STRATA_ERROR, STRATA_ERROR_UNSUPPORTED,
                       "%s: unknown compression type %u", s->filename, type);
          return FALSE;
        }
      s->compression = type;
    }
  if ((s->compression != STRATA_COMPRESSION_ZLIB) !=
      ((s->incompatible_features & QCOW2_INCOMPAT_COMPRESSION) != 0))
    return qcow2_corrupt (s, error, "the compression type and the compression type feature "
                          "bit disagree");

  /* Backing name. */
  if (s->backing_file_offset != 0)
    {
      if (s->backing_file_size > QCOW2_MAX_BACKING_NAME)
        return qcow2_corrupt (s, error, "the backing file name is too long (%u bytes)",
                              s->backing_file_size);
      if (s->backing_file_offset > s->cluster_size ||
          s->backing_file_size > s->cluster_size - s->backing_file_offset)
        return qcow2_corrupt (s, error, "the backing file name at 0x%" G_GINT64_MODIFIER
                              "x lies outside the header cluster", s->backing_file_offset);
      if (s->backing_file_offset + s->backing_file_size > s->file_size)
        return qcow2_corrupt (s, error, "the backing file name points past the end of the "
                              "file");
      if (s->backing_file_size > 0)
        self->backing_name = g_strndup ((const char *) cluster0 + s->backing_file_offset,
                                        s->backing_file_size);
      ext_end = s->backing_file_offset > s->header_length ? s->backing_file_offset
                                                            : s->cluster_size;
    }
  else
    ext_end = s->cluster_size;

  if (!parse_extensions (s, cluster0, s->header_length, ext_end, &backing_format, error))
    return FALSE;

  if (!check_incompatible (s, error))
    return FALSE;

  if (s->crypt_method > 2)
    return qcow2_corrupt (s, error, "unknown encryption method %u", s->crypt_method);

  s->extended_l2 = (s->incompatible_features & QCOW2_INCOMPAT_EXTL2) != 0;
  if (s->extended_l2 && s->cluster_bits < 14)
    return qcow2_corrupt (s, error, "extended L2 entries need clusters of at least 16 KiB");
  s->l2_entry_bytes = s->extended_l2 ? 16 : 8;
  s->l2_bits = s->cluster_bits - (s->extended_l2 ? 4 : 3);
  s->l2_entries = 1ull << s->l2_bits;
  s->subcluster_size = s->extended_l2 ? s->cluster_size / 32 : s->cluster_size;
  s->refcount_bits = 1u << s->refcount_order;
  s->rb_bits = s->cluster_bits + 3 - s->refcount_order;
  s->csize_shift = 62 - (s->cluster_bits - 8);
  s->csize_mask = (1ull << (s->cluster_bits - 8)) - 1;
  s->coffset_mask = (1ull << s->csize_shift) - 1;

  /* Read-only opens still work for info; reading the guest data is refused later. */
  if ((s->incompatible_features & QCOW2_INCOMPAT_DATA_FILE) && s->writable)
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_UNSUPPORTED,
                   "%s: images with an external data file (%s) are not supported",
                   s->filename, s->data_file != NULL ? s->data_file : "unnamed");
      return FALSE;
    }

  /* Refcount table: bounded by QEMU's limit and by the file before anything is allocated. */
  if ((guint64) s->refcount_table_clusters * s->cluster_size > QCOW2_MAX_REFTABLE_BYTES)
    return qcow2_corrupt (s, error, "the refcount table is too large (%u clusters)",
                          s->refcount_table_clusters);
  if (s->refcount_table_clusters == 0)
    return qcow2_corrupt (s, error, "the image has no refcount table");
  if (!qcow2_check_host_range (s, s->refcount_table_offset,
                               (guint64) s->refcount_table_clusters * s->cluster_size,
                               s->cluster_size, "the refcount table", error))
    return FALSE;

  /* L1 table. */
  if ((guint64) s->l1_size * 8 > QCOW2_MAX_L1_BYTES)
    return qcow2_corrupt (s, error, "the L1 table is too large (%u entries)", s->l1_size);
  per_l1 = s->cluster_size << s->l2_bits;
  l1_needed = size / per_l1 + (size % per_l1 != 0);
  if (l1_needed > QCOW2_MAX_L1_BYTES / 8)
    return qcow2_corrupt (s, error, "the virtual size %" G_GUINT64_FORMAT " is too large",
                          size);
  if (s->l1_size < l1_needed)
    return qcow2_corrupt (s, error, "the L1 table is too small for the virtual size");
  if (s->l1_size > 0 &&
      !qcow2_check_host_range (s, s->l1_table_offset, (guint64) s->l1_size * 8,
                               s->cluster_size, "the L1 table", error))
    return FALSE;

  if (s->nb_snapshots > QCOW2_MAX_SNAPSHOTS)
    return qcow2_corrupt (s, error, "too many internal snapshots (%u)", s->nb_snapshots);
  if (s->nb_snapshots > 0 &&
      !qcow2_check_host_range (s, s->snapshots_offset, 1, s->cluster_size,
                               "the snapshot table", error))
    return FALSE;

  self->virtual_size = size;
  if (!qcow2_read_snapshots (s, error))
    return FALSE;
  self->backing_format = g_steal_pointer (&backing_format);

  s->refcount_table_size = (guint64) s->refcount_table_clusters * s->cluster_size / 8;
  s->refcount_table = g_new (guint64, s->refcount_table_size);
  if (!strata_file_pread (s->file, s->refcount_table, s->refcount_table_size * 8,
                          s->refcount_table_offset, error))
    return FALSE;
  for (guint64 i = 0; i < s->refcount_table_size; i++)
    s->refcount_table[i] = GUINT64_FROM_BE (s->refcount_table[i]);

  s->l1_table = g_new0 (guint64, MAX (s->l1_size, 1));
  if (s->l1_size > 0)
    {
      if (!strata_file_pread (s->file, s->l1_table, (gsize) s->l1_size * 8,
                              s->l1_table_offset, error))
        return FALSE;
      for (guint32 i = 0; i < s->l1_size; i++)
        s->l1_table[i] = GUINT64_FROM_BE (s->l1_table[i]);
    }

  /* Caches bounded in bytes (a few MiB), whatever the cluster size. */
  qcow2_cache_init (&s->l2_cache, CLAMP ((8u << 20) >> s->cluster_bits, 4, 1024));
  qcow2_cache_init (&s->refblock_cache, CLAMP ((4u << 20) >> s->cluster_bits, 4, 256));
  s->cached_cluster = g_malloc (s->cluster_size);
  s->compressed_buf = g_malloc (2 * s->cluster_size);

  s->host_end = (s->file_size + s->cluster_size - 1) & ~(s->cluster_size - 1);

  if (s->crypt_method != 0 && !s->writable)
    return TRUE; /* reported by info; reading fails with a clear error */

  if (s->writable && !qcow2_open_for_writing (s, error))
    return FALSE;

  return TRUE;
}

static void
qcow2_close (StrataImage *self)
{
  Qcow2State *s = self->priv;

  if (s == NULL)
    return;

  /* Dropped without strata_image_close(): still leave a consistent image behind. */
  if (s->writable && s->dirty_l1 != NULL)
    {
      g_autoptr(GError) ignored = NULL;

      if (!qcow2_flush (self, &ignored))
        g_debug ("%s: write back on close failed: %s", s->filename, ignored->message);
    }

  for (guint t = 0; t < 3; t++)
    for (guint b = 0; b < 64; b++)
      g_free (s->feature_names[t][b]);
  g_clear_pointer (&s->unknown_extensions, g_ptr_array_unref);
  qcow2_free_snapshots (s);
  g_free (s->data_file);
  g_free (s->l1_table);
  g_free (s->refcount_table);
  qcow2_cache_clear (&s->l2_cache);
  qcow2_cache_clear (&s->refblock_cache);
  g_free (s->cached_cluster);
  g_free (s->compressed_buf);
  if (s->zstd_dctx != NULL)
    ZSTD_freeDCtx (s->zstd_dctx);
  if (s->deflate_dec != NULL)
    libdeflate_free_decompressor (s->deflate_dec);
  g_clear_pointer (&s->dirty_l1, g_array_unref);
  g_clear_pointer (&s->dirty_reftable, g_array_unref);
  g_clear_pointer (&s->pending_free, g_array_unref);
  g_clear_pointer (&s->free_clusters, g_array_unref);
  g_free (s);
  self->priv = NULL;
}

/* The persistent bitmaps as qemu-img lists them; NULL when unreadable. */
static GVariant *
bitmaps_variant (Qcow2State *s)
{
  g_autofree guint8 *dir = NULL;
  GVariantBuilder list;
  guint64 off = 0;

  if (!s->has_bitmaps_ext || !(s->autoclear_features & QCOW2_AUTOCLEAR_BITMAPS) ||
      s->bitmap_dir_size == 0 || s->bitmap_dir_size > (16u << 20) ||
      !qcow2_check_host_range (s, s->bitmap_dir_offset, s->bitmap_dir_size, s->cluster_size,
                               "the bitmap directory", NULL))
    return NULL;

  dir = g_malloc (s->bitmap_dir_size);
  if (!strata_file_pread (s->file, dir, s->bitmap_dir_size, s->bitmap_dir_offset, NULL))
    return NULL;

  g_variant_builder_init (&list, G_VARIANT_TYPE ("aa{sv}"));
  for (guint32 i = 0; i < s->nb_bitmaps; i++)
    {
      GVariantBuilder entry, flags;
      guint32 bflags, extra;
      guint16 name_size;
      guint8 gbits;

      if (off + 24 > s->bitmap_dir_size)
        break;
      bflags = qcow2_ldl (dir + off + 12);
      gbits = dir[off + 17];
      name_size = (dir[off + 18] << 8) | dir[off + 19];
      extra = qcow2_ldl (dir + off + 20);
      if (extra > s->bitmap_dir_size || off + 24 + extra + name_size > s->bitmap_dir_size ||
          gbits > 63)
        break;

      g_variant_builder_init (&flags, G_VARIANT_TYPE_STRING_ARRAY);
      if (bflags & 1)
        g_variant_builder_add (&flags, "s", "in-use");
      if (bflags & 2)
        g_variant_builder_add (&flags, "s", "auto");

      g_variant_builder_init (&entry, G_VARIANT_TYPE_VARDICT);
      g_variant_builder_add (&entry, "{sv}", "flags", g_variant_builder_end (&flags));
      g_variant_builder_add (&entry, "{sv}", "name",
                             g_variant_new_take_string (
                               g_strndup ((const char *) dir + off + 24 + extra, name_size)));
      g_variant_builder_add (&entry, "{sv}", "granularity",
                             g_variant_new_int64 ((gint64) 1 << gbits));
      g_variant_builder_add_value (&list, g_variant_builder_end (&entry));

      off += (24 + extra + name_size + 7) & ~7ull;
    }
  return g_variant_builder_end (&list);
}

/* LUKS (version 1) header layout, big-endian, as docs/interop/qcow2.rst refers to it. */
#define LUKS_HEADER_SIZE      592
#define LUKS_SLOTS            8
#define LUKS_SLOT_ENABLED     0x00AC71F3u
#define LUKS_SECTOR           512

/* qemu's name for the cipher of a LUKS header ("aes" and a key of 32 bytes: "aes-256"). */
static char *
luks_cipher_alg (const char *name,
                 guint32     key_bytes)
{
  static const struct { const char *name; guint bits[3]; } ciphers[] = {
    { "aes", { 128, 192, 256 } },
    { "serpent", { 128, 192, 256 } },
    { "twofish", { 128, 192, 256 } },
    { "cast5", { 128, 0, 0 } },
    { "sm4", { 128, 0, 0 } },
  };

  for (guint i = 0; i < G_N_ELEMENTS (ciphers); i++)
    {
      if (strcmp (name, ciphers[i].name) != 0)
        continue;
      for (guint j = 0; j < 3; j++)
        if (ciphers[i].bits[j] != 0 && ciphers[i].bits[j] == key_bytes * 8)
          return g_strdup_printf ("%s-%u", name, ciphers[i].bits[j]);
    }
  return NULL;
}

static gboolean
luks_name_known (const char         *name,
                 const char * const *names)
{
  return g_strv_contains (names, name);
}

/* A fixed-size, NUL-padded text field of the header. */
static char *
luks_field (const guint8 *hdr,
            gsize         offset,
            gsize         size)
{
  return g_strndup ((const char *) hdr + offset, size);
}

/*
 * The "encrypt" member of format-specific data: what qemu-img shows of the encryption
 * header without the key. NULL when the header cannot be read or names something QEMU would
 * not accept (qemu-img info then fails on its own).
 */
static GVariant *
encrypt_variant (Qcow2State *s)
{
  static const char * const modes[] = { "ecb", "cbc", "xts", "ctr", NULL };
  static const char * const ivgens[] = { "plain", "plain64", "essiv", NULL };
  static const char * const hashes[] = { "md5", "sha1", "sha224", "sha256", "sha384",
                                         "sha512", "ripemd160", NULL };
  guint8 hdr[LUKS_HEADER_SIZE];
  g_autofree char *cipher = NULL, *mode_spec = NULL, *hash = NULL, *uuid = NULL;
  g_autofree char *alg = NULL;
  g_auto(GStrv) mode_parts = NULL, ivgen_parts = NULL;
  guint32 key_bytes;
  GVariantBuilder b, slots;

  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  if (s->crypt_method == 1)
    {
      g_variant_builder_add (&b, "{sv}", "format", g_variant_new_string ("aes"));
      return g_variant_builder_end (&b);
    }

  if (s->crypto_header_length < LUKS_HEADER_SIZE ||
      !qcow2_check_host_range (s, s->crypto_header_offset, LUKS_HEADER_SIZE, 1,
                               "the encryption header", NULL) ||
      !strata_file_pread (s->file, hdr, sizeof hdr, s->crypto_header_offset, NULL) ||
      memcmp (hdr, "LUKS\xba\xbe", 6) != 0 || ((hdr[6] << 8) | hdr[7]) != 1)
    goto fail;

  cipher = luks_field (hdr, 8, 32);
  mode_spec = luks_field (hdr, 40, 32);
  hash = luks_field (hdr, 72, 32);
  key_bytes = qcow2_ldl (hdr + 108);
  uuid = luks_field (hdr, 168, 40);

  /* "xts-plain64" or "cbc-essiv:sha256": the mode, then how the IVs are made. */
  mode_parts = g_strsplit (mode_spec, "-", 2);
  if (g_strv_length (mode_parts) != 2 || !luks_name_known (mode_parts[0], modes) ||
      !luks_name_known (hash, hashes))
    goto fail;
  ivgen_parts = g_strsplit (mode_parts[1], ":", 2);
  if (!luks_name_known (ivgen_parts[0], ivgens) ||
      (strcmp (ivgen_parts[0], "essiv") == 0) != (ivgen_parts[1] != NULL) ||
      (ivgen_parts[1] != NULL && !luks_name_known (ivgen_parts[1], hashes)))
    goto fail;
  /* XTS splits the key in two halves: the cipher gets one. */
  alg = luks_cipher_alg (cipher, strcmp (mode_parts[0], "xts") == 0 ? key_bytes / 2
                                                                     : key_bytes);
  if (alg == NULL)
    goto fail;

  /* Members in QEMU's declaration order: the output orders them as qemu-img does. */
  g_variant_builder_add (&b, "{sv}", "format", g_variant_new_string ("luks"));
  g_variant_builder_add (&b, "{sv}", "cipher-alg", g_variant_new_string (alg));
  g_variant_builder_add (&b, "{sv}", "cipher-mode", g_variant_new_string (mode_parts[0]));
  g_variant_builder_add (&b, "{sv}", "ivgen-alg", g_variant_new_string (ivgen_parts[0]));
  if (ivgen_parts[1] != NULL)
    g_variant_builder_add (&b, "{sv}", "ivgen-hash-alg",
                           g_variant_new_string (ivgen_parts[1]));
  g_variant_builder_add (&b, "{sv}", "hash-alg", g_variant_new_string (hash));
  g_variant_builder_add (&b, "{sv}", "payload-offset",
                         g_variant_new_int64 ((gint64) qcow2_ldl (hdr + 104) * LUKS_SECTOR));
  g_variant_builder_add (&b, "{sv}", "master-key-iters",
                         g_variant_new_int64 (qcow2_ldl (hdr + 164)));
  g_variant_builder_add (&b, "{sv}", "uuid", g_variant_new_string (uuid));

  g_variant_builder_init (&slots, G_VARIANT_TYPE ("aa{sv}"));
  for (guint i = 0; i < LUKS_SLOTS; i++)
    {
      const guint8 *slot = hdr + 208 + 48 * i;
      gboolean active = qcow2_ldl (slot) == LUKS_SLOT_ENABLED;
      GVariantBuilder sb;

      g_variant_builder_init (&sb, G_VARIANT_TYPE_VARDICT);
      g_variant_builder_add (&sb, "{sv}", "active", g_variant_new_boolean (active));
      if (active)
        {
          g_variant_builder_add (&sb, "{sv}", "iters",
                                 g_variant_new_int64 (qcow2_ldl (slot + 4)));
          g_variant_builder_add (&sb, "{sv}", "stripes",
                                 g_variant_new_int64 (qcow2_ldl (slot + 44)));
        }
      g_variant_builder_add (&sb, "{sv}", "key-offset",
                             g_variant_new_int64 ((gint64) qcow2_ldl (slot + 40) *
                                                  LUKS_SECTOR));
      g_variant_builder_add (&slots, "a{sv}", &sb);
    }
  g_variant_builder_add (&b, "{sv}", "slots", g_variant_builder_end (&slots));
  return g_variant_builder_end (&b);

fail:
  g_variant_builder_clear (&b);
  return NULL;
}

static void
qcow2_fill_info (StrataImage     *self,
                 StrataImageInfo *info)
{
  Qcow2State *s = self->priv;
  g_autoptr(GPtrArray) warnings = g_ptr_array_new ();
  GVariant *bitmaps, *encrypt;
  GVariantBuilder b;

  info->cluster_size = s->cluster_size;
  info->has_dirty_flag = TRUE;
  info->dirty_flag = (s->incompatible_features & QCOW2_INCOMPAT_DIRTY) != 0;
  info->encrypted = s->crypt_method != 0;

  /* Keys and types as qemu-img 7.2 reports them in format-specific.data. */
  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", "compat",
                         g_variant_new_string (s->version == 2 ? "0.10" : "1.1"));
  g_variant_builder_add (&b, "{sv}", "compression-type",
                         g_variant_new_string (s->compression == STRATA_COMPRESSION_ZSTD
                                               ? "zstd" : "zlib"));
  if (s->version >= 3)
    g_variant_builder_add (&b, "{sv}", "lazy-refcounts",
                           g_variant_new_boolean (s->compatible_features &
                                                  QCOW2_COMPAT_LAZY_REFCOUNTS));
  bitmaps = bitmaps_variant (s);
  if (bitmaps != NULL)
    g_variant_builder_add (&b, "{sv}", "bitmaps", bitmaps);
  g_variant_builder_add (&b, "{sv}", "refcount-bits",
                         g_variant_new_int64 (s->refcount_bits));
  if (s->crypt_method != 0 && (encrypt = encrypt_variant (s)) != NULL)
    g_variant_builder_add (&b, "{sv}", "encrypt", encrypt);
  if (s->version >= 3)
    {
      g_variant_builder_add (&b, "{sv}", "corrupt",
                             g_variant_new_boolean (s->incompatible_features &
                                                    QCOW2_INCOMPAT_CORRUPT));
      g_variant_builder_add (&b, "{sv}", "extended-l2",
                             g_variant_new_boolean (s->extended_l2));
    }
  if (s->data_file != NULL)
    {
      g_variant_builder_add (&b, "{sv}", "data-file", g_variant_new_string (s->data_file));
      g_variant_builder_add (&b, "{sv}", "data-file-raw",
                             g_variant_new_boolean (s->autoclear_features &
                                                    QCOW2_AUTOCLEAR_DATA_RAW));
    }
  info->format_specific = g_variant_ref_sink (g_variant_builder_end (&b));

  if (s->crypt_method != 0)
    g_ptr_array_add (warnings, g_strdup_printf ("encrypted (%s): cannot be read",
                                                s->crypt_method == 1 ? "AES" : "LUKS"));
  if (s->nb_snapshots > 0)
    info->snapshots = strata_qcow2_snapshot_list (self);
  if (s->has_bitmaps_ext)
    g_ptr_array_add (warnings, g_strdup_printf ("%u persistent dirty bitmap(s)",
                                                s->nb_bitmaps));
  if (s->data_file != NULL)
    g_ptr_array_add (warnings, g_strdup_printf ("external data file %s", s->data_file));
  if (s->incompatible_features & QCOW2_INCOMPAT_CORRUPT)
    g_ptr_array_add (warnings, g_strdup ("marked corrupt: repair with qemu-img check -r"));

  if (warnings->len > 0)
    {
      g_ptr_array_add (warnings, NULL);
      info->warnings = (char **) g_ptr_array_free (g_steal_pointer (&warnings), FALSE);
    }
}

static guint64
qcow2_get_cluster_size (StrataImage *self)
{
  return QCOW2_STATE (self)->cluster_size;
}

static StrataCompression
qcow2_get_compression (StrataImage *self)
{
  return QCOW2_STATE (self)->compression;
}

static void
append_extension (GByteArray   *buf,
                  guint32       type,
                  const void   *data,
                  guint32       len)
{
  guint8 head[8];
  static const guint8 pad[8] = { 0 };

  qcow2_stl (head, type);
  qcow2_stl (head + 4, len);
  g_byte_array_append (buf, head, 8);
  if (len > 0)
    g_byte_array_append (buf, data, len);
  g_byte_array_append (buf, pad, ((len + 7) & ~7u) - len);
}

static gboolean
has_extension (Qcow2State *s,
               guint32     type)
{
  for (guint i = 0; s->unknown_extensions != NULL && i < s->unknown_extensions->len; i++)
    if (((Qcow2Extension *) g_ptr_array_index (s->unknown_extensions, i))->type == type)
      return TRUE;
  return FALSE;
}

static GByteArray *
build_header (Qcow2State  *s,
              guint64      virtual_size,
              const char  *backing_name,
              const char  *backing_format,
              gboolean     feature_table,
              GError     **error)
{
  g_autoptr(GByteArray) buf = g_byte_array_new ();
  guint32 header_length = s->version == 2 ? QCOW2_V2_HEADER_LENGTH : 112;
  guint8 h[112] = { 0 };
  gsize name_len = backing_name != NULL ? strlen (backing_name) : 0;

  if (name_len > QCOW2_MAX_BACKING_NAME)
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_INVALID_ARGUMENT,
                   "%s: the backing file name is too long (%" G_GSIZE_FORMAT " bytes, at "
                   "most %d)", s->filename, name_len, QCOW2_MAX_BACKING_NAME);
      return NULL;
    }

  qcow2_stl (h, QCOW2_MAGIC);
  qcow2_stl (h + 4, s->version);
  qcow2_stl (h + 20, s->cluster_bits);
  qcow2_stq (h + 24, virtual_size);
  qcow2_stl (h + 32, s->crypt_method);
  qcow2_stl (h + 36, s->l1_size);
  qcow2_stq (h + 40, s->l1_table_offset);
  qcow2_stq (h + 48, s->refcount_table_offset);
  qcow2_stl (h + 56, s->refcount_table_clusters);
  qcow2_stl (h + 60, s->nb_snapshots);
  qcow2_stq (h + 64, s->snapshots_offset);
  if (s->version >= 3)
    {
      qcow2_stq (h + 72, s->incompatible_features);
      qcow2_stq (h + 80, s->compatible_features);
      qcow2_stq (h + 88, s->autoclear_features);
      qcow2_stl (h + 96, s->refcount_order);
      qcow2_stl (h + 100, header_length);
      h[104] = s->compression;
    }
  g_byte_array_append (buf, h, header_length);

  /* Extensions keep the order they had in the file; a new backing format goes first and
   * a new feature name table last, where QEMU puts them. */
  if (backing_name != NULL && backing_format != NULL &&
      !has_extension (s, QCOW2_EXT_BACKING_FORMAT))
    append_extension (buf, QCOW2_EXT_BACKING_FORMAT, backing_format, strlen (backing_format));

  for (guint i = 0; s->unknown_extensions != NULL && i < s->unknown_extensions->len; i++)
    {
      Qcow2Extension *ext = g_ptr_array_index (s->unknown_extensions, i);

      if (ext->type == QCOW2_EXT_BITMAPS && !(s->autoclear_features & QCOW2_AUTOCLEAR_BITMAPS))
        continue; /* invalidated bitmaps are dropped, as QEMU does */
      if (ext->type == QCOW2_EXT_BACKING_FORMAT)
        {
          if (backing_name != NULL && backing_format != NULL)
            append_extension (buf, ext->type, backing_format, strlen (backing_format));
          continue;
        }
      if (ext->type == QCOW2_EXT_FEATURE_TABLE && (!feature_table || s->version < 3))
        continue;
      append_extension (buf, ext->type, ext->data, ext->length);
    }

  if (s->version >= 3 && feature_table && !has_extension (s, QCOW2_EXT_FEATURE_TABLE))
    {
      guint8 table[8 * 48] = { 0 };
      guint n = 0;

      for (guint t = 0; t < 3; t++)
        for (guint bit = 0; bit < G_N_ELEMENTS (default_feature_names[t]); bit++)
          if (default_feature_names[t][bit] != NULL)
            {
              table[n * 48] = t;
              table[n * 48 + 1] = bit;
              memcpy (table + n * 48 + 2, default_feature_names[t][bit],
                      strlen (default_feature_names[t][bit]));
              n++;
            }
      append_extension (buf, QCOW2_EXT_FEATURE_TABLE, table, n * 48);
    }

  append_extension (buf, QCOW2_EXT_END, NULL, 0);

  if (name_len > 0)
    {
      qcow2_stq (buf->data + 8, buf->len);
      qcow2_stl (buf->data + 16, name_len);
      g_byte_array_append (buf, (const guint8 *) backing_name, name_len);
    }

  if (buf->len > s->cluster_size)
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_INVALID_ARGUMENT,
                   "%s: the header, its extensions and the backing file name do not fit "
                   "in the first cluster (%u > %" G_GUINT64_FORMAT " bytes)", s->filename,
                   buf->len, s->cluster_size);
      return NULL;
    }

  return g_steal_pointer (&buf);
}

GByteArray *
qcow2_build_header (Qcow2State  *s,
                    guint64      virtual_size,
                    const char  *backing_name,
                    const char  *backing_format,
                    GError     **error)
{
  GByteArray *buf;

  /* The feature name table is optional: like QEMU, leave it out when space is short. */
  buf = build_header (s, virtual_size, backing_name, backing_format, TRUE, NULL);
  if (buf == NULL)
    buf = build_header (s, virtual_size, backing_name, backing_format, FALSE, error);
  return buf;
}

static gboolean
qcow2_set_backing (StrataImage  *self,
                   const char   *name,
                   const char   *format,
                   GError      **error)
{
  Qcow2State *s = self->priv;

  if (name == NULL)
    format = NULL;

  if (!qcow2_write_header (s, name, format, error))
    return FALSE;

  g_free (self->backing_name);
  self->backing_name = g_strdup (name);
  g_free (self->backing_format);
  self->backing_format = g_strdup (format);
  return TRUE;
}

const StrataDriver strata_qcow2_driver = {
  .name = "qcow2",
  .probe = qcow2_probe,
  .open = qcow2_open,
  .close = qcow2_close,
  .block_status = qcow2_block_status,
  .read = qcow2_read,
  .fill_info = qcow2_fill_info,
  .write = qcow2_write,
  .write_zeroes = qcow2_write_zeroes,
  .write_zeroes_masking = qcow2_write_zeroes_masking,
  .discard = qcow2_discard,
  .write_compressed = qcow2_write_compressed,
  .flush = qcow2_flush,
  .truncate = qcow2_truncate,
  .set_backing = qcow2_set_backing,
  .close_clean = qcow2_close_clean,
  .get_cluster_size = qcow2_get_cluster_size,
  .get_compression = qcow2_get_compression,
};
