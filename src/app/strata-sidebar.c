/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <glib/gi18n.h>

#include "strata-node-text.h"
#include "strata-sidebar.h"

struct _StrataSidebar
{
  GtkWidget      parent_instance;

  StrataLibrary *library;
  guint          rebuild_idle;
  char          *shown;      /* what the rows say, to rebuild only when it changes */

  GtkWidget     *heading;
  GtkWidget     *list;
};

G_DEFINE_FINAL_TYPE (StrataSidebar, strata_sidebar, GTK_TYPE_WIDGET)

GtkWidget *
strata_sidebar_new (void)
{
  return g_object_new (STRATA_TYPE_SIDEBAR, NULL);
}

static GtkWidget *
folder_row_new (const char *folder,
                guint       count)
{
  g_autofree char *shown = strata_text_folder (folder);
  g_autofree char *count_text = g_strdup_printf ("%u", count);
  g_autofree char *a11y = NULL;
  GtkWidget *row, *box, *label, *count_label, *remove;

  box = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 6);
  label = g_object_new (GTK_TYPE_LABEL,
                        "label", shown,
                        "xalign", 0.0f,
                        "hexpand", TRUE,
                        "ellipsize", PANGO_ELLIPSIZE_START,
                        "tooltip-text", folder,
                        NULL);
  gtk_box_append (GTK_BOX (box), label);
  count_label = gtk_label_new (count_text);
  gtk_widget_add_css_class (count_label, "dim-label");
  gtk_widget_add_css_class (count_label, "numeric");
  gtk_box_append (GTK_BOX (box), count_label);

  remove = g_object_new (GTK_TYPE_BUTTON,
                         "icon-name", "list-remove-symbolic",
                         "tooltip-text", _("Remove from Library"),
                         "action-name", "win.remove-folder",
                         "action-target", g_variant_new_string (folder),
                         "valign", GTK_ALIGN_CENTER,
                         NULL);
  gtk_widget_add_css_class (remove, "flat");
  gtk_widget_add_css_class (remove, "circular");
  a11y = g_strdup_printf (_("Remove %s from the library"), shown);
  gtk_accessible_update_property (GTK_ACCESSIBLE (remove), GTK_ACCESSIBLE_PROPERTY_LABEL, a11y,
                                  -1);
  gtk_box_append (GTK_BOX (box), remove);

  row = g_object_new (GTK_TYPE_LIST_BOX_ROW,
                      "child", box,
                      "action-name", "win.show-folder",
                      "action-target", g_variant_new_string (folder),
                      NULL);
  g_free (a11y);
  a11y = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%s, %u image", "%s, %u images", count),
                          shown, count);
  gtk_accessible_update_property (GTK_ACCESSIBLE (row), GTK_ACCESSIBLE_PROPERTY_LABEL, a11y,
                                  -1);
  return row;
}

static GtkWidget *
problem_row_new (StrataNodeKind kind,
                 guint          count)
{
  g_autofree char *text = NULL;
  GtkWidget *row, *box, *icon, *label;

  switch (kind)
    {
    case STRATA_NODE_MISSING:
      text = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%u missing backing file",
                                           "%u missing backing files", count), count);
      break;
    case STRATA_NODE_LOOP:
      text = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%u backing loop",
                                           "%u backing loops", count), count);
      break;
    case STRATA_NODE_UNREADABLE:
    case STRATA_NODE_IMAGE:
    case STRATA_NODE_EXTERNAL:
    default:
      text = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%u unreadable image",
                                           "%u unreadable images", count), count);
      break;
    }

  box = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 6);
  icon = gtk_image_new_from_icon_name ("dialog-warning-symbolic");
  gtk_box_append (GTK_BOX (box), icon);
  /* Wrapped, not ellipsized: translations of these are long ("1 fichier sous-jacent
   * introuvable") and the sidebar is narrow. */
  label = g_object_new (GTK_TYPE_LABEL, "label", text, "xalign", 0.0f,
                        "wrap", TRUE, "wrap-mode", PANGO_WRAP_WORD_CHAR,
                        "hexpand", TRUE, NULL);
  gtk_box_append (GTK_BOX (box), label);
  row = g_object_new (GTK_TYPE_LIST_BOX_ROW,
                      "child", box,
                      "action-name", "win.select-problems",
                      "action-target", g_variant_new_string (strata_node_kind_to_string (kind)),
                      "tooltip-text", _("Select the affected images"),
                      NULL);
  gtk_widget_add_css_class (row, "problem");
  gtk_accessible_update_property (GTK_ACCESSIBLE (row), GTK_ACCESSIBLE_PROPERTY_LABEL, text, -1);
  return row;
}

static gboolean
rebuild_idle_cb (gpointer user_data)
{
  StrataSidebar *self = user_data;
  const char * const *folders;
  GListModel *nodes;
  guint problems[STRATA_NODE_LOOP + 1] = { 0 };
  static const StrataNodeKind problem_kinds[] = {
    STRATA_NODE_MISSING, STRATA_NODE_UNREADABLE, STRATA_NODE_LOOP
  };
  g_autoptr(GString) shown = g_string_new (NULL);
  GtkWidget *child;

  self->rebuild_idle = 0;
  if (self->library == NULL)
    return G_SOURCE_REMOVE;

  folders = strata_library_get_folders (self->library);
  nodes = strata_library_get_nodes (self->library);
  for (guint i = 0; i < g_list_model_get_n_items (nodes); i++)
    {
      g_autoptr(StrataLibraryNode) node = g_list_model_get_item (nodes, i);

      problems[strata_library_node_get_kind (node)]++;
    }
  for (guint i = 0; folders != NULL && folders[i] != NULL; i++)
    g_string_append_printf (shown, "%s=%u;", folders[i],
                            strata_library_count_in_folder (self->library, folders[i]));
  for (guint i = 0; i < G_N_ELEMENTS (problem_kinds); i++)
    g_string_append_printf (shown, "%u;", problems[problem_kinds[i]]);
  if (g_strcmp0 (shown->str, self->shown) == 0)
    return G_SOURCE_REMOVE;
  g_free (self->shown);
  self->shown = g_strdup (shown->str);

  while ((child = gtk_widget_get_first_child (self->list)) != NULL)
    gtk_list_box_remove (GTK_LIST_BOX (self->list), child);
  for (guint i = 0; folders != NULL && folders[i] != NULL; i++)
    gtk_list_box_append (GTK_LIST_BOX (self->list),
                         folder_row_new (folders[i],
                                         strata_library_count_in_folder (self->library,
                                                                         folders[i])));
  for (guint i = 0; i < G_N_ELEMENTS (problem_kinds); i++)
    if (problems[problem_kinds[i]] > 0)
      gtk_list_box_append (GTK_LIST_BOX (self->list),
                           problem_row_new (problem_kinds[i], problems[problem_kinds[i]]));
  return G_SOURCE_REMOVE;
}

static void
queue_rebuild (StrataSidebar *self)
{
  if (self->rebuild_idle == 0)
    self->rebuild_idle = g_idle_add (rebuild_idle_cb, self);
}

void
strata_sidebar_set_library (StrataSidebar *self,
                            StrataLibrary *library)
{
  g_return_if_fail (STRATA_IS_SIDEBAR (self));

  if (self->library != NULL)
    {
      g_signal_handlers_disconnect_by_data (self->library, self);
      g_signal_handlers_disconnect_by_data (strata_library_get_nodes (self->library), self);
    }
  g_set_object (&self->library, library);
  if (library != NULL)
    {
      g_signal_connect_object (strata_library_get_nodes (library), "items-changed",
                               G_CALLBACK (queue_rebuild), self, G_CONNECT_SWAPPED);
      g_signal_connect_object (library, "node-changed", G_CALLBACK (queue_rebuild), self,
                               G_CONNECT_SWAPPED);
      g_signal_connect_object (library, "notify::n-images", G_CALLBACK (queue_rebuild), self,
                               G_CONNECT_SWAPPED);
      g_signal_connect_object (library, "notify::n-problems", G_CALLBACK (queue_rebuild), self,
                               G_CONNECT_SWAPPED);
    }
  g_clear_pointer (&self->shown, g_free);
  queue_rebuild (self);
}

void
strata_sidebar_folders_changed (StrataSidebar *self)
{
  queue_rebuild (self);
}

static void
strata_sidebar_dispose (GObject *object)
{
  GtkWidget *child;
  StrataSidebar *self = STRATA_SIDEBAR (object);

  g_clear_handle_id (&self->rebuild_idle, g_source_remove);
  strata_sidebar_set_library (self, NULL);
  g_clear_handle_id (&self->rebuild_idle, g_source_remove);
  g_clear_pointer (&self->shown, g_free);
  gtk_widget_dispose_template (GTK_WIDGET (self), STRATA_TYPE_SIDEBAR);
  /* The template's top box is no bound child: it goes by hand. */
  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self))) != NULL)
    gtk_widget_unparent (child);

  G_OBJECT_CLASS (strata_sidebar_parent_class)->dispose (object);
}

static void
strata_sidebar_class_init (StrataSidebarClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = strata_sidebar_dispose;

  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/io/github/strata/Strata/strata-sidebar.ui");
  gtk_widget_class_bind_template_child (widget_class, StrataSidebar, heading);
  gtk_widget_class_bind_template_child (widget_class, StrataSidebar, list);

  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
  gtk_widget_class_set_css_name (widget_class, "strata-sidebar");
}

static void
strata_sidebar_init (StrataSidebar *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
}
