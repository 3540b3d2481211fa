/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * The code every fuzz target runs, shared with the normal test suite: test-fuzz-regressions
 * replays every file under tests/fuzz/regressions/TARGET/ through strata_fuzz_run_target(),
 * so a regression input keeps failing in a plain `meson test` (with or without sanitizers)
 * until it is fixed.
 *
 * A target gets arbitrary bytes, turns them into an image file and drives the engine's
 * public API over it: open (no backing chain, no locks), info, block status over the whole
 * disk and bounded reads. Errors from the engine are expected and fine; what is not fine is
 * a crash, a sanitizer report, a hang, or a broken API contract (a function that fails
 * without an error, a block status that makes no progress), which abort().
 */

typedef struct
{
  const char *name;
  const char *description;
} StrataFuzzTarget;

/* The known targets, NULL-terminated. */
const StrataFuzzTarget *strata_fuzz_targets (void);

/* Runs one input through the target called @name. Returns FALSE when @name is unknown. */
gboolean strata_fuzz_run_target   (const char   *name,
                                   const guint8 *data,
                                   gsize         size);

/* Opens @path as @format (NULL: probe by content) and exercises it as the targets do.
 * Returns TRUE when the engine accepted the image and the walk completed, FALSE with
 * @error set otherwise. Aborts on a broken contract. */
gboolean strata_fuzz_exercise_file (const char  *path,
                                    const char  *format,
                                    gboolean     walk,
                                    GError     **error);

/* Builds a small, otherwise valid qcow2 image around a fuzzed compressed cluster: see
 * strata-fuzz.c for the layout driven by the first two bytes. */
GBytes  *strata_fuzz_build_compressed_qcow2 (const guint8 *data,
                                             gsize         size);

G_END_DECLS
