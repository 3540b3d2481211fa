/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include "strata-create.h"
#include "strata-qcow2-private.h"

G_BEGIN_DECLS

/*
 * Writes a fresh preallocated qcow2 image (preallocation=metadata, falloc or full) into the
 * empty, writable @file: header, refcount structures, L1 and L2 tables, and the data area
 * (a hole for metadata, reserved blocks for falloc, zeros for full). @s carries the header
 * fields (version, cluster and refcount geometry, features); the table offsets and sizes
 * are filled in here. Clusters land where qemu-img 7.2 puts them, so `qemu-img map` gives
 * the same host offsets for both.
 */
gboolean qcow2_create_preallocated (StrataFile     *file,
                                    Qcow2State     *s,
                                    guint64         virtual_size,
                                    const char     *backing_file,
                                    const char     *backing_format,
                                    StrataPrealloc  mode,
                                    GError        **error);

/*
 * Preallocates the guest range [@from, @to) of an open, writable qcow2 image that has
 * just grown to @to bytes (resize --preallocation): every cluster there without a host
 * cluster gets one (with metadata, the L2 table first and then its data clusters, as
 * qemu-img allocates them; with falloc and full, all data first, reserved or written with
 * zeros, then the L2 tables). A cluster the old size cut in two keeps what its head reads
 * as now. Goes through the writer's allocator and write back, so a crash leaks clusters
 * at worst. Does nothing for other formats.
 */
gboolean strata_qcow2_preallocate (StrataImage     *image,
                                   guint64          from,
                                   guint64          to,
                                   StrataPrealloc   mode,
                                   GError         **error);

G_END_DECLS
