/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "strata-img.h"
#include "strata-img-output.h"

#include <stdio.h>

#include "strata-compare.h"

int
strata_img_compare (int argc, char **argv)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *fmt_a = NULL;
  g_autofree char *fmt_b = NULL;
  gboolean strict = FALSE, force_share = FALSE, quiet = FALSE, progress = FALSE;
  StrataCompareOptions opts = { 0 };
  StrataCompareResult result = { 0 };
  GOptionEntry entries[] = {
    { "a-format", 'f', 0, G_OPTION_ARG_STRING, &fmt_a, "Format of the first image", "FMT" },
    { "b-format", 'F', 0, G_OPTION_ARG_STRING, &fmt_b, "Format of the second image", "FMT" },
    { "strict", 's', 0, G_OPTION_ARG_NONE, &strict, "Strict mode", NULL },
    { "force-share", 'U', 0, G_OPTION_ARG_NONE, &force_share, "Open even if in use", NULL },
    { "quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet, "Quiet", NULL },
    { "progress", 'p', 0, G_OPTION_ARG_NONE, &progress, "Accepted for compatibility", NULL },
    { NULL }
  };

  context = g_option_context_new ("A B");
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      strata_img_error ("%s", error->message);
      return 2;
    }
  if (argc != 3)
    {
      strata_img_error ("Expecting two image file names");
      return 2;
    }

  opts.format_a = fmt_a;
  opts.format_b = fmt_b;
  opts.strict = strict;
  opts.force_share = force_share;

  if (!strata_compare_sync (argv[1], argv[2], &opts, NULL, &result, NULL, &error))
    {
      g_autofree char *words = strata_img_qemu_words (argv[1], FALSE, error);

      if (words == NULL)
        words = strata_img_qemu_words (argv[2], FALSE, error);
      if (words != NULL)
        strata_img_error ("%s", words);
      else
        strata_img_report (NULL, error);
      /* qemu-img: 2 when an image could not be opened, 4 for an I/O error during the run. */
      return result.opened ? 4 : 2;
    }

  switch (result.verdict)
    {
    case STRATA_COMPARE_SIZE_MISMATCH:
      if (!quiet)
        printf ("Strict mode: Image size mismatch!\n");
      return 1;

    case STRATA_COMPARE_STATUS_MISMATCH:
      if (!quiet)
        printf ("Strict mode: Offset %" G_GUINT64_FORMAT " block status mismatch!\n",
                result.offset);
      return 1;

    case STRATA_COMPARE_CONTENT_MISMATCH:
      if (!quiet)
        {
          if (result.size_differs && result.offset >= result.common_size)
            printf ("Warning: Image size mismatch!\n");
          printf ("Content mismatch at offset %" G_GUINT64_FORMAT "!\n", result.offset);
        }
      return 1;

    case STRATA_COMPARE_IDENTICAL:
    default:
      if (!quiet)
        {
          if (result.size_differs)
            printf ("Warning: Image size mismatch!\n");
          printf ("Images are identical.\n");
        }
      return 0;
    }
}
