/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

#include "strata-library.h"

G_BEGIN_DECLS

/*
 * The wizard actions a node offers, in the order the details pane and the context menu show
 * them. The window enables "win.NAME" when the wizard is available and applies.
 */
typedef struct
{
  const char *name;   /* the wizard's name, also the action "win.NAME" */
  const char *label;  /* untranslated, with N_() */
} StrataNodeAction;

const StrataNodeAction *strata_node_actions          (guint             *n_actions);
/* The action to suggest for @node (the details pane's big button), or NULL. */
const char             *strata_node_primary_action   (StrataLibraryNode *node);
/* The applicable actions as a menu ("win.NAME" items), for the node's context menu. */
GMenuModel             *strata_node_actions_menu     (StrataLibraryNode *node);
/* TRUE when the wizard @name exists and applies to @node. */
gboolean                strata_node_action_applies   (const char        *name,
                                                      StrataLibraryNode *node);

G_END_DECLS
