/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Each subcommand: argv[0] is the subcommand name. Returns the process exit status. */
int strata_img_info     (int argc, char **argv);
int strata_img_create   (int argc, char **argv);
int strata_img_map      (int argc, char **argv);
int strata_img_convert  (int argc, char **argv);
int strata_img_check    (int argc, char **argv);
int strata_img_compare  (int argc, char **argv);
int strata_img_rebase   (int argc, char **argv);
int strata_img_commit   (int argc, char **argv);
int strata_img_protect  (int argc, char **argv);
int strata_img_unprotect (int argc, char **argv);
int strata_img_tree     (int argc, char **argv);
int strata_img_create_samples (int argc, char **argv);

/* Prints "strata-img: MESSAGE" to stderr. */
void strata_img_error   (const char *format,
                         ...) G_GNUC_PRINTF (1, 2);

/* Parses a size with qemu-img's suffixes (b, k/K, M, G, T, P, E; default bytes). */
gboolean strata_img_parse_size (const char *text,
                                guint64    *size);

G_END_DECLS
