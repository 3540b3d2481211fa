/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "strata-snapshot.h"

#include "strata-error.h"
#include "strata-qcow2-private.h"

GPtrArray *
strata_snapshot_list_sync (const char  *filename,
                           gboolean     force_share,
                           GError     **error)
{
  g_autoptr(StrataImage) image = NULL;

  g_return_val_if_fail (filename != NULL, NULL);

  image = strata_image_open (filename, NULL,
                             force_share ? STRATA_OPEN_FORCE_SHARE : STRATA_OPEN_READ_ONLY,
                             error);
  if (image == NULL)
    return NULL;
  return strata_qcow2_snapshot_list (image);
}

typedef enum
{
  CHANGE_CREATE,
  CHANGE_APPLY,
  CHANGE_DELETE,
} Change;

static gboolean
change (const char  *filename,
        Change       what,
        const char  *name,
        GError     **error)
{
  g_autoptr(StrataImage) image = NULL;
  g_autoptr(GError) ignored = NULL;
  guint index = 0;
  gboolean ok;

  g_return_val_if_fail (filename != NULL, FALSE);
  g_return_val_if_fail (name != NULL, FALSE);

  image = strata_image_open (filename, NULL, STRATA_OPEN_WRITE, error);
  if (image == NULL)
    return FALSE;
  if (g_strcmp0 (strata_image_get_format (image), "qcow2") != 0)
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_NO_SNAPSHOTS,
                   "%s: Block driver does not support snapshots", filename);
      return FALSE;
    }

  switch (what)
    {
    case CHANGE_CREATE:
      {
        gint64 now = g_get_real_time ();

        ok = strata_qcow2_snapshot_create (image, name, now / G_USEC_PER_SEC,
                                           (now % G_USEC_PER_SEC) * 1000, error);
      }
      break;
    case CHANGE_APPLY:
      ok = strata_qcow2_snapshot_find (image, name, NULL, &index) ||
           strata_qcow2_snapshot_find (image, NULL, name, &index);
      if (!ok)
        g_set_error (error, STRATA_ERROR, STRATA_ERROR_NO_SNAPSHOT,
                     "%s: no snapshot with the ID or name '%s'", filename, name);
      else
        ok = strata_qcow2_snapshot_apply (image, index, error);
      break;
    case CHANGE_DELETE:
    default:
      ok = strata_qcow2_snapshot_find (image, NULL, name, &index);
      if (!ok)
        g_set_error (error, STRATA_ERROR, STRATA_ERROR_NO_SNAPSHOT,
                     "%s: no snapshot called '%s'", filename, name);
      else
        ok = strata_qcow2_snapshot_delete (image, index, error);
      break;
    }

  if (!ok)
    {
      strata_image_close (image, &ignored);
      return FALSE;
    }
  return strata_image_close (image, error);
}

gboolean
strata_snapshot_create_sync (const char  *filename,
                             const char  *name,
                             GError     **error)
{
  return change (filename, CHANGE_CREATE, name, error);
}

gboolean
strata_snapshot_apply_sync (const char  *filename,
                            const char  *id_or_name,
                            GError     **error)
{
  return change (filename, CHANGE_APPLY, id_or_name, error);
}

gboolean
strata_snapshot_delete_sync (const char  *filename,
                             const char  *name,
                             GError     **error)
{
  return change (filename, CHANGE_DELETE, name, error);
}
