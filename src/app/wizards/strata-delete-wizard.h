/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include "strata-wizard.h"

G_BEGIN_DECLS

/*
 * Move an image to the trash (never unlinked). Refused, naming them, while other images use
 * it as their base; refused while a job or a running VM uses it.
 * Actions: wizard.start, wizard.back. Read-only: "n-overlays".
 */
#define STRATA_TYPE_DELETE_WIZARD (strata_delete_wizard_get_type ())
G_DECLARE_FINAL_TYPE (StrataDeleteWizard, strata_delete_wizard, STRATA, DELETE_WIZARD,
                      StrataWizard)

GtkWindow *strata_delete_wizard_new (GtkWindow        *parent,
                                     StrataLibrary    *library,
                                     StrataJobManager *jobs,
                                     const char       *path);

G_END_DECLS
