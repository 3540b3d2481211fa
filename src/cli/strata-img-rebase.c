/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "strata-img.h"

#include <stdio.h>

#include "strata-rebase.h"

typedef struct
{
  GMainLoop *loop;
  GError    *error;
} RunState;

static void
done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  RunState *state = user_data;

  strata_rebase_finish (result, &state->error);
  g_main_loop_quit (state->loop);
}

static gboolean
progress_cb (gpointer user_data)
{
  printf ("    (%.2f/100%%)\r", strata_job_get_fraction (user_data) * 100.0);
  fflush (stdout);
  return G_SOURCE_CONTINUE;
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
  RunState state = { 0 };
  guint timer = 0;
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
  state.loop = g_main_loop_new (NULL, FALSE);
  strata_rebase_async (argv[1], &opts, job, NULL, done_cb, &state);
  if (progress && !quiet)
    timer = g_timeout_add (250, progress_cb, job);
  g_main_loop_run (state.loop);
  if (timer != 0)
    {
      g_source_remove (timer);
      if (state.error == NULL)
        printf ("    (100.00/100%%)\n");
      else
        printf ("\n");
    }
  g_main_loop_unref (state.loop);

  if (state.error != NULL)
    {
      strata_img_error ("%s", state.error->message);
      g_error_free (state.error);
      return 1;
    }
  return 0;
}
