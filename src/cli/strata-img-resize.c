/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * strata-img resize [-q] [-f FMT] [--shrink] [--preallocation=MODE] FILE [+|-]SIZE
 *
 * Raw and qcow2, as qemu-img: "Image resized." on success, --shrink required to make an
 * image smaller.
 */
#include "strata-img.h"
#include "strata-img-output.h"

#include "strata-resize.h"
#include "strata-size.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

enum
{
  OPT_SHRINK = STRATA_IMG_OPT_FIRST_OWN,
  OPT_PREALLOCATION,
};

#define SHRINK_WARNING \
  "warning: Shrinking an image will delete all data beyond the shrunken image's end. " \
  "Before performing such an operation, make sure there is no important data there."

static void
usage (FILE *out)
{
  fprintf (out, "Usage: strata-img resize [-q] [-f FMT] [--shrink] "
           "[--preallocation=off|metadata|falloc|full] FILE [+|-]SIZE\n");
}

int
strata_img_resize (int argc, char **argv)
{
  static const struct option long_options[] = {
    { "help", no_argument, NULL, 'h' },
    { "format", required_argument, NULL, 'f' },
    { "shrink", no_argument, NULL, OPT_SHRINK },
    { "preallocation", required_argument, NULL, OPT_PREALLOCATION },
    { "object", required_argument, NULL, STRATA_IMG_OPT_OBJECT },
    { "image-opts", no_argument, NULL, STRATA_IMG_OPT_IMAGE_OPTS },
    { NULL, 0, NULL, 0 },
  };
  static const char *const modes[] = { "off", "metadata", "falloc", "full", NULL };
  g_autoptr(GError) error = NULL;
  StrataResizeOptions opts = { 0 };
  const char *size_text, *filename;
  gboolean quiet = FALSE;
  int relative = 0, c;
  guint64 size;

  if (argc < 3)
    {
      strata_img_error ("Not enough arguments");
      usage (stderr);
      return 1;
    }
  /* The size goes last and may start with '-': take it before the options are parsed, as
   * qemu-img does. */
  size_text = argv[--argc];

  optind = 1;
  while ((c = getopt_long (argc, argv, ":hf:q", long_options, NULL)) != -1)
    {
      switch (c)
        {
        case 'h':
          usage (stdout);
          return 0;
        case 'f':
          opts.format = optarg;
          break;
        case 'q':
          quiet = TRUE;
          break;
        case OPT_SHRINK:
          opts.shrink = TRUE;
          break;
        case OPT_PREALLOCATION:
          {
            guint mode;

            for (mode = 0; modes[mode] != NULL && strcmp (modes[mode], optarg) != 0; mode++)
              ;
            if (modes[mode] == NULL)
              {
                strata_img_error ("Invalid preallocation mode '%s'", optarg);
                return 1;
              }
            opts.prealloc = (StrataPrealloc) mode;
          }
          break;
        default:
          return strata_img_bad_option (c, argv, usage);
        }
    }
  if (optind != argc - 1)
    {
      strata_img_error (optind >= argc ? "Not enough arguments" : "Expecting image file name "
                        "and size");
      usage (stderr);
      return 1;
    }
  filename = argv[optind];

  if (size_text[0] == '+' || size_text[0] == '-')
    relative = size_text[0] == '+' ? 1 : -1;
  if (strata_parse_size (size_text + (relative != 0), &size, NULL) != STRATA_SIZE_OK)
    {
      strata_img_error ("Parameter 'size' expects a non-negative number below 2^64\n"
                        "Optional suffix k, M, G, T, P or E means kilo-, mega-, giga-, "
                        "tera-, peta-\nand exabytes, respectively.");
      return 1;
    }

  if (!strata_resize_sync (filename, &opts, relative, size, &error))
    {
      strata_img_report_for_write (filename, error);
      if (strcmp (error->message, "Use the --shrink option to perform a shrink operation.") ==
          0)
        strata_img_error (SHRINK_WARNING);
      return 1;
    }
  if (!quiet)
    printf ("Image resized.\n");
  return 0;
}
