/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gtk/gtk.h>

#include "strata-job-manager.h"
#include "strata-library.h"

G_BEGIN_DECLS

/*
 * The backing chains of a library as a graph: one StrataChainNode child per library node,
 * placed by StrataChainLayout, edges drawn in the snapshot. It follows the model (nodes and
 * edges come and go), marks the images a job is using, keeps in-use badges fresh for the
 * nodes in view, and keeps a selection that arrow keys move along the tree.
 *
 * Properties: "library", "jobs", "zoom", "selected-node" (the node the details show).
 */
#define STRATA_TYPE_CHAIN_GRAPH (strata_chain_graph_get_type ())
G_DECLARE_FINAL_TYPE (StrataChainGraph, strata_chain_graph, STRATA, CHAIN_GRAPH, GtkWidget)

#define STRATA_CHAIN_GRAPH_MIN_ZOOM 0.25
#define STRATA_CHAIN_GRAPH_MAX_ZOOM 2.0

GtkWidget         *strata_chain_graph_new               (void);
void               strata_chain_graph_set_library       (StrataChainGraph  *self,
                                                         StrataLibrary     *library);
void               strata_chain_graph_set_jobs          (StrataChainGraph  *self,
                                                         StrataJobManager  *jobs);
StrataLibraryNode *strata_chain_graph_get_selected_node (StrataChainGraph  *self);
/* Selects @nodes (the first one is the node the details show) and focuses the first. */
void               strata_chain_graph_select_nodes      (StrataChainGraph  *self,
                                                         GPtrArray         *nodes);
void               strata_chain_graph_select_node       (StrataChainGraph  *self,
                                                         StrataLibraryNode *node);
/* Selects the image at @path now, or as soon as the library finds it. */
void               strata_chain_graph_select_path       (StrataChainGraph  *self,
                                                         const char        *path);
/* The node widget of @node, or NULL. */
GtkWidget         *strata_chain_graph_get_node_widget   (StrataChainGraph  *self,
                                                         StrataLibraryNode *node);
double             strata_chain_graph_get_zoom          (StrataChainGraph  *self);
void               strata_chain_graph_set_zoom          (StrataChainGraph  *self,
                                                         double             zoom);
/* The zoom at which every chain fits into a view of @width × @height pixels. */
void               strata_chain_graph_zoom_to_fit       (StrataChainGraph  *self,
                                                         int                width,
                                                         int                height);
/* Asks the library to probe the locks of the nodes in view now. */
void               strata_chain_graph_refresh_locks     (StrataChainGraph  *self);

G_END_DECLS
