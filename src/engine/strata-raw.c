/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "strata-driver.h"
#include "strata-error.h"

/* raw: the guest disk, byte for byte. Holes in the file are zeros. */

static int
raw_probe (const guint8 *buf, gsize len, const char *filename)
{
  /* Anything that no other driver claims. */
  return 1;
}

static gboolean
raw_open (StrataImage  *self,
          GError      **error)
{
  guint64 size;

  if (!strata_file_get_size (self->file, &size, error))
    return FALSE;

  /* QEMU counts whole 512-byte sectors: the tail of a file of odd length reads as zeros
   * up to the next sector, and qemu-img reports that rounded size. */
  self->virtual_size = (size + 511) & ~(guint64) 511;
  return TRUE;
}

static void
raw_close (StrataImage *self)
{
}

static gboolean
raw_block_status (StrataImage       *self,
                  guint64            offset,
                  guint64            length,
                  StrataBlockStatus *status,
                  GError           **error)
{
  gboolean is_data;
  guint64 pnum;

  if (!strata_file_seek_data (self->file, offset, length, &is_data, &pnum, error))
    return FALSE;

  status->kind = is_data ? STRATA_BLOCK_DATA : STRATA_BLOCK_ZERO;
  status->length = pnum;
  status->has_host_offset = TRUE;
  status->host_offset = offset;
  status->host_file = self->file;
  return TRUE;
}

static gboolean
raw_read (StrataImage  *self,
          guint64       offset,
          gsize         length,
          void         *buf,
          GError      **error)
{
  return strata_file_pread_zerofill (self->file, buf, length, offset, error);
}

static void
raw_fill_info (StrataImage     *self,
               StrataImageInfo *info)
{
}

static gboolean
raw_write (StrataImage  *self,
           guint64       offset,
           gsize         length,
           const void   *buf,
           GError      **error)
{
  return strata_file_pwrite (self->file, buf, length, offset, error);
}

static gboolean
raw_write_zeroes (StrataImage  *self,
                  guint64       offset,
                  guint64       length,
                  GError      **error)
{
  return strata_file_punch_hole (self->file, offset, length, error);
}

static gboolean
raw_flush (StrataImage  *self,
           GError      **error)
{
  return strata_file_flush (self->file, error);
}

static gboolean
raw_truncate (StrataImage  *self,
              guint64       size,
              GError      **error)
{
  if (!strata_file_truncate (self->file, size, error))
    return FALSE;
  self->virtual_size = size;
  return TRUE;
}

const StrataDriver strata_raw_driver = {
  .name = "raw",
  .probe = raw_probe,
  .open = raw_open,
  .close = raw_close,
  .block_status = raw_block_status,
  .read = raw_read,
  .fill_info = raw_fill_info,
  .write = raw_write,
  .write_zeroes = raw_write_zeroes,
  /* A raw file has no backing: discarding makes zeros, like QEMU's unmap on a file. */
  .discard = raw_write_zeroes,
  .flush = raw_flush,
  .truncate = raw_truncate,
};
