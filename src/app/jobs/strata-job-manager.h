/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gtk/gtk.h>

#include "strata-job.h"

G_BEGIN_DECLS

/*
 * The running and recently finished operations of the app. A GListModel of StrataJob (the
 * engine's progress object); the header-bar jobs button and the graph observe it. Each job
 * carries the paths of the images it uses, so the graph can mark them and a second writer
 * on the same image is refused.
 */
#define STRATA_TYPE_JOB_MANAGER (strata_job_manager_get_type ())
G_DECLARE_FINAL_TYPE (StrataJobManager, strata_job_manager, STRATA, JOB_MANAGER, GObject)

StrataJobManager *strata_job_manager_new           (void);
/* Number of jobs still running ("n-running" property, notified). */
guint             strata_job_manager_get_n_running (StrataJobManager *self);
/* TRUE when a running job uses @path (reads or writes it). */
gboolean          strata_job_manager_is_busy       (StrataJobManager *self,
                                                    const char       *path);
/* Cancels every running job (the window's close confirmation). */
void              strata_job_manager_cancel_all    (StrataJobManager *self);

/* The header-bar button (a GtkMenuButton with the jobs popover: title, progress bar, rate,
 * time left, Cancel for each job). Hidden while there has been no job. */
GtkWidget        *strata_jobs_button_new           (StrataJobManager *manager);

G_END_DECLS
