/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "strata-qcow2-private.h"

#include <libdeflate.h>
#include <zstd.h>

/*
 * qcow2 cluster lookup: the table cache, L1/L2 walks, classification of L2 entries (every
 * offset checked against the file before use), block status and reading, including
 * compressed clusters and subclusters.
 */

void
qcow2_cache_init (Qcow2Cache *cache,
                  guint       n_entries)
{
  cache->entries = g_new0 (Qcow2CacheEntry, n_entries);
  cache->n_entries = n_entries;
  cache->lru_clock = 0;
  cache->index = g_hash_table_new (g_int64_hash, g_int64_equal);
}

void
qcow2_cache_clear (Qcow2Cache *cache)
{
  for (guint i = 0; cache->entries != NULL && i < cache->n_entries; i++)
    g_free (cache->entries[i].data);
  g_clear_pointer (&cache->entries, g_free);
  g_clear_pointer (&cache->index, g_hash_table_unref);
  cache->n_entries = 0;
}

static Qcow2CacheEntry *
cache_pick_victim (Qcow2Cache *cache,
                   gboolean    allow_dirty)
{
  Qcow2CacheEntry *victim = NULL;

  for (guint i = 0; i < cache->n_entries; i++)
    {
      Qcow2CacheEntry *e = &cache->entries[i];

      if (e->offset == 0)
        return e;
      if (e->dirty && !allow_dirty)
        continue;
      if (victim == NULL || e->lru < victim->lru)
        victim = e;
    }
  return victim;
}

guint8 *
qcow2_cache_get (Qcow2State  *s,
                 Qcow2Cache  *cache,
                 guint64      offset,
                 gboolean     fresh,
                 GError     **error)
{
  Qcow2CacheEntry *e = g_hash_table_lookup (cache->index, &offset);

  if (e != NULL)
    {
      e->lru = ++cache->lru_clock;
      if (fresh)
        memset (e->data, 0, s->cluster_size);
      return e->data;
    }

  e = cache_pick_victim (cache, FALSE);
  if (e == NULL)
    {
      /* Every table is dirty: write them all back (in order), then evict the oldest. */
      if (cache == &s->refblock_cache)
        {
          if (!qcow2_writeback_refcounts (s, error))
            return NULL;
        }
      else if (!qcow2_writeback (s, error))
        return NULL;
      e = cache_pick_victim (cache, FALSE);
      g_assert (e != NULL);
    }

  if (e->offset != 0)
    g_hash_table_remove (cache->index, &e->offset);
  e->offset = 0;
  e->dirty = FALSE;
  if (e->data == NULL)
    e->data = g_malloc (s->cluster_size);

  if (fresh)
    memset (e->data, 0, s->cluster_size);
  else if (!strata_file_pread_zerofill (s->file, e->data, s->cluster_size, offset, error))
    return NULL;

  e->offset = offset;
  e->lru = ++cache->lru_clock;
  g_hash_table_insert (cache->index, &e->offset, e);
  return e->data;
}

void
qcow2_cache_mark_dirty (Qcow2Cache *cache,
                        guint64     offset)
{
  Qcow2CacheEntry *e = g_hash_table_lookup (cache->index, &offset);

  g_assert (e != NULL);
  e->dirty = TRUE;
}

void
qcow2_cache_drop (Qcow2Cache *cache,
                  guint64     offset)
{
  Qcow2CacheEntry *e = g_hash_table_lookup (cache->index, &offset);

  if (e == NULL)
    return;
  g_hash_table_remove (cache->index, &e->offset);
  e->offset = 0;
  e->dirty = FALSE;
}

/* Returns the L2 table covering @guest_offset (NULL with no error when unallocated). */
static guint8 *
get_l2_table (Qcow2State  *s,
              guint64      guest_offset,
              GError     **error)
{
  guint64 l1_index = guest_offset >> (s->cluster_bits + s->l2_bits);
  guint64 l1e, l2_offset;

  if (l1_index >= s->l1_size)
    return NULL;

  l1e = s->l1_table[l1_index];
  if (l1e & QCOW2_L1_RESERVED_MASK)
    {
      qcow2_corrupt (s, error, "L1 entry %" G_GUINT64_FORMAT " (0x%" G_GINT64_MODIFIER "x) has "
                     "reserved bits set", l1_index, l1e);
      return NULL;
    }
  l2_offset = l1e & QCOW2_OFFSET_MASK;
  if (l2_offset == 0)
    return NULL;
  if (!qcow2_check_host_range (s, l2_offset, s->cluster_size, s->cluster_size,
                               "L2 table", error))
    return NULL;

  return qcow2_cache_get (s, &s->l2_cache, l2_offset, FALSE, error);
}

gboolean
qcow2_get_l2_entry (Qcow2State  *s,
                    guint64      guest_offset,
                    guint64     *entry,
                    guint64     *bitmap,
                    GError     **error)
{
  GError *local_error = NULL;
  guint8 *l2 = get_l2_table (s, guest_offset, &local_error);
  guint64 idx;

  *entry = 0;
  *bitmap = 0;
  if (l2 == NULL)
    {
      if (local_error != NULL)
        {
          g_propagate_error (error, local_error);
          return FALSE;
        }
      return TRUE;
    }

  idx = (guest_offset >> s->cluster_bits) & (s->l2_entries - 1);
  *entry = qcow2_ldq (l2 + idx * s->l2_entry_bytes);
  if (s->extended_l2)
    *bitmap = qcow2_ldq (l2 + idx * s->l2_entry_bytes + 8);
  return TRUE;
}

void
qcow2_compressed_range (Qcow2State *s,
                        guint64     entry,
                        guint64    *host_offset,
                        guint64    *length)
{
  guint64 coffset = entry & s->coffset_mask;
  guint64 sectors = ((entry >> s->csize_shift) & s->csize_mask) + 1;

  *host_offset = coffset;
  *length = sectors * 512 - (coffset & 511);
}

gboolean
qcow2_classify (Qcow2State        *s,
                guint64            guest_offset,
                guint64            entry,
                guint64            bitmap,
                guint              sub,
                Qcow2ClusterKind  *kind,
                GError           **error)
{
  guint64 host;

  if (entry & QCOW2_OFLAG_COMPRESSED)
    {
      guint64 coffset, clen;

      qcow2_compressed_range (s, entry, &coffset, &clen);
      if (coffset < s->cluster_size || coffset >= s->file_size)
        return qcow2_corrupt (s, error, "compressed cluster for guest offset 0x%"
                              G_GINT64_MODIFIER "x at 0x%" G_GINT64_MODIFIER "x points "
                              "outside the file", guest_offset, coffset);
      *kind = QCOW2_CLUSTER_COMPRESSED;
      return TRUE;
    }

  if (entry & QCOW2_L2_RESERVED_MASK & ~(s->extended_l2 ? 0 : QCOW2_OFLAG_ZERO))
    return qcow2_corrupt (s, error, "L2 entry 0x%" G_GINT64_MODIFIER "x for guest offset 0x%"
                          G_GINT64_MODIFIER "x has reserved bits set", entry, guest_offset);

  host = entry & QCOW2_OFFSET_MASK;
  if (host & (s->cluster_size - 1))
    return qcow2_corrupt (s, error, "data cluster for guest offset 0x%" G_GINT64_MODIFIER "x "
                          "at 0x%" G_GINT64_MODIFIER "x is not aligned to the cluster size",
                          guest_offset, host);

  if (s->extended_l2)
    {
      gboolean alloc = (bitmap >> sub) & 1;
      gboolean zero = (bitmap >> (32 + sub)) & 1;

      if (alloc && zero)
        return qcow2_corrupt (s, error, "subcluster %u of guest offset 0x%" G_GINT64_MODIFIER
                              "x is both allocated and zero", sub, guest_offset);
      if (zero)
        *kind = host != 0 ? QCOW2_CLUSTER_ZERO_ALLOC : QCOW2_CLUSTER_ZERO_PLAIN;
      else if (alloc)
        {
          if (host == 0)
            return qcow2_corrupt (s, error, "allocated subcluster of guest offset 0x%"
                                  G_GINT64_MODIFIER "x has no host cluster", guest_offset);
          *kind = QCOW2_CLUSTER_NORMAL;
        }
      else
        *kind = QCOW2_CLUSTER_UNALLOCATED;
    }
  else if (entry & QCOW2_OFLAG_ZERO)
    {
      if (s->version < 3)
        return qcow2_corrupt (s, error, "zero cluster entry for guest offset 0x%"
                              G_GINT64_MODIFIER "x in a version 2 image", guest_offset);
      *kind = host != 0 ? QCOW2_CLUSTER_ZERO_ALLOC : QCOW2_CLUSTER_ZERO_PLAIN;
    }
  else
    *kind = host != 0 ? QCOW2_CLUSTER_NORMAL : QCOW2_CLUSTER_UNALLOCATED;

  if (*kind == QCOW2_CLUSTER_NORMAL && host >= s->file_size)
    return qcow2_corrupt (s, error, "data cluster for guest offset 0x%" G_GINT64_MODIFIER "x "
                          "at 0x%" G_GINT64_MODIFIER "x points past the end of the file",
                          guest_offset, host);
  if (host != 0 && host < s->cluster_size)
    return qcow2_corrupt (s, error, "data cluster for guest offset 0x%" G_GINT64_MODIFIER "x "
                          "overlaps the header", guest_offset);
  return TRUE;
}

gboolean
qcow2_load_compressed (Qcow2State  *s,
                       guint64      entry,
                       GError     **error)
{
  guint64 key = entry & ~QCOW2_OFLAG_COPIED;
  guint64 coffset, clen;

  if (s->cached_cluster_valid && s->cached_cluster_offset == key)
    return TRUE;

  s->cached_cluster_valid = FALSE;
  qcow2_compressed_range (s, entry, &coffset, &clen);
  clen = MIN (clen, 2 * s->cluster_size);
  /* The descriptor rounds up to whole sectors, which may run past the end of the file. */
  if (!strata_file_pread_zerofill (s->file, s->compressed_buf, clen, coffset, error))
    return FALSE;

  if (s->compression == STRATA_COMPRESSION_ZLIB)
    {
      size_t in_used = 0, out_len = 0;
      enum libdeflate_result r;

      if (s->deflate_dec == NULL)
        s->deflate_dec = libdeflate_alloc_decompressor ();
      r = libdeflate_deflate_decompress_ex (s->deflate_dec, s->compressed_buf, clen,
                                            s->cached_cluster, s->cluster_size,
                                            &in_used, &out_len);
      if ((r != LIBDEFLATE_SUCCESS && r != LIBDEFLATE_INSUFFICIENT_SPACE) ||
          out_len != s->cluster_size)
        return qcow2_corrupt (s, error, "compressed cluster at 0x%" G_GINT64_MODIFIER "x "
                              "could not be decompressed (deflate)", coffset);
    }
  else
    {
      ZSTD_inBuffer in = { s->compressed_buf, clen, 0 };
      ZSTD_outBuffer out = { s->cached_cluster, s->cluster_size, 0 };

      if (s->zstd_dctx == NULL)
        s->zstd_dctx = ZSTD_createDCtx ();
      ZSTD_DCtx_reset (s->zstd_dctx, ZSTD_reset_session_only);
      while (out.pos < out.size)
        {
          size_t before_in = in.pos, before_out = out.pos;
          size_t r = ZSTD_decompressStream (s->zstd_dctx, &out, &in);

          if (ZSTD_isError (r) || (r == 0 && out.pos < out.size) ||
              (in.pos == before_in && out.pos == before_out))
            return qcow2_corrupt (s, error, "compressed cluster at 0x%" G_GINT64_MODIFIER "x "
                                  "could not be decompressed (zstd)", coffset);
        }
    }

  s->cached_cluster_offset = key;
  s->cached_cluster_valid = TRUE;
  return TRUE;
}

/* The state of the (sub)cluster unit holding @offset. */
static gboolean
lookup_unit (Qcow2State        *s,
             guint64            offset,
             Qcow2ClusterKind  *kind,
             guint64           *entry,
             GError           **error)
{
  guint64 bitmap;
  guint sub;

  if (!qcow2_get_l2_entry (s, offset, entry, &bitmap, error))
    return FALSE;
  sub = (offset & (s->cluster_size - 1)) / s->subcluster_size;
  return qcow2_classify (s, offset, *entry, bitmap, sub, kind, error);
}

/* Host offset of guest @offset in a NORMAL or ZERO_ALLOC cluster. */
static inline guint64
host_of (Qcow2State *s,
         guint64     entry,
         guint64     offset)
{
  return (entry & QCOW2_OFFSET_MASK) + (offset & (s->cluster_size - 1));
}

static gboolean
encrypted_error (Qcow2State  *s,
                 GError     **error)
{
  g_set_error (error, STRATA_ERROR, STRATA_ERROR_UNSUPPORTED,
               "%s: the image is encrypted; reading encrypted qcow2 images is not supported",
               s->filename);
  return FALSE;
}

/*
 * QEMU's guess, made once per open image, at whether the image has preallocated metadata:
 * clusters the refcounts call used clearly outnumber the clusters the file really has on
 * disk. When it guesses so, qemu-img map asks the file whether each data run is a hole
 * (it then reads as zeros). The guess depends on how sparse the file is, so it also fires
 * for small images written in part (the tail of a cluster past the end of the file).
 */
static gboolean
detect_metadata_prealloc (Qcow2State  *s,
                          GError     **error)
{
  guint64 file_len, real_clusters, threshold, end_cluster, used = 0;

  if (!strata_file_get_size (s->file, &file_len, error))
    return FALSE;
  real_clusters = strata_file_get_allocated (s->file) / s->cluster_size;
  threshold = MAX (real_clusters * 10 / 9, real_clusters + 2);
  end_cluster = (file_len + s->cluster_size - 1) >> s->cluster_bits;

  for (guint64 i = 0; i < end_cluster && used < threshold; i++)
    {
      guint64 rc;

      if (!qcow2_get_refcount (s, i, &rc, error))
        return FALSE;
      used += rc != 0;
    }

  s->metadata_prealloc = used >= threshold;
  s->prealloc_checked = TRUE;
  return TRUE;
}

gboolean
qcow2_block_status (StrataImage        *self,
                    guint64             offset,
                    guint64             length,
                    StrataBlockStatus  *status,
                    GError            **error)
{
  Qcow2State *s = self->priv;
  Qcow2ClusterKind kind, k;
  guint64 entry, e, pos, end = offset + length;
  gboolean hosted;

  /* Without the key even the layout says nothing reliable about the guest data. */
  if (s->crypt_method != 0)
    return encrypted_error (s, error);
  if (s->incompatible_features & QCOW2_INCOMPAT_DATA_FILE)
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_UNSUPPORTED,
                   "%s: images with an external data file (%s) cannot be read",
                   s->filename, s->data_file != NULL ? s->data_file : "unnamed");
      return FALSE;
    }

  if (!s->prealloc_checked && !detect_metadata_prealloc (s, error))
    return FALSE;

  if (!lookup_unit (s, offset, &kind, &entry, error))
    return FALSE;
  /* An unallocated subcluster of an allocated cluster (extended L2) still has its place in
   * the file: QEMU reports that host offset, so such runs are kept apart from plain
   * unallocated ones and must stay contiguous in the file like data. */
  hosted = kind != QCOW2_CLUSTER_COMPRESSED && (entry & QCOW2_OFFSET_MASK) != 0;

  pos = (offset | (s->subcluster_size - 1)) + 1;
  while (pos < end)
    {
      guint64 l1_index = pos >> (s->cluster_bits + s->l2_bits);

      /* Whole L2 ranges without a table are skipped in one step (sparse 1 TiB maps). */
      if (kind == QCOW2_CLUSTER_UNALLOCATED && !hosted && l1_index < s->l1_size &&
          (s->l1_table[l1_index] & QCOW2_OFFSET_MASK) == 0)
        {
          pos = (l1_index + 1) << (s->cluster_bits + s->l2_bits);
          continue;
        }
      if (!lookup_unit (s, pos, &k, &e, error))
        return FALSE;
      if (k != kind ||
          (k != QCOW2_CLUSTER_COMPRESSED && hosted != ((e & QCOW2_OFFSET_MASK) != 0)))
        break;
      if (hosted && host_of (s, e, pos) != host_of (s, entry, offset) + (pos - offset))
        break;
      pos += s->subcluster_size;
    }

  memset (status, 0, sizeof *status);
  status->length = MIN (pos, end) - offset;
  switch (kind)
    {
    case QCOW2_CLUSTER_UNALLOCATED:
      status->kind = STRATA_BLOCK_UNALLOCATED;
      if (hosted)
        {
          status->has_host_offset = TRUE;
          status->host_offset = host_of (s, entry, offset);
          status->host_file = s->file;
        }
      break;
    case QCOW2_CLUSTER_ZERO_PLAIN:
      status->kind = STRATA_BLOCK_ZERO;
      break;
    case QCOW2_CLUSTER_ZERO_ALLOC:
      status->kind = STRATA_BLOCK_ZERO;
      status->has_host_offset = TRUE;
      status->host_offset = host_of (s, entry, offset);
      status->host_file = s->file;
      break;
    case QCOW2_CLUSTER_NORMAL:
      status->kind = STRATA_BLOCK_DATA;
      status->has_host_offset = TRUE;
      status->host_offset = host_of (s, entry, offset);
      status->host_file = s->file;
      status->recurse = s->metadata_prealloc;
      break;
    case QCOW2_CLUSTER_COMPRESSED:
      status->kind = STRATA_BLOCK_DATA;
      status->compressed = TRUE;
      break;
    }
  return TRUE;
}

gboolean
qcow2_read (StrataImage  *self,
            guint64       offset,
            gsize         length,
            void         *buf,
            GError      **error)
{
  Qcow2State *s = self->priv;
  guint8 *p = buf;

  while (length > 0)
    {
      StrataBlockStatus bs;
      gsize n;

      if (!qcow2_block_status (self, offset, length, &bs, error))
        return FALSE;
      n = MIN (bs.length, length);

      if (bs.kind == STRATA_BLOCK_ZERO)
        memset (p, 0, n);
      else if (bs.kind == STRATA_BLOCK_UNALLOCATED)
        {
          if (self->backing != NULL && offset < self->backing->virtual_size)
            {
              gsize m = MIN (n, self->backing->virtual_size - offset);

              if (!strata_image_read (self->backing, offset, m, p, error))
                return FALSE;
              memset (p + m, 0, n - m);
            }
          else
            memset (p, 0, n);
        }
      else if (!bs.compressed)
        {
          if (!strata_file_pread_zerofill (s->file, p, n, bs.host_offset, error))
            return FALSE;
        }
      else
        {
          /* One compressed cluster at a time. */
          guint64 in_cluster = offset & (s->cluster_size - 1);
          guint64 entry, bitmap;

          n = MIN (n, s->cluster_size - in_cluster);
          if (!qcow2_get_l2_entry (s, offset, &entry, &bitmap, error) ||
              !qcow2_load_compressed (s, entry, error))
            return FALSE;
          memcpy (p, s->cached_cluster + in_cluster, n);
        }

      p += n;
      offset += n;
      length -= n;
    }

  return TRUE;
}
