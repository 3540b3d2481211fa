/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * qemu-img's words for the errors where they name the file and the problem as well as
 * Strata's do: a lock held by another process, a missing backing file, qcow2 features we
 * do not know. Scripts match these lines, so strata-img prints them the same way,
 * "Could not open 'FILE': Could not open backing file: …" nesting included.
 */
#include "strata-img-output.h"

#include "strata-error.h"
#include "strata-file.h"

#include <stdlib.h>
#include <string.h>

/* Prefixes the engine puts before the message of the file that failed. */
static const char *
strip_prefixes (const char *msg)
{
  static const char hint[] = "Use -U (force share) to read it anyway. ";
  gboolean again = TRUE;

  while (again)
    {
      const char *p;

      again = FALSE;
      if (g_str_has_prefix (msg, hint))
        {
          msg += strlen (hint);
          again = TRUE;
        }
      if (g_str_has_prefix (msg, "Could not open '") && (p = strstr (msg, "': ")) != NULL)
        {
          msg = p + 3;
          again = TRUE;
        }
      if (g_str_has_prefix (msg, "Could not open backing file: "))
        {
          msg += strlen ("Could not open backing file: ");
          again = TRUE;
        }
      if ((p = strstr (msg, ": could not open its backing file: ")) != NULL)
        {
          msg = p + strlen (": could not open its backing file: ");
          again = TRUE;
        }
    }
  return msg;
}

static gboolean
same_file (const char *a,
           const char *b)
{
  g_autofree char *ra = realpath (a, NULL);
  g_autofree char *rb = realpath (b, NULL);

  return ra != NULL && rb != NULL && strcmp (ra, rb) == 0;
}

/* How many backing links lie between @filename and @path, or -1. */
static int
chain_depth (const char *filename,
             const char *path)
{
  g_autofree char *current = g_strdup (filename);

  for (int depth = 0; depth < 64 && current != NULL; depth++)
    {
      g_autoptr(StrataImage) image = NULL;
      const char *name;

      if (strcmp (current, path) == 0 || same_file (current, path))
        return depth;
      image = strata_image_open (current, NULL,
                                 STRATA_OPEN_NO_BACKING | STRATA_OPEN_FORCE_SHARE, NULL);
      if (image == NULL || (name = strata_image_get_backing_name (image)) == NULL)
        return -1;
      g_free (current);
      current = strata_resolve_backing_name (strata_image_get_filename (image), name, NULL);
    }
  return -1;
}

/* qemu-img's line for the first lock that stands in the way, in the order QEMU tests
 * them: permissions we want that others do not share, then permissions others hold that
 * we do not share. */
static char *
lock_words (const char *path,
            gboolean    write)
{
  static const char *const names[] = { "consistent read", "write", "write unchanged",
                                       "resize" };
  StrataPerm want = STRATA_PERM_CONSISTENT_READ;
  StrataPerm unshared = STRATA_PERM_WRITE | STRATA_PERM_RESIZE;
  g_autoptr(StrataFile) file = strata_file_open (path, STRATA_FILE_READ, NULL);

  if (file == NULL)
    return NULL;
  if (write)
    want |= STRATA_PERM_WRITE | STRATA_PERM_RESIZE;

  for (int i = 0; i < 4; i++)
    if ((want & (1 << i)) && strata_file_test_conflict (file, 1 << i, STRATA_PERM_ALL))
      return g_strdup_printf ("Failed to get \"%s\" lock", names[i]);
  for (int i = 0; i < 4; i++)
    if ((unshared & (1 << i)) &&
        strata_file_test_conflict (file, 0, STRATA_PERM_ALL & ~(1 << i)))
      return g_strdup_printf ("Failed to get shared \"%s\" lock", names[i]);
  return NULL;
}

/* "fancy, unknown incompatible feature 12" → "fancy, Unknown incompatible feature: 1000". */
static char *
feature_words (const char *list)
{
  g_auto(GStrv) items = g_strsplit (list, ", ", -1);
  GString *out = g_string_new (NULL);

  for (guint i = 0; items[i] != NULL; i++)
    {
      guint64 bit;

      if (i > 0)
        g_string_append (out, ", ");
      if (g_str_has_prefix (items[i], "unknown incompatible feature ") &&
          g_ascii_string_to_unsigned (items[i] + strlen ("unknown incompatible feature "),
                                      10, 0, 63, &bit, NULL))
        g_string_append_printf (out, "Unknown incompatible feature: %" G_GINT64_MODIFIER "x",
                                G_GUINT64_CONSTANT (1) << bit);
      else
        g_string_append (out, items[i]);
    }
  return g_string_free (out, FALSE);
}

char *
strata_img_qemu_words (const char   *filename,
                       gboolean      write,
                       const GError *error)
{
  static const char locked[] = ": the image is in use by another process";
  static const char missing[] = ": the backing file \"";
  static const char features[] = ": unsupported qcow2 feature(s): ";
  const char *msg, *p;
  g_autofree char *path = NULL;
  g_autofree char *core = NULL;
  GString *out;
  int depth;

  if (filename == NULL || error == NULL || error->domain != STRATA_ERROR)
    return NULL;
  msg = strip_prefixes (error->message);

  if (error->code == STRATA_ERROR_LOCKED && (p = strstr (msg, locked)) != NULL)
    {
      g_autofree char *lock = NULL;

      path = g_strndup (msg, p - msg);
      depth = chain_depth (filename, path);
      /* Backing files are opened read-only. */
      lock = lock_words (path, write && depth == 0);
      if (lock == NULL)
        return NULL;
      core = g_strdup_printf ("%s\nIs another process using the image [%s]?", lock, path);
    }
  else if ((p = strstr (msg, missing)) != NULL && g_str_has_suffix (msg, ")") &&
           strstr (p, "(looked for ") != NULL)
    {
      g_autofree char *owner = g_strndup (msg, p - msg);
      const char *looked = strstr (p, "(looked for ") + strlen ("(looked for ");

      path = g_strndup (looked, strlen (looked) - 1);
      depth = chain_depth (filename, owner);
      if (depth < 0)
        return NULL;
      depth++;
      core = g_strdup_printf ("Could not open '%s': No such file or directory", path);
    }
  else if (error->code == STRATA_ERROR_NOT_FOUND &&
           ((p = strstr (msg, ": Could not open: No such file or directory")) != NULL ||
            (p = strstr (msg, ": Could not open for writing: No such file or directory")) !=
              NULL))
    {
      path = g_strndup (msg, p - msg);
      depth = chain_depth (filename, path);
      core = g_strdup_printf ("Could not open '%s': No such file or directory", path);
    }
  else if ((p = strstr (msg, features)) != NULL)
    {
      g_autofree char *list = feature_words (p + strlen (features));

      path = g_strndup (msg, p - msg);
      depth = chain_depth (filename, path);
      core = g_strdup_printf ("Unsupported qcow2 feature(s): %s", list);
    }
  else
    return NULL;

  if (depth < 0)
    return NULL;
  out = g_string_new (NULL);
  g_string_append_printf (out, "Could not open '%s': ", filename);
  for (int i = 0; i < depth; i++)
    g_string_append (out, "Could not open backing file: ");
  g_string_append (out, core);
  return g_string_free (out, FALSE);
}
