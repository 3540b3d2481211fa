/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "strata-commit.h"
#include "strata-check.h"
#include "strata-copy.h"
#include "strata-error.h"
#include "strata-image.h"
#include "strata-protect.h"
#include "strata-qcow2-private.h"
#include "strata-siblings.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define STEP (2 * 1024 * 1024)

void
strata_commit_result_clear (StrataCommitResult *result)
{
  g_clear_pointer (&result->base, g_free);
  g_clear_pointer (&result->original_base, g_free);
  memset (result, 0, sizeof *result);
}

static void
measure (const char *path, guint64 *apparent, guint64 *allocated)
{
  struct stat st;

  *apparent = *allocated = 0;
  if (stat (path, &st) == 0)
    {
      *apparent = st.st_size;
      *allocated = (guint64) st.st_blocks * 512;
    }
}

static void
measure_both (const char *overlay, const char *base, StrataCommitSizes *sizes)
{
  measure (overlay, &sizes->overlay_apparent, &sizes->overlay_allocated);
  measure (base, &sizes->base_apparent, &sizes->base_allocated);
}

/* Where the chain above the base answers for the run at @offset: whether some layer above
 * the base has it (data or zeros; past the end of a shorter layer the guest reads zeros
 * that layer decided, as QEMU counts them), whether it is stored compressed there and how
 * long the run is. */
static gboolean
allocated_above (StrataImage      *top,
                 guint             depth,
                 guint64           offset,
                 guint64           length,
                 StrataBlockKind  *kind,
                 gboolean         *compressed,
                 guint64          *run,
                 GError          **error)
{
  StrataImage *layer = top;

  for (guint i = 0; i < depth; i++, layer = strata_image_get_backing (layer))
    {
      StrataBlockStatus bs;
      guint64 size = strata_image_get_size (layer);

      *compressed = FALSE;
      if (offset >= size)
        {
          *kind = STRATA_BLOCK_ZERO;
          *run = length;
          return TRUE;
        }
      if (!strata_image_block_status (layer, offset, MIN (length, size - offset), &bs, error))
        return FALSE;
      length = bs.length;
      if (bs.kind != STRATA_BLOCK_UNALLOCATED)
        {
          *kind = bs.kind;
          *compressed = bs.compressed;
          *run = length;
          return TRUE;
        }
    }
  *kind = STRATA_BLOCK_UNALLOCATED;
  *run = length;
  return TRUE;
}

/* Counts what the commit will write: the data bytes of the @depth layers from @overlay
 * down (1: the overlay alone; the upper layer wins), and how many base clusters will need a
 * fresh allocation (unallocated, zero or compressed there today). */
static gboolean
predict (StrataImage         *overlay,
         guint                depth,
         StrataImage         *base,
         gboolean             keep_overlay,
         const StrataCommitSizes *before,
         StrataCommitSizes   *predicted,
         guint64             *data_bytes,
         GCancellable        *cancellable,
         GError             **error)
{
  guint64 size = strata_image_get_size (overlay);
  guint64 base_size = strata_image_get_size (base);
  guint64 cluster = MAX (strata_image_get_cluster_size (base), 512);
  guint64 ocluster = MAX (strata_image_get_cluster_size (overlay), 512);
  guint64 new_clusters = 0, offset = 0, overlay_freed = 0;
  guint64 grow = size > base_size ? size - base_size : 0;

  *data_bytes = 0;
  while (offset < size)
    {
      StrataBlockKind kind;
      gboolean compressed;
      guint64 run;

      if (g_cancellable_set_error_if_cancelled (cancellable, error))
        return FALSE;
      if (!allocated_above (overlay, depth, offset, size - offset, &kind, &compressed, &run,
                            error))
        return FALSE;

      if (kind == STRATA_BLOCK_DATA)
        {
          guint64 pos = offset, end = offset + run;

          *data_bytes += run;
          /* The overlay frees whole clusters (compressed ones share theirs). */
          if (!compressed)
            overlay_freed += ((end + ocluster - 1) / ocluster - offset / ocluster) * ocluster;
          while (pos < end)
            {
              StrataBlockStatus bb;
              guint64 seg;

              if (pos >= base_size)
                {
                  new_clusters += (end - pos + cluster - 1) / cluster;
                  break;
                }
              if (!strata_image_block_status (base, pos, MIN (end, base_size) - pos, &bb, error))
                return FALSE;
              seg = bb.length;
              if (bb.kind != STRATA_BLOCK_DATA || bb.compressed)
                new_clusters += (pos + seg + cluster - 1) / cluster - pos / cluster;
              pos += seg;
            }
        }
      offset += run;
    }

  /* A raw base is the disk itself: it only grows to the overlay's size. A qcow2 base appends
   * the new clusters. */
  if (g_strcmp0 (strata_image_get_format (base), "raw") == 0)
    predicted->base_apparent = MAX (before->base_apparent, base_size + grow);
  else
    predicted->base_apparent = before->base_apparent + new_clusters * cluster;
  predicted->base_allocated = before->base_allocated + new_clusters * cluster;
  predicted->overlay_apparent = before->overlay_apparent;
  predicted->overlay_allocated = before->overlay_allocated;
  if (!keep_overlay)
    {
      /* What stays: the header, tables and refcounts, at least a couple of clusters. */
      guint64 floor = MIN (before->overlay_allocated, 2 * ocluster);

      predicted->overlay_allocated = MAX (floor, before->overlay_allocated -
                                          MIN (overlay_freed, before->overlay_allocated));
      /* The emptied overlay is cut to its header and tables (strata_qcow2_shrink). */
      if (g_strcmp0 (strata_image_get_format (overlay), "qcow2") == 0)
        predicted->overlay_apparent = MIN (before->overlay_apparent,
                                           MAX (predicted->overlay_allocated, 4 * ocluster));
    }
  return TRUE;
}

static gboolean
check_siblings (const char                *filename,
                const char                *base_path,
                const StrataCommitOptions *opts,
                GCancellable              *cancellable,
                GError                   **error)
{
  g_auto(GStrv) siblings = NULL;
  g_auto(GStrv) unsure = NULL;
  g_autofree char *list = NULL;

  if (opts->force)
    return TRUE;

  siblings = strata_find_siblings_full (base_path, opts->library_dirs, filename, &unsure,
                                        cancellable, error);
  if (siblings == NULL)
    return FALSE;
  if (siblings[0] == NULL && unsure[0] != NULL)
    {
      list = g_strjoinv ("; ", unsure);
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_SHARED_BASE,
                   "%s: %s. Check it, commit into a copy (--into-copy), or use --force to "
                   "accept the risk", base_path, list);
      return FALSE;
    }
  if (siblings[0] == NULL)
    return TRUE;

  list = g_strjoinv (", ", siblings);
  g_set_error (error, STRATA_ERROR, STRATA_ERROR_SHARED_BASE,
               "%s: other images also use this backing file and would see their content "
               "change: %s. Rebase them first, commit into a copy (--into-copy), or use "
               "--force to accept the risk", base_path, list);
  return FALSE;
}

/*
 * Grows @base to @size as QEMU does: where its own backing file is longer than @base was,
 * the new area must read as zeros, not as that backing file's data.
 */
static gboolean
grow_base (StrataImage  *base,
           const char   *base_path,
           guint64       size,
           GError      **error)
{
  guint64 old = strata_image_get_size (base);
  g_autoptr(StrataImage) below = NULL;
  guint64 below_size;

  if (size <= old)
    return TRUE;
  if (!strata_image_truncate (base, size, error))
    return FALSE;
  if (strata_image_get_backing_name (base) == NULL)
    return TRUE;
  below = strata_image_open (base_path, strata_image_get_format (base),
                             STRATA_OPEN_READ_ONLY | STRATA_OPEN_FORCE_SHARE, error);
  if (below == NULL)
    return FALSE;
  below_size = strata_image_get_size (strata_image_get_backing (below));
  if (below_size <= old)
    return TRUE;
  return strata_image_write_zeroes_masking (base, old, MIN (size, below_size) - old, error);
}

/* The emptied overlay's clusters are free now; give their space back. The file is reopened
 * with the same locks a writer takes. */
static gboolean
reclaim_overlay_space (const char *filename, GError **error)
{
  g_autoptr(StrataFile) file = strata_file_open (filename, STRATA_FILE_WRITE, error);
  guint64 punched;

  if (file == NULL ||
      !strata_file_lock (file, STRATA_PERM_CONSISTENT_READ | STRATA_PERM_WRITE |
                         STRATA_PERM_RESIZE,
                         STRATA_PERM_ALL & ~(STRATA_PERM_WRITE | STRATA_PERM_RESIZE), error))
    return FALSE;
  return strata_qcow2_punch_free (file, &punched, error);
}

/* Copies guest bytes [@offset, +@length) from @from (through its chain) to @to, in
 * STEP-aligned pieces through @buf, counting them in *@done for @job. */
static gboolean
copy_run (StrataImage   *from,
          StrataImage   *to,
          guint64        offset,
          guint64        length,
          guint8        *buf,
          StrataJob     *job,
          guint64       *done,
          guint64        total,
          GCancellable  *cancellable,
          GError       **error)
{
  for (guint64 pos = offset; pos < offset + length; )
    {
      gsize n = MIN (offset + length - pos, STEP - pos % STEP);

      if (g_cancellable_set_error_if_cancelled (cancellable, error))
        return FALSE;
      if (!strata_image_read (from, pos, n, buf, error) ||
          !strata_image_write (to, pos, n, buf, error))
        return FALSE;
      pos += n;
      *done += n;
      if (job != NULL)
        strata_job_set_progress (job, *done, total);
    }
  return TRUE;
}

/* The name to store in @image for @target: relative when it is in @image's folder (so the
 * pair can be moved together), absolute otherwise. */
static char *
backing_name_for (const char *image, const char *target)
{
  g_autofree char *odir = g_path_get_dirname (image);
  g_autofree char *ndir = g_path_get_dirname (target);
  g_autofree char *oabs = g_canonicalize_filename (odir, NULL);
  g_autofree char *nabs = g_canonicalize_filename (ndir, NULL);

  if (g_strcmp0 (oabs, nabs) == 0)
    return g_path_get_basename (target);
  return g_canonicalize_filename (target, NULL);
}

/*
 * Commits @filename into its backing file, or, with @copy (a fresh copy of that backing
 * file), into the copy: then the overlay's pointer moves to the copy only once the copy holds
 * all the data on disk, and *@pointer_moved tells the caller whether a failure happened
 * before that point (the overlay untouched, the copy disposable) or after.
 */
static gboolean
commit_into_base (const char                *filename,
                  const StrataCommitOptions *opts,
                  gboolean                   guard_siblings,
                  const char                *copy,
                  gboolean                  *pointer_moved,
                  StrataJob                 *job,
                  StrataCommitResult        *result,
                  GCancellable              *cancellable,
                  GError                   **error)
{
  g_autoptr(StrataImage) overlay = NULL;
  g_autoptr(StrataImage) base = NULL;
  g_autofree guint8 *buf = NULL;
  g_autofree char *base_path = NULL;
  g_autofree char *base_format = NULL;
  guint64 size, offset, data_bytes = 0, done = 0;
  gboolean is_qcow2;

  if (!opts->keep_overlay && !strata_protect_check_writable (filename, error))
    return FALSE;

  if (pointer_moved != NULL)
    *pointer_moved = FALSE;
  overlay = strata_image_open (filename, opts->format,
                               (opts->keep_overlay && copy == NULL ? STRATA_OPEN_READ_ONLY :
                                STRATA_OPEN_WRITE) | STRATA_OPEN_NO_BACKING, error);
  if (overlay == NULL)
    return FALSE;
  if (strata_image_get_backing_name (overlay) == NULL)
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_INVALID_ARGUMENT,
                   "%s: Image does not have a backing file", filename);
      return FALSE;
    }
  if (copy != NULL)
    base_path = g_strdup (copy);
  else
    base_path = strata_resolve_backing_name (filename,
                                             strata_image_get_backing_name (overlay), error);
  if (base_path == NULL)
    return FALSE;
  base_format = g_strdup (strata_image_get_backing_format (overlay));

  if (guard_siblings && !check_siblings (filename, base_path, opts, cancellable, error))
    return FALSE;
  if (!strata_protect_check_writable (base_path, error))
    return FALSE;

  base = strata_image_open (base_path, base_format, STRATA_OPEN_WRITE, error);
  if (base == NULL)
    return FALSE;

  g_free (result->base);
  result->base = g_strdup (base_path);
  measure_both (filename, base_path, &result->before);
  if (!predict (overlay, 1, base, opts->keep_overlay, &result->before, &result->predicted,
                &data_bytes, cancellable, error))
    return FALSE;

  size = strata_image_get_size (overlay);
  if (!grow_base (base, base_path, size, error))
    return FALSE;

  if (job != NULL)
    {
      strata_job_set_phase (job, "Writing the overlay's data into its base");
      strata_job_set_progress (job, 0, data_bytes);
    }

  if (posix_memalign ((void **) &buf, STEP, STEP) != 0)
    g_error ("out of memory");
  for (offset = 0; offset < size; )
    {
      StrataBlockStatus bs;

      if (g_cancellable_set_error_if_cancelled (cancellable, error))
        return FALSE;
      if (!strata_image_block_status (overlay, offset, size - offset, &bs, error))
        return FALSE;

      if (bs.kind == STRATA_BLOCK_ZERO)
        {
          if (!strata_image_write_zeroes (base, offset, bs.length, error))
            return FALSE;
        }
      else if (bs.kind == STRATA_BLOCK_DATA)
        {
          if (!copy_run (overlay, base, offset, bs.length, buf, job, &done, data_bytes,
                         cancellable, error))
            return FALSE;
        }
      offset += bs.length;
    }
  result->bytes_committed = done;

  /* The base must hold the data on disk before the overlay stops providing it. Clusters
   * freed at its end (compressed ones the commit replaced) are cut off. */
  if (!strata_qcow2_shrink (base, FALSE, error) ||
      !strata_image_close (base, error))
    return FALSE;
  g_clear_pointer (&base, strata_image_unref);

  /* The copy now reads as base + overlay: only now may the overlay point at it. */
  if (copy != NULL)
    {
      g_autofree char *name = backing_name_for (filename, copy);

      /* A failed header write may still have reached the disk: the caller looks. */
      if (pointer_moved != NULL)
        *pointer_moved = TRUE;
      if (!strata_image_set_backing (overlay, name, base_format, error))
        return FALSE;
      if (opts->keep_overlay && !strata_image_close (overlay, error))
        return FALSE;
    }

  if (!opts->keep_overlay)
    {
      if (job != NULL)
        strata_job_set_phase (job, "Emptying the overlay");
      for (offset = 0; offset < size; )
        {
          StrataBlockStatus bs;

          if (!strata_image_block_status (overlay, offset, size - offset, &bs, error))
            return FALSE;
          if (bs.kind != STRATA_BLOCK_UNALLOCATED &&
              !strata_image_discard (overlay, offset, bs.length, error))
            return FALSE;
          offset += bs.length;
        }
      /* As qemu-img leaves it: no tables, the file cut to what a fresh overlay holds. */
      if (!strata_qcow2_shrink (overlay, TRUE, error) ||
          !strata_image_close (overlay, error))
        return FALSE;
      is_qcow2 = g_strcmp0 (strata_image_get_format (overlay), "qcow2") == 0;
      g_clear_pointer (&overlay, strata_image_unref);
      if (is_qcow2 && !reclaim_overlay_space (filename, error))
        return FALSE;
    }
  g_clear_pointer (&overlay, strata_image_unref);

  measure_both (filename, base_path, &result->after);
  return TRUE;
}

/* Same file (device and inode)? */
static gboolean
same_file (const char *a, const char *b)
{
  struct stat sa, sb;

  return a != NULL && b != NULL && stat (a, &sa) == 0 && stat (b, &sb) == 0 &&
         sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/*
 * Finds @base_name in the chain below @top as qemu-img does: at each layer, a relative name
 * is resolved against that layer's folder and compared (as a file) with that layer's
 * resolved backing. Returns the number of layers above the one found (1: the immediate
 * backing), or 0 when it is not in the chain.
 */
static guint
find_in_chain (StrataImage *top, const char *base_name)
{
  guint depth = 1;

  for (StrataImage *layer = top; strata_image_get_backing (layer) != NULL;
       layer = strata_image_get_backing (layer), depth++)
    {
      g_autofree char *dir = g_path_get_dirname (strata_image_get_filename (layer));
      g_autofree char *wanted = g_path_is_absolute (base_name) ? g_strdup (base_name) :
                                g_build_filename (dir, base_name, NULL);

      if (same_file (wanted, strata_image_get_filename (strata_image_get_backing (layer))))
        return depth;
    }
  return 0;
}

/* -b BASE: the layer of @top's chain that BASE names, @depth layers below @top, or NULL
 * and qemu-img's error. */
static StrataImage *
find_base (StrataImage  *top,
           const char   *base_name,
           const char   *filename,
           guint        *depth,
           GError      **error)
{
  StrataImage *layer = top;

  *depth = find_in_chain (top, base_name);
  if (*depth == 0)
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_INVALID_ARGUMENT,
                   "Did not find '%s' in the backing chain of '%s'", base_name, filename);
      return NULL;
    }
  for (guint i = 0; i < *depth; i++)
    layer = strata_image_get_backing (layer);
  return layer;
}

/* The guard for a commit into a deeper base: every image outside the chain that uses the
 * base or an intermediate layer reads the base's new content. */
static gboolean
check_chain_siblings (StrataImage               *top,
                      guint                      depth,
                      const StrataCommitOptions *opts,
                      GCancellable              *cancellable,
                      GError                   **error)
{
  g_autoptr(GPtrArray) found = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GPtrArray) unsure = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *list = NULL;
  StrataImage *child = top;
  const char *base_path;

  if (opts->force)
    return TRUE;

  for (guint i = 0; i < depth; i++)
    {
      StrataImage *layer = strata_image_get_backing (child);
      g_auto(GStrv) siblings = NULL;
      g_auto(GStrv) maybe = NULL;

      siblings = strata_find_siblings_full (strata_image_get_filename (layer),
                                            opts->library_dirs,
                                            strata_image_get_filename (child), &maybe,
                                            cancellable, error);
      if (siblings == NULL)
        return FALSE;
      for (guint k = 0; siblings[k] != NULL; k++)
        if (!g_ptr_array_find_with_equal_func (found, siblings[k], g_str_equal, NULL))
          g_ptr_array_add (found, g_strdup (siblings[k]));
      for (guint k = 0; maybe[k] != NULL; k++)
        g_ptr_array_add (unsure, g_strdup (maybe[k]));
      child = layer;
    }

  base_path = strata_image_get_filename (child);
  if (found->len == 0 && unsure->len == 0)
    return TRUE;
  g_ptr_array_add (found, NULL);
  g_ptr_array_add (unsure, NULL);
  if (found->len == 1)
    {
      list = g_strjoinv ("; ", (char **) unsure->pdata);
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_SHARED_BASE,
                   "%s: %s. Check it, or use --force to accept the risk", base_path, list);
      return FALSE;
    }
  list = g_strjoinv (", ", (char **) found->pdata);
  g_set_error (error, STRATA_ERROR, STRATA_ERROR_SHARED_BASE,
               "%s: other images use this backing file or a layer above it and would see "
               "their content change: %s. Rebase them first, or use --force to accept the "
               "risk", base_path, list);
  return FALSE;
}

/*
 * commit -b: writes what the layers from @filename down to the one above BASE hold into
 * BASE. Nothing above BASE changes, so the top reads the same at every moment, and a crash
 * leaves BASE with part of the data where the layers above hide it anyway.
 */
static gboolean
commit_into_deeper_base (const char                *filename,
                         const StrataCommitOptions *opts,
                         StrataJob                 *job,
                         StrataCommitResult        *result,
                         GCancellable              *cancellable,
                         GError                   **error)
{
  g_autoptr(StrataImage) top = NULL;
  g_autoptr(StrataImage) base = NULL;
  g_autoptr(GPtrArray) held = NULL;
  g_autofree guint8 *buf = NULL;
  StrataImage *layer;
  const char *base_path;
  guint64 size, offset, total = 0, done = 0;
  guint depth;

  /* The chain is read through one open; the locks are taken layer by layer below, write
   * locks on the base. */
  top = strata_image_open (filename, opts->format,
                           STRATA_OPEN_READ_ONLY | STRATA_OPEN_FORCE_SHARE_BACKING, error);
  if (top == NULL)
    return FALSE;
  layer = find_base (top, opts->base, filename, &depth, error);
  if (layer == NULL)
    return FALSE;
  base_path = strata_image_get_filename (layer);

  if (!check_chain_siblings (top, depth, opts, cancellable, error) ||
      !strata_protect_check_writable (base_path, error))
    return FALSE;

  /* No one may write the intermediate layers while their data moves down. */
  held = g_ptr_array_new_with_free_func ((GDestroyNotify) strata_image_unref);
  layer = strata_image_get_backing (top);
  for (guint i = 1; i < depth; i++, layer = strata_image_get_backing (layer))
    {
      StrataImage *lock = strata_image_open (strata_image_get_filename (layer),
                                             strata_image_get_format (layer),
                                             STRATA_OPEN_READ_ONLY | STRATA_OPEN_NO_BACKING,
                                             error);
      if (lock == NULL)
        return FALSE;
      g_ptr_array_add (held, lock);
    }
  base = strata_image_open (base_path, strata_image_get_format (layer),
                            STRATA_OPEN_WRITE | STRATA_OPEN_NO_BACKING, error);
  if (base == NULL)
    return FALSE;

  g_free (result->base);
  result->base = g_strdup (base_path);
  measure_both (filename, base_path, &result->before);
  /* Nothing above the base is emptied. */
  if (!predict (top, depth, base, TRUE, &result->before, &result->predicted, &total,
                cancellable, error))
    return FALSE;

  size = strata_image_get_size (top);

  if (!grow_base (base, base_path, size, error))
    return FALSE;
  if (job != NULL)
    {
      strata_job_set_phase (job, "Writing the chain's data into the base");
      strata_job_set_progress (job, 0, total);
    }

  if (posix_memalign ((void **) &buf, STEP, STEP) != 0)
    g_error ("out of memory");
  for (offset = 0; offset < size; )
    {
      StrataBlockKind kind;
      gboolean compressed;
      guint64 run;

      if (g_cancellable_set_error_if_cancelled (cancellable, error))
        return FALSE;
      if (!allocated_above (top, depth, offset, size - offset, &kind, &compressed, &run,
                            error))
        return FALSE;

      /* The base is open without its own backing chain: zeros must mask whatever lies
       * below it. */
      if (kind == STRATA_BLOCK_ZERO)
        {
          if (!strata_image_write_zeroes_masking (base, offset, run, error))
            return FALSE;
        }
      else if (kind == STRATA_BLOCK_DATA)
        {
          /* Through the top: where several layers hold the run, the upper one wins. */
          if (!copy_run (top, base, offset, run, buf, job, &done, total, cancellable, error))
            return FALSE;
        }
      offset += run;
    }
  result->bytes_committed = done;

  if (!strata_qcow2_shrink (base, FALSE, error) ||
      !strata_image_close (base, error))
    return FALSE;
  g_clear_pointer (&base, strata_image_unref);
  measure_both (filename, base_path, &result->after);
  return TRUE;
}

gboolean
strata_commit_predict (const char                *filename,
                       const StrataCommitOptions *opts,
                       StrataCommitResult        *result,
                       GCancellable              *cancellable,
                       GError                   **error)
{
  StrataCommitOptions defaults = { 0 };
  g_autoptr(StrataImage) overlay = NULL;
  StrataImage *base;
  guint64 data_bytes;
  guint depth = 1;

  g_return_val_if_fail (filename != NULL && result != NULL, FALSE);
  if (opts == NULL)
    opts = &defaults;

  overlay = strata_image_open (filename, opts->format, STRATA_OPEN_FORCE_SHARE, error);
  if (overlay == NULL)
    return FALSE;
  base = strata_image_get_backing (overlay);
  if (base == NULL)
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_INVALID_ARGUMENT,
                   "%s: Image does not have a backing file", filename);
      return FALSE;
    }
  /* -b: the layers down to BASE all move into it, and none is emptied. */
  if (opts->base != NULL && !(base = find_base (overlay, opts->base, filename, &depth, error)))
    return FALSE;
  g_free (result->base);
  result->base = g_strdup (strata_image_get_filename (base));
  measure_both (filename, result->base, &result->before);
  return predict (overlay, depth, base, opts->keep_overlay || opts->base != NULL,
                  &result->before, &result->predicted, &data_bytes, cancellable, error);
}

/*
 * Makes the fresh copy at @copy_path read exactly as @old_base: byte-identical header, and a
 * backing pointer that resolves to the same file. A relative backing name resolves against
 * the image's own folder, so a copy in another folder gets its name rewritten.
 */
static gboolean
prepare_copy (const char   *copy_path,
              StrataImage  *old_base,
              GError      **error)
{
  g_autoptr(StrataImage) copy = NULL;
  const char *base_path = strata_image_get_filename (old_base);
  const char *format = strata_image_get_format (old_base);
  const char *bname = strata_image_get_backing_name (old_base);
  const char *bpath = strata_image_get_backing_path (old_base);
  g_autofree char *cdir = g_path_get_dirname (copy_path);
  g_autofree char *bdir = g_path_get_dirname (base_path);
  g_autofree char *cabs = g_canonicalize_filename (cdir, NULL);
  g_autofree char *babs = g_canonicalize_filename (bdir, NULL);
  guint8 h1[4096], h2[4096];
  guint64 s1, s2;

  /* The copy is byte-identical, so moving the pointer without comparing content is
   * correct; still make sure the copy is what we think it is before trusting it. */
  copy = strata_image_open (copy_path, format, STRATA_OPEN_READ_ONLY | STRATA_OPEN_NO_BACKING,
                            error);
  if (copy == NULL)
    return FALSE;
  if (!strata_file_get_size (strata_image_get_file (copy), &s1, error) ||
      !strata_file_get_size (strata_image_get_file (old_base), &s2, error) ||
      !strata_file_pread_zerofill (strata_image_get_file (copy), h1, sizeof h1, 0, error) ||
      !strata_file_pread_zerofill (strata_image_get_file (old_base), h2, sizeof h2, 0, error))
    return FALSE;
  if (s1 != s2 || memcmp (h1, h2, sizeof h1) != 0 ||
      strata_image_get_size (copy) != strata_image_get_size (old_base))
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_IO,
                   "%s: the copy of %s does not match it", copy_path, base_path);
      return FALSE;
    }
  g_clear_pointer (&copy, strata_image_unref);

  if (bname == NULL || g_path_is_absolute (bname) || g_strcmp0 (cabs, babs) == 0)
    return TRUE;

  if (bpath == NULL)
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_INVALID_ARGUMENT,
                   "%s: cannot resolve its backing file name \"%s\"", base_path, bname);
      return FALSE;
    }
  {
    g_autofree char *name = backing_name_for (copy_path, bpath);

    copy = strata_image_open (copy_path, format, STRATA_OPEN_WRITE | STRATA_OPEN_NO_BACKING,
                              error);
    if (copy == NULL ||
        !strata_image_set_backing (copy, name, strata_image_get_backing_format (old_base),
                                   error) ||
        !strata_image_close (copy, error))
      return FALSE;
    g_clear_pointer (&copy, strata_image_unref);
  }

  /* Verify through a fresh open: the copy's backing must be the very file the base uses. */
  copy = strata_image_open (copy_path, format, STRATA_OPEN_READ_ONLY | STRATA_OPEN_NO_BACKING,
                            error);
  if (copy == NULL)
    return FALSE;
  if (!same_file (strata_image_get_backing_path (copy), bpath))
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_IO,
                   "%s: its backing file name \"%s\" does not lead to %s as the one of %s does",
                   copy_path, strata_image_get_backing_name (copy), bpath, base_path);
      return FALSE;
    }
  return TRUE;
}

static gboolean
commit_into_copy (const char                *filename,
                  const StrataCommitOptions *opts,
                  StrataJob                 *job,
                  StrataCommitResult        *result,
                  GCancellable              *cancellable,
                  GError                   **error)
{
  g_autoptr(StrataImage) overlay = NULL;
  g_autoptr(StrataImage) old_base = NULL;
  g_autofree char *base_path = NULL;
  g_autofree char *old_name = NULL;
  gboolean pointer_moved = FALSE;

  if (!strata_protect_check_writable (filename, error))
    return FALSE;

  overlay = strata_image_open (filename, opts->format, STRATA_OPEN_WRITE, error);
  if (overlay == NULL)
    return FALSE;
  old_base = strata_image_get_backing (overlay);
  if (old_base == NULL)
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_INVALID_ARGUMENT,
                   "%s: Image does not have a backing file", filename);
      return FALSE;
    }
  strata_image_ref (old_base);
  base_path = g_strdup (strata_image_get_filename (old_base));
  old_name = g_strdup (strata_image_get_backing_name (overlay));

  /* A protected base gives a writable copy: the commit writes into it. */
  if (!strata_copy_image_full (base_path, opts->into_copy, STRATA_COPY_WRITABLE, NULL, job,
                               cancellable, error))
    return FALSE;
  if (!prepare_copy (opts->into_copy, old_base, error))
    goto fail;
  g_clear_pointer (&old_base, strata_image_unref);
  g_clear_pointer (&overlay, strata_image_unref);

  g_free (result->original_base);
  result->original_base = g_strdup (base_path);
  /* Nothing else can use a file that did not exist a moment ago. */
  if (commit_into_base (filename, opts, FALSE, opts->into_copy, &pointer_moved, job, result,
                        cancellable, error))
    return TRUE;
  /* Once the overlay points at the copy, the copy holds its data: keep it. */
  if (pointer_moved)
    {
      g_autoptr(StrataImage) again = strata_image_open (filename, opts->format,
                                                        STRATA_OPEN_READ_ONLY |
                                                        STRATA_OPEN_FORCE_SHARE |
                                                        STRATA_OPEN_NO_BACKING, NULL);

      if (again == NULL ||
          g_strcmp0 (strata_image_get_backing_name (again), old_name) != 0)
        return FALSE;
    }

fail:
  g_prefix_error (error, "nothing was changed, the copy was removed: ");
  if (g_unlink (opts->into_copy) != 0 && errno != ENOENT)
    g_warning ("%s: could not remove the copy: %s", opts->into_copy, g_strerror (errno));
  return FALSE;
}

gboolean
strata_commit_sync (const char                *filename,
                    const StrataCommitOptions *opts,
                    StrataJob                 *job,
                    StrataCommitResult        *result,
                    GCancellable              *cancellable,
                    GError                   **error)
{
  StrataCommitOptions defaults = { 0 };
  StrataCommitResult local = { 0 };
  gboolean ok;

  g_return_val_if_fail (filename != NULL, FALSE);

  if (opts == NULL)
    opts = &defaults;
  if (result == NULL)
    result = &local;

  if (opts->base != NULL && opts->into_copy != NULL)
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_INVALID_ARGUMENT,
                   "--into-copy cannot be used with -b");
      ok = FALSE;
    }
  else if (opts->base != NULL)
    ok = commit_into_deeper_base (filename, opts, job, result, cancellable, error);
  else if (opts->into_copy != NULL)
    ok = commit_into_copy (filename, opts, job, result, cancellable, error);
  else
    ok = commit_into_base (filename, opts, TRUE, NULL, NULL, job, result, cancellable, error);

  strata_commit_result_clear (&local);
  if (ok && job != NULL)
    strata_job_finish (job);
  return ok;
}

typedef struct
{
  char                *filename;
  char                *format;
  char                *into_copy;
  char                *base;
  char               **library_dirs;
  StrataCommitOptions  opts;
  StrataJob           *job;
  StrataCommitResult   result;
} CommitTask;

static void
commit_task_free (gpointer data)
{
  CommitTask *t = data;

  g_free (t->filename);
  g_free (t->format);
  g_free (t->into_copy);
  g_free (t->base);
  g_strfreev (t->library_dirs);
  g_clear_object (&t->job);
  strata_commit_result_clear (&t->result);
  g_free (t);
}

static void
commit_thread (GTask        *task,
               gpointer      source,
               gpointer      task_data,
               GCancellable *cancellable)
{
  CommitTask *t = task_data;
  GError *error = NULL;

  if (strata_commit_sync (t->filename, &t->opts, t->job, &t->result, cancellable, &error))
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
}

void
strata_commit_async (const char                *filename,
                     const StrataCommitOptions *opts,
                     StrataJob                 *job,
                     GCancellable              *cancellable,
                     GAsyncReadyCallback        callback,
                     gpointer                   user_data)
{
  g_autoptr(GTask) task = g_task_new (NULL, cancellable, callback, user_data);
  CommitTask *t = g_new0 (CommitTask, 1);

  t->filename = g_strdup (filename);
  if (opts != NULL)
    t->opts = *opts;
  t->opts.format = t->format = g_strdup (t->opts.format);
  t->opts.into_copy = t->into_copy = g_strdup (t->opts.into_copy);
  t->opts.base = t->base = g_strdup (t->opts.base);
  t->library_dirs = g_strdupv ((char **) t->opts.library_dirs);
  t->opts.library_dirs = (const char * const *) t->library_dirs;
  t->job = job != NULL ? g_object_ref (job) : NULL;
  g_task_set_source_tag (task, strata_commit_async);
  g_task_set_task_data (task, t, commit_task_free);
  g_task_run_in_thread (task, commit_thread);
}

gboolean
strata_commit_finish (GAsyncResult        *result,
                      StrataCommitResult  *out,
                      GError             **error)
{
  CommitTask *t;

  g_return_val_if_fail (g_task_is_valid (result, NULL), FALSE);

  if (!g_task_propagate_boolean (G_TASK (result), error))
    return FALSE;
  t = g_task_get_task_data (G_TASK (result));
  if (out != NULL)
    {
      *out = t->result;
      memset (&t->result, 0, sizeof t->result);
    }
  return TRUE;
}
