/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include "strata-wizard.h"

G_BEGIN_DECLS

/*
 * Run virtual machines on overlays: the selected image and the other overlays of its base
 * (checked to run several at once), the memory and whether each gets a window. Images a VM
 * cannot safely write are refused before starting, with the reason: held by a job or
 * another process, protected, the base of other images, a missing backing file, or not a
 * disk image at all. Each machine is a job of the job manager (StrataVm), so the wizard may
 * close while they run.
 *
 * Actions: wizard.start, wizard.back, wizard.toggle (s: a candidate's path; checks or
 * unchecks it). Properties: "path" (construct-only), "memory" (MiB), "show-display";
 * read-only "n-candidates", "n-checked", "n-running", "n-failed" (of the machines this
 * wizard started).
 */
#define STRATA_TYPE_RUN_WIZARD (strata_run_wizard_get_type ())
G_DECLARE_FINAL_TYPE (StrataRunWizard, strata_run_wizard, STRATA, RUN_WIZARD, StrataWizard)

GtkWindow *strata_run_wizard_new (GtkWindow        *parent,
                                  StrataLibrary    *library,
                                  StrataJobManager *jobs,
                                  const char       *path);

G_END_DECLS
