/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "strata-file.h"
#include "strata-error.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct _StrataFile
{
  gatomicrefcount ref_count;
  int             fd;
  char           *path;
  StrataFileFlags flags;
  gboolean        locked;
};

static StrataIoHooks *io_hooks;
static GMutex io_hooks_lock;

void
strata_io_set_hooks (StrataIoHooks *hooks)
{
  g_mutex_lock (&io_hooks_lock);
  io_hooks = hooks;
  g_mutex_unlock (&io_hooks_lock);
}

/* Counts one write-side operation; returns FALSE when the hooks ask it to fail. */
static gboolean
io_hooks_count_op (void)
{
  gboolean ok = TRUE;

  g_mutex_lock (&io_hooks_lock);
  if (io_hooks != NULL)
    {
      io_hooks->ops++;
      if (io_hooks->fail_after_ops > 0 && io_hooks->ops >= io_hooks->fail_after_ops)
        ok = FALSE;
    }
  g_mutex_unlock (&io_hooks_lock);

  return ok;
}

static StrataFile *
strata_file_new_for_fd (int fd, const char *path, StrataFileFlags flags)
{
  StrataFile *self = g_new0 (StrataFile, 1);

  g_atomic_ref_count_init (&self->ref_count);
  self->fd = fd;
  self->path = g_strdup (path);
  self->flags = flags;
  return self;
}

StrataFile *
strata_file_open (const char      *path,
                  StrataFileFlags  flags,
                  GError         **error)
{
  int oflags = O_CLOEXEC;
  int fd;

  g_return_val_if_fail (path != NULL, NULL);

  /* Non-blocking, so that a FIFO named as a backing file or a VMDK extent cannot hang the
   * open; it is refused below and the flag cleared. */
  oflags |= O_NONBLOCK;
  oflags |= (flags & STRATA_FILE_WRITE) ? O_RDWR : O_RDONLY;
  if (flags & STRATA_FILE_CREATE)
    oflags |= O_CREAT | O_EXCL;
  if (flags & STRATA_FILE_NOFOLLOW)
    oflags |= O_NOFOLLOW;

  do
    fd = open (path, oflags, 0644);
  while (fd < 0 && errno == EINTR);

  if (fd < 0)
    {
      int saved_errno = errno;

      if (saved_errno == ELOOP && (flags & STRATA_FILE_NOFOLLOW))
        g_set_error (error, STRATA_ERROR, STRATA_ERROR_PERMISSION,
                     "%s: refusing to follow a symbolic link", path);
      else
        strata_set_error_from_errno (error, saved_errno, path, "Could not open%s",
                                     (flags & STRATA_FILE_WRITE) ? " for writing" : "");
      return NULL;
    }

  if (!(flags & STRATA_FILE_CREATE))
    {
      struct stat st;

      if (fstat (fd, &st) != 0)
        {
          int saved_errno = errno;

          strata_set_error_from_errno (error, saved_errno, path, "Could not stat");
          close (fd);
          return NULL;
        }
      if (S_ISDIR (st.st_mode))
        {
          g_set_error (error, STRATA_ERROR, STRATA_ERROR_INVALID_ARGUMENT,
                       "%s: is a directory", path);
          close (fd);
          return NULL;
        }
      /* As QEMU's file driver: a FIFO, socket or character device (/dev/zero, /dev/stdin)
       * is never a disk image, and reading one can block forever or never end. */
      if (!S_ISREG (st.st_mode) && !S_ISBLK (st.st_mode))
        {
          g_set_error (error, STRATA_ERROR, STRATA_ERROR_INVALID_ARGUMENT,
                       "%s: not a regular file or a block device", path);
          close (fd);
          return NULL;
        }
    }

  {
    int fl = fcntl (fd, F_GETFL);

    if (fl >= 0)
      (void) fcntl (fd, F_SETFL, fl & ~O_NONBLOCK);
  }

  return strata_file_new_for_fd (fd, path, flags);
}

StrataFile *
strata_file_create_temp (const char  *final_path,
                         GError     **error)
{
  g_autofree char *dir = NULL;
  g_autofree char *base = NULL;
  g_autofree char *tmpl = NULL;
  int fd;

  g_return_val_if_fail (final_path != NULL, NULL);

  dir = g_path_get_dirname (final_path);
  base = g_path_get_basename (final_path);
  /* Keep the hidden name within NAME_MAX however long the target's name is. */
  tmpl = g_strdup_printf ("%s/.%.200s.strata-XXXXXX", dir, base);

  fd = g_mkstemp_full (tmpl, O_RDWR | O_CLOEXEC, 0644);
  if (fd < 0)
    {
      int saved_errno = errno;

      strata_set_error_from_errno (error, saved_errno, final_path,
                                   "Could not create a temporary file in %s", dir);
      return NULL;
    }

  /* g_mkstemp_full() passes 0644 to open(O_CREAT | O_EXCL), which applies the umask like a
   * normal create. (Reading the umask with umask() would change it for every thread of the
   * process for a moment: a file created meanwhile by another thread would get mode 0666.) */

  return strata_file_new_for_fd (fd, tmpl, STRATA_FILE_WRITE | STRATA_FILE_CREATE);
}

StrataFile *
strata_file_ref (StrataFile *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  g_atomic_ref_count_inc (&self->ref_count);
  return self;
}

void
strata_file_unref (StrataFile *self)
{
  g_return_if_fail (self != NULL);

  if (g_atomic_ref_count_dec (&self->ref_count))
    {
      if (self->fd >= 0)
        close (self->fd);
      g_free (self->path);
      g_free (self);
    }
}

const char *
strata_file_get_path (StrataFile *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  return self->path;
}

int
strata_file_get_fd (StrataFile *self)
{
  g_return_val_if_fail (self != NULL, -1);
  return self->fd;
}

gboolean
strata_file_is_writable (StrataFile *self)
{
  g_return_val_if_fail (self != NULL, FALSE);
  return (self->flags & STRATA_FILE_WRITE) != 0;
}

static gssize
pread_full (int fd, guint8 *buf, gsize len, guint64 offset)
{
  gsize done = 0;

  while (done < len)
    {
      ssize_t n = pread (fd, buf + done, len - done, (off_t) (offset + done));

      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          return -1;
        }
      if (n == 0)
        break;
      done += n;
    }

  return done;
}

gboolean
strata_file_pread (StrataFile  *self,
                   void        *buf,
                   gsize        len,
                   guint64      offset,
                   GError     **error)
{
  gssize n;

  g_return_val_if_fail (self != NULL, FALSE);

  if (offset > G_MAXINT64 - len)
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_CORRUPT,
                   "%s: read at offset 0x%" G_GINT64_MODIFIER "x is out of range",
                   self->path, offset);
      return FALSE;
    }

  n = pread_full (self->fd, buf, len, offset);
  if (n < 0)
    {
      int saved_errno = errno;

      strata_set_error_from_errno (error, saved_errno, self->path,
                                   "Read error at offset 0x%" G_GINT64_MODIFIER "x", offset);
      return FALSE;
    }
  if ((gsize) n < len)
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_CORRUPT,
                   "%s: unexpected end of file reading %" G_GSIZE_FORMAT " bytes at offset "
                   "0x%" G_GINT64_MODIFIER "x (the file is truncated)",
                   self->path, len, offset);
      return FALSE;
    }

  return TRUE;
}

gboolean
strata_file_pread_zerofill (StrataFile  *self,
                            void        *buf,
                            gsize        len,
                            guint64      offset,
                            GError     **error)
{
  gssize n;

  g_return_val_if_fail (self != NULL, FALSE);

  if (offset > G_MAXINT64 - len)
    {
      memset (buf, 0, len);
      return TRUE;
    }

  n = pread_full (self->fd, buf, len, offset);
  if (n < 0)
    {
      int saved_errno = errno;

      strata_set_error_from_errno (error, saved_errno, self->path,
                                   "Read error at offset 0x%" G_GINT64_MODIFIER "x", offset);
      return FALSE;
    }
  if ((gsize) n < len)
    memset ((guint8 *) buf + n, 0, len - n);

  return TRUE;
}

gboolean
strata_file_pwrite (StrataFile  *self,
                    const void  *buf,
                    gsize        len,
                    guint64      offset,
                    GError     **error)
{
  const guint8 *p = buf;
  gsize done = 0;

  g_return_val_if_fail (self != NULL, FALSE);

  if (!(self->flags & STRATA_FILE_WRITE))
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_PERMISSION,
                   "%s: the file is open read-only", self->path);
      return FALSE;
    }

  if (!io_hooks_count_op ())
    {
      strata_set_error_from_errno (error, EIO, self->path,
                                   "Write error at offset 0x%" G_GINT64_MODIFIER "x", offset);
      return FALSE;
    }

  while (done < len)
    {
      ssize_t n = pwrite (self->fd, p + done, len - done, (off_t) (offset + done));

      if (n < 0)
        {
          int saved_errno = errno;

          if (saved_errno == EINTR)
            continue;
          strata_set_error_from_errno (error, saved_errno, self->path,
                                       "Write error at offset 0x%" G_GINT64_MODIFIER "x",
                                       offset + done);
          return FALSE;
        }
      done += n;
    }

  g_mutex_lock (&io_hooks_lock);
  if (io_hooks != NULL && io_hooks->on_write != NULL)
    io_hooks->on_write (self->path, offset, buf, len, io_hooks->data);
  g_mutex_unlock (&io_hooks_lock);

  return TRUE;
}

gboolean
strata_file_flush (StrataFile  *self,
                   GError     **error)
{
  g_return_val_if_fail (self != NULL, FALSE);

  if (!(self->flags & STRATA_FILE_WRITE))
    return TRUE;

  if (!io_hooks_count_op ())
    {
      strata_set_error_from_errno (error, EIO, self->path, "Flush failed");
      return FALSE;
    }

  if (fdatasync (self->fd) != 0)
    {
      int saved_errno = errno;

      strata_set_error_from_errno (error, saved_errno, self->path, "Flush failed");
      return FALSE;
    }

  g_mutex_lock (&io_hooks_lock);
  if (io_hooks != NULL && io_hooks->on_flush != NULL)
    io_hooks->on_flush (self->path, io_hooks->data);
  g_mutex_unlock (&io_hooks_lock);

  return TRUE;
}

gboolean
strata_file_truncate (StrataFile  *self,
                      guint64      size,
                      GError     **error)
{
  g_return_val_if_fail (self != NULL, FALSE);

  if (!io_hooks_count_op ())
    {
      strata_set_error_from_errno (error, EIO, self->path, "Could not resize the file");
      return FALSE;
    }

  if (ftruncate (self->fd, (off_t) size) != 0)
    {
      int saved_errno = errno;

      strata_set_error_from_errno (error, saved_errno, self->path,
                                   "Could not resize the file to %" G_GUINT64_FORMAT " bytes",
                                   size);
      return FALSE;
    }

  g_mutex_lock (&io_hooks_lock);
  if (io_hooks != NULL && io_hooks->on_truncate != NULL)
    io_hooks->on_truncate (self->path, size, io_hooks->data);
  g_mutex_unlock (&io_hooks_lock);

  return TRUE;
}

gboolean
strata_file_punch_hole (StrataFile  *self,
                        guint64      offset,
                        guint64      len,
                        GError     **error)
{
  static const guint8 zeros[65536];
  guint64 size;

  g_return_val_if_fail (self != NULL, FALSE);

  if (len == 0)
    return TRUE;

  if (!strata_file_get_size (self, &size, error))
    return FALSE;
  if (offset >= size)
    return TRUE;
  if (offset + len > size)
    len = size - offset;

  /* Hooks see a punched hole as a write of zeros, which is what a reader observes. */
  g_mutex_lock (&io_hooks_lock);
  if (io_hooks == NULL &&
      fallocate (self->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                 (off_t) offset, (off_t) len) == 0)
    {
      g_mutex_unlock (&io_hooks_lock);
      return TRUE;
    }
  g_mutex_unlock (&io_hooks_lock);

  while (len > 0)
    {
      gsize chunk = MIN (len, sizeof zeros);

      if (!strata_file_pwrite (self, zeros, chunk, offset, error))
        return FALSE;
      offset += chunk;
      len -= chunk;
    }

  return TRUE;
}

gboolean
strata_file_get_size (StrataFile  *self,
                      guint64     *size,
                      GError     **error)
{
  struct stat st;

  g_return_val_if_fail (self != NULL, FALSE);

  if (fstat (self->fd, &st) != 0)
    {
      int saved_errno = errno;

      strata_set_error_from_errno (error, saved_errno, self->path, "Could not stat");
      return FALSE;
    }

  if (S_ISBLK (st.st_mode))
    {
      off_t end = lseek (self->fd, 0, SEEK_END);

      *size = end < 0 ? 0 : (guint64) end;
      return TRUE;
    }

  *size = (guint64) st.st_size;
  return TRUE;
}

guint64
strata_file_get_allocated (StrataFile *self)
{
  struct stat st;

  g_return_val_if_fail (self != NULL, 0);

  if (fstat (self->fd, &st) != 0)
    return 0;

  return (guint64) st.st_blocks * 512;
}

gboolean
strata_file_seek_data (StrataFile  *self,
                       guint64      offset,
                       guint64      max,
                       gboolean    *is_data,
                       guint64     *pnum,
                       GError     **error)
{
  off_t data, hole;

  g_return_val_if_fail (self != NULL, FALSE);

  data = lseek (self->fd, (off_t) offset, SEEK_DATA);
  if (data < 0)
    {
      if (errno == ENXIO)
        {
          /* No data after @offset: a hole up to end of file. */
          *is_data = FALSE;
          *pnum = max;
          return TRUE;
        }
      /* Not supported: everything is data. */
      *is_data = TRUE;
      *pnum = max;
      return TRUE;
    }

  if ((guint64) data > offset)
    {
      *is_data = FALSE;
      *pnum = MIN ((guint64) data - offset, max);
      return TRUE;
    }

  hole = lseek (self->fd, (off_t) offset, SEEK_HOLE);
  if (hole < 0 || (guint64) hole <= offset)
    {
      *is_data = TRUE;
      *pnum = max;
      return TRUE;
    }

  *is_data = TRUE;
  *pnum = MIN ((guint64) hole - offset, max);
  return TRUE;
}

gboolean
strata_file_commit_rename (StrataFile  *self,
                           const char  *final_path,
                           GError     **error)
{
  g_autofree char *dir = NULL;
  int dfd;

  g_return_val_if_fail (self != NULL, FALSE);

  if (!strata_file_flush (self, error))
    return FALSE;

  if (rename (self->path, final_path) != 0)
    {
      int saved_errno = errno;

      strata_set_error_from_errno (error, saved_errno, final_path, "Could not rename %s to it",
                                   self->path);
      return FALSE;
    }

  g_free (self->path);
  self->path = g_strdup (final_path);
  self->flags &= ~STRATA_FILE_CREATE;

  dir = g_path_get_dirname (final_path);
  dfd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0)
    {
      (void) fsync (dfd);
      close (dfd);
    }

  return TRUE;
}

void
strata_file_unlink (StrataFile *self)
{
  g_return_if_fail (self != NULL);
  (void) g_unlink (self->path);
}

/* Locking, as QEMU's file-posix.c does it: shared OFD locks on single bytes. */

#define LOCK_PERM_BASE   100
#define LOCK_SHARED_BASE 200
#define N_PERMS          4

static gboolean
lock_byte (int fd, int byte, short type)
{
  struct flock fl = {
    .l_whence = SEEK_SET,
    .l_start = byte,
    .l_len = 1,
    .l_type = type,
  };

  return fcntl (fd, F_OFD_SETLK, &fl) == 0;
}

/* TRUE when another open file description holds a lock on @byte. */
static gboolean
byte_is_locked (int fd, int byte)
{
  struct flock fl = {
    .l_whence = SEEK_SET,
    .l_start = byte,
    .l_len = 1,
    .l_type = F_WRLCK,
  };

  if (fcntl (fd, F_OFD_GETLK, &fl) != 0)
    return FALSE;

  return fl.l_type != F_UNLCK;
}

static const char *
perm_name (int i)
{
  static const char *names[] = { "consistent read", "write", "write unchanged", "resize" };
  return names[i];
}

static int
find_conflict (StrataFile *self, StrataPerm perm, StrataPerm shared)
{
  for (int i = 0; i < N_PERMS; i++)
    {
      /* Someone refuses to share a permission we want. */
      if ((perm & (1 << i)) && byte_is_locked (self->fd, LOCK_SHARED_BASE + i))
        return i;
      /* Someone holds a permission we refuse to share. */
      if (!(shared & (1 << i)) && byte_is_locked (self->fd, LOCK_PERM_BASE + i))
        return i;
    }

  return -1;
}

gboolean
strata_file_test_conflict (StrataFile *self,
                           StrataPerm  perm,
                           StrataPerm  shared)
{
  g_return_val_if_fail (self != NULL, FALSE);
  return find_conflict (self, perm, shared) >= 0;
}

gboolean
strata_file_lock (StrataFile  *self,
                  StrataPerm   perm,
                  StrataPerm   shared,
                  GError     **error)
{
  int conflict;

  g_return_val_if_fail (self != NULL, FALSE);

  conflict = find_conflict (self, perm, shared);
  if (conflict >= 0)
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_LOCKED,
                   "%s: the image is in use by another process (it holds the \"%s\" lock); "
                   "is a virtual machine running on it?",
                   self->path, perm_name (conflict));
      return FALSE;
    }

  for (int i = 0; i < N_PERMS; i++)
    {
      if ((perm & (1 << i)) && !lock_byte (self->fd, LOCK_PERM_BASE + i, F_RDLCK))
        goto failed;
      if (!(shared & (1 << i)) && !lock_byte (self->fd, LOCK_SHARED_BASE + i, F_RDLCK))
        goto failed;
    }

  self->locked = TRUE;
  return TRUE;

failed:
  {
    int saved_errno = errno;

    strata_file_unlock (self);
    if (saved_errno == EAGAIN || saved_errno == EACCES)
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_LOCKED,
                   "%s: the image is in use by another process; "
                   "is a virtual machine running on it?", self->path);
    else
      strata_set_error_from_errno (error, saved_errno, self->path, "Could not lock the image");
    return FALSE;
  }
}

void
strata_file_unlock (StrataFile *self)
{
  struct flock fl = {
    .l_whence = SEEK_SET,
    .l_start = LOCK_PERM_BASE,
    .l_len = LOCK_SHARED_BASE + N_PERMS - LOCK_PERM_BASE,
    .l_type = F_UNLCK,
  };

  g_return_if_fail (self != NULL);

  (void) fcntl (self->fd, F_OFD_SETLK, &fl);
  self->locked = FALSE;
}
