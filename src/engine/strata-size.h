/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum
{
  STRATA_SIZE_OK = 0,
  STRATA_SIZE_INVALID,   /* not a size */
  STRATA_SIZE_TOO_LARGE, /* past 2^64 - 1 */
} StrataSizeStatus;

/*
 * Parses a size the way qemu-img does: decimal ("1024", "010" is ten) or hexadecimal
 * ("0x10000"), an optional fraction when a suffix follows or the fraction is zero
 * ("1.5k", "1024.0"), and one optional suffix b/B (bytes), k, M, G, T, P, E (powers of
 * 1024, any case). Leading blanks and "+" are accepted, "-" is not. *@hex_suffix is set
 * when a hexadecimal number carries a suffix (qemu-img warns that this is deprecated).
 */
StrataSizeStatus strata_parse_size (const char *text,
                                    guint64    *size,
                                    gboolean   *hex_suffix);

G_END_DECLS
