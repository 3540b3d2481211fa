/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * The sources the convert tests (test-convert.c, test-vmdk-write.c) start from, made by QEMU
 * in the scratch folder.
 */

/* content.raw in the scratch folder, made on the first call: a guest disk of @size bytes
 * with real (compressible) file data, incompressible random data at 5 MiB, zeros written
 * explicitly at 9 MiB, a pattern at 13 MiB, holes between, then the qemu-io commands
 * @more_writes ("-c 'write …' …"). */
const char *cf_content      (guint64     size,
                             const char *more_writes);

/* The path of @file in the scratch folder, made there (unless it exists) by the shell
 * commands @make, in which "%1$s" is that path and "%2$s" @content. */
const char *cf_make_source  (const char *file,
                             const char *make,
                             const char *content);

G_END_DECLS
