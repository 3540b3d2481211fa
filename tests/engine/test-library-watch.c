/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The library follows the folders: files created, deleted, renamed, modified, a base moved
 * out of the folder and back, a new sub-folder, a VM taking an image. Every wait is on a
 * condition with a generous timeout, never a fixed sleep.
 */
#include "strata-library.h"
#include "test-util.h"

#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define WAIT_SECONDS 30

static char *
mkdir_scratch (const char *name)
{
  char *dir = g_build_filename (tu_dir (), name, NULL);

  g_free (tu_run_ok ("rm -rf '%s' && mkdir -p '%s'", dir, dir));
  return dir;
}

static StrataLibraryNode *
lookup (StrataLibrary *lib,
        const char    *dir,
        const char    *name)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);

  return strata_library_lookup (lib, path);
}

static gboolean
timeout_cb (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

typedef gboolean (*Condition) (StrataLibrary *lib, const char *dir, gconstpointer data);

/* Iterates the main context until @cond holds and the library is idle. */
static void
wait_for (StrataLibrary *lib,
          const char    *dir,
          Condition      cond,
          gconstpointer  data,
          const char    *what)
{
  gboolean timed_out = FALSE;
  guint id = g_timeout_add_seconds (WAIT_SECONDS, timeout_cb, &timed_out);

  while (!timed_out && (strata_library_get_scanning (lib) || !cond (lib, dir, data)))
    g_main_context_iteration (NULL, TRUE);
  if (timed_out)
    g_error ("timed out waiting for: %s", what);
  g_source_remove (id);
}

static gboolean
has_node (StrataLibrary *lib, const char *dir, gconstpointer name)
{
  return lookup (lib, dir, name) != NULL;
}

static gboolean
has_no_node (StrataLibrary *lib, const char *dir, gconstpointer name)
{
  return lookup (lib, dir, name) == NULL;
}

static gboolean
is_missing (StrataLibrary *lib, const char *dir, gconstpointer name)
{
  StrataLibraryNode *node = lookup (lib, dir, name);

  return node != NULL && strata_library_node_get_kind (node) == STRATA_NODE_MISSING;
}

static gboolean
is_image (StrataLibrary *lib, const char *dir, gconstpointer name)
{
  StrataLibraryNode *node = lookup (lib, dir, name);

  return node != NULL && strata_library_node_get_kind (node) == STRATA_NODE_IMAGE;
}

static gboolean
is_protected (StrataLibrary *lib, const char *dir, gconstpointer name)
{
  StrataLibraryNode *node = lookup (lib, dir, name);

  return node != NULL && strata_library_node_get_protected (node);
}

static gboolean
is_in_use (StrataLibrary *lib, const char *dir, gconstpointer name)
{
  StrataLibraryNode *node = lookup (lib, dir, name);

  return node != NULL && strata_library_node_get_in_use (node);
}

static gboolean
is_not_in_use (StrataLibrary *lib, const char *dir, gconstpointer name)
{
  StrataLibraryNode *node = lookup (lib, dir, name);

  return node != NULL && !strata_library_node_get_in_use (node);
}

typedef struct
{
  const char *name;
  guint64     more_than;
} SizeCheck;

static gboolean
grew (StrataLibrary *lib, const char *dir, gconstpointer data)
{
  const SizeCheck *check = data;
  StrataLibraryNode *node = lookup (lib, dir, check->name);

  return node != NULL && strata_library_node_get_apparent_size (node) > check->more_than;
}

/* Counts signals to prove the changes are minimal. */
typedef struct
{
  guint added;
  guint removed;
  guint edges_added;
  guint edges_removed;
  guint changed;
} Counts;

static void
items_changed_cb (GListModel *model, guint pos, guint removed, guint added, gpointer data)
{
  Counts *c = data;

  c->added += added;
  c->removed += removed;
}

static void
edge_added_cb (StrataLibrary *lib, StrataLibraryNode *o, StrataLibraryNode *b, gpointer data)
{
  ((Counts *) data)->edges_added++;
}

static void
edge_removed_cb (StrataLibrary *lib, StrataLibraryNode *o, StrataLibraryNode *b, gpointer data)
{
  ((Counts *) data)->edges_removed++;
}

static void
node_changed_cb (StrataLibrary *lib, StrataLibraryNode *node, gpointer data)
{
  ((Counts *) data)->changed++;
}

static StrataLibrary *
watch (const char *dir,
       gboolean    recursive,
       Counts     *counts)
{
  g_autoptr(GError) error = NULL;
  StrataLibrary *lib = strata_library_new ();

  g_assert_true (strata_library_add_folder (lib, dir, recursive, &error));
  g_assert_no_error (error);
  while (g_main_context_iteration (NULL, FALSE))
    ;
  wait_for (lib, dir, has_node, "base.qcow2", "the first scan");
  g_signal_connect (strata_library_get_nodes (lib), "items-changed",
                    G_CALLBACK (items_changed_cb), counts);
  g_signal_connect (lib, "edge-added", G_CALLBACK (edge_added_cb), counts);
  g_signal_connect (lib, "edge-removed", G_CALLBACK (edge_removed_cb), counts);
  g_signal_connect (lib, "node-changed", G_CALLBACK (node_changed_cb), counts);
  return lib;
}

static void
make_chain (const char *dir)
{
  g_free (tu_run_ok ("cd '%s' && qemu-img create -q -f qcow2 base.qcow2 16M && "
                     "qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 ov1.qcow2 && "
                     "qemu-img create -q -f qcow2 -b ov1.qcow2 -F qcow2 ov2.qcow2", dir));
}

static void
test_create_delete (void)
{
  g_autofree char *dir = mkdir_scratch ("create-delete");
  g_autoptr(StrataLibrary) lib = NULL;
  Counts c = { 0 };
  StrataLibraryNode *node;

  make_chain (dir);
  lib = watch (dir, FALSE, &c);
  g_assert_cmpuint (strata_library_get_n_images (lib), ==, 3);

  /* A new overlay written by qemu-img, after one of our temporary files (not an image of
   * the library, even though it holds one). */
  g_free (tu_run_ok ("cd '%s' && cp ov1.qcow2 .new.qcow2.strata-Xy12Zw && "
                     "qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 new.qcow2", dir));
  wait_for (lib, dir, has_node, "new.qcow2", "new.qcow2 to appear");
  node = lookup (lib, dir, "new.qcow2");
  g_assert_true (strata_library_node_get_backing (node) == lookup (lib, dir, "base.qcow2"));
  g_assert_cmpuint (c.added, ==, 1);
  g_assert_cmpuint (c.removed, ==, 0);
  g_assert_cmpuint (c.edges_added, ==, 1);
  g_assert_cmpuint (c.edges_removed, ==, 0);
  g_assert_cmpuint (strata_library_get_n_images (lib), ==, 4);
  g_assert_null (lookup (lib, dir, ".new.qcow2.strata-Xy12Zw"));

  /* Not images: nothing happens to the model. */
  g_free (tu_run_ok ("cd '%s' && echo text > notes.txt", dir));
  memset (&c, 0, sizeof c);
  g_free (tu_run_ok ("cd '%s' && rm new.qcow2", dir));
  wait_for (lib, dir, has_no_node, "new.qcow2", "new.qcow2 to go");
  g_assert_cmpuint (c.added, ==, 0);
  g_assert_cmpuint (c.removed, ==, 1);
  g_assert_cmpuint (c.edges_removed, ==, 1);
  g_assert_cmpuint (strata_library_get_n_images (lib), ==, 3);
  g_assert_null (lookup (lib, dir, "notes.txt"));
}

static void
test_rename (void)
{
  g_autofree char *dir = mkdir_scratch ("rename");
  g_autoptr(StrataLibrary) lib = NULL;
  g_autofree char *id = NULL;
  StrataLibraryNode *ov1, *ov2, *missing;
  Counts c = { 0 };

  make_chain (dir);
  lib = watch (dir, FALSE, &c);
  id = g_strdup (strata_library_node_get_id (lookup (lib, dir, "ov1.qcow2")));

  /* The renamed file is the same node under its new name; ov2's backing name now leads
   * nowhere. */
  g_free (tu_run_ok ("cd '%s' && mv ov1.qcow2 renamed.qcow2", dir));
  wait_for (lib, dir, is_missing, "ov1.qcow2", "ov1.qcow2 to be missing");
  ov1 = lookup (lib, dir, "renamed.qcow2");
  ov2 = lookup (lib, dir, "ov2.qcow2");
  missing = lookup (lib, dir, "ov1.qcow2");
  g_assert_nonnull (ov1);
  g_assert_cmpstr (strata_library_node_get_id (ov1), ==, id);
  g_assert_cmpstr (strata_library_node_get_name (ov1), ==, "renamed.qcow2");
  g_assert_true (strata_library_node_get_backing (ov2) == missing);
  g_assert_true (strata_library_node_get_backing (ov1) == lookup (lib, dir, "base.qcow2"));
  g_assert_cmpuint (c.added, ==, 1);   /* the missing node */
  g_assert_cmpuint (c.removed, ==, 0);
  g_assert_cmpuint (c.edges_added, ==, 1);
  g_assert_cmpuint (c.edges_removed, ==, 1);

  /* And back. */
  memset (&c, 0, sizeof c);
  g_free (tu_run_ok ("cd '%s' && mv renamed.qcow2 ov1.qcow2", dir));
  /* (Looking ov1.qcow2 up finds the node at once: lookup follows any name of a file.) */
  wait_for (lib, dir, has_no_node, "renamed.qcow2", "ov1.qcow2 to be back");
  g_assert_cmpstr (strata_library_node_get_id (lookup (lib, dir, "ov1.qcow2")), ==, id);
  g_assert_true (strata_library_node_get_backing (lookup (lib, dir, "ov2.qcow2")) ==
                 lookup (lib, dir, "ov1.qcow2"));
  g_assert_null (lookup (lib, dir, "renamed.qcow2"));
  g_assert_cmpuint (c.added, ==, 0);
  g_assert_cmpuint (c.removed, ==, 1);
  g_assert_cmpuint (strata_library_get_n_problems (lib), ==, 0);
}

static void
test_base_moved_out_and_back (void)
{
  g_autofree char *dir = mkdir_scratch ("moved");
  g_autofree char *outside = mkdir_scratch ("moved-outside");
  g_autoptr(StrataLibrary) lib = NULL;
  g_autoptr(GPtrArray) overlays = NULL;
  g_autofree char *id = NULL;
  StrataLibraryNode *base;
  Counts c = { 0 };

  make_chain (dir);
  g_free (tu_run_ok ("cd '%s' && qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 "
                     "sib.qcow2", dir));
  lib = watch (dir, FALSE, &c);
  id = g_strdup (strata_library_node_get_id (lookup (lib, dir, "base.qcow2")));

  g_free (tu_run_ok ("mv '%s/base.qcow2' '%s/'", dir, outside));
  wait_for (lib, dir, is_missing, "base.qcow2", "base.qcow2 to be missing");
  base = lookup (lib, dir, "base.qcow2");
  overlays = strata_library_node_dup_overlays (base);
  g_assert_cmpuint (overlays->len, ==, 2);
  g_assert_null (strata_library_lookup_id (lib, id));
  g_assert_cmpuint (strata_library_get_n_problems (lib), ==, 1);

  memset (&c, 0, sizeof c);
  g_free (tu_run_ok ("mv '%s/base.qcow2' '%s/'", outside, dir));
  wait_for (lib, dir, is_image, "base.qcow2", "base.qcow2 to be back");
  base = lookup (lib, dir, "base.qcow2");
  g_assert_cmpstr (strata_library_node_get_id (base), ==, id);
  g_clear_pointer (&overlays, g_ptr_array_unref);
  overlays = strata_library_node_dup_overlays (base);
  g_assert_cmpuint (overlays->len, ==, 2);
  g_assert_cmpuint (strata_library_get_n_problems (lib), ==, 0);
  /* The base back, the missing node gone, two edges moved. */
  g_assert_cmpuint (c.added, ==, 1);
  g_assert_cmpuint (c.removed, ==, 1);
  g_assert_cmpuint (c.edges_added, ==, 2);
  g_assert_cmpuint (c.edges_removed, ==, 2);
}

static void
test_modify (void)
{
  g_autofree char *dir = mkdir_scratch ("modify");
  g_autoptr(StrataLibrary) lib = NULL;
  SizeCheck check = { "ov2.qcow2", 0 };
  Counts c = { 0 };

  make_chain (dir);
  lib = watch (dir, FALSE, &c);
  check.more_than = strata_library_node_get_apparent_size (lookup (lib, dir, "ov2.qcow2"));

  /* An image growing while something writes to it. */
  g_free (tu_run_ok ("qemu-io -f qcow2 -c 'write -P 0x5a 0 4M' '%s/ov2.qcow2' >/dev/null",
                     dir));
  wait_for (lib, dir, grew, &check, "ov2.qcow2 to grow");
  g_assert_cmpuint (c.added, ==, 0);
  g_assert_cmpuint (c.removed, ==, 0);
  g_assert_cmpuint (c.edges_added, ==, 0);
  g_assert_cmpuint (c.edges_removed, ==, 0);
  g_assert_cmpuint (c.changed, >=, 1);

  /* Protection is a mode change. */
  g_free (tu_run_ok ("chmod a-w '%s/ov1.qcow2'", dir));
  wait_for (lib, dir, is_protected, "ov1.qcow2", "ov1.qcow2 to be protected");
}

static void
test_subfolder (void)
{
  g_autofree char *dir = mkdir_scratch ("subfolder");
  g_autoptr(StrataLibrary) lib = NULL;
  Counts c = { 0 };

  make_chain (dir);
  lib = watch (dir, TRUE, &c);

  g_free (tu_run_ok ("cd '%s' && mkdir -p sub/deeper && "
                     "qemu-img create -q -f qcow2 -b ../../ov2.qcow2 -F qcow2 "
                     "sub/deeper/vm.qcow2", dir));
  wait_for (lib, dir, has_node, "sub/deeper/vm.qcow2", "the image in the new sub-folder");
  g_assert_true (strata_library_node_get_backing (lookup (lib, dir, "sub/deeper/vm.qcow2")) ==
                 lookup (lib, dir, "ov2.qcow2"));
  g_assert_cmpuint (strata_library_node_get_depth (lookup (lib, dir, "sub/deeper/vm.qcow2")),
                    ==, 3);

  g_free (tu_run_ok ("rm -rf '%s/sub'", dir));
  wait_for (lib, dir, has_no_node, "sub/deeper/vm.qcow2", "the sub-folder to go");
  g_assert_cmpuint (strata_library_get_n_images (lib), ==, 3);
}

/* Asks for the locks again and again (as the app does every few seconds) until @cond. */
static void
refresh_until (StrataLibrary *lib,
               const char    *dir,
               GPtrArray     *nodes,
               Condition      cond,
               const char    *what)
{
  gboolean timed_out = FALSE;
  guint id = g_timeout_add_seconds (WAIT_SECONDS, timeout_cb, &timed_out);

  while (!timed_out && !cond (lib, dir, "ov2.qcow2"))
    {
      strata_library_refresh_locks (lib, nodes);
      g_main_context_iteration (NULL, TRUE);
    }
  if (timed_out)
    g_error ("timed out waiting for: %s", what);
  g_source_remove (id);
}

static void
test_in_use (void)
{
  g_autofree char *dir = mkdir_scratch ("in-use");
  g_autofree char *out = NULL;
  g_autoptr(StrataLibrary) lib = NULL;
  g_autoptr(GPtrArray) nodes = g_ptr_array_new ();
  GPid pid = 0;
  Counts c = { 0 };
  g_autofree char *ov2 = NULL;
  const char *argv[] = { "qemu-io", "-f", "qcow2", "-c", "sleep 120000", NULL, NULL };
  g_autoptr(GError) error = NULL;

  make_chain (dir);
  lib = watch (dir, FALSE, &c);
  g_assert_false (strata_library_node_get_in_use (lookup (lib, dir, "ov2.qcow2")));

  /* qemu-io holding the image stands in for a running VM. */
  ov2 = g_build_filename (dir, "ov2.qcow2", NULL);
  argv[5] = ov2;
  g_assert_true (g_spawn_async (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH |
                                G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, &pid, &error));
  g_assert_no_error (error);

  /* No file event tells of it: the app asks. Ask until qemu-io has taken its locks. */
  g_ptr_array_add (nodes, lookup (lib, dir, "ov2.qcow2"));
  refresh_until (lib, dir, nodes, is_in_use, "ov2.qcow2 to be in use");
  g_assert_false (strata_library_node_get_in_use (lookup (lib, dir, "ov1.qcow2")));

  kill (pid, SIGTERM);
  waitpid (pid, NULL, 0);
  g_spawn_close_pid (pid);
  refresh_until (lib, dir, NULL, is_not_in_use, "ov2.qcow2 to be free");
}

typedef struct
{
  const char *name;
  guint64     size;
} VsizeCheck;

static gboolean
has_vsize (StrataLibrary *lib, const char *dir, gconstpointer data)
{
  const VsizeCheck *check = data;
  StrataLibraryNode *node = lookup (lib, dir, check->name);

  return node != NULL && strata_library_node_get_virtual_size (node) == check->size;
}

static void
test_replaced_while_scanning (void)
{
  g_autofree char *dir = mkdir_scratch ("replaced");
  g_autoptr(StrataLibrary) lib = strata_library_new ();
  g_autoptr(GError) error = NULL;
  VsizeCheck check = { "x150.qcow2", 5 << 20 };
  gboolean timed_out = FALSE;
  guint id;

  g_free (tu_run_ok ("cd '%s' && qemu-img create -q -f qcow2 base.qcow2 16M && "
                     "for i in $(seq 100 299); do cp base.qcow2 x$i.qcow2; done && "
                     "qemu-img create -q -f qcow2 ../replacement.qcow2 5M", dir));
  g_assert_true (strata_library_add_folder (lib, dir, FALSE, &error));

  /* Once the first nodes have streamed in, replace an image under its name (a new inode,
   * as an atomic rewrite does). Whether the scan had read it yet or not, the model must end
   * with the new one. */
  id = g_timeout_add_seconds (WAIT_SECONDS, timeout_cb, &timed_out);
  while (!timed_out && g_list_model_get_n_items (strata_library_get_nodes (lib)) == 0)
    g_main_context_iteration (NULL, TRUE);
  g_assert_false (timed_out);
  g_source_remove (id);
  g_free (tu_run_ok ("mv '%s/../replacement.qcow2' '%s/x150.qcow2'", dir, dir));

  wait_for (lib, dir, has_vsize, &check, "the replaced image");
  g_assert_cmpuint (strata_library_get_n_images (lib), ==, 201);
  g_assert_cmpuint (g_list_model_get_n_items (strata_library_get_nodes (lib)), ==, 201);
}

static gboolean
is_empty (StrataLibrary *lib, const char *dir, gconstpointer data)
{
  return g_list_model_get_n_items (strata_library_get_nodes (lib)) == 0;
}

static void
test_folder_deleted (void)
{
  g_autofree char *dir = mkdir_scratch ("deleted");
  g_autoptr(StrataLibrary) lib = NULL;
  Counts c = { 0 };

  make_chain (dir);
  lib = watch (dir, FALSE, &c);
  g_free (tu_run_ok ("rm -rf '%s'", dir));
  wait_for (lib, dir, is_empty, NULL, "the nodes of a deleted folder to go");
  g_assert_cmpuint (c.removed, ==, 3);
  g_assert_cmpuint (c.edges_removed, ==, 2);
  g_assert_cmpuint (strata_library_get_n_images (lib), ==, 0);
}

int
main (int argc, char **argv)
{
  tu_init (&argc, &argv);

  g_test_add_func ("/library-watch/create-delete", test_create_delete);
  g_test_add_func ("/library-watch/rename", test_rename);
  g_test_add_func ("/library-watch/base-moved-out-and-back", test_base_moved_out_and_back);
  g_test_add_func ("/library-watch/modify", test_modify);
  g_test_add_func ("/library-watch/subfolder", test_subfolder);
  g_test_add_func ("/library-watch/in-use", test_in_use);
  g_test_add_func ("/library-watch/replaced-while-scanning", test_replaced_while_scanning);
  g_test_add_func ("/library-watch/folder-deleted", test_folder_deleted);

  return g_test_run ();
}
