/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <adwaita.h>

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

/* What became of a job. */
typedef enum
{
  STRATA_JOB_STATE_RUNNING,
  STRATA_JOB_STATE_SUCCEEDED,
  STRATA_JOB_STATE_FAILED,
  STRATA_JOB_STATE_CANCELLED,
} StrataJobState;

/*
 * Starting and ending jobs (the wizards do this around an engine operation's _async/_finish):
 *
 * strata_job_manager_start() adds @job to the list as running. @writes are the paths the
 * operation modifies or creates, @reads the ones it only reads (both NULL-terminated, may be
 * NULL). It refuses with STRATA_ERROR_LOCKED, naming the file and the other job, when a path
 * it writes is used by a running job or a path it reads is written by one: there is never a
 * second writer on an image. @owner (may be NULL) is the window that shows the result; the
 * success toast's "Show" button presents it. Returns the cancellable to give the operation
 * (owned by the manager; Cancel in the popover and strata_job_manager_cancel() trigger it).
 *
 * strata_job_manager_complete() ends it: @error NULL means it succeeded (@summary, e.g.
 * "vm.qcow2 written, 486 MB", is the toast's text), G_IO_ERROR_CANCELLED that it was
 * cancelled (@summary, if given, then says what cancelling left), anything else that it
 * failed: the error is shown in an AdwMessageDialog. When the window is not focused, a
 * desktop notification (GNotification) is sent as well.
 * While a job that writes runs, suspend is inhibited.
 */
GCancellable     *strata_job_manager_start         (StrataJobManager   *self,
                                                    StrataJob          *job,
                                                    GtkWindow          *owner,
                                                    const char * const *reads,
                                                    const char * const *writes,
                                                    GError            **error);
void              strata_job_manager_complete      (StrataJobManager   *self,
                                                    StrataJob          *job,
                                                    const char         *summary,
                                                    const GError       *error);
void              strata_job_manager_cancel        (StrataJobManager   *self,
                                                    StrataJob          *job);
StrataJobState    strata_job_manager_get_state     (StrataJobManager   *self,
                                                    StrataJob          *job);
/* The summary (succeeded), the error message (failed) or what cancelling did (cancelled);
 * NULL while running. */
const char       *strata_job_manager_get_message   (StrataJobManager   *self,
                                                    StrataJob          *job);
/* The image a job made or changed (the converted file, the first new overlay, the base that
 * was committed into), set before strata_job_manager_complete(): the success toast's "Show"
 * button then activates "win.show-image" with it in the toast overlay's window, which selects
 * that image in the graph. */
void              strata_job_manager_set_result    (StrataJobManager   *self,
                                                    StrataJob          *job,
                                                    const char         *path);
const char       *strata_job_manager_get_result    (StrataJobManager   *self,
                                                    StrataJob          *job);
/* TRUE when a running job writes @path. */
gboolean          strata_job_manager_is_writing    (StrataJobManager   *self,
                                                    const char         *path);

/* Where success toasts go (the main window's overlay; weak reference). The jobs button sets
 * the toast overlay it sits in when it is realized, unless one was set before. Whenever the
 * window is not focused, a GNotification is sent through the default GApplication as well.
 * Error dialogs are transient for the owner while it is shown, else the overlay's window. */
void              strata_job_manager_set_toast_overlay (StrataJobManager *self,
                                                        AdwToastOverlay  *overlay);
gboolean          strata_job_manager_has_toast_overlay (StrataJobManager *self);

/*
 * What the manager asks of the desktop, through the default GtkApplication: inhibit suspend
 * while a job that writes runs, and send a notification when a job ends while its window is
 * not focused. Tests replace these to see what would be asked; NULL restores the real ones
 * (gtk_application_inhibit/uninhibit, a GNotification sent with
 * g_application_send_notification).
 */
typedef struct
{
  guint (*inhibit)           (GtkApplication             *app,
                              GtkWindow                  *window,
                              GtkApplicationInhibitFlags  flags,
                              const char                 *reason);
  void  (*uninhibit)         (GtkApplication             *app,
                              guint                       cookie);
  void  (*notify)            (GApplication               *app,
                              const char                 *title,
                              const char                 *body);
} StrataJobDesktop;

void              strata_job_manager_set_desktop   (StrataJobManager       *self,
                                                    const StrataJobDesktop *desktop);
/* TRUE while the manager holds a suspend inhibition. */
gboolean          strata_job_manager_get_inhibiting (StrataJobManager *self);

/* Signal "job-finished" (StrataJob *job, StrataJobState state, const char *message) is
 * emitted by strata_job_manager_complete() after the list has been updated. */

/* The header-bar button (a GtkMenuButton with the jobs popover: title, progress bar, rate,
 * time left, Cancel for each job). Hidden while there has been no job. */
GtkWidget        *strata_jobs_button_new           (StrataJobManager *manager);

G_END_DECLS
