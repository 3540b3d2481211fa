/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "strata-driver.h"
#include "strata-error.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

/* A chain deeper than this is treated as hostile. */
#define MAX_CHAIN_DEPTH 256

/* Enough of the file to recognise every format we know. */
#define PROBE_BYTES 2048

static const StrataDriver *drivers[] = {
  &strata_qcow2_driver,
  &strata_vmdk_driver,
  &strata_raw_driver,
};

static const StrataDriver *
find_driver (const char *name)
{
  for (guint i = 0; i < G_N_ELEMENTS (drivers); i++)
    if (g_strcmp0 (drivers[i]->name, name) == 0)
      return drivers[i];
  return NULL;
}

static const StrataDriver *
probe_file (StrataFile *file, GError **error)
{
  guint8 buf[PROBE_BYTES];
  const StrataDriver *best = &strata_raw_driver;
  int best_score = 0;
  guint64 size;
  gsize len;

  if (!strata_file_get_size (file, &size, error))
    return NULL;

  len = MIN (size, sizeof buf);
  if (!strata_file_pread (file, buf, len, 0, error))
    return NULL;

  for (guint i = 0; i < G_N_ELEMENTS (drivers); i++)
    {
      int score = drivers[i]->probe (buf, len, strata_file_get_path (file));

      if (score > best_score)
        {
          best_score = score;
          best = drivers[i];
        }
    }

  return best;
}

const char *
strata_probe_format (const char  *filename,
                     GError     **error)
{
  g_autoptr(StrataFile) file = NULL;
  const StrataDriver *driver;

  g_return_val_if_fail (filename != NULL, NULL);

  if (!(file = strata_file_open (filename, STRATA_FILE_READ, error)))
    return NULL;
  if (!(driver = probe_file (file, error)))
    return NULL;

  return driver->name;
}

static gboolean
name_has_protocol (const char *name)
{
  const char *colon = strchr (name, ':');
  const char *slash = strchr (name, '/');

  return colon != NULL && (slash == NULL || colon < slash);
}

char *
strata_resolve_backing_name (const char  *image_filename,
                             const char  *backing_name,
                             GError     **error)
{
  const char *slash;

  g_return_val_if_fail (image_filename != NULL, NULL);
  g_return_val_if_fail (backing_name != NULL, NULL);

  if (backing_name[0] == '\0')
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_BACKING,
                   "%s: the backing file name is empty", image_filename);
      return NULL;
    }

  if (g_str_has_prefix (backing_name, "json:"))
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_BACKING,
                   "%s: refusing to follow the json: backing name \"%s\"; Strata only follows "
                   "plain file names", image_filename, backing_name);
      return NULL;
    }

  if (name_has_protocol (backing_name))
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_BACKING,
                   "%s: refusing to follow the protocol backing name \"%s\"; Strata only "
                   "follows plain file names", image_filename, backing_name);
      return NULL;
    }

  if (g_path_is_absolute (backing_name))
    return g_strdup (backing_name);

  /* Like QEMU's path_combine(): relative to the folder of the image as it was named. */
  slash = strrchr (image_filename, '/');
  if (slash == NULL)
    return g_strdup (backing_name);

  return g_strdup_printf ("%.*s%s", (int) (slash - image_filename + 1), image_filename,
                          backing_name);
}

typedef struct
{
  dev_t dev;
  ino_t ino;
} FileId;

static gboolean
file_id_get (StrataFile *file, FileId *id)
{
  struct stat st;

  if (fstat (strata_file_get_fd (file), &st) != 0)
    return FALSE;
  id->dev = st.st_dev;
  id->ino = st.st_ino;
  return TRUE;
}

static StrataImage *
image_open_one (const char       *filename,
                const char       *format,
                StrataOpenFlags   flags,
                GArray           *seen,
                GError          **error)
{
  g_autoptr(StrataImage) self = NULL;
  g_autoptr(StrataFile) file = NULL;
  const StrataDriver *driver;
  FileId id;

  if (seen->len >= MAX_CHAIN_DEPTH)
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_BACKING,
                   "%s: the backing chain is deeper than %d images", filename,
                   MAX_CHAIN_DEPTH);
      return NULL;
    }

  file = strata_file_open (filename,
                           (flags & STRATA_OPEN_WRITE) ? STRATA_FILE_WRITE : STRATA_FILE_READ,
                           error);
  if (file == NULL)
    return NULL;

  if (file_id_get (file, &id))
    {
      for (guint i = 0; i < seen->len; i++)
        {
          FileId *other = &g_array_index (seen, FileId, i);

          if (other->dev == id.dev && other->ino == id.ino)
            {
              g_set_error (error, STRATA_ERROR, STRATA_ERROR_BACKING,
                           "%s: the backing chain loops (this file is already part of the "
                           "chain above it)", filename);
              return NULL;
            }
        }
      g_array_append_val (seen, id);
    }

  if (format != NULL)
    {
      if (!(driver = find_driver (format)))
        {
          g_set_error (error, STRATA_ERROR, STRATA_ERROR_UNSUPPORTED,
                       "%s: unknown image format \"%s\"", filename, format);
          return NULL;
        }
    }
  else if (!(driver = probe_file (file, error)))
    return NULL;

  /* Locks first: a running QEMU must not see us half-way. */
  if (!(flags & (STRATA_OPEN_FORCE_SHARE | STRATA_OPEN_NO_LOCK)))
    {
      StrataPerm perm = STRATA_PERM_CONSISTENT_READ;
      StrataPerm shared = STRATA_PERM_ALL & ~(STRATA_PERM_WRITE | STRATA_PERM_RESIZE);

      if (flags & STRATA_OPEN_WRITE)
        perm |= STRATA_PERM_WRITE | STRATA_PERM_RESIZE;

      if (!strata_file_lock (file, perm, shared, error))
        {
          if (!(flags & STRATA_OPEN_WRITE))
            g_prefix_error (error, "Use -U (force share) to read it anyway. ");
          return NULL;
        }
    }

  self = g_new0 (StrataImage, 1);
  g_atomic_ref_count_init (&self->ref_count);
  self->driver = driver;
  self->file = g_steal_pointer (&file);
  self->filename = g_strdup (filename);
  self->flags = flags;

  if (flags & STRATA_OPEN_FORCE_SHARE)
    self->in_use = strata_file_test_conflict (self->file, STRATA_PERM_CONSISTENT_READ,
                                              STRATA_PERM_ALL & ~STRATA_PERM_WRITE);

  if (!driver->open (self, error))
    {
      /* The driver must leave priv NULL when it fails, or free it in close. */
      return NULL;
    }

  if (self->backing_name != NULL && !(flags & STRATA_OPEN_NO_BACKING))
    {
      StrataOpenFlags bflags = flags & (STRATA_OPEN_FORCE_SHARE | STRATA_OPEN_NO_LOCK);

      if (flags & STRATA_OPEN_FORCE_SHARE_BACKING)
        bflags |= STRATA_OPEN_FORCE_SHARE;
      g_autoptr(GError) local_error = NULL;

      self->backing_path = strata_resolve_backing_name (filename, self->backing_name, error);
      if (self->backing_path == NULL)
        return NULL;

      self->backing = image_open_one (self->backing_path, self->backing_format, bflags, seen,
                                      &local_error);
      if (self->backing == NULL)
        {
          if (g_error_matches (local_error, STRATA_ERROR, STRATA_ERROR_NOT_FOUND))
            g_set_error (error, STRATA_ERROR, STRATA_ERROR_BACKING,
                         "%s: the backing file \"%s\" is missing (looked for %s)",
                         filename, self->backing_name, self->backing_path);
          else if (g_error_matches (local_error, STRATA_ERROR, STRATA_ERROR_BACKING) ||
                   strstr (local_error->message, filename) != NULL)
            g_propagate_error (error, g_steal_pointer (&local_error));
          else
            g_set_error (error, local_error->domain, local_error->code,
                         "%s: could not open its backing file: %s", filename,
                         local_error->message);
          return NULL;
        }
    }
  else if (self->backing_name != NULL)
    {
      g_autoptr(GError) ignored = NULL;

      self->backing_path = strata_resolve_backing_name (filename, self->backing_name, &ignored);
    }

  return g_steal_pointer (&self);
}

StrataImage *
strata_image_open (const char       *filename,
                   const char       *format,
                   StrataOpenFlags   flags,
                   GError          **error)
{
  g_autoptr(GArray) seen = NULL;

  g_return_val_if_fail (filename != NULL, NULL);

  seen = g_array_new (FALSE, FALSE, sizeof (FileId));
  return image_open_one (filename, format, flags, seen, error);
}

StrataImage *
strata_image_ref (StrataImage *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  g_atomic_ref_count_inc (&self->ref_count);
  return self;
}

void
strata_image_unref (StrataImage *self)
{
  g_return_if_fail (self != NULL);

  if (!g_atomic_ref_count_dec (&self->ref_count))
    return;

  if (self->driver != NULL && self->driver->close != NULL)
    self->driver->close (self);
  g_clear_pointer (&self->backing, strata_image_unref);
  g_clear_pointer (&self->file, strata_file_unref);
  g_free (self->filename);
  g_free (self->backing_name);
  g_free (self->backing_format);
  g_free (self->backing_path);
  g_free (self);
}

const char *
strata_image_get_filename (StrataImage *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  return self->filename;
}

const char *
strata_image_get_format (StrataImage *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  return self->driver->name;
}

guint64
strata_image_get_size (StrataImage *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return self->virtual_size;
}

StrataImage *
strata_image_get_backing (StrataImage *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  return self->backing;
}

const char *
strata_image_get_backing_name (StrataImage *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  return self->backing_name;
}

const char *
strata_image_get_backing_format (StrataImage *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  return self->backing_format;
}

const char *
strata_image_get_backing_path (StrataImage *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  return self->backing_path;
}

StrataFile *
strata_image_get_file (StrataImage *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  return self->file;
}

guint64
strata_image_get_cluster_size (StrataImage *self)
{
  g_return_val_if_fail (self != NULL, 0);

  if (self->driver->get_cluster_size == NULL)
    return 0;
  return self->driver->get_cluster_size (self);
}

gboolean
strata_image_is_writable (StrataImage *self)
{
  g_return_val_if_fail (self != NULL, FALSE);
  return (self->flags & STRATA_OPEN_WRITE) != 0;
}

GPtrArray *
strata_image_list_chain_files (StrataImage *self)
{
  GPtrArray *files = g_ptr_array_new ();

  g_return_val_if_fail (self != NULL, files);

  for (StrataImage *layer = self; layer != NULL; layer = layer->backing)
    {
      g_ptr_array_add (files, layer->file);
      if (layer->driver->list_files != NULL)
        layer->driver->list_files (layer, files);
    }

  return files;
}

static gboolean
check_range (StrataImage *self, guint64 offset, guint64 length, GError **error)
{
  if (offset > self->virtual_size || length > self->virtual_size - offset)
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_INVALID_ARGUMENT,
                   "%s: range 0x%" G_GINT64_MODIFIER "x+0x%" G_GINT64_MODIFIER "x is past the "
                   "end of the image (%" G_GUINT64_FORMAT " bytes)",
                   self->filename, offset, length, self->virtual_size);
      return FALSE;
    }
  return TRUE;
}

gboolean
strata_image_block_status (StrataImage       *self,
                           guint64            offset,
                           guint64            length,
                           StrataBlockStatus *status,
                           GError           **error)
{
  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (status != NULL, FALSE);

  memset (status, 0, sizeof *status);
  if (!check_range (self, offset, length, error))
    return FALSE;
  if (length == 0)
    return TRUE;

  if (!self->driver->block_status (self, offset, length, status, error))
    return FALSE;

  /* Drivers must make progress and stay inside the request. */
  g_assert (status->length > 0);
  status->length = MIN (status->length, length);
  return TRUE;
}

gboolean
strata_image_chain_status (StrataImage       *self,
                           guint64            offset,
                           guint64            length,
                           StrataChainStatus *status,
                           GError           **error)
{
  StrataImage *layer = self;
  int depth = 0;

  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (status != NULL, FALSE);

  memset (status, 0, sizeof *status);
  if (!check_range (self, offset, length, error))
    return FALSE;

  for (;;)
    {
      StrataBlockStatus bs;

      if (!strata_image_block_status (layer, offset, length, &bs, error))
        return FALSE;

      length = bs.length;

      if (bs.kind != STRATA_BLOCK_UNALLOCATED || layer->backing == NULL)
        {
          status->kind = bs.kind;
          status->length = length;
          status->depth = depth;
          status->layer = bs.kind != STRATA_BLOCK_UNALLOCATED ? layer : NULL;
          status->has_host_offset = bs.has_host_offset;
          status->host_offset = bs.host_offset;
          status->host_file = bs.host_file;
          status->compressed = bs.compressed;
          status->recurse = bs.recurse;
          return TRUE;
        }

      /* Past the end of a shorter backing file the guest reads zeros; like QEMU, the
       * layer whose backing ends there answers (qemu-img map shows its depth). */
      if (offset >= layer->backing->virtual_size)
        {
          status->kind = STRATA_BLOCK_UNALLOCATED;
          status->length = length;
          status->depth = depth;
          status->layer = NULL;
          /* An unallocated qcow2 subcluster keeps its place in the file: QEMU shows it. */
          status->has_host_offset = bs.has_host_offset;
          status->host_offset = bs.host_offset;
          status->host_file = bs.host_file;
          return TRUE;
        }

      length = MIN (length, layer->backing->virtual_size - offset);
      layer = layer->backing;
      depth++;
    }
}

gboolean
strata_image_read (StrataImage  *self,
                   guint64       offset,
                   gsize         length,
                   void         *buf,
                   GError      **error)
{
  guint8 *p = buf;

  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (buf != NULL || length == 0, FALSE);

  if (!check_range (self, offset, length, error))
    return FALSE;

  while (length > 0)
    {
      StrataBlockStatus bs;
      gsize n;

      if (!self->driver->block_status (self, offset, length, &bs, error))
        return FALSE;
      g_assert (bs.length > 0);
      n = MIN (bs.length, length);

      switch (bs.kind)
        {
        case STRATA_BLOCK_DATA:
          if (!self->driver->read (self, offset, n, p, error))
            return FALSE;
          break;

        case STRATA_BLOCK_ZERO:
          memset (p, 0, n);
          break;

        case STRATA_BLOCK_UNALLOCATED:
        default:
          if (self->backing != NULL && offset < self->backing->virtual_size)
            {
              gsize from_backing = MIN (n, self->backing->virtual_size - offset);

              if (!strata_image_read (self->backing, offset, from_backing, p, error))
                return FALSE;
              if (from_backing < n)
                memset (p + from_backing, 0, n - from_backing);
            }
          else
            memset (p, 0, n);
          break;
        }

      p += n;
      offset += n;
      length -= n;
    }

  return TRUE;
}

static gboolean
require_writable (StrataImage *self, gpointer op, const char *what, GError **error)
{
  if (!(self->flags & STRATA_OPEN_WRITE))
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_PERMISSION,
                   "%s: the image is open read-only", self->filename);
      return FALSE;
    }
  if (op == NULL)
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_UNSUPPORTED,
                   "%s: the %s format does not support %s", self->filename,
                   self->driver->name, what);
      return FALSE;
    }
  return TRUE;
}

gboolean
strata_image_write (StrataImage  *self,
                    guint64       offset,
                    gsize         length,
                    const void   *buf,
                    GError      **error)
{
  g_return_val_if_fail (self != NULL, FALSE);

  if (!require_writable (self, self->driver->write, "writing", error) ||
      !check_range (self, offset, length, error))
    return FALSE;
  if (length == 0)
    return TRUE;
  return self->driver->write (self, offset, length, buf, error);
}

static gboolean
write_zeroes (StrataImage  *self,
              guint64       offset,
              guint64       length,
              gboolean      masking,
              GError      **error)
{
  if (!require_writable (self, self->driver->write_zeroes, "zero writes", error) ||
      !check_range (self, offset, length, error))
    return FALSE;
  if (length == 0)
    return TRUE;
  /* A format without backing files has nothing that could show through. */
  if (masking && self->driver->write_zeroes_masking != NULL)
    return self->driver->write_zeroes_masking (self, offset, length, error);
  return self->driver->write_zeroes (self, offset, length, error);
}

gboolean
strata_image_write_zeroes (StrataImage  *self,
                           guint64       offset,
                           guint64       length,
                           GError      **error)
{
  g_return_val_if_fail (self != NULL, FALSE);
  return write_zeroes (self, offset, length, FALSE, error);
}

gboolean
strata_image_write_zeroes_masking (StrataImage  *self,
                                   guint64       offset,
                                   guint64       length,
                                   GError      **error)
{
  g_return_val_if_fail (self != NULL, FALSE);
  return write_zeroes (self, offset, length, TRUE, error);
}

gboolean
strata_image_discard (StrataImage  *self,
                      guint64       offset,
                      guint64       length,
                      GError      **error)
{
  g_return_val_if_fail (self != NULL, FALSE);

  if (!require_writable (self, self->driver->discard, "discarding", error) ||
      !check_range (self, offset, length, error))
    return FALSE;
  if (length == 0)
    return TRUE;
  return self->driver->discard (self, offset, length, error);
}

gboolean
strata_image_write_compressed (StrataImage  *self,
                               guint64       offset,
                               const void   *data,
                               gsize         length,
                               GError      **error)
{
  g_return_val_if_fail (self != NULL, FALSE);

  if (!require_writable (self, self->driver->write_compressed, "compression", error) ||
      !check_range (self, offset, 1, error))
    return FALSE;
  return self->driver->write_compressed (self, offset, data, length, error);
}

gboolean
strata_image_supports_compression (StrataImage *self)
{
  g_return_val_if_fail (self != NULL, FALSE);
  return self->driver->write_compressed != NULL;
}

StrataCompression
strata_image_get_compression (StrataImage *self)
{
  g_return_val_if_fail (self != NULL, STRATA_COMPRESSION_ZLIB);

  if (self->driver->get_compression == NULL)
    return STRATA_COMPRESSION_ZLIB;
  return self->driver->get_compression (self);
}

gboolean
strata_image_flush (StrataImage  *self,
                    GError      **error)
{
  g_return_val_if_fail (self != NULL, FALSE);

  if (!(self->flags & STRATA_OPEN_WRITE))
    return TRUE;
  if (self->driver->flush != NULL)
    return self->driver->flush (self, error);
  return strata_file_flush (self->file, error);
}

gboolean
strata_image_truncate (StrataImage  *self,
                       guint64       size,
                       GError      **error)
{
  g_return_val_if_fail (self != NULL, FALSE);

  if (!require_writable (self, self->driver->truncate, "resizing", error))
    return FALSE;
  return self->driver->truncate (self, size, error);
}

gboolean
strata_image_set_backing (StrataImage  *self,
                          const char   *backing_name,
                          const char   *backing_format,
                          GError      **error)
{
  g_return_val_if_fail (self != NULL, FALSE);

  if (!require_writable (self, self->driver->set_backing, "backing files", error))
    return FALSE;
  return self->driver->set_backing (self, backing_name, backing_format, error);
}

gboolean
strata_image_close (StrataImage  *self,
                    GError      **error)
{
  g_return_val_if_fail (self != NULL, FALSE);

  if (!(self->flags & STRATA_OPEN_WRITE))
    return TRUE;
  if (self->driver->close_clean != NULL)
    return self->driver->close_clean (self, error);
  return strata_image_flush (self, error);
}

/* Hostile images can have millions of tiny runs; past this many the count is left unknown
 * rather than making `info` slow. */
#define MAX_ALLOCATION_RUNS (1 << 22)

static void
count_allocated (StrataImage     *self,
                 StrataImageInfo *info)
{
  guint64 offset = 0;
  guint64 total = 0;

  for (guint runs = 0; offset < self->virtual_size; runs++)
    {
      StrataBlockStatus bs;

      if (runs >= MAX_ALLOCATION_RUNS ||
          !strata_image_block_status (self, offset, self->virtual_size - offset, &bs, NULL))
        return;
      if (bs.kind != STRATA_BLOCK_UNALLOCATED)
        total += bs.length;
      offset += bs.length;
    }

  info->allocated_bytes = total;
  info->has_allocated_bytes = TRUE;
}

StrataImageInfo *
strata_image_get_info (StrataImage  *self,
                       GError      **error)
{
  StrataImageInfo *info;
  struct stat st;

  g_return_val_if_fail (self != NULL, NULL);

  info = g_new0 (StrataImageInfo, 1);
  info->filename = g_strdup (self->filename);
  info->format = g_strdup (self->driver->name);
  info->virtual_size = self->virtual_size;
  info->actual_size = strata_file_get_allocated (self->file);
  info->backing_filename = g_strdup (self->backing_name);
  info->full_backing_filename = g_strdup (self->backing_path);
  info->backing_format = g_strdup (self->backing_format);
  info->in_use = self->in_use;

  if (fstat (strata_file_get_fd (self->file), &st) == 0)
    info->read_only_mode = (st.st_mode & (S_IWUSR | S_IWGRP | S_IWOTH)) == 0;

  if (self->driver->fill_info != NULL)
    self->driver->fill_info (self, info);

  if (!info->has_allocated_bytes)
    count_allocated (self, info);

  return info;
}

void
strata_image_info_free (StrataImageInfo *info)
{
  if (info == NULL)
    return;

  g_free (info->filename);
  g_free (info->format);
  g_free (info->backing_filename);
  g_free (info->full_backing_filename);
  g_free (info->backing_format);
  g_clear_pointer (&info->format_specific, g_variant_unref);
  g_clear_pointer (&info->snapshots, g_ptr_array_unref);
  g_strfreev (info->warnings);
  g_free (info);
}

void
strata_snapshot_info_free (StrataSnapshotInfo *info)
{
  if (info == NULL)
    return;

  g_free (info->id);
  g_free (info->name);
  g_free (info);
}
