/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <json-glib/json-glib.h>

#include "strata-image.h"

G_BEGIN_DECLS

/*
 * Output helpers shared by the subcommands: qemu-img prints its JSON and its human
 * "Format specific information" from QEMU dictionaries, whose member order is a hash order,
 * not the insertion order. Scripts compare text, so we print in that same order.
 */

/* Converts a GVariant generically: integers → numbers, b → bool, s → string,
 * a{sv} → object, av / aa{sv} / other arrays → array, v → its content. */
JsonNode *strata_img_variant_to_json  (GVariant   *value);

/* Pretty JSON exactly as qemu-img prints it (4-space indent, QEMU's member order), without
 * a trailing newline. */
char     *strata_img_json_to_string   (JsonNode   *node);

/* qemu-img's human dump of a JSON object (keys with '-' shown as ' '), @indent levels of
 * 4 spaces deep. */
void      strata_img_json_dump_human  (GString    *out,
                                       JsonNode   *node,
                                       int         indent);

/* qemu-img's human size: "1 GiB", "196 KiB", "1.5 GiB", "512 B". */
char     *strata_img_size_to_str      (guint64     size);

/* Parses "--output" values ("human" or "json"); prints qemu-img's error otherwise. */
gboolean  strata_img_parse_output     (const char *value,
                                       gboolean   *json);

/* Prints "strata-img: MESSAGE" for @error met while working on @filename: in qemu-img's
 * words where strata_img_qemu_words() has them, else the engine's message. */
void      strata_img_report           (const char   *filename,
                                       const GError *error);
/* The same for commands that write @filename (commit, rebase). */
void      strata_img_report_for_write (const char   *filename,
                                       const GError *error);

/* Like strata_img_report(), adding "FILENAME: " when the message does not
 * already name the file. */
void      strata_img_report_error     (const char *filename,
                                       const GError *error);

/* Like strata_img_report_error() for a failure to open @filename; a missing file is
 * reported in qemu-img's words. */
void      strata_img_report_open_error (const char   *filename,
                                        const GError *error);

/* qemu-img's message for @error met while working on @filename (the image named on the
 * command line, which the command opens for writing when @write), when qemu-img words it
 * differently and as clearly (locks, missing backing files, unknown qcow2 features); NULL
 * otherwise. Without the "qemu-img: " prefix. */
char     *strata_img_qemu_words        (const char   *filename,
                                        gboolean      write,
                                        const GError *error);

/* qemu-img's "Snapshot list:" table of @snapshots (StrataSnapshotInfo *), nothing when
 * there are none. */
void      strata_img_snapshot_table   (GString    *out,
                                       GPtrArray  *snapshots);

/* The object `qemu-img info --output=json` prints for one image; with @strata_keys plus
 * Strata's extras ("strata-*" keys: in use, protected, allocated bytes, warnings). */
JsonNode *strata_img_info_to_json     (const StrataImageInfo *info,
                                       gboolean               strata_keys);

G_END_DECLS
