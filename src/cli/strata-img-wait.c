/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "strata-img-wait.h"

typedef struct
{
  GMainLoop         *loop;
  GAsyncResult      *result;
  StrataJob         *job;
  StrataImgProgress *progress;
  gboolean           live;
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
  WaitState *state = user_data;
  double fraction = strata_job_get_fraction (state->job);

  if (state->live)
    strata_img_progress_live (state->progress, fraction);
  else
    strata_img_progress_play (state->progress, fraction);
  return G_SOURCE_CONTINUE;
}

GAsyncResult *
strata_img_wait (StrataJob          *job,
                 StrataImgProgress  *progress,
                 gboolean            live,
                 StrataImgStartFunc  start,
                 gpointer            data)
{
  WaitState state = { g_main_loop_new (NULL, FALSE), NULL, job, progress, live };
  guint timer = 0;

  if (progress != NULL)
    {
      strata_img_progress_play (progress, 0.0);
      timer = g_timeout_add (100, progress_cb, &state);
    }
  start (data, job, done_cb, &state);
  g_main_loop_run (state.loop);
  if (timer != 0)
    g_source_remove (timer);
  g_main_loop_unref (state.loop);

  return state.result;
}
