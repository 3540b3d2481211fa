/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * `strata-img tree`: every backing chain found in some folders (and files), each base at a
 * root with its overlays beneath it. Built on the engine's library model.
 */
#include "strata-img.h"
#include "strata-img-output.h"

#include "strata-library.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

enum
{
  OPT_OUTPUT = 256,
};

typedef enum
{
  OUTPUT_HUMAN,
  OUTPUT_JSON,
  OUTPUT_DOT,
} Output;

static int
compare_nodes (gconstpointer a,
               gconstpointer b)
{
  StrataLibraryNode *na = *(StrataLibraryNode * const *) a;
  StrataLibraryNode *nb = *(StrataLibraryNode * const *) b;

  return strcmp (strata_library_node_get_path (na), strata_library_node_get_path (nb));
}

/* The nodes sorted by path: workers finish in any order, the output must not. */
static GPtrArray *
sorted_nodes (StrataLibrary *lib)
{
  GListModel *model = strata_library_get_nodes (lib);
  guint n = g_list_model_get_n_items (model);
  GPtrArray *nodes = g_ptr_array_new_full (n, g_object_unref);

  for (guint i = 0; i < n; i++)
    g_ptr_array_add (nodes, g_list_model_get_item (model, i));
  g_ptr_array_sort (nodes, compare_nodes);
  return nodes;
}

/* ---------------------------------------------------------------------------------------- */
/* human                                                                                    */

static const char *
display_name (StrataLibraryNode *node,
              const char        *only_folder)
{
  const char *path = strata_library_node_get_path (node);
  gsize len = only_folder != NULL ? strlen (only_folder) : 0;

  if (only_folder != NULL && strncmp (path, only_folder, len) == 0 && path[len] == '/')
    return path + len + 1;
  return path;
}

/* "outside the folders" means something only when folders were named. */
static gboolean mark_external;

static void
append_flags (GString           *out,
              StrataLibraryNode *node)
{
  g_autoptr(GPtrArray) flags = g_ptr_array_new_with_free_func (g_free);
  StrataNodeKind kind = strata_library_node_get_kind (node);

  if (kind == STRATA_NODE_EXTERNAL && mark_external)
    g_ptr_array_add (flags, g_strdup ("outside the folders"));
  if (strata_library_node_get_protected (node))
    g_ptr_array_add (flags, g_strdup ("protected"));
  if (strata_library_node_get_in_use (node))
    g_ptr_array_add (flags, g_strdup ("in use"));
  if (strata_library_node_get_dirty (node))
    g_ptr_array_add (flags, g_strdup ("dirty"));
  if (strata_library_node_get_corrupt (node))
    g_ptr_array_add (flags, g_strdup ("corrupt"));
  if (strata_library_node_get_encrypted (node))
    g_ptr_array_add (flags, g_strdup ("encrypted"));
  if (strata_library_node_get_compressed (node))
    g_ptr_array_add (flags, g_strdup ("compressed"));
  if (kind == STRATA_NODE_MISSING)
    g_ptr_array_add (flags, g_strdup ("missing"));
  if (kind == STRATA_NODE_UNREADABLE)
    g_ptr_array_add (flags, g_strdup_printf ("unreadable: %s",
                                             strata_library_node_get_error (node)));
  if (kind == STRATA_NODE_LOOP)
    g_ptr_array_add (flags, g_strdup ("loop"));

  if (flags->len == 0)
    return;
  g_string_append (out, "  [");
  for (guint i = 0; i < flags->len; i++)
    g_string_append_printf (out, "%s%s", i > 0 ? ", " : "", (char *) flags->pdata[i]);
  g_string_append_c (out, ']');
}

static void
append_line (GString           *out,
             StrataLibraryNode *node,
             const char        *only_folder)
{
  StrataNodeKind kind = strata_library_node_get_kind (node);

  g_string_append (out, display_name (node, only_folder));
  if (kind != STRATA_NODE_MISSING && kind != STRATA_NODE_UNREADABLE)
    {
      g_autofree char *vsize = strata_img_size_to_str (strata_library_node_get_virtual_size (node));
      g_autofree char *dsize = strata_img_size_to_str (
        strata_library_node_get_allocated_size (node));

      g_string_append_printf (out, "  (%s, %s, disk %s)",
                              strata_library_node_get_format (node), vsize, dsize);
    }
  append_flags (out, node);
  g_string_append_c (out, '\n');
}

static void
print_subtree (GString           *out,
               StrataLibraryNode *node,
               const char        *prefix,
               const char        *only_folder,
               GHashTable        *printed)
{
  g_autoptr(GPtrArray) overlays = strata_library_node_dup_overlays (node);

  for (guint i = 0; i < overlays->len; i++)
    {
      StrataLibraryNode *child = overlays->pdata[i];
      gboolean last = i + 1 == overlays->len;
      g_autofree char *next_prefix = g_strconcat (prefix, last ? "    " : "│   ", NULL);

      g_string_append_printf (out, "%s%s", prefix, last ? "└── " : "├── ");
      if (!g_hash_table_add (printed, child))
        {
          /* Only a loop leads back to a node already shown. */
          g_string_append_printf (out, "%s  [loop: back to the top of this chain]\n",
                                  display_name (child, only_folder));
          continue;
        }
      append_line (out, child, only_folder);
      print_subtree (out, child, next_prefix, only_folder, printed);
    }
}

static void
print_human (GString       *out,
             StrataLibrary *lib,
             GPtrArray     *nodes,
             const char    *only_folder)
{
  g_autoptr(GHashTable) printed = g_hash_table_new (NULL, NULL);

  /* Roots are the nodes without backing; then loops, which have no root. */
  for (guint pass = 0; pass < 2; pass++)
    for (guint i = 0; i < nodes->len; i++)
      {
        StrataLibraryNode *node = nodes->pdata[i];

        if (g_hash_table_contains (printed, node))
          continue;
        if (pass == 0 && strata_library_node_get_backing (node) != NULL)
          continue;
        if (pass == 1 && strata_library_node_get_kind (node) != STRATA_NODE_LOOP)
          continue;
        g_hash_table_add (printed, node);
        append_line (out, node, only_folder);
        print_subtree (out, node, "", only_folder, printed);
      }
}

/* ---------------------------------------------------------------------------------------- */
/* json and dot                                                                             */

static JsonNode *
node_to_json (StrataLibraryNode *node)
{
  const StrataImageInfo *info = strata_library_node_get_image_info (node);
  JsonNode *json;
  JsonObject *object;

  if (info != NULL)
    {
      StrataImageInfo copy = *info;

      /* As `info` does: a name that is not followed is shown as its own full name. */
      if (copy.backing_filename != NULL && copy.full_backing_filename == NULL)
        copy.full_backing_filename = copy.backing_filename;
      json = strata_img_info_to_json (&copy, FALSE);
    }
  else
    {
      json = json_node_new (JSON_NODE_OBJECT);
      json_node_take_object (json, json_object_new ());
      json_object_set_string_member (json_node_get_object (json), "filename",
                                     strata_library_node_get_path (node));
    }

  object = json_node_get_object (json);
  json_object_set_string_member (object, "id", strata_library_node_get_id (node));
  json_object_set_string_member (object, "kind",
                                 strata_node_kind_to_string (strata_library_node_get_kind (node)));
  json_object_set_boolean_member (object, "protected", strata_library_node_get_protected (node));
  json_object_set_boolean_member (object, "in-use", strata_library_node_get_in_use (node));
  if (strata_library_node_get_error (node) != NULL)
    json_object_set_string_member (object, "error", strata_library_node_get_error (node));
  return json;
}

static void
print_json (GString   *out,
            GPtrArray *nodes)
{
  g_autoptr(JsonNode) root = json_node_new (JSON_NODE_OBJECT);
  JsonObject *object = json_object_new ();
  JsonArray *jnodes = json_array_new ();
  JsonArray *jedges = json_array_new ();
  g_autofree char *text = NULL;

  for (guint i = 0; i < nodes->len; i++)
    {
      StrataLibraryNode *node = nodes->pdata[i];
      StrataLibraryNode *backing = strata_library_node_get_backing (node);

      json_array_add_element (jnodes, node_to_json (node));
      if (backing != NULL)
        {
          JsonObject *edge = json_object_new ();

          json_object_set_string_member (edge, "overlay", strata_library_node_get_id (node));
          json_object_set_string_member (edge, "backing", strata_library_node_get_id (backing));
          json_array_add_object_element (jedges, edge);
        }
    }
  json_object_set_array_member (object, "nodes", jnodes);
  json_object_set_array_member (object, "edges", jedges);
  json_node_take_object (root, object);

  text = strata_img_json_to_string (root);
  g_string_append_printf (out, "%s\n", text);
}

static void
append_dot_string (GString    *out,
                   const char *s)
{
  g_string_append_c (out, '"');
  for (; *s != '\0'; s++)
    {
      if (*s == '"' || *s == '\\')
        g_string_append_c (out, '\\');
      if (*s == '\n')
        g_string_append (out, "\\n");
      else
        g_string_append_c (out, *s);
    }
  g_string_append_c (out, '"');
}

static void
print_dot (GString    *out,
           GPtrArray  *nodes,
           const char *only_folder)
{
  g_string_append (out, "digraph strata {\n  rankdir=BT;\n  node [shape=box];\n");
  for (guint i = 0; i < nodes->len; i++)
    {
      StrataLibraryNode *node = nodes->pdata[i];
      g_autoptr(GString) label = g_string_new (display_name (node, only_folder));
      StrataNodeKind kind = strata_library_node_get_kind (node);

      if (kind != STRATA_NODE_MISSING && kind != STRATA_NODE_UNREADABLE)
        {
          g_autofree char *vsize = strata_img_size_to_str (
            strata_library_node_get_virtual_size (node));

          g_string_append_printf (label, "\n%s, %s", strata_library_node_get_format (node),
                                  vsize);
        }
      if (kind != STRATA_NODE_IMAGE)
        g_string_append_printf (label, "\n%s", strata_node_kind_to_string (kind));

      g_string_append (out, "  ");
      append_dot_string (out, strata_library_node_get_id (node));
      g_string_append (out, " [label=");
      append_dot_string (out, label->str);
      if (kind == STRATA_NODE_MISSING || kind == STRATA_NODE_UNREADABLE ||
          kind == STRATA_NODE_LOOP)
        g_string_append (out, ", color=red");
      else if (kind == STRATA_NODE_EXTERNAL)
        g_string_append (out, ", style=dashed");
      g_string_append (out, "];\n");
    }
  /* Edges point from an overlay to its backing file. */
  for (guint i = 0; i < nodes->len; i++)
    {
      StrataLibraryNode *node = nodes->pdata[i];
      StrataLibraryNode *backing = strata_library_node_get_backing (node);

      if (backing == NULL)
        continue;
      g_string_append (out, "  ");
      append_dot_string (out, strata_library_node_get_id (node));
      g_string_append (out, " -> ");
      append_dot_string (out, strata_library_node_get_id (backing));
      g_string_append (out, ";\n");
    }
  g_string_append (out, "}\n");
}

/* ---------------------------------------------------------------------------------------- */

static void
usage (FILE *out)
{
  fprintf (out, "Usage: strata-img tree [-r] [-U] [--output=human|json|dot] DIR|FILE...\n");
}

int
strata_img_tree (int argc, char **argv)
{
  static const struct option long_options[] = {
    { "help", no_argument, NULL, 'h' },
    { "recursive", no_argument, NULL, 'r' },
    { "force-share", no_argument, NULL, 'U' },
    { "output", required_argument, NULL, OPT_OUTPUT },
    { NULL, 0, NULL, 0 },
  };
  g_autoptr(StrataLibrary) lib = NULL;
  g_autoptr(GPtrArray) nodes = NULL;
  g_autoptr(GString) out = g_string_new (NULL);
  g_autoptr(GError) error = NULL;
  g_autofree char *only_folder = NULL;
  gboolean recursive = FALSE;
  gboolean force_share = FALSE;
  Output output = OUTPUT_HUMAN;
  guint n_folders = 0;
  int status = 0;
  int c;

  while ((c = getopt_long (argc, argv, ":hrU", long_options, NULL)) != -1)
    {
      switch (c)
        {
        case 'h':
          usage (stdout);
          return 0;
        case 'r':
          recursive = TRUE;
          break;
        case 'U':
          force_share = TRUE;
          break;
        case OPT_OUTPUT:
          if (g_str_equal (optarg, "human"))
            output = OUTPUT_HUMAN;
          else if (g_str_equal (optarg, "json"))
            output = OUTPUT_JSON;
          else if (g_str_equal (optarg, "dot"))
            output = OUTPUT_DOT;
          else
            {
              strata_img_error ("--output must be human, json or dot");
              return 1;
            }
          break;
        case ':':
          strata_img_error ("option '%s' needs an argument", argv[optind - 1]);
          return 1;
        default:
          strata_img_error ("unrecognized option '%s'", argv[optind - 1]);
          usage (stderr);
          return 1;
        }
    }

  if (optind >= argc)
    {
      strata_img_error ("Expecting at least one folder or image file name");
      usage (stderr);
      return 1;
    }

  lib = strata_library_new ();
  for (int i = optind; i < argc; i++)
    {
      if (g_file_test (argv[i], G_FILE_TEST_IS_DIR))
        {
          if (!strata_library_add_folder (lib, argv[i], recursive, &error))
            {
              strata_img_error ("%s", error->message);
              g_clear_error (&error);
              status = 1;
              continue;
            }
          g_free (only_folder);
          only_folder = n_folders++ == 0 ? g_canonicalize_filename (argv[i], NULL) : NULL;
        }
      else if (!g_file_test (argv[i], G_FILE_TEST_EXISTS))
        {
          /* Could have been a folder: say so, and fail like a folder that cannot be read. */
          strata_img_error ("%s: No such file or directory", argv[i]);
          status = 1;
        }
      else
        strata_library_add_file (lib, argv[i]);
    }
  if (n_folders != 1)
    g_clear_pointer (&only_folder, g_free);
  mark_external = n_folders > 0;

  if (!strata_library_scan_sync (lib, force_share, NULL, &error))
    {
      /* A folder that could be opened but not listed. */
      strata_img_error ("%s", error->message);
      status = 1;
    }

  nodes = sorted_nodes (lib);
  switch (output)
    {
    case OUTPUT_HUMAN:
      print_human (out, lib, nodes, only_folder);
      break;
    case OUTPUT_JSON:
      print_json (out, nodes);
      break;
    case OUTPUT_DOT:
      print_dot (out, nodes, only_folder);
      break;
    default:
      g_assert_not_reached ();
    }

  fwrite (out->str, 1, out->len, stdout);
  if (fflush (stdout) != 0)
    status = 1;
  return status;
}
