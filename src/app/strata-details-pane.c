/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <glib/gi18n.h>

#include "strata-allocation-map.h"
#include "strata-details-pane.h"
#include "strata-node-actions.h"
#include "strata-node-text.h"

struct _StrataDetailsPane
{
  GtkWidget          parent_instance;

  StrataLibraryNode *node;
  guint              update_idle;

  GtkWidget         *actions_box;
  GtkWidget         *allocation_group;
  GtkWidget         *allocation_map;
  GtkWidget         *backing_name_row;
  GtkWidget         *backing_path_row;
  GtkWidget         *cluster_size_row;
  GtkWidget         *cluster_size_value;
  GtkWidget         *compression_row;
  GtkWidget         *compression_value;
  GtkWidget         *disk_usage_row;
  GtkWidget         *disk_usage_value;
  GtkWidget         *encryption_row;
  GtkWidget         *encryption_value;
  GtkWidget         *file_size_row;
  GtkWidget         *file_size_value;
  GtkWidget         *format_row;
  GtkWidget         *format_value;
  GtkWidget         *in_use_row;
  GtkWidget         *in_use_value;
  GtkWidget         *location_row;
  GtkWidget         *name_label;
  GtkWidget         *problem_row;
  GtkWidget         *protection_row;
  GtkWidget         *protection_value;
  GtkWidget         *role_label;
  GtkWidget         *stack;
  GtkWidget         *state_row;
  GtkWidget         *state_value;
  GtkWidget         *virtual_size_row;
  GtkWidget         *virtual_size_value;
  GtkWidget         *warning_label;
};

G_DEFINE_FINAL_TYPE (StrataDetailsPane, strata_details_pane, GTK_TYPE_WIDGET)

enum {
  PROP_0,
  PROP_NODE,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

GtkWidget *
strata_details_pane_new (void)
{
  return g_object_new (STRATA_TYPE_DETAILS_PANE, NULL);
}

StrataLibraryNode *
strata_details_pane_get_node (StrataDetailsPane *self)
{
  g_return_val_if_fail (STRATA_IS_DETAILS_PANE (self), NULL);
  return self->node;
}

/* Short values sit at the end of the row; long ones (paths, problems) are its subtitle
 * (@value_label NULL), where they can wrap. */
static void
set_row (GtkWidget  *row,
         GtkWidget  *value_label,
         const char *value)
{
  gtk_widget_set_visible (row, value != NULL && *value != '\0');
  if (value_label != NULL)
    gtk_label_set_text (GTK_LABEL (value_label), value != NULL ? value : "");
  else
    adw_action_row_set_subtitle (ADW_ACTION_ROW (row), value != NULL ? value : "");
}

static char *
describe_format (StrataLibraryNode *node)
{
  const char *format = strata_library_node_get_format (node);
  guint version = strata_library_node_get_format_version (node);

  if (format == NULL)
    return NULL;
  if (g_str_equal (format, "qcow2") && version >= 2)
    return g_strdup_printf ("qcow2 v%u (compat %s)", version, version >= 3 ? "1.1" : "0.10");
  if (g_str_equal (format, "vmdk"))
    return g_strdup ("VMDK");
  return g_strdup (format);
}

static char *
list_siblings (StrataLibraryNode *node,
               StrataLibraryNode *backing,
               guint             *n_siblings)
{
  g_autoptr(GPtrArray) overlays = strata_library_node_dup_overlays (backing);
  g_autoptr(GString) names = g_string_new (NULL);
  guint n = 0;

  for (guint i = 0; overlays != NULL && i < overlays->len; i++)
    {
      StrataLibraryNode *other = g_ptr_array_index (overlays, i);

      if (other == node)
        continue;
      if (n < 3)
        {
          if (names->len > 0)
            g_string_append (names, ", ");
          g_string_append (names, strata_library_node_get_name (other));
        }
      n++;
    }
  if (n > 3)
    {
      g_string_append (names, ", ");
      g_string_append_printf (names, g_dngettext (GETTEXT_PACKAGE, "and %u other",
                                                  "and %u others", n - 3), n - 3);
    }
  *n_siblings = n;
  return g_string_free (g_steal_pointer (&names), FALSE);
}

static char *
describe_warning (StrataLibraryNode *node)
{
  StrataLibraryNode *backing = strata_library_node_get_backing (node);
  const char *name = strata_library_node_get_name (node);

  if (strata_library_node_get_in_use (node))
    return g_strdup_printf (_("A running virtual machine holds %s. Strata will not change it "
                              "until the machine stops."), name);
  if (strata_library_node_get_corrupt (node))
    return g_strdup_printf (_("%s is marked corrupt. Check it before you use it."), name);
  if (strata_node_is_writable_base (node))
    {
      guint n = strata_node_count_overlays (node);

      return g_strdup_printf (g_dngettext (GETTEXT_PACKAGE,
                                           "%s is writable and %u overlay depends on it: "
                                           "writing to it would corrupt that overlay. Make "
                                           "it read-only to keep it safe.",
                                           "%s is writable and %u overlays depend on it: "
                                           "writing to it would corrupt those overlays. Make "
                                           "it read-only to keep it safe.", n),
                              name, n);
    }
  if (backing != NULL && !strata_node_is_broken (backing))
    {
      guint n_siblings = 0;
      g_autofree char *siblings = list_siblings (node, backing, &n_siblings);

      if (n_siblings > 0)
        return g_strdup_printf (_("Committing directly into %s would change %s too. Strata "
                                  "commits into a copy of it instead."),
                                strata_library_node_get_name (backing), siblings);
    }
  return NULL;
}

static void
update_fields (StrataDetailsPane *self)
{
  StrataLibraryNode *node = self->node;
  StrataNodeKind kind;
  g_autofree char *role = NULL;
  g_autofree char *format = NULL;
  g_autofree char *virtual_size = NULL;
  g_autofree char *disk_usage = NULL;
  g_autofree char *file_size = NULL;
  g_autofree char *cluster_size = NULL;
  g_autofree char *compression = NULL;
  g_autofree char *backing_path = NULL;
  g_autofree char *warning = NULL;
  const char *location;
  const char *state;
  gboolean broken;

  if (node == NULL)
    {
      gtk_stack_set_visible_child_name (GTK_STACK (self->stack), "empty");
      return;
    }
  gtk_stack_set_visible_child_name (GTK_STACK (self->stack), "details");

  kind = strata_library_node_get_kind (node);
  broken = strata_node_is_broken (node);
  role = strata_text_role (node);
  gtk_label_set_text (GTK_LABEL (self->name_label), strata_library_node_get_name (node));
  gtk_label_set_text (GTK_LABEL (self->role_label), role);

  format = describe_format (node);
  set_row (self->format_row, self->format_value, format);

  if (!broken)
    {
      guint64 vsize = strata_library_node_get_virtual_size (node);
      guint64 allocated = strata_library_node_get_allocated_size (node);
      guint64 apparent = strata_library_node_get_apparent_size (node);
      guint64 cluster = strata_library_node_get_cluster_size (node);
      g_autofree char *a = strata_text_disk_size (allocated);
      g_autofree char *s = strata_text_virtual_size (vsize);

      virtual_size = g_steal_pointer (&s);
      if (vsize > 0 && allocated > 0 && allocated * 100 < vsize)
        /* Translators: "236.0 MB (< 1%)", of the virtual size. */
        disk_usage = g_strdup_printf (_("%s (< 1%%)"), a);
      else if (vsize > 0)
        disk_usage = g_strdup_printf ("%s (%.0f%%)", a, 100.0 * allocated / vsize);
      else
        disk_usage = g_strdup (a);
      if (apparent != allocated)
        file_size = strata_text_disk_size (apparent);
      if (cluster > 0)
        cluster_size = strata_text_virtual_size (cluster);
    }
  set_row (self->virtual_size_row, self->virtual_size_value, virtual_size);
  set_row (self->disk_usage_row, self->disk_usage_value, disk_usage);
  set_row (self->file_size_row, self->file_size_value, file_size);
  set_row (self->cluster_size_row, self->cluster_size_value, cluster_size);

  if (strata_library_node_get_compression_type (node) != NULL)
    compression = g_strdup_printf ("%s%s", strata_library_node_get_compression_type (node),
                                   strata_library_node_get_compressed (node)
                                   ? _(", holds compressed clusters") : "");
  else if (strata_library_node_get_compressed (node))
    compression = g_strdup (_("Holds compressed data"));
  set_row (self->compression_row, self->compression_value, compression);

  set_row (self->backing_name_row, NULL,
           strata_library_node_get_backing_name (node));
  if (strata_library_node_get_backing_path (node) != NULL)
    {
      const char *bformat = strata_library_node_get_backing_format (node);

      backing_path = bformat != NULL
                     ? g_strdup_printf ("%s (%s)", strata_library_node_get_backing_path (node),
                                        bformat)
                     : g_strdup (strata_library_node_get_backing_path (node));
    }
  set_row (self->backing_path_row, NULL, backing_path);

  location = strata_library_node_get_folder (node);
  if (location == NULL)
    {
      g_autofree char *dir = g_path_get_dirname (strata_library_node_get_path (node));

      set_row (self->location_row, NULL, dir);
      adw_preferences_row_set_title (ADW_PREFERENCES_ROW (self->location_row),
                                     kind == STRATA_NODE_MISSING ? _("Expected in")
                                                                 : _("Outside the library, in"));
    }
  else
    {
      set_row (self->location_row, NULL, location);
      adw_preferences_row_set_title (ADW_PREFERENCES_ROW (self->location_row), _("Folder"));
    }

  if (broken)
    {
      set_row (self->protection_row, self->protection_value, NULL);
      set_row (self->in_use_row, self->in_use_value, NULL);
      set_row (self->state_row, self->state_value, NULL);
    }
  else
    {
      set_row (self->protection_row, self->protection_value,
               strata_library_node_get_protected (node)
               ? _("Read-only") : _("Writable"));
      set_row (self->in_use_row, self->in_use_value,
               strata_library_node_get_in_use (node)
               ? _("By a running virtual machine") : _("Not in use"));
      if (strata_library_node_get_corrupt (node))
        state = _("Corrupt");
      else if (strata_library_node_get_dirty (node))
        state = _("Not closed cleanly");
      else
        state = _("Clean");
      set_row (self->state_row, self->state_value, state);
    }
  set_row (self->encryption_row, self->encryption_value,
           strata_library_node_get_encrypted (node) ? _("Encrypted") : NULL);
  set_row (self->problem_row, NULL, strata_library_node_get_error (node));

  warning = describe_warning (node);
  gtk_label_set_text (GTK_LABEL (self->warning_label), warning != NULL ? warning : "");
  gtk_widget_set_visible (self->warning_label, warning != NULL);

  gtk_widget_set_visible (self->allocation_group, !broken);
  strata_details_pane_update_actions (self);
}

void
strata_details_pane_update_actions (StrataDetailsPane *self)
{
  GtkWidget *child;
  GtkWidget *grid = NULL;
  const StrataNodeAction *actions;
  const char *primary;
  guint n_actions, n_secondary = 0;

  g_return_if_fail (STRATA_IS_DETAILS_PANE (self));

  while ((child = gtk_widget_get_first_child (self->actions_box)) != NULL)
    gtk_box_remove (GTK_BOX (self->actions_box), child);
  if (self->node == NULL)
    return;

  primary = strata_node_primary_action (self->node);
  actions = strata_node_actions (&n_actions);
  for (guint i = 0; i < n_actions; i++)
    {
      g_autofree char *detailed = NULL;
      GtkWidget *button;

      if (!strata_node_action_applies (actions[i].name, self->node))
        continue;
      detailed = g_strconcat ("win.", actions[i].name, NULL);
      button = g_object_new (GTK_TYPE_BUTTON,
                             "label", _(actions[i].label),
                             "action-name", detailed,
                             "hexpand", TRUE,
                             NULL);
      if (g_strcmp0 (actions[i].name, primary) == 0)
        {
          gtk_widget_add_css_class (button, "suggested-action");
          gtk_box_prepend (GTK_BOX (self->actions_box), button);
          continue;
        }
      if (g_str_equal (actions[i].name, "delete"))
        gtk_widget_add_css_class (button, "destructive-action");
      if (grid == NULL)
        {
          grid = g_object_new (GTK_TYPE_GRID,
                               "column-spacing", 6,
                               "row-spacing", 6,
                               "column-homogeneous", TRUE,
                               NULL);
          gtk_box_append (GTK_BOX (self->actions_box), grid);
        }
      gtk_grid_attach (GTK_GRID (grid), button, n_secondary % 2, n_secondary / 2, 1, 1);
      n_secondary++;
    }
  gtk_widget_set_visible (self->actions_box,
                          gtk_widget_get_first_child (self->actions_box) != NULL);
}

static gboolean
update_idle_cb (gpointer user_data)
{
  StrataDetailsPane *self = user_data;

  self->update_idle = 0;
  update_fields (self);
  return G_SOURCE_REMOVE;
}

static void
node_notify_cb (StrataDetailsPane *self,
                GParamSpec        *pspec)
{
  /* Several properties change together: show them once. */
  if (self->update_idle == 0)
    self->update_idle = g_idle_add (update_idle_cb, self);
  if (g_str_equal (pspec->name, "allocated-size") || g_str_equal (pspec->name, "kind"))
    strata_allocation_map_set_path (STRATA_ALLOCATION_MAP (self->allocation_map),
                                    strata_node_is_broken (self->node)
                                    ? NULL : strata_library_node_get_path (self->node));
}

void
strata_details_pane_set_node (StrataDetailsPane *self,
                              StrataLibraryNode *node)
{
  g_return_if_fail (STRATA_IS_DETAILS_PANE (self));

  if (self->node == node)
    return;
  if (self->node != NULL)
    g_signal_handlers_disconnect_by_data (self->node, self);
  g_set_object (&self->node, node);
  if (node != NULL)
    g_signal_connect_object (node, "notify", G_CALLBACK (node_notify_cb), self,
                             G_CONNECT_SWAPPED);
  update_fields (self);
  strata_allocation_map_set_path (STRATA_ALLOCATION_MAP (self->allocation_map),
                                  node != NULL && !strata_node_is_broken (node)
                                  ? strata_library_node_get_path (node) : NULL);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_NODE]);
}

static void
strata_details_pane_dispose (GObject *object)
{
  GtkWidget *child;
  StrataDetailsPane *self = STRATA_DETAILS_PANE (object);

  g_clear_handle_id (&self->update_idle, g_source_remove);
  if (self->node != NULL)
    g_signal_handlers_disconnect_by_data (self->node, self);
  g_clear_object (&self->node);
  gtk_widget_dispose_template (GTK_WIDGET (self), STRATA_TYPE_DETAILS_PANE);
  /* The template's top box is no bound child: it goes by hand. */
  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self))) != NULL)
    gtk_widget_unparent (child);

  G_OBJECT_CLASS (strata_details_pane_parent_class)->dispose (object);
}

static void
strata_details_pane_get_property (GObject    *object,
                                  guint       prop_id,
                                  GValue     *value,
                                  GParamSpec *pspec)
{
  StrataDetailsPane *self = STRATA_DETAILS_PANE (object);

  switch (prop_id)
    {
    case PROP_NODE:
      g_value_set_object (value, self->node);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
strata_details_pane_set_property (GObject      *object,
                                  guint         prop_id,
                                  const GValue *value,
                                  GParamSpec   *pspec)
{
  StrataDetailsPane *self = STRATA_DETAILS_PANE (object);

  switch (prop_id)
    {
    case PROP_NODE:
      strata_details_pane_set_node (self, g_value_get_object (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
strata_details_pane_class_init (StrataDetailsPaneClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = strata_details_pane_dispose;
  object_class->get_property = strata_details_pane_get_property;
  object_class->set_property = strata_details_pane_set_property;

  properties[PROP_NODE] =
    g_param_spec_object ("node", NULL, NULL, STRATA_TYPE_LIBRARY_NODE,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  g_type_ensure (STRATA_TYPE_ALLOCATION_MAP);
  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/io/github/strata/Strata/strata-details-pane.ui");
#define CHILD(name) gtk_widget_class_bind_template_child (widget_class, StrataDetailsPane, name)
  CHILD (actions_box);
  CHILD (allocation_group);
  CHILD (allocation_map);
  CHILD (backing_name_row);
  CHILD (backing_path_row);
  CHILD (cluster_size_row);
  CHILD (cluster_size_value);
  CHILD (compression_row);
  CHILD (compression_value);
  CHILD (disk_usage_row);
  CHILD (disk_usage_value);
  CHILD (encryption_row);
  CHILD (encryption_value);
  CHILD (file_size_row);
  CHILD (file_size_value);
  CHILD (format_row);
  CHILD (format_value);
  CHILD (in_use_row);
  CHILD (in_use_value);
  CHILD (location_row);
  CHILD (name_label);
  CHILD (problem_row);
  CHILD (protection_row);
  CHILD (protection_value);
  CHILD (role_label);
  CHILD (stack);
  CHILD (state_row);
  CHILD (state_value);
  CHILD (virtual_size_row);
  CHILD (virtual_size_value);
  CHILD (warning_label);
#undef CHILD

  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
  gtk_widget_class_set_css_name (widget_class, "detailspane");
}

static void
strata_details_pane_init (StrataDetailsPane *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  update_fields (self);
}
