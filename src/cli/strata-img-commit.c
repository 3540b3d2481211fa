/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "strata-img.h"

int
strata_img_commit (int argc, char **argv)
{
  strata_img_error ("%s: not implemented yet", argv[0]);
  return 1;
}
