/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <glib/gstdio.h>

#include "app-test.h"
#include "strata-allocation-map.h"
#include "strata-chain-graph.h"
#include "strata-chain-node.h"
#include "strata-create.h"
#include "strata-details-pane.h"
#include "strata-library.h"
#include "strata-node-actions.h"
#include "strata-preferences-window.h"
#include "strata-wizards.h"

/*
 * The main window with real images that QEMU made: the graph's nodes, edges, kinds and
 * badges, the details of a selection, keyboard navigation, drops of every kind, files that
 * come and go, accessible names, and the window's actions; with screenshots.
 */

typedef struct
{
  StrataWindow *window;
  char         *folder;
} Fixture;

/* A base with data, three overlays (one with its own data), an overlay whose backing file
 * does not exist, a VMDK and a text file. */
static char *
make_chain_folder (const char *name)
{
  char *folder = at_mkdir (name);

  at_sh ("cd '%s' && qemu-img create -q -f qcow2 base.qcow2 8G"
         " && qemu-io -f qcow2 -c 'write -P 0x11 0 64M' -c 'write -P 0x12 4G 32M' base.qcow2"
         " > /dev/null"
         " && for i in 1 2 3; do qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 ov$i.qcow2;"
         " done"
         " && qemu-io -f qcow2 -c 'write -P 0x22 1M 16M' ov1.qcow2 > /dev/null"
         " && qemu-img create -q -f qcow2 -u -b gone.qcow2 -F qcow2 orphan.qcow2 1G"
         " && qemu-img create -q -f vmdk disk.vmdk 2G"
         " && echo 'not an image' > notes.txt", folder);
  return folder;
}

static void
add_folder (StrataWindow *window,
            const char   *folder)
{
  const char *folders[] = { folder, NULL };

  g_settings_set_strv (strata_window_get_settings (window), "library-folders", folders);
  at_settle (window);
}

static void
fixture_setup (Fixture       *fixture,
               gconstpointer  data)
{
  static guint n;
  g_autofree char *name = g_strdup_printf ("chain-%u", n++);

  fixture->folder = make_chain_folder (name);
  fixture->window = at_window_new ();
  add_folder (fixture->window, fixture->folder);
}

static void
fixture_teardown (Fixture       *fixture,
                  gconstpointer  data)
{
  at_window_destroy (fixture->window);
  g_free (fixture->folder);
}

static StrataChainGraph *
get_graph (StrataWindow *window)
{
  GtkWidget *graph = at_find_widget (GTK_WIDGET (window), STRATA_TYPE_CHAIN_GRAPH);

  g_assert_nonnull (graph);
  return STRATA_CHAIN_GRAPH (graph);
}

static StrataLibraryNode *
lookup (StrataWindow *window,
        const char   *folder,
        const char   *name)
{
  g_autofree char *path = g_build_filename (folder, name, NULL);

  return strata_library_lookup (strata_window_get_library (window), path);
}

static GtkWidget *
node_widget (StrataWindow *window,
             const char   *folder,
             const char   *name)
{
  StrataLibraryNode *node = lookup (window, folder, name);

  g_assert_nonnull (node);
  return strata_chain_graph_get_node_widget (get_graph (window), node);
}

static guint
count_node_widgets (StrataChainGraph *graph)
{
  guint n = 0;

  for (GtkWidget *child = gtk_widget_get_first_child (GTK_WIDGET (graph));
       child != NULL;
       child = gtk_widget_get_next_sibling (child))
    if (STRATA_IS_CHAIN_NODE (child))
      n++;
  return n;
}

/* Whether @node shows on screen: its name's dark text is in a fresh rendering of @window
 * (GTK reuses a widget's last drawing where nothing asked for a new one). */
static gboolean
node_is_drawn (GtkWidget *window,
               GtkWidget *node)
{
  g_autoptr(GdkPaintable) paintable = gtk_widget_paintable_new (window);
  g_autoptr(GtkSnapshot) snapshot = gtk_snapshot_new ();
  g_autoptr(GskRenderNode) render = NULL;
  g_autoptr(GdkTexture) texture = NULL;
  g_autofree guchar *pixels = NULL;
  GskRenderer *renderer = gtk_native_get_renderer (gtk_widget_get_native (window));
  int width = gtk_widget_get_width (window);
  int height = gtk_widget_get_height (window);
  graphene_rect_t bounds;
  guint dark = 0;

  g_assert_true (gtk_widget_compute_bounds (node, window, &bounds));
  gdk_paintable_snapshot (paintable, GDK_SNAPSHOT (snapshot), width, height);
  render = gtk_snapshot_free_to_node (g_steal_pointer (&snapshot));
  texture = gsk_renderer_render_texture (renderer, render,
                                         &GRAPHENE_RECT_INIT (0, 0, width, height));
  pixels = g_malloc ((gsize) width * height * 4);
  gdk_texture_download (texture, pixels, (gsize) width * 4);
  for (int y = MAX (0, (int) bounds.origin.y);
       y < MIN (height, (int) (bounds.origin.y + bounds.size.height)); y++)
    for (int x = MAX (0, (int) bounds.origin.x);
         x < MIN (width, (int) (bounds.origin.x + bounds.size.width)); x++)
      {
        const guchar *p = pixels + ((gsize) y * width + x) * 4;

        if (p[0] < 100 && p[1] < 100 && p[2] < 100 && p[3] > 200)
          dark++;
      }
  return dark > 20;
}

static gboolean
has_badge (GtkWidget  *node,
           const char *text)
{
  GtkWidget *label = at_find_label (node, text);

  return label != NULL && gtk_widget_has_css_class (label, "badge");
}

static void
select_name (StrataWindow *window,
             const char   *folder,
             const char   *name)
{
  StrataLibraryNode *node = lookup (window, folder, name);

  g_assert_nonnull (node);
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (window), "win.select-node", "s",
                                             strata_library_node_get_id (node)));
  at_settle (window);
  g_assert_true (strata_chain_graph_get_selected_node (get_graph (window)) == node);
}

static void
test_chain (Fixture       *fixture,
            gconstpointer  data)
{
  StrataWindow *window = fixture->window;
  StrataChainGraph *graph = get_graph (window);
  StrataLibraryNode *base = lookup (window, fixture->folder, "base.qcow2");
  StrataLibraryNode *orphan = lookup (window, fixture->folder, "orphan.qcow2");
  StrataLibraryNode *missing;
  GtkWidget *widget;

  /* Six images and the missing backing file; the text file is no node. */
  g_assert_cmpuint (count_node_widgets (graph), ==, 7);
  g_assert_null (lookup (window, fixture->folder, "notes.txt"));
  g_assert_nonnull (base);
  g_assert_cmpint (strata_library_node_get_kind (base), ==, STRATA_NODE_IMAGE);
  for (guint i = 1; i <= 3; i++)
    {
      g_autofree char *name = g_strdup_printf ("ov%u.qcow2", i);

      g_assert_true (strata_library_node_get_backing (lookup (window, fixture->folder, name))
                     == base);
    }
  missing = strata_library_node_get_backing (orphan);
  g_assert_nonnull (missing);
  g_assert_cmpint (strata_library_node_get_kind (missing), ==, STRATA_NODE_MISSING);
  g_assert_cmpint (strata_library_node_get_kind (lookup (window, fixture->folder, "disk.vmdk")),
                   ==, STRATA_NODE_IMAGE);

  /* What the nodes show. */
  widget = node_widget (window, fixture->folder, "base.qcow2");
  g_assert_nonnull (at_find_label (widget, "base.qcow2"));
  g_assert_nonnull (at_find_label (widget, "qcow2 · 8 GiB"));
  g_assert_nonnull (at_find_label (widget, "base of 3"));
  g_assert_true (has_badge (widget, "writable"));
  widget = strata_chain_graph_get_node_widget (graph, missing);
  g_assert_true (gtk_widget_has_css_class (widget, "broken"));
  g_assert_nonnull (at_find_label (widget, "missing"));
  widget = node_widget (window, fixture->folder, "ov2.qcow2");
  g_assert_false (gtk_widget_has_css_class (widget, "broken"));
  g_assert_false (has_badge (widget, "writable"));

  /* Protecting the base clears the warning and shows it read-only. */
  at_sh ("chmod a-w '%s/base.qcow2'", fixture->folder);
  strata_library_rescan_file (strata_window_get_library (window),
                              strata_library_node_get_path (base));
  at_settle (window);
  widget = node_widget (window, fixture->folder, "base.qcow2");
  g_assert_true (has_badge (widget, "read-only"));
  g_assert_false (has_badge (widget, "writable"));
  at_sh ("chmod u+w '%s/base.qcow2'", fixture->folder);

  /* The sidebar: the folder with its count, and the problem. */
  g_assert_nonnull (at_find_label (GTK_WIDGET (window), "1 missing backing file"));

  select_name (window, fixture->folder, "ov1.qcow2");
  at_screenshot (GTK_WIDGET (window), "main-window");
}

static void
test_accessible_names (Fixture       *fixture,
                       gconstpointer  data)
{
  StrataChainGraph *graph = get_graph (fixture->window);
  guint n = 0;

  for (GtkWidget *child = gtk_widget_get_first_child (GTK_WIDGET (graph));
       child != NULL;
       child = gtk_widget_get_next_sibling (child))
    {
      if (!STRATA_IS_CHAIN_NODE (child))
        continue;
      gtk_test_accessible_assert_role (GTK_ACCESSIBLE (child), GTK_ACCESSIBLE_ROLE_TREE_ITEM);
      g_assert_true (gtk_test_accessible_has_property (GTK_ACCESSIBLE (child),
                                                       GTK_ACCESSIBLE_PROPERTY_LABEL));
      g_assert_true (gtk_widget_get_focusable (child));
      n++;
    }
  g_assert_cmpuint (n, ==, 7);
}

static gboolean
picture_ready (gpointer data)
{
  StrataAllocationMap *map = data;

  return !strata_allocation_map_get_computing (map)
         && strata_allocation_map_get_summary (map) != NULL;
}

static void
test_details (Fixture       *fixture,
              gconstpointer  data)
{
  StrataWindow *window = fixture->window;
  GtkWidget *details;
  GtkWidget *map;
  const char *summary;

  select_name (window, fixture->folder, "ov1.qcow2");
  details = at_find_widget (GTK_WIDGET (window), STRATA_TYPE_DETAILS_PANE);
  g_assert_nonnull (details);
  g_assert_nonnull (at_find_label (details, "ov1.qcow2"));
  g_assert_nonnull (at_find_label (details, "Overlay of base.qcow2"));
  g_assert_nonnull (at_find_label (details, "qcow2 v3 (compat 1.1)"));
  g_assert_nonnull (at_find_label (details, "8 GiB"));
  g_assert_nonnull (at_find_label (details, "(< 1%)"));
  g_assert_nonnull (at_find_label (details, "64 KiB"));
  g_assert_nonnull (at_find_label (details, "Writable"));
  g_assert_nonnull (at_find_label (details, "Not in use"));
  g_assert_nonnull (at_find_label (details, "Clean"));
  /* The siblings that a direct commit would harm. */
  g_assert_nonnull (at_find_label (details, "would change ov2.qcow2, ov3.qcow2 too"));

  /* The allocation picture: 16 MiB of 8 GiB here, 96 MiB in the base. */
  map = at_find_widget (details, STRATA_TYPE_ALLOCATION_MAP);
  g_assert_nonnull (map);
  at_wait_until (picture_ready, map, "the allocation picture");
  summary = strata_allocation_map_get_summary (STRATA_ALLOCATION_MAP (map));
  g_test_message ("picture: %s", summary);
  g_assert_nonnull (strstr (summary, "This layer (ov1.qcow2): 16.8\xc2\xa0MB"));
  g_assert_nonnull (strstr (summary, "From base.qcow2: 83.9\xc2\xa0MB"));
  g_assert_nonnull (strstr (summary, "Reads as zeros: 99%"));

  /* A broken node says what is wrong. */
  select_name (window, fixture->folder, "gone.qcow2");
  g_assert_nonnull (at_find_label (details, "Missing backing file"));
  g_assert_nonnull (at_find_label (details, "gone.qcow2"));
  at_screenshot (GTK_WIDGET (window), "broken-chain");
}

/* A terabyte with data in three places: the picture still comes out, at bounded cost. */
static void
test_huge_picture (void)
{
  g_autofree char *folder = at_mkdir ("huge");
  StrataWindow *window = at_window_new ();
  GtkWidget *details, *map;
  const char *summary;

  at_sh ("cd '%s' && qemu-img create -q -f qcow2 huge.qcow2 1T"
         " && qemu-io -f qcow2 -c 'write 0 1M' -c 'write 500G 1M' -c 'write 1023G 1M'"
         " huge.qcow2 > /dev/null", folder);
  add_folder (window, folder);
  select_name (window, folder, "huge.qcow2");
  details = at_find_widget (GTK_WIDGET (window), STRATA_TYPE_DETAILS_PANE);
  map = at_find_widget (details, STRATA_TYPE_ALLOCATION_MAP);
  at_wait_until (picture_ready, map, "the allocation picture of 1 TiB");
  summary = strata_allocation_map_get_summary (STRATA_ALLOCATION_MAP (map));
  g_test_message ("picture: %s", summary);
  g_assert_nonnull (strstr (summary, "This layer (huge.qcow2): 3.1\xc2\xa0MB"));
  g_assert_nonnull (strstr (summary, "Reads as zeros: 100%"));
  g_assert_nonnull (at_find_label (details, "1 TiB"));
  at_window_destroy (window);
}

static void
test_keyboard (Fixture       *fixture,
               gconstpointer  data)
{
  StrataWindow *window = fixture->window;
  StrataChainGraph *graph = get_graph (window);
  StrataLibraryNode *base = lookup (window, fixture->folder, "base.qcow2");

  select_name (window, fixture->folder, "ov2.qcow2");
  g_assert_true (gtk_widget_has_focus (node_widget (window, fixture->folder, "ov2.qcow2")));

  /* Left and right move among the overlays of one base, up to the base, down to the
   * first overlay. */
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (graph), "graph.select-next", NULL));
  g_assert_true (strata_chain_graph_get_selected_node (graph)
                 == lookup (window, fixture->folder, "ov3.qcow2"));
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (graph), "graph.select-previous",
                                             NULL));
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (graph), "graph.select-previous",
                                             NULL));
  g_assert_true (strata_chain_graph_get_selected_node (graph)
                 == lookup (window, fixture->folder, "ov1.qcow2"));
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (graph), "graph.select-backing", NULL));
  g_assert_true (strata_chain_graph_get_selected_node (graph) == base);
  g_assert_true (gtk_widget_has_focus (node_widget (window, fixture->folder, "base.qcow2")));
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (graph), "graph.select-overlay", NULL));
  g_assert_true (strata_chain_graph_get_selected_node (graph)
                 == lookup (window, fixture->folder, "ov1.qcow2"));
  /* Past the end nothing moves. */
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (graph), "graph.select-overlay", NULL));
  g_assert_true (strata_chain_graph_get_selected_node (graph)
                 == lookup (window, fixture->folder, "ov1.qcow2"));

  /* The chains' bases are siblings too: from the base to the next chain. */
  strata_chain_graph_select_node (graph, base);
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (graph), "graph.select-next", NULL));
  g_assert_true (strata_chain_graph_get_selected_node (graph) != base);
  g_assert_null (strata_library_node_get_backing (strata_chain_graph_get_selected_node (graph)));
}

static GtkDropTarget *
find_drop_target (StrataWindow *window)
{
  GtkWidget *area = GTK_WIDGET (window);
  g_autoptr(GListModel) controllers = NULL;

  /* The drop target sits on the window's content below the toast overlay. */
  area = gtk_widget_get_first_child (adw_application_window_get_content (ADW_APPLICATION_WINDOW (window)));
  while (area != NULL)
    {
      g_clear_object (&controllers);
      controllers = gtk_widget_observe_controllers (area);
      for (guint i = 0; i < g_list_model_get_n_items (controllers); i++)
        {
          g_autoptr(GObject) controller = g_list_model_get_item (controllers, i);

          if (GTK_IS_DROP_TARGET (controller))
            return GTK_DROP_TARGET (controller);
        }
      area = gtk_widget_get_next_sibling (area);
    }
  g_assert_not_reached ();
}

static void
drop_paths (StrataWindow *window,
            const char   *first,
            ...)
{
  GtkDropTarget *target = find_drop_target (window);
  g_autoptr(GPtrArray) files = g_ptr_array_new_with_free_func (g_object_unref);
  g_auto(GValue) value = G_VALUE_INIT;
  gboolean handled = FALSE;
  va_list args;

  va_start (args, first);
  for (const char *path = first; path != NULL; path = va_arg (args, const char *))
    g_ptr_array_add (files, g_file_new_for_path (path));
  va_end (args);

  g_value_init (&value, GDK_TYPE_FILE_LIST);
  g_value_take_boxed (&value, gdk_file_list_new_from_array ((GFile **) files->pdata,
                                                            files->len));
  g_signal_emit_by_name (target, "drop", &value, 10.0, 10.0, &handled);
  g_assert_true (handled);
  at_settle (window);
}

typedef struct
{
  StrataWindow *window;
  const char   *text;
} LabelWait;

static gboolean
label_shown (gpointer data)
{
  LabelWait *wait = data;

  return at_find_label (GTK_WIDGET (wait->window), wait->text) != NULL;
}

static void
wait_label (StrataWindow *window,
            const char   *text)
{
  LabelWait wait = { window, text };

  at_wait_until (label_shown, &wait, text);
}

static void
test_drops (Fixture       *fixture,
            gconstpointer  data)
{
  StrataWindow *window = fixture->window;
  StrataChainGraph *graph = get_graph (window);
  g_autofree char *other = at_mkdir ("drop-folder");
  g_autofree char *loose = at_mkdir ("loose");
  g_autofree char *notes = g_build_filename (fixture->folder, "notes.txt", NULL);
  g_autofree char *vmdk = g_build_filename (fixture->folder, "disk.vmdk", NULL);
  g_autofree char *image = g_build_filename (loose, "single.qcow2", NULL);
  g_auto(GStrv) folders = NULL;
  StrataLibraryNode *selected;

  at_sh ("qemu-img create -q -f qcow2 '%s/in-folder.qcow2' 1G", other);
  at_sh ("qemu-img create -q -f qcow2 '%s' 2G", image);

  /* Anything else: a toast naming the file and why. */
  drop_paths (window, notes, NULL);
  wait_label (window, "notes.txt is not a disk image");
  at_screenshot (GTK_WIDGET (window), "drop-refused");

  /* A folder joins the library. */
  drop_paths (window, other, NULL);
  folders = g_settings_get_strv (strata_window_get_settings (window), "library-folders");
  g_assert_true (g_strv_contains ((const char * const *) folders, other));
  g_assert_nonnull (lookup (window, other, "in-folder.qcow2"));

  /* A qcow2 image joins through its folder and is selected. */
  drop_paths (window, image, NULL);
  g_strfreev (folders);
  folders = g_settings_get_strv (strata_window_get_settings (window), "library-folders");
  g_assert_true (g_strv_contains ((const char * const *) folders, loose));
  selected = strata_chain_graph_get_selected_node (graph);
  g_assert_nonnull (selected);
  g_assert_cmpstr (strata_library_node_get_path (selected), ==, image);

  /* A VMDK goes to the convert wizard; this build says so when there is none yet. */
  if (strata_wizard_is_available ("convert"))
    {
      GListModel *toplevels = gtk_window_get_toplevels ();
      guint before = g_list_model_get_n_items (toplevels);

      drop_paths (window, vmdk, NULL);
      g_assert_cmpuint (g_list_model_get_n_items (toplevels), >, before);
    }
  else
    {
      drop_paths (window, vmdk, NULL);
      wait_label (window, "disk.vmdk: this build of Strata cannot do that yet");
    }
}

typedef struct
{
  StrataWindow *window;
  const char   *folder;
  const char   *name;
  gboolean      present;
} NodeWait;

static gboolean
node_state (gpointer data)
{
  NodeWait *wait = data;
  StrataLibraryNode *node = lookup (wait->window, wait->folder, wait->name);

  if (!wait->present)
    return node == NULL;
  return node != NULL
         && strata_chain_graph_get_node_widget (get_graph (wait->window), node) != NULL;
}

static gboolean
overlay_broken (gpointer data)
{
  NodeWait *wait = data;
  StrataLibraryNode *node = lookup (wait->window, wait->folder, "ov2.qcow2");
  StrataLibraryNode *backing = node != NULL ? strata_library_node_get_backing (node) : NULL;

  return backing != NULL && strata_library_node_get_kind (backing) == STRATA_NODE_MISSING;
}

static void
test_live (Fixture       *fixture,
           gconstpointer  data)
{
  StrataWindow *window = fixture->window;
  NodeWait wait = { window, fixture->folder, "ov4.qcow2", TRUE };
  GtkWidget *widget;

  /* An overlay made in a terminal appears under its base. */
  at_sh ("cd '%s' && qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 ov4.qcow2",
         fixture->folder);
  at_wait_until (node_state, &wait, "ov4.qcow2 to appear");
  at_settle (window);
  g_assert_true (strata_library_node_get_backing (lookup (window, fixture->folder, "ov4.qcow2"))
                 == lookup (window, fixture->folder, "base.qcow2"));
  g_assert_nonnull (at_find_label (node_widget (window, fixture->folder, "base.qcow2"),
                                   "base of 4"));

  /* A deleted overlay disappears. */
  at_sh ("rm '%s/ov3.qcow2'", fixture->folder);
  wait.name = "ov3.qcow2";
  wait.present = FALSE;
  at_wait_until (node_state, &wait, "ov3.qcow2 to disappear");
  at_settle (window);

  /* A deleted base leaves its overlays pointing at a missing node. */
  at_sh ("rm '%s/base.qcow2'", fixture->folder);
  at_wait_until (overlay_broken, &wait, "the base to turn missing");
  at_settle (window);
  widget = strata_chain_graph_get_node_widget (get_graph (window),
                                               strata_library_node_get_backing (lookup (window, fixture->folder, "ov2.qcow2")));
  g_assert_nonnull (widget);
  g_assert_true (gtk_widget_has_css_class (widget, "broken"));
}

static void
test_actions (Fixture       *fixture,
              gconstpointer  data)
{
  StrataWindow *window = fixture->window;
  StrataChainGraph *graph = get_graph (window);
  StrataLibraryNode *selected;
  double zoom;

  /* The problems row selects the missing backing file. */
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (window), "win.select-problems", "s",
                                             "missing"));
  selected = strata_chain_graph_get_selected_node (graph);
  g_assert_nonnull (selected);
  g_assert_cmpint (strata_library_node_get_kind (selected), ==, STRATA_NODE_MISSING);

  /* Zoom. */
  zoom = strata_chain_graph_get_zoom (graph);
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (window), "win.zoom-in", NULL));
  g_assert_cmpfloat (strata_chain_graph_get_zoom (graph), >, zoom);
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (window), "win.zoom-out", NULL));
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (window), "win.zoom-out", NULL));
  g_assert_cmpfloat (strata_chain_graph_get_zoom (graph), <, zoom);
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (window), "win.zoom-fit", NULL));
  at_settle (window);
  g_assert_cmpint (gtk_widget_get_height (GTK_WIDGET (graph)), <=,
                   gtk_widget_get_height (gtk_widget_get_parent (GTK_WIDGET (graph))));

  /* The context menu lists what applies to the node (Shift+F10 and the Menu key). */
  {
    GtkWidget *widget = node_widget (window, fixture->folder, "ov1.qcow2");
    GtkWidget *menu;

    g_assert_true (gtk_widget_activate_action (widget, "node.menu", NULL));
    at_settle (window);
    menu = at_find_widget (widget, GTK_TYPE_POPOVER_MENU);
    if (strata_wizard_is_available ("overlays"))
      {
        g_assert_nonnull (menu);
        g_assert_nonnull (at_find_label (menu, "New Overlays…"));
        gtk_popover_popdown (GTK_POPOVER (menu));
        at_settle (window);
      }
    g_assert_true (strata_chain_graph_get_selected_node (graph)
                   == lookup (window, fixture->folder, "ov1.qcow2"));
  }

  /* Move to Trash is offered for images nothing is built on: an overlay, an image that
   * stands alone, one whose base is missing; never for a base with overlays. */
  if (strata_wizard_is_available ("delete"))
    {
      g_assert_true (strata_node_action_applies ("delete",
                                                 lookup (window, fixture->folder, "ov1.qcow2")));
      g_assert_true (strata_node_action_applies ("delete",
                                                 lookup (window, fixture->folder, "disk.vmdk")));
      g_assert_true (strata_node_action_applies ("delete",
                                                 lookup (window, fixture->folder,
                                                         "orphan.qcow2")));
      g_assert_false (strata_node_action_applies ("delete",
                                                  lookup (window, fixture->folder,
                                                          "base.qcow2")));
    }

  /* Dark style. */
  adw_style_manager_set_color_scheme (adw_style_manager_get_default (),
                                      ADW_COLOR_SCHEME_FORCE_DARK);
  select_name (window, fixture->folder, "ov1.qcow2");
  at_settle (window);
  at_screenshot (GTK_WIDGET (window), "main-window-dark");
  adw_style_manager_set_color_scheme (adw_style_manager_get_default (),
                                      ADW_COLOR_SCHEME_DEFAULT);

  /* Removing the only folder leaves the first-run page. */
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (window), "win.remove-folder", "s",
                                             fixture->folder));
  at_settle (window);
  g_assert_cmpuint (count_node_widgets (graph), ==, 0);
  g_assert_nonnull (at_find_label (GTK_WIDGET (window), "See Your Disk Images"));
  g_assert_null (strata_chain_graph_get_selected_node (graph));
}

static void
test_empty (void)
{
  StrataWindow *window = at_window_new ();
  GtkWidget *prefs;

  at_settle (window);
  g_assert_nonnull (at_find_label (GTK_WIDGET (window), "See Your Disk Images"));
  g_assert_nonnull (at_find_label (GTK_WIDGET (window), "Open Folder…"));
  at_screenshot (GTK_WIDGET (window), "empty-state");

  g_action_group_activate_action (G_ACTION_GROUP (gtk_window_get_application (GTK_WINDOW (window))),
                                  "preferences", NULL);
  at_settle (window);
  prefs = NULL;
  for (guint i = 0; i < g_list_model_get_n_items (gtk_window_get_toplevels ()); i++)
    {
      g_autoptr(GtkWidget) toplevel = g_list_model_get_item (gtk_window_get_toplevels (), i);

      if (STRATA_IS_PREFERENCES_WINDOW (toplevel))
        prefs = toplevel;
    }
  g_assert_nonnull (prefs);
  g_assert_nonnull (at_find_label (prefs, "Library Folders"));
  g_assert_nonnull (at_find_label (prefs, "No folders yet"));
  at_screenshot (prefs, "preferences-empty");
  /* With a folder, the list shows it with its remove button. */
  {
    g_autofree char *folder = at_mkdir ("prefs-folder");
    const char *folders[] = { folder, NULL };

    g_settings_set_strv (strata_window_get_settings (window), "library-folders", folders);
    at_settle (window);
    g_assert_nonnull (at_find_label (prefs, "prefs-folder"));
    g_assert_null (at_find_label (prefs, "No folders yet"));
    at_screenshot (prefs, "preferences");
  }
  gtk_window_destroy (GTK_WINDOW (prefs));

  /* The shortcuts window lists the graph's keys. */
  g_action_group_activate_action (G_ACTION_GROUP (window), "show-help-overlay", NULL);
  at_settle (window);
  {
    GtkWindow *help = GTK_WINDOW (gtk_application_window_get_help_overlay (GTK_APPLICATION_WINDOW (window)));

    g_assert_nonnull (help);
    g_assert_true (gtk_widget_get_visible (GTK_WIDGET (help)));
    g_assert_nonnull (at_find_label (GTK_WIDGET (help), "Select the backing file"));
    g_assert_nonnull (at_find_label (GTK_WIDGET (help), "Zoom to fit"));
    at_screenshot (GTK_WIDGET (help), "shortcuts");
    gtk_window_close (help);
  }
  at_window_destroy (window);
}

/* Empty qcow2 images made by the engine, which is quick for a thousand. */
static void
create_image (const char *folder,
              const char *name,
              const char *backing)
{
  g_autofree char *path = g_build_filename (folder, name, NULL);
  g_autoptr(GError) error = NULL;
  StrataCreateOptions opts;

  strata_create_options_init (&opts);
  opts.size = (guint64) 4 << 30;
  opts.has_size = backing == NULL;
  opts.backing_file = backing;
  opts.backing_format = backing != NULL ? "qcow2" : NULL;
  g_assert_true (strata_create_qcow2 (path, &opts, &error));
  g_assert_no_error (error);
}

static void
test_many (void)
{
  g_autofree char *folder = at_mkdir ("thousand");
  g_autofree char *wide = at_mkdir ("fifty");
  StrataWindow *window;
  StrataChainGraph *graph;
  guint n = 0;

  /* 50 chains of a base and 9 overlays, and 500 single images. */
  for (guint b = 0; b < 50; b++)
    {
      g_autofree char *base = g_strdup_printf ("vm%02u-base.qcow2", b);

      create_image (folder, base, NULL);
      n++;
      for (guint o = 0; o < 9; o++)
        {
          g_autofree char *name = g_strdup_printf ("vm%02u-overlay%u.qcow2", b, o);

          create_image (folder, name, base);
          n++;
        }
    }
  for (guint i = 0; i < 500; i++)
    {
      g_autofree char *name = g_strdup_printf ("disk%03u.qcow2", i);

      create_image (folder, name, NULL);
      n++;
    }
  g_assert_cmpuint (n, ==, 1000);

  window = at_window_new ();
  add_folder (window, folder);
  graph = get_graph (window);
  g_assert_cmpuint (count_node_widgets (graph), ==, 1000);
  at_screenshot (GTK_WIDGET (window), "thousand-images");

  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (window), "win.zoom-fit", NULL));
  at_settle (window);
  g_assert_cmpfloat (strata_chain_graph_get_zoom (graph), <, 1.0);
  at_screenshot (GTK_WIDGET (window), "thousand-images-fit");

  /* A base with fifty overlays goes into a grid beneath it. */
  create_image (wide, "golden.qcow2", NULL);
  for (guint o = 0; o < 50; o++)
    {
      g_autofree char *name = g_strdup_printf ("clone%02u.qcow2", o);

      create_image (wide, name, "golden.qcow2");
    }
  add_folder (window, wide);
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (window), "win.zoom-reset", NULL));
  at_settle (window);
  g_assert_cmpuint (count_node_widgets (graph), ==, 51);
  {
    GtkWidget *base = node_widget (window, wide, "golden.qcow2");
    GtkWidget *last = node_widget (window, wide, "clone49.qcow2");
    graphene_rect_t a, b;

    g_assert_true (gtk_widget_compute_bounds (base, GTK_WIDGET (graph), &a));
    g_assert_true (gtk_widget_compute_bounds (last, GTK_WIDGET (graph), &b));
    /* Not one row 50 nodes wide: the grid is at most four nodes across. */
    g_assert_cmpfloat (b.origin.x - a.origin.x, <, 3 * (STRATA_CHAIN_NODE_WIDTH + 40));
    g_assert_cmpfloat (b.origin.y, >, a.origin.y + 5 * a.size.height);
  }
  at_screenshot (GTK_WIDGET (window), "fifty-overlays");

  /* The graph draws only the nodes in view: scrolling to the end shows the last ones. */
  {
    GtkWidget *scroller = gtk_widget_get_ancestor (GTK_WIDGET (graph),
                                                   GTK_TYPE_SCROLLED_WINDOW);
    GtkAdjustment *vadj = gtk_scrolled_window_get_vadjustment (GTK_SCROLLED_WINDOW (scroller));
    GtkWidget *first = node_widget (window, wide, "golden.qcow2");
    GtkWidget *last = node_widget (window, wide, "clone49.qcow2");

    g_assert_true (node_is_drawn (GTK_WIDGET (window), first));
    g_assert_false (node_is_drawn (GTK_WIDGET (window), last));
    gtk_adjustment_set_value (vadj, gtk_adjustment_get_upper (vadj)
                                    - gtk_adjustment_get_page_size (vadj));
    at_settle (window);
    g_assert_true (node_is_drawn (GTK_WIDGET (window), last));
    at_screenshot (GTK_WIDGET (window), "fifty-overlays-end");
    gtk_adjustment_set_value (vadj, 0);
    at_settle (window);
    g_assert_true (node_is_drawn (GTK_WIDGET (window), first));
  }
  at_window_destroy (window);
}

int
main (int   argc,
      char *argv[])
{
  at_init (&argc, &argv);

  g_test_add ("/app/window/chain", Fixture, NULL, fixture_setup, test_chain, fixture_teardown);
  g_test_add ("/app/window/accessible-names", Fixture, NULL, fixture_setup,
              test_accessible_names, fixture_teardown);
  g_test_add ("/app/window/details", Fixture, NULL, fixture_setup, test_details,
              fixture_teardown);
  g_test_add ("/app/window/keyboard", Fixture, NULL, fixture_setup, test_keyboard,
              fixture_teardown);
  g_test_add ("/app/window/drops", Fixture, NULL, fixture_setup, test_drops, fixture_teardown);
  g_test_add ("/app/window/live", Fixture, NULL, fixture_setup, test_live, fixture_teardown);
  g_test_add ("/app/window/actions", Fixture, NULL, fixture_setup, test_actions,
              fixture_teardown);
  g_test_add_func ("/app/window/empty", test_empty);
  g_test_add_func ("/app/window/huge-picture", test_huge_picture);
  g_test_add_func ("/app/window/many", test_many);
  return g_test_run ();
}
