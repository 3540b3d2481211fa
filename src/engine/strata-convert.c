/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "strata-convert.h"
#include "strata-error.h"

#include <string.h>

void
strata_convert_options_init (StrataConvertOptions *opts)
{
  memset (opts, 0, sizeof *opts);
  strata_create_options_init (&opts->qcow2);
  opts->target_format = "qcow2";
}
