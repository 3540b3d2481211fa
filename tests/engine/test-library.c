/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The library model over folders that QEMU fills: node kinds, edges, links, skipped files,
 * the synchronous and the streaming scan.
 */
#include "strata-error.h"
#include "strata-library.h"
#include "test-util.h"

#include <string.h>
#include <sys/stat.h>

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

static StrataLibrary *
scan_sync (const char *dir,
           gboolean    recursive)
{
  g_autoptr(GError) error = NULL;
  StrataLibrary *lib = strata_library_new ();

  g_assert_true (strata_library_add_folder (lib, dir, recursive, &error));
  g_assert_no_error (error);
  g_assert_true (strata_library_scan_sync (lib, TRUE, NULL, &error));
  g_assert_no_error (error);
  g_assert_false (strata_library_get_scanning (lib));
  return lib;
}

/* A folder with one of everything. */
static void
make_mixed_folder (const char *dir)
{
  g_free (tu_run_ok ("cd '%s' && "
                     "qemu-img create -q -f qcow2 base.qcow2 64M && "
                     "qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 ov1.qcow2 && "
                     "qemu-img create -q -f qcow2 -b ov1.qcow2 -F qcow2 ov2.qcow2 && "
                     "qemu-img create -q -f qcow2 -b \"$PWD/base.qcow2\" -F qcow2 abs.qcow2 && "
                     "qemu-img create -q -f qcow2 -b gone.qcow2 -F qcow2 -u orphan.qcow2 1M && "
                     "qemu-img create -q -f raw disk.img 1M && "
                     "echo hello > notes.txt && : > empty.img && "
                     "cp base.qcow2 .base.qcow2.strata-Ab12Cd && "
                     "printf 'QFI\\373\\000\\000\\000\\003garbage' > broken.qcow2 && "
                     "head -c 40000 /dev/zero > cd.iso && "
                     "printf 'CD001' | dd of=cd.iso bs=1 seek=32769 conv=notrunc status=none && "
                     "cp cd.iso cd.img",
                     dir));
}

static void
test_kinds (void)
{
  g_autofree char *dir = mkdir_scratch ("kinds");
  g_autoptr(StrataLibrary) lib = NULL;
  StrataLibraryNode *base, *ov1, *ov2, *abs, *orphan, *gone, *disk, *broken;
  g_autoptr(GPtrArray) overlays = NULL;
  g_autofree char *gone_path = NULL;
  g_autofree char *base_path = NULL;

  make_mixed_folder (dir);
  lib = scan_sync (dir, FALSE);

  base = lookup (lib, dir, "base.qcow2");
  ov1 = lookup (lib, dir, "ov1.qcow2");
  ov2 = lookup (lib, dir, "ov2.qcow2");
  abs = lookup (lib, dir, "abs.qcow2");
  orphan = lookup (lib, dir, "orphan.qcow2");
  gone = lookup (lib, dir, "gone.qcow2");
  disk = lookup (lib, dir, "disk.img");
  broken = lookup (lib, dir, "broken.qcow2");

  g_assert_nonnull (base);
  g_assert_cmpint (strata_library_node_get_kind (base), ==, STRATA_NODE_IMAGE);
  g_assert_cmpstr (strata_library_node_get_format (base), ==, "qcow2");
  g_assert_cmpuint (strata_library_node_get_format_version (base), ==, 3);
  g_assert_cmpuint (strata_library_node_get_virtual_size (base), ==, 64 << 20);
  g_assert_cmpuint (strata_library_node_get_cluster_size (base), ==, 65536);
  g_assert_cmpstr (strata_library_node_get_compression_type (base), ==, "zlib");
  g_assert_cmpstr (strata_library_node_get_folder (base), ==, dir);
  g_assert_cmpstr (strata_library_node_get_name (base), ==, "base.qcow2");
  g_assert_cmpuint (strata_library_node_get_apparent_size (base), >, 0);
  g_assert_null (strata_library_node_get_backing (base));
  g_assert_cmpuint (strata_library_node_get_depth (base), ==, 0);

  g_assert_true (strata_library_node_get_backing (ov1) == base);
  g_assert_true (strata_library_node_get_backing (ov2) == ov1);
  g_assert_true (strata_library_node_get_backing (abs) == base);
  g_assert_cmpstr (strata_library_node_get_backing_name (ov1), ==, "base.qcow2");
  g_assert_cmpuint (strata_library_node_get_depth (ov2), ==, 2);
  base_path = g_build_filename (dir, "base.qcow2", NULL);
  g_assert_cmpstr (strata_library_node_get_backing_path (abs), ==, base_path);

  overlays = strata_library_node_dup_overlays (base);
  g_assert_cmpuint (overlays->len, ==, 2);
  g_assert_true (g_ptr_array_index (overlays, 0) == abs);
  g_assert_true (g_ptr_array_index (overlays, 1) == ov1);

  /* A backing name that resolves to nothing: a missing node where it was expected. */
  g_assert_nonnull (gone);
  g_assert_cmpint (strata_library_node_get_kind (gone), ==, STRATA_NODE_MISSING);
  gone_path = g_build_filename (dir, "gone.qcow2", NULL);
  g_assert_cmpstr (strata_library_node_get_path (gone), ==, gone_path);
  g_assert_nonnull (strstr (strata_library_node_get_error (gone), "gone.qcow2"));
  g_assert_null (strata_library_node_get_folder (gone));
  g_assert_true (strata_library_node_get_backing (orphan) == gone);

  g_assert_nonnull (disk);
  g_assert_cmpstr (strata_library_node_get_format (disk), ==, "raw");

  g_assert_nonnull (broken);
  g_assert_cmpint (strata_library_node_get_kind (broken), ==, STRATA_NODE_UNREADABLE);
  g_assert_nonnull (strstr (strata_library_node_get_error (broken), "broken.qcow2"));

  /* Not images: text, an empty file, ISO 9660 content (even named .img), our temp file. */
  g_assert_null (lookup (lib, dir, "notes.txt"));
  g_assert_null (lookup (lib, dir, "empty.img"));
  g_assert_null (lookup (lib, dir, "cd.iso"));
  g_assert_null (lookup (lib, dir, "cd.img"));
  g_assert_null (lookup (lib, dir, ".base.qcow2.strata-Ab12Cd"));

  /* base ov1 ov2 abs orphan disk broken + the missing one. */
  g_assert_cmpuint (g_list_model_get_n_items (strata_library_get_nodes (lib)), ==, 8);
  g_assert_cmpuint (strata_library_get_n_images (lib), ==, 7);
  g_assert_cmpuint (strata_library_count_in_folder (lib, dir), ==, 7);
  g_assert_cmpuint (strata_library_get_n_problems (lib), ==, 2);
  g_assert_true (strata_library_lookup_id (lib, strata_library_node_get_id (base)) == base);
}

static void
test_loops (void)
{
  g_autofree char *dir = mkdir_scratch ("loops");
  g_autoptr(StrataLibrary) lib = NULL;
  StrataLibraryNode *a, *b, *self_loop, *top;

  g_free (tu_run_ok ("cd '%s' && "
                     "qemu-img create -q -f qcow2 a.qcow2 1M && "
                     "qemu-img create -q -f qcow2 -b a.qcow2 -F qcow2 b.qcow2 && "
                     "qemu-img rebase -q -u -b b.qcow2 -F qcow2 a.qcow2 && "
                     "qemu-img create -q -f qcow2 -b b.qcow2 -F qcow2 -u top.qcow2 1M && "
                     "qemu-img create -q -f qcow2 s.qcow2 1M && "
                     "qemu-img rebase -q -u -b s.qcow2 -F qcow2 s.qcow2",
                     dir));
  lib = scan_sync (dir, FALSE);

  a = lookup (lib, dir, "a.qcow2");
  b = lookup (lib, dir, "b.qcow2");
  top = lookup (lib, dir, "top.qcow2");
  self_loop = lookup (lib, dir, "s.qcow2");

  g_assert_cmpint (strata_library_node_get_kind (a), ==, STRATA_NODE_LOOP);
  g_assert_cmpint (strata_library_node_get_kind (b), ==, STRATA_NODE_LOOP);
  g_assert_true (strata_library_node_get_backing (a) == b);
  g_assert_true (strata_library_node_get_backing (b) == a);
  g_assert_nonnull (strstr (strata_library_node_get_error (a), "a.qcow2"));
  g_assert_cmpint (strata_library_node_get_kind (self_loop), ==, STRATA_NODE_LOOP);
  g_assert_true (strata_library_node_get_backing (self_loop) == self_loop);
  g_assert_nonnull (strstr (strata_library_node_get_error (self_loop), "own backing"));
  g_assert_cmpuint (strata_library_node_get_depth (self_loop), ==, 1);

  /* Leading into a loop is not being one; the loop counts once. */
  g_assert_cmpint (strata_library_node_get_kind (top), ==, STRATA_NODE_IMAGE);
  g_assert_true (strata_library_node_get_backing (top) == b);
  g_assert_cmpuint (strata_library_node_get_depth (top), ==, 2);
  g_assert_cmpuint (strata_library_get_n_problems (lib), ==, 3);
}

/* Waits until @lib has finished scanning, iterating the main context (generous timeout). */
static gboolean
timeout_cb (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

static void
wait_scanned (StrataLibrary *lib)
{
  gboolean timed_out = FALSE;
  guint id = g_timeout_add_seconds (60, timeout_cb, &timed_out);

  /* The scan starts from an idle: let it begin before looking at "scanning". */
  while (g_main_context_iteration (NULL, FALSE))
    ;
  while (strata_library_get_scanning (lib) && !timed_out)
    g_main_context_iteration (NULL, TRUE);
  g_assert_false (timed_out);
  g_source_remove (id);
}

static void
items_changed_cb (GListModel *model,
                  guint       position,
                  guint       removed,
                  guint       added,
                  gpointer    data)
{
  guint *n_signals = data;

  (*n_signals)++;
}

static void
test_async (void)
{
  g_autofree char *dir = mkdir_scratch ("async");
  g_autoptr(StrataLibrary) lib = strata_library_new ();
  g_autoptr(StrataLibrary) ref = NULL;
  g_autoptr(GError) error = NULL;
  guint n_signals = 0;
  GListModel *nodes;

  make_mixed_folder (dir);
  ref = scan_sync (dir, FALSE);

  nodes = strata_library_get_nodes (lib);
  g_signal_connect (nodes, "items-changed", G_CALLBACK (items_changed_cb), &n_signals);
  g_assert_true (strata_library_add_folder (lib, dir, FALSE, &error));
  g_assert_no_error (error);
  g_assert_true (strata_library_get_scanning (lib));
  wait_scanned (lib);

  g_assert_cmpuint (n_signals, >, 0);
  g_assert_cmpuint (g_list_model_get_n_items (nodes), ==,
                    g_list_model_get_n_items (strata_library_get_nodes (ref)));
  g_assert_cmpuint (strata_library_get_n_images (lib), ==, strata_library_get_n_images (ref));
  g_assert_cmpuint (strata_library_get_n_problems (lib), ==,
                    strata_library_get_n_problems (ref));
  g_assert_true (strata_library_node_get_backing (lookup (lib, dir, "ov2.qcow2")) ==
                 lookup (lib, dir, "ov1.qcow2"));
}

static void
test_bad_folder (void)
{
  g_autoptr(StrataLibrary) lib = strata_library_new ();
  g_autoptr(GError) error = NULL;
  const char *missing = tu_path ("no-such-folder");

  g_assert_false (strata_library_add_folder (lib, missing, FALSE, &error));
  g_assert_error (error, STRATA_ERROR, STRATA_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, missing));
  g_assert_null (strata_library_get_folders (lib)[0]);
}

int
main (int argc, char **argv)
{
  tu_init (&argc, &argv);

  g_test_add_func ("/library/kinds", test_kinds);
  g_test_add_func ("/library/loops", test_loops);
  g_test_add_func ("/library/async", test_async);
  g_test_add_func ("/library/bad-folder", test_bad_folder);

  return g_test_run ();
}
