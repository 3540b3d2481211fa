/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "strata-rebase.h"
#include "strata-error.h"
#include "strata-image.h"
#include "strata-protect.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Bytes compared per step; a multiple of every cluster size. */
#define STEP (2 * 1024 * 1024)

/* Reads @len bytes of what @chain shows at @offset; past its end (or without a chain) the
 * guest sees zeros. */
static gboolean
read_chain (StrataImage *chain,
            guint64      offset,
            gsize        len,
            guint8      *buf,
            GError     **error)
{
  guint64 size = chain != NULL ? strata_image_get_size (chain) : 0;
  gsize n = offset < size ? MIN (len, size - offset) : 0;

  if (n > 0 && !strata_image_read (chain, offset, n, buf, error))
    return FALSE;
  memset (buf + n, 0, len - n);
  return TRUE;
}

/* TRUE when @chain surely reads as zeros over the whole range (no layer has data there). */
static gboolean
chain_is_zero (StrataImage *chain,
               guint64      offset,
               guint64      len,
               gboolean    *is_zero,
               GError     **error)
{
  guint64 size = chain != NULL ? strata_image_get_size (chain) : 0;

  *is_zero = TRUE;
  while (len > 0 && offset < size)
    {
      StrataChainStatus cs;
      guint64 n = MIN (len, size - offset);

      if (!strata_image_chain_status (chain, offset, n, &cs, error))
        return FALSE;
      if (cs.kind == STRATA_BLOCK_DATA)
        {
          *is_zero = FALSE;
          return TRUE;
        }
      offset += cs.length;
      len -= MIN (len, cs.length);
    }
  return TRUE;
}

/* The new chain is read in a second thread while this one reads the old chain: the two are
 * separate images, and overlapping the reads roughly halves the wall time on a loaded
 * machine. */
typedef struct
{
  StrataImage *chain;
  guint64      offset;
  gsize        len;
  guint8      *buf;
  gboolean     ok;
  GError      *error;
} ReadJob;

static gpointer
read_job_thread (gpointer data)
{
  ReadJob *job = data;

  job->ok = read_chain (job->chain, job->offset, job->len, job->buf, &job->error);
  return NULL;
}

static guint8 *
alloc_buffer (void)
{
  void *p = NULL;

  /* Aligned buffers make the copies out of the page cache cheaper. */
  if (posix_memalign (&p, STEP, STEP) != 0)
    g_error ("out of memory");
  return p;
}

static gboolean
buffer_is_zero (const guint8 *p, gsize len)
{
  return len == 0 || (p[0] == 0 && memcmp (p, p + 1, len - 1) == 0);
}

static gboolean
same_file (const char *a, StrataFile *b)
{
  struct stat sa, sb;

  return stat (a, &sa) == 0 && fstat (strata_file_get_fd (b), &sb) == 0 &&
         sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/*
 * Copies, where the overlay is unallocated, the old view where it differs from the new. The
 * old view there is the old chain's, or zeros where there is none (no old backing, past the
 * end of a shorter one); zeros are written so that they hide the new backing even where
 * nothing shows through today.
 */
static gboolean
copy_differences (StrataImage  *overlay,
                  StrataImage  *old_chain,
                  StrataImage  *new_chain,
                  StrataJob    *job,
                  GCancellable *cancellable,
                  GError      **error)
{
  guint64 size = strata_image_get_size (overlay);
  guint64 cluster = MAX (strata_image_get_cluster_size (overlay), 512);
  g_autofree guint8 *old_buf = alloc_buffer ();
  g_autofree guint8 *new_buf = alloc_buffer ();
  guint64 offset = 0;

  while (offset < size)
    {
      StrataBlockStatus bs;
      guint64 run_end, pos;

      if (g_cancellable_set_error_if_cancelled (cancellable, error))
        return FALSE;
      if (!strata_image_block_status (overlay, offset, size - offset, &bs, error))
        return FALSE;
      run_end = offset + bs.length;

      if (bs.kind != STRATA_BLOCK_UNALLOCATED)
        {
          offset = run_end;
          continue;
        }

      for (pos = offset; pos < run_end; )
        {
          /* Steps end on cluster boundaries so each cluster is decided once, whole. */
          guint64 step_end = MIN (run_end, (pos / STEP + 1) * STEP);
          gsize n = step_end - pos;
          gboolean old_zero, new_zero;

          if (g_cancellable_set_error_if_cancelled (cancellable, error))
            return FALSE;

          if (!chain_is_zero (old_chain, pos, n, &old_zero, error) ||
              !chain_is_zero (new_chain, pos, n, &new_zero, error))
            return FALSE;

          if (old_zero && new_zero)
            {
              pos = step_end;
              continue;
            }

          if (new_zero)
            memset (new_buf, 0, n);
          if (old_zero)
            memset (old_buf, 0, n);
          if (!new_zero && !old_zero)
            {
              ReadJob job = { new_chain, pos, n, new_buf, FALSE, NULL };
              GThread *thread = g_thread_new ("strata-rebase-read", read_job_thread, &job);
              gboolean ok = read_chain (old_chain, pos, n, old_buf, error);

              g_thread_join (thread);
              if (!job.ok)
                {
                  if (ok)
                    g_propagate_error (error, job.error);
                  else
                    g_clear_error (&job.error);
                  return FALSE;
                }
              if (!ok)
                return FALSE;
            }
          else if ((!new_zero && !read_chain (new_chain, pos, n, new_buf, error)) ||
                   (!old_zero && !read_chain (old_chain, pos, n, old_buf, error)))
            return FALSE;

          for (gsize i = 0; i < n; )
            {
              /* One cluster of the overlay, clipped to the step. */
              gsize c = MIN (n - i, cluster - ((pos + i) % cluster));
              gsize j = i;

              if (memcmp (old_buf + i, new_buf + i, c) == 0)
                {
                  i += c;
                  continue;
                }

              /* Gather a run of differing clusters into one write. */
              while (j < n)
                {
                  gsize cj = MIN (n - j, cluster - ((pos + j) % cluster));

                  if (memcmp (old_buf + j, new_buf + j, cj) == 0)
                    break;
                  j += cj;
                }

              if (buffer_is_zero (old_buf + i, j - i))
                {
                  /* Masking: where nothing is below today (no old backing, or past its
                   * end) the new backing must not show through either. */
                  if (!strata_image_write_zeroes_masking (overlay, pos + i, j - i, error))
                    return FALSE;
                }
              else if (!strata_image_write (overlay, pos + i, j - i, old_buf + i, error))
                return FALSE;
              i = j;
            }

          pos = step_end;
          if (job != NULL)
            strata_job_set_progress (job, pos, size);
        }

      offset = run_end;
      if (job != NULL)
        strata_job_set_progress (job, offset, size);
    }

  return TRUE;
}

gboolean
strata_rebase_sync (const char                *filename,
                    const StrataRebaseOptions *opts,
                    StrataJob                 *job,
                    GCancellable              *cancellable,
                    GError                   **error)
{
  g_autoptr(StrataImage) overlay = NULL;
  g_autoptr(StrataImage) new_chain = NULL;
  const char *backing;
  StrataOpenFlags bflags = STRATA_OPEN_READ_ONLY;

  g_return_val_if_fail (filename != NULL, FALSE);
  g_return_val_if_fail (opts != NULL, FALSE);

  backing = opts->backing != NULL && opts->backing[0] != '\0' ? opts->backing : NULL;

  /* qemu-img 7.2 refuses a new backing without its format; refuse before touching data. */
  if (backing != NULL && opts->backing_format == NULL)
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_INVALID_ARGUMENT,
                   "Could not change the backing file to '%s': backing format must be "
                   "specified", backing);
      return FALSE;
    }

  if (!strata_protect_check_writable (filename, error))
    return FALSE;

  if (opts->force_share)
    bflags |= STRATA_OPEN_FORCE_SHARE;

  /* In unsafe mode the old chain is not needed (it may be missing: that is often why). With
   * -U the old chain is read even if in use, like the new one; the overlay keeps its locks. */
  overlay = strata_image_open (filename, opts->format,
                               STRATA_OPEN_WRITE |
                               (opts->unsafe ? STRATA_OPEN_NO_BACKING : 0) |
                               (opts->force_share ? STRATA_OPEN_FORCE_SHARE_BACKING : 0),
                               error);
  if (overlay == NULL)
    return FALSE;

  if (job != NULL)
    strata_job_set_phase (job, opts->unsafe ? "Rewriting the backing pointer"
                                            : "Comparing old and new backing");

  if (!opts->unsafe)
    {
      if (backing != NULL)
        {
          g_autofree char *path = NULL;
          g_autoptr(GError) local_error = NULL;

          path = strata_resolve_backing_name (filename, backing, error);
          if (path == NULL)
            return FALSE;
          if (same_file (path, strata_image_get_file (overlay)))
            {
              g_set_error (error, STRATA_ERROR, STRATA_ERROR_BACKING,
                           "%s: cannot use the image as its own backing file", filename);
              return FALSE;
            }
          new_chain = strata_image_open (path, opts->backing_format, bflags, &local_error);
          if (new_chain == NULL)
            {
              g_set_error (error, local_error->domain, local_error->code,
                           "Could not open new backing file '%s': %s", path,
                           local_error->message);
              return FALSE;
            }
          /* The new chain must not run through the overlay (a loop after the rewrite). */
          for (StrataImage *l = new_chain; l != NULL; l = strata_image_get_backing (l))
            if (same_file (strata_image_get_filename (l), strata_image_get_file (overlay)))
              {
                g_set_error (error, STRATA_ERROR, STRATA_ERROR_BACKING,
                             "%s: the new backing chain contains the image itself", filename);
                return FALSE;
              }
        }

      if (!copy_differences (overlay, strata_image_get_backing (overlay), new_chain, job,
                             cancellable, error))
        return FALSE;

      /* Data first, pointer last: a crash in between leaves the old, still valid, view. */
      if (!strata_image_flush (overlay, error))
        return FALSE;
    }

  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    return FALSE;

  if (!strata_image_set_backing (overlay, backing, backing != NULL ? opts->backing_format
                                                                   : NULL, error))
    return FALSE;

  if (!strata_image_close (overlay, error))
    return FALSE;

  if (job != NULL)
    strata_job_finish (job);
  return TRUE;
}

typedef struct
{
  char                *filename;
  char                *format;
  char                *backing;
  char                *backing_format;
  StrataRebaseOptions  opts;
  StrataJob           *job;
} RebaseTask;

static void
rebase_task_free (gpointer data)
{
  RebaseTask *t = data;

  g_free (t->filename);
  g_free (t->format);
  g_free (t->backing);
  g_free (t->backing_format);
  g_clear_object (&t->job);
  g_free (t);
}

static void
rebase_thread (GTask        *task,
               gpointer      source,
               gpointer      task_data,
               GCancellable *cancellable)
{
  RebaseTask *t = task_data;
  GError *error = NULL;

  if (strata_rebase_sync (t->filename, &t->opts, t->job, cancellable, &error))
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
}

void
strata_rebase_async (const char                *filename,
                     const StrataRebaseOptions *opts,
                     StrataJob                 *job,
                     GCancellable              *cancellable,
                     GAsyncReadyCallback        callback,
                     gpointer                   user_data)
{
  g_autoptr(GTask) task = g_task_new (NULL, cancellable, callback, user_data);
  RebaseTask *t = g_new0 (RebaseTask, 1);

  g_return_if_fail (opts != NULL);

  t->filename = g_strdup (filename);
  t->opts = *opts;
  t->opts.format = t->format = g_strdup (opts->format);
  t->opts.backing = t->backing = g_strdup (opts->backing);
  t->opts.backing_format = t->backing_format = g_strdup (opts->backing_format);
  t->job = job != NULL ? g_object_ref (job) : NULL;
  g_task_set_source_tag (task, strata_rebase_async);
  g_task_set_task_data (task, t, rebase_task_free);
  g_task_run_in_thread (task, rebase_thread);
}

gboolean
strata_rebase_finish (GAsyncResult  *result,
                      GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}
