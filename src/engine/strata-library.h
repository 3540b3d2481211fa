/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

#include "strata-image.h"

G_BEGIN_DECLS

/*
 * The library: every disk image in a set of folders and their backing chains, as one graph.
 * It belongs to the engine (GLib/GIO only) so that the app, `strata-img tree` and the tests
 * share it.
 *
 * Threading: a StrataLibrary lives in the main context of the thread that created it. Files
 * are inspected in worker threads; results are applied to the model (nodes added, changed,
 * removed; edges added, removed) only in that main context, so observers never see a change
 * from another thread. strata_library_scan_sync() does the same work without a main loop,
 * for the CLI and tests.
 *
 * Nodes are identified by device + inode: a symbolic or hard link to an image is the same
 * node, shown under the first name found in the folders (a name in a library folder wins
 * over the name an overlay's backing pointer used).
 */

typedef enum
{
  STRATA_NODE_IMAGE,      /* an image inside the library folders */
  STRATA_NODE_EXTERNAL,   /* a backing file outside the folders, still inspected */
  STRATA_NODE_MISSING,    /* a backing name that resolves to nothing */
  STRATA_NODE_UNREADABLE, /* permission denied, malformed, unsupported: see the error */
  STRATA_NODE_LOOP,       /* a backing chain that returns to itself */
} StrataNodeKind;

#define STRATA_TYPE_NODE_KIND (strata_node_kind_get_type ())
GType strata_node_kind_get_type (void);

/* "image", "external", "missing", "unreadable", "loop" (the JSON of `tree`). */
const char *strata_node_kind_to_string (StrataNodeKind kind);

#define STRATA_TYPE_LIBRARY_NODE (strata_library_node_get_type ())
G_DECLARE_FINAL_TYPE (StrataLibraryNode, strata_library_node, STRATA, LIBRARY_NODE, GObject)

/*
 * Every getter below is also a read-only GObject property of the same name (dashes for
 * underscores: "virtual-size", "in-use", "backing-name", ...), notified in the library's
 * main context when it changes.
 */

/* Stable for the life of the node: "DEV:INO" for files, "missing:PATH" for missing ones. */
const char        *strata_library_node_get_id             (StrataLibraryNode *self);
StrataNodeKind     strata_library_node_get_kind           (StrataLibraryNode *self);
/* The path as the user sees it (absolute); for a missing node, where it was expected. */
const char        *strata_library_node_get_path           (StrataLibraryNode *self);
/* The basename of the path. */
const char        *strata_library_node_get_name           (StrataLibraryNode *self);
/* The library folder the node was found in; NULL for external and missing nodes. */
const char        *strata_library_node_get_folder         (StrataLibraryNode *self);
/* "qcow2", "vmdk", "raw"; NULL when not known (missing, unreadable). */
const char        *strata_library_node_get_format         (StrataLibraryNode *self);
/* qcow2 version (2 or 3), 0 for other formats. */
guint              strata_library_node_get_format_version (StrataLibraryNode *self);
guint64            strata_library_node_get_virtual_size   (StrataLibraryNode *self);
guint64            strata_library_node_get_apparent_size  (StrataLibraryNode *self); /* st_size */
guint64            strata_library_node_get_allocated_size (StrataLibraryNode *self); /* st_blocks */
guint64            strata_library_node_get_cluster_size   (StrataLibraryNode *self); /* 0: none */
/* qcow2 compression type ("zlib", "zstd"); NULL for other formats. */
const char        *strata_library_node_get_compression_type (StrataLibraryNode *self);
/* TRUE when the image is known to hold compressed clusters (streamOptimized VMDK, or a
 * qcow2 image whose L2 tables were sampled cheaply and hold compressed entries). */
gboolean           strata_library_node_get_compressed     (StrataLibraryNode *self);
gboolean           strata_library_node_get_dirty          (StrataLibraryNode *self);
gboolean           strata_library_node_get_corrupt        (StrataLibraryNode *self);
gboolean           strata_library_node_get_encrypted      (StrataLibraryNode *self);
/* Every write bit clear (strata_is_protected()). */
gboolean           strata_library_node_get_protected      (StrataLibraryNode *self);
/* A running QEMU holds the image (lock probe, no locks taken). */
gboolean           strata_library_node_get_in_use         (StrataLibraryNode *self);
/* The backing name byte for byte as stored, and where it resolves (NULL if none). */
const char        *strata_library_node_get_backing_name   (StrataLibraryNode *self);
const char        *strata_library_node_get_backing_format (StrataLibraryNode *self);
const char        *strata_library_node_get_backing_path   (StrataLibraryNode *self);
/* The node the backing name resolved to (not a reference), NULL if none. */
StrataLibraryNode *strata_library_node_get_backing        (StrataLibraryNode *self);
/* Why the node is unreadable, missing or a loop, in words that name the file; else NULL. */
const char        *strata_library_node_get_error          (StrataLibraryNode *self);
/* The overlays whose backing is this node (not references), sorted by path. */
GPtrArray         *strata_library_node_dup_overlays       (StrataLibraryNode *self);
/* Walks the backing pointers: 0 for a node without backing. Loops count once. */
guint              strata_library_node_get_depth          (StrataLibraryNode *self);
/* What `info` says of the image (its JSON for `tree`), read from the header only: no
 * allocation walk, so has_allocated_bytes is FALSE for qcow2. NULL for missing and
 * unreadable nodes. Owned by the node; replaced when the file is inspected again. */
const StrataImageInfo *strata_library_node_get_image_info (StrataLibraryNode *self);

#define STRATA_TYPE_LIBRARY (strata_library_get_type ())
G_DECLARE_FINAL_TYPE (StrataLibrary, strata_library, STRATA, LIBRARY, GObject)

/*
 * Signals (all in the library's main context):
 *   "node-changed"  (StrataLibraryNode *node)  a node's properties changed (also notified)
 *   "edge-added"    (StrataLibraryNode *overlay, StrataLibraryNode *backing)
 *   "edge-removed"  (StrataLibraryNode *overlay, StrataLibraryNode *backing)
 * Properties: "scanning" (gboolean), "n-images" (guint), "n-problems" (guint).
 * Nodes appear in and leave strata_library_get_nodes() (items-changed).
 */

StrataLibrary      *strata_library_new              (void);
/* Adds a folder (absolute or relative; kept absolute) and starts scanning it; watches it with
 * GFileMonitor (every sub-folder too when @recursive). Adding a folder again changes only
 * @recursive. Returns FALSE with an error naming the folder if it cannot be read. */
gboolean            strata_library_add_folder       (StrataLibrary      *self,
                                                     const char         *folder,
                                                     gboolean            recursive,
                                                     GError            **error);
void                strata_library_remove_folder    (StrataLibrary      *self,
                                                     const char         *folder);
/* The folders, in the order they were added (NULL-terminated, owned by the library). */
const char * const *strata_library_get_folders      (StrataLibrary      *self);
/* A GListModel of StrataLibraryNode, in the order nodes were found. */
GListModel         *strata_library_get_nodes        (StrataLibrary      *self);
/* The node for a path (any name of the file, links resolved), or NULL. */
StrataLibraryNode  *strata_library_lookup           (StrataLibrary      *self,
                                                     const char         *path);
StrataLibraryNode  *strata_library_lookup_id        (StrataLibrary      *self,
                                                     const char         *id);
/* Image nodes (kind IMAGE or UNREADABLE) found in @folder. */
guint               strata_library_count_in_folder  (StrataLibrary      *self,
                                                     const char         *folder);
gboolean            strata_library_get_scanning     (StrataLibrary      *self);
guint               strata_library_get_n_images     (StrataLibrary      *self);
guint               strata_library_get_n_problems   (StrataLibrary      *self);
/* Inspect @path again now (after an operation changed it, or a file the user opened outside
 * the folders). Asynchronous like the scan; the model reports the change. */
void                strata_library_rescan_file      (StrataLibrary      *self,
                                                     const char         *path);
/* Re-probes the in-use state (QEMU's locks) of the given nodes, or of every node when
 * @nodes is NULL, in a worker thread; cheap enough to call every few seconds. */
void                strata_library_refresh_locks    (StrataLibrary      *self,
                                                     GPtrArray          *nodes);
/* Scans every folder now, in this thread, without a main loop (the CLI and tests). The
 * model is complete when it returns. With @force_share (-U) images are inspected even when
 * a running QEMU holds them. Returns FALSE only when a folder itself cannot be read. */
gboolean            strata_library_scan_sync        (StrataLibrary      *self,
                                                     gboolean            force_share,
                                                     GCancellable       *cancellable,
                                                     GError            **error);

G_END_DECLS
