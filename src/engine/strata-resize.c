/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "strata-resize.h"

#include "strata-error.h"
#include "strata-qcow2-prealloc.h"

#include <string.h>

static gboolean
preallocate (StrataImage     *image,
             StrataPrealloc   prealloc,
             guint64          from,
             guint64          to,
             GError         **error)
{
  if (!strata_raw_preallocate (strata_image_get_file (image), prealloc, from, to, error))
    {
      g_prefix_error (error, "%s: Could not preallocate new data: ",
                      strata_image_get_filename (image));
      return FALSE;
    }
  return TRUE;
}

gboolean
strata_resize_sync (const char                *filename,
                    const StrataResizeOptions *opts,
                    int                        relative,
                    guint64                    size,
                    GError                   **error)
{
  g_autoptr(StrataImage) image = NULL;
  const char *format;
  guint64 old_size, new_size;
  gboolean raw, ok;

  g_return_val_if_fail (filename != NULL, FALSE);
  g_return_val_if_fail (opts != NULL, FALSE);

  image = strata_image_open (filename, opts->format, STRATA_OPEN_WRITE, error);
  if (image == NULL)
    return FALSE;
  format = strata_image_get_format (image);
  raw = strcmp (format, "raw") == 0;
  if (!raw && strcmp (format, "qcow2") != 0)
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_UNSUPPORTED,
                   "%s: resizing %s images is not supported (raw and qcow2 only)", filename,
                   format);
      return FALSE;
    }

  old_size = strata_image_get_size (image);
  if (relative < 0)
    new_size = size >= old_size ? 0 : old_size - size;
  else if (relative > 0)
    new_size = size > G_MAXINT64 - old_size ? G_MAXUINT64 : old_size + size;
  else
    new_size = size;

  /* qemu-img's checks, in its order and words. */
  if (new_size == 0 || new_size > G_MAXINT64)
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_INVALID_ARGUMENT,
                   "New image size must be positive");
      return FALSE;
    }
  if (opts->prealloc != STRATA_PREALLOC_OFF && new_size <= old_size)
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_INVALID_ARGUMENT,
                   "Preallocation can only be used for growing images");
      return FALSE;
    }
  if (opts->prealloc == STRATA_PREALLOC_METADATA && raw)
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_UNSUPPORTED,
                   "Unsupported preallocation mode: metadata");
      return FALSE;
    }
  if (new_size < old_size && !opts->shrink)
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_INVALID_ARGUMENT,
                   "Use the --shrink option to perform a shrink operation.");
      return FALSE;
    }
  if (!raw && new_size % 512 != 0)
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_INVALID_ARGUMENT,
                   "The new size must be a multiple of 512");
      return FALSE;
    }
  /* qcow2: the new size first (crash-safe growth), then the clusters of the new area. */
  ok = strata_image_truncate (image, new_size, error) &&
       (new_size <= old_size ||
        (raw ? preallocate (image, opts->prealloc, old_size, new_size, error)
             : strata_qcow2_preallocate (image, old_size, new_size, opts->prealloc, error)));
  if (!ok)
    {
      g_autoptr(GError) ignored = NULL;

      strata_image_close (image, &ignored);
      return FALSE;
    }
  return strata_image_close (image, error);
}
