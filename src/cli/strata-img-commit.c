/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "strata-img.h"
#include "strata-img-output.h"

#include <stdio.h>

#include "strata-commit.h"
#include "strata-img-wait.h"
#include "strata-error.h"

typedef struct
{
  const char          *filename;
  StrataCommitOptions *opts;
} CommitStart;

static void
start_commit (gpointer            data,
              StrataJob          *job,
              GAsyncReadyCallback callback,
              gpointer            callback_data)
{
  CommitStart *c = data;

  strata_commit_async (c->filename, c->opts, job, NULL, callback, callback_data);
}

static void
print_sizes_as (const char *label, const char *overlay, const char *base_label,
                const char *base, const StrataCommitSizes *s)
{
  g_autofree char *oa = g_format_size_full (s->overlay_apparent, G_FORMAT_SIZE_IEC_UNITS);
  g_autofree char *ol = g_format_size_full (s->overlay_allocated, G_FORMAT_SIZE_IEC_UNITS);
  g_autofree char *ba = g_format_size_full (s->base_apparent, G_FORMAT_SIZE_IEC_UNITS);
  g_autofree char *bl = g_format_size_full (s->base_allocated, G_FORMAT_SIZE_IEC_UNITS);

  printf ("%s:\n"
          "  overlay %s: apparent %" G_GUINT64_FORMAT " (%s), allocated %" G_GUINT64_FORMAT
          " (%s)\n"
          "  %s %s: apparent %" G_GUINT64_FORMAT " (%s), allocated %" G_GUINT64_FORMAT
          " (%s)\n",
          label, overlay, s->overlay_apparent, oa, s->overlay_allocated, ol,
          base_label, base, s->base_apparent, ba, s->base_allocated, bl);
}

static void
print_sizes (const char *label, const char *overlay, const char *base,
             const StrataCommitSizes *s)
{
  print_sizes_as (label, overlay, "base   ", base, s);
}

int
strata_img_commit (int argc, char **argv)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *format = NULL;
  g_autofree char *into_copy = NULL;
  g_autofree char *cache = NULL;
  g_autofree char *base_opt = NULL;
  g_auto(GStrv) libraries = NULL;
  gboolean keep = FALSE, force = FALSE, progress = FALSE, quiet = FALSE, sizes = FALSE;
  g_autoptr(StrataImgProgress) plan = NULL;
  StrataCommitOptions opts = { 0 };
  g_autoptr(StrataJob) job = NULL;
  StrataCommitResult state = { 0 };
  g_autoptr(GAsyncResult) result = NULL;
  gboolean ok;
  int rc = 0;
  GOptionEntry entries[] = {
    { "format", 'f', 0, G_OPTION_ARG_STRING, &format, "Format of the image", "FMT" },
    { "keep", 'd', 0, G_OPTION_ARG_NONE, &keep, "Do not empty the overlay", NULL },
    { "force", 0, 0, G_OPTION_ARG_NONE, &force, "Commit even if other images use the base",
      NULL },
    { "library", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &libraries,
      "Also look for images sharing the base in DIR", "DIR" },
    { "into-copy", 0, 0, G_OPTION_ARG_FILENAME, &into_copy,
      "Copy the base to NEWBASE, rebase onto it and commit there", "NEWBASE" },
    { "progress", 'p', 0, G_OPTION_ARG_NONE, &progress, "Show progress", NULL },
    { "quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet, "Quiet", NULL },
    { "sizes", 0, 0, G_OPTION_ARG_NONE, &sizes,
      "Print the disk usage of the overlay and the base before (predicted) and after", NULL },
    { "cache", 't', 0, G_OPTION_ARG_STRING, &cache, "Accepted for compatibility", "MODE" },
    { "base", 'b', 0, G_OPTION_ARG_FILENAME, &base_opt,
      "Commit into BASE, a deeper layer of the chain; FILE is not emptied", "BASE" },
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
  opts.format = format;
  opts.keep_overlay = keep;
  opts.force = force;
  opts.library_dirs = (const char * const *) libraries;
  opts.into_copy = into_copy;
  /* As qemu-img: with -b the top image keeps its data (-d is implied). */
  opts.base = base_opt;
  if (base_opt != NULL)
    opts.keep_overlay = TRUE;

  if (sizes && !quiet && into_copy == NULL)
    {
      StrataCommitResult plan = { 0 };
      g_autoptr(GError) plan_error = NULL;

      /* Best effort: the commit itself reports real problems. */
      if (strata_commit_predict (argv[1], &opts, &plan, NULL, &plan_error))
        {
          print_sizes ("Before", argv[1], plan.base, &plan.before);
          print_sizes ("Predicted after", argv[1], plan.base, &plan.predicted);
        }
      strata_commit_result_clear (&plan);
    }

  if (progress && !quiet)
    {
      /* qemu-img's commit progress follows its block job, so it depends on timing:
       * print the job's values as qemu-img would, not a plan. */
      plan = strata_img_progress_new (1.0f);
      strata_img_progress_step (plan, 0, 100);
    }
  job = strata_job_new ("Commit");
  result = strata_img_wait (job, plan, TRUE, start_commit, &(CommitStart) { argv[1], &opts });
  ok = strata_commit_finish (result, &state, &error);
  if (plan != NULL)
    strata_img_progress_end (plan, ok);

  if (!ok)
    {
      strata_img_report_for_write (argv[1], error);
      strata_commit_result_clear (&state);
      return 1;
    }

  if (!quiet)
    {
      /* Before the commit the copy did not exist: what was measured is the original base,
       * which the copy started as. */
      if (into_copy != NULL && sizes)
        {
          print_sizes_as ("Before", argv[1], "original base", state.original_base,
                          &state.before);
          printf ("  copied to %s\n", state.base);
        }
      printf ("Image committed.\n");
      if (!sizes)
        ;
      else if (into_copy != NULL)
        print_sizes_as ("After", argv[1], "copy (new base)", state.base,
                        &state.after);
      else
        print_sizes ("After", argv[1], state.base, &state.after);
    }
  strata_commit_result_clear (&state);
  return rc;
}
