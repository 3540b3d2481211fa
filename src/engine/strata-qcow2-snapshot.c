/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "strata-qcow2-private.h"

#include <stdlib.h>

/*
 * qcow2 internal snapshots (docs/interop/qcow2.rst, "Snapshots"): the snapshot table, and
 * creating, applying and deleting snapshots.
 *
 * A snapshot is a copy of the active L1 table that shares every L2 table and data cluster
 * with it; each cluster's refcount is the number of paths from an L1 table (the active one
 * and the snapshots') to it. The writer (strata-qcow2-write.c) copies a shared L2 table or
 * data cluster before it changes it. COPIED (bit 63) in the active tables says "refcount is
 * exactly 1: write in place"; a COPIED flag on a shared cluster would let a write change a
 * snapshot, so the flag is always cleared on disk before a refcount rises above 1 and set
 * only once the refcount that dropped to 1 is on disk. A power cut between the two leaves a
 * flag missing where the refcount is 1 (qemu-img check calls that an error; it harms
 * nothing, a writer just copies the cluster once) and leaked clusters, never a flag on a
 * shared cluster or a refcount too low.
 *
 * Order of each operation, with flushes between the steps:
 *   create: COPIED cleared in the active tables -> refcounts +1 -> the snapshot's L1 table
 *           and the new snapshot table -> header -> the old table freed;
 *   apply:  refcounts +1 for the snapshot's tree -> a new active L1 table holding its
 *           entries -> header (size, L1) -> refcounts -1 for the old active tree -> COPIED
 *           set where the refcount is 1;
 *   delete: the snapshot table without it -> header -> refcounts -1 for its tree and its
 *           L1 table -> COPIED set where the refcount is 1.
 */

#define SNAPSHOT_HEADER_SIZE 40
#define SNAPSHOT_EXTRA_SIZE  24   /* vm_state_size_large, disk_size, icount */

void
qcow2_free_snapshots (Qcow2State *s)
{
  for (guint32 i = 0; s->snapshots != NULL && i < s->nb_snapshots; i++)
    {
      g_free (s->snapshots[i].id);
      g_free (s->snapshots[i].name);
      g_free (s->snapshots[i].unknown_extra);
    }
  g_clear_pointer (&s->snapshots, g_free);
}

static gboolean
read_at (Qcow2State  *s,
         void        *buf,
         guint64      length,
         guint64      offset,
         GError     **error)
{
  if (length == 0)
    return TRUE;
  if (offset > s->file_size || length > s->file_size - offset)
    return qcow2_corrupt (s, error, "the snapshot table at 0x%" G_GINT64_MODIFIER "x runs "
                          "past the end of the file", s->snapshots_offset);
  return strata_file_pread (s->file, buf, length, offset, error);
}

gboolean
qcow2_read_snapshots (Qcow2State  *s,
                      GError     **error)
{
  guint64 offset = s->snapshots_offset;

  s->snapshots_size = 0;
  if (s->nb_snapshots == 0)
    return TRUE;

  s->snapshots = g_new0 (Qcow2Snapshot, s->nb_snapshots);
  for (guint32 i = 0; i < s->nb_snapshots; i++)
    {
      Qcow2Snapshot *sn = &s->snapshots[i];
      guint8 h[SNAPSHOT_HEADER_SIZE], extra[SNAPSHOT_EXTRA_SIZE] = { 0 };
      guint32 extra_size, known;
      guint16 id_size, name_size;

      offset = (offset + 7) & ~7ull;
      if (!read_at (s, h, sizeof h, offset, error))
        return FALSE;
      offset += sizeof h;

      sn->l1_table_offset = qcow2_ldq (h);
      sn->l1_size = qcow2_ldl (h + 8);
      id_size = (h[12] << 8) | h[13];
      name_size = (h[14] << 8) | h[15];
      sn->date_sec = qcow2_ldl (h + 16);
      sn->date_nsec = qcow2_ldl (h + 20);
      sn->vm_clock_nsec = qcow2_ldq (h + 24);
      sn->vm_state_size = qcow2_ldl (h + 32);
      extra_size = qcow2_ldl (h + 36);

      if (extra_size > QCOW2_MAX_SNAPSHOT_EXTRA)
        return qcow2_corrupt (s, error, "Too much extra metadata in snapshot table entry %u",
                              i);
      known = MIN (extra_size, SNAPSHOT_EXTRA_SIZE);
      if (!read_at (s, extra, known, offset, error))
        return FALSE;
      offset += known;
      if (extra_size >= 8)
        sn->vm_state_size = qcow2_ldq (extra);
      sn->disk_size = extra_size >= 16 ? qcow2_ldq (extra + 8) : s->image->virtual_size;
      sn->icount = extra_size >= 24 ? qcow2_ldq (extra + 16) : G_MAXUINT64;
      if (extra_size > SNAPSHOT_EXTRA_SIZE)
        {
          sn->unknown_extra_size = extra_size - SNAPSHOT_EXTRA_SIZE;
          sn->unknown_extra = g_malloc (sn->unknown_extra_size);
          if (!read_at (s, sn->unknown_extra, sn->unknown_extra_size, offset, error))
            return FALSE;
          offset += sn->unknown_extra_size;
        }

      sn->id = g_malloc0 (id_size + 1);
      if (!read_at (s, sn->id, id_size, offset, error))
        return FALSE;
      offset += id_size;
      sn->name = g_malloc0 (name_size + 1);
      if (!read_at (s, sn->name, name_size, offset, error))
        return FALSE;
      offset += name_size;

      if (offset - s->snapshots_offset > QCOW2_MAX_SNAPSHOTS_BYTES)
        return qcow2_corrupt (s, error, "Snapshot table is too big");
    }

  s->snapshots_size = offset - s->snapshots_offset;
  return TRUE;
}

/* ------------------------------------------------------------------------------------ */
/* Writing the table                                                                      */

static GByteArray *
serialize_table (const Qcow2Snapshot *list,
                 guint32              n)
{
  GByteArray *buf = g_byte_array_new ();

  for (guint32 i = 0; i < n; i++)
    {
      const Qcow2Snapshot *sn = &list[i];
      guint8 h[SNAPSHOT_HEADER_SIZE] = { 0 }, extra[SNAPSHOT_EXTRA_SIZE];
      static const guint8 pad[8] = { 0 };
      gsize id_size = strlen (sn->id), name_size = strlen (sn->name);

      g_byte_array_append (buf, pad, ((buf->len + 7) & ~7u) - buf->len);
      qcow2_stq (h, sn->l1_table_offset);
      qcow2_stl (h + 8, sn->l1_size);
      h[12] = id_size >> 8;
      h[13] = id_size & 0xff;
      h[14] = name_size >> 8;
      h[15] = name_size & 0xff;
      qcow2_stl (h + 16, sn->date_sec);
      qcow2_stl (h + 20, sn->date_nsec);
      qcow2_stq (h + 24, sn->vm_clock_nsec);
      /* A state too large for 32 bits reads as none to old readers, not as a cut one. */
      qcow2_stl (h + 32, sn->vm_state_size <= G_MAXUINT32 ? sn->vm_state_size : 0);
      qcow2_stl (h + 36, SNAPSHOT_EXTRA_SIZE + sn->unknown_extra_size);
      qcow2_stq (extra, sn->vm_state_size);
      qcow2_stq (extra + 8, sn->disk_size);
      qcow2_stq (extra + 16, sn->icount);

      g_byte_array_append (buf, h, sizeof h);
      g_byte_array_append (buf, extra, sizeof extra);
      if (sn->unknown_extra_size > 0)
        g_byte_array_append (buf, sn->unknown_extra, sn->unknown_extra_size);
      g_byte_array_append (buf, (const guint8 *) sn->id, id_size);
      g_byte_array_append (buf, (const guint8 *) sn->name, name_size);
    }
  return buf;
}

/*
 * Replaces the snapshot table with @list (which the state then owns): the new table and
 * its refcounts on disk, then the header points at it, then the old table is freed.
 */
static gboolean
write_table (Qcow2State     *s,
             Qcow2Snapshot  *list,
             guint32         n,
             GError        **error)
{
  g_autoptr(GByteArray) buf = serialize_table (list, n);
  guint64 old_offset = s->snapshots_offset, old_size = s->snapshots_size;
  guint64 offset = 0;
  guint8 h[12];

  if (buf->len > QCOW2_MAX_SNAPSHOTS_BYTES)
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_UNSUPPORTED,
                   "%s: the snapshot table would exceed its 64 MiB limit", s->filename);
      return FALSE;
    }

  if (buf->len > 0)
    {
      if (!qcow2_alloc_clusters (s, (buf->len + s->cluster_size - 1) >> s->cluster_bits,
                                 &offset, error) ||
          !strata_file_pwrite (s->file, buf->data, buf->len, offset, error))
        return FALSE;
      s->data_unflushed = TRUE;
    }
  if (!qcow2_writeback_refcounts (s, error))
    return FALSE;

  qcow2_stl (h, n);
  qcow2_stq (h + 4, offset);
  if (!strata_file_pwrite (s->file, h, sizeof h, 60, error) ||
      !strata_file_flush (s->file, error))
    return FALSE;

  qcow2_free_snapshots (s);
  s->snapshots = list;
  s->nb_snapshots = n;
  s->snapshots_offset = offset;
  s->snapshots_size = buf->len;

  if (old_size > 0 && !qcow2_update_refcount (s, old_offset, old_size, -1, error))
    return FALSE;
  return TRUE;
}

static Qcow2Snapshot *
copy_list (Qcow2State *s,
           guint32     extra_slots,
           guint32     skip)
{
  Qcow2Snapshot *list = g_new0 (Qcow2Snapshot, s->nb_snapshots + extra_slots);
  guint32 n = 0;

  for (guint32 i = 0; i < s->nb_snapshots; i++)
    {
      if (i == skip)
        continue;
      list[n] = s->snapshots[i];
      list[n].id = g_strdup (s->snapshots[i].id);
      list[n].name = g_strdup (s->snapshots[i].name);
      list[n].unknown_extra = g_memdup2 (s->snapshots[i].unknown_extra,
                                         s->snapshots[i].unknown_extra_size);
      n++;
    }
  return list;
}

static void
free_list (Qcow2Snapshot *list,
           guint32        n)
{
  for (guint32 i = 0; i < n; i++)
    {
      g_free (list[i].id);
      g_free (list[i].name);
      g_free (list[i].unknown_extra);
    }
  g_free (list);
}

/* ------------------------------------------------------------------------------------ */
/* Walking a tree of tables                                                               */

/* Reads a snapshot's L1 table (host byte order), validated as QEMU does. */
static guint64 *
read_l1 (Qcow2State           *s,
         const Qcow2Snapshot  *sn,
         GError              **error)
{
  g_autofree guint64 *l1 = g_new0 (guint64, MAX (sn->l1_size, 1));

  if ((guint64) sn->l1_size * 8 > QCOW2_MAX_L1_BYTES)
    {
      qcow2_corrupt (s, error, "Snapshot L1 table is too large (%u entries)", sn->l1_size);
      return NULL;
    }
  if (sn->l1_size > 0)
    {
      if (!qcow2_check_host_range (s, sn->l1_table_offset, (guint64) sn->l1_size * 8,
                                   s->cluster_size, "Snapshot L1 table", error) ||
          !strata_file_pread (s->file, l1, (gsize) sn->l1_size * 8, sn->l1_table_offset,
                              error))
        return NULL;
    }
  for (guint32 i = 0; i < sn->l1_size; i++)
    l1[i] = GUINT64_FROM_BE (l1[i]);
  return g_steal_pointer (&l1);
}

/* Calls @visit for the L2 table and every host range each L1 entry leads to (the L2
 * table last). */
typedef gboolean (*VisitFunc) (Qcow2State *s, guint64 offset, guint64 length,
                               gpointer data, GError **error);

static gboolean
walk_tree (Qcow2State     *s,
           const guint64  *l1,
           guint32         l1_size,
           VisitFunc       visit,
           gpointer        data,
           GError        **error)
{
  g_autofree guint8 *l2 = g_malloc (s->cluster_size);

  for (guint32 i = 0; i < l1_size; i++)
    {
      guint64 l2_offset = l1[i] & QCOW2_OFFSET_MASK;
      const guint8 *cached;

      if (l2_offset == 0)
        continue;
      if (!qcow2_check_host_range (s, l2_offset, s->cluster_size, s->cluster_size,
                                   "L2 table", error))
        return FALSE;
      /* A copy: a refcount dropping to 0 may drop the cached table meanwhile. */
      cached = qcow2_cache_get (s, &s->l2_cache, l2_offset, FALSE, error);
      if (cached == NULL)
        return FALSE;
      memcpy (l2, cached, s->cluster_size);

      for (guint64 j = 0; j < s->l2_entries; j++)
        {
          guint64 entry = qcow2_ldq (l2 + j * s->l2_entry_bytes);
          guint64 host, length;

          if (entry & QCOW2_OFLAG_COMPRESSED)
            {
              qcow2_compressed_range (s, entry, &host, &length);
              /* (The last cluster of the file may be short: only the start must be in.) */
              if (!qcow2_check_host_range (s, host, 1, 1, "compressed cluster", error))
                return FALSE;
            }
          else
            {
              host = entry & QCOW2_OFFSET_MASK;
              length = s->cluster_size;
              if (host == 0)
                continue;
              if (!qcow2_check_host_range (s, host, 1, s->cluster_size, "data cluster",
                                           error))
                return FALSE;
            }
          if (!visit (s, host, length, data, error))
            return FALSE;
        }
      if (!visit (s, l2_offset, s->cluster_size, data, error))
        return FALSE;
    }
  return TRUE;
}

static gboolean
visit_update (Qcow2State  *s,
              guint64      offset,
              guint64      length,
              gpointer     data,
              GError     **error)
{
  return qcow2_update_refcount (s, offset, length, *(gint64 *) data, error);
}

static gboolean
update_tree (Qcow2State     *s,
             const guint64  *l1,
             guint32         l1_size,
             gint64          delta,
             GError        **error)
{
  return walk_tree (s, l1, l1_size, visit_update, &delta, error);
}

typedef struct
{
  GHashTable *added;   /* cluster index -> increments so far */
} Preflight;

static gboolean
visit_preflight (Qcow2State  *s,
                 guint64      offset,
                 guint64      length,
                 gpointer     data,
                 GError     **error)
{
  Preflight *p = data;

  for (guint64 c = offset >> s->cluster_bits; c <= (offset + length - 1) >> s->cluster_bits;
       c++)
    {
      guint64 rc, added = GPOINTER_TO_SIZE (g_hash_table_lookup (p->added, &c)) + 1;

      if (!qcow2_get_refcount (s, c, &rc, error))
        return FALSE;
      if (rc > qcow2_refcount_max (s) - added)
        {
          g_set_error (error, STRATA_ERROR, STRATA_ERROR_INVALID_ARGUMENT,
                       "%s: the refcount of cluster 0x%" G_GINT64_MODIFIER "x would "
                       "overflow its %u bits", s->filename, c << s->cluster_bits,
                       s->refcount_bits);
          return FALSE;
        }
      g_hash_table_insert (p->added, g_memdup2 (&c, sizeof c), GSIZE_TO_POINTER (added));
    }
  return TRUE;
}

/* Refuses, before anything changes, a share that narrow refcounts cannot count (QEMU
 * finds out half way and leaks what it did). Wide refcounts cannot overflow this way. */
static gboolean
preflight_share (Qcow2State     *s,
                 const guint64  *l1,
                 guint32         l1_size,
                 GError        **error)
{
  Preflight p;
  gboolean ok;

  if (s->refcount_bits >= 16)
    return TRUE;
  p.added = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, NULL);
  ok = walk_tree (s, l1, l1_size, visit_preflight, &p, error);
  g_hash_table_unref (p.added);
  return ok;
}

/*
 * Sets COPIED on every entry of the active tables exactly where the refcount is 1 (or,
 * with @clear, clears it everywhere) in the caches; the caller writes back, which puts
 * refcount changes on disk before the tables.
 */
static gboolean
fix_copied (Qcow2State  *s,
            gboolean     clear,
            GError     **error)
{
  for (guint32 i = 0; i < s->l1_size; i++)
    {
      guint64 l2_offset = s->l1_table[i] & QCOW2_OFFSET_MASK;
      gboolean l2_dirty = FALSE;
      guint64 rc = 0;
      guint8 *l2;

      if (l2_offset == 0)
        continue;
      if (!qcow2_check_host_range (s, l2_offset, s->cluster_size, s->cluster_size,
                                   "L2 table", error) ||
          (!clear && !qcow2_get_refcount (s, l2_offset >> s->cluster_bits, &rc, error)))
        return FALSE;
      if ((rc == 1) != ((s->l1_table[i] & QCOW2_OFLAG_COPIED) != 0))
        {
          s->l1_table[i] ^= QCOW2_OFLAG_COPIED;
          g_array_append_val (s->dirty_l1, i);
        }

      l2 = qcow2_cache_get (s, &s->l2_cache, l2_offset, FALSE, error);
      if (l2 == NULL)
        return FALSE;
      for (guint64 j = 0; j < s->l2_entries; j++)
        {
          guint8 *p = l2 + j * s->l2_entry_bytes;
          guint64 entry = qcow2_ldq (p), host = entry & QCOW2_OFFSET_MASK;

          if ((entry & QCOW2_OFLAG_COMPRESSED) || host == 0)
            continue;
          rc = 0;
          if (!clear && !qcow2_get_refcount (s, host >> s->cluster_bits, &rc, error))
            return FALSE;
          if ((rc == 1) != ((entry & QCOW2_OFLAG_COPIED) != 0))
            {
              qcow2_stq (p, entry ^ QCOW2_OFLAG_COPIED);
              l2_dirty = TRUE;
            }
        }
      if (l2_dirty)
        qcow2_cache_mark_dirty (&s->l2_cache, l2_offset);
    }
  return TRUE;
}

/* ------------------------------------------------------------------------------------ */
/* Operations                                                                             */

static Qcow2State *
state_for_change (StrataImage  *image,
                  GError      **error)
{
  Qcow2State *s;

  if (g_strcmp0 (image->driver->name, "qcow2") != 0)
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_NO_SNAPSHOTS,
                   "%s: Block driver does not support snapshots", image->filename);
      return NULL;
    }
  s = QCOW2_STATE (image);
  g_return_val_if_fail (s->writable, NULL);
  if (!qcow2_begin_change (s, error) || !qcow2_flush (image, error))
    return NULL;
  return s;
}

gboolean
strata_qcow2_snapshot_find (StrataImage  *image,
                            const char   *id,
                            const char   *name,
                            guint        *index)
{
  Qcow2State *s;

  if (g_strcmp0 (image->driver->name, "qcow2") != 0)
    return FALSE;
  s = QCOW2_STATE (image);
  for (guint32 i = 0; i < s->nb_snapshots; i++)
    if ((id == NULL || strcmp (s->snapshots[i].id, id) == 0) &&
        (name == NULL || strcmp (s->snapshots[i].name, name) == 0))
      {
        *index = i;
        return TRUE;
      }
  return FALSE;
}

gboolean
strata_qcow2_snapshot_create (StrataImage  *image,
                              const char   *name,
                              gint64        date_sec,
                              guint32       date_nsec,
                              GError      **error)
{
  Qcow2State *s = state_for_change (image, error);
  g_autofree guint64 *be = NULL;
  Qcow2Snapshot *list, *sn;
  guint64 id_max = 0, l1_offset = 0, l1_bytes;

  if (s == NULL)
    return FALSE;
  if (s->nb_snapshots >= QCOW2_MAX_SNAPSHOTS)
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_UNSUPPORTED,
                   "%s: too many snapshots (at most %d)", s->filename, QCOW2_MAX_SNAPSHOTS);
      return FALSE;
    }
  if (strlen (name) > G_MAXUINT16)
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_INVALID_ARGUMENT,
                   "%s: the snapshot name is too long", s->filename);
      return FALSE;
    }
  if (!preflight_share (s, s->l1_table, s->l1_size, error))
    return FALSE;

  /* (1) No COPIED flag may survive on what is about to be shared. */
  if (!fix_copied (s, TRUE, error) || !qcow2_writeback (s, error))
    return FALSE;
  /* (2) Everything the active tables reach gains a reference. */
  if (!update_tree (s, s->l1_table, s->l1_size, 1, error))
    return FALSE;

  /* (3) The snapshot's own L1 table, then the table that lists it. */
  l1_bytes = (guint64) s->l1_size * 8;
  if (l1_bytes > 0)
    {
      be = g_new (guint64, s->l1_size);
      for (guint32 i = 0; i < s->l1_size; i++)
        be[i] = GUINT64_TO_BE (s->l1_table[i] & ~QCOW2_OFLAG_COPIED);
      if (!qcow2_alloc_clusters (s, (l1_bytes + s->cluster_size - 1) >> s->cluster_bits,
                                 &l1_offset, error) ||
          !strata_file_pwrite (s->file, be, l1_bytes, l1_offset, error))
        return FALSE;
      s->data_unflushed = TRUE;
    }

  for (guint32 i = 0; i < s->nb_snapshots; i++)
    id_max = MAX (id_max, strtoul (s->snapshots[i].id, NULL, 10));

  list = copy_list (s, 1, G_MAXUINT32);
  sn = &list[s->nb_snapshots];
  sn->l1_table_offset = l1_offset;
  sn->l1_size = s->l1_size;
  sn->id = g_strdup_printf ("%" G_GUINT64_FORMAT, id_max + 1);
  sn->name = g_strdup (name);
  sn->date_sec = (guint32) date_sec;
  sn->date_nsec = date_nsec;
  sn->disk_size = image->virtual_size;
  sn->icount = 0;   /* what qemu-img records without record/replay */

  if (!write_table (s, list, s->nb_snapshots + 1, error))
    {
      free_list (list, s->nb_snapshots + 1);
      return FALSE;
    }
  return qcow2_flush (image, error);
}

gboolean
strata_qcow2_snapshot_apply (StrataImage  *image,
                             guint         index,
                             GError      **error)
{
  Qcow2State *s = state_for_change (image, error);
  g_autofree guint64 *sn_l1 = NULL, *old_l1 = NULL, *be = NULL;
  guint64 per_l1, needed, new_size, l1_offset, clusters;
  guint64 old_offset, old_size;
  const Qcow2Snapshot *sn;
  guint8 h[24];

  if (s == NULL)
    return FALSE;
  g_return_val_if_fail (index < s->nb_snapshots, FALSE);
  sn = &s->snapshots[index];

  per_l1 = s->cluster_size << s->l2_bits;
  needed = sn->disk_size / per_l1 + (sn->disk_size % per_l1 != 0);
  if (needed > QCOW2_MAX_L1_BYTES / 8)
    return qcow2_corrupt (s, error, "snapshot %s has a disk size too large for its cluster "
                          "size", sn->id);
  new_size = MAX (needed, sn->l1_size);

  sn_l1 = read_l1 (s, sn, error);
  if (sn_l1 == NULL || !preflight_share (s, sn_l1, sn->l1_size, error))
    return FALSE;

  /* (1) What the snapshot reaches gains the active image's reference. */
  if (!update_tree (s, sn_l1, sn->l1_size, 1, error))
    return FALSE;

  /* (2) A new active L1 table with the snapshot's entries (no COPIED yet). */
  clusters = (new_size * 8 + s->cluster_size - 1) >> s->cluster_bits;
  l1_offset = 0;   /* an empty image (size 0) has no L1 table */
  if (clusters > 0)
    {
      be = g_new0 (guint64, clusters * s->cluster_size / 8);
      for (guint32 i = 0; i < sn->l1_size; i++)
        be[i] = GUINT64_TO_BE (sn_l1[i] & ~QCOW2_OFLAG_COPIED);
      if (!qcow2_alloc_clusters (s, clusters, &l1_offset, error) ||
          !strata_file_pwrite (s->file, be, clusters * s->cluster_size, l1_offset, error))
        return FALSE;
      s->data_unflushed = TRUE;
    }
  if (!qcow2_writeback_refcounts (s, error))
    return FALSE;

  /* (3) The header switches size and L1 table in one sector write. */
  qcow2_stq (h, sn->disk_size);
  qcow2_stl (h + 8, s->crypt_method);
  qcow2_stl (h + 12, new_size);
  qcow2_stq (h + 16, l1_offset);
  if (!strata_file_pwrite (s->file, h, sizeof h, 24, error) ||
      !strata_file_flush (s->file, error))
    return FALSE;

  old_l1 = s->l1_table;
  old_size = s->l1_size;
  old_offset = s->l1_table_offset;
  s->l1_table = g_new0 (guint64, MAX (new_size, 1));
  memcpy (s->l1_table, sn_l1, (gsize) sn->l1_size * 8);
  for (guint64 i = 0; i < new_size; i++)
    s->l1_table[i] &= ~QCOW2_OFLAG_COPIED;
  s->l1_size = new_size;
  s->l1_table_offset = l1_offset;
  image->virtual_size = sn->disk_size;
  s->cached_cluster_valid = FALSE;

  /* (4) The old active tree loses its reference, then (5) COPIED follows the refcounts
   * (the write back puts the refcounts on disk first). */
  if (!update_tree (s, old_l1, old_size, -1, error) ||
      (old_size > 0 && !qcow2_update_refcount (s, old_offset, old_size * 8, -1, error)) ||
      !qcow2_writeback_refcounts (s, error) ||
      !fix_copied (s, FALSE, error))
    return FALSE;
  return qcow2_flush (image, error);
}

gboolean
strata_qcow2_snapshot_delete (StrataImage  *image,
                              guint         index,
                              GError      **error)
{
  Qcow2State *s = state_for_change (image, error);
  g_autofree guint64 *sn_l1 = NULL;
  Qcow2Snapshot sn, *list;
  guint32 n;

  if (s == NULL)
    return FALSE;
  g_return_val_if_fail (index < s->nb_snapshots, FALSE);
  sn = s->snapshots[index];
  sn_l1 = read_l1 (s, &sn, error);
  if (sn_l1 == NULL)
    return FALSE;

  /* (1) Out of the table first: from then on nothing on disk references its tree. */
  n = s->nb_snapshots - 1;
  list = copy_list (s, 0, index);
  if (!write_table (s, list, n, error))
    {
      free_list (list, n);
      return FALSE;
    }

  /* (2) Its references go, (3) then COPIED follows the refcounts. */
  if (!update_tree (s, sn_l1, sn.l1_size, -1, error) ||
      (sn.l1_size > 0 &&
       !qcow2_update_refcount (s, sn.l1_table_offset, (guint64) sn.l1_size * 8, -1, error)) ||
      !qcow2_writeback_refcounts (s, error) ||
      !fix_copied (s, FALSE, error))
    return FALSE;
  return qcow2_flush (image, error);
}

GPtrArray *
strata_qcow2_snapshot_list (StrataImage *image)
{
  GPtrArray *list = g_ptr_array_new_with_free_func ((GDestroyNotify) strata_snapshot_info_free);
  Qcow2State *s;

  if (g_strcmp0 (image->driver->name, "qcow2") != 0)
    return list;
  s = QCOW2_STATE (image);
  for (guint32 i = 0; i < s->nb_snapshots; i++)
    {
      const Qcow2Snapshot *sn = &s->snapshots[i];
      StrataSnapshotInfo *info = g_new0 (StrataSnapshotInfo, 1);

      info->id = g_strdup (sn->id);
      info->name = g_strdup (sn->name);
      info->vm_state_size = sn->vm_state_size;
      info->date_sec = sn->date_sec;
      info->date_nsec = sn->date_nsec;
      info->vm_clock_nsec = sn->vm_clock_nsec;
      info->disk_size = sn->disk_size;
      info->has_icount = sn->icount != G_MAXUINT64;
      info->icount = sn->icount;
      g_ptr_array_add (list, info);
    }
  return list;
}
