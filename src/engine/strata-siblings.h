/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/*
 * Finds the images whose immediate backing file, resolved against their own folder, is the
 * file @base (same st_dev and st_ino, so links and different spellings count). It looks in
 * @base's folder, @exclude's folder and each of @library_dirs (NULL-terminated, may be
 * NULL), one level deep.
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

/* The same, and @unsure (may be NULL) receives "could not tell whether PATH uses the base:
 * REASON" for every candidate that could not be inspected but might use @base: a qcow2 or
 * VMDK image the driver refuses and whose raw backing name cannot be resolved, or an
 * unreadable file with an image suffix. */
char **strata_find_siblings_full (const char          *base,
                                  const char * const  *library_dirs,
                                  const char          *exclude,
                                  char              ***unsure,
                                  GCancellable        *cancellable,
                                  GError             **error);

G_END_DECLS
