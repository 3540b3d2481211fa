/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <glib/gi18n.h>

#include "strata-error.h"
#include "strata-check-wizard.h"
#include "strata-commit-wizard.h"
#include "strata-convert-wizard.h"
#include "strata-delete-wizard.h"
#include "strata-locate-wizard.h"
#include "strata-overlays-wizard.h"
#include "strata-protect-wizard.h"
#include "strata-rebase-wizard.h"
#include "strata-run-wizard.h"
#include "strata-vm.h"
#include "strata-wizards.h"

/*
 * One table entry per wizard name. A wizard that is not implemented in this build has no
 * open function and is reported unavailable, so the window hides it.
 */

typedef GtkWindow *(*WizardOpenFunc) (GtkWindow        *parent,
                                      StrataLibrary    *library,
                                      StrataJobManager *jobs,
                                      const char       *path);

typedef struct
{
  const char     *name;
  gboolean      (*applies) (StrataLibraryNode *node);
  WizardOpenFunc  open;
  /* Whether it can run on this system at all (NULL: always). */
  gboolean      (*available) (void);
} WizardInfo;

static gboolean
is_image (StrataLibraryNode *node)
{
  StrataNodeKind kind = strata_library_node_get_kind (node);

  return kind == STRATA_NODE_IMAGE || kind == STRATA_NODE_EXTERNAL;
}

static gboolean
is_qcow2 (StrataLibraryNode *node)
{
  return is_image (node) && g_strcmp0 (strata_library_node_get_format (node), "qcow2") == 0;
}

static gboolean
has_backing (StrataLibraryNode *node)
{
  return strata_library_node_get_backing_name (node) != NULL;
}

static gboolean
has_overlays (StrataLibraryNode *node)
{
  g_autoptr(GPtrArray) overlays = strata_library_node_dup_overlays (node);

  return overlays != NULL && overlays->len > 0;
}

static gboolean
applies_convert (StrataLibraryNode *node)
{
  return is_image (node);
}

static gboolean
applies_overlays (StrataLibraryNode *node)
{
  return is_image (node);
}

static gboolean
applies_rebase (StrataLibraryNode *node)
{
  return is_qcow2 (node) && has_backing (node)
         && strata_library_node_get_backing (node) != NULL
         && strata_library_node_get_kind (strata_library_node_get_backing (node))
            != STRATA_NODE_MISSING;
}

static gboolean
applies_commit (StrataLibraryNode *node)
{
  return applies_rebase (node);
}

static gboolean
applies_check (StrataLibraryNode *node)
{
  return is_qcow2 (node) || (strata_library_node_get_kind (node) == STRATA_NODE_UNREADABLE
                             && g_strcmp0 (strata_library_node_get_format (node), "qcow2") == 0);
}

static gboolean
applies_protect (StrataLibraryNode *node)
{
  return is_image (node) && !strata_library_node_get_protected (node);
}

static gboolean
applies_unprotect (StrataLibraryNode *node)
{
  return is_image (node) && strata_library_node_get_protected (node);
}

static gboolean
applies_locate (StrataLibraryNode *node)
{
  StrataLibraryNode *backing = strata_library_node_get_backing (node);

  return is_qcow2 (node) && has_backing (node)
         && (backing == NULL || strata_library_node_get_kind (backing) == STRATA_NODE_MISSING);
}

static gboolean
applies_delete (StrataLibraryNode *node)
{
  /* Any image of the library nothing is built on: an overlay, or one that stands alone
   * (a flattened overlay, a converted disk). A base with overlays is refused. */
  return strata_library_node_get_kind (node) == STRATA_NODE_IMAGE && !has_overlays (node);
}

static gboolean
applies_run (StrataLibraryNode *node)
{
  return is_image (node);
}

static const WizardInfo wizards[] = {
  { "convert",   applies_convert,   strata_convert_wizard_new },
  { "overlays",  applies_overlays,  strata_overlays_wizard_new },
  { "rebase",    applies_rebase,    strata_rebase_wizard_new },
  { "commit",    applies_commit,    strata_commit_wizard_new },
  { "check",     applies_check,     strata_check_wizard_new },
  { "protect",   applies_protect,   strata_protect_wizard_new },
  { "unprotect", applies_unprotect, strata_unprotect_wizard_new },
  { "locate",    applies_locate,    strata_locate_wizard_new },
  { "delete",    applies_delete,    strata_delete_wizard_new },
  { "run",       applies_run,       strata_run_wizard_new, strata_vm_available },
};

static const WizardInfo *
find_wizard (const char *name)
{
  for (guint i = 0; i < G_N_ELEMENTS (wizards); i++)
    if (g_strcmp0 (wizards[i].name, name) == 0)
      return &wizards[i];
  return NULL;
}

gboolean
strata_wizard_is_available (const char *name)
{
  const WizardInfo *info;

  g_return_val_if_fail (name != NULL, FALSE);

  info = find_wizard (name);
  return info != NULL && info->open != NULL && (info->available == NULL || info->available ());
}

gboolean
strata_wizard_applies (const char        *name,
                       StrataLibraryNode *node)
{
  g_return_val_if_fail (name != NULL, FALSE);
  g_return_val_if_fail (STRATA_IS_LIBRARY_NODE (node), FALSE);

  return strata_wizard_is_available (name) && find_wizard (name)->applies (node);
}

GtkWindow *
strata_wizard_open (const char        *name,
                    GtkWindow         *parent,
                    StrataLibrary     *library,
                    StrataJobManager  *jobs,
                    const char        *path,
                    GError           **error)
{
  const WizardInfo *info;
  GtkWindow *window;

  g_return_val_if_fail (name != NULL, NULL);
  g_return_val_if_fail (parent == NULL || GTK_IS_WINDOW (parent), NULL);
  g_return_val_if_fail (library == NULL || STRATA_IS_LIBRARY (library), NULL);
  g_return_val_if_fail (STRATA_IS_JOB_MANAGER (jobs), NULL);
  g_return_val_if_fail (path != NULL, NULL);

  info = find_wizard (name);
  if (!strata_wizard_is_available (name))
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_UNSUPPORTED,
                   _("The “%s” wizard is not available in this build"), name);
      return NULL;
    }

  window = info->open (parent, library, jobs, path);
  gtk_window_present (window);
  return window;
}
