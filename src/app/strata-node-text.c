/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <glib/gi18n.h>

#include "strata-node-text.h"

/* The translator sees "%s GiB" (a format with a number, as xgettext cannot extract a
 * string built with G_GUINT64_FORMAT). */
static char *
text_whole_units (const char *format,
                  guint64     n)
{
  g_autofree char *number = g_strdup_printf ("%" G_GUINT64_FORMAT, n);

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
  return g_strdup_printf (format, number);
#pragma GCC diagnostic pop
}

char *
strata_text_virtual_size (guint64 bytes)
{
  /* TRANSLATORS: the %s in the unit strings below is a whole number. */
  /* Disks are mostly made a whole number of GiB: say "8 GiB", not "8.0 GiB". */
  if (bytes >= ((guint64) 1 << 40) && bytes % ((guint64) 1 << 40) == 0)
    return text_whole_units (_("%s TiB"), bytes >> 40);
  if (bytes >= ((guint64) 1 << 30) && bytes % ((guint64) 1 << 30) == 0)
    return text_whole_units (_("%s GiB"), bytes >> 30);
  if (bytes >= ((guint64) 1 << 20) && bytes % ((guint64) 1 << 20) == 0)
    return text_whole_units (_("%s MiB"), bytes >> 20);
  if (bytes >= 1024 && bytes % 1024 == 0)
    return text_whole_units (_("%s KiB"), bytes >> 10);
  return g_format_size_full (bytes, G_FORMAT_SIZE_IEC_UNITS);
}

char *
strata_text_folder (const char *folder)
{
  const char *home = g_get_home_dir ();
  gsize len = strlen (home);

  if (len > 1 && g_str_has_prefix (folder, home) && (folder[len] == '/' || folder[len] == 0))
    return g_strconcat ("~", folder + len, NULL);
  return g_strdup (folder);
}

char *
strata_text_disk_size (guint64 bytes)
{
  return g_format_size (bytes);
}

guint
strata_node_count_overlays (StrataLibraryNode *node)
{
  g_autoptr(GPtrArray) overlays = strata_library_node_dup_overlays (node);

  return overlays != NULL ? overlays->len : 0;
}

gboolean
strata_node_is_broken (StrataLibraryNode *node)
{
  switch (strata_library_node_get_kind (node))
    {
    case STRATA_NODE_MISSING:
    case STRATA_NODE_UNREADABLE:
    case STRATA_NODE_LOOP:
      return TRUE;
    case STRATA_NODE_IMAGE:
    case STRATA_NODE_EXTERNAL:
    default:
      return FALSE;
    }
}

gboolean
strata_node_is_writable_base (StrataLibraryNode *node)
{
  return !strata_node_is_broken (node)
         && !strata_library_node_get_protected (node)
         && strata_node_count_overlays (node) > 0;
}

char *
strata_text_role (StrataLibraryNode *node)
{
  StrataLibraryNode *backing = strata_library_node_get_backing (node);
  guint n_overlays = strata_node_count_overlays (node);

  switch (strata_library_node_get_kind (node))
    {
    case STRATA_NODE_MISSING:
      return g_strdup (_("Missing backing file"));
    case STRATA_NODE_LOOP:
      return g_strdup (_("Backing chain loops back on itself"));
    case STRATA_NODE_UNREADABLE:
      return g_strdup (_("Cannot be read"));
    case STRATA_NODE_EXTERNAL:
    case STRATA_NODE_IMAGE:
    default:
      break;
    }

  if (backing != NULL)
    {
      /* Translators: %s is the backing file's name. */
      return g_strdup_printf (_("Overlay of %s"), strata_library_node_get_name (backing));
    }
  if (n_overlays > 0)
    {
      return g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "Base of %u overlay",
                                           "Base of %u overlays", n_overlays),
                              n_overlays);
    }
  if (strata_library_node_get_kind (node) == STRATA_NODE_EXTERNAL)
    return g_strdup (_("Outside the library folders"));
  return g_strdup (_("Standalone image"));
}

char *
strata_text_summary (StrataLibraryNode *node)
{
  g_autoptr(GString) s = NULL;
  g_autofree char *vsize = NULL;
  const char *format = strata_library_node_get_format (node);

  switch (strata_library_node_get_kind (node))
    {
    case STRATA_NODE_MISSING:
      {
        g_autofree char *dir = g_path_get_dirname (strata_library_node_get_path (node));
        g_autofree char *shown = strata_text_folder (dir);

        /* Translators: %s is a folder, e.g. "missing — expected in ~/vms". */
        return g_strdup_printf (_("missing — expected in %s"), shown);
      }
    case STRATA_NODE_LOOP:
      return g_strdup (_("the backing chain loops back here"));
    case STRATA_NODE_UNREADABLE:
      {
        const char *error = strata_library_node_get_error (node);

        return g_strdup (error != NULL ? error : _("cannot be read"));
      }
    case STRATA_NODE_IMAGE:
    case STRATA_NODE_EXTERNAL:
    default:
      break;
    }

  s = g_string_new (format != NULL ? format : _("unknown format"));
  vsize = strata_text_virtual_size (strata_library_node_get_virtual_size (node));
  /* Translators: the size of the disk the guest sees, e.g. "8 GiB virtual". */
  g_string_append_printf (s, " · %s", vsize);
  if (strata_library_node_get_compressed (node))
    g_string_append_printf (s, " · %s", _("compressed"));
  return g_string_free (g_steal_pointer (&s), FALSE);
}

char *
strata_text_accessible (StrataLibraryNode *node,
                        gboolean           busy)
{
  g_autoptr(GString) s = g_string_new (strata_library_node_get_name (node));
  g_autofree char *role = strata_text_role (node);
  g_autofree char *lower = g_utf8_strdown (role, -1);

  g_string_append_printf (s, ", %s", lower);
  if (strata_node_is_broken (node))
    {
      const char *error = strata_library_node_get_error (node);

      if (error != NULL)
        g_string_append_printf (s, ", %s", error);
    }
  else
    {
      g_autofree char *disk = strata_text_disk_size (strata_library_node_get_allocated_size (node));

      /* Translators: e.g. "75.0 MB on disk". */
      g_string_append_printf (s, ", ");
      g_string_append_printf (s, _("%s on disk"), disk);
    }
  if (strata_library_node_get_kind (node) == STRATA_NODE_EXTERNAL)
    g_string_append_printf (s, ", %s", _("outside the library"));
  if (strata_library_node_get_protected (node))
    g_string_append_printf (s, ", %s", _("read-only"));
  if (strata_library_node_get_in_use (node))
    g_string_append_printf (s, ", %s", _("in use"));
  if (strata_library_node_get_corrupt (node))
    g_string_append_printf (s, ", %s", _("corrupt"));
  else if (strata_library_node_get_dirty (node))
    g_string_append_printf (s, ", %s", _("not closed cleanly"));
  if (strata_library_node_get_compressed (node))
    g_string_append_printf (s, ", %s", _("compressed"));
  if (strata_node_is_writable_base (node))
    g_string_append_printf (s, ", %s", _("writable base"));
  if (busy)
    g_string_append_printf (s, ", %s", _("an operation is running"));
  return g_string_free (g_steal_pointer (&s), FALSE);
}
