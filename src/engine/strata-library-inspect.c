/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Inspecting one file for the library, in a worker thread: is it an image, and what does its
 * header say. Only the header and what the driver reads to open the image are read; the
 * allocation count that strata_image_get_info() works out from the L2 tables is left out.
 */
#include "strata-library-private.h"
#include "strata-driver.h"
#include "strata-error.h"
#include "strata-file.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

/* How many block-status runs at the start of a qcow2 image are sampled for compressed
 * clusters; they stay inside the range of the first L2 table (two with extended L2
 * entries): one read or two at most. */
#define COMPRESSED_SAMPLE_RUNS 16

char *
lib_file_id (dev_t dev,
             ino_t ino)
{
  return g_strdup_printf ("%" G_GUINT64_FORMAT ":%" G_GUINT64_FORMAT,
                          (guint64) dev, (guint64) ino);
}

gboolean
lib_is_temp_name (const char *name)
{
  /* Ours: ".NAME.strata-XXXXXX". */
  if (name[0] == '.' && strstr (name, ".strata-") != NULL)
    return TRUE;
  /* QEMU's: the temporary overlay of -snapshot, "vl.XXXXXX" (mkstemp). */
  if (strncmp (name, "vl.", 3) == 0 && strlen (name) == 9)
    {
      for (guint i = 3; i < 9; i++)
        if (!g_ascii_isalnum (name[i]))
          return FALSE;
      return TRUE;
    }
  return FALSE;
}

static gboolean
has_image_suffix (const char *path)
{
  static const char * const suffixes[] = {
    ".qcow2", ".qcow", ".vmdk", ".img", ".raw",
  };

  for (guint i = 0; i < G_N_ELEMENTS (suffixes); i++)
    if (g_str_has_suffix (path, suffixes[i]))
      return TRUE;
  return FALSE;
}

/* Raw images have no magic: in a folder, a raw file is an image only when its name says so
 * (a disk image suffix), it is not empty and it is not an ISO 9660 file system. */
static gboolean
raw_looks_like_image (StrataImage *image,
                      const char  *path,
                      guint64      size)
{
  StrataFile *file = strata_image_get_file (image);
  char cd[5] = { 0 };

  if (size == 0 || !has_image_suffix (path) || g_str_has_suffix (path, ".iso"))
    return FALSE;
  if (size >= 0x8006 && strata_file_pread (file, cd, sizeof cd, 0x8001, NULL) &&
      memcmp (cd, "CD001", 5) == 0)
    return FALSE;
  return TRUE;
}

/* When the driver refuses a file, its first bytes still tell whether it claims to be an
 * image (then it is unreadable, not skipped). */
static gboolean
claims_to_be_image (const char *path)
{
  g_autoptr(StrataFile) file = NULL;
  guint8 h[21] = { 0 };

  if (has_image_suffix (path))
    return TRUE;
  file = strata_file_open (path, STRATA_FILE_READ, NULL);
  if (file == NULL || !strata_file_pread_zerofill (file, h, sizeof h, 0, NULL))
    return FALSE;
  return memcmp (h, "QFI\xfb", 4) == 0 || memcmp (h, "KDMV", 4) == 0 ||
         memcmp (h, "COWD", 4) == 0 || memcmp (h, "# Disk DescriptorFile", 21) == 0;
}

static gint64
timespec_ns (const struct timespec *ts)
{
  return (gint64) ts->tv_sec * G_GINT64_CONSTANT (1000000000) + ts->tv_nsec;
}

static void
fill_stat (LibEntry          *entry,
           const struct stat *st)
{
  entry->dev = st->st_dev;
  entry->ino = st->st_ino;
  entry->size = st->st_size;
  entry->mtime_ns = timespec_ns (&st->st_mtim);
  entry->ctime_ns = timespec_ns (&st->st_ctim);
  entry->allocated = (guint64) st->st_blocks * 512;
  entry->protected = (st->st_mode & (S_IWUSR | S_IWGRP | S_IWOTH)) == 0;
}

/* strata_image_get_info() without the allocation walk. */
static StrataImageInfo *
header_info (StrataImage       *image,
             const struct stat *st)
{
  StrataImageInfo *info = g_new0 (StrataImageInfo, 1);

  info->filename = g_strdup (strata_image_get_filename (image));
  info->format = g_strdup (strata_image_get_format (image));
  info->virtual_size = strata_image_get_size (image);
  info->actual_size = (guint64) st->st_blocks * 512;
  info->backing_filename = g_strdup (strata_image_get_backing_name (image));
  info->full_backing_filename = g_strdup (strata_image_get_backing_path (image));
  info->backing_format = g_strdup (strata_image_get_backing_format (image));
  info->in_use = image->in_use;
  info->read_only_mode = (st->st_mode & (S_IWUSR | S_IWGRP | S_IWOTH)) == 0;
  if (image->driver->fill_info != NULL)
    image->driver->fill_info (image, info);
  return info;
}

static gboolean
sample_compressed (StrataImage *image)
{
  guint64 cluster = strata_image_get_cluster_size (image);
  /* The guest range the first L2 table maps (cluster / 8 entries of one cluster each). */
  guint64 size = MIN (strata_image_get_size (image), cluster * (cluster / 8));
  guint64 offset = 0;

  for (guint i = 0; i < COMPRESSED_SAMPLE_RUNS && offset < size; i++)
    {
      StrataBlockStatus bs;

      if (!strata_image_block_status (image, offset, size - offset, &bs, NULL) ||
          bs.length == 0)
        return FALSE;
      if (bs.compressed)
        return TRUE;
      offset += bs.length;
    }
  return FALSE;
}

static void
fill_from_format_specific (LibEntry *entry)
{
  GVariant *fs = entry->info->format_specific;
  const char *s = NULL;
  gboolean b = FALSE;

  if (fs == NULL)
    return;

  if (g_variant_lookup (fs, "compat", "&s", &s))
    entry->format_version = g_str_equal (s, "0.10") ? 2 : 3;
  if (g_variant_lookup (fs, "compression-type", "&s", &s))
    entry->compression_type = g_strdup (s);
  if (g_variant_lookup (fs, "corrupt", "b", &b))
    entry->corrupt = b;
  if (g_variant_lookup (fs, "create-type", "&s", &s))
    entry->compressed = g_str_equal (s, "streamOptimized");
}

gboolean
lib_stat_id (const char  *path,
             dev_t       *dev,
             ino_t       *ino,
             char       **error)
{
  struct stat st;

  if (stat (path, &st) != 0)
    {
      int saved_errno = errno;

      *error = g_strdup_printf ("%s: %s", path, g_strerror (saved_errno));
      return FALSE;
    }
  *dev = st.st_dev;
  *ino = st.st_ino;
  return TRUE;
}

void
lib_entry_stat_backing (LibEntry *entry)
{
  entry->backing_exists = FALSE;
  g_clear_pointer (&entry->backing_stat_error, g_free);
  if (entry->backing_path != NULL)
    entry->backing_exists = lib_stat_id (entry->backing_path, &entry->backing_dev,
                                         &entry->backing_ino, &entry->backing_stat_error);
}

LibEntry *
lib_entry_inspect (const char *path,
                   const char *folder,
                   gboolean    force_share)
{
  g_autoptr(LibEntry) entry = g_new0 (LibEntry, 1);
  g_autoptr(StrataImage) image = NULL;
  g_autoptr(GError) error = NULL;
  StrataOpenFlags flags = STRATA_OPEN_NO_BACKING;
  const char *format;
  struct stat st;

  entry->path = g_strdup (path);
  entry->folder = g_strdup (folder);

  if (stat (path, &st) != 0)
    {
      int saved_errno = errno;

      entry->error = g_strdup_printf ("%s: %s", path, g_strerror (saved_errno));
      /* A file we cannot even stat cannot be told apart from a missing one. */
      return g_steal_pointer (&entry);
    }
  entry->exists = TRUE;
  fill_stat (entry, &st);
  {
    struct stat lst;

    entry->is_link = lstat (path, &lst) == 0 && S_ISLNK (lst.st_mode);
  }

  /* Only regular files: opening a FIFO or a device could block or hurt. */
  if (!S_ISREG (st.st_mode))
    {
      entry->is_dir = S_ISDIR (st.st_mode);
      if (folder == NULL)
        {
          entry->is_image = TRUE;
          entry->unreadable = TRUE;
          entry->error = g_strdup_printf ("%s: not a regular file", path);
        }
      return g_steal_pointer (&entry);
    }

  if (force_share)
    flags |= STRATA_OPEN_FORCE_SHARE;
  image = strata_image_open (path, NULL, flags, &error);
  if (image == NULL)
    {
      if (g_error_matches (error, STRATA_ERROR, STRATA_ERROR_LOCKED))
        entry->in_use = TRUE;
      if (folder == NULL || entry->in_use || claims_to_be_image (path))
        {
          entry->is_image = TRUE;
          entry->unreadable = TRUE;
          entry->error = g_strdup (error->message);
        }
      return g_steal_pointer (&entry);
    }

  format = strata_image_get_format (image);
  if (folder != NULL && g_str_equal (format, "raw") &&
      !raw_looks_like_image (image, path, st.st_size))
    return g_steal_pointer (&entry);

  entry->is_image = TRUE;
  entry->in_use = image->in_use;
  entry->info = header_info (image, &st);
  fill_from_format_specific (entry);
  if (g_str_equal (format, "vmdk"))
    entry->allocated = entry->info->actual_size; /* the descriptor plus its extents */
  else if (g_str_equal (format, "qcow2"))
    entry->compressed = sample_compressed (image);

  /* The same decision strata_is_protected() takes, from the stat we already have. */
  entry->protected = entry->info->read_only_mode;

  if (entry->info->backing_filename != NULL)
    {
      g_autoptr(GError) backing_error = NULL;

      entry->backing_path = strata_resolve_backing_name (path, entry->info->backing_filename,
                                                         &backing_error);
      if (entry->backing_path == NULL)
        entry->backing_error = g_strdup (backing_error->message);
      lib_entry_stat_backing (entry);
    }

  return g_steal_pointer (&entry);
}

gboolean
lib_entry_unchanged (const LibEntry *entry,
                     const char     *path)
{
  struct stat st;

  if (stat (path, &st) != 0)
    return !entry->exists;
  return entry->exists && entry->dev == st.st_dev && entry->ino == st.st_ino &&
         entry->size == (guint64) st.st_size && entry->mtime_ns == timespec_ns (&st.st_mtim) &&
         entry->ctime_ns == timespec_ns (&st.st_ctim);
}

gboolean
lib_probe_in_use (const char *path)
{
  g_autoptr(StrataFile) file = strata_file_open (path, STRATA_FILE_READ, NULL);

  if (file == NULL)
    return FALSE;
  /* The same question strata_image_open() asks with force-share. */
  return strata_file_test_conflict (file, STRATA_PERM_CONSISTENT_READ,
                                    STRATA_PERM_ALL & ~STRATA_PERM_WRITE);
}

void
lib_entry_free (LibEntry *entry)
{
  if (entry == NULL)
    return;
  g_free (entry->path);
  g_free (entry->folder);
  g_free (entry->error);
  g_clear_pointer (&entry->info, strata_image_info_free);
  g_free (entry->compression_type);
  g_free (entry->backing_path);
  g_free (entry->backing_error);
  g_free (entry->backing_stat_error);
  g_free (entry);
}
