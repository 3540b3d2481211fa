/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <stdio.h>

#include "strata-image.h"

int
main (int argc, char **argv)
{
  fprintf (stderr, "strata-img: not yet\n");
  return 1;
}
