/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "strata-check.h"
#include "strata-error.h"
#include "strata-qcow2-private.h"

#include <string.h>

/*
 * The qcow2 consistency check. It reads the on-disk metadata directly (header, L1/L2
 * tables, refcount table and blocks, snapshot table, crypto header) rather than going
 * through the driver's caches: a checker that shares the writer's code would agree with the
 * writer's bugs. It rebuilds every cluster's reference count from what points at it and
 * compares with the stored refcounts: stored > computed is a leak (harmless), stored <
 * computed a corruption, as qemu-img check judges.
 *
 * A repair decides everything first, as qemu-img reports it (a pass that only reports, a
 * pass that marks what it repairs, then the COPIED flags against the repaired refcounts),
 * and then writes in an order where every state a power cut can leave is no worse than the
 * damaged image was: refcounts that were too low are raised (flush), COPIED flags on
 * clusters that turn out shared are cleared (flush), refcounts that were too high are
 * lowered (flush), COPIED flags on clusters referenced once are set (flush), and only then
 * are the dirty and corrupt bits cleared (flush). Raising a refcount can only make a cluster
 * look more used; a cleared COPIED flag only makes a writer copy instead of writing in
 * place; lowering comes after the flags that depended on it. Before the first write the
 * unknown autoclear bits go, through the writer's own path (qcow2_begin_change's).
 */

#define L1E_OFFSET_MASK 0x00fffffffffffe00ULL
#define L2E_OFFSET_MASK 0x00fffffffffffe00ULL
#define REFT_OFFSET_MASK 0xfffffffffffffe00ULL
#define OFLAG_COPIED (1ULL << 63)
#define OFLAG_COMPRESSED (1ULL << 62)
#define OFLAG_ZERO 1ULL
/* Bits of a standard (uncompressed) L2 entry that must be zero. */
#define L2E_STD_RESERVED_MASK 0x3f000000000001feULL
#define INCOMPAT_DIRTY (1ULL << 0)
#define INCOMPAT_CORRUPT (1ULL << 1)
#define INCOMPAT_DATA_FILE (1ULL << 2)
#define INCOMPAT_EXTL2 (1ULL << 4)
#define EXT_CRYPTO 0x0537be77
#define EXT_BITMAPS 0x23852875
#define MAX_L1_BYTES (32 * 1024 * 1024)
#define MAX_REFTABLE_BYTES (8 * 1024 * 1024)
#define MAX_MESSAGES 1000
#define BITMAP_DIR_MAX (64 * 1024 * 1024)
#define BME_OFFSET_MASK 0x00fffffffffffe00ULL

typedef struct
{
  StrataFile        *file;
  const char        *path;
  StrataCheckResult *res;
  guint64            file_size;
  guint              cluster_bits;
  guint64            cluster_size;
  guint64            virtual_size;
  guint32            l1_size;
  guint64            l1_offset;
  guint64            reftable_offset;
  guint64            reftable_entries;
  guint32            nb_snapshots;
  guint64            snapshots_offset;
  guint              refcount_order;
  gboolean           extended_l2;
  gboolean           external_data;
  guint64           *reftable;
  /* Computed references, one per cluster; grows when something points past the end. */
  guint32           *computed;
  guint64            n_computed;
  guint8            *cached_block;
  guint64            cached_block_offset;
  guint32            version;
  guint64            crypto_offset;
  guint64            crypto_length;
  guint32            nb_bitmaps;
  guint64            bitmap_dir_offset;
  guint64            bitmap_dir_size;
  guint64            incompat;
  guint64            autoclear;
  /* The repair in effect (after the decisions), and what it will write. */
  StrataCheckFix     fix;
  gboolean           fix_refcounts;
  gboolean           raise_refcounts;
  gboolean           lower_refcounts;
  GArray            *flag_fixes;      /* FlagFix: L1/L2 entries to rewrite */
} Check;

typedef struct
{
  guint64 position; /* of the 64-bit entry in the file */
  guint64 entry;    /* its new value */
} FlagFix;

static void
message (Check *c, const char *format, ...) G_GNUC_PRINTF (2, 3);

static void
message (Check *c, const char *format, ...)
{
  va_list args;

  /* Counts stay exact; only the listing is bounded, so a badly damaged image cannot flood
   * the terminal (or memory) with millions of lines. */
  if (c->res->messages->len > MAX_MESSAGES)
    return;
  if (c->res->messages->len == MAX_MESSAGES)
    {
      g_ptr_array_add (c->res->messages,
                       g_strdup_printf ("%s: further errors not listed", c->path));
      return;
    }
  va_start (args, format);
  g_ptr_array_add (c->res->messages, g_strdup_vprintf (format, args));
  va_end (args);
}

static void
inc_refcounts (Check *c, guint64 offset, guint64 size)
{
  guint64 first, last;

  if (size == 0)
    return;

  /* A reference that ends a whole cluster or more past the end of the file: the file was
   * cut short (a partly written last cluster is normal, with subclusters or compression). */
  if (offset + size > c->file_size && offset + size - c->file_size >= c->cluster_size)
    {
      message (c, "ERROR: counting reference for region exceeding the end of the file by one "
               "cluster or more: offset 0x%" G_GINT64_MODIFIER "x size 0x%" G_GINT64_MODIFIER
               "x", offset, size);
      c->res->corruptions++;
      return;
    }

  first = offset >> c->cluster_bits;
  last = (offset + size - 1) >> c->cluster_bits;

  /* A reference far beyond the file is a corruption we cannot represent: count it once. */
  if (last >= c->n_computed)
    {
      guint64 want = last + 1;

      if (want > (c->file_size >> c->cluster_bits) + (1ULL << 24))
        {
          message (c, "ERROR: reference to offset 0x%" G_GINT64_MODIFIER "x lies far "
                   "beyond the end of the file", offset);
          c->res->corruptions++;
          return;
        }
      c->computed = g_renew (guint32, c->computed, want);
      memset (c->computed + c->n_computed, 0, (want - c->n_computed) * sizeof (guint32));
      c->n_computed = want;
    }

  for (guint64 i = first; i <= last; i++)
    if (c->computed[i] < G_MAXUINT32)
      c->computed[i]++;
}

static guint64
be64_at (const guint8 *p)
{
  return GUINT64_FROM_BE (*(const guint64 *) (const void *) p);
}

static guint32
be32_at (const guint8 *p)
{
  return GUINT32_FROM_BE (*(const guint32 *) (const void *) p);
}

static guint64
refcount_get (const guint8 *block, guint order, guint64 index)
{
  switch (order)
    {
    case 0: return (block[index / 8] >> (index % 8)) & 1;
    case 1: return (block[index / 4] >> (2 * (index % 4))) & 3;
    case 2: return (block[index / 2] >> (4 * (index % 2))) & 15;
    case 3: return block[index];
    case 4: return GUINT16_FROM_BE (((const guint16 *) (const void *) block)[index]);
    case 5: return GUINT32_FROM_BE (((const guint32 *) (const void *) block)[index]);
    default: return GUINT64_FROM_BE (((const guint64 *) (const void *) block)[index]);
    }
}

static void
refcount_set (guint8 *block, guint order, guint64 index, guint64 value)
{
  switch (order)
    {
    case 0:
      block[index / 8] = (block[index / 8] & ~(1 << (index % 8))) | ((value & 1) << (index % 8));
      break;
    case 1:
      block[index / 4] = (block[index / 4] & ~(3 << (2 * (index % 4)))) |
                         ((value & 3) << (2 * (index % 4)));
      break;
    case 2:
      block[index / 2] = (block[index / 2] & ~(15 << (4 * (index % 2)))) |
                         ((value & 15) << (4 * (index % 2)));
      break;
    case 3: block[index] = value; break;
    case 4: ((guint16 *) (void *) block)[index] = GUINT16_TO_BE (value); break;
    case 5: ((guint32 *) (void *) block)[index] = GUINT32_TO_BE (value); break;
    default: ((guint64 *) (void *) block)[index] = GUINT64_TO_BE (value); break;
    }
}

static guint64
entries_per_refblock (Check *c)
{
  return (c->cluster_size * 8) >> c->refcount_order;
}

/* The stored refcount of @cluster, or 0 when no refcount block covers it. The last block
 * read is kept: lookups come in host order runs. */
static gboolean
stored_refcount (Check *c, guint64 cluster, guint64 *value, GError **error)
{
  guint64 per_block = entries_per_refblock (c);
  guint64 idx = cluster / per_block;
  guint64 block;

  *value = 0;
  if (idx >= c->reftable_entries)
    return TRUE;
  block = c->reftable[idx] & REFT_OFFSET_MASK;
  if (block == 0 || (block & (c->cluster_size - 1)) || block + c->cluster_size > c->file_size)
    return TRUE;

  if (c->cached_block == NULL)
    c->cached_block = g_malloc (c->cluster_size);
  if (c->cached_block_offset != block)
    {
      if (!strata_file_pread (c->file, c->cached_block, c->cluster_size, block, error))
        return FALSE;
      c->cached_block_offset = block;
    }
  *value = refcount_get (c->cached_block, c->refcount_order, cluster % per_block);
  return TRUE;
}

static gboolean
check_l2 (Check        *c,
          guint64       l2_offset,
          gboolean      active,
          GCancellable *cancellable,
          GError      **error)
{
  guint entry_size = c->extended_l2 ? 16 : 8;
  guint n_entries = c->cluster_size / entry_size;
  g_autofree guint8 *l2 = g_malloc (c->cluster_size);
  guint64 next_contiguous = 0;
  guint csize_shift = 62 - (c->cluster_bits - 8);
  guint64 csize_mask = (1ULL << (c->cluster_bits - 8)) - 1;
  guint64 coffset_mask = (1ULL << csize_shift) - 1;

  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    return FALSE;
  if (l2_offset + c->cluster_size > c->file_size)
    {
      message (c, "ERROR: L2 table at 0x%" G_GINT64_MODIFIER "x is past the end of the file",
               l2_offset);
      c->res->corruptions++;
      return TRUE;
    }
  if (!strata_file_pread (c->file, l2, c->cluster_size, l2_offset, error))
    return FALSE;

  for (guint i = 0; i < n_entries; i++)
    {
      guint64 entry = be64_at (l2 + (gsize) i * entry_size);
      guint64 bitmap = c->extended_l2 ? be64_at (l2 + (gsize) i * entry_size + 8) : 0;

      if (entry & OFLAG_COMPRESSED)
        {
          if (bitmap != 0)
            {
              message (c, "ERROR compressed cluster %u with non-zero subcluster allocation "
                       "bitmap, entry=0x%" G_GINT64_MODIFIER "x", i, entry);
              c->res->corruptions++;
            }
          guint64 coffset = entry & coffset_mask;
          guint64 nb_sectors = ((entry >> csize_shift) & csize_mask) + 1;
          guint64 csize = nb_sectors * 512 - (coffset & 511);

          if (active)
            {
              c->res->allocated_clusters++;
              c->res->compressed_clusters++;
              c->res->fragmented_clusters++;
            }
          if (entry & OFLAG_COPIED)
            {
              message (c, "ERROR: coffset=0x%" G_GINT64_MODIFIER "x: copied flag must never "
                       "be set for compressed clusters", coffset);
              c->res->corruptions++;
            }
          inc_refcounts (c, coffset, csize);
          continue;
        }

      {
        guint64 offset = entry & L2E_OFFSET_MASK;
        guint32 alloc_bits = bitmap & 0xffffffff;
        guint32 zero_bits = bitmap >> 32;

        if (entry & L2E_STD_RESERVED_MASK)
          {
            message (c, "ERROR found l2 entry with reserved bits set: %" G_GINT64_MODIFIER "x",
                     entry);
            c->res->corruptions++;
          }
        if (c->extended_l2 && offset == 0 && alloc_bits != 0)
          {
            message (c, "ERROR: unallocated cluster %u has a non-zero subcluster allocation "
                     "bitmap, entry=0x%" G_GINT64_MODIFIER "x", i, bitmap);
            c->res->corruptions++;
          }
        if (c->extended_l2 && offset != 0 && (alloc_bits & zero_bits) != 0)
          {
            message (c, "ERROR offset=%" G_GINT64_MODIFIER "x: Allocated cluster has corrupted "
                     "subcluster allocation bitmap", offset);
            c->res->corruptions++;
          }

        if (offset == 0 || c->external_data)
          continue;
        if (active)
          {
            c->res->allocated_clusters++;
            if (next_contiguous != 0 && offset != next_contiguous)
              c->res->fragmented_clusters++;
            next_contiguous = offset + c->cluster_size;
          }
        inc_refcounts (c, offset, c->cluster_size);
        if (offset & (c->cluster_size - 1))
          {
            message (c, "ERROR offset=%" G_GINT64_MODIFIER "x: Cluster is not properly "
                     "aligned; L2 entry corrupted.", offset);
            c->res->corruptions++;
          }
      }
    }

  return TRUE;
}

static gboolean
check_l1 (Check        *c,
          guint64       l1_offset,
          guint32       l1_size,
          gboolean      active,
          GCancellable *cancellable,
          GError      **error)
{
  g_autofree guint8 *l1 = NULL;
  gsize bytes = (gsize) l1_size * 8;

  inc_refcounts (c, l1_offset, bytes);
  if (bytes == 0)
    return TRUE;
  if (bytes > MAX_L1_BYTES || l1_offset + bytes > c->file_size)
    {
      message (c, "ERROR: L1 table at 0x%" G_GINT64_MODIFIER "x (%u entries) is past the end "
               "of the file", l1_offset, l1_size);
      c->res->corruptions++;
      return TRUE;
    }

  l1 = g_malloc (bytes);
  if (!strata_file_pread (c->file, l1, bytes, l1_offset, error))
    return FALSE;

  for (guint32 i = 0; i < l1_size; i++)
    {
      guint64 l2_offset = be64_at (l1 + (gsize) i * 8) & L1E_OFFSET_MASK;

      if (l2_offset == 0)
        continue;
      inc_refcounts (c, l2_offset, c->cluster_size);
      if (l2_offset & (c->cluster_size - 1))
        {
          message (c, "ERROR l2_offset=%" G_GINT64_MODIFIER "x: Table is not cluster "
                   "aligned; L1 entry corrupted", l2_offset);
          c->res->corruptions++;
          continue;
        }
      if (!check_l2 (c, l2_offset, active, cancellable, error))
        return FALSE;
    }
  return TRUE;
}

static gboolean
check_snapshots (Check *c, GCancellable *cancellable, GError **error)
{
  guint64 pos = c->snapshots_offset;

  for (guint32 i = 0; i < c->nb_snapshots; i++)
    {
      guint8 hdr[40];
      guint64 l1_offset;
      guint32 l1_size, extra;
      guint16 id_len, name_len;

      if (!strata_file_pread (c->file, hdr, sizeof hdr, pos, error))
        return FALSE;
      l1_offset = be64_at (hdr);
      l1_size = be32_at (hdr + 8);
      id_len = GUINT16_FROM_BE (*(guint16 *) (void *) (hdr + 12));
      name_len = GUINT16_FROM_BE (*(guint16 *) (void *) (hdr + 14));
      extra = be32_at (hdr + 36);
      pos += 40 + (guint64) extra + id_len + name_len;
      pos = (pos + 7) & ~7ULL;

      if (!check_l1 (c, l1_offset, l1_size, FALSE, cancellable, error))
        return FALSE;
    }

  inc_refcounts (c, c->snapshots_offset, pos - c->snapshots_offset);
  return TRUE;
}

/* The limits QEMU's driver enforces when it opens an image: an image it refuses to open has
 * no meaningful refcounts, and counting (or worse, repairing) from a nonsensical table would
 * flood the output and lower refcounts that are in use. Such an image is "could not check". */
static gboolean
header_unusable (Check *c, GError **error, const char *format, ...) G_GNUC_PRINTF (3, 4);

static gboolean
header_unusable (Check *c, GError **error, const char *format, ...)
{
  g_autofree char *what = NULL;
  va_list args;

  va_start (args, format);
  what = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error (error, STRATA_ERROR, STRATA_ERROR_CORRUPT,
               "%s: could not check the image: %s", c->path, what);
  return FALSE;
}

/* A table of @bytes at @offset: aligned to a cluster, no overflow, inside the file. */
static gboolean
table_in_file (Check *c, guint64 offset, guint64 bytes)
{
  return (offset & (c->cluster_size - 1)) == 0 && offset <= G_MAXINT64 - bytes &&
         offset + bytes <= c->file_size;
}

static gboolean
validate_header (Check    *c,
                 guint32   version,
                 guint32   header_length,
                 guint32   reftable_clusters,
                 GError  **error)
{
  guint64 reftable_bytes = (guint64) reftable_clusters * c->cluster_size;
  guint64 l1_bytes = (guint64) c->l1_size * 8;
  guint64 l2_entries = c->cluster_size / (c->extended_l2 ? 16 : 8);
  guint64 l1_needed;

  if (version == 3 && (header_length < 104 || header_length > c->cluster_size))
    return header_unusable (c, error, "invalid header length %u", header_length);
  if (version == 2 && c->refcount_order != 4)
    return header_unusable (c, error, "invalid refcount order %u", c->refcount_order);
  if (reftable_clusters == 0 || reftable_bytes > MAX_REFTABLE_BYTES)
    return header_unusable (c, error, "refcount table of %u clusters is too large",
                            reftable_clusters);
  if (!table_in_file (c, c->reftable_offset, reftable_bytes))
    return header_unusable (c, error, "the refcount table at 0x%" G_GINT64_MODIFIER "x is "
                            "misaligned or past the end of the file", c->reftable_offset);
  if (l1_bytes > MAX_L1_BYTES)
    return header_unusable (c, error, "active L1 table of %u entries is too large",
                            c->l1_size);
  /* The L1 table must map the whole virtual disk. */
  l1_needed = c->virtual_size / c->cluster_size / l2_entries +
              (c->virtual_size % (c->cluster_size * l2_entries) != 0);
  if (l1_needed > c->l1_size)
    return header_unusable (c, error, "L1 table of %u entries is too small for the disk size",
                            c->l1_size);
  if (l1_bytes > 0 && !table_in_file (c, c->l1_offset, l1_bytes))
    return header_unusable (c, error, "the L1 table at 0x%" G_GINT64_MODIFIER "x is "
                            "misaligned or past the end of the file", c->l1_offset);
  if (c->nb_snapshots > 65536)
    return header_unusable (c, error, "too many snapshots (%u)", c->nb_snapshots);
  if (c->nb_snapshots > 0 && !table_in_file (c, c->snapshots_offset, 40ULL * c->nb_snapshots))
    return header_unusable (c, error, "the snapshot table at 0x%" G_GINT64_MODIFIER "x is "
                            "misaligned or past the end of the file", c->snapshots_offset);
  return TRUE;
}

static gboolean
read_header (Check *c, GError **error)
{
  guint8 h[112] = { 0 };
  guint32 version, header_length = 72;
  guint64 incompat = 0;
  guint32 reftable_clusters;

  if (!strata_file_get_size (c->file, &c->file_size, error) ||
      !strata_file_pread_zerofill (c->file, h, sizeof h, 0, error))
    return FALSE;

  if (be32_at (h) != QCOW2_MAGIC)
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_CORRUPT, "%s: not a qcow2 image",
                   c->path);
      return FALSE;
    }
  version = be32_at (h + 4);
  c->cluster_bits = be32_at (h + 20);
  if ((version != 2 && version != 3) || c->cluster_bits < 9 || c->cluster_bits > 21)
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_CORRUPT,
                   "%s: unsupported qcow2 header (version %u, cluster bits %u)",
                   c->path, version, c->cluster_bits);
      return FALSE;
    }
  c->cluster_size = 1ULL << c->cluster_bits;
  c->virtual_size = be64_at (h + 24);
  c->l1_size = be32_at (h + 36);
  c->l1_offset = be64_at (h + 40);
  c->reftable_offset = be64_at (h + 48);
  reftable_clusters = be32_at (h + 56);
  c->nb_snapshots = be32_at (h + 60);
  c->snapshots_offset = be64_at (h + 64);
  c->refcount_order = 4;
  if (version == 3)
    {
      incompat = be64_at (h + 72);
      c->autoclear = be64_at (h + 88);
      c->refcount_order = be32_at (h + 96);
      header_length = be32_at (h + 100);
    }
  c->version = version;
  c->incompat = incompat;
  if (c->refcount_order > 6)
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_CORRUPT,
                   "%s: invalid refcount order %u", c->path, c->refcount_order);
      return FALSE;
    }
  c->extended_l2 = (incompat & INCOMPAT_EXTL2) != 0;
  c->external_data = (incompat & INCOMPAT_DATA_FILE) != 0;

  if (!validate_header (c, version, header_length, reftable_clusters, error))
    return FALSE;
  c->reftable_entries = (guint64) reftable_clusters * c->cluster_size / 8;
  c->reftable = g_new (guint64, MAX (c->reftable_entries, 1));
  if (!strata_file_pread (c->file, c->reftable, c->reftable_entries * 8, c->reftable_offset,
                          error))
    return FALSE;
  for (guint64 i = 0; i < c->reftable_entries; i++)
    c->reftable[i] = GUINT64_FROM_BE (c->reftable[i]);

  /* Header extensions that own clusters. */
  if (version == 3 || header_length >= 72)
    {
      guint64 pos = version == 3 ? header_length : 72;

      while (pos + 8 <= c->cluster_size)
        {
          guint8 ext[8];
          guint32 type, len;

          if (!strata_file_pread_zerofill (c->file, ext, 8, pos, error))
            return FALSE;
          type = be32_at (ext);
          len = be32_at (ext + 4);
          if (type == 0)
            break;
          /* Without the autoclear bit a program that knows nothing of bitmaps wrote the
           * image: QEMU then ignores them, and so their clusters count as leaks. */
          if (type == EXT_BITMAPS && len >= 24 && (c->autoclear & 1))
            {
              guint8 body[24];

              if (!strata_file_pread_zerofill (c->file, body, 24, pos + 8, error))
                return FALSE;
              c->nb_bitmaps = be32_at (body);
              c->bitmap_dir_size = be64_at (body + 8);
              c->bitmap_dir_offset = be64_at (body + 16);
              /* The limits QEMU's open enforces: past them it cannot check either. */
              if (c->nb_bitmaps == 0 || c->nb_bitmaps > 65535)
                return header_unusable (c, error, "bitmaps extension with %u bitmaps",
                                        c->nb_bitmaps);
              if ((c->bitmap_dir_offset & (c->cluster_size - 1)) != 0 ||
                  c->bitmap_dir_size > BITMAP_DIR_MAX)
                return header_unusable (c, error, "invalid bitmap directory at 0x%"
                                        G_GINT64_MODIFIER "x", c->bitmap_dir_offset);
            }
          if (type == EXT_CRYPTO && len >= 16)
            {
              guint8 body[16];

              if (!strata_file_pread_zerofill (c->file, body, 16, pos + 8, error))
                return FALSE;
              c->crypto_offset = be64_at (body);
              c->crypto_length = be64_at (body + 8);
            }
          pos += 8 + (((guint64) len + 7) & ~7ULL);
        }
    }

  return TRUE;
}

static gboolean
check_refblocks (Check *c)
{
  for (guint64 i = 0; i < c->reftable_entries; i++)
    {
      guint64 offset = c->reftable[i] & REFT_OFFSET_MASK;

      if (offset == 0)
        continue;
      if (offset & (c->cluster_size - 1))
        {
          message (c, "ERROR refcount block %" G_GUINT64_FORMAT " is not cluster aligned; "
                   "refcount table entry corrupted", i);
          c->res->corruptions++;
          c->res->needs_rebuild = TRUE;
          continue;
        }
      if (offset >= c->file_size)
        {
          message (c, "ERROR refcount block %" G_GUINT64_FORMAT " is outside image", i);
          c->res->corruptions++;
          c->res->needs_rebuild = TRUE;
          continue;
        }
      inc_refcounts (c, offset, c->cluster_size);
    }

  /* A refcount block shared with anything else is a corruption. */
  for (guint64 i = 0; i < c->reftable_entries; i++)
    {
      guint64 offset = c->reftable[i] & REFT_OFFSET_MASK;
      guint64 cluster = offset >> c->cluster_bits;

      if (offset == 0 || (offset & (c->cluster_size - 1)) || offset >= c->file_size)
        continue;
      if (c->computed[cluster] != 1)
        {
          message (c, "ERROR refcount block %" G_GUINT64_FORMAT " refcount=%u", i,
                   c->computed[cluster]);
          c->res->corruptions++;
          c->res->needs_rebuild = TRUE;
        }
    }
  return TRUE;
}

static guint64
refcount_max (Check *c)
{
  return c->refcount_order == 6 ? G_MAXUINT64 : (1ULL << (1 << c->refcount_order)) - 1;
}

/* Whether the repair in effect sets this mismatched refcount to the computed one: too high
 * with a leak repair, too low (but not 0: that needs a rebuild) with -r all. */
static gboolean
fixable (Check *c, StrataCheckFix fix, guint64 stored, guint64 computed)
{
  if (stored > computed)
    return (fix & STRATA_CHECK_FIX_LEAKS) != 0;
  return stored != 0 && computed <= refcount_max (c) && (fix & STRATA_CHECK_FIX_ERRORS) != 0;
}

/* Compares stored and computed refcounts block by block, as qemu-img reports it; with a
 * repair, marks what will be set right ("Repairing") instead of counting it. Writes nothing. */
static gboolean
compare_refcounts (Check         *c,
                   StrataCheckFix fix,
                   guint64       *highest,
                   GCancellable  *cancellable,
                   GError       **error)
{
  guint64 per_block = entries_per_refblock (c);
  guint64 n_clusters = MAX (c->n_computed, (c->file_size + c->cluster_size - 1) >>
                            c->cluster_bits);
  g_autofree guint8 *block = g_malloc (c->cluster_size);

  *highest = 0;
  for (guint64 first = 0; first < n_clusters; first += per_block)
    {
      guint64 idx = first / per_block;
      guint64 block_offset = 0;
      gboolean have_block = FALSE;

      if (g_cancellable_set_error_if_cancelled (cancellable, error))
        return FALSE;

      if (idx < c->reftable_entries)
        {
          block_offset = c->reftable[idx] & REFT_OFFSET_MASK;
          have_block = block_offset != 0 && !(block_offset & (c->cluster_size - 1)) &&
                       block_offset + c->cluster_size <= c->file_size;
        }
      if (have_block && !strata_file_pread (c->file, block, c->cluster_size, block_offset,
                                            error))
        return FALSE;

      for (guint64 k = 0; k < per_block && first + k < n_clusters; k++)
        {
          guint64 cluster = first + k;
          guint64 stored = have_block ? refcount_get (block, c->refcount_order, k) : 0;
          guint64 computed = cluster < c->n_computed ? c->computed[cluster] : 0;

          if (stored > 0 || computed > 0)
            *highest = cluster;
          if (stored == computed)
            continue;

          if (stored == 0)
            c->res->needs_rebuild = TRUE;
          else if (fixable (c, fix, stored, computed))
            {
              message (c, "Repairing cluster %" G_GUINT64_FORMAT " refcount=%" G_GUINT64_FORMAT
                       " reference=%" G_GUINT64_FORMAT, cluster, stored, computed);
              if (stored > computed)
                {
                  c->res->leaks_fixed++;
                  c->lower_refcounts = TRUE;
                }
              else
                {
                  c->res->corruptions_fixed++;
                  c->raise_refcounts = TRUE;
                }
              continue;
            }

          message (c, "%s cluster %" G_GUINT64_FORMAT " refcount=%" G_GUINT64_FORMAT
                   " reference=%" G_GUINT64_FORMAT, stored < computed ? "ERROR" : "Leaked",
                   cluster, stored, computed);
          if (stored < computed)
            c->res->corruptions++;
          else
            c->res->leaks++;
        }
    }
  return TRUE;
}

/* The refcount @cluster will have once the repair decided on is written (what the file
 * holds now while nothing is written). */
static gboolean
final_refcount (Check *c, guint64 cluster, guint64 *value, GError **error)
{
  guint64 computed;

  if (!stored_refcount (c, cluster, value, error))
    return FALSE;
  if (!c->fix_refcounts || cluster >= c->n_computed)
    return TRUE;
  computed = c->computed[cluster];
  if (*value != computed && fixable (c, c->fix, *value, computed))
    *value = computed;
  return TRUE;
}

static void
flag_mismatch (Check *c, gboolean repair, guint64 position, guint64 entry, guint64 refcount)
{
  FlagFix f = { position, refcount == 1 ? entry | OFLAG_COPIED : entry & ~OFLAG_COPIED };

  if (!repair)
    {
      c->res->corruptions++;
      return;
    }
  g_array_append_val (c->flag_fixes, f);
  c->res->corruptions_fixed++;
}

/* OFLAG_COPIED must be set exactly when the refcount is 1, in the active tables. With
 * @repair the entries to rewrite are collected in c->flag_fixes. */
static gboolean
check_copied_flags (Check *c, gboolean repair, GError **error)
{
  g_autofree guint8 *l1 = NULL;
  g_autofree guint8 *l2 = NULL;
  gsize bytes = (gsize) c->l1_size * 8;
  guint entry_size = c->extended_l2 ? 16 : 8;
  const char *what = repair ? "Repairing" : "ERROR";

  if (bytes == 0 || bytes > MAX_L1_BYTES || c->l1_offset + bytes > c->file_size)
    return TRUE;
  l1 = g_malloc (bytes);
  l2 = g_malloc (c->cluster_size);
  if (!strata_file_pread (c->file, l1, bytes, c->l1_offset, error))
    return FALSE;

  for (guint32 i = 0; i < c->l1_size; i++)
    {
      guint64 l1e = be64_at (l1 + (gsize) i * 8);
      guint64 l2_offset = l1e & L1E_OFFSET_MASK;
      guint64 refcount;

      if (l2_offset == 0 || (l2_offset & (c->cluster_size - 1)) ||
          l2_offset + c->cluster_size > c->file_size)
        continue;
      if (!final_refcount (c, l2_offset >> c->cluster_bits, &refcount, error))
        return FALSE;
      if ((refcount == 1) != ((l1e & OFLAG_COPIED) != 0))
        {
          message (c, "%s OFLAG_COPIED L2 cluster: l1_index=%u l1_entry=%"
                   G_GINT64_MODIFIER "x refcount=%" G_GUINT64_FORMAT, what, i, l1e, refcount);
          flag_mismatch (c, repair, c->l1_offset + (guint64) i * 8, l1e, refcount);
        }

      if (!strata_file_pread (c->file, l2, c->cluster_size, l2_offset, error))
        return FALSE;
      for (guint j = 0; j < c->cluster_size / entry_size; j++)
        {
          guint64 l2e = be64_at (l2 + (gsize) j * entry_size);
          guint64 data = l2e & L2E_OFFSET_MASK;

          if ((l2e & OFLAG_COMPRESSED) || data == 0 || c->external_data)
            continue;
          if (!final_refcount (c, data >> c->cluster_bits, &refcount, error))
            return FALSE;
          if ((refcount == 1) != ((l2e & OFLAG_COPIED) != 0))
            {
              message (c, "%s OFLAG_COPIED data cluster: l2_entry=%" G_GINT64_MODIFIER
                       "x refcount=%" G_GUINT64_FORMAT, what, l2e, refcount);
              flag_mismatch (c, repair, l2_offset + (guint64) j * entry_size, l2e, refcount);
            }
        }
    }
  return TRUE;
}

/* Rewrites every refcount block with a decided change in one direction (@raise: the ones
 * that were too low), then flushes. */
static gboolean
write_refcounts (Check *c, gboolean raise, GCancellable *cancellable, GError **error)
{
  guint64 per_block = entries_per_refblock (c);
  g_autofree guint8 *block = g_malloc (c->cluster_size);
  g_autoptr(GArray) freed = g_array_new (FALSE, FALSE, sizeof (guint64));
  gboolean wrote = FALSE;

  for (guint64 idx = 0; idx < c->reftable_entries; idx++)
    {
      guint64 block_offset = c->reftable[idx] & REFT_OFFSET_MASK;
      gboolean dirty = FALSE;

      if (g_cancellable_set_error_if_cancelled (cancellable, error))
        return FALSE;
      if (block_offset == 0 || (block_offset & (c->cluster_size - 1)) ||
          block_offset + c->cluster_size > c->file_size)
        continue;
      if (idx * per_block >= MAX (c->n_computed, 1))
        break;
      if (!strata_file_pread (c->file, block, c->cluster_size, block_offset, error))
        return FALSE;
      for (guint64 k = 0; k < per_block; k++)
        {
          guint64 cluster = idx * per_block + k;
          guint64 stored = refcount_get (block, c->refcount_order, k);
          guint64 computed = cluster < c->n_computed ? c->computed[cluster] : 0;

          if (stored == computed || (computed > stored) != raise ||
              !fixable (c, c->fix, stored, computed))
            continue;
          refcount_set (block, c->refcount_order, k, computed);
          dirty = TRUE;
          if (computed == 0)
            g_array_append_val (freed, cluster);
        }
      /* The cached copy the COPIED pass used is stale now. */
      if (dirty)
        {
          if (!strata_file_pwrite (c->file, block, c->cluster_size, block_offset, error))
            return FALSE;
          c->cached_block_offset = 0;
          wrote = TRUE;
        }
    }
  if (wrote && !strata_file_flush (c->file, error))
    return FALSE;

  /* Clusters no longer counted give their space back, as qemu-img's repair discards
   * them; nothing references them, so this is safe at any moment. */
  for (guint i = 0; i < freed->len; )
    {
      guint64 first = g_array_index (freed, guint64, i), n = 1;

      while (i + n < freed->len && g_array_index (freed, guint64, i + n) == first + n)
        n++;
      if (first < (c->file_size >> c->cluster_bits) &&
          !strata_file_punch_hole (c->file, first << c->cluster_bits,
                                   MIN (n << c->cluster_bits,
                                        c->file_size - (first << c->cluster_bits)), error))
        return FALSE;
      i += n;
    }
  return freed->len == 0 || strata_file_flush (c->file, error);
}

/* Writes the collected COPIED fixes that set the flag (@set) or clear it, then flushes. */
static gboolean
write_flags (Check *c, gboolean set, GError **error)
{
  gboolean wrote = FALSE;

  for (guint i = 0; i < c->flag_fixes->len; i++)
    {
      FlagFix *f = &g_array_index (c->flag_fixes, FlagFix, i);
      guint64 be = GUINT64_TO_BE (f->entry);

      if (((f->entry & OFLAG_COPIED) != 0) != set)
        continue;
      if (!strata_file_pwrite (c->file, &be, 8, f->position, error))
        return FALSE;
      wrote = TRUE;
    }
  return !wrote || strata_file_flush (c->file, error);
}

/* The repaired image is consistent again: clear the dirty and corrupt bits QEMU would. */
static gboolean
mark_clean (Check *c, GError **error)
{
  guint64 be;

  if (c->version < 3 || (c->incompat & (INCOMPAT_DIRTY | INCOMPAT_CORRUPT)) == 0)
    return TRUE;
  be = GUINT64_TO_BE (c->incompat & ~(INCOMPAT_DIRTY | INCOMPAT_CORRUPT));
  return strata_file_pwrite (c->file, &be, 8, 72, error) && strata_file_flush (c->file, error);
}

static gboolean
apply_repair (Check *c, GCancellable *cancellable, GError **error)
{
  gboolean changes = c->raise_refcounts || c->lower_refcounts || c->flag_fixes->len > 0;
  gboolean clean = c->res->check_errors == 0 && c->res->corruptions == 0;

  if (!changes && !(clean && (c->incompat & (INCOMPAT_DIRTY | INCOMPAT_CORRUPT))))
    return TRUE;
  if (!qcow2_clear_unknown_autoclear (c->file, &c->autoclear, error))
    return FALSE;
  if ((c->raise_refcounts && !write_refcounts (c, TRUE, cancellable, error)) ||
      !write_flags (c, FALSE, error) ||
      (c->lower_refcounts && !write_refcounts (c, FALSE, cancellable, error)) ||
      !write_flags (c, TRUE, error))
    return FALSE;
  return !clean || mark_clean (c, error);
}

/* Counts qemu-img restores before its repairing pass over the refcounts. */
typedef struct
{
  guint64 check_errors, corruptions, leaks, corruptions_fixed, leaks_fixed;
} Counts;

static Counts
save_counts (const StrataCheckResult *r)
{
  return (Counts) { r->check_errors, r->corruptions, r->leaks, r->corruptions_fixed,
                    r->leaks_fixed };
}

static void
restore_counts (StrataCheckResult *r, const Counts *k)
{
  r->check_errors = k->check_errors;
  r->corruptions = k->corruptions;
  r->leaks = k->leaks;
  r->corruptions_fixed = k->corruptions_fixed;
  r->leaks_fixed = k->leaks_fixed;
}

/* Persistent bitmaps own their directory, their tables and the data clusters the tables
 * point at (0: all zeros or all ones, no cluster). */

static gboolean
count_bitmaps (Check *c, GError **error)
{
  g_autofree guint8 *dir = NULL;
  guint64 pos = 0;

  if (c->nb_bitmaps == 0)
    return TRUE;
  inc_refcounts (c, c->bitmap_dir_offset, c->bitmap_dir_size);
  if (c->bitmap_dir_size > BITMAP_DIR_MAX || c->bitmap_dir_offset > c->file_size ||
      c->bitmap_dir_size > c->file_size - c->bitmap_dir_offset)
    {
      message (c, "ERROR: the bitmap directory at 0x%" G_GINT64_MODIFIER "x is past the end "
               "of the file", c->bitmap_dir_offset);
      c->res->corruptions++;
      return TRUE;
    }
  dir = g_malloc (MAX (c->bitmap_dir_size, 1));
  if (!strata_file_pread (c->file, dir, c->bitmap_dir_size, c->bitmap_dir_offset, error))
    return FALSE;

  for (guint32 i = 0; i < c->nb_bitmaps; i++)
    {
      g_autofree guint8 *table = NULL;
      guint64 table_offset;
      guint32 table_size, extra;
      guint16 name_size;

      if (pos + 24 > c->bitmap_dir_size)
        {
          message (c, "ERROR: bitmap directory entry %u is past its end", i);
          c->res->corruptions++;
          return TRUE;
        }
      table_offset = be64_at (dir + pos);
      table_size = be32_at (dir + pos + 8);
      name_size = GUINT16_FROM_BE (*(const guint16 *) (const void *) (dir + pos + 18));
      extra = be32_at (dir + pos + 20);
      pos = (pos + 24 + extra + name_size + 7) & ~7ULL;

      inc_refcounts (c, table_offset, (guint64) table_size * 8);
      if (table_size == 0 || (guint64) table_size * 8 > BITMAP_DIR_MAX ||
          table_offset > c->file_size ||
          (guint64) table_size * 8 > c->file_size - table_offset)
        continue;
      table = g_malloc ((gsize) table_size * 8);
      if (!strata_file_pread (c->file, table, (gsize) table_size * 8, table_offset, error))
        return FALSE;
      for (guint32 k = 0; k < table_size; k++)
        {
          guint64 data = be64_at (table + (gsize) k * 8) & BME_OFFSET_MASK;

          if (data != 0)
            inc_refcounts (c, data, c->cluster_size);
        }
    }
  return TRUE;
}

/* Counts every reference from the metadata into c->computed (fresh), with the allocation
 * figures of the active table. */
static gboolean
calculate (Check *c, GCancellable *cancellable, GError **error)
{
  g_free (c->computed);
  c->n_computed = MAX ((c->file_size + c->cluster_size - 1) >> c->cluster_bits, 1);
  c->computed = g_new0 (guint32, c->n_computed);
  c->res->total_clusters = (c->virtual_size + c->cluster_size - 1) >> c->cluster_bits;
  c->res->allocated_clusters = c->res->fragmented_clusters = 0;
  c->res->compressed_clusters = 0;

  inc_refcounts (c, 0, c->cluster_size);
  if (!check_l1 (c, c->l1_offset, c->l1_size, TRUE, cancellable, error) ||
      !check_snapshots (c, cancellable, error))
    return FALSE;
  inc_refcounts (c, c->reftable_offset, c->reftable_entries * 8);
  inc_refcounts (c, c->crypto_offset, c->crypto_length);
  if (!count_bitmaps (c, error))
    return FALSE;
  return check_refblocks (c);
}

/* ------------------------------------------------------------------------------------ */
/* Rebuilding the refcount structures (-r all, a referenced cluster with refcount 0)       */

/*
 * New refcount blocks and a new refcount table are placed in clusters nothing references
 * (computed count 0: free, leaked, or past the end of the file), first fit, where qemu-img
 * places them, so both tools leave the same layout. They are written before the header
 * points at them; until that one 12-byte header write the old structures stay in charge, and
 * after it they are only leaked (the leak pass that follows frees them).
 */
typedef struct
{
  guint64 *table;   /* the new refcount table, host order */
  guint64  entries; /* its size in entries (whole clusters) */
} Rebuild;

static void
grow_computed (Check *c, guint64 want)
{
  if (want <= c->n_computed)
    return;
  c->computed = g_renew (guint32, c->computed, want);
  memset (c->computed + c->n_computed, 0, (want - c->n_computed) * sizeof (guint32));
  c->n_computed = want;
}

/* First fit of @count free clusters from *@first_free on; *@first_free moves to the first
 * free cluster seen. Past the end of the count, the table grows. */
static guint64
alloc_free (Check *c, guint64 count, guint64 *first_free)
{
  guint64 cluster = *first_free, run = 0;
  gboolean first_gap = TRUE;

  for (; cluster < c->n_computed && run < count; cluster++)
    {
      if (c->computed[cluster] == 0)
        {
          if (first_gap)
            {
              *first_free = cluster;
              first_gap = FALSE;
            }
          run++;
        }
      else
        run = 0;
    }
  if (run < count)
    grow_computed (c, cluster + count - run);
  cluster -= run;
  for (guint64 i = 0; i < count; i++)
    c->computed[cluster + i] = 1;
  return cluster;
}

/* Writes the refcount blocks covering the referenced clusters in [@first, @end), allocating
 * the missing ones. Returns whether the new table had to grow (-1 on error). */
static int
write_new_refblocks (Check   *c,
                     Rebuild *r,
                     guint64  first,
                     guint64  end,
                     GError **error)
{
  guint64 per_block = entries_per_refblock (c);
  g_autofree guint8 *block = g_malloc (c->cluster_size);
  guint64 first_free = 0;
  gboolean grown = FALSE;

  for (guint64 cluster = first; cluster < end; cluster++)
    {
      guint64 idx, start, offset;

      if (cluster >= c->n_computed || c->computed[cluster] == 0)
        continue;
      idx = cluster / per_block;
      start = idx * per_block;
      if (idx < r->entries && r->table[idx] != 0)
        offset = r->table[idx];
      else
        {
          guint64 at;

          first_free = MAX (first_free, start);
          at = alloc_free (c, 1, &first_free);
          offset = at << c->cluster_bits;
          /* The block that counts this new block must be written too. */
          if (at >= end)
            end = at + 1;
          if (idx >= r->entries)
            {
              guint64 want = ((idx + 1) * 8 + c->cluster_size - 1) / c->cluster_size *
                             c->cluster_size / 8;

              r->table = g_renew (guint64, r->table, want);
              memset (r->table + r->entries, 0, (want - r->entries) * 8);
              r->entries = want;
              grown = TRUE;
            }
          r->table[idx] = offset;
        }

      memset (block, 0, c->cluster_size);
      for (guint64 k = 0; k < per_block && start + k < c->n_computed; k++)
        refcount_set (block, c->refcount_order, k, MIN (c->computed[start + k],
                                                        refcount_max (c)));
      if (!strata_file_pwrite (c->file, block, c->cluster_size, offset, error))
        return -1;
      cluster = start + per_block - 1;
    }
  return grown;
}

static gboolean
rebuild_refcounts (Check *c, GError **error)
{
  Rebuild r = { NULL, 0 };
  guint64 reftable = 0, clusters = 0;
  guint8 h[12];
  int grown;
  gboolean ok = FALSE;

  grown = write_new_refblocks (c, &r, 0, c->n_computed, error);
  if (grown < 0)
    goto out;
  g_assert (grown);
  /* The table's own clusters need counting in the blocks, which can make it grow. */
  do
    {
      guint64 first_free = 0;

      clusters = (r.entries * 8 + c->cluster_size - 1) / c->cluster_size;
      reftable = alloc_free (c, clusters, &first_free);
      grown = write_new_refblocks (c, &r, reftable, reftable + clusters, error);
      if (grown < 0)
        goto out;
    }
  while (grown);

  for (guint64 i = 0; i < r.entries; i++)
    r.table[i] = GUINT64_TO_BE (r.table[i]);
  if (!strata_file_pwrite (c->file, r.table, r.entries * 8, reftable << c->cluster_bits,
                           error) ||
      !strata_file_flush (c->file, error))
    goto out;

  /* The switch: offset and size of the table in one write inside one sector. */
  *(guint64 *) (void *) h = GUINT64_TO_BE (reftable << c->cluster_bits);
  *(guint32 *) (void *) (h + 8) = GUINT32_TO_BE ((guint32) clusters);
  ok = strata_file_pwrite (c->file, h, sizeof h, 48, error) &&
       strata_file_flush (c->file, error);

out:
  g_free (r.table);
  return ok;
}

gboolean
strata_qcow2_check (StrataFile         *file,
                    StrataCheckFix      fix,
                    StrataCheckResult  *result,
                    GCancellable       *cancellable,
                    GError            **error)
{
  Check c = { 0 };
  guint64 highest = 0;
  gboolean ok = FALSE, repair_flags;
  Counts before;

  c.file = file;
  c.path = strata_file_get_path (file);
  c.res = result;
  c.flag_fixes = g_array_new (FALSE, FALSE, sizeof (FlagFix));
  if (result->messages == NULL)
    result->messages = g_ptr_array_new_with_free_func (g_free);

  before = save_counts (result);
  if (!read_header (&c, error) || !calculate (&c, cancellable, error))
    goto out;
  if (result->corruptions > before.corruptions)
    result->unrepairable = TRUE;

  /* Metadata the walk could not follow (a table past the end, a misaligned entry) means
   * references may be missing from the count: then nothing is lowered or rewritten.
   * qemu-img goes ahead; Strata reports and leaves the image as it is. */
  if (fix != STRATA_CHECK_FIX_NONE && result->corruptions > 0)
    {
      message (&c, "%s: not repaired: the image has damaged tables Strata cannot repair "
               "safely", c.path);
      fix = STRATA_CHECK_FIX_NONE;
    }

  before = save_counts (result);
  if (!compare_refcounts (&c, STRATA_CHECK_FIX_NONE, &highest, cancellable, error))
    goto out;

  /* -r leaks lowers counts only when every count is otherwise right: a cluster referenced
   * more often than counted says the tables are not what they should be, and what looks
   * unreferenced then may not be. (qemu-img repairs the leaks anyway; -r all repairs both.)
   * The image is reported as a plain check reports it, and nothing is written. */
  if (fix == STRATA_CHECK_FIX_LEAKS && !result->needs_rebuild &&
      result->corruptions > before.corruptions && result->leaks > 0)
    {
      message (&c, "%s: leaks not repaired because the image has errors", c.path);
      fix = STRATA_CHECK_FIX_NONE;
    }

  if ((fix & STRATA_CHECK_FIX_ERRORS) && result->needs_rebuild)
    {
      Counts old = save_counts (result), saved;
      guint64 fresh_leaks;

      message (&c, "Rebuilding refcount structure");
      if (!qcow2_clear_unknown_autoclear (c.file, &c.autoclear, error) ||
          !rebuild_refcounts (&c, error))
        goto out;

      /* Count again against the new structures: the old ones are leaks now, repaired
       * below but, as qemu-img reports it, not counted as repaired. */
      result->corruptions = result->leaks = 0;
      result->needs_rebuild = FALSE;
      g_clear_pointer (&c.reftable, g_free);
      c.cached_block_offset = 0;
      if (!read_header (&c, error) || !calculate (&c, cancellable, error))
        goto out;
      saved = save_counts (result);
      restore_counts (result, &(Counts) { 0 });
      c.fix = STRATA_CHECK_FIX_LEAKS;
      c.fix_refcounts = TRUE;
      if (!compare_refcounts (&c, STRATA_CHECK_FIX_LEAKS, &highest, cancellable, error))
        goto out;
      if (result->needs_rebuild)
        message (&c, "ERROR rebuilt refcount structure is still broken");
      fresh_leaks = result->leaks;
      restore_counts (result, &saved);
      if (result->corruptions < old.corruptions)
        result->corruptions_fixed += old.corruptions - result->corruptions;
      if (result->leaks < old.leaks)
        result->leaks_fixed += old.leaks - result->leaks;
      result->leaks += fresh_leaks;
    }
  else if (fix != STRATA_CHECK_FIX_NONE && result->needs_rebuild)
    {
      /* As qemu-img -r leaks: refcounts of 0 under a reference cannot be patched. */
      message (&c, "ERROR need to rebuild refcount structures");
      result->check_errors++;
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_CORRUPT,
                   "%s: Check failed: the refcount structures need to be rebuilt, "
                   "which only -r all does; nothing was changed", c.path);
      goto out;
    }
  else if (fix != STRATA_CHECK_FIX_NONE && (result->leaks > 0 || result->corruptions > 0))
    {
      c.fix = fix;
      restore_counts (result, &before);
      c.fix_refcounts = TRUE;
      if (!compare_refcounts (&c, fix, &highest, cancellable, error))
        goto out;
    }

  /* With -r leaks the flags are only set right on an image whose refcounts now are. */
  repair_flags = (fix & STRATA_CHECK_FIX_ERRORS) ||
                 ((fix & STRATA_CHECK_FIX_LEAKS) && result->check_errors == 0 &&
                  result->corruptions == 0 && result->leaks == 0);
  if (!check_copied_flags (&c, repair_flags, error))
    goto out;
  if (fix != STRATA_CHECK_FIX_NONE && !apply_repair (&c, cancellable, error))
    goto out;

  result->image_end_offset = (highest + 1) * c.cluster_size;
  ok = TRUE;

out:
  g_array_unref (c.flag_fixes);
  g_free (c.reftable);
  g_free (c.computed);
  g_free (c.cached_block);
  return ok;
}

/* Deallocates (punches) the host clusters whose stored refcount is 0, so the space an
 * emptied overlay no longer uses goes back to the filesystem, as qemu-img commit's
 * make-empty does. Only free clusters are touched, so a crash at any point changes nothing
 * a reader can see. */
gboolean
strata_qcow2_punch_free (StrataFile  *file,
                         guint64     *punched,
                         GError     **error)
{
  Check c = { 0 };
  StrataCheckResult scratch = { 0 };
  guint64 n_clusters, run_start = 0, run_len = 0;
  gboolean ok = FALSE;

  *punched = 0;
  c.file = file;
  c.path = strata_file_get_path (file);
  c.res = &scratch;
  scratch.messages = g_ptr_array_new_with_free_func (g_free);
  if (!read_header (&c, error))
    goto out;

  n_clusters = c.file_size >> c.cluster_bits;
  for (guint64 i = 1; i <= n_clusters; i++)
    {
      guint64 refcount = 1;

      /* Cluster 0 is the header; a refcount we cannot read counts as used. */
      if (i < n_clusters && !stored_refcount (&c, i, &refcount, error))
        goto out;
      /* Clusters no refcount block covers are unknown territory: leave them. */
      if (i < n_clusters && (i / entries_per_refblock (&c) >= c.reftable_entries ||
                             (c.reftable[i / entries_per_refblock (&c)] & REFT_OFFSET_MASK) == 0))
        refcount = 1;

      if (i < n_clusters && refcount == 0)
        {
          if (run_len == 0)
            run_start = i;
          run_len++;
          continue;
        }
      if (run_len > 0)
        {
          if (!strata_file_punch_hole (file, run_start << c.cluster_bits,
                                       run_len << c.cluster_bits, error))
            goto out;
          *punched += run_len << c.cluster_bits;
          run_len = 0;
        }
    }
  ok = *punched == 0 || strata_file_flush (file, error);

out:
  g_free (c.reftable);
  g_free (c.computed);
  g_free (c.cached_block);
  g_ptr_array_unref (scratch.messages);
  return ok;
}
