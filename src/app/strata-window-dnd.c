/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <glib/gi18n.h>

#include "strata-chain-graph.h"
#include "strata-folder-settings.h"
#include "strata-image.h"
#include "strata-window-private.h"

/*
 * What the user hands the window (drop, command line, Open…) is classified in a worker
 * thread, since telling a folder from an image means reading the disk.
 */

typedef enum
{
  OPENED_FOLDER,
  OPENED_QCOW2,
  OPENED_CONVERTIBLE,  /* VMDK, or a raw disk image */
  OPENED_REFUSED,
} OpenedKind;

typedef struct
{
  char       *path;
  char       *name;     /* for messages */
  OpenedKind  kind;
  char       *reason;   /* OPENED_REFUSED */
} Opened;

static void
opened_free (gpointer data)
{
  Opened *opened = data;

  g_free (opened->path);
  g_free (opened->name);
  g_free (opened->reason);
  g_free (opened);
}

/* A raw image has no header to recognise it by: take files named like disk images whose
 * size is a whole number of sectors, and refuse other files rather than offer to "convert"
 * a text file. */
static gboolean
looks_like_raw_image (const char *path,
                      guint64     size)
{
  g_autofree char *lower = g_ascii_strdown (path, -1);

  return size > 0 && size % 512 == 0
         && (g_str_has_suffix (lower, ".img") || g_str_has_suffix (lower, ".raw"));
}

static Opened *
classify (GFile *file)
{
  Opened *opened = g_new0 (Opened, 1);
  g_autoptr(GFileInfo) info = NULL;
  g_autoptr(GError) error = NULL;
  const char *format;

  opened->path = g_file_get_path (file);
  opened->name = g_file_get_basename (file);
  if (opened->path == NULL)
    {
      opened->kind = OPENED_REFUSED;
      opened->reason = g_strdup_printf (_("%s is not a local file"), opened->name);
      return opened;
    }

  info = g_file_query_info (file, G_FILE_ATTRIBUTE_STANDARD_TYPE "," G_FILE_ATTRIBUTE_STANDARD_SIZE,
                            G_FILE_QUERY_INFO_NONE, NULL, &error);
  if (info == NULL)
    {
      opened->kind = OPENED_REFUSED;
      opened->reason = g_strdup_printf (_("Cannot open %s: %s"), opened->name, error->message);
      return opened;
    }
  if (g_file_info_get_file_type (info) == G_FILE_TYPE_DIRECTORY)
    {
      opened->kind = OPENED_FOLDER;
      return opened;
    }
  if (g_file_info_get_file_type (info) != G_FILE_TYPE_REGULAR)
    {
      opened->kind = OPENED_REFUSED;
      opened->reason = g_strdup_printf (_("%s is not a disk image: it is not a regular file"),
                                        opened->name);
      return opened;
    }

  format = strata_probe_format (opened->path, &error);
  if (format == NULL)
    {
      opened->kind = OPENED_REFUSED;
      opened->reason = g_strdup_printf (_("%s cannot be read: %s"), opened->name,
                                        error->message);
    }
  else if (g_str_equal (format, "qcow2"))
    opened->kind = OPENED_QCOW2;
  else if (g_str_equal (format, "vmdk"))
    opened->kind = OPENED_CONVERTIBLE;
  else if (looks_like_raw_image (opened->path, (guint64) g_file_info_get_size (info)))
    opened->kind = OPENED_CONVERTIBLE;
  else
    {
      opened->kind = OPENED_REFUSED;
      opened->reason = g_strdup_printf (_("%s is not a disk image: it has no qcow2 or VMDK "
                                          "header, and it is not named .img or .raw"),
                                        opened->name);
    }
  return opened;
}

static void
classify_thread (GTask        *task,
                 gpointer      source_object,
                 gpointer      task_data,
                 GCancellable *cancellable)
{
  GPtrArray *files = task_data;
  g_autoptr(GPtrArray) results = g_ptr_array_new_with_free_func (opened_free);

  for (guint i = 0; i < files->len; i++)
    {
      if (g_task_return_error_if_cancelled (task))
        return;
      g_ptr_array_add (results, classify (g_ptr_array_index (files, i)));
    }
  g_task_return_pointer (task, g_steal_pointer (&results), (GDestroyNotify) g_ptr_array_unref);
}

static gboolean
folder_covers (StrataWindow *self,
               const char   *folder,
               const char   *dir)
{
  if (g_str_equal (folder, dir))
    return TRUE;
  return g_settings_get_boolean (self->settings, "recursive")
         && g_str_has_prefix (dir, folder) && dir[strlen (folder)] == '/';
}

void
strata_window_add_parent_folder (StrataWindow *self,
                                 const char   *path)
{
  g_autofree char *dir = g_path_get_dirname (path);
  g_auto(GStrv) folders = g_settings_get_strv (self->settings, "library-folders");

  for (guint i = 0; folders[i] != NULL; i++)
    if (folder_covers (self, folders[i], dir))
      return;
  strata_folder_settings_add (self->settings, dir);
}

static void
classify_done_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_autoptr(StrataWindow) self = user_data;
  g_autoptr(GPtrArray) results = NULL;
  g_autoptr(GError) error = NULL;
  gboolean selected = FALSE;

  results = g_task_propagate_pointer (G_TASK (result), &error);
  if (results == NULL)
    return;

  for (guint i = 0; i < results->len; i++)
    {
      Opened *opened = g_ptr_array_index (results, i);

      switch (opened->kind)
        {
        case OPENED_FOLDER:
          strata_folder_settings_add (self->settings, opened->path);
          break;
        case OPENED_QCOW2:
          strata_window_add_parent_folder (self, opened->path);
          if (!selected)
            strata_chain_graph_select_path (STRATA_CHAIN_GRAPH (self->graph), opened->path);
          selected = TRUE;
          break;
        case OPENED_CONVERTIBLE:
          strata_window_open_wizard (self, "convert", opened->path);
          break;
        case OPENED_REFUSED:
        default:
          strata_window_toast (self, opened->reason);
          break;
        }
    }
}

void
strata_window_open_files (StrataWindow  *self,
                          GFile        **files,
                          int            n_files)
{
  g_autoptr(GTask) task = NULL;
  GPtrArray *array;

  g_return_if_fail (STRATA_IS_WINDOW (self));
  g_return_if_fail (n_files == 0 || files != NULL);

  if (n_files <= 0)
    return;
  array = g_ptr_array_new_with_free_func (g_object_unref);
  for (int i = 0; i < n_files; i++)
    g_ptr_array_add (array, g_object_ref (files[i]));

  task = g_task_new (NULL, self->cancellable, classify_done_cb, g_object_ref (self));
  g_task_set_source_tag (task, strata_window_open_files);
  g_task_set_task_data (task, array, (GDestroyNotify) g_ptr_array_unref);
  g_task_run_in_thread (task, classify_thread);
}

static gboolean
drop_cb (GtkDropTarget *target,
         const GValue  *value,
         double         x,
         double         y,
         StrataWindow  *self)
{
  GSList *list;
  g_autoptr(GPtrArray) files = g_ptr_array_new ();

  if (!G_VALUE_HOLDS (value, GDK_TYPE_FILE_LIST))
    return FALSE;
  list = g_value_get_boxed (value);
  for (GSList *l = list; l != NULL; l = l->next)
    g_ptr_array_add (files, l->data);
  if (files->len == 0)
    return FALSE;
  strata_window_open_files (self, (GFile **) files->pdata, (int) files->len);
  return TRUE;
}

void
strata_window_setup_drop (StrataWindow *self)
{
  GtkDropTarget *target = gtk_drop_target_new (GDK_TYPE_FILE_LIST, GDK_ACTION_COPY);

  /* The highlight while hovering is the :drop(active) state, styled in style.css. */
  g_signal_connect (target, "drop", G_CALLBACK (drop_cb), self);
  gtk_widget_add_controller (self->drop_area, GTK_EVENT_CONTROLLER (target));
  gtk_widget_add_css_class (self->drop_area, "drop-area");
}
