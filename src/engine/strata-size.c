/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "strata-size.h"

#include <errno.h>
#include <stdlib.h>

static int
suffix_shift (char c)
{
  switch (g_ascii_tolower (c))
    {
    case 'b': return 0;
    case 'k': return 10;
    case 'm': return 20;
    case 'g': return 30;
    case 't': return 40;
    case 'p': return 50;
    case 'e': return 60;
    default: return -1;
    }
}

StrataSizeStatus
strata_parse_size (const char *text,
                   guint64    *size,
                   gboolean   *hex_suffix)
{
  const char *p = text;
  char *end = NULL;
  guint64 value, mult = 1, part = 0;
  double fraction = 0;
  gboolean hex = FALSE;
  int shift;

  g_return_val_if_fail (size != NULL, STRATA_SIZE_INVALID);

  if (hex_suffix != NULL)
    *hex_suffix = FALSE;
  if (text == NULL)
    return STRATA_SIZE_INVALID;
  while (g_ascii_isspace (*p))
    p++;
  if (*p == '+')
    p++;
  if (*p == '0' && (p[1] == 'x' || p[1] == 'X'))
    {
      hex = TRUE;
      p += 2;
      if (!g_ascii_isxdigit (*p))
        return STRATA_SIZE_INVALID;
    }
  else if (!g_ascii_isdigit (*p))
    return STRATA_SIZE_INVALID;

  errno = 0;
  value = g_ascii_strtoull (p, &end, hex ? 16 : 10);
  if (errno == ERANGE)
    return STRATA_SIZE_TOO_LARGE;
  p = end;

  if (*p == '.' && !hex)
    {
      const char *digits = p + 1;

      while (g_ascii_isdigit (*digits))
        digits++;
      if (digits > p + 1)
        {
          g_autofree char *frac = g_strndup (p, digits - p);

          fraction = g_ascii_strtod (frac, NULL);
        }
      p = digits;
    }

  if (*p != '\0')
    {
      shift = suffix_shift (*p);
      if (shift < 0)
        return STRATA_SIZE_INVALID;
      mult = G_GUINT64_CONSTANT (1) << shift;
      if (hex && hex_suffix != NULL && shift > 0)
        *hex_suffix = TRUE;
      p++;
    }
  if (*p != '\0')
    return STRATA_SIZE_INVALID;
  /* Bytes come whole. */
  if (fraction != 0 && mult == 1)
    return STRATA_SIZE_INVALID;

  if (fraction != 0)
    part = (guint64) (fraction * (double) mult);
  if (value > (G_MAXUINT64 - part) / mult)
    return STRATA_SIZE_TOO_LARGE;
  *size = value * mult + part;
  return STRATA_SIZE_OK;
}
