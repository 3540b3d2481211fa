/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include "strata-wizard.h"

G_BEGIN_DECLS

/*
 * Commit an overlay into its base: the sibling check first (the images that share the base,
 * by name, and what a commit would do to them), the predicted disk usage of overlay and base
 * before and after, and the choices: into a copy of the base (the safe flow: copy, move the
 * overlay onto the copy, commit there; recommended when the base is shared or protected),
 * into the base itself (with "Commit Anyway" when it is shared), keeping the overlay's data.
 * The result page shows before, predicted and measured side by side.
 *
 * Actions: wizard.start, wizard.back, wizard.cancel-job, and property actions wizard.mode
 * (s: "copy" or "base"), wizard.copy-name (s), wizard.keep-overlay (toggle),
 * wizard.accept-risk (toggle). Read-only: "n-siblings".
 */
#define STRATA_TYPE_COMMIT_WIZARD (strata_commit_wizard_get_type ())
G_DECLARE_FINAL_TYPE (StrataCommitWizard, strata_commit_wizard, STRATA, COMMIT_WIZARD,
                      StrataWizard)

GtkWindow *strata_commit_wizard_new (GtkWindow        *parent,
                                     StrataLibrary    *library,
                                     StrataJobManager *jobs,
                                     const char       *overlay);

G_END_DECLS
