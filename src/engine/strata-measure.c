/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "strata-measure.h"

#include "strata-error.h"

#include <string.h>

#define ROUND_UP(n, m) ((((n) + (m) - 1) / (m)) * (m))
#define DIV_ROUND_UP(n, m) (((n) + (m) - 1) / (m))

/* Refcount blocks and table for @clusters clusters, the refcount clusters included: the
 * smallest fixed point, as QEMU finds it. */
static guint64
refcount_metadata_size (guint64 clusters,
                        guint64 cluster_size,
                        guint   refcount_bits)
{
  guint64 per_table_cluster = cluster_size / 8;
  guint64 per_block = cluster_size * 8 / refcount_bits;
  guint64 table = 0, blocks = 0, n = 0, last;

  do
    {
      last = n;
      blocks = DIV_ROUND_UP (clusters + table + blocks, per_block);
      table = DIV_ROUND_UP (blocks, per_table_cluster);
      n = clusters + blocks + table;
    }
  while (n != last);

  return (blocks + table) * cluster_size;
}

guint64
strata_measure_qcow2_full (guint64  virtual_size,
                           guint64  cluster_size,
                           guint    refcount_bits,
                           gboolean extended_l2)
{
  guint64 l2e = extended_l2 ? 16 : 8;
  guint64 aligned = ROUND_UP (virtual_size, cluster_size);
  guint64 meta = cluster_size; /* the header */
  guint64 nl2e, nl1e;

  nl2e = ROUND_UP (aligned / cluster_size, cluster_size / l2e);
  meta += nl2e * l2e;
  nl1e = ROUND_UP (nl2e * l2e / cluster_size, cluster_size / 8);
  meta += nl1e * 8;
  meta += refcount_metadata_size ((meta + aligned) / cluster_size, cluster_size,
                                  refcount_bits);
  return meta + aligned;
}

/* Whether the run at @st holds data for QEMU: data that the file below calls a hole (flat
 * VMDK extents, qcow2 images QEMU takes for metadata-preallocated) reads as zeros. */
static gboolean
run_is_data (const StrataChainStatus *st,
             guint64                 *length,
             GError                 **error)
{
  gboolean is_data;
  guint64 pnum;

  if (st->kind != STRATA_BLOCK_DATA)
    return FALSE;
  if (!st->has_host_offset || st->host_file == NULL || st->compressed || st->layer == NULL ||
      !(st->recurse || (strcmp (strata_image_get_format (st->layer), "vmdk") == 0 &&
                        strata_image_get_cluster_size (st->layer) == 0)))
    return TRUE;
  if (!strata_file_seek_data (st->host_file, st->host_offset, *length, &is_data, &pnum,
                              error))
    return FALSE;
  *length = MAX (MIN (pnum, *length), 1);
  return is_data;
}

/* Guest bytes of @source that a qcow2 target with @cluster_size clusters must store:
 * every cluster that holds data. */
static gboolean
data_clusters_bytes (StrataImage  *source,
                     guint64       cluster_size,
                     guint64      *bytes,
                     GError      **error)
{
  guint64 size = strata_image_get_size (source);
  guint64 required = 0, offset = 0;

  while (offset < size)
    {
      StrataChainStatus st;
      g_autoptr(GError) local = NULL;
      guint64 pnum;
      gboolean data;

      if (!strata_image_chain_status (source, offset, size - offset, &st, error))
        return FALSE;
      pnum = st.length;
      data = run_is_data (&st, &pnum, &local);
      if (local != NULL)
        {
          g_propagate_error (error, g_steal_pointer (&local));
          return FALSE;
        }
      if (data)
        {
          /* The rest of the last cluster is stored too. */
          pnum = ROUND_UP (offset + pnum, cluster_size) - offset;
          required += offset % cluster_size + pnum;
        }
      offset += pnum;
    }
  *bytes = required;
  return TRUE;
}

/* Bytes the persistent bitmaps of a qcow2 source (its format-specific info) take at
 * @cluster, as qemu-img counts them: per bitmap its data clusters (all assumed allocated) and
 * its table, then the directory rounded up. */
static guint64
persistent_bitmaps_bytes (GVariant *format_specific,
                          guint64   size,
                          guint64   cluster)
{
  g_autoptr(GVariant) bitmaps = NULL;
  guint64 total = 0, dir = 0;

  bitmaps = g_variant_lookup_value (format_specific, "bitmaps", NULL);
  if (bitmaps == NULL)
    return 0;
  for (gsize i = 0; i < g_variant_n_children (bitmaps); i++)
    {
      g_autoptr(GVariant) entry = g_variant_get_child_value (bitmaps, i);
      const char *name = "";
      gint64 granularity = 0;
      guint64 bytes, clusters;

      g_variant_lookup (entry, "name", "&s", &name);
      if (!g_variant_lookup (entry, "granularity", "x", &granularity) || granularity <= 0)
        continue;
      bytes = DIV_ROUND_UP (DIV_ROUND_UP (size, (guint64) granularity), 8);
      clusters = DIV_ROUND_UP (bytes, cluster);
      total += clusters * cluster + ROUND_UP (clusters * 8, cluster);
      dir += ROUND_UP (24 + strlen (name), 8);
    }
  return total + ROUND_UP (dir, cluster);
}

/* The format-specific info of a qcow2 source (read once: it walks the image's metadata), or
 * NULL for other formats. */
static GVariant *
qcow2_format_specific (StrataImage *source)
{
  g_autoptr(StrataImageInfo) info = NULL;

  if (strcmp (strata_image_get_format (source), "qcow2") != 0)
    return NULL;
  info = strata_image_get_info (source, NULL);
  if (info == NULL || info->format_specific == NULL)
    return NULL;
  return g_variant_ref (info->format_specific);
}

static gboolean
is_v3 (GVariant *format_specific)
{
  const char *compat = NULL;

  return format_specific != NULL &&
         g_variant_lookup (format_specific, "compat", "&s", &compat) &&
         strcmp (compat, "0.10") != 0;
}

gboolean
strata_measure (StrataImage               *source,
                guint64                    size,
                const char                *format,
                const StrataCreateOptions *opts,
                StrataPrealloc             prealloc,
                StrataMeasure             *result,
                GError                   **error)
{
  g_return_val_if_fail (format != NULL, FALSE);
  g_return_val_if_fail (result != NULL, FALSE);

  memset (result, 0, sizeof *result);
  if (source != NULL)
    size = strata_image_get_size (source);

  if (strcmp (format, "raw") == 0)
    {
      /* Unallocated sectors take room in a raw file too. */
      result->required = source != NULL ? size : ROUND_UP (size, 512);
      result->fully_allocated = result->required;
      return TRUE;
    }

  if (strcmp (format, "qcow2") == 0)
    {
      StrataCreateOptions defaults;
      guint64 cluster, virtual_size, data = 0;

      if (opts == NULL)
        {
          strata_create_options_init (&defaults);
          opts = &defaults;
        }
      cluster = opts->cluster_size;
      virtual_size = ROUND_UP (size, cluster);
      /* QEMU's limit on the L1 table (32 MiB). */
      if (DIV_ROUND_UP (virtual_size / cluster, cluster / (opts->extended_l2 ? 16 : 8)) * 8 >
          32 * 1024 * 1024)
        {
          g_set_error (error, STRATA_ERROR, STRATA_ERROR_INVALID_ARGUMENT,
                       "The image size is too large (try using a larger cluster size)");
          return FALSE;
        }
      if (prealloc == STRATA_PREALLOC_FULL || prealloc == STRATA_PREALLOC_FALLOC)
        data = virtual_size;
      else if (source != NULL && !data_clusters_bytes (source, cluster, &data, error))
        return FALSE;

      result->fully_allocated = strata_measure_qcow2_full (virtual_size, cluster,
                                                           opts->refcount_bits,
                                                           opts->extended_l2);
      result->required = result->fully_allocated - virtual_size + data;
      if (opts->compat >= 3 && source != NULL)
        {
          g_autoptr(GVariant) format_specific = qcow2_format_specific (source);

          result->has_bitmaps = is_v3 (format_specific);
          if (result->has_bitmaps)
            result->bitmaps = persistent_bitmaps_bytes (format_specific, size, cluster);
        }
      return TRUE;
    }

  g_set_error (error, STRATA_ERROR, STRATA_ERROR_UNSUPPORTED,
               "Block driver '%s' does not support size measurement", format);
  return FALSE;
}
