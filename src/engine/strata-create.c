/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "strata-create.h"
#include "strata-error.h"

#include <string.h>

void
strata_create_options_init (StrataCreateOptions *opts)
{
  memset (opts, 0, sizeof *opts);
  opts->cluster_size = 65536;
  opts->compat = 3;
  opts->refcount_bits = 16;
  opts->compression_type = STRATA_COMPRESSION_ZLIB;
}
