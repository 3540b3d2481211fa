/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include "strata-wizard.h"

G_BEGIN_DECLS

/*
 * Create overlays on a base: how many, a naming pattern ("img##.qcow2" gives img01.qcow2,
 * img02.qcow2, ...) with a preview, the folder, a relative or absolute backing name (shown
 * exactly as it will be stored), and protecting the base first.
 *
 * Actions: wizard.start, wizard.back, wizard.cancel-job, wizard.choose-folder, and property
 * actions wizard.count (u), wizard.pattern (s), wizard.folder (s), wizard.absolute (toggle),
 * wizard.protect-base (toggle). Read-only: "preview" (the names, in words).
 */
#define STRATA_TYPE_OVERLAYS_WIZARD (strata_overlays_wizard_get_type ())
G_DECLARE_FINAL_TYPE (StrataOverlaysWizard, strata_overlays_wizard, STRATA, OVERLAYS_WIZARD,
                      StrataWizard)

GtkWindow *strata_overlays_wizard_new (GtkWindow        *parent,
                                       StrataLibrary    *library,
                                       StrataJobManager *jobs,
                                       const char       *base);

G_END_DECLS
