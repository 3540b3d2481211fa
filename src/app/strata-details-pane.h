/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <adwaita.h>

#include "strata-library.h"

G_BEGIN_DECLS

/*
 * Everything known about the selected node, in words: format, sizes, backing file as stored
 * and where it resolves, protection, in-use and clean state; the allocation picture; the
 * wizard actions that apply ("win.NAME" buttons, the suggested one first); and a warning
 * when the image endangers others or is endangered. Follows the node as it changes.
 */
#define STRATA_TYPE_DETAILS_PANE (strata_details_pane_get_type ())
G_DECLARE_FINAL_TYPE (StrataDetailsPane, strata_details_pane, STRATA, DETAILS_PANE, GtkWidget)

GtkWidget         *strata_details_pane_new      (void);
StrataLibraryNode *strata_details_pane_get_node (StrataDetailsPane *self);
void               strata_details_pane_set_node (StrataDetailsPane *self,
                                                 StrataLibraryNode *node);
/* Rebuilds the action buttons (the window calls it when actions change). */
void               strata_details_pane_update_actions (StrataDetailsPane *self);

G_END_DECLS
