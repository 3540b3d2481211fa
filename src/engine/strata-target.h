/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include "strata-image.h"

G_BEGIN_DECLS

/*
 * New images (create, convert) are written to a hidden temporary file next to the target
 * and renamed over it. Before that, the name being replaced is checked here, in one place:
 * a missing target is fine; refused are a directory, a device, FIFO or socket, a symbolic
 * link (the rename would replace the link, not write through it), a protected image, an
 * image another process holds (a running QEMU), and any file of @source's chain, VMDK
 * extents included.
 *
 * On success *mode is the permission bits of the file being replaced (so the new image keeps
 * them), or 0 when there is none.
 */
gboolean strata_target_check_replace (const char   *target,
                                      StrataImage  *source,
                                      guint        *mode,
                                      GError      **error);

/* Gives the temporary file the mode of the file it replaces (nothing when @mode is 0). */
void     strata_target_apply_mode    (StrataFile   *tmp,
                                      guint         mode);

G_END_DECLS
