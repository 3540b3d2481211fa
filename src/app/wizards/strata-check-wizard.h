/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include "strata-wizard.h"

G_BEGIN_DECLS

/*
 * Check an image's metadata (read only, as `qemu-img check`), then offer to repair leaked
 * clusters when that is safe: no corruption, not protected, not held by a VM.
 * Actions: wizard.start, wizard.back, wizard.cancel-job, wizard.repair.
 * Read-only: "can-repair".
 */
#define STRATA_TYPE_CHECK_WIZARD (strata_check_wizard_get_type ())
G_DECLARE_FINAL_TYPE (StrataCheckWizard, strata_check_wizard, STRATA, CHECK_WIZARD,
                      StrataWizard)

GtkWindow *strata_check_wizard_new (GtkWindow        *parent,
                                    StrataLibrary    *library,
                                    StrataJobManager *jobs,
                                    const char       *path);

G_END_DECLS
