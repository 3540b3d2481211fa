/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <glib/gi18n.h>

#include <errno.h>

#include "strata-sample-images.h"
#ifdef HAVE_STRATA_SAMPLES
# include "strata-samples.h"
#endif

gboolean
strata_sample_images_available (void)
{
#ifdef HAVE_STRATA_SAMPLES
  return TRUE;
#else
  return FALSE;
#endif
}

char *
strata_sample_images_folder (void)
{
  return g_build_filename (g_get_user_data_dir (), "strata", "samples", NULL);
}

static void
create_thread (GTask        *task,
               gpointer      source_object,
               gpointer      task_data,
               GCancellable *cancellable)
{
  const char *folder = task_data;
  g_autoptr(GError) error = NULL;

  if (g_mkdir_with_parents (folder, 0755) != 0)
    {
      int saved_errno = errno;

      g_task_return_new_error (task, G_IO_ERROR, g_io_error_from_errno (saved_errno),
                               _("Cannot create %s: %s"), folder, g_strerror (saved_errno));
      return;
    }
#ifdef HAVE_STRATA_SAMPLES
  {
    /* Made before: open them again rather than refuse. */
    const char * const *names = strata_samples_get_names ();
    g_autofree char *first = g_build_filename (folder, names[0], NULL);

    if (g_file_test (first, G_FILE_TEST_EXISTS))
      {
        g_task_return_pointer (task, g_strdup (folder), g_free);
        return;
      }
  }
  if (!strata_samples_create (folder, cancellable, &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  g_task_return_pointer (task, g_strdup (folder), g_free);
#else
  g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                           _("This build of Strata cannot create sample images"));
#endif
}

void
strata_sample_images_create_async (GCancellable        *cancellable,
                                   GAsyncReadyCallback  callback,
                                   gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (NULL, cancellable, callback, user_data);

  g_task_set_source_tag (task, strata_sample_images_create_async);
  g_task_set_task_data (task, strata_sample_images_folder (), g_free);
  g_task_run_in_thread (task, create_thread);
}

char *
strata_sample_images_create_finish (GAsyncResult  *result,
                                    GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}
