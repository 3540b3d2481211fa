/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <glib/gi18n.h>

#include "strata-usage-bars.h"

typedef struct
{
  GtkProgressBar *bar;
  GtkLabel       *size_label;
  guint64         bytes;
} Row;

struct _StrataUsageBars
{
  GtkWidget  parent_instance;

  GtkGrid   *grid;
  GArray    *rows; /* Row */
};

G_DEFINE_FINAL_TYPE (StrataUsageBars, strata_usage_bars, GTK_TYPE_WIDGET)

static void
strata_usage_bars_dispose (GObject *object)
{
  StrataUsageBars *self = STRATA_USAGE_BARS (object);

  g_clear_pointer ((GtkWidget **) &self->grid, gtk_widget_unparent);
  g_clear_pointer (&self->rows, g_array_unref);

  G_OBJECT_CLASS (strata_usage_bars_parent_class)->dispose (object);
}

static void
strata_usage_bars_class_init (StrataUsageBarsClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = strata_usage_bars_dispose;

  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
  gtk_widget_class_set_css_name (widget_class, "usagebars");
  gtk_widget_class_set_accessible_role (widget_class, GTK_ACCESSIBLE_ROLE_GROUP);
}

static void
strata_usage_bars_init (StrataUsageBars *self)
{
  self->rows = g_array_new (FALSE, TRUE, sizeof (Row));
  self->grid = GTK_GRID (gtk_grid_new ());
  gtk_grid_set_row_spacing (self->grid, 12);
  gtk_grid_set_column_spacing (self->grid, 12);
  gtk_widget_set_parent (GTK_WIDGET (self->grid), GTK_WIDGET (self));
}

GtkWidget *
strata_usage_bars_new (void)
{
  return g_object_new (STRATA_TYPE_USAGE_BARS, NULL);
}

void
strata_usage_bars_clear (StrataUsageBars *self)
{
  GtkWidget *child;

  g_return_if_fail (STRATA_IS_USAGE_BARS (self));

  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self->grid))) != NULL)
    gtk_grid_remove (self->grid, child);
  g_array_set_size (self->rows, 0);
}

static void
rescale (StrataUsageBars *self)
{
  guint64 max = 0;

  for (guint i = 0; i < self->rows->len; i++)
    max = MAX (max, g_array_index (self->rows, Row, i).bytes);

  for (guint i = 0; i < self->rows->len; i++)
    {
      Row *row = &g_array_index (self->rows, Row, i);

      /* A tiny file still shows a sliver, so that "almost nothing" is visible as such. */
      gtk_progress_bar_set_fraction (row->bar,
                                     max == 0 ? 0.0
                                              : MAX ((double) row->bytes / (double) max, 0.01));
    }
}

void
strata_usage_bars_add (StrataUsageBars *self,
                       const char      *name,
                       const char      *detail,
                       guint64          bytes,
                       gboolean         estimate)
{
  g_autofree char *size = g_format_size (bytes);
  g_autofree char *a11y = NULL;
  GtkWidget *name_box;
  GtkWidget *name_label;
  GtkWidget *bar;
  GtkWidget *size_label;
  Row row = { 0 };
  int index;

  g_return_if_fail (STRATA_IS_USAGE_BARS (self));
  g_return_if_fail (name != NULL);

  index = (int) self->rows->len;

  name_box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 0);
  gtk_widget_set_valign (name_box, GTK_ALIGN_CENTER);
  name_label = gtk_label_new (name);
  gtk_label_set_xalign (GTK_LABEL (name_label), 0);
  gtk_label_set_ellipsize (GTK_LABEL (name_label), PANGO_ELLIPSIZE_MIDDLE);
  gtk_label_set_max_width_chars (GTK_LABEL (name_label), 24);
  gtk_box_append (GTK_BOX (name_box), name_label);
  if (detail != NULL)
    {
      GtkWidget *detail_label = gtk_label_new (detail);

      gtk_label_set_xalign (GTK_LABEL (detail_label), 0);
      gtk_widget_add_css_class (detail_label, "caption");
      gtk_widget_add_css_class (detail_label, "dim-label");
      gtk_box_append (GTK_BOX (name_box), detail_label);
    }

  bar = gtk_progress_bar_new ();
  gtk_widget_set_hexpand (bar, TRUE);
  gtk_widget_set_valign (bar, GTK_ALIGN_CENTER);
  gtk_widget_set_size_request (bar, 160, -1);
  if (estimate)
    gtk_widget_add_css_class (bar, "dim-label");
  /* Translators: the words a screen reader says for one bar: "vm.qcow2, after: 486 MB on
   * disk". */
  a11y = detail != NULL ? g_strdup_printf (_("%s, %s: %s on disk"), name, detail, size)
                        : g_strdup_printf (_("%s: %s on disk"), name, size);
  gtk_accessible_update_property (GTK_ACCESSIBLE (bar), GTK_ACCESSIBLE_PROPERTY_LABEL, a11y, -1);

  size_label = gtk_label_new (size);
  gtk_label_set_xalign (GTK_LABEL (size_label), 1);
  gtk_label_set_width_chars (GTK_LABEL (size_label), 9);
  gtk_widget_add_css_class (size_label, "numeric");

  gtk_grid_attach (self->grid, name_box, 0, index, 1, 1);
  gtk_grid_attach (self->grid, bar, 1, index, 1, 1);
  gtk_grid_attach (self->grid, size_label, 2, index, 1, 1);

  row.bar = GTK_PROGRESS_BAR (bar);
  row.size_label = GTK_LABEL (size_label);
  row.bytes = bytes;
  g_array_append_val (self->rows, row);
  rescale (self);
}

guint
strata_usage_bars_get_n_rows (StrataUsageBars *self)
{
  g_return_val_if_fail (STRATA_IS_USAGE_BARS (self), 0);
  return self->rows->len;
}

const char *
strata_usage_bars_get_size_text (StrataUsageBars *self,
                                 guint            index)
{
  g_return_val_if_fail (STRATA_IS_USAGE_BARS (self), NULL);
  g_return_val_if_fail (index < self->rows->len, NULL);
  return gtk_label_get_text (g_array_index (self->rows, Row, index).size_label);
}
