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
#include <unistd.h>

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
                     "cp base.qcow2 .base.qcow2.strata-Ab12Cd && cp ov1.qcow2 vl.x7Q2pZ && "
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

  /* Not images: text, an empty file, ISO 9660 content (even named .img), our temporary
   * file and QEMU's (-snapshot). */
  g_assert_null (lookup (lib, dir, "notes.txt"));
  g_assert_null (lookup (lib, dir, "empty.img"));
  g_assert_null (lookup (lib, dir, "cd.iso"));
  g_assert_null (lookup (lib, dir, "cd.img"));
  g_assert_null (lookup (lib, dir, ".base.qcow2.strata-Ab12Cd"));
  g_assert_null (lookup (lib, dir, "vl.x7Q2pZ"));

  /* base ov1 ov2 abs orphan disk broken + the missing one. */
  g_assert_cmpuint (g_list_model_get_n_items (strata_library_get_nodes (lib)), ==, 8);
  g_assert_cmpuint (strata_library_get_n_images (lib), ==, 7);
  g_assert_cmpuint (strata_library_count_in_folder (lib, dir), ==, 7);
  g_assert_cmpuint (strata_library_get_n_problems (lib), ==, 2);
  g_assert_true (strata_library_lookup_id (lib, strata_library_node_get_id (base)) == base);
}

/* Images with internal snapshots are ordinary images in the library: their info lists the
 * snapshots (no warning), survives a rescan after a change, and the node is no problem. */
static void
test_snapshots (void)
{
  g_autofree char *dir = mkdir_scratch ("snapshots");
  g_autoptr(StrataLibrary) lib = NULL;
  g_autoptr(GError) error = NULL;
  StrataLibraryNode *node;
  const StrataImageInfo *info;

  g_free (tu_run_ok ("cd '%s' && qemu-img create -q -f qcow2 snap.qcow2 4M && "
                     "qemu-io -c 'write -P 1 0 1M' snap.qcow2 >/dev/null && "
                     "qemu-img snapshot -c one snap.qcow2 && qemu-img snapshot -c two snap.qcow2 "
                     "&& qemu-img create -q -f qcow2 -b snap.qcow2 -F qcow2 ov.qcow2", dir));
  lib = scan_sync (dir, FALSE);
  node = lookup (lib, dir, "snap.qcow2");
  g_assert_nonnull (node);
  g_assert_cmpint (strata_library_node_get_kind (node), ==, STRATA_NODE_IMAGE);
  info = strata_library_node_get_image_info (node);
  g_assert_nonnull (info);
  g_assert_nonnull (info->snapshots);
  g_assert_cmpuint (info->snapshots->len, ==, 2);
  g_assert_cmpstr (((StrataSnapshotInfo *) info->snapshots->pdata[1])->name, ==, "two");
  g_assert_true (info->warnings == NULL || info->warnings[0] == NULL);
  g_assert_true (strata_library_node_get_backing (lookup (lib, dir, "ov.qcow2")) == node);
  g_assert_cmpuint (strata_library_get_n_problems (lib), ==, 0);

  /* A third snapshot: the rescan replaces the node's info (the old copy is freed). */
  g_free (tu_run_ok ("cd '%s' && qemu-img snapshot -c three snap.qcow2", dir));
  g_assert_true (strata_library_scan_sync (lib, TRUE, NULL, &error));
  g_assert_no_error (error);
  info = strata_library_node_get_image_info (lookup (lib, dir, "snap.qcow2"));
  g_assert_nonnull (info);
  g_assert_cmpuint (info->snapshots->len, ==, 3);
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

/* Writes @bytes (hex pairs) at @offset of @path, as a hostile edit of a QEMU image. */
static void
poke (const char *path,
      guint64     offset,
      const char *printf_bytes)
{
  g_free (tu_run_ok ("printf '%s' | dd of='%s' bs=1 seek=%" G_GUINT64_FORMAT
                     " conv=notrunc status=none", printf_bytes, path, offset));
}

static void
test_hostile (void)
{
  g_autofree char *dir = mkdir_scratch ("hostile");
  static const struct
  {
    const char *name;
    guint64     offset;
    const char *bytes;
  } edits[] = {
    { "l1-huge.qcow2", 36, "\\377\\377\\377\\377" },
    { "l1-past-eof.qcow2", 40, "\\177\\377\\377\\377\\377\\377\\000\\000" },
    { "refcount-odd.qcow2", 48, "\\000\\000\\000\\000\\000\\001\\000\\001" },
    { "cluster-bits-0.qcow2", 20, "\\000\\000\\000\\000" },
    { "cluster-bits-63.qcow2", 20, "\\000\\000\\000\\077" },
    { "name-len-huge.qcow2", 16, "\\377\\377\\377\\377" },
    { "name-past-eof.qcow2", 8, "\\177\\000\\000\\000\\000\\000\\000\\000" },
    { "snapshots-huge.qcow2", 60, "\\177\\377\\377\\377" },
    { "version-9.qcow2", 4, "\\000\\000\\000\\011" },
    { "header-len-huge.qcow2", 100, "\\377\\377\\377\\377" },
  };
  g_autoptr(StrataLibrary) lib = NULL;
  GListModel *nodes;

  g_free (tu_run_ok ("cd '%s' && qemu-img create -q -f qcow2 base.qcow2 1M && "
                     "qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 tmpl.qcow2 && "
                     "mkfifo fifo.qcow2 && mkdir dir.qcow2 && ln -s nowhere dangling.qcow2 && "
                     "ln -s self-a.qcow2 self-b.qcow2 && ln -s self-b.qcow2 self-a.qcow2 && "
                     "printf 'KDMV' > kdmv-short.vmdk && "
                     "printf '# Disk DescriptorFile\\nversion=1\\nCID=1\\nparentCID=ffffffff\\n"
                     "createType=\"monolithicFlat\"\\nRW 2048 FLAT \"gone-flat.img\" 0\\n' "
                     "> lost-extent.vmdk && "
                     "qemu-img create -q -f qcow2 -u -F raw "
                     "-b 'json:{\"file.filename\":\"/etc/passwd\"}' json.qcow2 1M && "
                     "qemu-img create -q -f qcow2 -u -F raw -b 'nbd://localhost/x' proto.qcow2 1M",
                     dir));
  for (guint i = 0; i < G_N_ELEMENTS (edits); i++)
    {
      g_autofree char *path = g_build_filename (dir, edits[i].name, NULL);

      g_free (tu_run_ok ("cp '%s/tmpl.qcow2' '%s'", dir, path));
      poke (path, edits[i].offset, edits[i].bytes);
    }

  /* Nothing stops the scan; every file is either skipped or a node that can be shown. */
  lib = scan_sync (dir, FALSE);
  nodes = strata_library_get_nodes (lib);
  for (guint i = 0; i < g_list_model_get_n_items (nodes); i++)
    {
      g_autoptr(StrataLibraryNode) node = g_list_model_get_item (nodes, i);
      StrataNodeKind kind = strata_library_node_get_kind (node);

      if (kind == STRATA_NODE_UNREADABLE || kind == STRATA_NODE_MISSING)
        {
          g_assert_nonnull (strata_library_node_get_error (node));
          g_assert_nonnull (strstr (strata_library_node_get_error (node),
                                    strata_library_node_get_name (node)));
        }
    }
  for (guint i = 0; i < G_N_ELEMENTS (edits); i++)
    {
      StrataLibraryNode *node = lookup (lib, dir, edits[i].name);

      g_assert_nonnull (node);
      if (strata_library_node_get_kind (node) == STRATA_NODE_IMAGE)
        g_test_message ("%s: accepted", edits[i].name);
    }
  g_assert_cmpint (strata_library_node_get_kind (lookup (lib, dir, "l1-past-eof.qcow2")), ==,
                   STRATA_NODE_UNREADABLE);
  g_assert_cmpint (strata_library_node_get_kind (lookup (lib, dir, "version-9.qcow2")), ==,
                   STRATA_NODE_UNREADABLE);
  g_assert_cmpint (strata_library_node_get_kind (lookup (lib, dir, "kdmv-short.vmdk")), ==,
                   STRATA_NODE_UNREADABLE);
  g_assert_cmpint (strata_library_node_get_kind (lookup (lib, dir, "lost-extent.vmdk")), ==,
                   STRATA_NODE_UNREADABLE);

  /* Not regular files, or leading nowhere: skipped. */
  g_assert_null (lookup (lib, dir, "fifo.qcow2"));
  g_assert_null (lookup (lib, dir, "dir.qcow2"));
  g_assert_null (lookup (lib, dir, "dangling.qcow2"));
  g_assert_null (lookup (lib, dir, "self-a.qcow2"));

  /* json: and protocol names are kept as stored and never followed. */
  {
    StrataLibraryNode *json = lookup (lib, dir, "json.qcow2");
    StrataLibraryNode *proto = lookup (lib, dir, "proto.qcow2");

    g_assert_cmpint (strata_library_node_get_kind (json), ==, STRATA_NODE_IMAGE);
    g_assert_true (g_str_has_prefix (strata_library_node_get_backing_name (json), "json:"));
    g_assert_null (strata_library_node_get_backing (json));
    g_assert_null (strata_library_node_get_backing_path (json));
    g_assert_null (strata_library_node_get_backing (proto));
    g_assert_null (strata_library_lookup (lib, "/etc/passwd"));
  }
}

static void
test_links (void)
{
  g_autofree char *dir = mkdir_scratch ("links");
  g_autofree char *other = mkdir_scratch ("links-other");
  g_autoptr(StrataLibrary) lib = NULL;
  StrataLibraryNode *base, *ov, *hard;

  g_free (tu_run_ok ("cd '%s' && qemu-img create -q -f qcow2 base.qcow2 1M && "
                     "ln -s base.qcow2 a-link.qcow2 && ln base.qcow2 z-hard.qcow2 && "
                     "qemu-img create -q -f qcow2 -b a-link.qcow2 -F qcow2 ov.qcow2 && "
                     "qemu-img create -q -f qcow2 '%s/elsewhere.qcow2' 1M && "
                     "ln -s '%s' linked-folder",
                     dir, other, other));
  lib = scan_sync (dir, TRUE);
  base = lookup (lib, dir, "base.qcow2");
  ov = lookup (lib, dir, "ov.qcow2");
  hard = lookup (lib, dir, "z-hard.qcow2");

  /* One node, under its real name, whichever name the overlay used. */
  g_assert_true (lookup (lib, dir, "a-link.qcow2") == base);
  g_assert_true (hard == base);
  g_assert_cmpstr (strata_library_node_get_name (base), ==, "base.qcow2");
  g_assert_true (strata_library_node_get_backing (ov) == base);
  g_assert_cmpstr (strata_library_node_get_backing_name (ov), ==, "a-link.qcow2");
  g_assert_cmpuint (strata_library_get_n_images (lib), ==, 2);
  /* A symbolic link to a folder is not followed, even recursively. */
  g_assert_null (lookup (lib, dir, "linked-folder/elsewhere.qcow2"));
}

static void
test_many_overlays_and_external (void)
{
  g_autofree char *dir = mkdir_scratch ("many");
  g_autofree char *bases = mkdir_scratch ("many-bases");
  g_autoptr(StrataLibrary) lib = NULL;
  g_autoptr(GPtrArray) overlays = NULL;
  StrataLibraryNode *base;

  g_free (tu_run_ok ("cd '%s' && qemu-img create -q -f qcow2 '%s/shared.qcow2' 8M && "
                     "for i in $(seq 1 40); do qemu-img create -q -f qcow2 "
                     "-b ../many-bases/shared.qcow2 -F qcow2 vm$i.qcow2 || exit 1; done",
                     dir, bases));
  lib = scan_sync (dir, FALSE);
  base = strata_library_lookup (lib, tu_path ("many-bases/shared.qcow2"));
  g_assert_nonnull (base);
  g_assert_cmpint (strata_library_node_get_kind (base), ==, STRATA_NODE_EXTERNAL);
  g_assert_null (strata_library_node_get_folder (base));
  /* Shown where it is, without the "../" of the name that led to it. */
  g_assert_cmpstr (strata_library_node_get_path (base), ==, tu_path ("many-bases/shared.qcow2"));
  overlays = strata_library_node_dup_overlays (base);
  g_assert_cmpuint (overlays->len, ==, 40);
  for (guint i = 1; i < overlays->len; i++)
    g_assert_cmpstr (strata_library_node_get_path (overlays->pdata[i - 1]), <,
                     strata_library_node_get_path (overlays->pdata[i]));
  g_assert_cmpuint (strata_library_get_n_images (lib), ==, 40);
  g_assert_cmpuint (strata_library_count_in_folder (lib, dir), ==, 40);
  g_assert_cmpuint (strata_library_count_in_folder (lib, bases), ==, 0);

  /* Scanning again changes nothing that did not change: the same node objects, no signal. */
  {
    g_autoptr(GError) error = NULL;
    guint n_signals = 0;
    gulong id = g_signal_connect (strata_library_get_nodes (lib), "items-changed",
                                  G_CALLBACK (items_changed_cb), &n_signals);

    g_assert_true (strata_library_scan_sync (lib, TRUE, NULL, &error));
    g_assert_no_error (error);
    g_assert_true (strata_library_lookup (lib, tu_path ("many-bases/shared.qcow2")) == base);
    g_assert_cmpuint (n_signals, ==, 0);
    g_signal_handler_disconnect (strata_library_get_nodes (lib), id);
  }

  /* The folder of the base joins: the same node, now an image of the library. */
  {
    g_autoptr(GError) error = NULL;
    g_autofree char *id = g_strdup (strata_library_node_get_id (base));

    g_assert_true (strata_library_add_folder (lib, bases, FALSE, &error));
    g_assert_true (strata_library_scan_sync (lib, TRUE, NULL, &error));
    g_assert_no_error (error);
    base = strata_library_lookup_id (lib, id);
    g_assert_cmpint (strata_library_node_get_kind (base), ==, STRATA_NODE_IMAGE);
    g_assert_cmpstr (strata_library_node_get_folder (base), ==, bases);
    g_assert_cmpuint (strata_library_get_n_images (lib), ==, 41);

    strata_library_remove_folder (lib, dir);
    g_assert_cmpuint (g_list_model_get_n_items (strata_library_get_nodes (lib)), ==, 1);
    g_assert_cmpstr (strata_library_get_folders (lib)[0], ==, bases);
    g_assert_null (strata_library_get_folders (lib)[1]);
  }
}

/* 1,000 images: 100 bases with 9 overlays each in chains up to depth 5. QEMU makes one base
 * and one overlay; the rest are copies with the backing name (same length) patched. */
static void
make_thousand (const char *dir)
{
  static const int parent[9] = { -1, -1, -1, 0, 1, 3, 4, 5, 7 };
  g_autofree char *base = NULL, *tmpl = NULL;
  gsize base_len, tmpl_len;
  guint64 name_offset;

  g_free (tu_run_ok ("cd '%s' && qemu-img create -q -f qcow2 b000-0.qcow2 1G && "
                     "qemu-img create -q -f qcow2 -b b000-0.qcow2 -F qcow2 .tmpl", dir));
  g_assert_true (g_file_get_contents (tu_path ("thousand/b000-0.qcow2"), &base, &base_len,
                                      NULL));
  g_assert_true (g_file_get_contents (tu_path ("thousand/.tmpl"), &tmpl, &tmpl_len, NULL));
  g_assert_cmpint (unlink (tu_path ("thousand/.tmpl")), ==, 0);
  name_offset = GUINT64_FROM_BE (*(guint64 *) (void *) (tmpl + 8));
  g_assert_cmpmem (tmpl + name_offset, 12, "b000-0.qcow2", 12);

  for (guint b = 0; b < 100; b++)
    {
      g_autofree char *bname = g_strdup_printf ("%s/b%03u-0.qcow2", dir, b);

      if (b > 0)
        g_assert_true (g_file_set_contents (bname, base, base_len, NULL));
      for (guint k = 0; k < 9; k++)
        {
          g_autofree char *oname = g_strdup_printf ("%s/o%03u-%u.qcow2", dir, b, k);
          g_autofree char *pname = parent[k] < 0 ? g_strdup_printf ("b%03u-0.qcow2", b)
                                                 : g_strdup_printf ("o%03u-%d.qcow2", b,
                                                                    parent[k]);

          memcpy (tmpl + name_offset, pname, 12);
          g_assert_true (g_file_set_contents (oname, tmpl, tmpl_len, NULL));
        }
    }
}

static void
test_thousand (void)
{
  g_autofree char *dir = mkdir_scratch ("thousand");
  g_autoptr(StrataLibrary) lib = NULL;
  g_autoptr(StrataLibrary) streamed = strata_library_new ();
  g_autoptr(GError) error = NULL;
  guint depth_count[6] = { 0 };
  guint edges = 0;
  GListModel *nodes;

  make_thousand (dir);
  g_free (tu_run_ok ("cd '%s' && qemu-img info --backing-chain o042-8.qcow2 | "
                     "grep -c '^image:' | grep -qx 6", dir));
  lib = scan_sync (dir, FALSE);
  nodes = strata_library_get_nodes (lib);
  g_assert_cmpuint (g_list_model_get_n_items (nodes), ==, 1000);
  g_assert_cmpuint (strata_library_get_n_images (lib), ==, 1000);
  g_assert_cmpuint (strata_library_get_n_problems (lib), ==, 0);
  for (guint i = 0; i < 1000; i++)
    {
      g_autoptr(StrataLibraryNode) node = g_list_model_get_item (nodes, i);
      guint depth = strata_library_node_get_depth (node);

      g_assert_cmpuint (depth, <=, 5);
      depth_count[depth]++;
      edges += strata_library_node_get_backing (node) != NULL;
    }
  g_assert_cmpuint (edges, ==, 900);
  g_assert_cmpuint (depth_count[0], ==, 100);
  g_assert_cmpuint (depth_count[1], ==, 300);
  g_assert_cmpuint (depth_count[5], ==, 100);

  /* The streaming scan ends with the same graph. */
  g_assert_true (strata_library_add_folder (streamed, dir, FALSE, &error));
  wait_scanned (streamed);
  g_assert_cmpuint (g_list_model_get_n_items (strata_library_get_nodes (streamed)), ==, 1000);
  for (guint i = 0; i < 1000; i++)
    {
      g_autoptr(StrataLibraryNode) node = g_list_model_get_item (nodes, i);
      StrataLibraryNode *other = strata_library_lookup_id (streamed,
                                                           strata_library_node_get_id (node));
      StrataLibraryNode *b = strata_library_node_get_backing (node);
      StrataLibraryNode *ob = strata_library_node_get_backing (other);

      g_assert_nonnull (other);
      g_assert_cmpstr (b ? strata_library_node_get_id (b) : NULL, ==,
                       ob ? strata_library_node_get_id (ob) : NULL);
    }
}

static void
test_files_outside (void)
{
  g_autofree char *dir = mkdir_scratch ("outside");
  g_autoptr(StrataLibrary) lib = strata_library_new ();
  g_autoptr(GError) error = NULL;
  g_autofree char *top = g_build_filename (dir, "top.qcow2", NULL);
  g_autofree char *nothing = g_build_filename (dir, "nothing.qcow2", NULL);
  StrataLibraryNode *node;

  g_free (tu_run_ok ("cd '%s' && qemu-img create -q -f qcow2 base.qcow2 1M && "
                     "qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 top.qcow2", dir));
  strata_library_add_file (lib, top);
  strata_library_add_file (lib, nothing);
  g_assert_true (strata_library_scan_sync (lib, FALSE, NULL, &error));
  g_assert_no_error (error);

  node = strata_library_lookup (lib, top);
  g_assert_cmpint (strata_library_node_get_kind (node), ==, STRATA_NODE_EXTERNAL);
  g_assert_cmpint (strata_library_node_get_kind (strata_library_node_get_backing (node)), ==,
                   STRATA_NODE_EXTERNAL);
  node = strata_library_lookup (lib, nothing);
  g_assert_cmpint (strata_library_node_get_kind (node), ==, STRATA_NODE_MISSING);
  g_assert_nonnull (strstr (strata_library_node_get_error (node), "nothing.qcow2"));
  g_assert_cmpuint (strata_library_get_n_images (lib), ==, 0);

  /* rescan_file() after an operation changed a file outside the folders. */
  g_free (tu_run_ok ("cd '%s' && qemu-img resize -q top.qcow2 4M", dir));
  strata_library_rescan_file (lib, top);
  {
    gboolean timed_out = FALSE;
    guint id = g_timeout_add_seconds (60, timeout_cb, &timed_out);

    while (!timed_out &&
           strata_library_node_get_virtual_size (strata_library_lookup (lib, top)) != 4 << 20)
      g_main_context_iteration (NULL, TRUE);
    g_assert_false (timed_out);
    g_source_remove (id);
  }
}

static void
test_permission (void)
{
  g_autofree char *dir = mkdir_scratch ("permission");
  g_autoptr(StrataLibrary) lib = NULL;
  StrataLibraryNode *node;

  if (getuid () == 0)
    {
      g_test_skip ("root ignores permission bits: a file it cannot read cannot be made");
      return;
    }
  g_free (tu_run_ok ("cd '%s' && qemu-img create -q -f qcow2 secret.qcow2 1M && "
                     "chmod 000 secret.qcow2", dir));
  lib = scan_sync (dir, FALSE);
  node = lookup (lib, dir, "secret.qcow2");
  g_assert_cmpint (strata_library_node_get_kind (node), ==, STRATA_NODE_UNREADABLE);
  g_assert_nonnull (strstr (strata_library_node_get_error (node), "secret.qcow2"));
}

static void
test_dispose_while_scanning (void)
{
  g_autofree char *dir = mkdir_scratch ("dispose");
  StrataLibrary *lib = strata_library_new ();
  g_autoptr(GError) error = NULL;
  gboolean timed_out = FALSE;
  guint id;

  g_free (tu_run_ok ("cd '%s' && qemu-img create -q -f qcow2 base.qcow2 16M && "
                     "for i in $(seq 100 399); do cp base.qcow2 x$i.qcow2; done", dir));
  g_assert_true (strata_library_add_folder (lib, dir, TRUE, &error));
  id = g_timeout_add_seconds (60, timeout_cb, &timed_out);
  while (!timed_out && g_list_model_get_n_items (strata_library_get_nodes (lib)) == 0)
    g_main_context_iteration (NULL, TRUE);
  g_assert_false (timed_out);
  g_source_remove (id);

  /* Workers still running, results still queued: the library goes at once, and what the
   * workers hand back later lands nowhere. */
  g_assert_finalize_object (lib);
  while (g_main_context_iteration (NULL, FALSE))
    ;
}

int
main (int argc, char **argv)
{
  tu_init (&argc, &argv);

  g_test_add_func ("/library/kinds", test_kinds);
  g_test_add_func ("/library/snapshots", test_snapshots);
  g_test_add_func ("/library/loops", test_loops);
  g_test_add_func ("/library/async", test_async);
  g_test_add_func ("/library/bad-folder", test_bad_folder);
  g_test_add_func ("/library/hostile", test_hostile);
  g_test_add_func ("/library/links", test_links);
  g_test_add_func ("/library/many-overlays-and-external", test_many_overlays_and_external);
  g_test_add_func ("/library/thousand", test_thousand);
  g_test_add_func ("/library/files-outside", test_files_outside);
  g_test_add_func ("/library/permission", test_permission);
  g_test_add_func ("/library/dispose-while-scanning", test_dispose_while_scanning);

  return g_test_run ();
}
