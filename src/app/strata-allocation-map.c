/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <glib/gi18n.h>

#include "strata-allocation-map.h"
#include "strata-image.h"

#define MAX_ROWS   4    /* layers shown one by one; deeper ones share the last strip */
#define STRIP_H    12

typedef struct
{
  guint    n_rows;
  char    *names[MAX_ROWS];          /* layer basenames; the last may stand for several */
  guint64  bytes[MAX_ROWS + 1];      /* estimated guest bytes per row, then zeros */
  guint64  virtual_size;
  float    fractions[STRATA_ALLOCATION_SEGMENTS][MAX_ROWS]; /* share of each segment */
} Picture;

static void
picture_free (Picture *picture)
{
  for (guint i = 0; i < MAX_ROWS; i++)
    g_free (picture->names[i]);
  g_free (picture);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Picture, picture_free)

struct _StrataAllocationMap
{
  GtkWidget     parent_instance;

  char         *path;
  GCancellable *cancellable;
  Picture      *picture;
  char         *summary;
  GtkWidget    *status_label;
  GtkWidget    *rows[MAX_ROWS];   /* GtkBox: label + strip */
  GtkWidget    *row_labels[MAX_ROWS];
  GtkWidget    *strips[MAX_ROWS];
  GtkWidget    *zeros_label;
};

G_DEFINE_FINAL_TYPE (StrataAllocationMap, strata_allocation_map, GTK_TYPE_WIDGET)

enum {
  PROP_0,
  PROP_PATH,
  PROP_COMPUTING,
  PROP_SUMMARY,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

GtkWidget *
strata_allocation_map_new (void)
{
  return g_object_new (STRATA_TYPE_ALLOCATION_MAP, NULL);
}

const char *
strata_allocation_map_get_path (StrataAllocationMap *self)
{
  g_return_val_if_fail (STRATA_IS_ALLOCATION_MAP (self), NULL);
  return self->path;
}

gboolean
strata_allocation_map_get_computing (StrataAllocationMap *self)
{
  g_return_val_if_fail (STRATA_IS_ALLOCATION_MAP (self), FALSE);
  return self->cancellable != NULL;
}

const char *
strata_allocation_map_get_summary (StrataAllocationMap *self)
{
  g_return_val_if_fail (STRATA_IS_ALLOCATION_MAP (self), NULL);
  return self->summary;
}

static guint
row_for_depth (const Picture *picture,
               int            depth)
{
  return (guint) MIN (depth, (int) picture->n_rows - 1);
}

/* Adds @length bytes at the state @status to segment @seg. */
static void
account (Picture                 *picture,
         guint                    seg,
         guint64                  seg_length,
         const StrataChainStatus *status,
         guint64                  length)
{
  if (status->kind == STRATA_BLOCK_DATA)
    {
      guint row = row_for_depth (picture, status->depth);

      picture->fractions[seg][row] += (float) ((double) length / (double) seg_length);
      picture->bytes[row] += length;
    }
  else
    picture->bytes[MAX_ROWS] += length;
}

static void
compute_thread (GTask        *task,
                gpointer      source_object,
                gpointer      task_data,
                GCancellable *cancellable)
{
  const char *path = task_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(StrataImage) image = NULL;
  g_autoptr(Picture) picture = g_new0 (Picture, 1);
  guint depth = 0;
  guint64 size;

  image = strata_image_open (path, NULL, STRATA_OPEN_READ_ONLY | STRATA_OPEN_FORCE_SHARE,
                             &error);
  if (image == NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  for (StrataImage *layer = image; layer != NULL; layer = strata_image_get_backing (layer))
    {
      if (depth < MAX_ROWS)
        picture->names[depth] = g_path_get_basename (strata_image_get_filename (layer));
      depth++;
    }
  picture->n_rows = MIN (depth, MAX_ROWS);
  if (depth > MAX_ROWS)
    {
      g_free (picture->names[MAX_ROWS - 1]);
      /* Translators: the last strip of the picture when the chain is deeper than four. */
      picture->names[MAX_ROWS - 1] = g_strdup_printf (_("%u deeper layers"),
                                                      depth - MAX_ROWS + 1);
    }

  size = picture->virtual_size = strata_image_get_size (image);
  for (guint seg = 0; seg < STRATA_ALLOCATION_SEGMENTS && size > 0; seg++)
    {
      guint64 start = size * seg / STRATA_ALLOCATION_SEGMENTS;
      guint64 end = size * (seg + 1) / STRATA_ALLOCATION_SEGMENTS;
      guint64 offset = start;
      guint queries = 0;

      if (g_task_return_error_if_cancelled (task))
        return;
      if (end <= start)
        continue;

      /* Walk the runs while they are few, which is exact. */
      while (offset < end && queries < STRATA_ALLOCATION_QUERIES_PER_SEG)
        {
          StrataChainStatus status;
          guint64 length;

          if (!strata_image_chain_status (image, offset, end - offset, &status, &error))
            {
              g_task_return_error (task, g_steal_pointer (&error));
              return;
            }
          length = MIN (MAX (status.length, 1), end - offset);
          account (picture, seg, end - start, &status, length);
          offset += length;
          queries++;
        }

      /* A fragmented stretch: estimate the rest from evenly spread samples. */
      if (offset < end)
        {
          guint64 rest = end - offset;
          guint64 step = MAX (rest / STRATA_ALLOCATION_SAMPLES_PER_SEG, 1);

          for (guint64 pos = offset; pos < end; pos += step)
            {
              StrataChainStatus status;

              if (!strata_image_chain_status (image, pos, 1, &status, &error))
                {
                  g_task_return_error (task, g_steal_pointer (&error));
                  return;
                }
              account (picture, seg, end - start, &status, MIN (step, end - pos));
            }
        }
    }

  g_task_return_pointer (task, g_steal_pointer (&picture), (GDestroyNotify) picture_free);
}

static void
draw_strip (GtkDrawingArea *area,
            cairo_t        *cr,
            int             width,
            int             height,
            gpointer        user_data)
{
  StrataAllocationMap *self = user_data;
  guint row = GPOINTER_TO_UINT (g_object_get_data (G_OBJECT (area), "row"));
  GtkStyleContext *context = gtk_widget_get_style_context (GTK_WIDGET (area));
  static const char *const color_names[MAX_ROWS] = {
    "success_color", "accent_color", "purple_3", "orange_3"
  };
  GdkRGBA trough, color;
  double seg_w = (double) width / STRATA_ALLOCATION_SEGMENTS;

  gtk_style_context_get_color (context, &trough);
  trough.alpha = 0.1;
  if (!gtk_style_context_lookup_color (context, color_names[row], &color))
    gtk_style_context_get_color (context, &color);

  cairo_save (cr);
  cairo_new_sub_path (cr);
  cairo_arc (cr, height / 2.0, height / 2.0, height / 2.0, G_PI / 2, 3 * G_PI / 2);
  cairo_arc (cr, width - height / 2.0, height / 2.0, height / 2.0, -G_PI / 2, G_PI / 2);
  cairo_close_path (cr);
  cairo_clip_preserve (cr);
  gdk_cairo_set_source_rgba (cr, &trough);
  cairo_fill (cr);

  if (self->picture != NULL && row < self->picture->n_rows)
    {
      for (guint seg = 0; seg < STRATA_ALLOCATION_SEGMENTS; seg++)
        {
          float f = self->picture->fractions[seg][row];

          if (f <= 0.0f)
            continue;
          /* Even a sliver of data shows, a full segment is solid. */
          cairo_set_source_rgba (cr, color.red, color.green, color.blue,
                                 0.35 + 0.65 * MIN (f, 1.0f));
          cairo_rectangle (cr, floor (seg * seg_w), 0, ceil (seg_w), height);
          cairo_fill (cr);
        }
    }
  cairo_restore (cr);
}

/* "3%", or "< 1%" for a little that is not nothing. */
static char *
format_share (guint64 bytes,
              guint64 total)
{
  double percent = total > 0 ? 100.0 * bytes / total : 0;

  if (bytes > 0 && percent < 1.0)
    return g_strdup (_("< 1%"));
  /* TRANSLATORS: a share of the virtual disk, such as "3%" (French: "3 %"). */
  return g_strdup_printf (_("%.0f%%"), percent);
}

static void
update_rows (StrataAllocationMap *self)
{
  Picture *picture = self->picture;
  g_autoptr(GString) summary = NULL;

  for (guint row = 0; row < MAX_ROWS; row++)
    {
      gboolean shown = picture != NULL && row < picture->n_rows;

      gtk_widget_set_visible (self->rows[row], shown);
      if (shown)
        {
          g_autofree char *bytes = g_format_size (picture->bytes[row]);
          g_autofree char *text = NULL;
          g_autofree char *share = format_share (picture->bytes[row], picture->virtual_size);

          if (row == 0)
            /* Translators: "This layer (img03.qcow2): 236 MB, 3%". */
            text = g_strdup_printf (_("This layer (%s): %s, %s"),
                                    picture->names[row], bytes, share);
          else
            /* Translators: "From vm01.qcow2: 2.1 GB, 26%". */
            text = g_strdup_printf (_("From %s: %s, %s"),
                                    picture->names[row], bytes, share);
          gtk_label_set_text (GTK_LABEL (self->row_labels[row]), text);
          gtk_accessible_update_property (GTK_ACCESSIBLE (self->strips[row]),
                                          GTK_ACCESSIBLE_PROPERTY_LABEL, text, -1);
          gtk_widget_queue_draw (self->strips[row]);
          if (summary == NULL)
            summary = g_string_new (text);
          else
            g_string_append_printf (summary, "; %s", text);
        }
    }

  if (picture != NULL)
    {
      g_autofree char *share = format_share (picture->bytes[MAX_ROWS], picture->virtual_size);
      g_autofree char *text = g_strdup_printf (_("Reads as zeros: %s"), share);

      gtk_label_set_text (GTK_LABEL (self->zeros_label), text);
      if (summary == NULL)
        summary = g_string_new (text);
      else
        g_string_append_printf (summary, "; %s", text);
    }
  gtk_widget_set_visible (self->zeros_label, picture != NULL);

  g_free (self->summary);
  self->summary = summary != NULL ? g_string_free (g_steal_pointer (&summary), FALSE) : NULL;
  gtk_accessible_update_property (GTK_ACCESSIBLE (self),
                                  GTK_ACCESSIBLE_PROPERTY_DESCRIPTION,
                                  self->summary != NULL ? self->summary : "",
                                  -1);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SUMMARY]);
}

static void
set_status (StrataAllocationMap *self,
            const char          *text)
{
  gtk_label_set_text (GTK_LABEL (self->status_label), text != NULL ? text : "");
  gtk_widget_set_visible (self->status_label, text != NULL);
}

static void
compute_done_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(StrataAllocationMap) self = user_data;
  g_autoptr(GError) error = NULL;
  Picture *picture = g_task_propagate_pointer (G_TASK (result), &error);

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;

  g_clear_object (&self->cancellable);
  g_clear_pointer (&self->picture, picture_free);
  self->picture = picture;
  if (picture == NULL)
    {
      g_autofree char *text = g_strdup_printf (_("Cannot work out where the data lives: %s"),
                                               error->message);
      set_status (self, text);
    }
  else
    set_status (self, NULL);
  update_rows (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_COMPUTING]);
}

void
strata_allocation_map_set_path (StrataAllocationMap *self,
                                const char          *path)
{
  g_autoptr(GTask) task = NULL;
  gboolean was_computing;

  g_return_if_fail (STRATA_IS_ALLOCATION_MAP (self));

  was_computing = self->cancellable != NULL;
  g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  g_clear_pointer (&self->picture, picture_free);
  g_free (self->path);
  self->path = g_strdup (path);
  update_rows (self);

  if (path != NULL)
    {
      self->cancellable = g_cancellable_new ();
      set_status (self, _("Working out where the data lives…"));
      task = g_task_new (NULL, self->cancellable, compute_done_cb, g_object_ref (self));
      g_task_set_source_tag (task, strata_allocation_map_set_path);
      g_task_set_task_data (task, g_strdup (path), g_free);
      g_task_run_in_thread (task, compute_thread);
    }
  else
    set_status (self, NULL);

  if (was_computing != (self->cancellable != NULL))
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_COMPUTING]);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PATH]);
}

static void
strata_allocation_map_dispose (GObject *object)
{
  StrataAllocationMap *self = STRATA_ALLOCATION_MAP (object);
  GtkWidget *child;

  g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self))) != NULL)
    gtk_widget_unparent (child);

  G_OBJECT_CLASS (strata_allocation_map_parent_class)->dispose (object);
}

static void
strata_allocation_map_finalize (GObject *object)
{
  StrataAllocationMap *self = STRATA_ALLOCATION_MAP (object);

  g_clear_pointer (&self->picture, picture_free);
  g_free (self->path);
  g_free (self->summary);

  G_OBJECT_CLASS (strata_allocation_map_parent_class)->finalize (object);
}

static void
strata_allocation_map_get_property (GObject    *object,
                                    guint       prop_id,
                                    GValue     *value,
                                    GParamSpec *pspec)
{
  StrataAllocationMap *self = STRATA_ALLOCATION_MAP (object);

  switch (prop_id)
    {
    case PROP_PATH:
      g_value_set_string (value, self->path);
      break;
    case PROP_COMPUTING:
      g_value_set_boolean (value, strata_allocation_map_get_computing (self));
      break;
    case PROP_SUMMARY:
      g_value_set_string (value, self->summary);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
strata_allocation_map_set_property (GObject      *object,
                                    guint         prop_id,
                                    const GValue *value,
                                    GParamSpec   *pspec)
{
  StrataAllocationMap *self = STRATA_ALLOCATION_MAP (object);

  switch (prop_id)
    {
    case PROP_PATH:
      strata_allocation_map_set_path (self, g_value_get_string (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
strata_allocation_map_class_init (StrataAllocationMapClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = strata_allocation_map_dispose;
  object_class->finalize = strata_allocation_map_finalize;
  object_class->get_property = strata_allocation_map_get_property;
  object_class->set_property = strata_allocation_map_set_property;

  properties[PROP_PATH] =
    g_param_spec_string ("path", NULL, NULL, NULL,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_COMPUTING] =
    g_param_spec_boolean ("computing", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_SUMMARY] =
    g_param_spec_string ("summary", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BOX_LAYOUT);
  gtk_widget_class_set_css_name (widget_class, "allocationmap");
  gtk_widget_class_set_accessible_role (widget_class, GTK_ACCESSIBLE_ROLE_GROUP);
}

static void
strata_allocation_map_init (StrataAllocationMap *self)
{
  GtkWidget *widget = GTK_WIDGET (self);
  GtkLayoutManager *layout = gtk_widget_get_layout_manager (widget);

  gtk_orientable_set_orientation (GTK_ORIENTABLE (layout), GTK_ORIENTATION_VERTICAL);
  gtk_box_layout_set_spacing (GTK_BOX_LAYOUT (layout), 6);

  self->status_label = g_object_new (GTK_TYPE_LABEL, "xalign", 0.0f, "wrap", TRUE, NULL);
  gtk_widget_add_css_class (self->status_label, "dim-label");
  gtk_widget_add_css_class (self->status_label, "caption");
  gtk_widget_set_parent (self->status_label, widget);

  for (guint row = 0; row < MAX_ROWS; row++)
    {
      self->rows[row] = gtk_box_new (GTK_ORIENTATION_VERTICAL, 3);
      self->row_labels[row] = g_object_new (GTK_TYPE_LABEL,
                                            "xalign", 0.0f,
                                            "ellipsize", PANGO_ELLIPSIZE_MIDDLE,
                                            NULL);
      gtk_widget_add_css_class (self->row_labels[row], "caption");
      gtk_box_append (GTK_BOX (self->rows[row]), self->row_labels[row]);
      self->strips[row] = gtk_drawing_area_new ();
      gtk_drawing_area_set_content_height (GTK_DRAWING_AREA (self->strips[row]), STRIP_H);
      g_object_set_data (G_OBJECT (self->strips[row]), "row", GUINT_TO_POINTER (row));
      gtk_drawing_area_set_draw_func (GTK_DRAWING_AREA (self->strips[row]), draw_strip,
                                      self, NULL);
      gtk_accessible_update_property (GTK_ACCESSIBLE (self->strips[row]),
                                      GTK_ACCESSIBLE_PROPERTY_LABEL, _("Allocation strip"),
                                      -1);
      gtk_box_append (GTK_BOX (self->rows[row]), self->strips[row]);
      gtk_widget_set_visible (self->rows[row], FALSE);
      gtk_widget_set_parent (self->rows[row], widget);
    }

  self->zeros_label = g_object_new (GTK_TYPE_LABEL, "xalign", 0.0f, NULL);
  gtk_widget_add_css_class (self->zeros_label, "caption");
  gtk_widget_add_css_class (self->zeros_label, "dim-label");
  gtk_widget_set_visible (self->zeros_label, FALSE);
  gtk_widget_set_parent (self->zeros_label, widget);
}
