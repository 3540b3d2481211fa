/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <adwaita.h>

#include "strata-application.h"
#include "strata-job-manager.h"
#include "strata-library.h"

G_BEGIN_DECLS

#define STRATA_TYPE_WINDOW (strata_window_get_type ())
G_DECLARE_FINAL_TYPE (StrataWindow, strata_window, STRATA, WINDOW, AdwApplicationWindow)

StrataWindow     *strata_window_new          (StrataApplication *application);
GSettings        *strata_window_get_settings (StrataWindow      *self);
StrataLibrary    *strata_window_get_library  (StrataWindow      *self);
StrataJobManager *strata_window_get_jobs     (StrataWindow      *self);
/* Opens what the user gave (command line, drop, Open…): folders join the library, qcow2
 * images join through their folder and are selected, VMDK and raw images go to the convert
 * wizard, anything else is refused with a toast naming the file. Never waits on disk. */
void              strata_window_open_files   (StrataWindow      *self,
                                              GFile            **files,
                                              int                n_files);
void              strata_window_toast        (StrataWindow      *self,
                                              const char        *message);

G_END_DECLS
