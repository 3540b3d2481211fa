/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "strata-file.h"
#include "strata-protect.h"
#include "strata-siblings.h"
#include "strata-wizard-util.h"

guint64
strata_wizard_disk_usage (const char *path)
{
  struct stat st;

  if (path == NULL || g_stat (path, &st) != 0)
    return 0;
  return (guint64) st.st_blocks * 512;
}

char *
strata_wizard_format_saving (guint64 before,
                             guint64 after)
{
  g_autofree char *b = g_format_size (before);
  g_autofree char *a = g_format_size (after);
  double change;

  if (before == 0)
    return g_strdup_printf ("%s → %s", b, a);

  change = ((double) after - (double) before) * 100.0 / (double) before;
  /* A saving reads "−56%" with a real minus sign; a growth "+12%". */
  if (change < 0)
    return g_strdup_printf ("%s → %s, −%.0f%%", b, a, -change);
  else
    return g_strdup_printf ("%s → %s, +%.0f%%", b, a, change);
}

guint64
strata_wizard_free_space (const char *folder)
{
  struct statvfs sv;

  if (folder == NULL || statvfs (folder, &sv) != 0)
    return G_MAXUINT64;
  return (guint64) sv.f_bavail * sv.f_frsize;
}

gboolean
strata_wizard_held_by_other (const char *path,
                             gboolean    for_write)
{
  StrataFile *file;
  gboolean held;

  file = strata_file_open (path, STRATA_FILE_READ, NULL);
  if (file == NULL)
    return FALSE;

  if (for_write)
    held = strata_file_test_conflict (file,
                                      STRATA_PERM_CONSISTENT_READ | STRATA_PERM_WRITE
                                      | STRATA_PERM_RESIZE,
                                      STRATA_PERM_CONSISTENT_READ
                                      | STRATA_PERM_WRITE_UNCHANGED);
  else
    held = strata_file_test_conflict (file, STRATA_PERM_CONSISTENT_READ,
                                      STRATA_PERM_ALL & ~STRATA_PERM_WRITE);
  strata_file_unref (file);

  return held;
}

char *
strata_wizard_check_new_name (const char *folder,
                              const char *name)
{
  g_autofree char *path = NULL;

  if (folder == NULL || !g_file_test (folder, G_FILE_TEST_IS_DIR))
    return g_strdup_printf (_("The folder “%s” does not exist."), folder ? folder : "");
  if (name == NULL || *name == '\0')
    return g_strdup (_("Type a name for the new image."));
  if (strchr (name, '/') != NULL)
    return g_strdup (_("A name cannot contain “/”."));
  if (name[0] == '.')
    return g_strdup (_("A name starting with a dot would be hidden; choose another."));

  path = g_build_filename (folder, name, NULL);
  if (g_file_test (path, G_FILE_TEST_EXISTS)
      || g_file_test (path, G_FILE_TEST_IS_SYMLINK))
    return g_strdup_printf (_("“%s” already exists in %s. Choose another name."), name, folder);

  return NULL;
}

gboolean
strata_wizard_anything_left (const char *final_path)
{
  g_autofree char *dir = g_path_get_dirname (final_path);
  g_autofree char *base = g_path_get_basename (final_path);
  g_autofree char *prefix = g_strdup_printf (".%s.strata-", base);
  g_autoptr(GDir) d = NULL;
  const char *entry;

  if (g_file_test (final_path, G_FILE_TEST_EXISTS))
    return TRUE;

  d = g_dir_open (dir, 0, NULL);
  if (d == NULL)
    return FALSE;
  while ((entry = g_dir_read_name (d)) != NULL)
    if (g_str_has_prefix (entry, prefix))
      return TRUE;

  return FALSE;
}

char *
strata_wizard_check_writable (StrataJobManager *jobs,
                              const char       *path)
{
  g_autofree char *name = g_path_get_basename (path);
  gboolean is_protected = FALSE;

  if (jobs != NULL && strata_job_manager_is_busy (jobs, path))
    return g_strdup_printf (_("%s is in use by a running job; wait for it to finish."), name);
  if (strata_is_protected (path, &is_protected, NULL) && is_protected)
    return g_strdup_printf (_("%s is protected (read-only); unprotect it first."), name);
  if (strata_wizard_held_by_other (path, TRUE))
    return g_strdup_printf (_("%s is in use by a running virtual machine; shut it down "
                              "first."), name);

  return NULL;
}

typedef struct
{
  GtkWidget             *wizard;
  StrataWizardChooseFunc callback;
} ChooseData;

static void
choose_response_cb (GtkNativeDialog *native,
                    int              response,
                    ChooseData      *data)
{
  if (response == GTK_RESPONSE_ACCEPT)
    {
      g_autoptr(GFile) file = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (native));
      g_autofree char *path = file != NULL ? g_file_get_path (file) : NULL;

      if (path != NULL)
        data->callback (data->wizard, path);
    }

  g_object_unref (data->wizard);
  g_free (data);
  g_object_unref (native);
}

void
strata_wizard_choose_file (GtkWidget             *wizard,
                           const char            *title,
                           gboolean               folder,
                           const char            *initial,
                           StrataWizardChooseFunc callback)
{
  GtkFileChooserNative *native;
  ChooseData *data;

  native = gtk_file_chooser_native_new (title, GTK_WINDOW (wizard),
                                        folder ? GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER
                                               : GTK_FILE_CHOOSER_ACTION_OPEN,
                                        _("_Select"), _("_Cancel"));
  gtk_native_dialog_set_modal (GTK_NATIVE_DIALOG (native), TRUE);
  if (initial != NULL)
    {
      g_autofree char *dir = folder ? g_strdup (initial) : g_path_get_dirname (initial);
      g_autoptr(GFile) file = g_file_new_for_path (dir);

      gtk_file_chooser_set_current_folder (GTK_FILE_CHOOSER (native), file, NULL);
    }

  data = g_new0 (ChooseData, 1);
  data->wizard = g_object_ref (wizard);
  data->callback = callback;
  g_signal_connect (native, "response", G_CALLBACK (choose_response_cb), data);
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (native));
}

void
strata_wizard_rescan (StrataLibrary *library,
                      const char    *path)
{
  if (library != NULL && path != NULL)
    strata_library_rescan_file (library, path);
}

char *
strata_wizard_relative_path (const char *from_dir,
                             const char *target)
{
  g_autofree char *dir = g_canonicalize_filename (from_dir, NULL);
  g_autofree char *path = g_canonicalize_filename (target, NULL);
  g_auto(GStrv) a = g_strsplit (dir, "/", -1);
  g_auto(GStrv) b = g_strsplit (path, "/", -1);
  GString *out = g_string_new (NULL);
  guint common = 0;
  guint i;

  /* The last component of @target is the file itself and is never shared with a folder. */
  while (a[common] != NULL && b[common] != NULL && b[common + 1] != NULL
         && g_strcmp0 (a[common], b[common]) == 0)
    common++;

  for (i = common; a[i] != NULL; i++)
    if (*a[i] != '\0')
      g_string_append (out, "../");
  for (i = common; b[i] != NULL; i++)
    {
      if (*b[i] == '\0')
        continue;
      g_string_append (out, b[i]);
      if (b[i + 1] != NULL)
        g_string_append_c (out, '/');
    }

  return g_string_free (out, FALSE);
}

static void
find_overlays_thread (GTask        *task,
                      gpointer      source_object,
                      gpointer      task_data,
                      GCancellable *cancellable)
{
  char **dirs = task_data;
  GError *error = NULL;
  char **found;

  /* dirs[0] is the image itself; the library folders follow. */
  found = strata_find_siblings (dirs[0], (const char * const *) dirs + 1, NULL, cancellable,
                                &error);
  if (found == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, found, (GDestroyNotify) g_strfreev);
}

void
strata_wizard_find_overlays_async (const char          *path,
                                   StrataLibrary       *library,
                                   GAsyncReadyCallback  callback,
                                   gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (NULL, NULL, callback, user_data);
  GPtrArray *dirs = g_ptr_array_new ();
  const char * const *folders = library != NULL ? strata_library_get_folders (library) : NULL;

  g_ptr_array_add (dirs, g_strdup (path));
  for (guint i = 0; folders != NULL && folders[i] != NULL; i++)
    g_ptr_array_add (dirs, g_strdup (folders[i]));
  g_ptr_array_add (dirs, NULL);
  g_task_set_task_data (task, g_ptr_array_free (dirs, FALSE), (GDestroyNotify) g_strfreev);
  g_task_run_in_thread (task, find_overlays_thread);
}

char **
strata_wizard_find_overlays_finish (GAsyncResult  *result,
                                    GError       **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}

void
strata_wizard_list_images (AdwPreferencesGroup *group,
                           const char * const  *paths,
                           const char          *description)
{
  guint n = paths != NULL ? g_strv_length ((char **) paths) : 0;

  for (guint i = 0; i < n; i++)
    {
      GtkWidget *row = adw_action_row_new ();
      g_autofree char *name = g_path_get_basename (paths[i]);
      g_autofree char *dir = g_path_get_dirname (paths[i]);

      adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), name);
      adw_action_row_set_subtitle (ADW_ACTION_ROW (row), dir);
      adw_action_row_add_prefix (ADW_ACTION_ROW (row),
                                 gtk_image_new_from_icon_name ("dialog-warning-symbolic"));
      adw_preferences_group_add (group, row);
    }
  adw_preferences_group_set_description (group, description);
  gtk_widget_set_visible (GTK_WIDGET (group), n > 0);
}

GtkWidget *
strata_wizard_question_new (GtkWindow             *parent,
                            const char            *heading,
                            const char            *cancel_label,
                            const char            *action,
                            const char            *action_label,
                            AdwResponseAppearance  appearance)
{
  GtkWidget *dialog = adw_message_dialog_new (parent, heading, NULL);

  adw_message_dialog_add_responses (ADW_MESSAGE_DIALOG (dialog),
                                    "cancel", cancel_label,
                                    action, action_label,
                                    NULL);
  adw_message_dialog_set_response_appearance (ADW_MESSAGE_DIALOG (dialog), action,
                                              appearance);
  adw_message_dialog_set_default_response (ADW_MESSAGE_DIALOG (dialog), "cancel");
  adw_message_dialog_set_close_response (ADW_MESSAGE_DIALOG (dialog), "cancel");
  return dialog;
}
