/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include "strata-wizard.h"

G_BEGIN_DECLS

/*
 * Point an overlay whose backing file is missing at the right file: the user picks it, the
 * wizard checks its format and virtual size and says what it cannot verify (that it holds
 * the data the overlay was created on), and after an explicit confirmation rewrites the
 * pointer (an unsafe rebase: only the header changes).
 *
 * Actions: wizard.start, wizard.back, wizard.choose-base, and property actions
 * wizard.base-path (s), wizard.confirmed (toggle).
 */
#define STRATA_TYPE_LOCATE_WIZARD (strata_locate_wizard_get_type ())
G_DECLARE_FINAL_TYPE (StrataLocateWizard, strata_locate_wizard, STRATA, LOCATE_WIZARD,
                      StrataWizard)

GtkWindow *strata_locate_wizard_new (GtkWindow        *parent,
                                     StrataLibrary    *library,
                                     StrataJobManager *jobs,
                                     const char       *overlay);

G_END_DECLS
