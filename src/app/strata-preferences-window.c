/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <glib/gi18n.h>

#include "strata-folder-settings.h"
#include "strata-preferences-window.h"

struct _StrataPreferencesWindow
{
  AdwPreferencesWindow  parent_instance;

  GSettings            *settings;

  GtkWidget            *folders_group;
  GtkWidget            *folders_list;
  GtkWidget            *recursive_switch;
};

G_DEFINE_FINAL_TYPE (StrataPreferencesWindow, strata_preferences_window,
                     ADW_TYPE_PREFERENCES_WINDOW)

static void
rebuild_folders (StrataPreferencesWindow *self)
{
  g_auto(GStrv) folders = g_settings_get_strv (self->settings, "library-folders");
  GtkWidget *child;

  while ((child = gtk_widget_get_first_child (self->folders_list)) != NULL)
    gtk_list_box_remove (GTK_LIST_BOX (self->folders_list), child);

  if (folders[0] == NULL)
    {
      GtkWidget *row = g_object_new (ADW_TYPE_ACTION_ROW,
                                     "title", _("No folders yet"),
                                     "subtitle", _("Add a folder that holds disk images"),
                                     NULL);

      gtk_list_box_append (GTK_LIST_BOX (self->folders_list), row);
      return;
    }

  for (guint i = 0; folders[i] != NULL; i++)
    {
      g_autofree char *name = g_path_get_basename (folders[i]);
      g_autofree char *a11y = g_strdup_printf (_("Remove %s"), folders[i]);
      GtkWidget *row, *remove;

      row = g_object_new (ADW_TYPE_ACTION_ROW,
                          "title", name,
                          "subtitle", folders[i],
                          "use-markup", FALSE,
                          NULL);
      remove = g_object_new (GTK_TYPE_BUTTON,
                             "icon-name", "user-trash-symbolic",
                             "tooltip-text", _("Remove from Library"),
                             "valign", GTK_ALIGN_CENTER,
                             "action-name", "prefs.remove-folder",
                             "action-target", g_variant_new_string (folders[i]),
                             NULL);
      gtk_widget_add_css_class (remove, "flat");
      gtk_accessible_update_property (GTK_ACCESSIBLE (remove),
                                      GTK_ACCESSIBLE_PROPERTY_LABEL, a11y, -1);
      adw_action_row_add_suffix (ADW_ACTION_ROW (row), remove);
      gtk_list_box_append (GTK_LIST_BOX (self->folders_list), row);
    }
}

static void
add_folder_action_cb (GtkWidget  *widget,
                      const char *action_name,
                      GVariant   *parameter)
{
  StrataPreferencesWindow *self = STRATA_PREFERENCES_WINDOW (widget);

  strata_folder_settings_choose (self->settings, GTK_WINDOW (self));
}

static void
remove_folder_action_cb (GtkWidget  *widget,
                         const char *action_name,
                         GVariant   *parameter)
{
  StrataPreferencesWindow *self = STRATA_PREFERENCES_WINDOW (widget);

  strata_folder_settings_remove (self->settings, g_variant_get_string (parameter, NULL));
}

GtkWidget *
strata_preferences_window_new (GSettings *settings)
{
  StrataPreferencesWindow *self;

  g_return_val_if_fail (G_IS_SETTINGS (settings), NULL);

  self = g_object_new (STRATA_TYPE_PREFERENCES_WINDOW, NULL);
  self->settings = g_object_ref (settings);
  g_settings_bind (settings, "recursive", self->recursive_switch, "active",
                   G_SETTINGS_BIND_DEFAULT);
  g_signal_connect_object (settings, "changed::library-folders",
                           G_CALLBACK (rebuild_folders), self, G_CONNECT_SWAPPED);
  rebuild_folders (self);
  return GTK_WIDGET (self);
}

static void
strata_preferences_window_dispose (GObject *object)
{
  StrataPreferencesWindow *self = STRATA_PREFERENCES_WINDOW (object);

  g_clear_object (&self->settings);
  gtk_widget_dispose_template (GTK_WIDGET (self), STRATA_TYPE_PREFERENCES_WINDOW);

  G_OBJECT_CLASS (strata_preferences_window_parent_class)->dispose (object);
}

static void
strata_preferences_window_class_init (StrataPreferencesWindowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = strata_preferences_window_dispose;

  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/io/github/strata/Strata/strata-preferences-window.ui");
  gtk_widget_class_bind_template_child (widget_class, StrataPreferencesWindow, folders_group);
  gtk_widget_class_bind_template_child (widget_class, StrataPreferencesWindow, folders_list);
  gtk_widget_class_bind_template_child (widget_class, StrataPreferencesWindow,
                                        recursive_switch);

  gtk_widget_class_install_action (widget_class, "prefs.add-folder", NULL, add_folder_action_cb);
  gtk_widget_class_install_action (widget_class, "prefs.remove-folder", "s",
                                   remove_folder_action_cb);
}

static void
strata_preferences_window_init (StrataPreferencesWindow *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
}
