/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "strata-img-progress.h"

#include <stdio.h>
#include <string.h>

/* qemu-img's copy buffer: the chunk size of convert and rebase. */
#define IO_BUF_SIZE (2u * 1024 * 1024)
#define SECTOR 512u
/* The largest block-status request QEMU makes, in sectors. */
#define REQUEST_MAX_SECTORS ((guint64) (G_MAXINT / SECTOR))

struct _StrataImgProgress
{
  /* qemu-img's state, in single precision as it keeps it: the values it prints depend on
   * float rounding. */
  float   current;
  float   last_print;
  float   min_skip;
  GArray *lines;   /* float: the values printed, in order */
  guint   printed; /* how many of them are on stdout */
};

StrataImgProgress *
strata_img_progress_new (float min_skip)
{
  StrataImgProgress *self = g_new0 (StrataImgProgress, 1);

  self->min_skip = min_skip;
  self->lines = g_array_new (FALSE, FALSE, sizeof (float));
  return self;
}

void
strata_img_progress_free (StrataImgProgress *self)
{
  if (self == NULL)
    return;
  g_array_unref (self->lines);
  g_free (self);
}

void
strata_img_progress_step (StrataImgProgress *self,
                          float              delta,
                          int                max)
{
  float current;

  if (max == 0)
    current = delta;
  else
    current = self->current + delta / 100 * (float) max;
  if (current > 100)
    current = 100;
  self->current = current;

  if (current > self->last_print + self->min_skip ||
      current < self->last_print - self->min_skip ||
      current == 0 || current == 100)
    {
      self->last_print = current;
      g_array_append_val (self->lines, current);
    }
}

static void
print_line (float value)
{
  printf ("    (%3.2f/100%%)\r", (double) value);
}

void
strata_img_progress_play (StrataImgProgress *self,
                          double             fraction)
{
  gboolean any = FALSE;

  while (self->printed < self->lines->len &&
         g_array_index (self->lines, float, self->printed) <= fraction * 100.0 + 1e-6)
    {
      print_line (g_array_index (self->lines, float, self->printed++));
      any = TRUE;
    }
  if (any)
    fflush (stdout);
}

void
strata_img_progress_live (StrataImgProgress *self,
                          double             fraction)
{
  strata_img_progress_step (self, (float) (fraction * 100.0), 0);
  strata_img_progress_play (self, 1.0);
}

void
strata_img_progress_end (StrataImgProgress *self,
                         gboolean           ok)
{
  if (ok)
    {
      strata_img_progress_step (self, 100, 0);
      strata_img_progress_play (self, 1.0);
    }
  printf ("\n");
  fflush (stdout);
}

/* The log2 of the guest bytes one L2 table of a qcow2 layer maps, or 0 for other formats:
 * QEMU's qcow2 block status never reaches past one table. */
static guint
l2_coverage_bits (StrataImage *layer)
{
  guint8 header[80];
  guint cluster_bits, entry_bits = 3;
  guint32 version;
  guint64 incompatible = 0;
  g_autoptr(GError) error = NULL;

  if (strcmp (strata_image_get_format (layer), "qcow2") != 0)
    return 0;
  if (!strata_file_pread (strata_image_get_file (layer), header, sizeof header, 0, &error))
    return 0;
  version = GUINT32_FROM_BE (*(guint32 *) (header + 4));
  cluster_bits = GUINT32_FROM_BE (*(guint32 *) (header + 20));
  if (version >= 3)
    incompatible = GUINT64_FROM_BE (*(guint64 *) (header + 72));
  if (incompatible & (1u << 4))
    entry_bits = 4; /* extended L2 entries are 16 bytes */
  return cluster_bits + cluster_bits - entry_bits;
}

/* Block status through the chain as QEMU's convert sees it: whether the run reads as
 * zeros, and its length. */
static gboolean
qemu_chain_status (StrataImage *top,
                   guint64      offset,
                   guint64      bytes,
                   gboolean    *zero,
                   guint64     *pnum,
                   GError     **error)
{
  StrataChainStatus st;
  StrataImage *layer = top;
  guint64 length;

  if (!strata_image_chain_status (top, offset, bytes, &st, error))
    return FALSE;
  length = st.length;

  for (int depth = 0; layer != NULL && depth <= st.depth; depth++)
    {
      guint bits = l2_coverage_bits (layer);

      if (bits != 0 && bits < 63)
        length = MIN (length, ((offset >> bits) + 1) * (G_GUINT64_CONSTANT (1) << bits) -
                                offset);
      layer = strata_image_get_backing (layer);
    }

  /* QEMU's qcow2 driver reports compressed clusters one by one, its VMDK driver every
   * grain of a sparse extent on its own. */
  if (st.layer != NULL &&
      (st.compressed || strcmp (strata_image_get_format (st.layer), "vmdk") == 0))
    {
      guint64 grain = strata_image_get_cluster_size (st.layer);

      if (grain > 0)
        length = MIN (length, grain - offset % grain);
    }

  *zero = st.kind != STRATA_BLOCK_DATA;
  /* QEMU asks the file below a flat VMDK extent (a VMDK without grains), and below a qcow2 image it takes for
   * metadata-preallocated, whether the bytes are a hole (see map). */
  if (st.kind == STRATA_BLOCK_DATA && st.has_host_offset && st.host_file != NULL &&
      !st.compressed && st.layer != NULL &&
      (st.recurse || (strcmp (strata_image_get_format (st.layer), "vmdk") == 0 &&
                      strata_image_get_cluster_size (st.layer) == 0)))
    {
      gboolean is_data;
      guint64 file_pnum;

      if (!strata_file_seek_data (st.host_file, st.host_offset, length, &is_data, &file_pnum,
                                  error))
        return FALSE;
      *zero = !is_data;
      length = MAX (MIN (file_pnum, length), 1);
    }

  *pnum = length;
  return TRUE;
}

gboolean
strata_img_progress_plan_convert (StrataImgProgress *self,
                                  StrataImage       *source,
                                  guint64            compressed_cluster,
                                  guint64            min_sparse,
                                  GError           **error)
{
  guint64 size = strata_image_get_size (source);
  guint64 total = (size + SECTOR - 1) / SECTOR;
  guint64 cluster = strata_image_get_cluster_size (source);
  guint64 alignment = MAX (cluster / SECTOR, 1);
  guint64 buf_sectors = IO_BUF_SIZE / SECTOR;
  guint64 cluster_sectors = compressed_cluster / SECTOR;
  guint64 next_status = 0, sector = 0, allocated = 0, done = 0;
  gboolean data = FALSE;
  g_autoptr(GArray) chunks = g_array_new (FALSE, FALSE, sizeof (guint64));

  /* Compressed clusters are written one by one. */
  if (compressed_cluster > 0)
    buf_sectors = cluster_sectors;

  while (sector < total)
    {
      guint64 n = MIN (total - sector, REQUEST_MAX_SECTORS);
      gboolean counted;

      if (next_status <= sector)
        {
          guint64 offset = sector * SECTOR, pnum, tail;
          gboolean zero;

          if (!qemu_chain_status (source, offset, MIN (n * SECTOR, size - offset), &zero,
                                  &pnum, error))
            return FALSE;
          n = (pnum + SECTOR - 1) / SECTOR;
          /* QEMU keeps the next status query aligned to the source's clusters. */
          tail = (sector + n) % alignment;
          if (n > tail)
            n -= tail;
          data = !zero;
          next_status = sector + n;
        }
      n = MIN (n, next_status - sector);
      if (data)
        n = MIN (n, buf_sectors);
      if (compressed_cluster > 0)
        {
          if (n < cluster_sectors)
            {
              n = MIN (cluster_sectors, total - sector);
              data = TRUE;
            }
          else
            n -= n % cluster_sectors;
        }

      counted = data || min_sparse == 0;
      if (counted && !data)
        n = MIN (n, buf_sectors);
      if (counted)
        {
          g_array_append_val (chunks, n);
          allocated += n;
        }
      sector += n;
    }

  for (guint i = 0; i < chunks->len; i++)
    {
      done += g_array_index (chunks, guint64, i);
      strata_img_progress_step (self, (float) (100.0 * (double) done / (double) allocated), 0);
    }
  return TRUE;
}

gboolean
strata_img_progress_plan_rebase (StrataImgProgress *self,
                                 StrataImage       *overlay,
                                 guint64            old_size,
                                 guint64            new_size,
                                 StrataImage       *prefix,
                                 GError           **error)
{
  guint64 size = strata_image_get_size (overlay);
  guint bits = l2_coverage_bits (overlay);
  float local_progress;
  guint64 n;

  if (size == 0)
    return TRUE;
  local_progress = (float) 100 / (float) (size / MIN (size, IO_BUF_SIZE));

  for (guint64 offset = 0; offset < size; offset += n)
    {
      StrataBlockStatus bs;

      n = MIN (IO_BUF_SIZE, size - offset);
      if (!strata_image_block_status (overlay, offset, n, &bs, error))
        return FALSE;
      n = bs.length;
      if (bits != 0 && bits < 63)
        n = MIN (n, ((offset >> bits) + 1) * (G_GUINT64_CONSTANT (1) << bits) - offset);
      if (bs.kind != STRATA_BLOCK_UNALLOCATED)
        continue;
      /* Onto a layer of its own chain: only what the layers above that one hold is
       * compared. */
      if (prefix != NULL)
        {
          gboolean allocated = FALSE;

          for (StrataImage *l = strata_image_get_backing (overlay); l != NULL && l != prefix;
               l = strata_image_get_backing (l))
            {
              guint lbits = l2_coverage_bits (l);

              /* Past the end of a shorter layer QEMU makes up zeros there. */
              if (offset >= strata_image_get_size (l))
                {
                  allocated = TRUE;
                  break;
                }
              if (!strata_image_block_status (l, offset, MIN (n, strata_image_get_size (l) -
                                                                  offset), &bs, error))
                return FALSE;
              n = MIN (n, bs.length);
              if (lbits != 0 && lbits < 63)
                n = MIN (n, ((offset >> lbits) + 1) * (G_GUINT64_CONSTANT (1) << lbits) -
                              offset);
              if (bs.kind != STRATA_BLOCK_UNALLOCATED)
                {
                  allocated = TRUE;
                  break;
                }
            }
          if (!allocated)
            continue;
        }
      /* QEMU reads at most up to the end of the shorter backing file in one go. */
      if (offset < old_size && offset + n > old_size)
        n = old_size - offset;
      if (new_size > 0 && offset < new_size && offset + n > new_size)
        n = new_size - offset;
      strata_img_progress_step (self, local_progress, 100);
    }
  return TRUE;
}
