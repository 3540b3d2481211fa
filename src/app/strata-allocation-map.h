/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

/*
 * The allocation picture: one strip per layer of an image's chain, over the whole virtual
 * disk, showing which parts that layer answers reads for; what no layer holds reads as
 * zeros. Worked out in a worker thread from strata_image_chain_status(), with a bounded
 * number of queries per strip segment so that a huge, fragmented image costs no more than a
 * small one. The words of the summary are also its accessible description.
 */
#define STRATA_TYPE_ALLOCATION_MAP (strata_allocation_map_get_type ())
G_DECLARE_FINAL_TYPE (StrataAllocationMap, strata_allocation_map, STRATA, ALLOCATION_MAP,
                      GtkWidget)

/* Segments across the strip; each is queried at most this many times plus the samples. */
#define STRATA_ALLOCATION_SEGMENTS        256
#define STRATA_ALLOCATION_QUERIES_PER_SEG 16
#define STRATA_ALLOCATION_SAMPLES_PER_SEG 8

GtkWidget  *strata_allocation_map_new         (void);
/* Starts working out the picture of the image at @path (NULL: nothing). Cancels the last. */
void        strata_allocation_map_set_path    (StrataAllocationMap *self,
                                               const char          *path);
const char *strata_allocation_map_get_path    (StrataAllocationMap *self);
/* TRUE while the worker runs ("computing" property). */
gboolean    strata_allocation_map_get_computing (StrataAllocationMap *self);
/* The picture in words ("summary" property), NULL while computing. */
const char *strata_allocation_map_get_summary (StrataAllocationMap *self);

G_END_DECLS
