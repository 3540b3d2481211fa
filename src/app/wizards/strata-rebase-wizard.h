/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include "strata-wizard.h"

G_BEGIN_DECLS

/*
 * Rebase an overlay: onto a copy of its current base (the engine's fast copy, then only the
 * pointer changes, since the copy is identical; the copy can be protected), onto another
 * image (safe by default; unsafe only with an explicit confirmation), or onto nothing
 * (flatten: the overlay then stands alone).
 *
 * Actions: wizard.start, wizard.back, wizard.cancel-job, wizard.choose-base, and property
 * actions wizard.mode (s: "copy", "other", "flatten"), wizard.copy-name (s),
 * wizard.new-base (s), wizard.unsafe, wizard.confirmed, wizard.protect-copy (toggles).
 */
#define STRATA_TYPE_REBASE_WIZARD (strata_rebase_wizard_get_type ())
G_DECLARE_FINAL_TYPE (StrataRebaseWizard, strata_rebase_wizard, STRATA, REBASE_WIZARD,
                      StrataWizard)

GtkWindow *strata_rebase_wizard_new (GtkWindow        *parent,
                                     StrataLibrary    *library,
                                     StrataJobManager *jobs,
                                     const char       *overlay);

G_END_DECLS
