/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * `strata-img tree` over a layout QEMU makes: its JSON checked against what
 * `qemu-img info --backing-chain` says of every image, the human and dot outputs, links,
 * and the exit status.
 */
#include "cli-util.h"
#include "test-util.h"

#include <json-glib/json-glib.h>
#include <string.h>
#include <sys/stat.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

static char *
make_layout (const char *name)
{
  char *dir = g_build_filename (tu_dir (), name, NULL);

  g_free (tu_run_ok (
    "rm -rf '%s' && mkdir -p '%s/lib/sub' '%s/outside' && cd '%s' && "
    "qemu-img create -q -f qcow2 outside/ext-base.qcow2 32M && "
    "cd lib && "
    "qemu-img create -q -f qcow2 base.qcow2 64M && "
    "qemu-io -f qcow2 -c 'write -P 0x11 0 1M' base.qcow2 >/dev/null && "
    "qemu-img create -q -f qcow2 -o compat=0.10 old.qcow2 16M && "
    "qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 ov1.qcow2 && "
    "qemu-img create -q -f qcow2 -b \"$PWD/base.qcow2\" -F qcow2 -o cluster_size=4096 "
    "abs.qcow2 && "
    "qemu-img create -q -f qcow2 -b ../ov1.qcow2 -F qcow2 sub/deep.qcow2 && "
    "qemu-img create -q -f qcow2 -b ../outside/ext-base.qcow2 -F qcow2 ext-ov.qcow2 && "
    "qemu-img create -q -f qcow2 -u -b nowhere.qcow2 -F qcow2 orphan.qcow2 1M && "
    "qemu-img create -q -f vmdk disk.vmdk 8M && "
    "qemu-img create -q -f raw disk.img 2M && "
    "qemu-img convert -c -O qcow2 base.qcow2 packed.qcow2 && "
    "printf 'QFI\\373\\000\\000\\000\\003' > broken.qcow2 && head -c 4096 /dev/urandom "
    ">> broken.qcow2 && "
    "echo 'not an image' > README && "
    "ln -s base.qcow2 link.qcow2 && ln ov1.qcow2 sub/hard.qcow2 && "
    "chmod a-w base.qcow2",
    dir, dir, dir, dir));
  return dir;
}

/* A path in the layout's lib folder; the string lives until exit. */
static const char *
in_lib (const char *lib,
        const char *name)
{
  static GPtrArray *paths;
  char *path = g_build_filename (lib, name, NULL);

  if (paths == NULL)
    paths = g_ptr_array_new_with_free_func (g_free);
  g_ptr_array_add (paths, path);
  return path;
}

static JsonNode *
parse (const char *text)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;

  if (!json_parser_load_from_data (parser, text, -1, &error))
    g_error ("cannot parse JSON: %s\n%s", error->message, text);
  return json_node_copy (json_parser_get_root (parser));
}

static JsonObject *
find_node (JsonArray  *nodes,
           const char *key,
           const char *value)
{
  for (guint i = 0; i < json_array_get_length (nodes); i++)
    {
      JsonObject *o = json_array_get_object_element (nodes, i);

      if (g_strcmp0 (json_object_get_string_member_with_default (o, key, NULL), value) == 0)
        return o;
    }
  return NULL;
}

static const char *
backing_of (JsonArray  *edges,
            const char *id)
{
  for (guint i = 0; i < json_array_get_length (edges); i++)
    {
      JsonObject *e = json_array_get_object_element (edges, i);

      if (g_str_equal (json_object_get_string_member (e, "overlay"), id))
        return json_object_get_string_member (e, "backing");
    }
  return NULL;
}

static char *
file_id (const char *path)
{
  struct stat st;

  g_assert_cmpint (stat (path, &st), ==, 0);
  return g_strdup_printf ("%" G_GUINT64_FORMAT ":%" G_GUINT64_FORMAT,
                          (guint64) st.st_dev, (guint64) st.st_ino);
}

static gboolean
chain_is_whole (JsonArray  *nodes,
                JsonArray  *edges,
                JsonObject *node)
{
  for (guint depth = 0; node != NULL && depth < 64; depth++)
    {
      const char *kind = json_object_get_string_member (node, "kind");
      const char *next;

      if (!g_str_equal (kind, "image") && !g_str_equal (kind, "external"))
        return FALSE;
      next = backing_of (edges, json_object_get_string_member (node, "id"));
      if (next == NULL)
        return !json_object_has_member (node, "backing-filename");
      node = find_node (nodes, "id", next);
    }
  return FALSE;
}

/* Every member qemu-img prints is in the node with the same value. */
static void
assert_matches_qemu (JsonObject *qemu,
                     JsonObject *node,
                     gboolean    below)
{
  g_autoptr(GList) members = json_object_get_members (qemu);

  for (GList *l = members; l != NULL; l = l->next)
    {
      const char *name = l->data;
      JsonNode *want = json_object_get_member (qemu, name);
      JsonNode *got = json_object_get_member (node, name);

      /* qemu-img names a layer by the path its overlay resolved; tree by the folder name. */
      if (g_str_equal (name, "filename"))
        continue;
      /* Below the top, qemu-img resolves names against the path it came by ("sub/../x"):
       * the same file, spelled otherwise. */
      if (below && g_str_equal (name, "full-backing-filename") && got != NULL)
        {
          g_autofree char *a = file_id (json_node_get_string (want));
          g_autofree char *b = file_id (json_node_get_string (got));

          g_assert_cmpstr (a, ==, b);
          continue;
        }
      if (got == NULL || !json_node_equal (want, got))
        {
          g_autofree char *w = json_to_string (want, FALSE);
          g_autofree char *g = got != NULL ? json_to_string (got, FALSE) : g_strdup ("(none)");

          g_error ("%s: \"%s\" is %s, qemu-img says %s",
                   json_object_get_string_member (node, "filename"), name, g, w);
        }
    }
}

static void
test_json_vs_qemu (void)
{
  g_autofree char *dir = make_layout ("json");
  g_autofree char *lib = g_build_filename (dir, "lib", NULL);
  g_auto(CliResult) r = { 0 };
  g_autoptr(JsonNode) root = NULL;
  JsonArray *nodes, *edges;
  guint checked = 0, layers = 0;
  JsonObject *o;
  g_autofree char *ext_base = g_build_filename (dir, "outside", "ext-base.qcow2", NULL);
  g_autofree char *ext_id = NULL;

  cli_run_strata (&r, dir, "tree -r --output=json lib");
  g_assert_cmpint (r.rc, ==, 0);
  g_assert_cmpstr (r.err, ==, "");
  root = parse (r.out);
  nodes = json_object_get_array_member (json_node_get_object (root), "nodes");
  edges = json_object_get_array_member (json_node_get_object (root), "edges");

  for (guint i = 0; i < json_array_get_length (nodes); i++)
    {
      JsonObject *node = json_array_get_object_element (nodes, i);
      const char *filename = json_object_get_string_member (node, "filename");
      g_auto(CliResult) q = { 0 };
      g_autofree char *args = NULL;
      g_autoptr(JsonNode) chain = NULL;
      JsonArray *layers_json;
      JsonObject *layer_node = node;

      g_assert_true (json_object_has_member (node, "id"));
      g_assert_true (json_object_has_member (node, "protected"));
      g_assert_true (json_object_has_member (node, "in-use"));
      if (!chain_is_whole (nodes, edges, node))
        {
          g_assert_true (json_object_has_member (node, "error") ||
                         !g_str_equal (json_object_get_string_member (node, "kind"),
                                       "unreadable"));
          continue;
        }

      args = g_strdup_printf ("info -U --output=json --backing-chain '%s'", filename);
      cli_run_qemu (&q, dir, args);
      g_assert_cmpint (q.rc, ==, 0);
      chain = parse (q.out);
      layers_json = json_node_get_array (chain);

      /* The chain qemu-img walks is the one the edges describe, layer by layer. */
      for (guint k = 0; k < json_array_get_length (layers_json); k++)
        {
          JsonObject *layer = json_array_get_object_element (layers_json, k);
          g_autofree char *id = file_id (json_object_get_string_member (layer, "filename"));
          const char *next;

          g_assert_nonnull (layer_node);
          g_assert_cmpstr (json_object_get_string_member (layer_node, "id"), ==, id);
          assert_matches_qemu (layer, layer_node, k > 0);
          layers++;
          next = backing_of (edges, id);
          layer_node = next != NULL ? find_node (nodes, "id", next) : NULL;
        }
      g_assert_null (layer_node);
      checked++;
    }

  /* base old ov1 abs deep ext-ov disk.vmdk disk.img packed + ext-base. */
  g_assert_cmpuint (checked, ==, 10);
  g_assert_cmpuint (layers, >, checked);

  /* The kinds the others have. */
  o = find_node (nodes, "filename", in_lib (lib, "broken.qcow2"));
  g_assert_nonnull (o);
  g_assert_cmpstr (json_object_get_string_member (o, "kind"), ==, "unreadable");
  g_assert_nonnull (strstr (json_object_get_string_member (o, "error"), "broken.qcow2"));
  o = find_node (nodes, "filename", in_lib (lib, "nowhere.qcow2"));
  g_assert_nonnull (o);
  g_assert_cmpstr (json_object_get_string_member (o, "kind"), ==, "missing");
  g_assert_true (json_object_has_member (o, "error"));
  ext_id = file_id (ext_base);
  o = find_node (nodes, "id", ext_id);
  g_assert_nonnull (o);
  g_assert_cmpstr (json_object_get_string_member (o, "kind"), ==, "external");
  o = find_node (nodes, "filename", in_lib (lib, "base.qcow2"));
  g_assert_true (json_object_get_boolean_member (o, "protected"));
  g_assert_false (json_object_get_boolean_member (o, "in-use"));

  /* Links are one node, under the name in the folder found first (not the link's target). */
  g_assert_null (find_node (nodes, "filename", in_lib (lib, "link.qcow2")));
  g_assert_null (find_node (nodes, "filename",
                            in_lib (lib, "sub/hard.qcow2")));
  g_assert_cmpuint (json_array_get_length (nodes), ==, 13);
  g_assert_null (find_node (nodes, "filename", in_lib (lib, "README")));
  /* ov1 abs deep ext-ov orphan. */
  g_assert_cmpuint (json_array_get_length (edges), ==, 5);
}

static void
test_human_and_dot (void)
{
  g_autofree char *dir = make_layout ("human");
  g_auto(CliResult) r = { 0 };
  g_auto(CliResult) d = { 0 };
  const char *p;
  guint arrows = 0;

  cli_run_strata (&r, dir, "tree -r lib");
  g_assert_cmpint (r.rc, ==, 0);
  g_assert_nonnull (strstr (r.out, "  [protected]\n"));
  g_assert_nonnull (strstr (r.out, "nowhere.qcow2  [missing]\n└── orphan.qcow2  (qcow2, "));
  g_assert_nonnull (strstr (r.out, "broken.qcow2  [unreadable: "));
  g_assert_nonnull (strstr (r.out, "packed.qcow2  (qcow2, 64 MiB, disk "));
  g_assert_nonnull (strstr (r.out, "  [compressed]\n"));
  g_assert_nonnull (strstr (r.out, "/outside/ext-base.qcow2  (qcow2, 32 MiB, disk 196 KiB)  "
                            "[outside the folders]\n└── ext-ov.qcow2"));
  g_assert_null (strstr (r.out, "/../"));
  /* base → ov1 → sub/deep.qcow2, drawn as a tree. */
  g_assert_nonnull (strstr (r.out, "└── ov1.qcow2  (qcow2, 64 MiB, disk 196 KiB)\n"
                            "    └── sub/deep.qcow2  (qcow2, 64 MiB"));
  g_assert_nonnull (strstr (r.out, "├── abs.qcow2"));
  g_assert_null (strstr (r.out, "README"));

  cli_run_strata (&d, dir, "tree -r --output=dot lib");
  g_assert_cmpint (d.rc, ==, 0);
  g_assert_true (g_str_has_prefix (d.out, "digraph strata {\n"));
  g_assert_true (g_str_has_suffix (d.out, "}\n"));
  for (p = d.out; (p = strstr (p, " -> ")) != NULL; p++)
    arrows++;
  g_assert_cmpuint (arrows, ==, 5);
}

static void
test_loops (void)
{
  g_autofree char *dir = g_build_filename (tu_dir (), "loops", NULL);
  g_auto(CliResult) r = { 0 };

  g_free (tu_run_ok ("rm -rf '%s' && mkdir -p '%s' && cd '%s' && "
                     "qemu-img create -q -f qcow2 a.qcow2 1M && "
                     "qemu-img create -q -f qcow2 -b a.qcow2 -F qcow2 b.qcow2 && "
                     "qemu-img rebase -q -u -b b.qcow2 -F qcow2 a.qcow2 && "
                     "qemu-img create -q -f qcow2 s.qcow2 1M && "
                     "qemu-img rebase -q -u -b s.qcow2 -F qcow2 s.qcow2", dir, dir, dir));
  cli_run_strata (&r, dir, "tree .");
  g_assert_cmpint (r.rc, ==, 0);
  g_assert_cmpstr (r.out, ==,
                   "a.qcow2  (qcow2, 1 MiB, disk 196 KiB)  [loop]\n"
                   "└── b.qcow2  (qcow2, 1 MiB, disk 196 KiB)  [loop]\n"
                   "    └── a.qcow2  [loop: back to the top of this chain]\n"
                   "s.qcow2  (qcow2, 1 MiB, disk 196 KiB)  [loop]\n"
                   "└── s.qcow2  [loop: back to the top of this chain]\n");
}

static void
test_files_and_errors (void)
{
  g_autofree char *dir = make_layout ("errors");
  g_auto(CliResult) files = { 0 };
  g_auto(CliResult) missing = { 0 };
  g_auto(CliResult) bad_opt = { 0 };

  /* Files named on their own: the chains below them, with their full names. */
  cli_run_strata (&files, dir, "tree lib/sub/deep.qcow2 lib/broken.qcow2");
  g_assert_cmpint (files.rc, ==, 0);
  g_assert_nonnull (strstr (files.out, "/lib/base.qcow2  (qcow2, 64 MiB"));
  g_assert_nonnull (strstr (files.out, "\n    └── /"));
  g_assert_nonnull (strstr (files.out, "/lib/sub/deep.qcow2  (qcow2"));
  g_assert_nonnull (strstr (files.out, "broken.qcow2  [unreadable: "));
  g_assert_null (strstr (files.out, "outside the folders"));

  /* A folder that is not there fails the command, the rest is still shown. */
  cli_run_strata (&missing, dir, "tree no-such-folder lib");
  g_assert_cmpint (missing.rc, ==, 1);
  g_assert_nonnull (strstr (missing.err, "no-such-folder"));
  g_assert_nonnull (strstr (missing.out, "base.qcow2"));

  cli_run_strata (&bad_opt, dir, "tree --output=xml lib");
  g_assert_cmpint (bad_opt.rc, ==, 1);
  g_assert_nonnull (strstr (bad_opt.err, "--output"));

  /* Root reads everything: drop to nobody for what only permissions can refuse. */
  {
    g_auto(CliResult) unreadable = { 0 };
    g_autofree char *args = NULL;
    const char *as_user = "";

    if (getuid () == 0)
      {
        if (!g_file_test ("/usr/bin/setpriv", G_FILE_TEST_IS_EXECUTABLE))
          {
            g_test_skip ("running as root without setpriv: permissions cannot refuse");
            return;
          }
        as_user = "setpriv --reuid=65534 --regid=65534 --clear-groups ";
        g_free (tu_run_ok ("chmod o+x '%s' '%s'", tu_dir (), dir));
      }
    g_free (tu_run_ok ("cd '%s' && mkdir -p locked && chmod 000 locked && "
                       "qemu-img create -q -f qcow2 lib/secret.qcow2 1M && "
                       "chmod 000 lib/secret.qcow2", dir));
    args = g_strdup_printf ("cd '%s' && %s'%s' tree locked lib", dir, as_user,
                            tu_strata_img ());
    unreadable.rc = tu_run (&unreadable.out, &unreadable.err, "%s", args);
    g_free (tu_run_ok ("chmod 755 '%s/locked' && chmod 644 '%s/lib/secret.qcow2'", dir, dir));
    g_assert_cmpint (unreadable.rc, ==, 1);
    g_assert_nonnull (strstr (unreadable.err, "locked: cannot read the folder: Permission denied"));
    g_assert_nonnull (strstr (unreadable.out, "secret.qcow2  [protected, unreadable: "));
    g_assert_nonnull (strstr (unreadable.out, "Permission denied]"));
    g_assert_nonnull (strstr (unreadable.out, "base.qcow2"));
  }
}

static void
test_in_use (void)
{
  g_autofree char *dir = g_build_filename (tu_dir (), "in-use", NULL);
  g_autofree char *image = NULL;
  const char *argv[] = { "qemu-io", "-f", "qcow2", "-c", "sleep 120000", NULL, NULL };
  g_autoptr(GError) error = NULL;
  g_auto(CliResult) locked = { 0 };
  g_auto(CliResult) shared = { 0 };
  GPid pid = 0;

  g_free (tu_run_ok ("rm -rf '%s' && mkdir -p '%s' && cd '%s' && "
                     "qemu-img create -q -f qcow2 vm.qcow2 1M", dir, dir, dir));
  image = g_build_filename (dir, "vm.qcow2", NULL);
  argv[5] = image;
  g_assert_true (g_spawn_async (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH |
                                G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, &pid, &error));
  g_assert_no_error (error);
  /* qemu-img itself tells when qemu-io holds the image. */
  g_free (tu_run_ok ("cd '%s' && i=0; while qemu-img info vm.qcow2 >/dev/null 2>&1; do "
                     "i=$((i+1)); [ $i -lt 300 ] || exit 1; sleep 0.1; done", dir));

  /* Without -U the image cannot be read, as with qemu-img info; with -U it is. */
  cli_run_strata (&locked, dir, "tree --output=json .");
  cli_run_strata (&shared, dir, "tree -U --output=json .");
  kill (pid, SIGTERM);
  waitpid (pid, NULL, 0);
  g_spawn_close_pid (pid);

  g_assert_cmpint (locked.rc, ==, 0);
  g_assert_nonnull (strstr (locked.out, "\"kind\": \"unreadable\""));
  g_assert_nonnull (strstr (locked.out, "\"in-use\": true"));
  g_assert_nonnull (strstr (locked.out, "-U"));
  g_assert_cmpint (shared.rc, ==, 0);
  g_assert_nonnull (strstr (shared.out, "\"kind\": \"image\""));
  g_assert_nonnull (strstr (shared.out, "\"in-use\": true"));
}

int
main (int argc, char **argv)
{
  tu_init (&argc, &argv);

  g_test_add_func ("/cli/tree/json-vs-qemu", test_json_vs_qemu);
  g_test_add_func ("/cli/tree/human-and-dot", test_human_and_dot);
  g_test_add_func ("/cli/tree/loops", test_loops);
  g_test_add_func ("/cli/tree/files-and-errors", test_files_and_errors);
  g_test_add_func ("/cli/tree/in-use", test_in_use);

  return g_test_run ();
}
