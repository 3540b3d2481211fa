/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "strata-img.h"
#include "strata-img-output.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* The layer of @overlay's backing chain that @path names, or NULL. */
static StrataImage *
find_in_chain (StrataImage *overlay,
               const char  *path)
{
  g_autofree char *real = realpath (path, NULL);

  if (real == NULL)
    return NULL;
  for (StrataImage *l = strata_image_get_backing (overlay); l != NULL;
       l = strata_image_get_backing (l))
    {
      g_autofree char *lreal = realpath (strata_image_get_filename (l), NULL);

      if (lreal != NULL && strcmp (lreal, real) == 0)
        return l;
    }
  return NULL;
}

/* qemu-img's -p lines for a safe rebase; on any problem only 0% and 100% (the rebase itself
 * reports the problem). */
static StrataImgProgress *
plan_progress (const char                *filename,
               const StrataRebaseOptions *opts)
{
  StrataImgProgress *plan = strata_img_progress_new (2.0f);
  g_autoptr(StrataImage) overlay = NULL;
  g_autoptr(StrataImage) new_backing = NULL;
  g_autofree char *new_path = NULL;
  StrataImage *old_backing, *prefix = NULL;
  StrataOpenFlags flags = opts->force_share ? STRATA_OPEN_FORCE_SHARE : 0;
  guint64 new_size = 0;

  strata_img_progress_step (plan, 0, 100);
  if (opts->unsafe)
    return plan;
  overlay = strata_image_open (filename, opts->format, flags | STRATA_OPEN_FORCE_SHARE, NULL);
  if (overlay == NULL)
    return plan;
  old_backing = strata_image_get_backing (overlay);
  if (opts->backing != NULL && opts->backing[0] != '\0')
    {
      new_path = strata_resolve_backing_name (filename, opts->backing, NULL);
      if (new_path == NULL)
        return plan;
      prefix = find_in_chain (overlay, new_path);
      if (prefix != NULL)
        new_size = strata_image_get_size (prefix);
      else
        {
          new_backing = strata_image_open (new_path, opts->backing_format,
                                           flags | STRATA_OPEN_FORCE_SHARE, NULL);
          if (new_backing == NULL)
            return plan;
          new_size = strata_image_get_size (new_backing);
        }
    }
  if (!strata_img_progress_plan_rebase (plan, overlay,
                                        old_backing ? strata_image_get_size (old_backing) : 0,
                                        new_size, prefix, NULL))
    {
      strata_img_progress_free (plan);
      plan = strata_img_progress_new (2.0f);
      strata_img_progress_step (plan, 0, 100);
    }
  return plan;
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
  g_autoptr(StrataImgProgress) plan = NULL;
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

  /* qemu-img opens the new backing file before it looks at anything else: a missing one is
   * the first error, whatever the options. */
  if (!unsafe && backing != NULL && backing[0] != '\0')
    {
      g_autofree char *resolved = strata_resolve_backing_name (argv[1], backing, NULL);
      g_autoptr(StrataImage) overlay = NULL;

      /* (After the image itself and its chain.) */
      overlay = strata_image_open (argv[1], format, STRATA_OPEN_FORCE_SHARE, NULL);
      if (overlay != NULL && resolved != NULL && !g_file_test (resolved, G_FILE_TEST_EXISTS))
        {
          strata_img_error ("Could not open new backing file '%s': Could not open '%s': "
                            "No such file or directory", backing, resolved);
          return 1;
        }
    }

  opts.format = format;
  opts.backing = backing;
  opts.backing_format = backing_format;
  opts.unsafe = unsafe;
  opts.force_share = force_share;

  if (progress && !quiet)
    plan = plan_progress (argv[1], &opts);
  job = strata_job_new ("Rebase");
  result = strata_img_wait (job, plan, FALSE, start_rebase, &(RebaseStart) { argv[1], &opts });
  ok = strata_rebase_finish (result, &error);
  if (plan != NULL)
    strata_img_progress_end (plan, ok);

  if (!ok)
    {
      strata_img_report_for_write (argv[1], error);
      return 1;
    }
  return 0;
}
