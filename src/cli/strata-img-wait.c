/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "strata-img-wait.h"

#include <stdio.h>

typedef struct
{
  GMainLoop    *loop;
  GAsyncResult *result;
} WaitState;

static void
done_cb (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  WaitState *state = user_data;

  state->result = g_object_ref (result);
  g_main_loop_quit (state->loop);
}

static gboolean
progress_cb (gpointer user_data)
{
  printf ("    (%.2f/100%%)\r", strata_job_get_fraction (user_data) * 100.0);
  fflush (stdout);
  return G_SOURCE_CONTINUE;
}

GAsyncResult *
strata_img_wait (StrataJob          *job,
                 gboolean            show_progress,
                 StrataImgStartFunc  start,
                 gpointer            data)
{
  WaitState state = { g_main_loop_new (NULL, FALSE), NULL };
  guint timer = 0;

  start (data, job, done_cb, &state);
  if (show_progress)
    timer = g_timeout_add (250, progress_cb, job);
  g_main_loop_run (state.loop);
  if (timer != 0)
    g_source_remove (timer);
  g_main_loop_unref (state.loop);

  return state.result;
}

void
strata_img_wait_end (gboolean show_progress,
                     gboolean ok)
{
  if (show_progress)
    printf (ok ? "    (100.00/100%%)\n" : "\n");
}
