/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

#include "strata-image.h"

G_BEGIN_DECLS

/*
 * Internal snapshots of qcow2 images, as `qemu-img snapshot` handles them. Each call opens
 * @filename for writing (taking QEMU's locks) and closes it cleanly; the steps inside are
 * ordered so that a power cut leaves at worst leaked clusters (strata-qcow2-snapshot.c).
 * Other formats are refused with STRATA_ERROR_NO_SNAPSHOTS; a snapshot that does not exist
 * gives STRATA_ERROR_NO_SNAPSHOT (STRATA_ERROR_NOT_FOUND is for missing files).
 */

/* The snapshots of @filename (StrataSnapshotInfo *), oldest first; empty for formats
 * without snapshots. */
GPtrArray *strata_snapshot_list_sync   (const char  *filename,
                                        gboolean     force_share,
                                        GError     **error);
/* Takes a snapshot called @name (names need not be unique; the ID is new), dated now. */
gboolean   strata_snapshot_create_sync (const char  *filename,
                                        const char  *name,
                                        GError     **error);
/* Makes the snapshot whose ID, or else whose name, is @id_or_name the active image again
 * (its content and its virtual size); the snapshot stays. */
gboolean   strata_snapshot_apply_sync  (const char  *filename,
                                        const char  *id_or_name,
                                        GError     **error);
/* Deletes the first snapshot called @name (by name only, as qemu-img snapshot -d) and
 * frees the clusters only it used. */
gboolean   strata_snapshot_delete_sync (const char  *filename,
                                        const char  *name,
                                        GError     **error);

G_END_DECLS
