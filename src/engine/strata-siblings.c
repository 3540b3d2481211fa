/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "strata-siblings.h"
#include "strata-error.h"
#include "strata-file.h"
#include "strata-image.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

typedef struct
{
  dev_t dev;
  ino_t ino;
} FileId;

static gboolean
file_id_of (const char *path, FileId *id)
{
  struct stat st;

  if (stat (path, &st) != 0)
    return FALSE;
  id->dev = st.st_dev;
  id->ino = st.st_ino;
  return TRUE;
}

static gboolean
file_id_equal (const FileId *a, const FileId *b)
{
  return a->dev == b->dev && a->ino == b->ino;
}

static gboolean
is_temp_name (const char *name)
{
  return name[0] == '.' && strstr (name, ".strata-") != NULL;
}

static int
compare_paths (gconstpointer a, gconstpointer b)
{
  return strcmp (*(char * const *) a, *(char * const *) b);
}

typedef enum
{
  USES_NO,
  USES_YES,
  USES_UNKNOWN,
} Uses;

static gboolean
has_image_suffix (const char *name)
{
  return g_str_has_suffix (name, ".qcow2") || g_str_has_suffix (name, ".qcow") ||
         g_str_has_suffix (name, ".vmdk") || g_str_has_suffix (name, ".img");
}

/* When the driver cannot open @path, its raw header still tells whether it is a qcow2 or
 * VMDK image and (qcow2) which backing name it stores: an image we cannot inspect fully may
 * still use the base, and a guard that skipped it would let a commit change its content. */
static Uses
uses_base_raw (const char *path, const FileId *base_id, const char *open_error, char **why)
{
  g_autoptr(StrataFile) file = NULL;
  g_autoptr(GError) local_error = NULL;
  guint8 h[20] = { 0 };
  guint64 name_offset, size = 0;
  guint32 name_len;

  file = strata_file_open (path, STRATA_FILE_READ, &local_error);
  if (file == NULL || !strata_file_pread_zerofill (file, h, sizeof h, 0, &local_error))
    {
      if (!has_image_suffix (path))
        return USES_NO;
      *why = g_strdup (local_error->message);
      return USES_UNKNOWN;
    }
  if (memcmp (h, "KDMV", 4) == 0 || memcmp (h, "# Disk DescriptorFile", 20) == 0)
    {
      *why = g_strdup (open_error);
      return USES_UNKNOWN;
    }
  if (memcmp (h, "QFI\xfb", 4) != 0)
    return USES_NO;

  name_offset = GUINT64_FROM_BE (*(guint64 *) (void *) (h + 8));
  name_len = GUINT32_FROM_BE (*(guint32 *) (void *) (h + 16));
  if (name_offset == 0 || name_len == 0)
    return USES_NO;
  if (name_len <= 1023 && strata_file_get_size (file, &size, NULL) &&
      name_offset + name_len <= size)
    {
      g_autofree char *name = g_malloc0 (name_len + 1);
      g_autofree char *resolved = NULL;
      FileId id;

      if (strata_file_pread (file, name, name_len, name_offset, NULL) &&
          strlen (name) == name_len &&
          (resolved = strata_resolve_backing_name (path, name, NULL)) != NULL)
        {
          if (file_id_of (resolved, &id))
            return file_id_equal (&id, base_id) ? USES_YES : USES_NO;
        }
    }
  *why = g_strdup (open_error);
  return USES_UNKNOWN;
}

/* Whether @path is an image whose immediate backing resolves to @base_id. */
static Uses
uses_base (const char *path, const FileId *base_id, char **why)
{
  g_autoptr(StrataImage) image = NULL;
  g_autoptr(GError) local_error = NULL;
  g_autofree char *resolved = NULL;
  const char *backing_name;
  FileId id;

  /* Force-share: a running VM on a sibling must not hide it from the guard. */
  image = strata_image_open (path, NULL, STRATA_OPEN_NO_BACKING | STRATA_OPEN_FORCE_SHARE,
                             &local_error);
  if (image == NULL)
    return uses_base_raw (path, base_id, local_error->message, why);

  backing_name = strata_image_get_backing_name (image);
  if (backing_name == NULL)
    return USES_NO;

  resolved = strata_resolve_backing_name (path, backing_name, NULL);
  if (resolved == NULL)
    return USES_NO;

  return file_id_of (resolved, &id) && file_id_equal (&id, base_id) ? USES_YES : USES_NO;
}

char **
strata_find_siblings (const char          *base,
                      const char * const  *library_dirs,
                      const char          *exclude,
                      GCancellable        *cancellable,
                      GError             **error)
{
  return strata_find_siblings_full (base, library_dirs, exclude, NULL, cancellable, error);
}

char **
strata_find_siblings_full (const char          *base,
                           const char * const  *library_dirs,
                           const char          *exclude,
                           char              ***unsure,
                           GCancellable        *cancellable,
                           GError             **error)
{
  g_autoptr(GPtrArray) unknown = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GPtrArray) dirs = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GArray) seen_dirs = g_array_new (FALSE, FALSE, sizeof (FileId));
  g_autoptr(GArray) seen_files = g_array_new (FALSE, FALSE, sizeof (FileId));
  g_autoptr(GPtrArray) found = g_ptr_array_new_with_free_func (g_free);
  FileId base_id, exclude_id = { 0 };
  gboolean has_exclude = FALSE;

  g_return_val_if_fail (base != NULL, NULL);

  if (!file_id_of (base, &base_id))
    {
      int saved_errno = errno;

      strata_set_error_from_errno (error, saved_errno, base, "Could not open");
      return NULL;
    }
  if (exclude != NULL)
    has_exclude = file_id_of (exclude, &exclude_id);

  g_ptr_array_add (dirs, g_path_get_dirname (base));
  /* The overlay's own folder: its siblings often live next to it, not next to the base. */
  if (exclude != NULL)
    g_ptr_array_add (dirs, g_path_get_dirname (exclude));
  for (guint i = 0; library_dirs != NULL && library_dirs[i] != NULL; i++)
    g_ptr_array_add (dirs, g_strdup (library_dirs[i]));

  for (guint d = 0; d < dirs->len; d++)
    {
      const char *dir_path = g_ptr_array_index (dirs, d);
      g_autoptr(GDir) dir = NULL;
      const char *name;
      FileId dir_id;

      if (!file_id_of (dir_path, &dir_id))
        continue;
      for (guint k = 0; k < seen_dirs->len; k++)
        if (file_id_equal (&g_array_index (seen_dirs, FileId, k), &dir_id))
          goto next_dir;
      g_array_append_val (seen_dirs, dir_id);

      dir = g_dir_open (dir_path, 0, NULL);
      if (dir == NULL)
        continue;

      while ((name = g_dir_read_name (dir)) != NULL)
        {
          g_autofree char *path = NULL;
          struct stat st;
          FileId id;
          gboolean dup = FALSE;

          if (g_cancellable_set_error_if_cancelled (cancellable, error))
            return NULL;
          if (is_temp_name (name))
            continue;

          path = g_build_filename (dir_path, name, NULL);
          /* Only regular files: opening a FIFO or a device could block or hurt. */
          if (stat (path, &st) != 0 || !S_ISREG (st.st_mode))
            continue;
          id.dev = st.st_dev;
          id.ino = st.st_ino;
          if (file_id_equal (&id, &base_id) || (has_exclude && file_id_equal (&id, &exclude_id)))
            continue;
          for (guint k = 0; k < seen_files->len && !dup; k++)
            dup = file_id_equal (&g_array_index (seen_files, FileId, k), &id);
          if (dup)
            continue;
          g_array_append_val (seen_files, id);

          {
            g_autofree char *why = NULL;

            switch (uses_base (path, &base_id, &why))
              {
              case USES_YES:
                g_ptr_array_add (found, g_steal_pointer (&path));
                break;
              case USES_UNKNOWN:
                g_ptr_array_add (unknown,
                                 g_strdup_printf ("could not tell whether %s uses the "
                                                  "base: %s", path, why));
                break;
              case USES_NO:
              default:
                break;
              }
          }
        }
    next_dir:
      ;
    }

  g_ptr_array_sort (found, compare_paths);
  g_ptr_array_add (found, NULL);
  if (unsure != NULL)
    {
      g_ptr_array_sort (unknown, compare_paths);
      g_ptr_array_add (unknown, NULL);
      *unsure = (char **) g_ptr_array_free (g_steal_pointer (&unknown), FALSE);
    }
  return (char **) g_ptr_array_free (g_steal_pointer (&found), FALSE);
}
