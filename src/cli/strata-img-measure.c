/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * strata-img measure [--output=human|json] [-O qcow2|raw] [-o OPTIONS] [-U]
 *                    [--size SIZE | [-f FMT] FILE]
 *
 * qemu-img's numbers: the size a new image needs ("required size") and the size it has
 * with every cluster allocated, for an empty image of SIZE bytes or for a conversion of
 * FILE (its whole chain).
 */
#include "strata-img.h"
#include "strata-img-output.h"

#include "strata-error.h"
#include "strata-measure.h"
#include "strata-size.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

enum
{
  OPT_OUTPUT = 256,
  OPT_SIZE,
  OPT_IMAGE_OPTS,
  OPT_OBJECT,
};

static void
usage (FILE *out)
{
  fprintf (out, "Usage: strata-img measure [--output=human|json] [-O qcow2|raw] [-o OPTIONS] "
           "[-U]\n"
           "                          [--size SIZE | [-f FMT] FILE]\n");
}

/* Takes preallocation= out of @options (qemu-img's measure knows it for both formats). */
static gboolean
take_prealloc (GString        *options,
               StrataPrealloc *prealloc)
{
  static const char *const modes[] = { "off", "metadata", "falloc", "full", NULL };
  g_auto(GStrv) items = g_strsplit (options->str, ",", -1);
  g_autoptr(GString) rest = g_string_new (NULL);

  *prealloc = STRATA_PREALLOC_OFF;
  for (guint i = 0; items[i] != NULL; i++)
    {
      if (g_str_has_prefix (items[i], "preallocation="))
        {
          const char *value = items[i] + strlen ("preallocation=");
          guint mode;

          for (mode = 0; modes[mode] != NULL && strcmp (modes[mode], value) != 0; mode++)
            ;
          if (modes[mode] == NULL)
            {
              strata_img_error ("invalid parameter value: %s", value);
              return FALSE;
            }
          *prealloc = (StrataPrealloc) mode;
          continue;
        }
      if (items[i][0] == '\0')
        continue;
      if (rest->len > 0)
        g_string_append_c (rest, ',');
      g_string_append (rest, items[i]);
    }
  g_string_assign (options, rest->str);
  return TRUE;
}

/* Every key must be one the target format knows, as qemu-img insists. */
static gboolean
check_keys (const char *options,
            const char *target)
{
  static const char *const raw_keys[] = { "size", "preallocation", NULL };
  const char *const *known = strcmp (target, "qcow2") == 0 ? strata_img_qcow2_keys : raw_keys;
  g_auto(GStrv) items = g_strsplit (options, ",", -1);

  for (guint i = 0; items[i] != NULL; i++)
    {
      g_autofree char *key = g_strndup (items[i], strcspn (items[i], "="));

      if (key[0] == '\0' || g_strv_contains (known, key))
        continue;
      strata_img_error ("Invalid parameter '%s'", key);
      strata_img_error ("Invalid options for file format '%s'", target);
      return FALSE;
    }
  return TRUE;
}

/* The qcow2 options measure reads, checked as qemu-img's measure checks them (it takes
 * names it does not use, such as compression_type, as they come). */
static gboolean
qcow2_options (const char          *options,
               StrataCreateOptions *opts)
{
  static const char *const typed[] = { "cluster_size", "refcount_bits", "extended_l2",
                                       "lazy_refcounts", NULL };
  g_auto(GStrv) items = g_strsplit (options, ",", -1);
  g_autoptr(GString) subset = g_string_new (NULL);
  g_autoptr(GError) error = NULL;
  const char *why = NULL;

  for (guint i = 0; items[i] != NULL; i++)
    {
      g_autofree char *key = g_strndup (items[i], strcspn (items[i], "="));
      const char *value = items[i][strlen (key)] == '=' ? items[i] + strlen (key) + 1 : "";

      if (strcmp (key, "compat") == 0)
        {
          if (strcmp (value, "0.10") == 0 || strcmp (value, "v2") == 0)
            opts->compat = 2;
          else if (strcmp (value, "1.1") == 0 || strcmp (value, "v3") == 0)
            opts->compat = 3;
          else
            {
              strata_img_error ("Invalid compatibility level: '%s'", value);
              return FALSE;
            }
        }
      else if (g_strv_contains (typed, key))
        {
          if (subset->len > 0)
            g_string_append_c (subset, ',');
          g_string_append (subset, items[i]);
        }
    }
  if (!strata_create_options_parse (opts, subset->str, &error))
    {
      strata_img_error ("%s", error->message);
      strata_img_error ("Invalid options for file format 'qcow2'");
      return FALSE;
    }

  if (opts->cluster_size < 512 || opts->cluster_size > 2 * 1024 * 1024 ||
      (opts->cluster_size & (opts->cluster_size - 1)) != 0)
    why = "Cluster size must be a power of two between 512 and 2048k";
  else if (opts->refcount_bits == 0 || opts->refcount_bits > 64 ||
           (opts->refcount_bits & (opts->refcount_bits - 1)) != 0)
    why = "Refcount width must be a power of two and may not exceed 64 bits";
  else if (opts->compat < 3 && opts->refcount_bits != 16)
    why = "Different refcount widths than 16 bits require compatibility level 1.1 or above "
          "(use compat=1.1 or greater)";
  else if (opts->extended_l2 && opts->cluster_size < 16384)
    why = "Extended L2 entries are only supported with cluster sizes of at least 16384 bytes";
  if (why != NULL)
    {
      strata_img_error ("%s", why);
      return FALSE;
    }
  return TRUE;
}

static void
print_result (const StrataMeasure *m,
              gboolean             json)
{
  if (json)
    {
      g_autoptr(JsonBuilder) builder = json_builder_new ();
      g_autoptr(JsonNode) root = NULL;
      g_autofree char *text = NULL;

      json_builder_begin_object (builder);
      if (m->has_bitmaps)
        {
          json_builder_set_member_name (builder, "bitmaps");
          json_builder_add_int_value (builder, (gint64) m->bitmaps);
        }
      json_builder_set_member_name (builder, "required");
      json_builder_add_int_value (builder, (gint64) m->required);
      json_builder_set_member_name (builder, "fully-allocated");
      json_builder_add_int_value (builder, (gint64) m->fully_allocated);
      json_builder_end_object (builder);
      root = json_builder_get_root (builder);
      text = strata_img_json_to_string (root);
      printf ("%s\n", text);
      return;
    }

  printf ("required size: %" G_GUINT64_FORMAT "\n", m->required);
  printf ("fully allocated size: %" G_GUINT64_FORMAT "\n", m->fully_allocated);
  if (m->has_bitmaps)
    printf ("bitmaps size: %" G_GUINT64_FORMAT "\n", m->bitmaps);
}

int
strata_img_measure (int argc, char **argv)
{
  static const struct option long_options[] = {
    { "help", no_argument, NULL, 'h' },
    { "output", required_argument, NULL, OPT_OUTPUT },
    { "size", required_argument, NULL, OPT_SIZE },
    { "force-share", no_argument, NULL, 'U' },
    { "image-opts", no_argument, NULL, OPT_IMAGE_OPTS },
    { "object", required_argument, NULL, OPT_OBJECT },
    { NULL, 0, NULL, 0 },
  };
  g_autoptr(GString) options = g_string_new (NULL);
  g_autoptr(StrataImage) source = NULL;
  g_autoptr(GError) error = NULL;
  const char *format = NULL;
  const char *target = "raw";
  const char *size_text = NULL;
  const char *filename = NULL;
  gboolean json = FALSE, force_share = FALSE;
  StrataCreateOptions opts;
  StrataPrealloc prealloc;
  StrataMeasure result;
  guint64 size = 0;
  int c;

  optind = 1;
  while ((c = getopt_long (argc, argv, ":hf:O:o:l:U", long_options, NULL)) != -1)
    {
      switch (c)
        {
        case 'h':
          usage (stdout);
          return 0;
        case 'f':
          format = optarg;
          break;
        case 'O':
          target = optarg;
          break;
        case 'o':
          if (options->len > 0)
            g_string_append_c (options, ',');
          g_string_append (options, optarg);
          break;
        case 'U':
          force_share = TRUE;
          break;
        case OPT_OUTPUT:
          if (!strata_img_parse_output (optarg, &json))
            return 1;
          break;
        case OPT_SIZE:
          size_text = optarg;
          break;
        case 'l':
          strata_img_error ("-l: internal snapshots are not supported");
          return 1;
        case OPT_IMAGE_OPTS:
          strata_img_error ("--image-opts is not supported; give a file name");
          return 1;
        case OPT_OBJECT:
          strata_img_error ("--object is not supported");
          return 1;
        case ':':
          strata_img_error ("option '%s' needs an argument", argv[optind - 1]);
          return 1;
        default:
          strata_img_error ("unrecognized option '%s'", argv[optind - 1]);
          usage (stderr);
          return 1;
        }
    }

  if (optind < argc)
    filename = argv[optind++];
  if (optind < argc)
    {
      strata_img_error ("Unexpected argument: %s", argv[optind]);
      return 1;
    }
  if (filename != NULL && size_text != NULL)
    {
      strata_img_error ("--size N cannot be used together with a filename.");
      return 1;
    }
  if (filename == NULL && size_text == NULL)
    {
      strata_img_error ("Either --size N or one filename must be specified.");
      return 1;
    }
  if (size_text != NULL)
    {
      StrataSizeStatus st = strata_parse_size (size_text, &size, NULL);

      if (st == STRATA_SIZE_INVALID)
        {
          strata_img_error ("Invalid image size specified. You may use k, M, G, T, P or E "
                            "suffixes for");
          strata_img_error ("kilobytes, megabytes, gigabytes, terabytes, petabytes and "
                            "exabytes.");
          return 1;
        }
      if (st != STRATA_SIZE_OK || size > G_MAXINT64)
        {
          strata_img_error ("Invalid image size specified. Must be between 0 and "
                            "9223372036854775807.");
          return 1;
        }
    }

  if (strcmp (target, "qcow2") != 0 && strcmp (target, "raw") != 0)
    {
      strata_img_error ("Block driver '%s' does not support size measurement", target);
      return 1;
    }
  if (!check_keys (options->str, target))
    return 1;
  if (!take_prealloc (options, &prealloc))
    return 1;
  strata_create_options_init (&opts);
  if (strcmp (target, "qcow2") == 0 && !qcow2_options (options->str, &opts))
    return 1;

  if (filename != NULL)
    {
      source = strata_image_open (filename, format,
                                  force_share ? STRATA_OPEN_FORCE_SHARE : 0, &error);
      if (source == NULL)
        {
          strata_img_report_open_error (filename, error);
          return 1;
        }
    }

  if (!strata_measure (source, size, target, &opts, prealloc, &result, &error))
    {
      strata_img_report (filename, error);
      return 1;
    }
  print_result (&result, json);
  return 0;
}
