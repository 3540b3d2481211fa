/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/*
 * Sample images written with the engine alone (no qemu-img), so that a newcomer can try every
 * operation at once: a base qcow2 holding a small disk (GPT partition table, an ext2-like file
 * system with directories and files), three overlays of it with different amounts written,
 * and a small monolithicSparse VMDK to convert.
 *
 * Every file is written under a hidden temporary name and renamed when complete. If any of
 * the sample names already exists in @dir, nothing is written (STRATA_ERROR_INVALID_ARGUMENT,
 * naming the file). @dir is created when missing. On error or cancellation the files of this
 * run are removed again.
 */

/* The file names written, in the order they are written (NULL-terminated). */
const char * const *strata_samples_get_names     (void);

gboolean            strata_samples_create        (const char           *dir,
                                                  GCancellable         *cancellable,
                                                  GError              **error);
void                strata_samples_create_async  (const char           *dir,
                                                  GCancellable         *cancellable,
                                                  GAsyncReadyCallback   callback,
                                                  gpointer              user_data);
gboolean            strata_samples_create_finish (GAsyncResult         *result,
                                                  GError              **error);

/* Writes the guest content sample @name must read as (through its backing chain) to
 * @raw_path, a new sparse raw file: what tests compare the samples against. */
gboolean            strata_samples_write_expected_raw (const char      *name,
                                                       const char      *raw_path,
                                                       GError         **error);

G_END_DECLS
