/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * Differential helpers for the CLI tests: run the same command line through qemu-img and
 * strata-img in one folder of the scratch dir and compare what they print.
 */

typedef struct
{
  int   rc;
  char *out;
  char *err;
} CliResult;

void      cli_result_clear          (CliResult  *r);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (CliResult, cli_result_clear)

/* Runs "cd DIR && timeout 120 PROGRAM ARGS" (PROGRAM = qemu-img or strata-img); the
 * timeout only guards against hangs. */
void      cli_run_qemu              (CliResult  *r,
                                     const char *dir,
                                     const char *args);
void      cli_run_strata            (CliResult  *r,
                                     const char *dir,
                                     const char *args);

/* TRUE (and the test is skipped) when strata-img failed only because a format driver is
 * still the placeholder. */
gboolean  cli_skip_if_unsupported   (const CliResult *r);

/* FALSE (and the test is skipped) while strata-img cannot read an image of @format that
 * qemu-img made: the driver is still the placeholder (it errors, or probes as raw). */
gboolean  cli_driver_available      (const char *format);

/* Asserts two JSON texts parse to the same tree, where every member qemu-img prints is
 * present with the same value, and strata-img adds only "strata-*" members. Members named
 * in @ignore (NULL-terminated, may be NULL) are not compared. */
void      cli_assert_json_matches   (const char        *what,
                                     const char        *qemu_json,
                                     const char        *strata_json,
                                     const char *const *ignore);

/* The differences cli_assert_json_matches() would report, or NULL. */
char     *cli_json_diff             (const char        *qemu_json,
                                     const char        *strata_json,
                                     const char *const *ignore);

/* Drops what qemu-img never prints from strata-img's output: the extra lines of human
 * info, and the "strata-*" members of pretty JSON (with their values). */
char     *cli_strip_strata_lines    (const char *text);

G_END_DECLS
