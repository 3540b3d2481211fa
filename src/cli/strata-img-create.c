/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "strata-img.h"

#include "strata-size.h"
#include <errno.h>
#include "strata-target.h"
#include "strata-img-output.h"

#include "strata-create.h"
#include "strata-error.h"
#include "strata-vmdk-write.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

enum
{
  OPT_OBJECT = 256,
};

/* The qcow2 creation options qemu-img knows, so that a misspelt key fails before anything
 * is written (qemu-img rejects them before printing "Formatting ..."). */
const char *const strata_img_qcow2_keys[] = {
  "size", "compat", "backing_file", "backing_fmt", "data_file", "data_file_raw",
  "encryption", "encrypt.format", "cluster_size", "extended_l2", "preallocation",
  "lazy_refcounts", "refcount_bits", "compression_type", NULL,
};

static const char *const raw_keys[] = { "size", "preallocation", NULL };

/* The vmdk creation options qemu-img knows. */
static const char *const vmdk_keys[] = {
  "size", "adapter_type", "backing_file", "backing_fmt", "compat6", "hwversion",
  "toolsversion", "subformat", "zeroed_grain", "preallocation", NULL,
};

#define SIZE_EXPECTED \
  "expects a non-negative number below 2^64\n" \
  "Optional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-\n" \
  "and exabytes, respectively."

static const char *const qcow2_help[] = {
  "backing_file=<str>     - File name of a base image",
  "backing_fmt=<str>      - Image format of the base image",
  "cluster_size=<size>    - qcow2 cluster size",
  "compat=<str>           - Compatibility level (v2 [0.10] or v3 [1.1])",
  "compression_type=<str> - Compression method used for image cluster compression",
  "extended_l2=<bool (on/off)> - Extended L2 tables",
  "lazy_refcounts=<bool (on/off)> - Postpone refcount updates",
  "preallocation=<str>    - Preallocation mode (allowed values: off, metadata, falloc, full)",
  "refcount_bits=<num>    - Width of a reference count entry in bits",
  "size=<size>            - Virtual disk size",
  NULL,
};

/* What strata-img writes of qemu-img's vmdk options (toolsversion=, zeroed_grain=on and
 * the other subformats are refused). */
static const char *const vmdk_help[] = {
  "adapter_type=<str>     - Virtual adapter type, can be one of ide (default), lsilogic, "
  "buslogic or legacyESX",
  "backing_file=<str>     - File name of a base image",
  "backing_fmt=<str>      - Must be 'vmdk' if present",
  "compat6=<bool (on/off)> - VMDK version 6 image",
  "hwversion=<str>        - VMDK hardware version",
  "size=<size>            - Virtual disk size",
  "subformat=<str>        - VMDK flat extent format, can be one of {monolithicSparse "
  "(default) | streamOptimized} ",
  NULL,
};

typedef struct
{
  char *key;
  char *value;
} Option;

static void
option_clear (gpointer data)
{
  Option *o = data;

  g_free (o->key);
  g_free (o->value);
}

/* Splits "a=b,c=d" like QEMU's option parser: ",," stands for a literal comma. */
static void
split_options (const char *text,
               GArray     *options)
{
  const char *p = text;

  while (*p != '\0')
    {
      g_autoptr(GString) item = g_string_new (NULL);
      Option o;
      char *eq;

      while (*p != '\0')
        {
          if (p[0] == ',' && p[1] == ',')
            {
              g_string_append_c (item, ',');
              p += 2;
            }
          else if (p[0] == ',')
            {
              p++;
              break;
            }
          else
            g_string_append_c (item, *p++);
        }

      if (item->len == 0)
        continue;
      eq = strchr (item->str, '=');
      if (eq == NULL)
        {
          o.key = g_strdup (item->str);
          o.value = NULL;
        }
      else
        {
          o.key = g_strndup (item->str, eq - item->str);
          o.value = g_strdup (eq + 1);
        }
      g_array_append_val (options, o);
    }
}

static const char *
option_get (GArray *options, const char *key)
{
  const char *value = NULL;

  /* The last occurrence wins, as in QEMU. */
  for (guint i = 0; i < options->len; i++)
    {
      Option *o = &g_array_index (options, Option, i);

      if (strcmp (o->key, key) == 0)
        value = o->value ? o->value : "on";
    }
  return value;
}

/* QEMU's options print with commas doubled. */
static void
append_escaped (GString *out, const char *value)
{
  for (const char *p = value; *p != '\0'; p++)
    {
      g_string_append_c (out, *p);
      if (*p == ',')
        g_string_append_c (out, ',');
    }
}

static void
append_option (GString *out, const char *key, const char *value)
{
  if (value == NULL)
    return;
  g_string_append_printf (out, " %s=", key);
  append_escaped (out, value);
}

/* The -o options left for the engine's parser, as one string, without those in @skip. */
static GString *
engine_options_text (GArray            *options,
                     const char *const *skip)
{
  GString *text = g_string_new (NULL);

  for (guint i = 0; i < options->len; i++)
    {
      Option *o = &g_array_index (options, Option, i);

      if (g_strv_contains (skip, o->key))
        continue;
      if (text->len > 0)
        g_string_append_c (text, ',');
      g_string_append (text, o->key);
      if (o->value != NULL)
        {
          g_string_append_c (text, '=');
          append_escaped (text, o->value);
        }
    }
  return text;
}

/* The options qemu-img parses as numbers or switches when it reads the command line. */
static gboolean
check_typed_options (const char *filename,
                     GArray     *options)
{
  static const char *const typed[] = { "size", "cluster_size", "refcount_bits",
                                       "lazy_refcounts", "extended_l2", NULL };
  g_autoptr(GString) subset = g_string_new (NULL);
  g_autoptr(GError) error = NULL;
  StrataCreateOptions opts;

  for (guint i = 0; i < options->len; i++)
    {
      Option *o = &g_array_index (options, Option, i);

      if (!g_strv_contains (typed, o->key))
        continue;
      if (subset->len > 0)
        g_string_append_c (subset, ',');
      g_string_append (subset, o->key);
      if (o->value != NULL)
        {
          g_string_append_c (subset, '=');
          append_escaped (subset, o->value);
        }
    }
  strata_create_options_init (&opts);
  if (!strata_create_options_parse (&opts, subset->str, &error))
    {
      strata_img_error ("%s: %s", filename, error->message);
      return FALSE;
    }
  return TRUE;
}

static void
print_invalid_size (void)
{
  strata_img_error ("Invalid image size specified. You may use k, M, G, T, P or E suffixes "
                    "for");
  strata_img_error ("kilobytes, megabytes, gigabytes, terabytes, petabytes and exabytes.");
}

/* The size a backing file gives an overlay created without one; also proves the backing
 * can be opened, as qemu-img insists unless -u is given. */
static gboolean
backing_size (const char *filename,
              const char *backing,
              const char *backing_format,
              guint64    *size)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(StrataImage) image = NULL;
  g_autofree char *path = strata_resolve_backing_name (filename, backing, &error);

  if (path != NULL)
    image = strata_image_open (path, backing_format,
                               STRATA_OPEN_READ_ONLY | STRATA_OPEN_FORCE_SHARE, &error);
  if (image == NULL)
    {
      if (g_error_matches (error, STRATA_ERROR, STRATA_ERROR_NOT_FOUND))
        strata_img_error ("%s: Could not open '%s': No such file or directory\n"
                          "Could not open backing image.", filename, path);
      else
        strata_img_error ("%s: Could not open backing image: %s", filename, error->message);
      return FALSE;
    }

  *size = strata_image_get_size (image);
  return TRUE;
}

/* preallocation=falloc|full of a raw file: the blocks reserved (falloc) or written with
 * zeros (full), as qemu-img does. */
static gboolean
preallocate_raw (StrataFile  *file,
                 const char  *mode,
                 guint64      size,
                 GError     **error)
{
  StrataPrealloc m = STRATA_PREALLOC_OFF;

  if (mode != NULL)
    strata_prealloc_from_string (mode, &m);
  if (!strata_raw_preallocate (file, m, 0, size, error))
    {
      g_prefix_error (error, "Could not preallocate data for the new file: ");
      return FALSE;
    }
  return TRUE;
}

static int
create_raw (const char *filename,
            guint64     size,
            const char *prealloc,
            gboolean    quiet)
{
  static const guint8 zeros[4096];
  g_autoptr(StrataFile) file = NULL;
  g_autoptr(GError) error = NULL;
  gsize first;
  guint mode = 0;

  if (!quiet)
    {
      printf ("Formatting '%s', fmt=raw size=%" G_GUINT64_FORMAT, filename, size);
      if (prealloc != NULL)
        printf (" preallocation=%s", prealloc);
      printf ("\n");
    }
  fflush (stdout);

  /* qemu-img's checks, after its "Formatting" line. */
  if (prealloc != NULL && strcmp (prealloc, "metadata") == 0)
    {
      strata_img_error ("%s: Unsupported preallocation mode: metadata", filename);
      return 1;
    }
  if (prealloc != NULL && strcmp (prealloc, "off") != 0 && strcmp (prealloc, "falloc") != 0 &&
      strcmp (prealloc, "full") != 0)
    {
      strata_img_error ("%s: invalid parameter value: %s", filename, prealloc);
      return 1;
    }

  /* Like qcow2 creation: checked, written to a temporary file, renamed. */
  if (!strata_target_check_replace (filename, NULL, &mode, &error) ||
      !(file = strata_file_create_temp (filename, &error)))
    {
      strata_img_error ("%s", error->message);
      return 1;
    }
  strata_target_apply_mode (file, mode);

  /* qemu-img allocates the first block so that later probes of the file's alignment work;
   * doing the same keeps `info` and `map` of our raw files identical to its own. */
  first = MIN (size, sizeof zeros);
  if (!strata_file_truncate (file, size, &error) ||
      !preallocate_raw (file, prealloc, size, &error) ||
      (first > 0 && !strata_file_pwrite (file, zeros, first, 0, &error)) ||
      !strata_file_commit_rename (file, filename, &error))
    {
      strata_file_unlink (file);
      /* qemu-img's words when the file system refuses the size. */
      if (g_str_has_suffix (error->message, g_strerror (EFBIG)))
        strata_img_error ("%s: The image size is too large for file format 'raw'", filename);
      else if (g_str_has_suffix (error->message, g_strerror (EINVAL)))
        strata_img_error ("%s: Could not resize file: %s", filename, g_strerror (EINVAL));
      else
        strata_img_error ("%s: Could not create the image: %s", filename, error->message);
      return 1;
    }
  return 0;
}

/* The line qemu-img prints for vmdk, its options in its order. */
static void
print_vmdk_line (const char *filename,
                 guint64     size,
                 GArray     *options,
                 const char *backing,
                 const char *backing_format)
{
  g_autoptr(GString) line = g_string_new ("Formatting '");

  g_string_append_printf (line, "%s', fmt=vmdk size=%" G_GUINT64_FORMAT, filename, size);
  append_option (line, "adapter_type", option_get (options, "adapter_type"));
  append_option (line, "backing_file", backing);
  append_option (line, "backing_fmt", backing_format);
  append_option (line, "compat6", option_get (options, "compat6") ?: "off");
  append_option (line, "hwversion", option_get (options, "hwversion") ?: "undefined");
  append_option (line, "toolsversion", option_get (options, "toolsversion"));
  append_option (line, "subformat", option_get (options, "subformat"));
  append_option (line, "zeroed_grain", option_get (options, "zeroed_grain"));
  append_option (line, "preallocation", option_get (options, "preallocation"));
  printf ("%s\n", line->str);
}

/* The CID of the VMDK parent @backing of the new @filename, which a child records: QEMU
 * reads through a parent only while the CIDs match. qemu-img opens the parent even with -u. */
static gboolean
vmdk_parent_cid (const char *filename,
                 const char *backing,
                 guint32    *cid)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(StrataImage) image = NULL;
  g_autoptr(StrataImageInfo) info = NULL;
  g_autofree char *path = strata_resolve_backing_name (filename, backing, &error);
  gint64 value;

  if (path != NULL)
    image = strata_image_open (path, "vmdk", STRATA_OPEN_READ_ONLY | STRATA_OPEN_FORCE_SHARE,
                               &error);
  if (image != NULL)
    info = strata_image_get_info (image, &error);
  if (info == NULL)
    {
      if (g_error_matches (error, STRATA_ERROR, STRATA_ERROR_NOT_FOUND))
        strata_img_error ("%s: Could not open '%s': No such file or directory", filename,
                          path);
      else
        strata_img_error ("%s: Could not open backing image: %s", filename, error->message);
      return FALSE;
    }
  if (info->format_specific == NULL ||
      !g_variant_lookup (info->format_specific, "cid", "x", &value))
    {
      strata_img_error ("%s: %s: the parent has no CID", filename, path);
      return FALSE;
    }
  *cid = (guint32) value;
  return TRUE;
}

/* An empty monolithicSparse or streamOptimized VMDK through the engine's VMDK writer,
 * written to a temporary file and renamed like every other new image. */
static int
create_vmdk (const char *filename,
             guint64     size,
             GArray     *options,
             const char *backing,
             const char *backing_format,
             gboolean    quiet)
{
  static const char *const subformats[] = {
    "monolithicSparse", "monolithicFlat", "twoGbMaxExtentSparse", "twoGbMaxExtentFlat",
    "streamOptimized", NULL,
  };
  static const char *const adapters[] = { "ide", "lsilogic", "buslogic", "legacyESX", NULL };
  static const char *const vmdk_settled[] = { "size", "backing_file", "backing_fmt",
                                              "toolsversion", "zeroed_grain", NULL };
  g_autoptr(GString) engine_options = NULL;
  g_autoptr(StrataFile) file = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *name = g_path_get_basename (filename);
  StrataVmdkOptions opts;
  const char *value;
  guint mode = 0;

  if (!quiet)
    print_vmdk_line (filename, size, options, backing, backing_format);
  fflush (stdout);

  /* qemu-img's checks after its "Formatting" line, in its words where it has them. */
  if (((value = option_get (options, "subformat")) != NULL &&
       !g_strv_contains (subformats, value)) ||
      ((value = option_get (options, "adapter_type")) != NULL &&
       !g_strv_contains (adapters, value)))
    {
      strata_img_error ("%s: invalid parameter value: %s", filename, value);
      return 1;
    }
  if (g_strcmp0 (option_get (options, "preallocation"), "metadata") == 0)
    {
      strata_img_error ("%s: Unsupported preallocation mode: metadata", filename);
      return 1;
    }
  if (backing != NULL && g_strcmp0 (backing_format, "vmdk") != 0)
    {
      strata_img_error ("%s: backing_file must be a vmdk image", filename);
      return 1;
    }
  if ((value = option_get (options, "toolsversion")) != NULL)
    {
      strata_img_error ("%s: toolsversion=%s is not supported", filename, value);
      return 1;
    }
  if ((value = option_get (options, "zeroed_grain")) != NULL && strcmp (value, "off") != 0 &&
      strcmp (value, "false") != 0)
    {
      strata_img_error ("%s: zeroed_grain=%s is not supported (only zeroed_grain=off)",
                        filename, value);
      return 1;
    }

  engine_options = engine_options_text (options, vmdk_settled);
  strata_vmdk_options_init (&opts);
  if (!strata_vmdk_options_parse (&opts, engine_options->str, &error))
    {
      strata_img_report_error (filename, error);
      return 1;
    }
  if (backing != NULL && !vmdk_parent_cid (filename, backing, &opts.parent_cid))
    return 1;
  opts.parent_hint = backing;
  if (size > STRATA_VMDK_MAX_SIZE)
    {
      strata_img_error ("%s: the image size is too large for a sparse VMDK extent (at most "
                        "%" G_GUINT64_FORMAT " bytes)", filename, (guint64) STRATA_VMDK_MAX_SIZE);
      return 1;
    }

  if (!strata_target_check_replace (filename, NULL, &mode, &error) ||
      !(file = strata_file_create_temp (filename, &error)))
    {
      strata_img_error ("%s", error->message);
      return 1;
    }
  strata_target_apply_mode (file, mode);
  if (!strata_vmdk_create_empty (file, name, size, &opts, &error) ||
      !strata_file_commit_rename (file, filename, &error))
    {
      strata_file_unlink (file);
      strata_img_error ("%s: Could not create the image: %s", filename, error->message);
      return 1;
    }
  return 0;
}

static void
usage (FILE *out)
{
  fprintf (out,
           "Usage: strata-img create [-q] [-f FMT] [-b BACKING -F FMT] [-u] [-o OPTIONS] "
           "FILE [SIZE]\n");
}

int
strata_img_create (int argc, char **argv)
{
  static const struct option long_options[] = {
    { "help", no_argument, NULL, 'h' },
    { "object", required_argument, NULL, OPT_OBJECT },
    { NULL, 0, NULL, 0 },
  };
  g_autoptr(GError) error = NULL;
  g_autoptr(GArray) options = NULL;
  g_autoptr(GString) options_text = g_string_new (NULL);
  g_autoptr(GString) line = NULL;
  g_autoptr(GString) engine_options = NULL;
  StrataCreateOptions opts;
  const char *format = "raw";
  const char *backing = NULL;
  const char *backing_format = NULL;
  const char *filename;
  const char *value;
  gboolean unsafe = FALSE;
  gboolean quiet = FALSE;
  gboolean has_size = FALSE;
  guint64 size = 0;
  guint64 cluster_size = 65536;
  int c;

  options = g_array_new (FALSE, FALSE, sizeof (Option));
  g_array_set_clear_func (options, option_clear);

  while ((c = getopt_long (argc, argv, ":hf:b:F:o:uq", long_options, NULL)) != -1)
    {
      switch (c)
        {
        case 'h':
          usage (stdout);
          return 0;
        case 'f':
          format = optarg;
          break;
        case 'b':
          backing = optarg;
          break;
        case 'F':
          backing_format = optarg;
          break;
        case 'o':
          /* Several -o accumulate, as in qemu-img. */
          if (options_text->len > 0)
            g_string_append_c (options_text, ',');
          g_string_append (options_text, optarg);
          break;
        case 'u':
          unsafe = TRUE;
          break;
        case 'q':
          quiet = TRUE;
          break;
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

  if (strcmp (format, "qcow2") != 0 && strcmp (format, "raw") != 0 &&
      strcmp (format, "vmdk") != 0)
    {
      strata_img_error ("Unknown file format '%s' (strata-img creates qcow2, raw and vmdk)",
                        format);
      return 1;
    }

  split_options (options_text->str, options);
  if (option_get (options, "help") != NULL || option_get (options, "?") != NULL)
    {
      printf ("Supported %s options:\n", format);
      if (strcmp (format, "qcow2") == 0 || strcmp (format, "vmdk") == 0)
        for (const char *const *h = strcmp (format, "qcow2") == 0 ? qcow2_help : vmdk_help;
             *h != NULL; h++)
          printf ("  %s\n", *h);
      else
        printf ("  preallocation=<str>    - Preallocation mode (allowed values: off, falloc, "
                "full)\n"
                "  size=<size>            - Virtual disk size\n");
      return 0;
    }

  if (optind >= argc)
    {
      strata_img_error ("Expecting image file name");
      usage (stderr);
      return 1;
    }
  filename = argv[optind++];

  if (optind < argc)
    {
      switch (strata_parse_size (argv[optind], &size, NULL))
        {
        case STRATA_SIZE_OK:
          if (size <= G_MAXINT64)
            {
              /* For qemu-img's warning about hexadecimal numbers with a suffix. */
              strata_img_parse_size (argv[optind], &size);
              break;
            }
          G_GNUC_FALLTHROUGH;
        case STRATA_SIZE_TOO_LARGE:
          strata_img_error ("Invalid image size specified. Must be between 0 and "
                            "9223372036854775807.");
          return 1;
        default:
          print_invalid_size ();
          return 1;
        }
      has_size = TRUE;
      optind++;
    }
  if (optind < argc)
    {
      strata_img_error ("Unexpected argument: %s", argv[optind]);
      return 1;
    }

  for (guint i = 0; i < options->len; i++)
    {
      Option *o = &g_array_index (options, Option, i);
      const char *const *keys = strcmp (format, "qcow2") == 0 ? strata_img_qcow2_keys
                                : strcmp (format, "vmdk") == 0 ? vmdk_keys : raw_keys;
      gboolean known = g_strv_contains (keys, o->key);

      if (!known)
        {
          strata_img_error ("%s: Invalid parameter '%s'", filename, o->key);
          return 1;
        }
    }

  /* Numbers and switches are parsed before anything is printed, as in qemu-img; names
   * (compat=, preallocation=, ...) after the "Formatting" line. */
  if (strcmp (format, "qcow2") == 0 && !check_typed_options (filename, options))
    return 1;

  if ((value = option_get (options, "size")) != NULL)
    {
      if (has_size)
        {
          strata_img_error ("%s: The image size must be specified only once", filename);
          return 1;
        }
      if (!strata_img_parse_size (value, &size))
        {
          strata_img_error ("%s: Parameter 'size' " SIZE_EXPECTED, filename);
          return 1;
        }
      has_size = TRUE;
    }

  if (strcmp (format, "raw") == 0)
    {
      if (backing != NULL)
        {
          strata_img_error ("%s: Backing file not supported for file format 'raw'", filename);
          return 1;
        }
      if (!has_size)
        {
          strata_img_error ("%s: Image creation needs a size parameter", filename);
          return 1;
        }
      return create_raw (filename, size, option_get (options, "preallocation"), quiet);
    }

  /* qcow2 and vmdk */
  if (backing == NULL)
    backing = option_get (options, "backing_file");
  if (backing_format == NULL)
    backing_format = option_get (options, "backing_fmt");

  if (backing != NULL)
    {
      g_autofree char *resolved = NULL;

      if (strcmp (filename, backing) == 0)
        {
          strata_img_error ("%s: Error: Trying to create an image with the same filename as "
                            "the backing file", filename);
          return 1;
        }
      if (backing_format == NULL)
        {
          const char *detected = NULL;

          /* qemu-img 7.2 no longer guesses the backing format; it only says what it found. */
          if (!unsafe &&
              (resolved = strata_resolve_backing_name (filename, backing, NULL)) != NULL)
            detected = strata_probe_format (resolved, NULL);
          /* qemu-img opens the backing file first: a missing one is the first error. */
          if (!unsafe && resolved != NULL && detected == NULL &&
              !g_file_test (resolved, G_FILE_TEST_EXISTS))
            {
              strata_img_error ("%s: Could not open '%s': No such file or directory\n"
                                "Could not open backing image.", filename, resolved);
              return 1;
            }
          /* qemu-img ends this message without a newline. */
          if (detected != NULL)
            fprintf (stderr, "strata-img: %s: Backing file specified without backing "
                     "format\nDetected format of %s.", filename, detected);
          else
            strata_img_error ("%s: Backing file specified without backing format", filename);
          return 1;
        }
      if (!unsafe)
        {
          guint64 bsize;

          if (!backing_size (filename, backing, backing_format, &bsize))
            return 1;
          if (!has_size)
            {
              size = bsize;
              has_size = TRUE;
            }
        }
    }

  if (!has_size)
    {
      strata_img_error ("%s: Image creation needs a size parameter", filename);
      return 1;
    }
  if (strcmp (format, "vmdk") == 0)
    return create_vmdk (filename, size, options, backing, backing_format, quiet);

  if ((value = option_get (options, "cluster_size")) != NULL &&
      !strata_img_parse_size (value, &cluster_size))
    {
      strata_img_error ("%s: Parameter 'cluster_size' " SIZE_EXPECTED, filename);
      return 1;
    }

  /* The same line as qemu-img, options in its order, defaults included. */
  line = g_string_new (NULL);
  g_string_append (line, "Formatting '");
  g_string_append (line, filename);
  g_string_append (line, "', fmt=qcow2");
  append_option (line, "encryption", option_get (options, "encryption"));
  g_string_append_printf (line, " cluster_size=%" G_GUINT64_FORMAT, cluster_size);
  append_option (line, "extended_l2", option_get (options, "extended_l2") ?: "off");
  append_option (line, "preallocation", option_get (options, "preallocation"));
  append_option (line, "compression_type",
                 option_get (options, "compression_type") ?: "zlib");
  g_string_append_printf (line, " size=%" G_GUINT64_FORMAT, size);
  append_option (line, "compat", option_get (options, "compat"));
  append_option (line, "backing_file", backing);
  append_option (line, "backing_fmt", backing_format);
  append_option (line, "lazy_refcounts", option_get (options, "lazy_refcounts") ?: "off");
  append_option (line, "refcount_bits", option_get (options, "refcount_bits") ?: "16");
  if (!quiet)
    printf ("%s\n", line->str);
  fflush (stdout);

  /* Size and backing are settled above; the engine parses the format's own options. */
  {
    static const char *const settled[] = { "size", "backing_file", "backing_fmt", NULL };

    engine_options = engine_options_text (options, settled);
  }

  strata_create_options_init (&opts);
  if (!strata_create_options_parse (&opts, engine_options->str, &error))
    {
      strata_img_report_error (filename, error);
      return 1;
    }
  opts.size = size;
  opts.has_size = TRUE;
  opts.backing_file = backing;
  opts.backing_format = backing_format;

  if (!strata_create_qcow2 (filename, &opts, &error))
    {
      strata_img_report_error (filename, error);
      return 1;
    }

  return 0;
}
