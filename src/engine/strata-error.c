/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "strata-error.h"

#include <errno.h>
#include <string.h>

G_DEFINE_QUARK (strata-error-quark, strata_error)

void
strata_set_error_from_errno (GError    **error,
                             int         saved_errno,
                             const char *filename,
                             const char *format,
                             ...)
{
  g_autofree char *msg = NULL;
  StrataError code;
  va_list args;

  va_start (args, format);
  msg = g_strdup_vprintf (format, args);
  va_end (args);

  switch (saved_errno)
    {
    case ENOSPC:
    case EDQUOT:
      code = STRATA_ERROR_NO_SPACE;
      break;
    case ENOENT:
      code = STRATA_ERROR_NOT_FOUND;
      break;
    case EACCES:
    case EPERM:
    case EROFS:
      code = STRATA_ERROR_PERMISSION;
      break;
    default:
      code = STRATA_ERROR_IO;
      break;
    }

  if (filename != NULL)
    g_set_error (error, STRATA_ERROR, code, "%s: %s: %s", filename, msg, g_strerror (saved_errno));
  else
    g_set_error (error, STRATA_ERROR, code, "%s: %s", msg, g_strerror (saved_errno));
}
