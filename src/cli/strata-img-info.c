/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "strata-img.h"
#include "strata-img-output.h"

#include "strata-error.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

enum
{
  OPT_OUTPUT = STRATA_IMG_OPT_FIRST_OWN,
  OPT_BACKING_CHAIN,
  OPT_STRATA_KEYS,
};

static void
print_human (GString               *out,
             const StrataImageInfo *info,
             gboolean               strata_keys)
{
  g_autofree char *vsize = strata_img_size_to_str (info->virtual_size);
  g_autofree char *dsize = strata_img_size_to_str (info->actual_size);

  g_string_append_printf (out,
                          "image: %s\n"
                          "file format: %s\n"
                          "virtual size: %s (%" G_GUINT64_FORMAT " bytes)\n"
                          "disk size: %s\n",
                          info->filename, info->format, vsize, info->virtual_size, dsize);
  /* qemu-img says so before the cluster size. */
  if (info->encrypted)
    g_string_append (out, "encrypted: yes\n");
  if (info->cluster_size > 0)
    g_string_append_printf (out, "cluster_size: %" G_GUINT64_FORMAT "\n", info->cluster_size);
  if (info->dirty_flag)
    g_string_append (out, "cleanly shut down: no\n");
  if (info->backing_filename != NULL)
    {
      g_string_append_printf (out, "backing file: %s", info->backing_filename);
      if (info->full_backing_filename == NULL)
        g_string_append (out, " (cannot determine actual path)");
      else if (strcmp (info->backing_filename, info->full_backing_filename) != 0)
        g_string_append_printf (out, " (actual path: %s)", info->full_backing_filename);
      g_string_append_c (out, '\n');
      if (info->backing_format != NULL)
        g_string_append_printf (out, "backing file format: %s\n", info->backing_format);
    }

  strata_img_snapshot_table (out, info->snapshots);

  /* Strata's additions (--strata-keys): what a user must know before touching the file. */
  if (strata_keys && info->in_use)
    g_string_append (out, "in use: yes (another process, such as a running QEMU, holds it)\n");
  if (strata_keys && info->read_only_mode)
    g_string_append (out, "protected: yes (the file is read-only)\n");
  for (guint i = 0; strata_keys && info->warnings != NULL && info->warnings[i] != NULL; i++)
    g_string_append_printf (out, "warning: %s\n", info->warnings[i]);

  if (info->format_specific != NULL)
    {
      g_autoptr(JsonNode) node = strata_img_info_to_json (info, FALSE);
      JsonObject *spec = json_object_get_object_member (json_node_get_object (node),
                                                        "format-specific");

      g_string_append (out, "Format specific information:\n");
      strata_img_json_dump_human (out, json_object_get_member (spec, "data"), 1);
    }
}

typedef struct
{
  dev_t dev;
  ino_t ino;
} FileId;

/* Collects the info of FILE and, with @chain, of every image below it, opening each image
 * on its own (no backing), like qemu-img, so that a broken chain is reported by name. */
static GPtrArray *
collect_infos (const char *filename,
               const char *format,
               gboolean    chain,
               gboolean    force_share)
{
  g_autoptr(GPtrArray) infos = g_ptr_array_new_with_free_func (
    (GDestroyNotify) strata_image_info_free);
  g_autoptr(GArray) seen = g_array_new (FALSE, FALSE, sizeof (FileId));
  g_autofree char *path = g_strdup (filename);
  g_autofree char *fmt = g_strdup (format);
  g_autofree char *child = NULL;
  StrataOpenFlags flags = STRATA_OPEN_READ_ONLY | STRATA_OPEN_NO_BACKING;

  if (force_share)
    flags |= STRATA_OPEN_FORCE_SHARE;

  while (path != NULL)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(StrataImage) image = NULL;
      StrataImageInfo *info;
      const char *backing_name;
      struct stat st;

      image = strata_image_open (path, fmt, flags, &error);
      if (image == NULL)
        {
          /* qemu-img opens each layer on its own and names the one it cannot open. */
          strata_img_report_open_error (path, error);
          return NULL;
        }

      if (fstat (strata_file_get_fd (strata_image_get_file (image)), &st) == 0)
        {
          FileId id = { st.st_dev, st.st_ino };

          for (guint i = 0; i < seen->len; i++)
            if (g_array_index (seen, FileId, i).dev == id.dev &&
                g_array_index (seen, FileId, i).ino == id.ino)
              {
                strata_img_error ("Backing file '%s' creates an infinite loop.", path);
                return NULL;
              }
          g_array_append_val (seen, id);
        }

      if (!(info = strata_image_get_info (image, &error)))
        {
          strata_img_report_error (path, error);
          return NULL;
        }
      /* A json: or protocol backing name is not followed, but qemu-img still shows it as its
       * own full name; do the same. */
      if (info->backing_filename != NULL && info->full_backing_filename == NULL)
        info->full_backing_filename = g_strdup (info->backing_filename);
      g_ptr_array_add (infos, info);

      backing_name = strata_image_get_backing_name (image);
      g_clear_pointer (&child, g_free);
      g_clear_pointer (&fmt, g_free);
      if (!chain || backing_name == NULL)
        break;

      child = g_steal_pointer (&path);
      path = strata_resolve_backing_name (child, backing_name, &error);
      if (path == NULL)
        {
          strata_img_report_error (child, error);
          return NULL;
        }
      fmt = g_strdup (strata_image_get_backing_format (image));
    }

  return g_steal_pointer (&infos);
}

static void
usage (FILE *out)
{
  fprintf (out,
           "Usage: strata-img info [-f FMT] [-U] [--backing-chain] [--output=human|json] "
           "[--strata-keys] FILE\n"
           "  --strata-keys  also show Strata's own information: in use by another process,\n"
           "                 protected, guest bytes stored (strata-allocated-bytes), warnings\n");
}

int
strata_img_info (int argc, char **argv)
{
  static const struct option long_options[] = {
    { "help", no_argument, NULL, 'h' },
    { "format", required_argument, NULL, 'f' },
    { "output", required_argument, NULL, OPT_OUTPUT },
    { "backing-chain", no_argument, NULL, OPT_BACKING_CHAIN },
    { "force-share", no_argument, NULL, 'U' },
    { "image-opts", no_argument, NULL, STRATA_IMG_OPT_IMAGE_OPTS },
    { "strata-keys", no_argument, NULL, OPT_STRATA_KEYS },
    { NULL, 0, NULL, 0 },
  };
  g_autoptr(GPtrArray) infos = NULL;
  g_autoptr(GString) out = g_string_new (NULL);
  const char *format = NULL;
  const char *filename;
  gboolean json = FALSE;
  gboolean chain = FALSE;
  gboolean force_share = FALSE;
  gboolean strata_keys = FALSE;
  int c;

  while ((c = getopt_long (argc, argv, ":hf:U", long_options, NULL)) != -1)
    {
      switch (c)
        {
        case 'h':
          usage (stdout);
          return 0;
        case 'f':
          format = optarg;
          break;
        case 'U':
          force_share = TRUE;
          break;
        case OPT_OUTPUT:
          if (!strata_img_parse_output (optarg, &json))
            return 1;
          break;
        case OPT_BACKING_CHAIN:
          chain = TRUE;
          break;
        case OPT_STRATA_KEYS:
          strata_keys = TRUE;
          break;
        default:
          return strata_img_bad_option (c, argv, usage);
        }
    }

  if (!(filename = strata_img_one_file (argc, argv, usage)))
    return 1;

  if (!(infos = collect_infos (filename, format, chain, force_share)))
    return 1;

  if (json)
    {
      g_autoptr(JsonNode) root = NULL;
      g_autofree char *text = NULL;

      if (chain)
        {
          JsonArray *array = json_array_new ();

          for (guint i = 0; i < infos->len; i++)
            json_array_add_element (array,
                                    strata_img_info_to_json (infos->pdata[i], strata_keys));
          root = json_node_new (JSON_NODE_ARRAY);
          json_node_take_array (root, array);
        }
      else
        root = strata_img_info_to_json (infos->pdata[0], strata_keys);

      text = strata_img_json_to_string (root);
      g_string_append_printf (out, "%s\n", text);
    }
  else
    {
      for (guint i = 0; i < infos->len; i++)
        {
          if (i > 0)
            g_string_append_c (out, '\n');
          print_human (out, infos->pdata[i], strata_keys);
        }
    }

  fwrite (out->str, 1, out->len, stdout);
  return fflush (stdout) == 0 ? 0 : 1;
}
