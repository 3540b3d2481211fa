/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

/*
 * Places the StrataChainNode children of a widget as a forest: every chain's base on top,
 * its overlays in the layer beneath, theirs beneath them. A node with many overlays that
 * have none of their own gets them in a grid under it rather than one very wide row, and the
 * chains flow into rows as wide as the widget, so both a base with 50 overlays and a folder
 * of 1,000 images stay readable. Positions are computed at zoom 1 and scaled by "zoom" (the
 * nodes are allocated with a scale transform). The edges come out as orthogonal polylines
 * for the widget to draw.
 */
#define STRATA_TYPE_CHAIN_LAYOUT (strata_chain_layout_get_type ())
G_DECLARE_FINAL_TYPE (StrataChainLayout, strata_chain_layout, STRATA, CHAIN_LAYOUT,
                      GtkLayoutManager)

typedef enum
{
  STRATA_EDGE_NORMAL,
  STRATA_EDGE_BROKEN,   /* to a missing, unreadable or looping backing */
  STRATA_EDGE_EXTERNAL, /* to a backing outside the library */
} StrataEdgeKind;

typedef struct
{
  StrataEdgeKind    kind;
  guint             n_points;
  graphene_point_t  points[4]; /* at zoom 1 */
} StrataChainEdge;

GtkLayoutManager *strata_chain_layout_new       (void);
double            strata_chain_layout_get_zoom  (StrataChainLayout *self);
void              strata_chain_layout_set_zoom  (StrataChainLayout *self,
                                                 double             zoom);
/* The edges of the last allocation (StrataChainEdge), at zoom 1. */
GArray           *strata_chain_layout_get_edges (StrataChainLayout *self);
/* The chains' bases (StrataChainNode widgets) in the order they were placed. */
GPtrArray        *strata_chain_layout_get_roots (StrataChainLayout *self);
/* The children, or which image backs which, changed: the chains are rebuilt. */
void              strata_chain_layout_invalidate (StrataChainLayout *self);
/* The height the children need at zoom 1 when laid out @width pixels wide (zoom 1). */
int               strata_chain_layout_height_for_width (StrataChainLayout *self,
                                                        int                width);

G_END_DECLS
