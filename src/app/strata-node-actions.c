/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <glib/gi18n.h>

#include "strata-node-actions.h"
#include "strata-node-text.h"
#include "strata-wizards.h"

static const StrataNodeAction actions[] = {
  { "locate", N_("Locate Backing File…") },
  { "convert", N_("Convert…") },
  { "commit", N_("Commit into Base…") },
  { "overlays", N_("New Overlays…") },
  { "rebase", N_("Rebase…") },
  { "protect", N_("Make Read-Only") },
  { "unprotect", N_("Make Writable…") },
  { "check", N_("Check…") },
  { "run", N_("Run in QEMU…") },
  { "delete", N_("Move to Trash…") },
};

const StrataNodeAction *
strata_node_actions (guint *n_actions)
{
  *n_actions = G_N_ELEMENTS (actions);
  return actions;
}

gboolean
strata_node_action_applies (const char        *name,
                            StrataLibraryNode *node)
{
  return node != NULL && strata_wizard_is_available (name) && strata_wizard_applies (name, node);
}

const char *
strata_node_primary_action (StrataLibraryNode *node)
{
  /* The one thing the user most likely came for: repair a broken chain, protect a base that
   * endangers its overlays, convert a foreign format, commit an overlay. */
  static const char *const order[] = { "locate", "protect", "convert", "commit", "overlays" };
  const char *format;

  /* While QEMU holds the image, every one of them would be refused: none is suggested. */
  if (node == NULL || strata_library_node_get_in_use (node))
    return NULL;
  format = strata_library_node_get_format (node);
  for (guint i = 0; i < G_N_ELEMENTS (order); i++)
    {
      if (g_str_equal (order[i], "protect") && !strata_node_is_writable_base (node))
        continue;
      if (g_str_equal (order[i], "convert") && g_strcmp0 (format, "qcow2") == 0)
        continue;
      if (strata_node_action_applies (order[i], node))
        return order[i];
    }
  return NULL;
}

GMenuModel *
strata_node_actions_menu (StrataLibraryNode *node)
{
  GMenu *menu = g_menu_new ();

  for (guint i = 0; i < G_N_ELEMENTS (actions); i++)
    {
      g_autofree char *detailed = NULL;

      if (!strata_node_action_applies (actions[i].name, node))
        continue;
      detailed = g_strconcat ("win.", actions[i].name, NULL);
      g_menu_append (menu, _(actions[i].label), detailed);
    }
  return G_MENU_MODEL (menu);
}
