/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include "strata-library.h"

G_BEGIN_DECLS

/*
 * The words the app uses for a library node, shared by the graph, the details pane and the
 * accessibility labels, so that a screen reader hears what the eye sees.
 */

/* A virtual size, in binary units as disk sizes are given ("8 GiB"). */
char    *strata_text_virtual_size   (guint64            bytes);
/* Space on disk, in the desktop's units ("486.2 MB"). */
char    *strata_text_disk_size      (guint64            bytes);
/* A folder as the user says it ("~/vms"). */
char    *strata_text_folder         (const char        *folder);
/* "Base of 3 overlays", "Overlay of vm01.qcow2", "Backing file outside the library", ... */
char    *strata_text_role           (StrataLibraryNode *node);
/* "qcow2 · 8 GiB virtual · compressed" or the reason a node is broken. */
char    *strata_text_summary        (StrataLibraryNode *node);
/* The accessible name of a graph node:
 * "img01.qcow2, overlay of vm01.qcow2, 75.0 MB on disk, in use". */
char    *strata_text_accessible     (StrataLibraryNode *node,
                                     gboolean           busy);
/* TRUE for a writable image that other images use as their backing file. */
gboolean strata_node_is_writable_base (StrataLibraryNode *node);
guint    strata_node_count_overlays (StrataLibraryNode *node);
gboolean strata_node_is_broken      (StrataLibraryNode *node);

G_END_DECLS
