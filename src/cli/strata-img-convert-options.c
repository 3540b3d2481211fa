/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The qcow2 -o options of convert, refused the way qemu-img refuses them: an unknown key
 * and a value that is not a number or a switch at once, a value it checks when it creates
 * the target as "TARGET: error while converting qcow2: ...".
 */
#include "strata-img.h"

#include <string.h>

gboolean
strata_img_convert_check_options (const char          *target,
                                  const char          *options,
                                  StrataCreateOptions *opts)
{
  g_auto(GStrv) items = g_strsplit (options, ",", -1);
  g_autoptr(GError) error = NULL;

  for (guint i = 0; items[i] != NULL; i++)
    {
      g_autofree char *key = g_strndup (items[i], strcspn (items[i], "="));

      if (key[0] != '\0' && !g_strv_contains (strata_img_qcow2_keys, key))
        {
          strata_img_error ("Invalid parameter '%s'", key);
          return FALSE;
        }
    }

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
  /* Convert writes its target through the ordinary writer, which preallocates nothing. */
  if (opts->preallocation != STRATA_PREALLOC_OFF)
    {
      strata_img_error ("%s: error while converting qcow2: preallocation is not supported "
                        "by convert (only preallocation=off)", target);
      return FALSE;
    }
  if (!strata_create_options_check (opts, &error))
    {
      strata_img_error ("%s: error while converting qcow2: %s", target, error->message);
      return FALSE;
    }
  return TRUE;
}
