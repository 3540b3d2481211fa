/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "strata-target.h"
#include "strata-error.h"
#include "strata-protect.h"

#include <errno.h>
#include <sys/stat.h>

gboolean
strata_target_check_replace (const char   *target,
                             StrataImage  *source,
                             guint        *mode,
                             GError      **error)
{
  g_autoptr(StrataFile) file = NULL;
  struct stat st;

  g_return_val_if_fail (target != NULL, FALSE);

  if (mode != NULL)
    *mode = 0;

  if (lstat (target, &st) != 0)
    {
      int saved_errno = errno;

      if (saved_errno == ENOENT)
        return TRUE;
      strata_set_error_from_errno (error, saved_errno, target, "Could not look at the target");
      return FALSE;
    }

  if (S_ISLNK (st.st_mode))
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_INVALID_ARGUMENT,
                   "%s: is a symbolic link; Strata replaces the file at the name it is given "
                   "and does not write through links (name the link's destination instead)",
                   target);
      return FALSE;
    }

  if (S_ISDIR (st.st_mode))
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_INVALID_ARGUMENT,
                   "%s: is a directory", target);
      return FALSE;
    }

  if (!S_ISREG (st.st_mode))
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_INVALID_ARGUMENT,
                   "%s: is not a regular file (a device, FIFO or socket); Strata writes new "
                   "images to regular files only", target);
      return FALSE;
    }

  if (source != NULL)
    {
      g_autoptr(GPtrArray) files = strata_image_list_chain_files (source);

      for (guint i = 0; i < files->len; i++)
        {
          StrataFile *f = g_ptr_array_index (files, i);
          const char *what = "part of the source (one of its extent files)";
          struct stat fst;

          if (fstat (strata_file_get_fd (f), &fst) != 0 ||
              fst.st_dev != st.st_dev || fst.st_ino != st.st_ino)
            continue;

          for (StrataImage *layer = source; layer != NULL;
               layer = strata_image_get_backing (layer))
            if (strata_image_get_file (layer) == f)
              what = layer == source ? "the source image"
                                     : "part of the source's backing chain";

          g_set_error (error, STRATA_ERROR, STRATA_ERROR_INVALID_ARGUMENT,
                       "%s: refusing to overwrite %s, which is %s", target,
                       strata_file_get_path (f), what);
          return FALSE;
        }
    }

  if (!strata_protect_check_writable (target, error))
    return FALSE;

  /* Any QEMU lock at all means a process has the image open. */
  file = strata_file_open (target, STRATA_FILE_READ, NULL);
  if (file != NULL && strata_file_test_conflict (file, STRATA_PERM_ALL, 0))
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_LOCKED,
                   "%s: refusing to replace an image that another process (a running virtual "
                   "machine?) holds open", target);
      return FALSE;
    }

  if (mode != NULL)
    *mode = st.st_mode & 07777;

  return TRUE;
}

void
strata_target_apply_mode (StrataFile *tmp,
                          guint       mode)
{
  g_return_if_fail (tmp != NULL);

  if (mode != 0)
    (void) fchmod (strata_file_get_fd (tmp), mode);
}
