/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The qcow2 and raw -o options of convert, refused the way qemu-img refuses them: an
 * unknown key and a value that is not a number or a switch at once, a value it checks when
 * it creates the target as "TARGET: error while converting FORMAT: ...".
 */
#include "strata-img.h"

#include <string.h>

/* The keys of @items qemu-img knows for the format, or FALSE with its error. With -c, a
 * preallocation other than off is refused before any value is looked at, as qemu-img does. */
static gboolean
check_keys (char               **items,
            const char * const  *keys,
            gboolean             compress)
{
  for (guint i = 0; items[i] != NULL; i++)
    {
      g_autofree char *key = g_strndup (items[i], strcspn (items[i], "="));

      if (key[0] != '\0' && !g_strv_contains (keys, key))
        {
          strata_img_error ("Invalid parameter '%s'", key);
          return FALSE;
        }
    }
  for (guint i = 0; compress && items[i] != NULL; i++)
    if (g_str_has_prefix (items[i], "preallocation=") &&
        strcmp (items[i], "preallocation=off") != 0)
      {
        strata_img_error ("Compression and preallocation not supported at the same time");
        return FALSE;
      }
  return TRUE;
}

gboolean
strata_img_convert_check_raw_options (const char     *target,
                                      const char     *options,
                                      StrataPrealloc *mode)
{
  static const char *const raw_keys[] = { "size", "preallocation", NULL };
  g_auto(GStrv) items = g_strsplit (options, ",", -1);
  const char *value = NULL;

  if (!check_keys (items, raw_keys, FALSE))
    return FALSE;
  /* The last preallocation= wins; size= is the source's anyway. */
  for (guint i = 0; items[i] != NULL; i++)
    if (g_str_has_prefix (items[i], "preallocation="))
      value = items[i] + strlen ("preallocation=");
  *mode = STRATA_PREALLOC_OFF;
  if (value == NULL)
    return TRUE;
  if (!strata_prealloc_from_string (value, mode))
    {
      strata_img_error ("%s: error while converting raw: invalid parameter value: %s",
                        target, value);
      return FALSE;
    }
  if (*mode == STRATA_PREALLOC_METADATA)
    {
      strata_img_error ("%s: error while converting raw: Unsupported preallocation mode: "
                        "metadata", target);
      return FALSE;
    }
  return TRUE;
}

gboolean
strata_img_convert_check_options (const char          *target,
                                  const char          *options,
                                  gboolean             compress,
                                  StrataCreateOptions *opts)
{
  g_auto(GStrv) items = g_strsplit (options, ",", -1);
  g_autoptr(GError) error = NULL;

  if (!check_keys (items, strata_img_qcow2_keys, compress))
    return FALSE;

  if (!strata_create_options_parse (opts, options, &error))
    {
      /* Numbers and switches are read with the command line; names at creation. */
      if (g_str_has_prefix (error->message, "Parameter '") &&
          strstr (error->message, "does not accept value") == NULL)
        strata_img_error ("%s", error->message);
      else
        strata_img_error ("%s: error while converting qcow2: %s", target, error->message);
      return FALSE;
    }
  if (!strata_create_options_check (opts, &error))
    {
      strata_img_error ("%s: error while converting qcow2: %s", target, error->message);
      return FALSE;
    }
  return TRUE;
}
