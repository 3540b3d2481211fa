/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "strata-qcow2-private.h"

/*
 * qcow2 refcounts: reading and updating refcount entries of any width (1 to 64 bits),
 * creating refcount blocks (each new block describes itself when it can), growing the
 * refcount table, and cluster allocation at the end of the image.
 *
 * Ordering: refcount blocks are written (and flushed) before the refcount table entries
 * that point at them, and both before any L2 entry that uses the clusters they count
 * (qcow2_writeback in strata-qcow2-write.c). Increments may reach the disk early (a crash
 * then leaks); decrements are queued in pending_free until the L2 update is on disk.
 *
 * Reuse. Allocation takes free clusters before it appends, from two places: clusters whose
 * refcount dropped to 0 in this session (a list), and clusters found free by a cursor that
 * walks the refcounts once (free space left by earlier sessions, leak repair, or clusters the
 * bounded list did not keep). Both are safe to hand out at once, because a refcount only
 * ever drops after the metadata that referenced the cluster is on disk and flushed: the
 * queued frees are applied after the L2 and L1 write back, an old refcount table or L1 table
 * is freed after the header that pointed at it is flushed, and leak repair frees only what
 * nothing references. The decrement itself need not be on disk first: until it is, a crash
 * leaves the cluster counted but unreferenced, a leak.
 *
 * Frees only become available at a write back, which a long operation may not reach on its
 * own (a commit over compressed clusters frees them one by one): when nothing free is at
 * hand and enough bytes wait in pending_free, the allocator runs a write back first. That
 * costs a few flushes per batch and lets the base fill the holes its own compressed clusters
 * leave, as qemu-img's does (where QEMU reuses a freed cluster even before the L2 update
 * that dropped it is on disk; we do not).
 */

/* Pending frees worth a write back so their clusters can be reused. */
#define REUSE_BATCH_BYTES (1024 * 1024)
/* Clusters kept in the list of free ones (8 MiB); more are left to the cursor. */
#define FREE_LIST_MAX (1u << 20)

guint64
qcow2_refcount_max (Qcow2State *s)
{
  return s->refcount_bits == 64 ? G_MAXUINT64 : (1ull << s->refcount_bits) - 1;
}

static guint64
block_get (Qcow2State   *s,
           const guint8 *block,
           guint64       i)
{
  switch (s->refcount_order)
    {
    case 0: case 1: case 2:
      {
        guint bits = s->refcount_bits;
        guint per_byte = 8 / bits;

        return (block[i / per_byte] >> ((i % per_byte) * bits)) & ((1u << bits) - 1);
      }
    case 3:
      return block[i];
    case 4:
      return GUINT16_FROM_BE (((const guint16 *) block)[i]);
    case 5:
      return qcow2_ldl (block + i * 4);
    default:
      return qcow2_ldq (block + i * 8);
    }
}

static void
block_set (Qcow2State *s,
           guint8     *block,
           guint64     i,
           guint64     v)
{
  switch (s->refcount_order)
    {
    case 0: case 1: case 2:
      {
        guint bits = s->refcount_bits;
        guint per_byte = 8 / bits;
        guint shift = (i % per_byte) * bits;
        guint8 mask = ((1u << bits) - 1) << shift;

        block[i / per_byte] = (block[i / per_byte] & ~mask) | ((v << shift) & mask);
      }
      break;
    case 3:
      block[i] = v;
      break;
    case 4:
      ((guint16 *) block)[i] = GUINT16_TO_BE (v);
      break;
    case 5:
      qcow2_stl (block + i * 4, v);
      break;
    default:
      qcow2_stq (block + i * 8, v);
      break;
    }
}

static void
mark_reftable_dirty (Qcow2State *s,
                     guint32     index)
{
  if (s->dirty_reftable == NULL)
    s->dirty_reftable = g_array_new (FALSE, FALSE, sizeof (guint32));
  g_array_append_val (s->dirty_reftable, index);
}

/* Host offset of the refcount block for @rt_index; 0 when there is none. */
static gboolean
lookup_block (Qcow2State  *s,
              guint64      rt_index,
              guint64     *block_offset,
              GError     **error)
{
  guint64 off;

  *block_offset = 0;
  if (rt_index >= s->refcount_table_size)
    return TRUE;

  off = s->refcount_table[rt_index] & QCOW2_REFT_OFFSET_MASK;
  if (off == 0)
    return TRUE;
  if (!qcow2_check_host_range (s, off, s->cluster_size, s->cluster_size,
                               "refcount block", error))
    return FALSE;
  *block_offset = off;
  return TRUE;
}

gboolean
qcow2_get_refcount (Qcow2State  *s,
                    guint64      cluster_index,
                    guint64     *refcount,
                    GError     **error)
{
  guint64 off;
  guint8 *block;

  *refcount = 0;
  if (!lookup_block (s, cluster_index >> s->rb_bits, &off, error))
    return FALSE;
  if (off == 0)
    return TRUE;
  block = qcow2_cache_get (s, &s->refblock_cache, off, FALSE, error);
  if (block == NULL)
    return FALSE;
  *refcount = block_get (s, block, cluster_index & ((1ull << s->rb_bits) - 1));
  return TRUE;
}

/* Reserves @n clusters at the end without touching refcounts. */
static guint64
reserve_at_end (Qcow2State *s,
                guint64     n)
{
  guint64 off = s->host_end;

  s->host_end += n * s->cluster_size;
  s->file_size = MAX (s->file_size, s->host_end);
  return off;
}

static gboolean grow_reftable (Qcow2State *s, guint64 min_entries, GError **error);

/* Returns the refcount block for @rt_index, creating it (and growing the table) if needed. */
static gboolean
ensure_block (Qcow2State  *s,
              guint64      rt_index,
              guint64     *block_offset,
              GError     **error)
{
  guint64 off;

  if (rt_index >= s->refcount_table_size && !grow_reftable (s, rt_index + 1, error))
    return FALSE;
  if (!lookup_block (s, rt_index, &off, error))
    return FALSE;

  if (off == 0)
    {
      off = reserve_at_end (s, 1);
      if (qcow2_cache_get (s, &s->refblock_cache, off, TRUE, error) == NULL)
        return FALSE;
      qcow2_cache_mark_dirty (&s->refblock_cache, off);
      s->refcount_table[rt_index] = off;
      mark_reftable_dirty (s, rt_index);

      /* The new block's own refcount: in itself when it covers itself, else elsewhere. */
      if (!qcow2_update_refcount (s, off, s->cluster_size, 1, error))
        return FALSE;
    }

  *block_offset = off;
  return TRUE;
}

static void
note_free (Qcow2State *s,
           guint64     c)
{
  if (s->free_clusters == NULL)
    s->free_clusters = g_array_new (FALSE, FALSE, sizeof (guint64));
  if (s->free_clusters->len - s->free_head >= FREE_LIST_MAX)
    {
      s->free_scan = MIN (s->free_scan, c);
      return;
    }
  g_array_append_val (s->free_clusters, c);
  s->free_sorted = FALSE;
}

gboolean
qcow2_update_refcount (Qcow2State  *s,
                       guint64      offset,
                       guint64      length,
                       gint64       delta,
                       GError     **error)
{
  guint64 first, last;

  if (length == 0)
    return TRUE;

  first = offset >> s->cluster_bits;
  last = (offset + length - 1) >> s->cluster_bits;

  for (guint64 c = first; c <= last; c++)
    {
      guint64 off, old, new;
      guint8 *block;

      if (delta > 0)
        {
          if (!ensure_block (s, c >> s->rb_bits, &off, error))
            return FALSE;
        }
      else
        {
          if (!lookup_block (s, c >> s->rb_bits, &off, error))
            return FALSE;
          if (off == 0)
            return qcow2_corrupt (s, error, "cluster 0x%" G_GINT64_MODIFIER "x is freed but "
                                  "has no refcount block", c << s->cluster_bits);
        }

      block = qcow2_cache_get (s, &s->refblock_cache, off, FALSE, error);
      if (block == NULL)
        return FALSE;

      old = block_get (s, block, c & ((1ull << s->rb_bits) - 1));
      if (delta > 0 && (guint64) delta > qcow2_refcount_max (s) - old)
        {
          g_set_error (error, STRATA_ERROR, STRATA_ERROR_UNSUPPORTED,
                       "%s: the refcount of cluster 0x%" G_GINT64_MODIFIER "x would "
                       "overflow its %u bits", s->filename, c << s->cluster_bits,
                       s->refcount_bits);
          return FALSE;
        }
      if (delta < 0 && (guint64) -delta > old)
        return qcow2_corrupt (s, error, "the refcount of cluster 0x%" G_GINT64_MODIFIER "x "
                              "would drop below zero", c << s->cluster_bits);
      new = old + delta;
      block_set (s, block, c & ((1ull << s->rb_bits) - 1), new);
      qcow2_cache_mark_dirty (&s->refblock_cache, off);

      if (new == 0)
        {
          /* The cluster is free: nothing cached may be written back into it. */
          qcow2_cache_drop (&s->l2_cache, c << s->cluster_bits);
          s->cached_cluster_valid = FALSE;
          /* Compressed clusters are packed behind compressed_next: not into a freed (and
           * perhaps reused) cluster. */
          if (s->compressed_next >> s->cluster_bits == c)
            s->compressed_next = 0;
          note_free (s, c);
        }
    }

  return TRUE;
}

/* Whether cluster @c is free for reuse: counted by a refcount block, with refcount 0.
 * Clusters no block covers are left alone. */
static gboolean
is_free (Qcow2State  *s,
         guint64      c,
         gboolean    *free,
         GError     **error)
{
  guint64 off, rc;

  *free = FALSE;
  if (!lookup_block (s, c >> s->rb_bits, &off, error))
    return FALSE;
  if (off == 0)
    return TRUE;
  if (!qcow2_get_refcount (s, c, &rc, error))
    return FALSE;
  *free = rc == 0;
  return TRUE;
}

static int
cmp_u64 (gconstpointer a,
         gconstpointer b)
{
  guint64 x = *(const guint64 *) a, y = *(const guint64 *) b;

  return x < y ? -1 : x > y;
}

/* The first run of free clusters in the list of this session's frees (up to @max). */
static gboolean
take_from_list (Qcow2State  *s,
                guint64      max,
                guint64      end,
                guint64     *start,
                guint64     *got,
                GError     **error)
{
  GArray *list = s->free_clusters;

  *got = 0;
  if (list == NULL)
    return TRUE;
  if (!s->free_sorted)
    {
      g_array_remove_range (list, 0, s->free_head);
      s->free_head = 0;
      g_array_sort (list, cmp_u64);
      s->free_sorted = TRUE;
    }

  while (s->free_head < list->len && *got < max)
    {
      guint64 c = g_array_index (list, guint64, s->free_head);
      gboolean free;

      if (*got > 0 && c == *start + *got - 1)
        {
          s->free_head++;   /* the same cluster freed twice (freed, reused, freed) */
          continue;
        }
      if (*got > 0 && c != *start + *got)
        break;
      if (c >= end || c == 0)
        {
          s->free_head++;
          if (*got > 0)
            break;
          continue;
        }
      if (!is_free (s, c, &free, error))
        return FALSE;
      s->free_head++;
      if (!free)
        {
          if (*got > 0)
            break;
          continue;
        }
      if (*got == 0)
        *start = c;
      (*got)++;
    }

  if (s->free_head == list->len)
    {
      g_array_set_size (list, 0);
      s->free_head = 0;
    }
  return TRUE;
}

/* The next run of free clusters the cursor finds below the end of the image. */
static gboolean
take_from_scan (Qcow2State  *s,
                guint64      max,
                guint64      end,
                guint64     *start,
                guint64     *got,
                GError     **error)
{
  guint64 per_block = 1ull << s->rb_bits;

  *got = 0;
  s->free_scan = MAX (s->free_scan, 1);
  while (s->free_scan < end)
    {
      guint64 c = s->free_scan, off;
      gboolean free;

      if (!lookup_block (s, c >> s->rb_bits, &off, error))
        return FALSE;
      if (off == 0)
        {
          s->free_scan = (c | (per_block - 1)) + 1;
          continue;
        }
      if (!is_free (s, c, &free, error))
        return FALSE;
      if (!free)
        {
          s->free_scan++;
          continue;
        }
      *start = c;
      *got = 1;
      while (*got < max && c + *got < end)
        {
          if (!is_free (s, c + *got, &free, error))
            return FALSE;
          if (!free)
            break;
          (*got)++;
        }
      s->free_scan = c + *got;
      return TRUE;
    }
  return TRUE;
}

static gboolean
take_free (Qcow2State  *s,
           guint64      max,
           guint64     *start,
           guint64     *got,
           GError     **error)
{
  guint64 end = s->host_end >> s->cluster_bits;

  if (!take_from_list (s, max, end, start, got, error))
    return FALSE;
  if (*got == 0 && !take_from_scan (s, max, end, start, got, error))
    return FALSE;
  return TRUE;
}

/* Reuses free clusters if there are any (running a write back first when enough frees wait
 * for one); *@got is 0 when the caller must append. */
static gboolean
reuse_clusters (Qcow2State  *s,
                guint64      max,
                guint64     *host_offset,
                guint64     *got,
                GError     **error)
{
  guint64 start = 0;

  *got = 0;
  if (s->reftable_growing || s->reusing)
    return TRUE;
  if (!take_free (s, max, &start, got, error))
    return FALSE;
  if (*got == 0 && s->pending_free != NULL &&
      s->pending_free_bytes >= MAX (REUSE_BATCH_BYTES, 4 * s->cluster_size))
    {
      gboolean ok;

      s->reusing = TRUE;
      ok = qcow2_writeback (s, error);
      s->reusing = FALSE;
      if (!ok || !take_free (s, max, &start, got, error))
        return FALSE;
    }
  if (*got == 0)
    return TRUE;

  if (!qcow2_update_refcount (s, start << s->cluster_bits, *got << s->cluster_bits, 1, error))
    return FALSE;
  *host_offset = start << s->cluster_bits;
  return TRUE;
}

gboolean
qcow2_alloc_some_clusters (Qcow2State  *s,
                           guint64      max,
                           guint64     *host_offset,
                           guint64     *n,
                           GError     **error)
{
  g_assert (max > 0);

  if (!reuse_clusters (s, max, host_offset, n, error))
    return FALSE;
  if (*n > 0)
    return TRUE;
  *n = max;
  return qcow2_alloc_clusters (s, max, host_offset, error);
}

/* Appends @n clusters at the end. */
static gboolean
append_clusters (Qcow2State  *s,
                 guint64      n,
                 guint64     *host_offset,
                 GError     **error)
{
  guint64 start, skipped = 0;
  gboolean clear;

  /* Skip anything past the end of the file that is somehow still counted. */
  do
    {
      clear = TRUE;
      start = s->host_end;
      for (guint64 i = 0; i < n; i++)
        {
          guint64 rc;

          if (!qcow2_get_refcount (s, (start >> s->cluster_bits) + i, &rc, error))
            return FALSE;
          if (rc != 0)
            {
              s->host_end = start + (i + 1) * s->cluster_size;
              clear = FALSE;
              if (++skipped > 65536)
                return qcow2_corrupt (s, error, "the refcounts claim clusters far past the "
                                      "end of the file (at 0x%" G_GINT64_MODIFIER "x)",
                                      s->host_end);
              break;
            }
        }
    }
  while (!clear);

  reserve_at_end (s, n);
  if (!qcow2_update_refcount (s, start, n * s->cluster_size, 1, error))
    return FALSE;
  *host_offset = start;
  return TRUE;
}

gboolean
qcow2_alloc_clusters (Qcow2State  *s,
                      guint64      n,
                      guint64     *host_offset,
                      GError     **error)
{
  /* A single cluster may come from anywhere; longer runs (a grown L1 table) are appended. */
  if (n == 1)
    {
      guint64 got;

      if (!reuse_clusters (s, 1, host_offset, &got, error))
        return FALSE;
      if (got == 1)
        return TRUE;
    }
  return append_clusters (s, n, host_offset, error);
}

gboolean
qcow2_free_later (Qcow2State  *s,
                  guint64      offset,
                  guint64      length,
                  GError     **error)
{
  guint64 pair[2] = { offset, length };

  /* (A write back takes the whole array: a new one starts a new count.) */
  if (s->pending_free == NULL)
    {
      s->pending_free = g_array_new (FALSE, FALSE, sizeof pair);
      s->pending_free_bytes = 0;
    }
  g_array_append_val (s->pending_free, pair);
  s->pending_free_bytes += length;
  return TRUE;
}

/*
 * Moves the refcount table to a bigger one at the end of the image. The new table counts
 * its own clusters (and any refcount blocks that needs), is written and flushed before the
 * header points at it; the old table is freed once the header is on disk.
 */
static gboolean
grow_reftable (Qcow2State  *s,
               guint64      min_entries,
               GError     **error)
{
  guint64 old_offset = s->refcount_table_offset;
  guint64 old_clusters = s->refcount_table_clusters;
  guint64 entries_per_cluster = s->cluster_size / 8;
  guint64 new_entries, new_clusters, new_offset;

  if (s->reftable_growing)
    return qcow2_corrupt (s, error, "the refcount table cannot cover its own growth");

  new_entries = MAX (min_entries, s->refcount_table_size * 2);
  /* Room for the blocks that count the new table itself and the clusters after it. */
  new_entries += 2;
  new_clusters = (new_entries + entries_per_cluster - 1) / entries_per_cluster;
  if (new_clusters * s->cluster_size > QCOW2_MAX_REFTABLE_BYTES)
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_UNSUPPORTED,
                   "%s: the refcount table would exceed its 8 MiB limit", s->filename);
      return FALSE;
    }
  new_entries = new_clusters * entries_per_cluster;

  new_offset = reserve_at_end (s, new_clusters);
  s->refcount_table = g_renew (guint64, s->refcount_table, new_entries);
  memset (s->refcount_table + s->refcount_table_size, 0,
          (new_entries - s->refcount_table_size) * 8);
  s->refcount_table_size = new_entries;
  s->refcount_table_offset = new_offset;
  s->refcount_table_clusters = new_clusters;
  s->reftable_moved = TRUE;

  /* Until the new table counts itself, a cache eviction may write blocks but must not
   * switch the header over. */
  s->reftable_growing = TRUE;
  if (!qcow2_update_refcount (s, new_offset, new_clusters * s->cluster_size, 1, error))
    {
      s->reftable_growing = FALSE;
      return FALSE;
    }
  s->reftable_growing = FALSE;

  /* Switch now: the table is rare to grow and the header must never point at garbage. */
  if (!qcow2_writeback_refcounts (s, error))
    return FALSE;

  return qcow2_update_refcount (s, old_offset, old_clusters * s->cluster_size, -1, error);
}

static int
cmp_u32 (gconstpointer a,
         gconstpointer b)
{
  guint32 x = *(const guint32 *) a, y = *(const guint32 *) b;

  return x < y ? -1 : x > y;
}

gboolean
qcow2_writeback_refcounts (Qcow2State  *s,
                           GError     **error)
{
  Qcow2Cache *cache = &s->refblock_cache;
  gboolean wrote = FALSE;

  for (guint i = 0; i < cache->n_entries; i++)
    {
      Qcow2CacheEntry *e = &cache->entries[i];

      if (e->offset == 0 || !e->dirty)
        continue;
      if (!strata_file_pwrite (s->file, e->data, s->cluster_size, e->offset, error))
        return FALSE;
      e->dirty = FALSE;
      wrote = TRUE;
    }

  if (s->reftable_growing ||
      (!s->reftable_moved && (s->dirty_reftable == NULL || s->dirty_reftable->len == 0)))
    {
      if (wrote || s->data_unflushed)
        {
          if (!strata_file_flush (s->file, error))
            return FALSE;
          s->data_unflushed = FALSE;
        }
      return TRUE;
    }

  /* Blocks before the table entries that point at them. */
  if (!strata_file_flush (s->file, error))
    return FALSE;
  s->data_unflushed = FALSE;

  if (s->reftable_moved)
    {
      g_autofree guint64 *be = g_new (guint64, s->refcount_table_size);
      guint8 h[12];

      for (guint64 i = 0; i < s->refcount_table_size; i++)
        be[i] = GUINT64_TO_BE (s->refcount_table[i]);
      if (!strata_file_pwrite (s->file, be, s->refcount_table_size * 8,
                               s->refcount_table_offset, error) ||
          !strata_file_flush (s->file, error))
        return FALSE;

      qcow2_stq (h, s->refcount_table_offset);
      qcow2_stl (h + 8, s->refcount_table_clusters);
      if (!strata_file_pwrite (s->file, h, sizeof h, 48, error))
        return FALSE;
      s->reftable_moved = FALSE;
    }
  else
    {
      g_array_sort (s->dirty_reftable, cmp_u32);
      for (guint i = 0; i < s->dirty_reftable->len; i++)
        {
          guint32 idx = g_array_index (s->dirty_reftable, guint32, i);
          guint8 v[8];

          if (i > 0 && idx == g_array_index (s->dirty_reftable, guint32, i - 1))
            continue;
          qcow2_stq (v, s->refcount_table[idx]);
          if (!strata_file_pwrite (s->file, v, 8, s->refcount_table_offset + idx * 8ull,
                                   error))
            return FALSE;
        }
    }

  if (s->dirty_reftable != NULL)
    g_array_set_size (s->dirty_reftable, 0);
  return strata_file_flush (s->file, error);
}

/* Whether an L2 table maps nothing (every entry and bitmap 0). */
static gboolean
l2_is_empty (Qcow2State   *s,
             const guint8 *l2)
{
  for (guint64 i = 0; i < s->cluster_size; i += 8)
    if (qcow2_ldq (l2 + i) != 0)
      return FALSE;
  return TRUE;
}

/*
 * Refcount blocks that count nothing but themselves (an overlay that grew past what its
 * first block covers leaves one far out in the file). The table entry is cleared and flushed
 * first; a block counted by another block is then freed there (a cut in between leaks it).
 */
/* Whether refcount block @i (at @off) counts nothing but itself and the clusters in
 * [ignore, ignore_end). */
static gboolean
block_is_empty (Qcow2State  *s,
                guint64      i,
                guint64      off,
                guint64      ignore,
                guint64      ignore_end,
                gboolean    *empty,
                GError     **error)
{
  guint64 per_block = 1ull << s->rb_bits;
  guint8 *block = qcow2_cache_get (s, &s->refblock_cache, off, FALSE, error);

  *empty = FALSE;
  if (block == NULL)
    return FALSE;
  for (guint64 j = 0; j < per_block; j++)
    {
      guint64 c = (i << s->rb_bits) + j;

      if (block_get (s, block, j) != 0 && c != off >> s->cluster_bits &&
          (c < ignore || c >= ignore_end))
        return TRUE;
    }
  *empty = TRUE;
  return TRUE;
}

static gboolean
drop_empty_refblocks (Qcow2State  *s,
                      GError     **error)
{
  g_autoptr(GArray) counted_elsewhere = g_array_new (FALSE, FALSE, sizeof (guint64));
  gboolean dropped = FALSE;

  for (guint64 i = 1; i < s->refcount_table_size; i++)
    {
      guint64 off, self;
      gboolean empty;

      if (!lookup_block (s, i, &off, error))
        return FALSE;
      if (off == 0)
        continue;
      if (!block_is_empty (s, i, off, 0, 0, &empty, error))
        return FALSE;
      if (!empty)
        continue;
      self = off >> s->cluster_bits;

      qcow2_cache_drop (&s->refblock_cache, off);
      s->refcount_table[i] = 0;
      mark_reftable_dirty (s, i);
      if (self >> s->rb_bits != i)
        g_array_append_val (counted_elsewhere, off);
      dropped = TRUE;
    }
  if (!dropped)
    return TRUE;

  if (!qcow2_writeback_refcounts (s, error))
    return FALSE;
  for (guint i = 0; i < counted_elsewhere->len; i++)
    if (!qcow2_update_refcount (s, g_array_index (counted_elsewhere, guint64, i),
                                s->cluster_size, -1, error))
      return FALSE;
  return qcow2_writeback_refcounts (s, error);
}

/*
 * A refcount table that grew moved to the end of the file; once the blocks it pointed at
 * out there are gone it fits where the freed clusters at the front are. As when it grows:
 * the new table, counted, is on disk before the header points at it, and the old one is
 * freed after the header is.
 */
static gboolean
move_reftable_down (Qcow2State  *s,
                    GError     **error)
{
  guint64 entries_per_cluster = s->cluster_size / 8;
  guint64 used = 0, clusters, start = 0, got = 0;
  guint64 old_offset = s->refcount_table_offset;
  guint64 old_clusters = s->refcount_table_clusters;
  guint64 new_entries;
  g_autoptr(GArray) cut = g_array_new (FALSE, FALSE, sizeof (guint64));

  /* Blocks that only count the old table go once it is freed. */
  for (guint64 i = 0; i < s->refcount_table_size; i++)
    {
      guint64 off = s->refcount_table[i] & QCOW2_REFT_OFFSET_MASK;
      gboolean empty = FALSE;

      if (off == 0)
        continue;
      if (i > 0 &&
          !block_is_empty (s, i, off, old_offset >> s->cluster_bits,
                           (old_offset >> s->cluster_bits) + old_clusters, &empty, error))
        return FALSE;
      if (!empty)
        used = i + 1;
    }
  clusters = MAX ((used + entries_per_cluster - 1) / entries_per_cluster, 1);

  /* The lowest free room (where a fresh image has its table). */
  s->free_scan = 1;
  if (!take_from_scan (s, clusters, s->host_end >> s->cluster_bits, &start, &got, error))
    return FALSE;
  if (got < clusters || (start << s->cluster_bits) > old_offset)
    {
      /* Not worth it, or no room in front: give the clusters back untouched. */
      s->free_scan = MIN (s->free_scan, start);
      return TRUE;
    }

  if (!qcow2_update_refcount (s, start << s->cluster_bits, clusters << s->cluster_bits, 1,
                              error))
    return FALSE;

  /* Blocks past the new table's end (they count only themselves and the old table) leave
   * with the old table. */
  new_entries = clusters * entries_per_cluster;
  for (guint64 i = new_entries; i < s->refcount_table_size; i++)
    {
      guint64 off = s->refcount_table[i] & QCOW2_REFT_OFFSET_MASK;

      if (off == 0)
        continue;
      qcow2_cache_drop (&s->refblock_cache, off);
      g_array_append_val (cut, off);
    }
  s->refcount_table_size = new_entries;
  s->refcount_table_offset = start << s->cluster_bits;
  s->refcount_table_clusters = clusters;
  s->reftable_moved = TRUE;
  if (!qcow2_writeback_refcounts (s, error))
    return FALSE;

  /* The header points at the new table (flushed): the old one and the cut blocks are free.
   * Only what a remaining block counts needs a decrement; the rest was counted in the cut
   * blocks themselves. */
  for (guint64 c = old_offset >> s->cluster_bits;
       c < (old_offset >> s->cluster_bits) + old_clusters; c++)
    if (c >> s->rb_bits < new_entries &&
        !qcow2_update_refcount (s, c << s->cluster_bits, s->cluster_size, -1, error))
      return FALSE;
  for (guint i = 0; i < cut->len; i++)
    {
      guint64 off = g_array_index (cut, guint64, i);

      if ((off >> s->cluster_bits) >> s->rb_bits < new_entries &&
          !qcow2_update_refcount (s, off, s->cluster_size, -1, error))
        return FALSE;
    }
  return qcow2_writeback_refcounts (s, error);
}

/*
 * The order keeps every crash state consistent: (1) everything written back, the discarded
 * clusters' frees on disk; (2) the L1 entries of empty L2 tables cleared and flushed, and
 * only then (3) those tables freed (a cut between them leaks the tables); (4) refcount blocks
 * that count nothing else dropped (above); (5) the file cut after the last cluster whose
 * refcount is not 0, which nothing on disk references any more.
 */
gboolean
strata_qcow2_shrink (StrataImage  *image,
                     gboolean      drop_empty_l2,
                     GError      **error)
{
  Qcow2State *s;
  guint64 end, size;
  gboolean dropped = FALSE;

  g_return_val_if_fail (image != NULL, FALSE);

  if (g_strcmp0 (image->driver->name, "qcow2") != 0)
    return TRUE;
  s = QCOW2_STATE (image);
  if (!s->writable)
    return TRUE;
  if (!qcow2_flush (image, error))
    return FALSE;

  if (drop_empty_l2)
    {
      for (guint32 i = 0; i < s->l1_size; i++)
        {
          guint64 off = s->l1_table[i] & QCOW2_OFFSET_MASK;
          guint8 *l2;

          if (off == 0)
            continue;
          l2 = qcow2_cache_get (s, &s->l2_cache, off, FALSE, error);
          if (l2 == NULL)
            return FALSE;
          if (!l2_is_empty (s, l2))
            continue;
          s->l1_table[i] = 0;
          g_array_append_val (s->dirty_l1, i);
          if (!qcow2_free_later (s, off, s->cluster_size, error))
            return FALSE;
          dropped = TRUE;
        }
      if (dropped && !qcow2_flush (image, error))
        return FALSE;
    }

  /* Blocks first, so the table can shrink; then the blocks that only counted the old
   * table. */
  if (drop_empty_l2 &&
      (!drop_empty_refblocks (s, error) ||
       !move_reftable_down (s, error) ||
       !drop_empty_refblocks (s, error)))
    return FALSE;

  end = s->host_end >> s->cluster_bits;
  while (end > 1)
    {
      guint64 rc;

      if (!qcow2_get_refcount (s, end - 1, &rc, error))
        return FALSE;
      if (rc != 0)
        break;
      end--;
    }

  if (!strata_file_get_size (s->file, &size, error))
    return FALSE;
  if (end << s->cluster_bits >= size)
    return TRUE;
  if (!strata_file_truncate (s->file, end << s->cluster_bits, error) ||
      !strata_file_flush (s->file, error))
    return FALSE;
  s->host_end = s->file_size = end << s->cluster_bits;
  s->free_scan = MIN (s->free_scan, end);
  return TRUE;
}
