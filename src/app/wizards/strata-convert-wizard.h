/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include "strata-wizard.h"

G_BEGIN_DECLS

/*
 * Convert an image (VMDK, raw, qcow2) to qcow2 or VMDK: source, new name and folder, format,
 * compression (a compressed VMDK is streamOptimized), cluster size; then the disk usage of both side by side and the next steps (protect the
 * new image as a base, create overlays on it).
 *
 * Actions: wizard.start, wizard.back (cancel the wizard, or the running job),
 * wizard.cancel-job, wizard.choose-source, wizard.choose-folder, wizard.protect-target,
 * wizard.create-overlays, and property actions wizard.target-name (s), wizard.target-folder
 * (s), wizard.compression (s: "none", "zlib", "zstd"), wizard.cluster-size (u),
 * wizard.target-format (s: "qcow2", "vmdk").
 * Read-only properties: "page" ("setup", "progress", "result"), "ready" (the setup is
 * valid), "problem" (why not, or a warning), "summary" (the result in one line).
 */
#define STRATA_TYPE_CONVERT_WIZARD (strata_convert_wizard_get_type ())
G_DECLARE_FINAL_TYPE (StrataConvertWizard, strata_convert_wizard, STRATA, CONVERT_WIZARD,
                      StrataWizard)

GtkWindow *strata_convert_wizard_new (GtkWindow        *parent,
                                      StrataLibrary    *library,
                                      StrataJobManager *jobs,
                                      const char       *source);

G_END_DECLS
