/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * StrataFile is the engine's only way to touch bytes on disk. Every format driver and
 * operation goes through it, so that tests can record each write and flush (to rebuild
 * the state a power cut would leave) and fail the N-th write or flush.
 *
 * A StrataFile is not thread-safe; one thread uses it at a time. Reads and writes are
 * positional (pread/pwrite) and retried until complete.
 */
typedef struct _StrataFile StrataFile;

typedef enum
{
  STRATA_FILE_READ     = 0,
  STRATA_FILE_WRITE    = 1 << 0, /* open read-write */
  STRATA_FILE_CREATE   = 1 << 1, /* O_CREAT | O_EXCL */
  STRATA_FILE_NOFOLLOW = 1 << 2, /* refuse a symbolic link as the last component */
} StrataFileFlags;

StrataFile *strata_file_open          (const char      *path,
                                       StrataFileFlags  flags,
                                       GError         **error);
/* Creates an empty hidden temporary file ".BASENAME.strata-XXXXXX" next to @final_path,
 * mode 0644 (minus umask), opened read-write. The path is available through
 * strata_file_get_path(). */
StrataFile *strata_file_create_temp   (const char      *final_path,
                                       GError         **error);
StrataFile *strata_file_ref           (StrataFile      *self);
void        strata_file_unref         (StrataFile      *self);

const char *strata_file_get_path      (StrataFile      *self);
int         strata_file_get_fd        (StrataFile      *self);
gboolean    strata_file_is_writable   (StrataFile      *self);

/* Reads exactly @len bytes; a read past end of file is an error naming the file. */
gboolean    strata_file_pread         (StrataFile      *self,
                                       void            *buf,
                                       gsize            len,
                                       guint64          offset,
                                       GError         **error);
/* Reads up to @len bytes; the part past end of file is filled with zeros. */
gboolean    strata_file_pread_zerofill (StrataFile     *self,
                                        void           *buf,
                                        gsize           len,
                                        guint64         offset,
                                        GError        **error);
gboolean    strata_file_pwrite        (StrataFile      *self,
                                       const void      *buf,
                                       gsize            len,
                                       guint64          offset,
                                       GError         **error);
/* fdatasync(); the point where the crash tests cut. */
gboolean    strata_file_flush         (StrataFile      *self,
                                       GError         **error);
gboolean    strata_file_truncate      (StrataFile      *self,
                                       guint64          size,
                                       GError         **error);
/* Deallocates a range (FALLOC_FL_PUNCH_HOLE); falls back to writing zeros. */
gboolean    strata_file_punch_hole    (StrataFile      *self,
                                       guint64          offset,
                                       guint64          len,
                                       GError         **error);
/* Current size; refreshed with fstat() each call. */
gboolean    strata_file_get_size      (StrataFile      *self,
                                       guint64         *size,
                                       GError         **error);
/* Bytes allocated on disk (st_blocks * 512). */
guint64     strata_file_get_allocated (StrataFile      *self);
/* Finds the next data/hole boundary with SEEK_DATA/SEEK_HOLE. Sets *is_data and *pnum (bytes
 * from @offset with that state, at most @max). Falls back to "all data". */
gboolean    strata_file_seek_data     (StrataFile      *self,
                                       guint64          offset,
                                       guint64          max,
                                       gboolean        *is_data,
                                       guint64         *pnum,
                                       GError         **error);

/* Renames the file (a temporary one) to @final_path, atomically replacing it, after an
 * fsync; then fsyncs the directory. */
gboolean    strata_file_commit_rename (StrataFile      *self,
                                       const char      *final_path,
                                       GError         **error);
/* Unlinks the file (used to remove a temporary file on error or cancel). */
void        strata_file_unlink        (StrataFile      *self);

/*
 * QEMU-compatible OFD byte-range locks. Permission i (0 consistent read, 1 write,
 * 2 write-unchanged, 3 resize) is "held" as a shared lock on byte 100+i, and "not shared
 * with others" as a shared lock on byte 200+i.
 */
typedef enum
{
  STRATA_PERM_CONSISTENT_READ = 1 << 0,
  STRATA_PERM_WRITE           = 1 << 1,
  STRATA_PERM_WRITE_UNCHANGED = 1 << 2,
  STRATA_PERM_RESIZE          = 1 << 3,
  STRATA_PERM_ALL             = 0xf,
} StrataPerm;

/* Takes locks for @perm held and @shared permitted to others (everything not in @shared
 * is unshared). Fails with STRATA_ERROR_LOCKED, naming the file, when another process
 * holds a conflicting lock. */
gboolean    strata_file_lock          (StrataFile      *self,
                                       StrataPerm       perm,
                                       StrataPerm       shared,
                                       GError         **error);
/* TRUE when another process holds the write permission or unshares @perm. */
gboolean    strata_file_test_conflict (StrataFile      *self,
                                       StrataPerm       perm,
                                       StrataPerm       shared);
void        strata_file_unlock        (StrataFile      *self);

/*
 * Test hooks. When set, they see every write and flush of every StrataFile opened for
 * writing. @fail_after_ops > 0 makes the N-th write or flush (counted together, from 1)
 * fail with EIO, and every later one too.
 */
typedef struct
{
  void  (*on_write) (const char *path, guint64 offset, const void *buf, gsize len, gpointer data);
  void  (*on_flush) (const char *path, gpointer data);
  void  (*on_truncate) (const char *path, guint64 size, gpointer data);
  gpointer data;
  guint64  fail_after_ops;
  guint64  ops; /* counter, updated by the I/O layer */
} StrataIoHooks;

void        strata_io_set_hooks       (StrataIoHooks   *hooks);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (StrataFile, strata_file_unref)

G_END_DECLS
