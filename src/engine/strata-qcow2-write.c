/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "strata-qcow2-private.h"

#include <libdeflate.h>
#include <zstd.h>

/*
 * The qcow2 write path, shared by create, convert, commit and rebase: cluster allocation
 * and copy-on-write from the backing chain, zero clusters and subclusters, discard,
 * compressed clusters packed byte-granular, growth, header rewrites.
 *
 * Crash safety comes from the write-back order in qcow2_writeback():
 *   guest data and refcount blocks -> flush -> refcount table entries -> flush ->
 *   L2 tables -> flush -> L1 entries -> flush -> (then) refcount decrements.
 * Metadata is kept dirty in the caches between write backs, so a sequential writer pays a
 * few flushes per cache-full of L2 tables, not per cluster. A crash at any point leaves
 * clusters leaked at worst, never referenced without a refcount.
 */

gboolean
qcow2_open_for_writing (Qcow2State  *s,
                        GError     **error)
{
  const char *why = NULL;

  if (s->crypt_method != 0)
    why = "it is encrypted";
  else if (s->has_bitmaps_ext && (s->autoclear_features & QCOW2_AUTOCLEAR_BITMAPS))
    why = "it has persistent dirty bitmaps";
  else if (s->incompatible_features & QCOW2_INCOMPAT_CORRUPT)
    why = "it is marked corrupt (repair it with qemu-img check -r all)";
  else if (s->incompatible_features & QCOW2_INCOMPAT_DIRTY)
    why = "its refcounts are dirty after a crash (repair it with qemu-img check -r all)";

  if (why != NULL)
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_UNSUPPORTED,
                   "%s: cannot open for writing: %s", s->filename, why);
      return FALSE;
    }

  s->dirty_l1 = g_array_new (FALSE, FALSE, sizeof (guint32));
  return TRUE;
}

/*
 * Called before anything changes the image (data, metadata or header). As the qcow2
 * specification asks of a writer, autoclear bits it does not know are cleared first, on disk:
 * a feature whose data this writer cannot keep consistent is then switched off rather than
 * trusted stale. Known bits (bitmaps: such images are refused for writing) are kept. Opening
 * and closing without a change leaves the header as it was.
 */
gboolean
qcow2_begin_change (Qcow2State  *s,
                    GError     **error)
{
  return qcow2_clear_unknown_autoclear (s->file, &s->autoclear_features, error);
}

/* The header step of qcow2_begin_change(), for code that changes a file without a
 * Qcow2State (the repair in strata-qcow2-check.c): *@autoclear is the header's value. */
gboolean
qcow2_clear_unknown_autoclear (StrataFile  *file,
                               guint64     *autoclear,
                               GError     **error)
{
  guint64 unknown = *autoclear & ~QCOW2_AUTOCLEAR_KNOWN;
  guint8 v[8];

  if (G_LIKELY (unknown == 0))
    return TRUE;

  /* (Version 2 headers have no autoclear field: the value is then always 0.) */
  qcow2_stq (v, *autoclear & ~unknown);
  if (!strata_file_pwrite (file, v, 8, 88, error) ||
      !strata_file_flush (file, error))
    return FALSE;
  *autoclear &= ~unknown;
  return TRUE;
}

/* ------------------------------------------------------------------------------------ */
/* Write back                                                                             */

static int
cmp_u32 (gconstpointer a,
         gconstpointer b)
{
  guint32 x = *(const guint32 *) a, y = *(const guint32 *) b;

  return x < y ? -1 : x > y;
}

gboolean
qcow2_writeback (Qcow2State  *s,
                 GError     **error)
{
  Qcow2Cache *l2 = &s->l2_cache;
  gboolean have_l2 = FALSE;

  for (guint i = 0; i < l2->n_entries && !have_l2; i++)
    have_l2 = l2->entries[i].offset != 0 && l2->entries[i].dirty;

  /* Data, refcounts and the refcount table reach the disk before any L2 entry. */
  if (!qcow2_writeback_refcounts (s, error))
    return FALSE;

  if (have_l2)
    {
      for (guint i = 0; i < l2->n_entries; i++)
        {
          Qcow2CacheEntry *e = &l2->entries[i];

          if (e->offset == 0 || !e->dirty)
            continue;
          if (!strata_file_pwrite (s->file, e->data, s->cluster_size, e->offset, error))
            return FALSE;
          e->dirty = FALSE;
        }
      if (!strata_file_flush (s->file, error))
        return FALSE;
    }

  if (s->dirty_l1 != NULL && s->dirty_l1->len > 0)
    {
      g_array_sort (s->dirty_l1, cmp_u32);
      for (guint i = 0; i < s->dirty_l1->len; i++)
        {
          guint32 idx = g_array_index (s->dirty_l1, guint32, i);
          guint32 end = idx + 1;
          guint8 buf[512];
          guint n = 0;

          if (i > 0 && idx <= g_array_index (s->dirty_l1, guint32, i - 1))
            continue;
          /* Neighbouring entries go out in one write. */
          while (i + 1 < s->dirty_l1->len && end - idx < sizeof buf / 8 &&
                 g_array_index (s->dirty_l1, guint32, i + 1) <= end)
            {
              end = g_array_index (s->dirty_l1, guint32, i + 1) + 1;
              i++;
            }
          for (guint32 j = idx; j < end; j++)
            qcow2_stq (buf + 8 * n++, s->l1_table[j]);
          if (!strata_file_pwrite (s->file, buf, n * 8, s->l1_table_offset + idx * 8ull,
                                   error))
            return FALSE;
        }
      g_array_set_size (s->dirty_l1, 0);
      if (!strata_file_flush (s->file, error))
        return FALSE;
    }

  /* Only now may clusters that the old entries used be freed. */
  if (s->pending_free != NULL && s->pending_free->len > 0)
    {
      g_autoptr(GArray) pending = g_steal_pointer (&s->pending_free);

      for (guint i = 0; i < pending->len; i++)
        {
          guint64 *pair = &g_array_index (pending, guint64, 2 * i);

          if (!qcow2_update_refcount (s, pair[0], pair[1], -1, error))
            return FALSE;
        }
    }

  return TRUE;
}

gboolean
qcow2_flush (StrataImage  *self,
             GError      **error)
{
  Qcow2State *s = self->priv;

  if (!s->writable)
    return TRUE;
  /* The second pass writes the refcount decrements of the first. */
  return qcow2_writeback (s, error) && qcow2_writeback_refcounts (s, error);
}

gboolean
qcow2_close_clean (StrataImage  *self,
                   GError      **error)
{
  Qcow2State *s = self->priv;

  if (!qcow2_flush (self, error))
    return FALSE;

  if (s->incompatible_features & QCOW2_INCOMPAT_DIRTY)
    {
      guint8 v[8];

      s->incompatible_features &= ~QCOW2_INCOMPAT_DIRTY;
      qcow2_stq (v, s->incompatible_features);
      if (!strata_file_pwrite (s->file, v, 8, 72, error) ||
          !strata_file_flush (s->file, error))
        return FALSE;
    }
  return TRUE;
}

/* ------------------------------------------------------------------------------------ */
/* L2 tables                                                                              */

static void
mark_l1_dirty (Qcow2State *s,
               guint32     index)
{
  g_array_append_val (s->dirty_l1, index);
}

/*
 * A shared L2 table (an internal snapshot uses it too) is copied before it changes: the
 * copy maps the same clusters, whose refcounts count paths from L1 tables and so do not
 * change; the old table loses the active image's reference once the L1 entry pointing at
 * the copy is on disk.
 */
static gboolean
copy_l2 (Qcow2State  *s,
         guint64     *l2_offset,
         GError     **error)
{
  g_autofree guint8 *tmp = NULL;
  guint64 old = *l2_offset, copy;
  guint8 *p;

  if (!qcow2_alloc_clusters (s, 1, &copy, error))
    return FALSE;
  p = qcow2_cache_get (s, &s->l2_cache, old, FALSE, error);
  if (p == NULL)
    return FALSE;
  tmp = g_memdup2 (p, s->cluster_size);
  p = qcow2_cache_get (s, &s->l2_cache, copy, TRUE, error);
  if (p == NULL)
    return FALSE;
  memcpy (p, tmp, s->cluster_size);
  qcow2_cache_mark_dirty (&s->l2_cache, copy);
  if (!qcow2_free_later (s, old, s->cluster_size, error))
    return FALSE;
  *l2_offset = copy;
  return TRUE;
}

/* Makes sure the L2 table for @guest_offset exists and may be modified in place; returns
 * its host offset. Pointers into the cache must be fetched after this call. */
static gboolean
prepare_l2 (Qcow2State  *s,
            guint64      guest_offset,
            guint64     *l2_offset,
            GError     **error)
{
  guint64 l1_index = guest_offset >> (s->cluster_bits + s->l2_bits);
  guint64 l1e, off;

  if (l1_index >= s->l1_size)
    return qcow2_corrupt (s, error, "guest offset 0x%" G_GINT64_MODIFIER "x is beyond the L1 "
                          "table", guest_offset);

  l1e = s->l1_table[l1_index];
  if (l1e & QCOW2_L1_RESERVED_MASK)
    return qcow2_corrupt (s, error, "L1 entry %" G_GUINT64_FORMAT " has reserved bits set",
                          l1_index);
  off = l1e & QCOW2_OFFSET_MASK;

  if (off == 0)
    {
      if (!qcow2_alloc_clusters (s, 1, &off, error))
        return FALSE;
      if (qcow2_cache_get (s, &s->l2_cache, off, TRUE, error) == NULL)
        return FALSE;
      qcow2_cache_mark_dirty (&s->l2_cache, off);
      s->l1_table[l1_index] = off | QCOW2_OFLAG_COPIED;
      mark_l1_dirty (s, l1_index);
    }
  else
    {
      if (!qcow2_check_host_range (s, off, s->cluster_size, s->cluster_size, "L2 table",
                                   error))
        return FALSE;
      /* With snapshots a COPIED flag is not taken on trust: a wrong one (another tool's
       * bug) would let this write change a snapshot. */
      if (!(l1e & QCOW2_OFLAG_COPIED) || s->nb_snapshots > 0)
        {
          guint64 rc;

          if (!qcow2_get_refcount (s, off >> s->cluster_bits, &rc, error))
            return FALSE;
          if (rc != 1 && !copy_l2 (s, &off, error))
            return FALSE;
          if (s->l1_table[l1_index] != (off | QCOW2_OFLAG_COPIED))
            {
              s->l1_table[l1_index] = off | QCOW2_OFLAG_COPIED;
              mark_l1_dirty (s, l1_index);
            }
        }
    }

  *l2_offset = off;
  return TRUE;
}

/* Replaces the L2 entry of a guest cluster (after the data it maps is written). */
static gboolean
set_l2_entry (Qcow2State  *s,
              guint64      guest_offset,
              guint64      entry,
              guint64      bitmap,
              GError     **error)
{
  guint64 l2_offset = 0, idx;
  guint8 *l2;

  if (!prepare_l2 (s, guest_offset, &l2_offset, error))
    return FALSE;
  l2 = qcow2_cache_get (s, &s->l2_cache, l2_offset, FALSE, error);
  if (l2 == NULL)
    return FALSE;

  idx = (guest_offset >> s->cluster_bits) & (s->l2_entries - 1);
  qcow2_stq (l2 + idx * s->l2_entry_bytes, entry);
  if (s->extended_l2)
    qcow2_stq (l2 + idx * s->l2_entry_bytes + 8, bitmap);
  qcow2_cache_mark_dirty (&s->l2_cache, l2_offset);
  return TRUE;
}

/* Frees (after write back) the host clusters an old L2 entry used. */
static gboolean
release_entry (Qcow2State  *s,
               guint64      entry,
               GError     **error)
{
  if (entry & QCOW2_OFLAG_COMPRESSED)
    {
      guint64 off, len;

      qcow2_compressed_range (s, entry, &off, &len);
      return qcow2_free_later (s, off, len, error);
    }
  if (entry & QCOW2_OFFSET_MASK)
    return qcow2_free_later (s, entry & QCOW2_OFFSET_MASK, s->cluster_size, error);
  return TRUE;
}

/* ------------------------------------------------------------------------------------ */
/* Writing data                                                                           */

/* TRUE when the host cluster of a plain entry may be written in place. */
static gboolean
can_write_in_place (Qcow2State  *s,
                    guint64      entry,
                    gboolean    *in_place,
                    GError     **error)
{
  guint64 host = entry & QCOW2_OFFSET_MASK;
  guint64 rc;

  *in_place = FALSE;
  if ((entry & QCOW2_OFLAG_COMPRESSED) || host == 0)
    return TRUE;
  if ((entry & QCOW2_OFLAG_COPIED) && s->nb_snapshots == 0)
    {
      *in_place = TRUE;
      return TRUE;
    }
  if (!qcow2_get_refcount (s, host >> s->cluster_bits, &rc, error))
    return FALSE;
  *in_place = rc == 1;
  return TRUE;
}

/* Reads the guest view of [offset, offset + len) as it is now (own data or backing). */
static gboolean
read_current (StrataImage  *self,
              guint64       offset,
              gsize         len,
              guint8       *buf,
              GError      **error)
{
  gsize n = 0;

  if (offset < self->virtual_size)
    {
      n = MIN (len, self->virtual_size - offset);
      if (!qcow2_read (self, offset, n, buf, error))
        return FALSE;
    }
  memset (buf + n, 0, len - n);
  return TRUE;
}

/*
 * Writes @len bytes at @offset inside one guest cluster. A partial write into a cluster
 * that is not allocated here first fills the rest from the current guest view (the backing
 * chain, zeros or a compressed cluster), as QEMU does; with extended L2 only the touched
 * subclusters are filled.
 */
static gboolean
write_in_cluster (StrataImage  *self,
                  guint64       offset,
                  gsize         len,
                  const guint8 *data,
                  GError      **error)
{
  Qcow2State *s = self->priv;
  guint64 cs = s->cluster_size;
  guint64 cluster = offset & ~(cs - 1);
  guint64 in = offset - cluster;
  guint64 entry, bitmap, host;
  gboolean in_place;
  g_autofree guint8 *buf = NULL;

  if (!qcow2_get_l2_entry (s, cluster, &entry, &bitmap, error) ||
      !can_write_in_place (s, entry, &in_place, error))
    return FALSE;
  host = entry & QCOW2_OFFSET_MASK;

  if (s->extended_l2 && !(entry & QCOW2_OFLAG_COMPRESSED) && (in_place || host == 0))
    {
      guint64 sc = s->subcluster_size;
      guint first = in / sc, last = (in + len - 1) / sc;
      guint64 lo = (guint64) first * sc, hi = (guint64) (last + 1) * sc;
      guint32 touched = (guint32) (((1ull << (last + 1)) - 1) & ~((1ull << first) - 1));
      gboolean fresh = host == 0;

      if (hi > cs)
        hi = cs;
      /* Partial subclusters at the ends take the current guest view. */
      if (lo < in || hi > in + len)
        {
          buf = g_malloc (hi - lo);
          if (lo < in && !read_current (self, cluster + lo, MIN (sc, hi - lo), buf, error))
            return FALSE;
          if (hi > in + len && hi - sc >= lo &&
              !read_current (self, cluster + hi - sc, sc, buf + (hi - sc - lo), error))
            return FALSE;
          memcpy (buf + (in - lo), data, len);
          data = buf;
          in = lo;
          len = hi - lo;
        }

      if (fresh && !qcow2_alloc_clusters (s, 1, &host, error))
        return FALSE;
      if (!strata_file_pwrite (s->file, data, len, host + in, error))
        return FALSE;
      s->data_unflushed = TRUE;

      bitmap = (bitmap | touched) & ~((guint64) touched << 32);
      return set_l2_entry (s, cluster, host | QCOW2_OFLAG_COPIED, bitmap, error);
    }

  if (in_place && !(entry & QCOW2_OFLAG_ZERO))
    {
      if (!strata_file_pwrite (s->file, data, len, host + in, error))
        return FALSE;
      s->data_unflushed = TRUE;
      if (!(entry & QCOW2_OFLAG_COPIED))
        return set_l2_entry (s, cluster, host | QCOW2_OFLAG_COPIED, bitmap, error);
      return TRUE;
    }

  /* A whole new cluster: fill around the write from the current guest view. */
  if (len < cs)
    {
      buf = g_malloc (cs);
      if (!read_current (self, cluster, cs, buf, error))
        return FALSE;
      memcpy (buf + in, data, len);
      data = buf;
    }

  if (in_place)
    {
      /* A preallocated zero cluster: reuse its host cluster. */
      if (!strata_file_pwrite (s->file, data, cs, host, error))
        return FALSE;
      s->data_unflushed = TRUE;
      return set_l2_entry (s, cluster, host | QCOW2_OFLAG_COPIED,
                           s->extended_l2 ? 0xffffffffu : 0, error);
    }

  {
    guint64 new_host;

    if (!qcow2_alloc_clusters (s, 1, &new_host, error) ||
        !strata_file_pwrite (s->file, data, cs, new_host, error))
      return FALSE;
    s->data_unflushed = TRUE;
    if (!set_l2_entry (s, cluster, new_host | QCOW2_OFLAG_COPIED,
                       s->extended_l2 ? 0xffffffffu : 0, error))
      return FALSE;
    return release_entry (s, entry, error);
  }
}

/* Whole clusters that are not allocated here, written with one allocation and one write. */
static gboolean
write_fresh_run (StrataImage  *self,
                 guint64       offset,
                 gsize         length,
                 const guint8 *data,
                 gsize        *done,
                 GError      **error)
{
  Qcow2State *s = self->priv;
  guint64 cs = s->cluster_size;
  guint64 n = 0, max = length / cs, host;

  *done = 0;
  /* Stay inside one L2 table so the entries are updated with one lookup each. */
  max = MIN (max, s->l2_entries - ((offset >> s->cluster_bits) & (s->l2_entries - 1)));
  while (n < max)
    {
      guint64 entry, bitmap;

      if (!qcow2_get_l2_entry (s, offset + n * cs, &entry, &bitmap, error))
        return FALSE;
      if ((entry & (QCOW2_OFFSET_MASK | QCOW2_OFLAG_COMPRESSED)) != 0)
        break;
      n++;
    }
  if (n < 2)
    return TRUE;

  /* Reused free space may give a shorter run: the rest goes through the next call. */
  if (!qcow2_alloc_some_clusters (s, n, &host, &n, error) ||
      !strata_file_pwrite (s->file, data, n * cs, host, error))
    return FALSE;
  s->data_unflushed = TRUE;

  for (guint64 i = 0; i < n; i++)
    if (!set_l2_entry (s, offset + i * cs, (host + i * cs) | QCOW2_OFLAG_COPIED,
                       s->extended_l2 ? 0xffffffffu : 0, error))
      return FALSE;
  *done = n * cs;
  return TRUE;
}

gboolean
qcow2_write (StrataImage  *self,
             guint64       offset,
             gsize         length,
             const void   *buf,
             GError      **error)
{
  Qcow2State *s = self->priv;
  const guint8 *p = buf;

  if (!qcow2_begin_change (s, error))
    return FALSE;

  while (length > 0)
    {
      guint64 in = offset & (s->cluster_size - 1);
      gsize n = MIN (length, s->cluster_size - in);

      if (in == 0 && length >= 2 * s->cluster_size)
        {
          gsize done;

          if (!write_fresh_run (self, offset, length, p, &done, error))
            return FALSE;
          if (done > 0)
            {
              p += done;
              offset += done;
              length -= done;
              continue;
            }
        }

      if (!write_in_cluster (self, offset, n, p, error))
        return FALSE;
      p += n;
      offset += n;
      length -= n;
    }
  return TRUE;
}

/* ------------------------------------------------------------------------------------ */
/* Zeroes and discard                                                                     */

/* TRUE when the backing chain would show data under [offset, offset + len). */
static gboolean
backing_covers (StrataImage *self,
                guint64      offset)
{
  return self->backing != NULL && offset < self->backing->virtual_size;
}

static gboolean
write_zero_bytes (StrataImage  *self,
                  guint64       offset,
                  gsize         len,
                  GError      **error)
{
  g_autofree guint8 *zeros = g_malloc0 (len);

  return qcow2_write (self, offset, len, zeros, error);
}

/* Whether [offset, offset + len) inside one cluster already reads as zeros from this layer
 * (zero clusters, or unallocated with nothing below; with @masking, as if a backing showed
 * through everywhere). */
static gboolean
reads_as_zero_here (StrataImage  *self,
                    guint64       offset,
                    guint64       len,
                    gboolean      masking,
                    gboolean     *zero,
                    GError      **error)
{
  StrataBlockStatus bs;

  *zero = FALSE;
  if (!qcow2_block_status (self, offset, len, &bs, error))
    return FALSE;
  if (bs.length < len)
    return TRUE;
  *zero = bs.kind == STRATA_BLOCK_ZERO ||
          (bs.kind == STRATA_BLOCK_UNALLOCATED && !masking && !backing_covers (self, offset));
  return TRUE;
}

/* Sets a whole cluster to @entry/@bitmap and frees what it used. */
static gboolean
replace_cluster (Qcow2State  *s,
                 guint64      cluster,
                 guint64      entry,
                 guint64      bitmap,
                 GError     **error)
{
  guint64 old, old_bitmap;

  if (!qcow2_get_l2_entry (s, cluster, &old, &old_bitmap, error))
    return FALSE;
  if (old == entry && old_bitmap == bitmap)
    return TRUE;
  if (!set_l2_entry (s, cluster, entry, bitmap, error))
    return FALSE;
  return release_entry (s, old, error);
}

/*
 * With extended L2: makes the subclusters of [offset, offset + len) (aligned) zero or
 * unallocated, keeping the host cluster. Returns FALSE in *done when it cannot (a
 * compressed cluster).
 */
static gboolean
set_subclusters (Qcow2State  *s,
                 guint64      offset,
                 guint64      len,
                 gboolean     zero,
                 gboolean    *done,
                 GError     **error)
{
  guint64 cluster = offset & ~(s->cluster_size - 1);
  guint first = (offset - cluster) / s->subcluster_size;
  guint last = (offset - cluster + len - 1) / s->subcluster_size;
  guint32 mask = (guint32) (((1ull << (last + 1)) - 1) & ~((1ull << first) - 1));
  guint64 entry, bitmap;

  *done = FALSE;
  if (!qcow2_get_l2_entry (s, cluster, &entry, &bitmap, error))
    return FALSE;
  if (entry & QCOW2_OFLAG_COMPRESSED)
    return TRUE;
  if ((entry & QCOW2_OFFSET_MASK) && (!(entry & QCOW2_OFLAG_COPIED) || s->nb_snapshots > 0))
    {
      gboolean in_place;

      if (!can_write_in_place (s, entry, &in_place, error))
        return FALSE;
      if (!in_place)
        return TRUE;
      entry |= QCOW2_OFLAG_COPIED;
    }

  bitmap &= ~((guint64) mask);
  if (zero)
    bitmap |= (guint64) mask << 32;
  else
    bitmap &= ~((guint64) mask << 32);

  *done = TRUE;
  return set_l2_entry (s, cluster, entry, bitmap, error);
}

/*
 * Zeroes (or, with @discard, unmaps) a range. Unallocated clusters with nothing below them
 * already read as zeros and are left alone, unless @masking: then the range must read as
 * zeros whatever backing lies below, now or after the backing pointer changes (a safe rebase
 * onto a new backing where the old view was zeros).
 */
static gboolean
zero_or_discard (StrataImage  *self,
                 guint64       offset,
                 guint64       length,
                 gboolean      discard,
                 gboolean      masking,
                 GError      **error)
{
  Qcow2State *s = self->priv;
  guint64 cs = s->cluster_size;
  guint64 end = offset + length;

  if (!qcow2_begin_change (s, error))
    return FALSE;

  while (offset < end)
    {
      guint64 cluster = offset & ~(cs - 1);
      guint64 n = MIN (end, cluster + cs) - offset;
      guint64 l1_index = offset >> (s->cluster_bits + s->l2_bits);

      /* Nothing is mapped under an empty L1 entry: a discard has nothing to do there, nor
       * has a zero write where no backing shows through. Skip it in one step, so that
       * zeroing a huge fresh image costs nothing. */
      if (l1_index < s->l1_size && (s->l1_table[l1_index] & QCOW2_OFFSET_MASK) == 0 &&
          (discard || (!masking && !backing_covers (self, offset))))
        {
          guint64 next = (l1_index + 1) << (s->cluster_bits + s->l2_bits);

          /* (Past the end of the backing, everything further is past it too.) */
          offset = MIN (end, next);
          continue;
        }
      /* The tail of the image counts as whole when the range reaches the end. */
      gboolean whole = offset == cluster && (n == cs || offset + n >= self->virtual_size);
      gboolean is_zero;

      if (whole)
        {
          guint64 entry = 0, bitmap = 0;

          if (discard || (s->version < 3 && !masking && !backing_covers (self, cluster)))
            entry = 0; /* unallocated: reads fall through (zeros without a backing) */
          else if (s->version < 3)
            {
              if (!write_zero_bytes (self, offset, n, error))
                return FALSE;
              offset += n;
              continue;
            }
          else if (s->extended_l2)
            bitmap = 0xffffffffull << 32;
          else
            entry = QCOW2_OFLAG_ZERO;

          if (!discard && !masking && !backing_covers (self, cluster))
            {
              guint64 cur, cur_bitmap;

              /* Unallocated with nothing below already reads as zeros. */
              if (!qcow2_get_l2_entry (s, cluster, &cur, &cur_bitmap, error))
                return FALSE;
              if (cur == 0 && cur_bitmap == 0)
                {
                  offset += n;
                  continue;
                }
            }
          if (!replace_cluster (s, cluster, entry, bitmap, error))
            return FALSE;
        }
      else if (s->extended_l2 && (offset % s->subcluster_size == 0) &&
               ((offset + n) % s->subcluster_size == 0 || offset + n >= self->virtual_size))
        {
          gboolean done;

          if (!set_subclusters (s, offset, n, !discard, &done, error))
            return FALSE;
          if (!done)
            {
              if (!reads_as_zero_here (self, offset, n, masking, &is_zero, error))
                return FALSE;
              if (!is_zero && !write_zero_bytes (self, offset, n, error))
                return FALSE;
            }
        }
      else
        {
          /* Partial clusters: a discard with a backing cannot unmap them (it is advisory,
           * as in QEMU); otherwise the range must read as zeros. */
          if (!discard || !backing_covers (self, offset))
            {
              if (!reads_as_zero_here (self, offset, n, masking, &is_zero, error))
                return FALSE;
              if (!is_zero && !write_zero_bytes (self, offset, n, error))
                return FALSE;
            }
        }

      offset += n;
    }

  return TRUE;
}

gboolean
qcow2_write_zeroes (StrataImage  *self,
                    guint64       offset,
                    guint64       length,
                    GError      **error)
{
  return zero_or_discard (self, offset, length, FALSE, FALSE, error);
}

gboolean
qcow2_write_zeroes_masking (StrataImage  *self,
                            guint64       offset,
                            guint64       length,
                            GError      **error)
{
  return zero_or_discard (self, offset, length, FALSE, TRUE, error);
}

gboolean
qcow2_discard (StrataImage  *self,
               guint64       offset,
               guint64       length,
               GError      **error)
{
  return zero_or_discard (self, offset, length, TRUE, FALSE, error);
}

/* ------------------------------------------------------------------------------------ */
/* Compressed clusters                                                                    */

static gboolean
decompress_for_fallback (Qcow2State   *s,
                         const void   *data,
                         gsize         length,
                         guint8       *out,
                         GError      **error)
{
  if (s->compression == STRATA_COMPRESSION_ZLIB)
    {
      struct libdeflate_decompressor *d = libdeflate_alloc_decompressor ();
      size_t out_len = 0;
      enum libdeflate_result r;

      r = libdeflate_deflate_decompress (d, data, length, out, s->cluster_size, &out_len);
      libdeflate_free_decompressor (d);
      if (r == LIBDEFLATE_SUCCESS && out_len == s->cluster_size)
        return TRUE;
    }
  else
    {
      size_t r = ZSTD_decompress (out, s->cluster_size, data, length);

      if (!ZSTD_isError (r) && r == s->cluster_size)
        return TRUE;
    }

  g_set_error (error, STRATA_ERROR, STRATA_ERROR_INVALID_ARGUMENT,
               "%s: the compressed cluster given for writing does not decompress to one "
               "cluster", s->filename);
  return FALSE;
}

gboolean
qcow2_write_compressed (StrataImage  *self,
                        guint64       offset,
                        const void   *data,
                        gsize         length,
                        GError      **error)
{
  Qcow2State *s = self->priv;
  guint64 cs = s->cluster_size;
  guint64 start, end, nb_sectors, old, old_bitmap, entry;

  if (offset & (cs - 1))
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_INVALID_ARGUMENT,
                   "%s: compressed writes must start on a cluster boundary", s->filename);
      return FALSE;
    }

  if (length == 0 || length >= cs)
    {
      g_autofree guint8 *plain = g_malloc (cs);
      gsize n = MIN (cs, self->virtual_size - offset);

      if (!decompress_for_fallback (s, data, length, plain, error))
        return FALSE;
      return qcow2_write (self, offset, n, plain, error);
    }

  if (!qcow2_begin_change (s, error))
    return FALSE;

  /* Pack behind the previous compressed cluster, as QEMU does: into what is left of its host
   * cluster wherever that is, or across into the next one when it is still the last. */
  start = s->compressed_next;
  if (start == 0 || start >= s->host_end || (start & (cs - 1)) == 0)
    start = 0;
  if (start != 0)
    {
      guint64 rc;

      /* Narrow refcounts (1 bit) cannot count a second user of the tail cluster. */
      if (!qcow2_get_refcount (s, start >> s->cluster_bits, &rc, error))
        return FALSE;
      if (rc >= qcow2_refcount_max (s))
        start = 0;
    }

  if (start != 0 && start + length <= (start | (cs - 1)) + 1)
    {
      /* It fits in the tail cluster, which gains a reference. */
      if (!qcow2_update_refcount (s, start, length, 1, error))
        return FALSE;
    }
  else
    {
      guint64 need, host;

      /* Spilling over needs the tail cluster to be the last one, so the next is fresh. */
      if (start != 0 && start < s->host_end - cs)
        start = 0;

      if (start != 0)
        {
          guint64 expect = s->host_end;

          need = (start + length - s->host_end + cs - 1) / cs;
          if (!qcow2_alloc_clusters (s, need, &host, error))
            return FALSE;
          if (host == expect)
            {
              /* The old tail cluster gains a reference too. */
              if (!qcow2_update_refcount (s, start, 1, 1, error))
                return FALSE;
            }
          else
            {
              if (!qcow2_update_refcount (s, host, need * cs, -1, error))
                return FALSE;
              start = 0;
            }
        }
      if (start == 0)
        {
          need = (length + cs - 1) / cs;
          if (!qcow2_alloc_clusters (s, need, &host, error))
            return FALSE;
          start = host;
        }
    }

  if (!strata_file_pwrite (s->file, data, length, start, error))
    return FALSE;
  s->data_unflushed = TRUE;
  s->compressed_next = start + length;

  end = start + length;
  nb_sectors = ((end - 1) >> 9) - (start >> 9);
  entry = QCOW2_OFLAG_COMPRESSED | (nb_sectors << s->csize_shift) | start;

  if (!qcow2_get_l2_entry (s, offset, &old, &old_bitmap, error) ||
      !set_l2_entry (s, offset, entry, 0, error))
    return FALSE;
  return release_entry (s, old, error);
}

/* ------------------------------------------------------------------------------------ */
/* Size and header                                                                        */

gboolean
qcow2_truncate (StrataImage  *self,
                guint64       size,
                GError      **error)
{
  Qcow2State *s = self->priv;
  guint64 per_l1 = s->cluster_size << s->l2_bits;
  guint64 needed = size / per_l1 + (size % per_l1 != 0);
  guint8 h[8];

  if (size == self->virtual_size)
    return TRUE;
  if (!qcow2_begin_change (s, error))
    return FALSE;
  if (size < self->virtual_size)
    {
      guint64 cs = s->cluster_size;
      guint64 tail_end = MIN ((size + cs - 1) & ~(cs - 1), self->virtual_size);

      /* What lies past the new end goes first, the header last: the tail of the last
       * cluster reads as zeros (a later growth must not bring it back) and whole clusters
       * are released. A crash in between leaves the old size with zeros at its end. */
      if (tail_end > size && !zero_or_discard (self, size, tail_end - size, FALSE, TRUE, error))
        return FALSE;
      if (self->virtual_size > tail_end &&
          !zero_or_discard (self, tail_end, self->virtual_size - tail_end, TRUE, FALSE,
                           error))
        return FALSE;
      if (!qcow2_writeback (s, error))
        return FALSE;
      qcow2_stq (h, size);
      if (!strata_file_pwrite (s->file, h, 8, 24, error) ||
          !strata_file_flush (s->file, error))
        return FALSE;
      self->virtual_size = size;
      return TRUE;
    }
  if (needed > QCOW2_MAX_L1_BYTES / 8)
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_UNSUPPORTED,
                   "%s: %" G_GUINT64_FORMAT " bytes is too large for this cluster size",
                   s->filename, size);
      return FALSE;
    }

  if (!qcow2_writeback (s, error))
    return FALSE;

  if (needed > s->l1_size)
    {
      guint64 old_offset = s->l1_table_offset;
      guint64 old_bytes = (guint64) s->l1_size * 8;
      guint64 bytes = needed * 8;
      guint64 clusters = (bytes + s->cluster_size - 1) / s->cluster_size;
      g_autofree guint64 *be = g_new0 (guint64, clusters * s->cluster_size / 8);
      guint64 new_offset;
      guint8 hdr[12];

      if (!qcow2_alloc_clusters (s, clusters, &new_offset, error))
        return FALSE;
      s->l1_table = g_renew (guint64, s->l1_table, needed);
      memset (s->l1_table + s->l1_size, 0, (needed - s->l1_size) * 8);
      for (guint64 i = 0; i < needed; i++)
        be[i] = GUINT64_TO_BE (s->l1_table[i]);

      /* New table and its refcounts on disk before the header points at it. */
      if (!strata_file_pwrite (s->file, be, clusters * s->cluster_size, new_offset, error) ||
          !qcow2_writeback_refcounts (s, error) ||
          !strata_file_flush (s->file, error))
        return FALSE;

      qcow2_stl (hdr, needed);
      qcow2_stq (hdr + 4, new_offset);
      if (!strata_file_pwrite (s->file, hdr, sizeof hdr, 36, error) ||
          !strata_file_flush (s->file, error))
        return FALSE;

      s->l1_size = needed;
      s->l1_table_offset = new_offset;
      if (old_bytes > 0 &&
          !qcow2_update_refcount (s, old_offset, old_bytes, -1, error))
        return FALSE;
    }

  qcow2_stq (h, size);
  if (!strata_file_pwrite (s->file, h, 8, 24, error) ||
      !strata_file_flush (s->file, error))
    return FALSE;

  /* A larger backing must not show through the new area (QEMU zeroes it too). */
  {
    guint64 old_size = self->virtual_size;

    self->virtual_size = size;
    if (self->backing != NULL && old_size < self->backing->virtual_size)
      return zero_or_discard (self, old_size,
                              MIN (size, self->backing->virtual_size) - old_size, FALSE, FALSE,
                              error);
  }
  return TRUE;
}

gboolean
qcow2_write_header (Qcow2State  *s,
                    const char  *backing_name,
                    const char  *backing_format,
                    GError     **error)
{
  g_autoptr(GByteArray) header = NULL;
  g_autofree guint8 *old = NULL;
  guint64 old_len;

  if (!qcow2_begin_change (s, error) ||
      !qcow2_flush (s->image, error))
    return FALSE;

  header = qcow2_build_header (s, s->image->virtual_size, backing_name, backing_format, error);
  if (header == NULL)
    return FALSE;

  /* Clear what the old header used beyond the new one, so no stale name lingers. */
  old_len = s->backing_file_offset != 0 ? s->backing_file_offset + s->backing_file_size
                                        : s->header_length;
  old_len = MIN (old_len, s->cluster_size);
  if (old_len > header->len)
    {
      guint new_len = header->len;

      g_byte_array_set_size (header, old_len);
      memset (header->data + new_len, 0, old_len - new_len);
    }

  if (!strata_file_pwrite (s->file, header->data, header->len, 0, error) ||
      !strata_file_flush (s->file, error))
    return FALSE;

  s->backing_file_offset = qcow2_ldq (header->data + 8);
  s->backing_file_size = backing_name != NULL ? strlen (backing_name) : 0;
  if (s->version >= 3)
    s->header_length = 112;
  return TRUE;
}

/* For the files of the driver that map clusters themselves (preallocation). */
gboolean
qcow2_set_l2_entry (Qcow2State  *s,
                    guint64      guest_offset,
                    guint64      entry,
                    guint64      bitmap,
                    GError     **error)
{
  return set_l2_entry (s, guest_offset, entry, bitmap, error);
}
