/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "strata-qcow2-prealloc.h"

#include <fcntl.h>

/*
 * Preallocated qcow2 images, laid out cluster for cluster as qemu-img 7.2 lays them out.
 *
 * qemu-img builds such an image by running its ordinary allocator over an empty one, and
 * where things land follows from that allocator's habits: it hands out the lowest free
 * clusters first; a refcount block that is missing goes to the first free cluster after
 * the range being allocated (describing itself when it can), and the allocation is then
 * retried from its start; a refcount table that is too small is replaced by a new one,
 * 50 % larger than needed, placed with any new blocks after the last block's coverage, and
 * the old table is freed. preallocation=metadata allocates, L2 table by L2 table, the table
 * and then its data clusters. falloc and full first make refcount structures at the end of
 * the file that cover all data and L2 tables (exactly sized), put the data right after
 * them, and then allocate the L2 tables one by one (the first lands in the freed table).
 *
 * The plan below replays that allocator on a model of the new image: which clusters are in
 * use (all refcounts are 0 or 1 in a new image), the refcount table, the L2 tables and the
 * data runs. The image is then written in one pass into a temporary file, so creation needs
 * no crash-safe ordering of its own.
 */

#define REFTABLE_MAX_BYTES (8u * 1024 * 1024)
/* qemu-img preallocates at most this many bytes per allocation request. */
#define REQUEST_MAX 0x7fffffffull

typedef struct
{
  guint64 guest;  /* first guest cluster */
  guint64 host;   /* first host cluster */
  guint64 n;
} Run;

typedef struct
{
  guint64   cs;
  guint     cluster_bits;
  guint     rb_bits;        /* log2 of the refcounts in a block */
  guint     refcount_order;
  guint64  *used;           /* one bit per host cluster: refcount 1 */
  guint64   n_words;
  guint64  *rt;             /* refcount table: block offsets */
  guint64   rt_size;        /* entries */
  guint64   rt_offset;
  guint64   free_index;     /* where the search for free clusters starts */
  guint64   file_end;       /* bytes the metadata written so far reaches */
  GArray   *replaced;       /* (offset, length) of refcount tables given up */
  GError  **error;
} Plan;

enum { PLAN_OK = 0, PLAN_AGAIN = 1, PLAN_FAILED = -1 };

static gboolean
is_used (Plan    *p,
         guint64  c)
{
  return c / 64 < p->n_words && (p->used[c / 64] >> (c % 64)) & 1;
}

static void
set_used (Plan     *p,
          guint64   c,
          gboolean  used)
{
  if (c / 64 >= p->n_words)
    {
      guint64 n = MAX (c / 64 + 1, p->n_words * 2);

      p->used = g_renew (guint64, p->used, n);
      memset (p->used + p->n_words, 0, (n - p->n_words) * 8);
      p->n_words = n;
    }
  if (used)
    p->used[c / 64] |= 1ull << (c % 64);
  else
    p->used[c / 64] &= ~(1ull << (c % 64));
}

static guint64
div_round_up (guint64 n,
              guint64 d)
{
  return (n + d - 1) / d;
}

/* The first run of @n free clusters at or after the search start; the start moves on. */
static guint64
find_free (Plan    *p,
           guint64  n)
{
  guint64 i = 0;

  while (i < n)
    {
      if (is_used (p, p->free_index++))
        i = 0;
      else
        i++;
    }
  return p->free_index - n;
}

static void
free_clusters (Plan    *p,
               guint64  first,
               guint64  n)
{
  for (guint64 c = first; c < first + n; c++)
    set_used (p, c, FALSE);
  p->free_index = MIN (p->free_index, first);
}

/* Refcount blocks needed to count @clusters clusters and the refcount structures
 * themselves; @generous adds half the table again, as a growing table does. */
static guint64
refblocks_needed (Plan     *p,
                  guint64   clusters,
                  gboolean  generous)
{
  guint64 per_table_cluster = p->cs / 8;
  guint64 per_block = 1ull << p->rb_bits;
  guint64 table = 0, blocks = 0, n = 0, last;

  do
    {
      last = n;
      blocks = div_round_up (clusters + table + blocks, per_block);
      table = div_round_up (blocks, per_table_cluster);
      n = clusters + blocks + table;
      if (n == last && generous)
        {
          clusters += div_round_up (table, 2);
          n = 0;
          generous = FALSE;
        }
    }
  while (n != last);
  return blocks;
}

static gint64
max_rt_index (Plan *p)
{
  gint64 max = -1;

  for (guint64 i = 0; i < p->rt_size; i++)
    if (p->rt[i] != 0)
      max = i;
  return max;
}

/*
 * New refcount structures at @start (the end of everything in use): blocks where the table
 * has none, then the table, covering themselves and @additional clusters after them. The
 * old table is freed. *@end is where the @additional clusters may go.
 */
static gboolean
refcount_area (Plan     *p,
               guint64   start,
               guint64   additional,
               gboolean  exact,
               guint64   new_index,
               guint64   new_block,
               guint64  *end)
{
  guint64 start_c = start / p->cs;
  guint64 per_block = 1ull << p->rb_bits;
  guint64 blocks = refblocks_needed (p, start_c + additional, !exact);
  guint64 area_index = start_c / per_block;
  guint64 table_size, table_clusters, extra = 0, table_offset, block_offset;
  gint64 max_index = max_rt_index (p);
  guint64 *table;

  table_size = exact ? blocks : blocks + div_round_up (blocks, 2);
  table_size = div_round_up (table_size, p->cs / 8) * (p->cs / 8);
  table_clusters = table_size * 8 / p->cs;
  if (table_size * 8 > REFTABLE_MAX_BYTES)
    {
      g_set_error (p->error, STRATA_ERROR, STRATA_ERROR_INVALID_ARGUMENT,
                   "Failed to resize refcount structures: the refcount table would exceed "
                   "8 MiB");
      return FALSE;
    }

  table = g_new0 (guint64, table_size);
  memcpy (table, p->rt, MIN (table_size, (guint64) (max_index + 1)) * 8);
  if (new_block != 0)
    table[new_index] = new_block;

  for (guint64 i = area_index; i < blocks; i++)
    if (table[i] == 0)
      extra++;
  table_offset = start + extra * p->cs;
  *end = table_offset + table_clusters * p->cs;

  block_offset = start;
  for (guint64 i = area_index; i < blocks; i++)
    {
      guint64 first = i * per_block * p->cs;

      if (table[i] == 0)
        {
          table[i] = block_offset;
          block_offset += p->cs;
        }
      if (first < *end)
        {
          guint64 j = first < start ? (start - first) / p->cs : 0;
          guint64 stop = MIN ((*end - first) / p->cs, per_block);

          for (; j < stop; j++)
            set_used (p, i * per_block + j, TRUE);
        }
    }
  p->file_end = MAX (p->file_end, *end);

  free_clusters (p, p->rt_offset / p->cs, p->rt_size * 8 / p->cs);
  {
    guint64 range[2] = { p->rt_offset, p->rt_size * 8 };

    g_array_append_val (p->replaced, range);
  }
  g_free (p->rt);
  p->rt = table;
  p->rt_size = table_size;
  p->rt_offset = table_offset;
  return TRUE;
}

static int update_refcounts (Plan *p, guint64 first, guint64 n);

/* Makes sure a refcount block counts cluster @c; PLAN_AGAIN when one was made (the caller
 * searches again: the block may sit where it meant to allocate). */
static int
ensure_block (Plan    *p,
              guint64  c)
{
  guint64 index = c >> p->rb_bits;
  guint64 block;

  if (index < p->rt_size && p->rt[index] != 0)
    return PLAN_OK;

  block = find_free (p, 1);
  if (block >> p->rb_bits == index)
    set_used (p, block, TRUE);   /* it counts itself */
  else
    {
      int r = update_refcounts (p, block, 1);

      if (r != PLAN_OK)
        return r;
    }
  p->file_end = MAX (p->file_end, (block + 1) * p->cs);

  if (index < p->rt_size)
    {
      p->rt[index] = block * p->cs;
      return PLAN_AGAIN;
    }

  {
    guint64 per_block = 1ull << p->rb_bits;
    guint64 blocks_used = div_round_up (MAX (c + 1, block + 1), per_block);
    guint64 end;

    if (!refcount_area (p, blocks_used * per_block * p->cs, 0, FALSE, index, block * p->cs,
                        &end))
      return PLAN_FAILED;
  }
  return PLAN_AGAIN;
}

static int
update_refcounts (Plan    *p,
                  guint64  first,
                  guint64  n)
{
  guint64 last_index = G_MAXUINT64;

  for (guint64 c = first; c < first + n; c++)
    {
      if (c >> p->rb_bits != last_index)
        {
          int r = ensure_block (p, c);

          if (r != PLAN_OK)
            {
              /* Undone; the search starts again at the same clusters. */
              if (r == PLAN_AGAIN)
                free_clusters (p, first, c - first);
              return r;
            }
        }
      last_index = c >> p->rb_bits;
      g_assert (!is_used (p, c));
      set_used (p, c, TRUE);
    }
  return PLAN_OK;
}

static gboolean
alloc_clusters (Plan    *p,
                guint64  n,
                guint64 *first)
{
  int r;

  do
    {
      *first = find_free (p, n);
      r = update_refcounts (p, *first, n);
    }
  while (r == PLAN_AGAIN);
  return r == PLAN_OK;
}

/* Writes one refcount block: refcount 1 for every used cluster it covers. */
static gboolean
write_block (StrataFile  *file,
             Plan        *p,
             guint64      index,
             guint8      *buf,
             GError     **error)
{
  guint64 per_block = 1ull << p->rb_bits;
  guint bits = 1u << p->refcount_order;

  memset (buf, 0, p->cs);
  for (guint64 j = 0; j < per_block; j++)
    {
      guint64 bit = j * bits;

      if (!is_used (p, index * per_block + j))
        continue;
      if (bits < 8)
        buf[bit / 8] |= 1u << (bit % 8);
      else
        buf[(bit + bits) / 8 - 1] = 1;
    }
  return strata_file_pwrite (file, buf, p->cs, p->rt[index], error);
}

static gboolean
fill_data (StrataFile      *file,
           StrataPrealloc   mode,
           guint64          offset,
           guint64          length,
           const guint8    *zeros,
           gsize            zeros_len,
           GError         **error)
{
  if (mode == STRATA_PREALLOC_FALLOC)
    {
      int r = posix_fallocate (strata_file_get_fd (file), (off_t) offset, (off_t) length);

      if (r != 0)
        {
          g_set_error (error, STRATA_ERROR, STRATA_ERROR_IO,
                       "Could not preallocate data for the new file: %s", g_strerror (r));
          return FALSE;
        }
      return TRUE;
    }
  for (guint64 done = 0; done < length; done += zeros_len)
    if (!strata_file_pwrite (file, zeros, MIN (zeros_len, length - done), offset + done,
                             error))
      return FALSE;
  return TRUE;
}

gboolean
qcow2_create_preallocated (StrataFile     *file,
                           Qcow2State     *s,
                           guint64         virtual_size,
                           const char     *backing_file,
                           const char     *backing_format,
                           StrataPrealloc  mode,
                           GError        **error)
{
  Plan p = { 0 };
  guint64 cs = s->cluster_size;
  guint entry_bytes = (s->incompatible_features & QCOW2_INCOMPAT_EXTL2) ? 16 : 8;
  guint64 l2_entries = cs / entry_bytes;
  guint64 request = (REQUEST_MAX / cs);
  guint64 data = div_round_up (virtual_size, cs);
  guint64 l1_size = div_round_up (data, l2_entries);
  guint64 l1_offset = 0, first, c;
  g_autofree guint64 *l2 = NULL;
  g_autoptr(GArray) runs = g_array_new (FALSE, FALSE, sizeof (Run));
  g_autoptr(GByteArray) header = NULL;
  g_autofree guint8 *buf = NULL;
  g_autofree guint64 *be = NULL;
  gboolean ok = FALSE;

  g_return_val_if_fail (mode != STRATA_PREALLOC_OFF, FALSE);

  p.cs = cs;
  p.cluster_bits = s->cluster_bits;
  p.refcount_order = s->refcount_order;
  p.rb_bits = s->cluster_bits + 3 - s->refcount_order;
  p.error = error;
  p.replaced = g_array_new (FALSE, FALSE, 2 * sizeof (guint64));

  /* qemu-img's empty image: header, a one-cluster table, its first block; then the L1. */
  p.rt_size = cs / 8;
  p.rt = g_new0 (guint64, p.rt_size);
  p.rt[0] = 2 * cs;
  p.rt_offset = cs;
  p.file_end = 3 * cs;
  if (!alloc_clusters (&p, 3, &first))
    goto out;
  l2 = g_new0 (guint64, MAX (l1_size, 1));
  if (l1_size > 0)
    {
      if (!alloc_clusters (&p, div_round_up (l1_size * 8, cs), &first))
        goto out;
      l1_offset = first * cs;
      p.file_end = MAX (p.file_end, l1_offset + l1_size * 8);
    }

  if (mode == STRATA_PREALLOC_METADATA)
    {
      /* Table by table: the L2 table, then its data clusters. */
      for (c = 0; c < data; )
        {
          guint64 n = MIN (MIN (data - c, request), l2_entries - c % l2_entries);
          Run run = { c, 0, n };

          if (l2[c / l2_entries] == 0)
            {
              if (!alloc_clusters (&p, 1, &first))
                goto out;
              l2[c / l2_entries] = first * cs;
              p.file_end = MAX (p.file_end, (first + 1) * cs);
            }
          if (!alloc_clusters (&p, n, &run.host))
            goto out;
          g_array_append_val (runs, run);
          c += n;
        }
      if (runs->len > 0)
        {
          Run *last = &g_array_index (runs, Run, runs->len - 1);

          /* qemu-img makes the file end where the image does (see the tail below). */
          guint64 sub = entry_bytes == 8 ? cs : cs / 32;

          /* qemu-img makes the file end with the last subcluster in use (and pads it, see
           * the tail below). */
          p.file_end = MAX (p.file_end, last->host * cs +
                            div_round_up (virtual_size - last->guest * cs, sub) * sub);
        }
    }
  else
    {
      guint64 old_end = 0, start;

      for (guint64 i = 0; i < p.n_words * 64; i++)
        if (is_used (&p, i))
          old_end = i + 1;
      /* Refcount structures for the data and its L2 tables, the data right after them. */
      if (!refcount_area (&p, old_end * cs, data + div_round_up (data, l2_entries) + 1, TRUE,
                          0, 0, &start))
        goto out;
      for (c = 0; c < data; c++)
        set_used (&p, start / cs + c, TRUE);
      p.file_end = MAX (p.file_end, start + data * cs);

      for (c = 0; c < data; )
        {
          guint64 n = MIN (data - c, l2_entries - c % l2_entries);
          Run run = { c, start / cs + c, n };

          if (l2[c / l2_entries] == 0)
            {
              if (!alloc_clusters (&p, 1, &first))
                goto out;
              l2[c / l2_entries] = first * cs;
              p.file_end = MAX (p.file_end, (first + 1) * cs);
            }
          g_array_append_val (runs, run);
          c += n;
        }
    }

  /* The plan is made: write it. */
  s->refcount_table_offset = p.rt_offset;
  s->refcount_table_clusters = p.rt_size * 8 / cs;
  s->l1_table_offset = l1_offset;
  s->l1_size = l1_size;
  header = qcow2_build_header (s, virtual_size, backing_file, backing_format, error);
  if (header == NULL)
    goto out;
  /* A whole cluster, as qemu-img writes it: what the file system allocates decides whether
   * QEMU takes the image for metadata-preallocated (and then asks the file for holes). */
  if (header->len < cs)
    {
      guint len = header->len;

      g_byte_array_set_size (header, cs);
      memset (header->data + len, 0, cs - len);
    }
  if (!strata_file_pwrite (file, header->data, header->len, 0, error))
    goto out;

  be = g_new0 (guint64, MAX (p.rt_size, l1_size));
  for (guint64 i = 0; i < p.rt_size; i++)
    be[i] = GUINT64_TO_BE (p.rt[i]);
  if (!strata_file_pwrite (file, be, p.rt_size * 8, p.rt_offset, error))
    goto out;
  buf = g_malloc (cs);
  for (guint64 i = 0; i < p.rt_size; i++)
    if (p.rt[i] != 0 && !write_block (file, &p, i, buf, error))
      goto out;

  for (guint64 i = 0; i < l1_size; i++)
    be[i] = GUINT64_TO_BE (l2[i] | QCOW2_OFLAG_COPIED);
  if (l1_size > 0 && !strata_file_pwrite (file, be, l1_size * 8, l1_offset, error))
    goto out;

  /* qemu-img wrote the refcount tables it gave up; their clusters stay written (zeros
   * here, a stale table there) where nothing else went: the same disk use, and data
   * clusters reusing them are reported as data by `qemu-img map` on both. */
  memset (buf, 0, cs);
  for (guint i = 0; i < p.replaced->len; i++)
    {
      guint64 *range = &g_array_index (p.replaced, guint64, 2 * i);

      for (guint64 off = 0; off < range[1]; off += cs)
        if (!strata_file_pwrite (file, buf, cs, range[0] + off, error))
          goto out;
    }

  /* The data area of falloc and full goes before the L2 tables, as in qemu-img: blocks
   * reserved at the end of the file then, which the file system reports as data. */
  if (mode != STRATA_PREALLOC_METADATA && data > 0)
    {
      g_autofree guint8 *zeros = g_malloc0 (1024 * 1024);
      Run *run = &g_array_index (runs, Run, 0);

      if (!fill_data (file, mode, run->host * cs, data * cs, zeros, 1024 * 1024, error))
        goto out;
    }

  /* L2 tables: every entry maps its own cluster (with extended L2, no subcluster is marked
   * allocated, so a backing file still shows through, as in qemu-img). */
  for (guint i = 0; i < runs->len; )
    {
      guint64 table = g_array_index (runs, Run, i).guest / l2_entries;

      memset (buf, 0, cs);
      for (; i < runs->len && g_array_index (runs, Run, i).guest / l2_entries == table; i++)
        {
          Run *run = &g_array_index (runs, Run, i);

          for (guint64 k = 0; k < run->n; k++)
            qcow2_stq (buf + ((run->guest + k) % l2_entries) * entry_bytes,
                       ((run->host + k) * cs) | QCOW2_OFLAG_COPIED);
        }
      if (!strata_file_pwrite (file, buf, cs, l2[table], error))
        goto out;
    }

  if (!strata_file_truncate (file, p.file_end, error))
    goto out;

  /* qemu-img leaves the file ending where the image does and then, without extended L2,
   * pads the last cluster with zeros: that tail is written data, which `qemu-img map`
   * reports as not zero. */
  if (mode == STRATA_PREALLOC_METADATA && runs->len > 0 && virtual_size % cs != 0 &&
      entry_bytes == 8)
    {
      Run *last = &g_array_index (runs, Run, runs->len - 1);
      guint64 tail = last->host * cs + (virtual_size - last->guest * cs);
      guint64 end = (last->host + last->n) * cs;

      memset (buf, 0, cs);
      if (!strata_file_pwrite (file, buf, end - tail, tail, error))
        goto out;
    }
  ok = strata_file_flush (file, error);

out:
  g_array_unref (p.replaced);
  g_free (p.used);
  g_free (p.rt);
  return ok;
}

/* ------------------------------------------------------------------------------------ */
/* Growing an open image                                                                  */

/* The guest clusters of [first, end) that have no host cluster, in guest order. */
static gboolean
clusters_to_map (Qcow2State  *s,
                 guint64      first,
                 guint64      end,
                 GArray      *clusters,
                 GError     **error)
{
  for (guint64 c = first; c < end; c++)
    {
      guint64 entry, bitmap;

      if (!qcow2_get_l2_entry (s, c << s->cluster_bits, &entry, &bitmap, error))
        return FALSE;
      if ((entry & QCOW2_OFLAG_COMPRESSED) || (entry & QCOW2_OFFSET_MASK) != 0)
        continue;
      g_array_append_val (clusters, c);
    }
  return TRUE;
}

/* Points guest cluster @c at @host, keeping what the old entry says of subclusters; the
 * head of a cluster cut by the old size @from is copied from the current guest view. */
static gboolean
map_cluster (StrataImage  *image,
             guint64       c,
             guint64       host,
             guint64       from,
             guint8       *buf,
             GError      **error)
{
  Qcow2State *s = QCOW2_STATE (image);
  guint64 guest = c << s->cluster_bits;
  guint64 entry, bitmap;

  if (!qcow2_get_l2_entry (s, guest, &entry, &bitmap, error))
    return FALSE;
  if (!s->extended_l2 && guest < from)
    {
      /* As qemu-img copies it on write: the head keeps reading what it reads now. */
      if (!qcow2_read (image, guest, from - guest, buf, error) ||
          !strata_file_pwrite (s->file, buf, from - guest, host, error))
        return FALSE;
      s->data_unflushed = TRUE;
    }
  return qcow2_set_l2_entry (s, guest, host | QCOW2_OFLAG_COPIED,
                             s->extended_l2 ? bitmap : 0, error);
}

gboolean
strata_qcow2_preallocate (StrataImage     *image,
                          guint64          from,
                          guint64          to,
                          StrataPrealloc   mode,
                          GError         **error)
{
  Qcow2State *s;
  guint64 cs, file_end, tail_end = 0, tail = 0;
  g_autoptr(GArray) clusters = g_array_new (FALSE, FALSE, sizeof (guint64));
  g_autofree guint8 *buf = NULL;
  guint64 old_file_size;

  g_return_val_if_fail (image != NULL, FALSE);

  if (g_strcmp0 (image->driver->name, "qcow2") != 0 || mode == STRATA_PREALLOC_OFF ||
      to <= from)
    return TRUE;
  s = QCOW2_STATE (image);
  cs = s->cluster_size;
  if (!qcow2_begin_change (s, error) ||
      !clusters_to_map (s, from >> s->cluster_bits, (to + cs - 1) >> s->cluster_bits,
                        clusters, error))
    return FALSE;
  if (clusters->len == 0)
    return TRUE;
  old_file_size = s->file_size;
  buf = g_malloc (cs);

  if (mode == STRATA_PREALLOC_METADATA)
    {
      for (guint i = 0; i < clusters->len; )
        {
          guint64 c = g_array_index (clusters, guint64, i);
          guint64 n = 1, host, entry, bitmap;

          /* A run of consecutive clusters within one L2 table. */
          while (i + n < clusters->len &&
                 g_array_index (clusters, guint64, i + n) == c + n &&
                 ((c + n) & (s->l2_entries - 1)) != 0)
            n++;
          /* Its L2 table comes first, then its data, as in qemu-img. */
          if (!qcow2_get_l2_entry (s, c << s->cluster_bits, &entry, &bitmap, error) ||
              !qcow2_set_l2_entry (s, c << s->cluster_bits, entry, bitmap, error) ||
              !qcow2_alloc_clusters (s, n, &host, error))
            return FALSE;
          /* Clusters used before hold old bytes; the new ones must read as zeros. */
          if (host < old_file_size)
            {
              memset (buf, 0, cs);
              for (guint64 k = 0; k < n && host + k * cs < old_file_size; k++)
                if (!strata_file_pwrite (s->file, buf, cs, host + k * cs, error))
                  return FALSE;
              s->data_unflushed = TRUE;
            }
          for (guint64 k = 0; k < n; k++)
            if (!map_cluster (image, c + k, host + k * cs, from, buf, error))
              return FALSE;
          if (c + n == (to + cs - 1) >> s->cluster_bits)
            {
              tail = host + (n - 1) * cs + (to - ((c + n - 1) << s->cluster_bits));
              tail_end = host + n * cs;
            }
          i += n;
        }
    }
  else
    {
      g_autofree guint8 *zeros = g_malloc0 (1024 * 1024);
      guint64 host;

      /* All data first, in one piece; then the L2 tables. */
      if (!qcow2_alloc_clusters (s, clusters->len, &host, error) ||
          !fill_data (s->file, mode, host, (guint64) clusters->len * cs, zeros, 1024 * 1024,
                      error))
        return FALSE;
      s->data_unflushed = TRUE;
      for (guint i = 0; i < clusters->len; i++)
        if (!map_cluster (image, g_array_index (clusters, guint64, i), host + i * cs, from,
                          buf, error))
          return FALSE;
    }

  if (!qcow2_flush (image, error))
    return FALSE;

  /* The file reaches the last cluster in use, ending as qemu-img ends it (see create):
   * with the last subcluster of the image, or padded with zeros to the cluster's end. */
  if (!strata_file_get_size (s->file, &file_end, error))
    return FALSE;
  if (file_end < s->host_end)
    {
      guint64 end = s->host_end;
      gboolean at_tail = tail_end == s->host_end && tail < tail_end;

      if (at_tail && s->extended_l2)
        end = (tail + cs / 32 - 1) & ~(cs / 32 - 1);
      if (!strata_file_truncate (s->file, MAX (end, file_end), error))
        return FALSE;
      if (at_tail && !s->extended_l2 && tail >= file_end)
        {
          memset (buf, 0, cs);
          if (!strata_file_pwrite (s->file, buf, tail_end - tail, tail, error))
            return FALSE;
        }
    }
  return strata_file_flush (s->file, error);
}
