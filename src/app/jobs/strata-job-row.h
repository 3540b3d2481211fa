/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gtk/gtk.h>

#include "strata-job-manager.h"

G_BEGIN_DECLS

/* One job in the jobs popover: title, progress bar, rate and time left (or how it ended),
 * and a Cancel button while it runs. */
#define STRATA_TYPE_JOB_ROW (strata_job_row_get_type ())
G_DECLARE_FINAL_TYPE (StrataJobRow, strata_job_row, STRATA, JOB_ROW, GtkListBoxRow)

GtkWidget *strata_job_row_new (StrataJobManager *manager,
                               StrataJob        *job);

/* "2.1 GB/s · about 3 minutes left" (rate and ETA in words); the popover and the wizards'
 * progress pages show the same text. */
char      *strata_job_format_status (StrataJob *job);

G_END_DECLS
