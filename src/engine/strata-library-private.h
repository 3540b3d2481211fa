/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/*
 * Shared by strata-library*.c only: what a worker learns about one file (a LibEntry), and
 * the node's setters that the library calls in its main context.
 */

#include <sys/types.h>

#include "strata-image.h"
#include "strata-library.h"

G_BEGIN_DECLS

/*
 * One inspected file. Built in a worker, then owned by the library's main context, which
 * only changes the in-use fields (refresh_locks) and the backing stat fields (relink).
 */
typedef struct
{
  char            *path;          /* as inspected */
  char            *folder;        /* the library folder it was found in; NULL: external */
  guint64          order;         /* order of discovery, set when applied */
  guint64          seq;           /* unique per inspection, set when applied */

  gboolean         exists;        /* FALSE: nothing at path (gone, or a missing backing) */
  gboolean         is_image;      /* FALSE: not an image, skipped (only meaningful if exists) */
  gboolean         is_dir;
  gboolean         is_link;       /* the path is a symbolic link */
  gboolean         unreadable;    /* an image (or a file that should be one) we cannot read */
  char            *error;         /* why unreadable, or why it does not exist */

  dev_t            dev;
  ino_t            ino;
  guint64          size;
  gint64           mtime_ns;
  gint64           ctime_ns;
  guint64          allocated;     /* st_blocks * 512 */
  gboolean         protected;
  gboolean         in_use;
  guint64          lock_stamp;    /* the lock probe in_use comes from (0: the inspection) */

  /* Filled for readable images. */
  StrataImageInfo *info;          /* without any whole-table walk; filename = path */
  guint            format_version;
  char            *compression_type;
  gboolean         compressed;
  gboolean         corrupt;

  /* The backing name resolved (NULL if none or not followed) and what is there. */
  char            *backing_path;
  char            *backing_error; /* json:/protocol names, empty names */
  gboolean         backing_exists;
  dev_t            backing_dev;
  ino_t            backing_ino;
  char            *backing_stat_error;
} LibEntry;

LibEntry *lib_entry_inspect        (const char   *path,
                                    const char   *folder,
                                    gboolean      force_share);
void      lib_entry_free           (LibEntry     *entry);
/* The device and inode of @path (links followed); else FALSE and *error names the file. */
gboolean  lib_stat_id              (const char   *path,
                                    dev_t        *dev,
                                    ino_t        *ino,
                                    char        **error);
/* Stats entry->backing_path again and updates the backing_* stat fields. */
void      lib_entry_stat_backing   (LibEntry     *entry);
/* TRUE when @path still has the same inode, size, mtime and ctime as @entry. */
gboolean  lib_entry_unchanged      (const LibEntry *entry,
                                    const char     *path);
/* The lock probe alone: TRUE when a running QEMU holds @path. */
gboolean  lib_probe_in_use         (const char   *path);
char     *lib_file_id              (dev_t         dev,
                                    ino_t         ino);
gboolean  lib_is_temp_name         (const char   *name);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (LibEntry, lib_entry_free)

/* What the graph decided for a node; the node copies what it needs. */
typedef struct
{
  const char        *id;
  StrataNodeKind     kind;
  const char        *path;
  const char        *folder;
  const LibEntry    *entry;       /* NULL for missing nodes */
  const char        *error;
} LibNodeState;

StrataLibraryNode *lib_node_new          (const char         *id);
/* Sets every property from @state; notifies what changed. Returns TRUE if anything did. */
gboolean           lib_node_update       (StrataLibraryNode  *self,
                                          const LibNodeState *state);
void               lib_node_set_in_use   (StrataLibraryNode  *self,
                                          gboolean            in_use);
/* Edges: the node keeps a plain pointer to its backing and a list of its overlays. */
void               lib_node_set_backing  (StrataLibraryNode  *self,
                                          StrataLibraryNode  *backing);

G_END_DECLS
