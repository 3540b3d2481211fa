/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "strata-img.h"
#include "strata-img-output.h"

#include <stdio.h>
#include <string.h>

#include "strata-check.h"
#include "strata-error.h"

static void
print_human (const StrataCheckResult *r)
{
  if (r->corruptions == 0 && r->leaks == 0 && r->check_errors == 0)
    printf ("No errors were found on the image.\n");
  else
    {
      if (r->corruptions > 0)
        printf ("\n%" G_GUINT64_FORMAT " errors were found on the image.\n"
                "Data may be corrupted, or further writes to the image may corrupt it.\n",
                r->corruptions);
      if (r->leaks > 0)
        printf ("\n%" G_GUINT64_FORMAT " leaked clusters were found on the image.\n"
                "This means waste of disk space, but no harm to data.\n", r->leaks);
      if (r->check_errors > 0)
        printf ("\n%" G_GUINT64_FORMAT " internal errors have occurred during the check.\n",
                r->check_errors);
    }

  if (r->total_clusters != 0 && r->allocated_clusters != 0)
    printf ("%" G_GUINT64_FORMAT "/%" G_GUINT64_FORMAT " = %0.2f%% allocated, %0.2f%% "
            "fragmented, %0.2f%% compressed clusters\n",
            r->allocated_clusters, r->total_clusters,
            r->allocated_clusters * 100.0 / r->total_clusters,
            r->fragmented_clusters * 100.0 / r->allocated_clusters,
            r->compressed_clusters * 100.0 / r->allocated_clusters);

  if (r->image_end_offset != 0)
    printf ("Image end offset: %" G_GUINT64_FORMAT "\n", r->image_end_offset);
}

static void
print_json (const StrataCheckResult *r)
{
  g_autoptr(GString) s = g_string_new ("{\n");

  /* Keys in the order qemu-img 7.2 prints them (its QDict's hash buckets); optional ones
   * only when non-zero. */
#define OPT(key, field) \
  if (r->field != 0) \
    g_string_append_printf (s, "    \"" key "\": %" G_GUINT64_FORMAT ",\n", r->field)
  OPT ("image-end-offset", image_end_offset);
  OPT ("compressed-clusters", compressed_clusters);
  OPT ("total-clusters", total_clusters);
  OPT ("corruptions", corruptions);
  OPT ("corruptions-fixed", corruptions_fixed);
  g_string_append_printf (s, "    \"check-errors\": %" G_GUINT64_FORMAT ",\n", r->check_errors);
  OPT ("leaks", leaks);
  OPT ("leaks-fixed", leaks_fixed);
  OPT ("allocated-clusters", allocated_clusters);
#undef OPT
  {
    g_autofree char *fn = g_strescape (r->filename, NULL);
    g_autofree char *fmt = g_strescape (r->format, NULL);

    g_string_append_printf (s, "    \"filename\": \"%s\",\n    \"format\": \"%s\"", fn, fmt);
  }
  if (r->fragmented_clusters != 0)
    g_string_append_printf (s, ",\n    \"fragmented-clusters\": %" G_GUINT64_FORMAT,
                            r->fragmented_clusters);
  g_string_append (s, "\n}\n");
  fputs (s->str, stdout);
}

int
strata_img_check (int argc, char **argv)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *format = NULL;
  g_autofree char *repair = NULL;
  g_autofree char *output = NULL;
  gboolean force_share = FALSE, quiet = FALSE;
  StrataCheckOptions opts = { 0 };
  StrataCheckResult result = { 0 };
  gboolean json;
  int rc;
  GOptionEntry entries[] = {
    { "format", 'f', 0, G_OPTION_ARG_STRING, &format, "Image format", "FMT" },
    { "repair", 'r', 0, G_OPTION_ARG_STRING, &repair, "Repair: leaks or all", "leaks|all" },
    { "force-share", 'U', 0, G_OPTION_ARG_NONE, &force_share, "Open even if in use", NULL },
    { "output", 0, 0, G_OPTION_ARG_STRING, &output, "Output format", "human|json" },
    { "quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet, "Quiet", NULL },
    { NULL }
  };

  context = g_option_context_new ("FILE");
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      strata_img_error ("%s", error->message);
      return 1;
    }
  if (argc != 2)
    {
      strata_img_error ("Expecting one image file name");
      return 1;
    }
  json = g_strcmp0 (output, "json") == 0;
  if (output != NULL && !json && strcmp (output, "human") != 0)
    {
      strata_img_error ("--output must be used with human or json as argument.");
      return 1;
    }
  if (repair != NULL)
    {
      if (strcmp (repair, "leaks") == 0)
        opts.fix = STRATA_CHECK_FIX_LEAKS;
      else if (strcmp (repair, "all") == 0)
        opts.fix = STRATA_CHECK_FIX_LEAKS | STRATA_CHECK_FIX_ERRORS;
      else
        {
          strata_img_error ("Unknown option value for -r (expecting 'leaks' or 'all'): %s",
                            repair);
          return 1;
        }
    }
  opts.format = format;
  opts.force_share = force_share;

  /* Like qemu-img, refuse images with incompatible features we do not know before
   * checking anything (the check itself reads the file on its own). */
  {
    g_autoptr(StrataImage) image = NULL;
    g_autoptr(GError) open_error = NULL;

    image = strata_image_open (argv[1], format, STRATA_OPEN_FORCE_SHARE, &open_error);
    if (image == NULL && open_error != NULL &&
        strstr (open_error->message, "unsupported qcow2 feature(s)") != NULL)
      {
        strata_img_report (argv[1], open_error);
        return 1;
      }
  }

  if (!strata_check_sync (argv[1], &opts, NULL, &result, NULL, &error))
    {
      if (result.messages != NULL)
        for (guint i = 0; i < result.messages->len; i++)
          fprintf (stderr, "%s\n", (char *) g_ptr_array_index (result.messages, i));
      rc = g_error_matches (error, STRATA_ERROR, STRATA_ERROR_UNSUPPORTED) &&
           strstr (error->message, "does not support checks") != NULL ? 63 : 1;
      /* qemu-img's line for formats without checks names no file. */
      if (rc == 63)
        strata_img_error ("This image format does not support checks");
      else if (repair != NULL)
        strata_img_report_for_write (argv[1], error);
      else
        strata_img_report (argv[1], error);
      strata_check_result_clear (&result);
      return rc;
    }

  for (guint i = 0; i < result.messages->len; i++)
    fprintf (stderr, "%s\n", (char *) g_ptr_array_index (result.messages, i));

  if (!quiet || json)
    {
      if (!json && (result.leaks_fixed > 0 || result.corruptions_fixed > 0))
        printf ("The following inconsistencies were found and repaired:\n\n"
                "    %" G_GUINT64_FORMAT " leaked clusters\n"
                "    %" G_GUINT64_FORMAT " corruptions\n\n"
                "Double checking the fixed image now...\n",
                result.leaks_fixed, result.corruptions_fixed);
      if (json)
        print_json (&result);
      else
        print_human (&result);
    }

  rc = strata_check_result_exit_code (&result);
  strata_check_result_clear (&result);
  return rc;
}
