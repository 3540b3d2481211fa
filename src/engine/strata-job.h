/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/*
 * StrataJob is the progress of one long operation. The worker thread calls
 * strata_job_set_progress() / strata_job_set_phase() as often as it likes; the job keeps the
 * values under a mutex and schedules at most one idle source in the main context it was
 * created in, throttled to a few per second, which notifies the properties. The UI binds to
 * the properties; the CLI reads them from its own thread with the getters.
 */
#define STRATA_TYPE_JOB (strata_job_get_type ())
G_DECLARE_FINAL_TYPE (StrataJob, strata_job, STRATA, JOB, GObject)

StrataJob  *strata_job_new            (const char *title);
const char *strata_job_get_title      (StrataJob  *self);
/* Thread-safe getters. */
double      strata_job_get_fraction   (StrataJob  *self);
guint64     strata_job_get_bytes_done (StrataJob  *self);
guint64     strata_job_get_bytes_total (StrataJob *self);
double      strata_job_get_rate       (StrataJob  *self); /* bytes per second */
double      strata_job_get_eta        (StrataJob  *self); /* seconds, < 0 if unknown */
char       *strata_job_dup_phase      (StrataJob  *self);
/* Thread-safe setters (called from the worker). */
void        strata_job_set_progress   (StrataJob  *self,
                                       guint64     done,
                                       guint64     total);
void        strata_job_set_phase      (StrataJob  *self,
                                       const char *phase);
/* Marks the job finished (fraction 1.0) and notifies at once. */
void        strata_job_finish         (StrataJob  *self);

G_END_DECLS
