/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * Protection of an image is its mode bits: a protected image has every write bit clear.
 * protect() remembers the previous mode in the extended attribute "user.strata.mode" (octal
 * text) when the filesystem allows it; unprotect() restores that mode, or adds u+w when the
 * attribute is missing. Root ignores permission bits, so the decision is taken from st_mode,
 * never from access(2).
 */
gboolean strata_protect               (const char  *filename,
                                       GError     **error);
gboolean strata_unprotect             (const char  *filename,
                                       GError     **error);
/* TRUE when no write bit is set. */
gboolean strata_is_protected          (const char  *filename,
                                       gboolean    *is_protected,
                                       GError     **error);
/* The one check every writing operation (rebase, commit, check -r, convert onto an existing
 * target) calls before opening @filename for writing: fails with STRATA_ERROR_PROTECTED,
 * naming the file and how to unprotect it. A missing file is not protected. */
gboolean strata_protect_check_writable (const char *filename,
                                        GError    **error);

G_END_DECLS
