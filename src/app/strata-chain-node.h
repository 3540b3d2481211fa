/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gtk/gtk.h>

#include "strata-library.h"

G_BEGIN_DECLS

/*
 * One image in the chain graph: name, format and size, a disk-usage bar and badges. A real
 * focusable widget with an accessible name; built in code rather than from a template, since
 * a library can hold a thousand of them.
 *
 * Signals: "select-request" (a click or a context menu on it; the graph selects it),
 * "locate-request" (the Locate… button of a missing backing file).
 */
#define STRATA_TYPE_CHAIN_NODE (strata_chain_node_get_type ())
G_DECLARE_FINAL_TYPE (StrataChainNode, strata_chain_node, STRATA, CHAIN_NODE, GtkWidget)

/* The fixed width of a node at zoom 1, in pixels. */
#define STRATA_CHAIN_NODE_WIDTH 208

GtkWidget         *strata_chain_node_new          (StrataLibraryNode *node);
StrataLibraryNode *strata_chain_node_get_node     (StrataChainNode   *self);
gboolean           strata_chain_node_get_selected (StrataChainNode   *self);
void               strata_chain_node_set_selected (StrataChainNode   *self,
                                                   gboolean           selected);
void               strata_chain_node_set_busy     (StrataChainNode   *self,
                                                   gboolean           busy);
/* Reads the node's properties again (the graph calls it for "node-changed" and when the
 * node's overlays change). */
void               strata_chain_node_update       (StrataChainNode   *self);
void               strata_chain_node_popup_menu   (StrataChainNode   *self);

G_END_DECLS
