/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "strata-protect.h"
#include "strata-error.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#define MODE_XATTR "user.strata.mode"
#define WRITE_BITS (S_IWUSR | S_IWGRP | S_IWOTH)

static gboolean
stat_file (const char *filename, struct stat *st, GError **error)
{
  if (stat (filename, st) != 0)
    {
      int saved_errno = errno;

      strata_set_error_from_errno (error, saved_errno, filename, "Could not read its mode");
      return FALSE;
    }
  return TRUE;
}

gboolean
strata_is_protected (const char  *filename,
                     gboolean    *is_protected,
                     GError     **error)
{
  struct stat st;

  g_return_val_if_fail (filename != NULL, FALSE);

  if (!stat_file (filename, &st, error))
    return FALSE;
  *is_protected = (st.st_mode & WRITE_BITS) == 0;
  return TRUE;
}

gboolean
strata_protect_check_writable (const char  *filename,
                               GError     **error)
{
  struct stat st;

  g_return_val_if_fail (filename != NULL, FALSE);

  if (stat (filename, &st) != 0)
    return TRUE; /* Opening it will report what is wrong. */

  if (S_ISREG (st.st_mode) && (st.st_mode & WRITE_BITS) == 0)
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_PROTECTED,
                   "%s: the image is protected (read-only); run \"strata-img unprotect %s\" "
                   "to allow changes to it", filename, filename);
      return FALSE;
    }
  return TRUE;
}

gboolean
strata_protect (const char  *filename,
                GError     **error)
{
  struct stat st;
  char text[16];

  g_return_val_if_fail (filename != NULL, FALSE);

  if (!stat_file (filename, &st, error))
    return FALSE;
  if ((st.st_mode & WRITE_BITS) == 0)
    return TRUE;

  /* Best effort: without xattrs unprotect falls back to u+w. */
  g_snprintf (text, sizeof text, "%o", (unsigned) (st.st_mode & 07777));
  (void) setxattr (filename, MODE_XATTR, text, strlen (text), 0);

  if (chmod (filename, st.st_mode & 07777 & ~WRITE_BITS) != 0)
    {
      int saved_errno = errno;

      strata_set_error_from_errno (error, saved_errno, filename, "Could not protect it");
      return FALSE;
    }
  return TRUE;
}

gboolean
strata_unprotect (const char  *filename,
                  GError     **error)
{
  struct stat st;
  char text[16] = { 0 };
  mode_t mode;
  ssize_t n;

  g_return_val_if_fail (filename != NULL, FALSE);

  if (!stat_file (filename, &st, error))
    return FALSE;

  mode = (st.st_mode & 07777) | S_IWUSR;
  n = getxattr (filename, MODE_XATTR, text, sizeof text - 1);
  if (n > 0)
    {
      char *end = NULL;
      unsigned long saved = strtoul (text, &end, 8);

      /* Only trust a saved mode that is what protect() wrote and still has a write bit. */
      if (end != text && *end == '\0' && saved <= 07777 && (saved & WRITE_BITS) != 0)
        mode = (mode_t) saved;
    }

  if ((st.st_mode & WRITE_BITS) != 0 && n <= 0)
    return TRUE;

  if (chmod (filename, mode) != 0)
    {
      int saved_errno = errno;

      strata_set_error_from_errno (error, saved_errno, filename, "Could not unprotect it");
      return FALSE;
    }
  (void) removexattr (filename, MODE_XATTR);
  return TRUE;
}
