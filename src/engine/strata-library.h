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
 * node, shown under one name in the folders (a name in a library folder wins over the name
 * an overlay's backing pointer used; among several, a real name before a symbolic link, a
 * shallower path before a deeper one, then the first by strcmp: the choice does not depend
 * on timing). A file replaced by another (a new inode under the same name, as an atomic
 * rewrite does) is a new node: the old one is removed, the new one added.
 *
 * What is an image in a folder: qcow2 and VMDK files by content (a file with their magic that
 * the driver refuses is UNREADABLE, with the driver's error); raw files only with a disk
 * suffix (.img, .raw, .qcow2, .qcow, .vmdk), not empty and not ISO 9660. Skipped: anything
 * but regular files (symbolic links to files are followed, to folders not), our temporary
 * files (".NAME.strata-XXXXXX") and QEMU's ("vl.XXXXXX" of -snapshot), other files. A
 * backing file outside the folders is shown whatever its content (EXTERNAL), as qemu-img
 * would open it. json: and protocol backing names are kept (backing-name) but never
 * followed: backing-path and backing stay NULL.
 *
 * Inspection reads the header and what opening the image needs (qcow2: header, L1 and
 * refcount tables, extensions; at most one L2 table is sampled for "compressed"), never
 * whole L2 tables; allocated-size is st_blocks * 512 (VMDK: the descriptor plus its
 * extents). The asynchronous scan and the watches inspect with force-share (a running VM
 * does not block them; in-use comes from the lock probe).
 *
 * Watching: file-monitor events are gathered for 250 ms, then the changed paths are inspected
 * again in one worker job (skipped when inode, size, mtime and ctime are unchanged) and every
 * backing path is looked at again, so the model changes once per batch. Files outside the
 * folders (EXTERNAL nodes, add_file()) are not watched.
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
 * main context when it changes (except depth, overlays and image-info: not properties).
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
 *
 * Order of one change: new nodes are appended (one items-changed), then edges are removed
 * and added (a node's "backing" is notified first), then "node-changed" for changed nodes,
 * then removed nodes leave the model. A removed node has no edges left when it leaves.
 * "scanning": TRUE from add_folder() (or rescan_file()) until every queued inspection is
 * applied; lock probes do not count. "n-images": nodes found in the folders (any kind but
 * EXTERNAL and MISSING). "n-problems": MISSING, UNREADABLE and LOOP nodes, and images marked
 * corrupt. "depth" and the overlays are not properties: read them again on "edge-added" /
 * "edge-removed".
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
/* A GListModel of StrataLibraryNode, in the order nodes were added (workers finish in any
 * order: sort for display). */
GListModel         *strata_library_get_nodes        (StrataLibrary      *self);
/* The node for a path (any name of the file, links resolved), or NULL. */
StrataLibraryNode  *strata_library_lookup           (StrataLibrary      *self,
                                                     const char         *path);
StrataLibraryNode  *strata_library_lookup_id        (StrataLibrary      *self,
                                                     const char         *id);
/* Nodes found in @folder (kind IMAGE, UNREADABLE, or LOOP), its sub-folders included when
 * it is recursive. */
guint               strata_library_count_in_folder  (StrataLibrary      *self,
                                                     const char         *folder);
gboolean            strata_library_get_scanning     (StrataLibrary      *self);
guint               strata_library_get_n_images     (StrataLibrary      *self);
guint               strata_library_get_n_problems   (StrataLibrary      *self);
/* Shows the image @path even when it lies outside the folders (a file named on the command
 * line, or opened by the user); inspected like a folder's files, by the scan that starts
 * from the main loop or by the next strata_library_scan_sync(). A file outside the folders
 * is not watched: call strata_library_rescan_file() after changing it. A path that does not
 * exist becomes a MISSING node carrying the error. */
void                strata_library_add_file         (StrataLibrary      *self,
                                                     const char         *path);
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
