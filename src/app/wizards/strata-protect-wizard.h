/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include "strata-wizard.h"

G_BEGIN_DECLS

/*
 * Protect an image (clear its write bits, as a base should be) or unprotect it, saying which
 * overlays rely on it first. Actions: wizard.start, wizard.back. Read-only: "n-overlays".
 */
#define STRATA_TYPE_PROTECT_WIZARD (strata_protect_wizard_get_type ())
G_DECLARE_FINAL_TYPE (StrataProtectWizard, strata_protect_wizard, STRATA, PROTECT_WIZARD,
                      StrataWizard)

GtkWindow *strata_protect_wizard_new   (GtkWindow        *parent,
                                        StrataLibrary    *library,
                                        StrataJobManager *jobs,
                                        const char       *path);
GtkWindow *strata_unprotect_wizard_new (GtkWindow        *parent,
                                        StrataLibrary    *library,
                                        StrataJobManager *jobs,
                                        const char       *path);

G_END_DECLS
