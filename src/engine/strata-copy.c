/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "strata-copy.h"
#include "strata-error.h"
#include "strata-file.h"
#include "strata-target.h"

#include <errno.h>
#include <linux/fs.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * How the copy is checked: a reflinked copy shares the source's very blocks, so reading it
 * back would compare each block with itself; it is checked by size and by its first MiB (the
 * image header and tables: the kernel gave us the right file). A copy of extents is read back
 * and compared byte for byte with the source over every data extent (holes read as zeros in
 * both by definition). That catches what can go wrong on our side (a wrong extent walk, a
 * short copy_file_range, a source changed under us) for the price of one read of each file,
 * mostly from the page cache the copy just filled; a checksum would cost the same reads.
 */

#define CHUNK (8 * 1024 * 1024)
#define VERIFY_CHUNK (2 * 1024 * 1024)
#define HEADER_CHECK (1024 * 1024)

typedef struct
{
  guint64 offset;
  guint64 length;
} Range;

static gboolean
same_file (const char *a,
           const char *b)
{
  struct stat sa, sb;

  return stat (a, &sa) == 0 && stat (b, &sb) == 0 &&
         sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* A copy never replaces anything: each way a target can exist gets its own message. */
static gboolean
check_target (const char  *source,
              const char  *target,
              GError     **error)
{
  struct stat st;
  guint mode;

  if (lstat (target, &st) != 0)
    return TRUE;

  if (same_file (source, target))
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_INVALID_ARGUMENT,
                   "%s: this is the image being copied; choose a new name for the copy",
                   target);
      return FALSE;
    }
  /* Directories, devices, links, protected images and images a running QEMU holds. */
  if (!strata_target_check_replace (target, NULL, &mode, error))
    return FALSE;
  g_set_error (error, STRATA_ERROR, STRATA_ERROR_INVALID_ARGUMENT,
               "%s: the file already exists; choose a new name for the copy", target);
  return FALSE;
}

static gboolean
walk_data (StrataFile  *in,
           guint64      size,
           GArray      *ranges,
           guint64     *data_bytes,
           GError     **error)
{
  guint64 offset = 0;

  *data_bytes = 0;
  while (offset < size)
    {
      gboolean is_data;
      guint64 n;

      if (!strata_file_seek_data (in, offset, size - offset, &is_data, &n, error))
        return FALSE;
      if (n == 0)
        n = size - offset;
      if (is_data)
        {
          Range r = { offset, n };

          g_array_append_val (ranges, r);
          *data_bytes += n;
        }
      offset += n;
    }
  return TRUE;
}

static gboolean
try_reflink (StrataFile *in,
             StrataFile *out)
{
  return ioctl (strata_file_get_fd (out), FICLONE, strata_file_get_fd (in)) == 0;
}

/* Copies one range with copy_file_range(); falls back to reads and writes (setting *method)
 * when the kernel cannot copy between these files. */
static gboolean
copy_range (StrataFile        *in,
            StrataFile        *out,
            const Range       *r,
            StrataCopyMethod  *method,
            guint8           **buf,
            guint64           *done,
            guint64            total,
            StrataJob         *job,
            GCancellable      *cancellable,
            GError           **error)
{
  guint64 pos = r->offset, end = r->offset + r->length;

  while (pos < end)
    {
      gsize n = MIN (end - pos, CHUNK);

      if (g_cancellable_set_error_if_cancelled (cancellable, error))
        return FALSE;

      if (*method == STRATA_COPY_METHOD_COPY_RANGE)
        {
          loff_t off_in = pos, off_out = pos;
          ssize_t got = copy_file_range (strata_file_get_fd (in), &off_in,
                                         strata_file_get_fd (out), &off_out, n, 0);

          if (got < 0 && (errno == EXDEV || errno == ENOSYS || errno == EOPNOTSUPP ||
                          errno == EINVAL))
            {
              *method = STRATA_COPY_METHOD_READ_WRITE;
              continue;
            }
          if (got < 0)
            {
              strata_set_error_from_errno (error, errno, strata_file_get_path (out),
                                           "Could not copy %s into it",
                                           strata_file_get_path (in));
              return FALSE;
            }
          if (got == 0)
            {
              g_set_error (error, STRATA_ERROR, STRATA_ERROR_IO,
                           "%s: the file became shorter while it was copied",
                           strata_file_get_path (in));
              return FALSE;
            }
          n = got;
        }
      else
        {
          n = MIN (n, VERIFY_CHUNK);
          if (*buf == NULL)
            *buf = g_malloc (VERIFY_CHUNK);
          if (!strata_file_pread (in, *buf, n, pos, error) ||
              !strata_file_pwrite (out, *buf, n, pos, error))
            return FALSE;
        }
      pos += n;
      *done += n;
      if (job != NULL)
        strata_job_set_progress (job, *done, total);
    }
  return TRUE;
}

static gboolean
verify (StrataFile        *in,
        StrataFile        *out,
        guint64            size,
        GArray            *ranges,
        StrataCopyMethod   method,
        guint64           *done,
        guint64            total,
        StrataJob         *job,
        GCancellable      *cancellable,
        GError           **error)
{
  g_autofree guint8 *a = g_malloc (VERIFY_CHUNK);
  g_autofree guint8 *b = g_malloc (VERIFY_CHUNK);
  Range header = { 0, MIN (size, HEADER_CHECK) };
  guint64 out_size;

  if (!strata_file_get_size (out, &out_size, error))
    return FALSE;
  if (out_size != size)
    goto differ;

  if (job != NULL)
    strata_job_set_phase (job, "Verifying the copy");
  for (guint i = 0; i < (method == STRATA_COPY_METHOD_REFLINK ? 1 : ranges->len); i++)
    {
      const Range *r = method == STRATA_COPY_METHOD_REFLINK ? &header
                                                             : &g_array_index (ranges, Range, i);

      for (guint64 pos = r->offset; pos < r->offset + r->length; )
        {
          gsize n = MIN (r->offset + r->length - pos, VERIFY_CHUNK);

          if (g_cancellable_set_error_if_cancelled (cancellable, error) ||
              !strata_file_pread (in, a, n, pos, error) ||
              !strata_file_pread (out, b, n, pos, error))
            return FALSE;
          if (memcmp (a, b, n) != 0)
            goto differ;
          pos += n;
          if (method != STRATA_COPY_METHOD_REFLINK)
            {
              *done += n;
              if (job != NULL)
                strata_job_set_progress (job, *done, total);
            }
        }
    }
  return TRUE;

differ:
  g_set_error (error, STRATA_ERROR, STRATA_ERROR_IO,
               "%s: the copy does not read the same as %s", strata_file_get_path (out),
               strata_file_get_path (in));
  return FALSE;
}

static gboolean
copy_into (StrataFile        *in,
           StrataFile        *out,
           guint64            size,
           StrataCopyFlags    flags,
           StrataCopyMethod  *method,
           StrataJob         *job,
           GCancellable      *cancellable,
           GError           **error)
{
  g_autoptr(GArray) ranges = g_array_new (FALSE, FALSE, sizeof (Range));
  g_autofree guint8 *buf = NULL;
  guint64 data_bytes, done = 0, total;

  if (job != NULL)
    {
      g_autofree char *name = g_path_get_basename (strata_file_get_path (in));
      g_autofree char *phase = g_strdup_printf ("Copying %s", name);

      strata_job_set_phase (job, phase);
    }

  if (!(flags & STRATA_COPY_NO_REFLINK) && try_reflink (in, out))
    {
      *method = STRATA_COPY_METHOD_REFLINK;
      if (job != NULL)
        strata_job_set_progress (job, size, size);
      return verify (in, out, size, ranges, *method, &done, size, job, cancellable, error);
    }

  /* The data is read twice: once to copy it, once to compare. */
  if (!walk_data (in, size, ranges, &data_bytes, error))
    return FALSE;
  total = 2 * data_bytes;
  *method = (flags & STRATA_COPY_NO_COPY_RANGE) ? STRATA_COPY_METHOD_READ_WRITE
                                                : STRATA_COPY_METHOD_COPY_RANGE;
  for (guint i = 0; i < ranges->len; i++)
    if (!copy_range (in, out, &g_array_index (ranges, Range, i), method, &buf, &done, total,
                     job, cancellable, error))
      return FALSE;

  /* Holes at the end. */
  if (!strata_file_truncate (out, size, error))
    return FALSE;
  return verify (in, out, size, ranges, *method, &done, total, job, cancellable, error);
}

gboolean
strata_copy_image_full (const char        *source,
                        const char        *target,
                        StrataCopyFlags    flags,
                        StrataCopyMethod  *method,
                        StrataJob         *job,
                        GCancellable      *cancellable,
                        GError           **error)
{
  g_autoptr(StrataFile) in = NULL;
  g_autoptr(StrataFile) out = NULL;
  StrataCopyMethod used = STRATA_COPY_METHOD_READ_WRITE;
  struct stat st;
  guint64 size;
  guint mode;

  g_return_val_if_fail (source != NULL, FALSE);
  g_return_val_if_fail (target != NULL, FALSE);

  if (g_strcmp0 (g_getenv ("STRATA_COPY_NO_REFLINK"), "1") == 0)
    flags |= STRATA_COPY_NO_REFLINK;

  if (!check_target (source, target, error))
    return FALSE;

  in = strata_file_open (source, STRATA_FILE_READ, error);
  if (in == NULL)
    return FALSE;
  if (fstat (strata_file_get_fd (in), &st) != 0 || !S_ISREG (st.st_mode))
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_INVALID_ARGUMENT,
                   "%s: not a regular file; only image files can be copied", source);
      return FALSE;
    }
  /* Nobody may write the source while it is copied. */
  if (!strata_file_lock (in, STRATA_PERM_CONSISTENT_READ,
                         STRATA_PERM_ALL & ~(STRATA_PERM_WRITE | STRATA_PERM_RESIZE), error) ||
      !strata_file_get_size (in, &size, error))
    return FALSE;

  out = strata_file_create_temp (target, error);
  if (out == NULL)
    return FALSE;
  mode = st.st_mode & 07777;
  if ((flags & STRATA_COPY_WRITABLE) && (mode & 0222) == 0)
    mode |= 0200;
  strata_target_apply_mode (out, mode);

  if (!copy_into (in, out, size, flags, &used, job, cancellable, error) ||
      !strata_file_commit_rename (out, target, error))
    {
      strata_file_unlink (out);
      return FALSE;
    }

  if (method != NULL)
    *method = used;
  return TRUE;
}

gboolean
strata_copy_image_sync (const char    *source,
                        const char    *target,
                        StrataJob     *job,
                        GCancellable  *cancellable,
                        GError       **error)
{
  return strata_copy_image_full (source, target, STRATA_COPY_DEFAULT, NULL, job, cancellable,
                                 error);
}

typedef struct
{
  char      *source;
  char      *target;
  StrataJob *job;
} CopyTask;

static void
copy_task_free (gpointer data)
{
  CopyTask *t = data;

  g_free (t->source);
  g_free (t->target);
  g_clear_object (&t->job);
  g_free (t);
}

static void
copy_thread (GTask        *task,
             gpointer      source_object,
             gpointer      task_data,
             GCancellable *cancellable)
{
  CopyTask *t = task_data;
  GError *error = NULL;

  if (strata_copy_image_sync (t->source, t->target, t->job, cancellable, &error))
    {
      if (t->job != NULL)
        strata_job_finish (t->job);
      g_task_return_boolean (task, TRUE);
    }
  else
    g_task_return_error (task, error);
}

void
strata_copy_image_async (const char          *source,
                         const char          *target,
                         StrataJob           *job,
                         GCancellable        *cancellable,
                         GAsyncReadyCallback  callback,
                         gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (NULL, cancellable, callback, user_data);
  CopyTask *t = g_new0 (CopyTask, 1);

  g_return_if_fail (source != NULL);
  g_return_if_fail (target != NULL);

  t->source = g_strdup (source);
  t->target = g_strdup (target);
  t->job = job != NULL ? g_object_ref (job) : NULL;
  g_task_set_source_tag (task, strata_copy_image_async);
  g_task_set_task_data (task, t, copy_task_free);
  g_task_run_in_thread (task, copy_thread);
}

gboolean
strata_copy_image_finish (GAsyncResult  *result,
                          GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}
