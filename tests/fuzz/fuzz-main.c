/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The libFuzzer entry points; STRATA_FUZZ_TARGET names the target (see strata-fuzz.c). */
#include "strata-fuzz.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  /* A critical is a failed g_return_if_fail(): the engine called itself wrongly. */
  g_log_set_always_fatal (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_ERROR);
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  if (!strata_fuzz_run_target (STRATA_FUZZ_TARGET, data, size))
    {
      fprintf (stderr, "unknown fuzz target %s\n", STRATA_FUZZ_TARGET);
      abort ();
    }
  return 0;
}
