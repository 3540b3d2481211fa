/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <glib/gi18n.h>

#include "strata-chain-graph.h"
#include "strata-chain-layout.h"
#include "strata-chain-node.h"

#define LOCK_REFRESH_SECONDS 3
#define EDGE_WIDTH           2.0f
#define DASH                 6.0f
#define VIEW_SLACK           32.0f

struct _StrataChainGraph
{
  GtkWidget          parent_instance;

  StrataLibrary     *library;
  StrataJobManager  *jobs;
  GPtrArray         *nodes;       /* StrataLibraryNode, mirrors the library's list model */
  GHashTable        *widgets;     /* StrataLibraryNode -> StrataChainNode (owned by GTK) */
  GPtrArray         *selection;   /* StrataLibraryNode; the first is the selected node */
  char              *pending_path;
  guint              lock_timeout;
  GtkAdjustment     *hadjustment;  /* the viewport's, while mapped */
  GtkAdjustment     *vadjustment;
};

G_DEFINE_FINAL_TYPE (StrataChainGraph, strata_chain_graph, GTK_TYPE_WIDGET)

enum {
  PROP_0,
  PROP_LIBRARY,
  PROP_JOBS,
  PROP_ZOOM,
  PROP_SELECTED_NODE,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

GtkWidget *
strata_chain_graph_new (void)
{
  return g_object_new (STRATA_TYPE_CHAIN_GRAPH, NULL);
}

static StrataChainLayout *
get_layout (StrataChainGraph *self)
{
  return STRATA_CHAIN_LAYOUT (gtk_widget_get_layout_manager (GTK_WIDGET (self)));
}

StrataLibraryNode *
strata_chain_graph_get_selected_node (StrataChainGraph *self)
{
  g_return_val_if_fail (STRATA_IS_CHAIN_GRAPH (self), NULL);
  return self->selection->len > 0 ? g_ptr_array_index (self->selection, 0) : NULL;
}

GtkWidget *
strata_chain_graph_get_node_widget (StrataChainGraph  *self,
                                    StrataLibraryNode *node)
{
  g_return_val_if_fail (STRATA_IS_CHAIN_GRAPH (self), NULL);
  return node != NULL ? g_hash_table_lookup (self->widgets, node) : NULL;
}

static void
set_selection (StrataChainGraph *self,
               GPtrArray        *nodes,
               gboolean          focus)
{
  StrataLibraryNode *old_primary = strata_chain_graph_get_selected_node (self);
  StrataLibraryNode *new_primary = NULL;
  GtkWidget *widget;

  for (guint i = 0; i < self->selection->len; i++)
    {
      widget = g_hash_table_lookup (self->widgets, g_ptr_array_index (self->selection, i));
      if (widget != NULL)
        strata_chain_node_set_selected (STRATA_CHAIN_NODE (widget), FALSE);
    }
  g_ptr_array_set_size (self->selection, 0);
  for (guint i = 0; nodes != NULL && i < nodes->len; i++)
    {
      StrataLibraryNode *node = g_ptr_array_index (nodes, i);

      widget = g_hash_table_lookup (self->widgets, node);
      if (widget == NULL)
        continue;
      g_ptr_array_add (self->selection, g_object_ref (node));
      strata_chain_node_set_selected (STRATA_CHAIN_NODE (widget), TRUE);
    }

  new_primary = strata_chain_graph_get_selected_node (self);
  if (focus && new_primary != NULL)
    gtk_widget_grab_focus (g_hash_table_lookup (self->widgets, new_primary));
  if (old_primary != new_primary)
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SELECTED_NODE]);
}

void
strata_chain_graph_select_nodes (StrataChainGraph *self,
                                 GPtrArray        *nodes)
{
  g_return_if_fail (STRATA_IS_CHAIN_GRAPH (self));

  g_clear_pointer (&self->pending_path, g_free);
  set_selection (self, nodes, TRUE);
}

void
strata_chain_graph_select_node (StrataChainGraph  *self,
                                StrataLibraryNode *node)
{
  g_autoptr(GPtrArray) nodes = g_ptr_array_new ();

  g_return_if_fail (STRATA_IS_CHAIN_GRAPH (self));

  if (node != NULL)
    g_ptr_array_add (nodes, node);
  strata_chain_graph_select_nodes (self, nodes);
}

void
strata_chain_graph_select_path (StrataChainGraph *self,
                                const char       *path)
{
  StrataLibraryNode *node;

  g_return_if_fail (STRATA_IS_CHAIN_GRAPH (self));
  g_return_if_fail (path != NULL);

  node = self->library != NULL ? strata_library_lookup (self->library, path) : NULL;
  if (node != NULL && g_hash_table_contains (self->widgets, node))
    {
      strata_chain_graph_select_node (self, node);
      return;
    }
  g_free (self->pending_path);
  self->pending_path = g_strdup (path);
}

double
strata_chain_graph_get_zoom (StrataChainGraph *self)
{
  g_return_val_if_fail (STRATA_IS_CHAIN_GRAPH (self), 1.0);
  return strata_chain_layout_get_zoom (get_layout (self));
}

void
strata_chain_graph_set_zoom (StrataChainGraph *self,
                             double            zoom)
{
  g_return_if_fail (STRATA_IS_CHAIN_GRAPH (self));

  zoom = CLAMP (zoom, STRATA_CHAIN_GRAPH_MIN_ZOOM, STRATA_CHAIN_GRAPH_MAX_ZOOM);
  if (G_APPROX_VALUE (zoom, strata_chain_graph_get_zoom (self), 0.001))
    return;
  strata_chain_layout_set_zoom (get_layout (self), zoom);
  gtk_widget_queue_resize (GTK_WIDGET (self));
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_ZOOM]);
}

void
strata_chain_graph_zoom_to_fit (StrataChainGraph *self,
                                int               width,
                                int               height)
{
  double zoom = 1.0;

  g_return_if_fail (STRATA_IS_CHAIN_GRAPH (self));

  if (width <= 0 || height <= 0)
    return;
  /* The flow depends on the width, so try smaller zooms until the height fits too. */
  while (zoom > STRATA_CHAIN_GRAPH_MIN_ZOOM)
    {
      int needed = strata_chain_layout_height_for_width (get_layout (self),
                                                         (int) (width / zoom));

      if (needed * zoom <= height)
        break;
      zoom /= 1.15;
    }
  strata_chain_graph_set_zoom (self, zoom);
}

static void
update_busy (StrataChainGraph *self)
{
  GHashTableIter iter;
  gpointer key, value;

  g_hash_table_iter_init (&iter, self->widgets);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      gboolean busy = self->jobs != NULL
                      && strata_job_manager_is_busy (self->jobs,
                                                     strata_library_node_get_path (key));

      strata_chain_node_set_busy (value, busy);
    }
}

static void
node_select_request_cb (StrataChainGraph *self,
                        StrataChainNode  *widget)
{
  strata_chain_graph_select_node (self, strata_chain_node_get_node (widget));
}

static void
node_locate_request_cb (StrataChainGraph *self,
                        StrataChainNode  *widget)
{
  g_autoptr(GPtrArray) overlays = strata_library_node_dup_overlays (strata_chain_node_get_node (widget));

  if (overlays == NULL || overlays->len == 0)
    return;
  strata_chain_graph_select_node (self, g_ptr_array_index (overlays, 0));
  gtk_widget_activate_action (GTK_WIDGET (self), "win.locate", NULL);
}

static void
add_node (StrataChainGraph  *self,
          StrataLibraryNode *node)
{
  GtkWidget *widget = strata_chain_node_new (node);

  g_signal_connect_object (widget, "select-request", G_CALLBACK (node_select_request_cb),
                           self, G_CONNECT_SWAPPED);
  g_signal_connect_object (widget, "locate-request", G_CALLBACK (node_locate_request_cb),
                           self, G_CONNECT_SWAPPED);
  gtk_widget_set_parent (widget, GTK_WIDGET (self));
  strata_chain_layout_invalidate (get_layout (self));
  g_hash_table_insert (self->widgets, node, widget);
  if (self->jobs != NULL)
    strata_chain_node_set_busy (STRATA_CHAIN_NODE (widget),
                                strata_job_manager_is_busy (self->jobs,
                                                            strata_library_node_get_path (node)));
  if (self->pending_path != NULL
      && g_strcmp0 (strata_library_node_get_path (node), self->pending_path) == 0)
    strata_chain_graph_select_node (self, node);
}

static void
remove_node (StrataChainGraph  *self,
             StrataLibraryNode *node)
{
  GtkWidget *widget = g_hash_table_lookup (self->widgets, node);

  if (g_ptr_array_find (self->selection, node, NULL))
    {
      g_autoptr(GPtrArray) rest = g_ptr_array_new ();

      for (guint i = 0; i < self->selection->len; i++)
        if (g_ptr_array_index (self->selection, i) != node)
          g_ptr_array_add (rest, g_ptr_array_index (self->selection, i));
      set_selection (self, rest, FALSE);
    }
  g_hash_table_remove (self->widgets, node);
  strata_chain_layout_invalidate (get_layout (self));
  if (widget != NULL)
    gtk_widget_unparent (widget);
}

static void
nodes_changed_cb (StrataChainGraph *self,
                  guint             position,
                  guint             removed,
                  guint             added,
                  GListModel       *model)
{
  for (guint i = 0; i < removed; i++)
    remove_node (self, g_ptr_array_index (self->nodes, position + i));
  g_ptr_array_remove_range (self->nodes, position, removed);
  for (guint i = 0; i < added; i++)
    {
      g_autoptr(StrataLibraryNode) node = g_list_model_get_item (model, position + i);

      g_ptr_array_insert (self->nodes, position + i, g_object_ref (node));
      add_node (self, node);
    }
  gtk_widget_queue_resize (GTK_WIDGET (self));
}

static void
edge_changed_cb (StrataChainGraph  *self,
                 StrataLibraryNode *overlay,
                 StrataLibraryNode *backing,
                 StrataLibrary     *library)
{
  GtkWidget *widget = g_hash_table_lookup (self->widgets, backing);

  /* The backing's "base of N" and writable-base badge depend on its overlays. */
  if (widget != NULL)
    strata_chain_node_update (STRATA_CHAIN_NODE (widget));
  widget = g_hash_table_lookup (self->widgets, overlay);
  if (widget != NULL)
    strata_chain_node_update (STRATA_CHAIN_NODE (widget));
  strata_chain_layout_invalidate (get_layout (self));
  gtk_widget_queue_resize (GTK_WIDGET (self));
}

static void
node_changed_cb (StrataChainGraph  *self,
                 StrataLibraryNode *node,
                 StrataLibrary     *library)
{
  /* A node's size or kind can change its height or its edges' style, its name its place. */
  strata_chain_layout_invalidate (get_layout (self));
  gtk_widget_queue_allocate (GTK_WIDGET (self));
}

static void
clear_nodes (StrataChainGraph *self)
{
  set_selection (self, NULL, FALSE);
  for (guint i = 0; i < self->nodes->len; i++)
    remove_node (self, g_ptr_array_index (self->nodes, i));
  g_ptr_array_set_size (self->nodes, 0);
}

void
strata_chain_graph_set_library (StrataChainGraph *self,
                                StrataLibrary    *library)
{
  GListModel *model;

  g_return_if_fail (STRATA_IS_CHAIN_GRAPH (self));
  g_return_if_fail (library == NULL || STRATA_IS_LIBRARY (library));

  if (self->library == library)
    return;
  if (self->library != NULL)
    {
      g_signal_handlers_disconnect_by_data (self->library, self);
      g_signal_handlers_disconnect_by_data (strata_library_get_nodes (self->library), self);
      clear_nodes (self);
    }
  g_set_object (&self->library, library);
  if (library != NULL)
    {
      model = strata_library_get_nodes (library);
      g_signal_connect_object (model, "items-changed", G_CALLBACK (nodes_changed_cb), self,
                               G_CONNECT_SWAPPED);
      g_signal_connect_object (library, "edge-added", G_CALLBACK (edge_changed_cb), self,
                               G_CONNECT_SWAPPED);
      g_signal_connect_object (library, "edge-removed", G_CALLBACK (edge_changed_cb), self,
                               G_CONNECT_SWAPPED);
      g_signal_connect_object (library, "node-changed", G_CALLBACK (node_changed_cb), self,
                               G_CONNECT_SWAPPED);
      nodes_changed_cb (self, 0, 0, g_list_model_get_n_items (model), model);
    }
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_LIBRARY]);
}

void
strata_chain_graph_set_jobs (StrataChainGraph *self,
                             StrataJobManager *jobs)
{
  g_return_if_fail (STRATA_IS_CHAIN_GRAPH (self));

  if (self->jobs == jobs)
    return;
  if (self->jobs != NULL)
    g_signal_handlers_disconnect_by_data (self->jobs, self);
  g_set_object (&self->jobs, jobs);
  if (jobs != NULL)
    {
      g_signal_connect_object (jobs, "items-changed", G_CALLBACK (update_busy), self,
                               G_CONNECT_SWAPPED);
      g_signal_connect_object (jobs, "notify::n-running", G_CALLBACK (update_busy), self,
                               G_CONNECT_SWAPPED);
      /* A finished job (a virtual machine above all) has let go of its images' locks. */
      g_signal_connect_object (jobs, "job-finished",
                               G_CALLBACK (strata_chain_graph_refresh_locks), self,
                               G_CONNECT_SWAPPED);
    }
  update_busy (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_JOBS]);
}

void
strata_chain_graph_refresh_locks (StrataChainGraph *self)
{
  GtkWidget *view;
  graphene_rect_t visible;
  g_autoptr(GPtrArray) nodes = NULL;
  GHashTableIter iter;
  gpointer key, value;

  g_return_if_fail (STRATA_IS_CHAIN_GRAPH (self));

  if (self->library == NULL || !gtk_widget_get_mapped (GTK_WIDGET (self)))
    return;

  /* The graph sits in a viewport: what is in view is what the viewport shows. */
  view = gtk_widget_get_parent (GTK_WIDGET (self));
  if (view == NULL)
    view = GTK_WIDGET (self);
  visible = GRAPHENE_RECT_INIT (0, 0, gtk_widget_get_width (view),
                                gtk_widget_get_height (view));
  nodes = g_ptr_array_new ();
  g_hash_table_iter_init (&iter, self->widgets);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      graphene_rect_t bounds;
      StrataNodeKind kind = strata_library_node_get_kind (key);

      if (kind != STRATA_NODE_IMAGE && kind != STRATA_NODE_EXTERNAL)
        continue;
      if (gtk_widget_compute_bounds (value, view, &bounds)
          && graphene_rect_intersection (&bounds, &visible, NULL))
        g_ptr_array_add (nodes, key);
    }
  if (nodes->len > 0)
    strata_library_refresh_locks (self->library, nodes);
}

static gboolean
lock_timeout_cb (gpointer user_data)
{
  strata_chain_graph_refresh_locks (user_data);
  return G_SOURCE_CONTINUE;
}

/* Keyboard navigation along the tree. */

static GPtrArray *
dup_siblings (StrataChainGraph  *self,
              StrataLibraryNode *node)
{
  StrataLibraryNode *backing = strata_library_node_get_backing (node);
  GPtrArray *roots;
  GPtrArray *siblings;

  if (backing != NULL && g_hash_table_contains (self->widgets, backing))
    return strata_library_node_dup_overlays (backing);

  roots = strata_chain_layout_get_roots (get_layout (self));
  siblings = g_ptr_array_new_with_free_func (g_object_unref);
  for (guint i = 0; i < roots->len; i++)
    g_ptr_array_add (siblings,
                     g_object_ref (strata_chain_node_get_node (g_ptr_array_index (roots, i))));
  return siblings;
}

static StrataLibraryNode *
neighbour (StrataChainGraph  *self,
           StrataLibraryNode *node,
           guint              keyval)
{
  switch (keyval)
    {
    case GDK_KEY_Up:
    case GDK_KEY_KP_Up:
      return strata_library_node_get_backing (node);

    case GDK_KEY_Down:
    case GDK_KEY_KP_Down:
      {
        g_autoptr(GPtrArray) overlays = strata_library_node_dup_overlays (node);

        return overlays != NULL && overlays->len > 0 ? g_ptr_array_index (overlays, 0) : NULL;
      }

    case GDK_KEY_Left:
    case GDK_KEY_KP_Left:
    case GDK_KEY_Right:
    case GDK_KEY_KP_Right:
      {
        g_autoptr(GPtrArray) siblings = dup_siblings (self, node);
        gboolean forward = keyval == GDK_KEY_Right || keyval == GDK_KEY_KP_Right;
        guint index;

        if (siblings == NULL || !g_ptr_array_find (siblings, node, &index))
          return NULL;
        if (forward && index + 1 < siblings->len)
          return g_ptr_array_index (siblings, index + 1);
        if (!forward && index > 0)
          return g_ptr_array_index (siblings, index - 1);
        return NULL;
      }

    default:
      return NULL;
    }
}

/* "graph.select-backing", "graph.select-overlay", "graph.select-previous",
 * "graph.select-next": the arrow keys, as actions so that tests and assistive tools
 * can use them too. */
static void
navigate_action_cb (GtkWidget  *widget,
                    const char *action_name,
                    GVariant   *parameter)
{
  StrataChainGraph *self = STRATA_CHAIN_GRAPH (widget);
  StrataLibraryNode *node = strata_chain_graph_get_selected_node (self);
  StrataLibraryNode *next = NULL;
  guint keyval;

  if (node == NULL)
    return;
  if (g_str_equal (action_name, "graph.select-backing"))
    keyval = GDK_KEY_Up;
  else if (g_str_equal (action_name, "graph.select-overlay"))
    keyval = GDK_KEY_Down;
  else if (g_str_equal (action_name, "graph.select-previous"))
    keyval = gtk_widget_get_direction (widget) == GTK_TEXT_DIR_RTL ? GDK_KEY_Right : GDK_KEY_Left;
  else
    keyval = gtk_widget_get_direction (widget) == GTK_TEXT_DIR_RTL ? GDK_KEY_Left : GDK_KEY_Right;

  next = neighbour (self, node, keyval);
  if (next != NULL && g_hash_table_contains (self->widgets, next))
    strata_chain_graph_select_node (self, next);
  else
    gtk_widget_error_bell (widget);
}

static void
strata_chain_graph_set_focus_child (GtkWidget *widget,
                                    GtkWidget *child)
{
  StrataChainGraph *self = STRATA_CHAIN_GRAPH (widget);

  GTK_WIDGET_CLASS (strata_chain_graph_parent_class)->set_focus_child (widget, child);

  /* Tabbing onto a node selects it, as in a list. */
  if (STRATA_IS_CHAIN_NODE (child))
    {
      StrataLibraryNode *node = strata_chain_node_get_node (STRATA_CHAIN_NODE (child));

      if (!g_ptr_array_find (self->selection, node, NULL))
        {
          g_autoptr(GPtrArray) nodes = g_ptr_array_new ();

          g_ptr_array_add (nodes, node);
          set_selection (self, nodes, FALSE);
        }
    }
}

/* Edges: orthogonal polylines drawn as thin rectangles, which costs nothing per edge. */

static void
append_segment (GtkSnapshot          *snapshot,
                const GdkRGBA        *color,
                const graphene_point_t *a,
                const graphene_point_t *b,
                gboolean              dashed)
{
  float x0 = MIN (a->x, b->x), x1 = MAX (a->x, b->x);
  float y0 = MIN (a->y, b->y), y1 = MAX (a->y, b->y);
  gboolean horizontal = (y1 - y0) < (x1 - x0);
  float length = horizontal ? x1 - x0 : y1 - y0;
  float half = EDGE_WIDTH / 2;

  if (!dashed)
    {
      if (horizontal)
        gtk_snapshot_append_color (snapshot, color,
                                   &GRAPHENE_RECT_INIT (x0 - half, y0 - half,
                                                        length + EDGE_WIDTH, EDGE_WIDTH));
      else
        gtk_snapshot_append_color (snapshot, color,
                                   &GRAPHENE_RECT_INIT (x0 - half, y0 - half,
                                                        EDGE_WIDTH, length + EDGE_WIDTH));
      return;
    }

  for (float pos = 0; pos < length; pos += 2 * DASH)
    {
      float dash = MIN (DASH, length - pos);

      if (horizontal)
        gtk_snapshot_append_color (snapshot, color,
                                   &GRAPHENE_RECT_INIT (x0 + pos - half, y0 - half,
                                                        dash + EDGE_WIDTH, EDGE_WIDTH));
      else
        gtk_snapshot_append_color (snapshot, color,
                                   &GRAPHENE_RECT_INIT (x0 - half, y0 + pos - half,
                                                        EDGE_WIDTH, dash + EDGE_WIDTH));
    }
}

/* An opaque colour @alpha of the way from the background to @name, so that edges sharing
 * a trunk do not darken where they overlap. */
static void
lookup_color (GtkWidget  *widget,
              const char *name,
              double      alpha,
              GdkRGBA    *color)
{
  GtkStyleContext *context = gtk_widget_get_style_context (widget);
  GdkRGBA bg;

  if (!gtk_style_context_lookup_color (context, name, color))
    gtk_style_context_get_color (context, color);
  if (!gtk_style_context_lookup_color (context, "view_bg_color", &bg))
    bg = (GdkRGBA) { 1, 1, 1, 1 };
  color->red = bg.red + (color->red - bg.red) * alpha;
  color->green = bg.green + (color->green - bg.green) * alpha;
  color->blue = bg.blue + (color->blue - bg.blue) * alpha;
  color->alpha = 1.0;
}

/* What the viewport shows of the graph, in the graph's coordinates, with room around it
 * for what nodes draw outside their bounds (focus rings, shadows). */
static gboolean
get_visible_rect (StrataChainGraph *self,
                  graphene_rect_t  *visible)
{
  GtkWidget *view = gtk_widget_get_parent (GTK_WIDGET (self));

  if (self->vadjustment == NULL || view == NULL
      || !gtk_widget_compute_bounds (view, GTK_WIDGET (self), visible))
    return FALSE;
  graphene_rect_inset (visible, -VIEW_SLACK, -VIEW_SLACK);
  return TRUE;
}

static void
adjustment_changed_cb (StrataChainGraph *self)
{
  /* GTK keeps the graph's last drawing when only its position in the viewport changes:
   * nodes scrolled into view have to be added to it. */
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

static void
set_adjustment (StrataChainGraph  *self,
                GtkAdjustment    **slot,
                GtkAdjustment     *adjustment)
{
  if (*slot == adjustment)
    return;
  if (*slot != NULL)
    g_signal_handlers_disconnect_by_func (*slot, adjustment_changed_cb, self);
  g_set_object (slot, adjustment);
  if (adjustment != NULL)
    {
      g_signal_connect_object (adjustment, "value-changed",
                               G_CALLBACK (adjustment_changed_cb), self, G_CONNECT_SWAPPED);
      g_signal_connect_object (adjustment, "changed",
                               G_CALLBACK (adjustment_changed_cb), self, G_CONNECT_SWAPPED);
    }
}

static void
watch_viewport (StrataChainGraph *self,
                gboolean          watch)
{
  GtkWidget *view = gtk_widget_get_parent (GTK_WIDGET (self));
  gboolean scrollable = watch && view != NULL && GTK_IS_SCROLLABLE (view);

  set_adjustment (self, &self->hadjustment,
                  scrollable ? gtk_scrollable_get_hadjustment (GTK_SCROLLABLE (view)) : NULL);
  set_adjustment (self, &self->vadjustment,
                  scrollable ? gtk_scrollable_get_vadjustment (GTK_SCROLLABLE (view)) : NULL);
  /* Without both, every node is drawn. */
  if (self->hadjustment == NULL || self->vadjustment == NULL)
    {
      set_adjustment (self, &self->hadjustment, NULL);
      set_adjustment (self, &self->vadjustment, NULL);
    }
}

static void
strata_chain_graph_snapshot (GtkWidget   *widget,
                             GtkSnapshot *snapshot)
{
  StrataChainGraph *self = STRATA_CHAIN_GRAPH (widget);
  StrataChainLayout *layout = get_layout (self);
  GArray *edges = strata_chain_layout_get_edges (layout);
  double zoom = strata_chain_layout_get_zoom (layout);
  graphene_rect_t visible;
  gboolean has_view;
  GdkRGBA colors[3];

  lookup_color (widget, "window_fg_color", 0.35, &colors[STRATA_EDGE_NORMAL]);
  lookup_color (widget, "error_color", 0.8, &colors[STRATA_EDGE_BROKEN]);
  lookup_color (widget, "window_fg_color", 0.3, &colors[STRATA_EDGE_EXTERNAL]);

  gtk_snapshot_save (snapshot);
  gtk_snapshot_scale (snapshot, zoom, zoom);
  for (guint i = 0; i < edges->len; i++)
    {
      const StrataChainEdge *edge = &g_array_index (edges, StrataChainEdge, i);

      for (guint p = 0; p + 1 < edge->n_points; p++)
        append_segment (snapshot, &colors[edge->kind], &edge->points[p], &edge->points[p + 1],
                        edge->kind != STRATA_EDGE_NORMAL);
    }
  gtk_snapshot_restore (snapshot);

  /* Only the nodes in view: a thousand nodes drawn off screen cost more than the whole
   * graph's layout. Scrolling redraws the graph (see adjustment_changed_cb). */
  has_view = get_visible_rect (self, &visible);
  for (GtkWidget *child = gtk_widget_get_first_child (widget);
       child != NULL;
       child = gtk_widget_get_next_sibling (child))
    {
      graphene_rect_t bounds;

      if (has_view && gtk_widget_compute_bounds (child, widget, &bounds)
          && !graphene_rect_intersection (&bounds, &visible, NULL))
        continue;
      gtk_widget_snapshot_child (widget, child, snapshot);
    }
}

static void
strata_chain_graph_map (GtkWidget *widget)
{
  StrataChainGraph *self = STRATA_CHAIN_GRAPH (widget);

  GTK_WIDGET_CLASS (strata_chain_graph_parent_class)->map (widget);
  /* The layout measures nothing while the graph is unmapped. */
  gtk_widget_queue_resize (widget);
  watch_viewport (self, TRUE);
  if (self->lock_timeout == 0)
    self->lock_timeout = g_timeout_add_seconds (LOCK_REFRESH_SECONDS, lock_timeout_cb, self);
}

static void
strata_chain_graph_unmap (GtkWidget *widget)
{
  StrataChainGraph *self = STRATA_CHAIN_GRAPH (widget);

  g_clear_handle_id (&self->lock_timeout, g_source_remove);
  watch_viewport (self, FALSE);
  GTK_WIDGET_CLASS (strata_chain_graph_parent_class)->unmap (widget);
}

static void
strata_chain_graph_dispose (GObject *object)
{
  StrataChainGraph *self = STRATA_CHAIN_GRAPH (object);

  g_clear_handle_id (&self->lock_timeout, g_source_remove);
  watch_viewport (self, FALSE);
  strata_chain_graph_set_jobs (self, NULL);
  strata_chain_graph_set_library (self, NULL);
  g_clear_pointer (&self->pending_path, g_free);

  G_OBJECT_CLASS (strata_chain_graph_parent_class)->dispose (object);
}

static void
strata_chain_graph_finalize (GObject *object)
{
  StrataChainGraph *self = STRATA_CHAIN_GRAPH (object);

  g_ptr_array_unref (self->nodes);
  g_ptr_array_unref (self->selection);
  g_hash_table_unref (self->widgets);

  G_OBJECT_CLASS (strata_chain_graph_parent_class)->finalize (object);
}

static void
strata_chain_graph_get_property (GObject    *object,
                                 guint       prop_id,
                                 GValue     *value,
                                 GParamSpec *pspec)
{
  StrataChainGraph *self = STRATA_CHAIN_GRAPH (object);

  switch (prop_id)
    {
    case PROP_LIBRARY:
      g_value_set_object (value, self->library);
      break;
    case PROP_JOBS:
      g_value_set_object (value, self->jobs);
      break;
    case PROP_ZOOM:
      g_value_set_double (value, strata_chain_graph_get_zoom (self));
      break;
    case PROP_SELECTED_NODE:
      g_value_set_object (value, strata_chain_graph_get_selected_node (self));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
strata_chain_graph_set_property (GObject      *object,
                                 guint         prop_id,
                                 const GValue *value,
                                 GParamSpec   *pspec)
{
  StrataChainGraph *self = STRATA_CHAIN_GRAPH (object);

  switch (prop_id)
    {
    case PROP_LIBRARY:
      strata_chain_graph_set_library (self, g_value_get_object (value));
      break;
    case PROP_JOBS:
      strata_chain_graph_set_jobs (self, g_value_get_object (value));
      break;
    case PROP_ZOOM:
      strata_chain_graph_set_zoom (self, g_value_get_double (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
strata_chain_graph_class_init (StrataChainGraphClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = strata_chain_graph_dispose;
  object_class->finalize = strata_chain_graph_finalize;
  object_class->get_property = strata_chain_graph_get_property;
  object_class->set_property = strata_chain_graph_set_property;
  widget_class->snapshot = strata_chain_graph_snapshot;
  widget_class->set_focus_child = strata_chain_graph_set_focus_child;
  widget_class->map = strata_chain_graph_map;
  widget_class->unmap = strata_chain_graph_unmap;

  properties[PROP_LIBRARY] =
    g_param_spec_object ("library", NULL, NULL, STRATA_TYPE_LIBRARY,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_JOBS] =
    g_param_spec_object ("jobs", NULL, NULL, STRATA_TYPE_JOB_MANAGER,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_ZOOM] =
    g_param_spec_double ("zoom", NULL, NULL,
                         STRATA_CHAIN_GRAPH_MIN_ZOOM, STRATA_CHAIN_GRAPH_MAX_ZOOM, 1.0,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_SELECTED_NODE] =
    g_param_spec_object ("selected-node", NULL, NULL, STRATA_TYPE_LIBRARY_NODE,
                         G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  {
    static const struct { const char *action; guint keys[2]; } bindings[] = {
      { "graph.select-backing", { GDK_KEY_Up, GDK_KEY_KP_Up } },
      { "graph.select-overlay", { GDK_KEY_Down, GDK_KEY_KP_Down } },
      { "graph.select-previous", { GDK_KEY_Left, GDK_KEY_KP_Left } },
      { "graph.select-next", { GDK_KEY_Right, GDK_KEY_KP_Right } },
    };

    for (guint i = 0; i < G_N_ELEMENTS (bindings); i++)
      {
        gtk_widget_class_install_action (widget_class, bindings[i].action, NULL,
                                         navigate_action_cb);
        for (guint k = 0; k < 2; k++)
          gtk_widget_class_add_binding_action (widget_class, bindings[i].keys[k], 0,
                                               bindings[i].action, NULL);
      }
    gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Delete, 0, "win.delete", NULL);
    gtk_widget_class_add_binding_action (widget_class, GDK_KEY_KP_Delete, 0, "win.delete", NULL);
  }

  gtk_widget_class_set_layout_manager_type (widget_class, STRATA_TYPE_CHAIN_LAYOUT);
  gtk_widget_class_set_css_name (widget_class, "chaingraph");
  gtk_widget_class_set_accessible_role (widget_class, GTK_ACCESSIBLE_ROLE_TREE);
}

static void
strata_chain_graph_init (StrataChainGraph *self)
{
  self->nodes = g_ptr_array_new_with_free_func (g_object_unref);
  self->selection = g_ptr_array_new_with_free_func (g_object_unref);
  self->widgets = g_hash_table_new (NULL, NULL);

  gtk_accessible_update_property (GTK_ACCESSIBLE (self),
                                  GTK_ACCESSIBLE_PROPERTY_LABEL, _("Backing chains"),
                                  -1);
}
