/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

#include "strata-create.h"
#include "strata-image.h"

G_BEGIN_DECLS

/* What `qemu-img measure` reports, computed the way QEMU computes it. */
typedef struct
{
  guint64  required;        /* bytes a conversion of the source needs ("required size") */
  guint64  fully_allocated; /* bytes with every cluster allocated */
  gboolean has_bitmaps;     /* the source can carry persistent bitmaps (qcow2 v3 in, out) */
  guint64  bitmaps;         /* bytes they need (qemu-img's count; not in required) */
} StrataMeasure;

/*
 * Measures a new image of @format ("qcow2" or "raw") made with @opts (qcow2: cluster size,
 * refcount width, extended L2, compat) and @prealloc: from @source (its whole chain, as
 * convert copies it) or, when @source is NULL, empty with @size bytes. Fails with
 * STRATA_ERROR_UNSUPPORTED for other formats.
 */
gboolean strata_measure (StrataImage               *source,
                         guint64                    size,
                         const char                *format,
                         const StrataCreateOptions *opts,
                         StrataPrealloc             prealloc,
                         StrataMeasure             *result,
                         GError                   **error);

/* qemu's size of a fully allocated qcow2 image: data plus header, L1, L2 and refcount
 * tables (qcow2_calc_prealloc_size). */
guint64  strata_measure_qcow2_full (guint64 virtual_size,
                                    guint64 cluster_size,
                                    guint   refcount_bits,
                                    gboolean extended_l2);

G_END_DECLS
