/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/*
 * Finds the images whose immediate backing file, resolved against their own folder, is the
 * file @base (same st_dev and st_ino, so links and different spellings count). It looks in
 * @base's folder and in each of @library_dirs (NULL-terminated, may be NULL), one level deep.
 * Hidden temporary files (".NAME.strata-*") and anything but regular files are skipped; files
 * are probed by content; json: and protocol backing names are never followed. @exclude (may
 * be NULL) is left out of the result, and so is @base itself.
 *
 * Returns the paths found (sorted, each once), as a NULL-terminated array.
 */
char **strata_find_siblings (const char          *base,
                             const char * const  *library_dirs,
                             const char          *exclude,
                             GCancellable        *cancellable,
                             GError             **error);

G_END_DECLS
