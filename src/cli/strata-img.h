/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>
#include <stdio.h>

#include "strata-create.h"

G_BEGIN_DECLS

/* Each subcommand: argv[0] is the subcommand name. Returns the process exit status. */
int strata_img_info     (int argc, char **argv);
int strata_img_create   (int argc, char **argv);
int strata_img_map      (int argc, char **argv);
int strata_img_measure  (int argc, char **argv);
int strata_img_resize   (int argc, char **argv);
int strata_img_convert  (int argc, char **argv);
int strata_img_check    (int argc, char **argv);
int strata_img_compare  (int argc, char **argv);
int strata_img_rebase   (int argc, char **argv);
int strata_img_commit   (int argc, char **argv);
int strata_img_snapshot (int argc, char **argv);
int strata_img_protect  (int argc, char **argv);
int strata_img_unprotect (int argc, char **argv);
int strata_img_tree     (int argc, char **argv);
int strata_img_create_samples (int argc, char **argv);

/* The creation options qemu-img knows for qcow2 (NULL-terminated). */
extern const char *const strata_img_qcow2_keys[];

/* Parses convert's qcow2 -o @options into @opts, printing qemu-img's error for @target
 * when they are refused; with @compress (-c), a preallocation is refused. */
gboolean strata_img_convert_check_options (const char          *target,
                                           const char          *options,
                                           gboolean             compress,
                                           StrataCreateOptions *opts);
/* The same for a raw target, whose one option is preallocation=off|falloc|full. */
gboolean strata_img_convert_check_raw_options (const char     *target,
                                               const char     *options,
                                               StrataPrealloc *mode);

/* Prints "strata-img: MESSAGE" to stderr. */
void strata_img_error   (const char *format,
                         ...) G_GNUC_PRINTF (1, 2);

/* getopt_long codes for the long options subcommands share; their own codes start at
 * STRATA_IMG_OPT_FIRST_OWN. */
enum
{
  STRATA_IMG_OPT_OBJECT = 256,
  STRATA_IMG_OPT_IMAGE_OPTS,
  STRATA_IMG_OPT_FIRST_OWN,
};

/* Prints a subcommand's usage line to @out. */
typedef void (*StrataImgUsage) (FILE *out);

/* Handles @c, a getopt_long() result the subcommand has no case of its own for:
 * --object and --image-opts are refused, a missing argument and an unknown option reported
 * (the latter followed by @usage on stderr). Returns the exit status, 1. */
int         strata_img_bad_option (int             c,
                                   char          **argv,
                                   StrataImgUsage  usage);

/* The one image file name left after the options, or NULL after saying that one is
 * expected (followed by @usage on stderr). */
const char *strata_img_one_file   (int             argc,
                                   char          **argv,
                                   StrataImgUsage  usage);

/* Parses a size with qemu-img's suffixes (b, k/K, M, G, T, P, E; default bytes). */
gboolean strata_img_parse_size (const char *text,
                                guint64    *size);

G_END_DECLS
