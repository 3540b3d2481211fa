/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "strata-img.h"

#include "strata-protect.h"

static int
run (int argc, char **argv, gboolean (*op) (const char *, GError **))
{
  g_autoptr(GOptionContext) context = g_option_context_new ("FILE...");
  g_autoptr(GError) error = NULL;
  int rc = 0;

  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      strata_img_error ("%s", error->message);
      return 1;
    }
  if (argc < 2)
    {
      strata_img_error ("Expecting an image file name");
      return 1;
    }

  for (int i = 1; i < argc; i++)
    if (!op (argv[i], &error))
      {
        strata_img_error ("%s", error->message);
        g_clear_error (&error);
        rc = 1;
      }
  return rc;
}

/* Clears the write bits; the previous mode is kept in the "user.strata.mode" xattr. */
int
strata_img_protect (int argc, char **argv)
{
  return run (argc, argv, strata_protect);
}

/* Restores the mode saved by protect (or adds u+w when none was saved). */
int
strata_img_unprotect (int argc, char **argv)
{
  return run (argc, argv, strata_unprotect);
}
