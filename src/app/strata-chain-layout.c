/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <string.h>

#include "strata-chain-layout.h"
#include "strata-chain-node.h"

#define NODE_W         STRATA_CHAIN_NODE_WIDTH
#define MARGIN         24
#define HGAP           16   /* between siblings */
#define VGAP           40   /* between layers; the edges run here */
#define CHAIN_GAP      40   /* between chains in a row */
#define ROW_GAP        48   /* between rows of chains */
#define GRID_THRESHOLD 6    /* more leaf overlays than this go into a grid */
#define GRID_COLUMNS   3
#define GRID_INDENT    28   /* room left of a grid for its trunk */

typedef struct _Item Item;
struct _Item
{
  GtkWidget         *widget;
  StrataLibraryNode *node;
  char              *sort_key;   /* the name's collation key */
  Item              *parent;
  GPtrArray         *children;   /* Item *, not owned */
  int                height;
  int                sub_w;      /* the subtree's box */
  int                sub_h;
  int                node_x;     /* the node inside its subtree's box */
  int                off_x;      /* the subtree's box inside its parent's */
  int                off_y;
  int                x;          /* absolute, zoom 1 */
  int                y;
  guint              grid : 1;
  guint              visited : 1;
};

typedef struct
{
  GArray    *items;      /* Item */
  GPtrArray *roots;      /* Item * */
  int        slot_h;     /* the height of a layer: the tallest node */
  int        min_width;
} Forest;

struct _StrataChainLayout
{
  GtkLayoutManager  parent_instance;

  double            zoom;
  GArray           *edges;
  GPtrArray        *roots;
  /* The chains' shape (who backs whom, in which order) is kept between measure and
   * allocate: it changes only when the graph says so, while GTK asks for sizes many times
   * a frame. The heights and boxes are computed afresh each time. */
  Forest            forest;
  gboolean          forest_valid;
};

G_DEFINE_FINAL_TYPE (StrataChainLayout, strata_chain_layout, GTK_TYPE_LAYOUT_MANAGER)

GtkLayoutManager *
strata_chain_layout_new (void)
{
  return g_object_new (STRATA_TYPE_CHAIN_LAYOUT, NULL);
}

double
strata_chain_layout_get_zoom (StrataChainLayout *self)
{
  g_return_val_if_fail (STRATA_IS_CHAIN_LAYOUT (self), 1.0);
  return self->zoom;
}

void
strata_chain_layout_set_zoom (StrataChainLayout *self,
                              double             zoom)
{
  g_return_if_fail (STRATA_IS_CHAIN_LAYOUT (self));

  if (G_APPROX_VALUE (self->zoom, zoom, 0.001))
    return;
  self->zoom = zoom;
  gtk_layout_manager_layout_changed (GTK_LAYOUT_MANAGER (self));
}

GArray *
strata_chain_layout_get_edges (StrataChainLayout *self)
{
  g_return_val_if_fail (STRATA_IS_CHAIN_LAYOUT (self), NULL);
  return self->edges;
}

GPtrArray *
strata_chain_layout_get_roots (StrataChainLayout *self)
{
  g_return_val_if_fail (STRATA_IS_CHAIN_LAYOUT (self), NULL);
  return self->roots;
}

static int
compare_items_by_name (gconstpointer a,
                       gconstpointer b)
{
  const Item *ia = *(const Item * const *) a;
  const Item *ib = *(const Item * const *) b;

  return strcmp (ia->sort_key, ib->sort_key);
}

/* Chains with overlays first, then single images; by name within each. */
static int
compare_roots (gconstpointer a,
               gconstpointer b)
{
  const Item *ia = *(const Item * const *) a;
  const Item *ib = *(const Item * const *) b;
  gboolean ta = ia->children->len > 0;
  gboolean tb = ib->children->len > 0;

  if (ta != tb)
    return ta ? -1 : 1;
  return compare_items_by_name (a, b);
}

static void
mark_visited (Item *item)
{
  /* Iterative, so that a chain a thousand layers deep does not exhaust the stack. */
  g_autoptr(GPtrArray) stack = g_ptr_array_new ();

  g_ptr_array_add (stack, item);
  while (stack->len > 0)
    {
      Item *it = g_ptr_array_steal_index_fast (stack, stack->len - 1);

      if (it->visited)
        continue;
      it->visited = TRUE;
      for (guint i = 0; i < it->children->len; i++)
        g_ptr_array_add (stack, g_ptr_array_index (it->children, i));
    }
}

static void
forest_clear (Forest *forest)
{
  if (forest->items == NULL)
    return;
  for (guint i = 0; i < forest->items->len; i++)
    {
      Item *item = &g_array_index (forest->items, Item, i);

      g_ptr_array_unref (item->children);
      g_free (item->sort_key);
    }
  g_clear_pointer (&forest->items, g_array_unref);
  g_clear_pointer (&forest->roots, g_ptr_array_unref);
}

static void
layout_subtree (Forest *forest,
                Item   *item)
{
  int slot = forest->slot_h;
  guint n = item->children->len;
  gboolean all_leaves = TRUE;

  item->node_x = 0;
  item->grid = FALSE;
  if (n == 0)
    {
      item->sub_w = NODE_W;
      item->sub_h = slot;
      return;
    }

  for (guint i = 0; i < n; i++)
    {
      Item *child = g_ptr_array_index (item->children, i);

      layout_subtree (forest, child);
      if (child->children->len > 0)
        all_leaves = FALSE;
    }

  if (all_leaves && n > GRID_THRESHOLD)
    {
      guint cols = MIN (n, GRID_COLUMNS);
      guint rows = (n + cols - 1) / cols;

      item->grid = TRUE;
      for (guint i = 0; i < n; i++)
        {
          Item *child = g_ptr_array_index (item->children, i);

          child->off_x = GRID_INDENT + (int) (i % cols) * (NODE_W + HGAP);
          child->off_y = (int) (i / cols + 1) * (slot + VGAP);
        }
      item->sub_w = MAX (NODE_W, GRID_INDENT + (int) cols * (NODE_W + HGAP) - HGAP);
      item->sub_h = (int) (rows + 1) * (slot + VGAP) - VGAP;
      return;
    }

  {
    int cx = 0;
    int max_h = 0;
    int first_center, last_center, span, shift = 0;
    Item *first = g_ptr_array_index (item->children, 0);
    Item *last = g_ptr_array_index (item->children, n - 1);

    for (guint i = 0; i < n; i++)
      {
        Item *child = g_ptr_array_index (item->children, i);

        child->off_x = cx;
        child->off_y = slot + VGAP;
        cx += child->sub_w + HGAP;
        max_h = MAX (max_h, child->sub_h);
      }
    span = cx - HGAP;
    first_center = first->off_x + first->node_x + NODE_W / 2;
    last_center = last->off_x + last->node_x + NODE_W / 2;
    item->node_x = (first_center + last_center) / 2 - NODE_W / 2;
    if (item->node_x < 0)
      {
        shift = -item->node_x;
        item->node_x = 0;
        for (guint i = 0; i < n; i++)
          ((Item *) g_ptr_array_index (item->children, i))->off_x += shift;
      }
    item->sub_w = MAX (span + shift, item->node_x + NODE_W);
    item->sub_h = slot + VGAP + max_h;
  }
}

static void
build_forest (GtkWidget *widget,
              Forest    *forest)
{
  g_autoptr(GHashTable) by_node = g_hash_table_new (NULL, NULL);
  guint n = 0;

  for (GtkWidget *child = gtk_widget_get_first_child (widget);
       child != NULL;
       child = gtk_widget_get_next_sibling (child))
    if (STRATA_IS_CHAIN_NODE (child) && gtk_widget_should_layout (child))
      n++;

  forest->items = g_array_sized_new (FALSE, TRUE, sizeof (Item), n);
  forest->roots = g_ptr_array_new ();
  forest->slot_h = 0;
  forest->min_width = 0;

  for (GtkWidget *child = gtk_widget_get_first_child (widget);
       child != NULL;
       child = gtk_widget_get_next_sibling (child))
    {
      Item item = { 0 };

      if (!STRATA_IS_CHAIN_NODE (child) || !gtk_widget_should_layout (child))
        continue;
      item.widget = child;
      item.node = strata_chain_node_get_node (STRATA_CHAIN_NODE (child));
      item.sort_key = g_utf8_collate_key (strata_library_node_get_name (item.node), -1);
      item.children = g_ptr_array_new ();
      g_array_append_val (forest->items, item);
    }

  /* The array no longer grows: pointers into it stay valid from here on. */
  for (guint i = 0; i < forest->items->len; i++)
    {
      Item *item = &g_array_index (forest->items, Item, i);

      g_hash_table_insert (by_node, item->node, item);
    }
  for (guint i = 0; i < forest->items->len; i++)
    {
      Item *item = &g_array_index (forest->items, Item, i);
      StrataLibraryNode *backing = strata_library_node_get_backing (item->node);
      Item *parent = backing != NULL ? g_hash_table_lookup (by_node, backing) : NULL;

      if (parent != NULL && parent != item)
        {
          item->parent = parent;
          g_ptr_array_add (parent->children, item);
        }
    }
  for (guint i = 0; i < forest->items->len; i++)
    {
      Item *item = &g_array_index (forest->items, Item, i);

      g_ptr_array_sort (item->children, compare_items_by_name);
      if (item->parent == NULL)
        {
          g_ptr_array_add (forest->roots, item);
          mark_visited (item);
        }
    }
  /* Whatever is left sits on a cycle of backing pointers: cut it open at one node. */
  for (guint i = 0; i < forest->items->len; i++)
    {
      Item *item = &g_array_index (forest->items, Item, i);

      if (item->visited)
        continue;
      g_ptr_array_remove (item->parent->children, item);
      item->parent = NULL;
      g_ptr_array_add (forest->roots, item);
      mark_visited (item);
    }
  g_ptr_array_sort (forest->roots, compare_roots);
}

/* The nodes' heights (GTK keeps each widget's last measurement) and the chains' boxes. */
static void
measure_forest (Forest *forest)
{
  forest->slot_h = 0;
  forest->min_width = 0;
  for (guint i = 0; i < forest->items->len; i++)
    {
      Item *item = &g_array_index (forest->items, Item, i);

      gtk_widget_measure (item->widget, GTK_ORIENTATION_VERTICAL, NODE_W, NULL, &item->height,
                          NULL, NULL);
      forest->slot_h = MAX (forest->slot_h, item->height);
    }
  for (guint i = 0; i < forest->roots->len; i++)
    {
      Item *root = g_ptr_array_index (forest->roots, i);

      layout_subtree (forest, root);
      forest->min_width = MAX (forest->min_width, root->sub_w + 2 * MARGIN);
    }
}

static Forest *
ensure_forest (StrataChainLayout *self,
               GtkWidget         *widget)
{
  if (!self->forest_valid)
    {
      forest_clear (&self->forest);
      build_forest (widget, &self->forest);
      self->forest_valid = TRUE;
    }
  measure_forest (&self->forest);
  return &self->forest;
}

void
strata_chain_layout_invalidate (StrataChainLayout *self)
{
  g_return_if_fail (STRATA_IS_CHAIN_LAYOUT (self));

  self->forest_valid = FALSE;
  gtk_layout_manager_layout_changed (GTK_LAYOUT_MANAGER (self));
}

/* Flows the chains into rows @width wide; returns the height needed. */
static int
flow_forest (Forest *forest,
             int     width)
{
  int x = MARGIN, y = MARGIN, row_h = 0;

  for (guint i = 0; i < forest->roots->len; i++)
    {
      Item *root = g_ptr_array_index (forest->roots, i);

      if (x > MARGIN && x + root->sub_w > width - MARGIN)
        {
          x = MARGIN;
          y += row_h + ROW_GAP;
          row_h = 0;
        }
      root->off_x = x;
      root->off_y = y;
      x += root->sub_w + CHAIN_GAP;
      row_h = MAX (row_h, root->sub_h);
    }
  return forest->roots->len > 0 ? y + row_h + MARGIN : 0;
}

static StrataEdgeKind
edge_kind_for (StrataLibraryNode *backing)
{
  switch (strata_library_node_get_kind (backing))
    {
    case STRATA_NODE_MISSING:
    case STRATA_NODE_UNREADABLE:
    case STRATA_NODE_LOOP:
      return STRATA_EDGE_BROKEN;
    case STRATA_NODE_EXTERNAL:
      return STRATA_EDGE_EXTERNAL;
    case STRATA_NODE_IMAGE:
    default:
      return STRATA_EDGE_NORMAL;
    }
}

static void
place_subtree (StrataChainLayout *self,
               Forest            *forest,
               Item              *item,
               int                box_x,
               int                box_y)
{
  item->x = box_x + item->node_x;
  item->y = box_y;

  for (guint i = 0; i < item->children->len; i++)
    {
      Item *child = g_ptr_array_index (item->children, i);
      StrataChainEdge edge = { edge_kind_for (item->node), 4, };
      int child_top = box_y + child->off_y;
      int child_center;
      float start_x, bus_y = child_top - VGAP / 2;

      place_subtree (self, forest, child, box_x + child->off_x, child_top);
      child_center = child->x + NODE_W / 2;
      start_x = item->grid ? item->x + GRID_INDENT / 2 : item->x + NODE_W / 2;
      edge.points[0] = GRAPHENE_POINT_INIT (start_x, item->y + item->height);
      edge.points[1] = GRAPHENE_POINT_INIT (start_x, bus_y);
      edge.points[2] = GRAPHENE_POINT_INIT (child_center, bus_y);
      edge.points[3] = GRAPHENE_POINT_INIT (child_center, child_top);
      g_array_append_val (self->edges, edge);
    }
}

int
strata_chain_layout_height_for_width (StrataChainLayout *self,
                                      int                width)
{
  Forest *forest;

  g_return_val_if_fail (STRATA_IS_CHAIN_LAYOUT (self), 0);

  forest = ensure_forest (self, gtk_layout_manager_get_widget (GTK_LAYOUT_MANAGER (self)));
  return flow_forest (forest, MAX (width, forest->min_width));
}

static GtkSizeRequestMode
strata_chain_layout_get_request_mode (GtkLayoutManager *manager,
                                      GtkWidget        *widget)
{
  return GTK_SIZE_REQUEST_HEIGHT_FOR_WIDTH;
}

static void
strata_chain_layout_measure (GtkLayoutManager *manager,
                             GtkWidget        *widget,
                             GtkOrientation    orientation,
                             int               for_size,
                             int              *minimum,
                             int              *natural,
                             int              *minimum_baseline,
                             int              *natural_baseline)
{
  StrataChainLayout *self = STRATA_CHAIN_LAYOUT (manager);
  Forest *forest;

  /* A homogeneous GtkStack measures its hidden pages too: while the library loads, the
   * graph is measured behind the "scanning" page, with node texts that are still changing.
   * Measuring a thousand nodes then is wasted; the graph asks again when it is mapped. */
  if (!gtk_widget_get_mapped (widget))
    {
      *minimum = *natural = 0;
      return;
    }

  forest = ensure_forest (self, widget);
  if (orientation == GTK_ORIENTATION_HORIZONTAL)
    {
      *minimum = *natural = (int) ceil (forest->min_width * self->zoom);
    }
  else
    {
      int width = for_size < 0 ? forest->min_width : (int) (for_size / self->zoom);

      width = MAX (width, forest->min_width);
      *minimum = *natural = (int) ceil (flow_forest (forest, width) * self->zoom);
    }
}

static void
strata_chain_layout_allocate (GtkLayoutManager *manager,
                              GtkWidget        *widget,
                              int               width,
                              int               height,
                              int               baseline)
{
  StrataChainLayout *self = STRATA_CHAIN_LAYOUT (manager);
  Forest *forest = ensure_forest (self, widget);

  flow_forest (forest, MAX ((int) (width / self->zoom), forest->min_width));

  g_array_set_size (self->edges, 0);
  g_ptr_array_set_size (self->roots, 0);
  for (guint i = 0; i < forest->roots->len; i++)
    {
      Item *root = g_ptr_array_index (forest->roots, i);

      place_subtree (self, forest, root, root->off_x, root->off_y);
      g_ptr_array_add (self->roots, g_object_ref (root->widget));
    }
  for (guint i = 0; i < forest->items->len; i++)
    {
      Item *item = &g_array_index (forest->items, Item, i);
      GskTransform *transform = NULL;

      transform = gsk_transform_translate (transform,
                                           &GRAPHENE_POINT_INIT (item->x * self->zoom,
                                                                 item->y * self->zoom));
      transform = gsk_transform_scale (transform, self->zoom, self->zoom);
      gtk_widget_allocate (item->widget, NODE_W, item->height, -1, transform);
    }
}

static void
strata_chain_layout_finalize (GObject *object)
{
  StrataChainLayout *self = STRATA_CHAIN_LAYOUT (object);

  g_clear_pointer (&self->edges, g_array_unref);
  g_clear_pointer (&self->roots, g_ptr_array_unref);
  forest_clear (&self->forest);

  G_OBJECT_CLASS (strata_chain_layout_parent_class)->finalize (object);
}

static void
strata_chain_layout_class_init (StrataChainLayoutClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkLayoutManagerClass *layout_class = GTK_LAYOUT_MANAGER_CLASS (klass);

  object_class->finalize = strata_chain_layout_finalize;
  layout_class->get_request_mode = strata_chain_layout_get_request_mode;
  layout_class->measure = strata_chain_layout_measure;
  layout_class->allocate = strata_chain_layout_allocate;
}

static void
strata_chain_layout_init (StrataChainLayout *self)
{
  self->zoom = 1.0;
  self->edges = g_array_new (FALSE, FALSE, sizeof (StrataChainEdge));
  self->roots = g_ptr_array_new_with_free_func (g_object_unref);
}
