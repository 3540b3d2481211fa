/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <glib/gi18n.h>

#include "strata-folder-settings.h"

void
strata_folder_settings_add (GSettings  *settings,
                            const char *folder)
{
  g_auto(GStrv) folders = NULL;
  g_autoptr(GStrvBuilder) builder = NULL;
  g_auto(GStrv) updated = NULL;

  g_return_if_fail (G_IS_SETTINGS (settings));
  g_return_if_fail (folder != NULL && g_path_is_absolute (folder));

  folders = g_settings_get_strv (settings, "library-folders");
  if (g_strv_contains ((const char * const *) folders, folder))
    return;
  builder = g_strv_builder_new ();
  g_strv_builder_addv (builder, (const char **) folders);
  g_strv_builder_add (builder, folder);
  updated = g_strv_builder_end (builder);
  g_settings_set_strv (settings, "library-folders", (const char * const *) updated);
}

void
strata_folder_settings_remove (GSettings  *settings,
                               const char *folder)
{
  g_auto(GStrv) folders = NULL;
  g_autoptr(GStrvBuilder) builder = NULL;
  g_auto(GStrv) updated = NULL;

  g_return_if_fail (G_IS_SETTINGS (settings));
  g_return_if_fail (folder != NULL);

  folders = g_settings_get_strv (settings, "library-folders");
  builder = g_strv_builder_new ();
  for (guint i = 0; folders[i] != NULL; i++)
    if (!g_str_equal (folders[i], folder))
      g_strv_builder_add (builder, folders[i]);
  updated = g_strv_builder_end (builder);
  g_settings_set_strv (settings, "library-folders", (const char * const *) updated);
}

static void
chooser_response_cb (GtkNativeDialog *chooser,
                     int              response,
                     GSettings       *settings)
{
  if (response == GTK_RESPONSE_ACCEPT)
    {
      g_autoptr(GFile) file = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (chooser));
      g_autofree char *path = file != NULL ? g_file_get_path (file) : NULL;

      if (path != NULL)
        strata_folder_settings_add (settings, path);
    }
  gtk_native_dialog_destroy (chooser);
  g_object_unref (chooser);
  g_object_unref (settings);
}

void
strata_folder_settings_choose (GSettings *settings,
                               GtkWindow *parent)
{
  GtkFileChooserNative *chooser;

  g_return_if_fail (G_IS_SETTINGS (settings));

  chooser = gtk_file_chooser_native_new (_("Add Folder to Library"), parent,
                                         GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER,
                                         _("_Add"), _("_Cancel"));
  gtk_native_dialog_set_modal (GTK_NATIVE_DIALOG (chooser), TRUE);
  g_signal_connect (chooser, "response", G_CALLBACK (chooser_response_cb),
                    g_object_ref (settings));
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (chooser));
}
