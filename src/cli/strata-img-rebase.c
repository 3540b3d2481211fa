/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "strata-img.h"

#include <stdio.h>

#include "strata-img-wait.h"
#include "strata-rebase.h"

typedef struct
{
  const char          *filename;
  StrataRebaseOptions *opts;
} RebaseStart;

static void
start_rebase (gpointer            data,
              StrataJob          *job,
              GAsyncReadyCallback callback,
              gpointer            callback_data)
{
  RebaseStart *r = data;

  strata_rebase_async (r->filename, r->opts, job, NULL, callback, callback_data);
}

int
strata_img_rebase (int argc, char **argv)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *format = NULL;
  g_autofree char *backing = NULL;
  g_autofree char *backing_format = NULL;
  g_autofree char *cache = NULL;
  g_autofree char *src_cache = NULL;
  gboolean unsafe = FALSE, force_share = FALSE, progress = FALSE, quiet = FALSE;
  StrataRebaseOptions opts = { 0 };
  g_autoptr(StrataJob) job = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  gboolean ok;
  GOptionEntry entries[] = {
    { "format", 'f', 0, G_OPTION_ARG_STRING, &format, "Format of the image", "FMT" },
    { "backing", 'b', 0, G_OPTION_ARG_STRING, &backing, "New backing file (\"\" for none)",
      "NEW" },
    { "backing-format", 'F', 0, G_OPTION_ARG_STRING, &backing_format,
      "Format of the new backing file", "FMT" },
    { "unsafe", 'u', 0, G_OPTION_ARG_NONE, &unsafe, "Only rewrite the backing pointer", NULL },
    { "force-share", 'U', 0, G_OPTION_ARG_NONE, &force_share, "Open backing files even if in "
      "use", NULL },
    { "progress", 'p', 0, G_OPTION_ARG_NONE, &progress, "Show progress", NULL },
    { "quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet, "Quiet", NULL },
    { "cache", 't', 0, G_OPTION_ARG_STRING, &cache, "Accepted for compatibility", "MODE" },
    { "src-cache", 'T', 0, G_OPTION_ARG_STRING, &src_cache, "Accepted for compatibility",
      "MODE" },
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
  if (!unsafe && backing == NULL)
    {
      strata_img_error ("Must specify backing file (-b) or use unsafe mode (-u)");
      return 1;
    }

  opts.format = format;
  opts.backing = backing;
  opts.backing_format = backing_format;
  opts.unsafe = unsafe;
  opts.force_share = force_share;

  job = strata_job_new ("Rebase");
  result = strata_img_wait (job, progress && !quiet, start_rebase,
                            &(RebaseStart) { argv[1], &opts });
  ok = strata_rebase_finish (result, &error);
  strata_img_wait_end (progress && !quiet, ok);

  if (!ok)
    {
      strata_img_error ("%s", error->message);
      return 1;
    }
  return 0;
}
