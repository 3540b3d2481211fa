/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "strata-check.h"
#include "strata-error.h"
#include "strata-image.h"
#include "strata-protect.h"

#include <string.h>

void
strata_check_result_clear (StrataCheckResult *result)
{
  g_clear_pointer (&result->filename, g_free);
  g_clear_pointer (&result->format, g_free);
  g_clear_pointer (&result->messages, g_ptr_array_unref);
  memset (result, 0, sizeof *result);
}

int
strata_check_result_exit_code (const StrataCheckResult *result)
{
  if (result->check_errors > 0)
    return 1;
  if (result->corruptions > 0)
    return 2;
  if (result->leaks > 0)
    return 3;
  return 0;
}

static gboolean
has_qcow2_magic (const char *filename)
{
  g_autoptr(StrataFile) file = strata_file_open (filename, STRATA_FILE_READ, NULL);
  guint8 magic[4];

  return file != NULL && strata_file_pread (file, magic, 4, 0, NULL) &&
         memcmp (magic, "QFI\xfb", 4) == 0;
}

/* qemu-img check opens the image with its backing chain and fails (exit 1) when the backing
 * file cannot be opened. An image whose own header the driver refuses is left to the
 * check, which says what is wrong with it. */
static gboolean
backing_opens (const char *filename, const char *format, GError **error)
{
  g_autoptr(StrataImage) image = NULL;
  g_autoptr(StrataImage) chain = NULL;
  g_autoptr(GError) local_error = NULL;

  image = strata_image_open (filename, format,
                             STRATA_OPEN_READ_ONLY | STRATA_OPEN_FORCE_SHARE |
                             STRATA_OPEN_NO_BACKING, NULL);
  if (image == NULL || strata_image_get_backing_name (image) == NULL)
    return TRUE;
  g_clear_pointer (&image, strata_image_unref);

  chain = strata_image_open (filename, format,
                             STRATA_OPEN_READ_ONLY | STRATA_OPEN_FORCE_SHARE, &local_error);
  if (chain != NULL)
    return TRUE;
  g_set_error (error, STRATA_ERROR, STRATA_ERROR_BACKING,
               "Could not open '%s': Could not open backing file: %s", filename,
               local_error->message);
  return FALSE;
}

static gboolean
check_qcow2 (const char               *filename,
             const StrataCheckOptions *opts,
             StrataCheckResult        *result,
             GCancellable             *cancellable,
             GError                  **error)
{
  g_autoptr(StrataFile) file = NULL;
  StrataPerm shared = STRATA_PERM_ALL & ~(STRATA_PERM_WRITE | STRATA_PERM_RESIZE);
  gboolean repair = opts->fix != STRATA_CHECK_FIX_NONE;

  if (repair)
    {
      if (opts->force_share)
        {
          g_set_error (error, STRATA_ERROR, STRATA_ERROR_INVALID_ARGUMENT,
                       "%s: -U (force share) cannot be used with a repair", filename);
          return FALSE;
        }
      if (!strata_protect_check_writable (filename, error))
        return FALSE;
    }

  if (!backing_opens (filename, opts->format, error))
    return FALSE;

  file = strata_file_open (filename, repair ? STRATA_FILE_WRITE : STRATA_FILE_READ, error);
  if (file == NULL)
    return FALSE;

  /* The same locks qemu-img check takes: a running VM must not be repaired under it, and
   * a read-only check refuses an image that someone is writing unless -U. */
  if (!opts->force_share)
    {
      StrataPerm perm = STRATA_PERM_CONSISTENT_READ;

      if (repair)
        perm |= STRATA_PERM_WRITE | STRATA_PERM_RESIZE;
      if (!strata_file_lock (file, perm, shared, error))
        return FALSE;
    }

  if (!strata_qcow2_check (file, opts->fix, result, cancellable, error))
    return FALSE;

  if (repair && (result->leaks_fixed > 0 || result->corruptions_fixed > 0))
    {
      StrataCheckResult again = { 0 };

      again.messages = g_steal_pointer (&result->messages);
      if (!strata_qcow2_check (file, STRATA_CHECK_FIX_NONE, &again, cancellable, error))
        {
          result->messages = g_steal_pointer (&again.messages);
          return FALSE;
        }
      again.filename = g_steal_pointer (&result->filename);
      again.format = g_steal_pointer (&result->format);
      again.leaks_fixed = result->leaks_fixed;
      again.corruptions_fixed = result->corruptions_fixed;
      *result = again;
    }

  return TRUE;
}

/* VMDK, as qemu-img checks it: every allocated grain must lie inside its extent file. */
static gboolean
check_vmdk (const char               *filename,
            const StrataCheckOptions *opts,
            StrataCheckResult        *result,
            GCancellable             *cancellable,
            GError                  **error)
{
  g_autoptr(StrataImage) image = NULL;
  StrataOpenFlags flags = STRATA_OPEN_NO_BACKING;
  guint64 size, offset = 0;

  if (opts->fix != STRATA_CHECK_FIX_NONE)
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_UNSUPPORTED,
                   "%s: Strata cannot repair VMDK images", filename);
      return FALSE;
    }
  if (opts->force_share)
    flags |= STRATA_OPEN_FORCE_SHARE;
  if (!(image = strata_image_open (filename, "vmdk", flags, error)))
    return FALSE;

  size = strata_image_get_size (image);
  while (offset < size)
    {
      g_autoptr(GError) local_error = NULL;
      StrataBlockStatus bs;

      if (g_cancellable_set_error_if_cancelled (cancellable, error))
        return FALSE;
      if (!strata_image_block_status (image, offset, size - offset, &bs, &local_error))
        {
          g_ptr_array_add (result->messages,
                           g_strdup_printf ("ERROR: could not get cluster_offset for sector %"
                                            G_GUINT64_FORMAT ": %s", offset / 512,
                                            local_error->message));
          result->check_errors++;
          return TRUE;
        }
      if (bs.kind == STRATA_BLOCK_DATA && bs.has_host_offset && bs.host_file != NULL)
        {
          guint64 file_size = 0;

          if (strata_file_get_size (bs.host_file, &file_size, NULL) &&
              bs.host_offset + bs.length > file_size && !bs.compressed)
            {
              g_ptr_array_add (result->messages,
                               g_strdup_printf ("ERROR: cluster offset for sector %"
                                                G_GUINT64_FORMAT " points after image end",
                                                offset / 512));
              result->corruptions++;
            }
        }
      offset += bs.length;
    }
  result->unrepairable = result->corruptions > 0;
  return TRUE;
}

gboolean
strata_check_sync (const char               *filename,
                   const StrataCheckOptions *opts,
                   StrataJob                *job,
                   StrataCheckResult        *result,
                   GCancellable             *cancellable,
                   GError                  **error)
{
  StrataCheckOptions defaults = { 0 };
  const char *format;

  g_return_val_if_fail (filename != NULL, FALSE);
  g_return_val_if_fail (result != NULL, FALSE);

  if (opts == NULL)
    opts = &defaults;
  memset (result, 0, sizeof *result);
  result->messages = g_ptr_array_new_with_free_func (g_free);
  result->filename = g_strdup (filename);

  format = opts->format;
  if (format == NULL && !(format = strata_probe_format (filename, error)))
    return FALSE;
  /* The qcow2 magic alone decides, as in QEMU's probe; the check validates the header. */
  if (opts->format == NULL && has_qcow2_magic (filename))
    format = "qcow2";
  result->format = g_strdup (format);

  if (job != NULL)
    strata_job_set_phase (job, opts->fix != STRATA_CHECK_FIX_NONE ? "Repairing" : "Checking");

  if (g_strcmp0 (format, "vmdk") == 0)
    {
      if (!check_vmdk (filename, opts, result, cancellable, error))
        return FALSE;
      if (job != NULL)
        strata_job_finish (job);
      return TRUE;
    }

  if (g_strcmp0 (format, "qcow2") != 0)
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_UNSUPPORTED,
                   "%s: This image format does not support checks", filename);
      return FALSE;
    }

  if (!check_qcow2 (filename, opts, result, cancellable, error))
    return FALSE;

  if (job != NULL)
    strata_job_finish (job);
  return TRUE;
}

typedef struct
{
  char               *filename;
  char               *format;
  StrataCheckOptions  opts;
  StrataJob          *job;
  StrataCheckResult   result;
} CheckTask;

static void
check_task_free (gpointer data)
{
  CheckTask *t = data;

  g_free (t->filename);
  g_free (t->format);
  g_clear_object (&t->job);
  strata_check_result_clear (&t->result);
  g_free (t);
}

static void
check_thread (GTask        *task,
              gpointer      source,
              gpointer      task_data,
              GCancellable *cancellable)
{
  CheckTask *t = task_data;
  GError *error = NULL;

  if (strata_check_sync (t->filename, &t->opts, t->job, &t->result, cancellable, &error))
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
}

void
strata_check_async (const char               *filename,
                    const StrataCheckOptions *opts,
                    StrataJob                *job,
                    GCancellable             *cancellable,
                    GAsyncReadyCallback       callback,
                    gpointer                  user_data)
{
  g_autoptr(GTask) task = g_task_new (NULL, cancellable, callback, user_data);
  CheckTask *t = g_new0 (CheckTask, 1);

  t->filename = g_strdup (filename);
  if (opts != NULL)
    t->opts = *opts;
  t->format = g_strdup (t->opts.format);
  t->opts.format = t->format;
  t->job = job != NULL ? g_object_ref (job) : NULL;
  g_task_set_source_tag (task, strata_check_async);
  g_task_set_task_data (task, t, check_task_free);
  g_task_run_in_thread (task, check_thread);
}

gboolean
strata_check_finish (GAsyncResult       *result,
                     StrataCheckResult  *out,
                     GError            **error)
{
  CheckTask *t;

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
