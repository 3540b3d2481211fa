/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <adwaita.h>

#include "strata-library.h"
#include "strata-job-manager.h"

G_BEGIN_DECLS

/*
 * What every wizard window shares: three pages in a GtkStack ("setup", "progress",
 * "result"), a header bar whose two buttons follow the page (Cancel / the wizard's verb on
 * the setup page, Cancel-the-job while it runs, Done on the result page), the problem line
 * of the setup page, and the job: started through the job manager, its row shown on the
 * progress page, and the window hidden rather than closed while it runs (the jobs
 * popover's toast brings it back).
 *
 * Each wizard subclass has its own template with those widgets and hands them over with
 * strata_wizard_set_chrome() from its init.
 *
 * Actions (every wizard): wizard.start (the subclass's start vfunc, enabled when "ready"),
 * wizard.back (close on the setup page, cancel the job on the progress page),
 * wizard.cancel-job. Properties: "library", "jobs" (construct-only), and read-only "page",
 * "ready", "problem", "summary", "succeeded".
 */
#define STRATA_TYPE_WIZARD (strata_wizard_get_type ())
G_DECLARE_DERIVABLE_TYPE (StrataWizard, strata_wizard, STRATA, WIZARD, AdwWindow)

struct _StrataWizardClass
{
  AdwWindowClass parent_class;

  /* Starts the wizard's operation (wizard.start). */
  void (*start) (StrataWizard *self);
};

void              strata_wizard_set_chrome    (StrataWizard  *self,
                                               GtkStack      *stack,
                                               GtkButton     *back_button,
                                               GtkButton     *start_button,
                                               GtkLabel      *problem_label,
                                               GtkListBox    *job_list,
                                               AdwStatusPage *result_page);

StrataLibrary    *strata_wizard_get_library   (StrataWizard  *self);
StrataJobManager *strata_wizard_get_jobs      (StrataWizard  *self);
const char       *strata_wizard_get_page      (StrataWizard  *self);

/* Shows why the setup cannot start (@message, an error: wizard.start disabled), a warning
 * (starting allowed), or nothing (@message NULL). */
void              strata_wizard_set_problem   (StrataWizard  *self,
                                               const char    *message,
                                               gboolean       is_warning);

/* Registers @job with the job manager (refused, with the reason as the problem line, when
 * another job uses the same files), puts its row on the progress page and shows that page.
 * Returns the cancellable for the operation, or NULL when refused. */
GCancellable     *strata_wizard_begin_job     (StrataWizard       *self,
                                               StrataJob          *job,
                                               const char * const *reads,
                                               const char * const *writes);
/* Ends the current job (see strata_job_manager_complete()) and shows the result page with
 * @title and @description (success), the error (failure) or @description (cancelled). */
void              strata_wizard_end_job       (StrataWizard  *self,
                                               const char    *summary,
                                               const char    *title,
                                               const char    *description,
                                               const GError  *error);
/* The image the job made or changed, which the success toast's "Show" selects in the main
 * window; call before strata_wizard_end_job(). */
void              strata_wizard_set_result_path (StrataWizard *self,
                                                 const char   *path);
/* The result page for a step that needed no job (protect, unprotect). */
void              strata_wizard_show_result   (StrataWizard  *self,
                                               gboolean       success,
                                               const char    *title,
                                               const char    *description);

/* Opens another wizard (a next step) for @path on the same parent, library and jobs, then
 * closes this one. */
void              strata_wizard_open_next     (StrataWizard  *self,
                                               const char    *name,
                                               const char    *path);

G_END_DECLS
