/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "strata-create.h"
#include "strata-error.h"
#include "strata-image.h"
#include "strata-snapshot.h"
#include "test-util.h"

#include <libdeflate.h>
#include <stdio.h>
#include <string.h>
#include <zstd.h>

/*
 * The qcow2 write path, judged by QEMU: random writes, zero writes, discards, compressed
 * clusters and growth applied both to a Strata image and to an in-memory reference of the
 * guest disk; then `qemu-img check` must be clean and `qemu-img compare` must find the image
 * identical to the reference written out as raw.
 */

typedef struct
{
  const char *name;
  const char *opts;            /* creation options (qemu-img -o syntax) */
  guint64     size;
  guint64     cluster_size;
  gboolean    backing;         /* on a qcow2 base made by qemu-io */
  gboolean    from_compressed; /* start from `qemu-img convert -c` output */
  guint       n_ops;
  gboolean    snapshots;       /* take, apply and delete internal snapshots on the way */
} WriteCase;

static const WriteCase cases[] = {
  { "v3-64k", "", 8 << 20, 65536, FALSE, FALSE, 250 },
  { "v3-64k-backing", "", 8 << 20, 65536, TRUE, FALSE, 250 },
  { "v2-64k", "compat=0.10", 8 << 20, 65536, FALSE, FALSE, 200 },
  { "v2-64k-backing", "compat=0.10", 8 << 20, 65536, TRUE, FALSE, 200 },
  { "v3-512-rc1", "cluster_size=512,refcount_bits=1", 2 << 20, 512, FALSE, FALSE, 300 },
  { "v3-512-backing", "cluster_size=512", 2 << 20, 512, TRUE, FALSE, 300 },
  { "v3-4k-rc64", "cluster_size=4k,refcount_bits=64", 4 << 20, 4096, TRUE, FALSE, 250 },
  { "v2-4k", "compat=0.10,cluster_size=4k", 4 << 20, 4096, FALSE, FALSE, 250 },
  { "v3-2m", "cluster_size=2M", 24 << 20, 2 << 20, FALSE, FALSE, 60 },
  { "v3-2m-backing-rc8", "cluster_size=2M,refcount_bits=8", 24 << 20, 2 << 20, TRUE, FALSE,
    60 },
  { "extl2-64k", "extended_l2=on", 8 << 20, 65536, FALSE, FALSE, 250 },
  { "extl2-64k-backing", "extended_l2=on", 8 << 20, 65536, TRUE, FALSE, 250 },
  { "extl2-16k-zstd-backing", "extended_l2=on,cluster_size=16k,compression_type=zstd",
    4 << 20, 16384, TRUE, FALSE, 250 },
  { "zstd-lazy", "compression_type=zstd,lazy_refcounts=on", 8 << 20, 65536, FALSE, FALSE,
    200 },
  { "over-compressed", "", 8 << 20, 65536, FALSE, TRUE, 200 },
  { "over-compressed-zstd-4k", "compression_type=zstd,cluster_size=4k", 4 << 20, 4096,
    FALSE, TRUE, 250 },
  { "over-compressed-v2", "compat=0.10", 8 << 20, 65536, FALSE, TRUE, 150 },
  { "over-compressed-extl2", "extended_l2=on", 8 << 20, 65536, FALSE, TRUE, 200 },
  /* Every write into a cluster or L2 table a snapshot shares must copy it first. */
  { "snap-64k", "", 8 << 20, 65536, FALSE, FALSE, 400, TRUE },
  { "snap-64k-backing", "", 8 << 20, 65536, TRUE, FALSE, 400, TRUE },
  { "snap-512-rc2", "cluster_size=512,refcount_bits=2", 2 << 20, 512, FALSE, FALSE, 400,
    TRUE },
  { "snap-4k-rc64-backing", "cluster_size=4k,refcount_bits=64", 4 << 20, 4096, TRUE, FALSE,
    400, TRUE },
  { "snap-2m-rc8", "cluster_size=2M,refcount_bits=8", 24 << 20, 2 << 20, FALSE, FALSE, 120,
    TRUE },
  { "snap-v2-4k", "compat=0.10,cluster_size=4k", 4 << 20, 4096, FALSE, FALSE, 400, TRUE },
  { "snap-extl2-backing", "extended_l2=on", 8 << 20, 65536, TRUE, FALSE, 400, TRUE },
  { "snap-over-compressed-zstd", "compression_type=zstd,cluster_size=4k", 4 << 20, 4096,
    FALSE, TRUE, 400, TRUE },
};

/* A snapshot taken during test_random_ops and the guest content it must keep. */
typedef struct
{
  char    *id;
  char    *name;
  guint8  *data;
  guint64  size;
} SavedSnapshot;

static void
saved_snapshot_free (gpointer p)
{
  SavedSnapshot *sn = p;

  g_free (sn->id);
  g_free (sn->name);
  g_free (sn->data);
  g_free (sn);
}

/* Takes, applies or deletes a snapshot of the closed image @name (all through the engine),
 * keeping @saved and the reference guest view in step. */
static void
snapshot_action (GRand      *rand,
                 const char *name,
                 GPtrArray  *saved,
                 guint8    **ref,
                 guint64    *size,
                 guint      *counter)
{
  g_autoptr(GError) error = NULL;
  guint what = g_rand_int_range (rand, 0, 4);

  if (saved->len == 0 || what < 2)
    {
      SavedSnapshot *sn = g_new0 (SavedSnapshot, 1);
      g_autoptr(GPtrArray) list = NULL;

      sn->name = g_strdup_printf ("s%u", (*counter)++);
      if (!strata_snapshot_create_sync (tu_path (name), sn->name, &error))
        {
          /* Narrow refcounts run out (compressed clusters share host clusters): refused
           * before anything changed. */
          g_assert_error (error, STRATA_ERROR, STRATA_ERROR_INVALID_ARGUMENT);
          g_assert_nonnull (strstr (error->message, "overflow"));
          saved_snapshot_free (sn);
          tu_assert_qemu_check_clean (tu_path (name));
          return;
        }
      list = strata_snapshot_list_sync (tu_path (name), FALSE, &error);
      g_assert_no_error (error);
      sn->id = g_strdup (((StrataSnapshotInfo *) list->pdata[list->len - 1])->id);
      sn->data = g_memdup2 (*ref, *size);
      sn->size = *size;
      g_ptr_array_add (saved, sn);
    }
  else if (what == 2)
    {
      SavedSnapshot *sn = saved->pdata[g_rand_int_range (rand, 0, saved->len)];

      g_assert_true (strata_snapshot_apply_sync (tu_path (name), sn->id, &error));
      g_assert_no_error (error);
      g_free (*ref);
      *ref = g_memdup2 (sn->data, sn->size);
      *size = sn->size;
    }
  else
    {
      guint i = g_rand_int_range (rand, 0, saved->len);

      g_assert_true (strata_snapshot_delete_sync (tu_path (name),
                                                  ((SavedSnapshot *) saved->pdata[i])->name,
                                                  &error));
      g_assert_no_error (error);
      g_ptr_array_remove_index (saved, i);
    }
  tu_assert_qemu_check_clean (tu_path (name));
}

/* Each snapshot, applied by qemu-img to a copy (which brings its size back too), holds what
 * it held when it was taken. */
static void
assert_snapshots (const char *name,
                  GPtrArray  *saved)
{
  for (guint i = 0; i < saved->len; i++)
    {
      SavedSnapshot *sn = saved->pdata[i];
      g_autofree char *want = g_strdup_printf ("%s-want-%s.raw", name, sn->id);
      g_autofree char *got = g_strdup_printf ("%s-got-%s.qcow2", name, sn->id);

      g_assert_true (g_file_set_contents (tu_path (want), (char *) sn->data, sn->size, NULL));
      g_free (tu_run_ok ("cp '%s' '%s' && qemu-img snapshot -a %s '%s'", tu_path (name),
                         tu_path (got), sn->id, tu_path (got)));
      tu_assert_qemu_check_clean (tu_path (got));
      tu_assert_qemu_compare (tu_path (got), tu_path (want));
      {
        g_autofree char *vsize = tu_run_ok ("qemu-img info --output=json '%s' | "
                                            "sed -n 's/.*\"virtual-size\": \\([0-9]*\\).*/\\1/p'",
                                            tu_path (got));

        g_assert_cmpuint (g_ascii_strtoull (vsize, NULL, 10), ==, sn->size);
      }
    }
}

static guint8 *
read_file (const char *name,
           gsize      *len)
{
  char *data = NULL;

  g_assert_true (g_file_get_contents (tu_path (name), &data, len, NULL));
  return (guint8 *) data;
}

/* Data that compresses some but not entirely: runs, text and noise. */
static void
fill_random (GRand  *rand,
             guint8 *buf,
             gsize   len)
{
  guint kind = g_rand_int_range (rand, 0, 3);

  for (gsize i = 0; i < len; i++)
    {
      if (kind == 0)
        buf[i] = g_rand_int (rand);
      else if (kind == 1)
        buf[i] = 'a' + (g_rand_int (rand) % 4);
      else
        buf[i] = (i / 97) & 0xff;
    }
  buf[0] = g_rand_int (rand) | 1;
}

static gsize
compress_cluster (StrataCompression  type,
                  const guint8      *in,
                  gsize              len,
                  guint8            *out,
                  gsize              cap)
{
  if (type == STRATA_COMPRESSION_ZLIB)
    {
      struct libdeflate_compressor *c = libdeflate_alloc_compressor (6);
      gsize n = libdeflate_deflate_compress (c, in, len, out, cap);

      libdeflate_free_compressor (c);
      return n;
    }
  else
    {
      gsize n = ZSTD_compress (out, cap, in, len, 3);

      g_assert_false (ZSTD_isError (n));
      return n;
    }
}

static StrataImage *
open_rw (const char *name)
{
  g_autoptr(GError) error = NULL;
  StrataImage *image = strata_image_open (tu_path (name), NULL, STRATA_OPEN_WRITE, &error);

  g_assert_no_error (error);
  return image;
}

static void
close_image (StrataImage *image)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (strata_image_close (image, &error));
  g_assert_no_error (error);
  strata_image_unref (image);
}

static void
test_random_ops (gconstpointer data)
{
  const WriteCase *c = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GRand) rand = g_rand_new_with_seed (g_str_hash (c->name));
  g_autofree char *name = g_strdup_printf ("%s.qcow2", c->name);
  g_autofree char *base = g_strdup_printf ("%s-base.qcow2", c->name);
  g_autofree char *ref_name = g_strdup_printf ("%s-ref.raw", c->name);
  g_autofree guint8 *base_data = NULL;
  g_autofree guint8 *ref = NULL;
  g_autofree guint8 *buf = NULL;
  g_autofree guint8 *cbuf = NULL;
  guint64 size = c->size, cs = c->cluster_size;
  gsize base_len = 0;
  guint grows = 0, counter = 0;
  g_autoptr(GPtrArray) saved = g_ptr_array_new_with_free_func (saved_snapshot_free);
  StrataImage *image;
  StrataCompression ctype;

  ref = g_malloc0 (size);

  if (c->backing)
    {
      /* A base a bit shorter than the overlay, with data, zeros and a compressed cluster. */
      guint64 b = size * 3 / 4, u = b / 16 & ~511ull;

      g_free (tu_run_ok ("qemu-img create -q -f qcow2 -o cluster_size=64k %s %" G_GUINT64_FORMAT
                         " && qemu-io -f qcow2 -c 'write -c -P 0x33 0 64k' "
                         "-c 'write -P 0x11 %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT "' "
                         "-c 'write -P 0x22 %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT "' "
                         "-c 'write -z %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT "' "
                         "-c 'write -P 0x44 %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT "' "
                         "%s >/dev/null && qemu-img convert -O raw %s %s.raw", base, b,
                         u, 5 * u, 7 * u, 4 * u, 3 * u, 2 * u, b - u, u, base, base, base));
      {
        g_autofree char *raw = g_strdup_printf ("%s.raw", base);

        base_data = read_file (raw, &base_len);
      }
      memcpy (ref, base_data, MIN (base_len, size));
    }

  if (c->from_compressed)
    {
      g_autofree char *src = g_strdup_printf ("%s-src.raw", c->name);
      g_autofree guint8 *src_data = NULL;
      gsize src_len;

      g_free (tu_run_ok ("(base64 -w 0 /dev/urandom | head -c %" G_GUINT64_FORMAT "; "
                         "head -c 500000 /dev/zero; base64 /dev/urandom | head -c %"
                         G_GUINT64_FORMAT ") > %s && qemu-img convert -c -O qcow2 %s%s %s %s",
                         size / 2, size - size / 2 - 500000, src, *c->opts ? "-o " : "",
                         c->opts, src, name));
      src_data = read_file (src, &src_len);
      g_assert_cmpuint (src_len, ==, size);
      memcpy (ref, src_data, size);
    }
  else
    {
      StrataCreateOptions opts;

      strata_create_options_init (&opts);
      g_assert_true (strata_create_options_parse (&opts, c->opts, &error));
      opts.size = size;
      opts.has_size = TRUE;
      if (c->backing)
        {
          opts.backing_file = base;
          opts.backing_format = "qcow2";
        }
      g_assert_true (strata_create_qcow2 (tu_path (name), &opts, &error));
      g_assert_no_error (error);
    }

  image = open_rw (name);
  ctype = strata_image_get_compression (image);
  buf = g_malloc (MAX (4 * cs, 1 << 20) + cs);
  cbuf = g_malloc (2 * cs + 1024);

  for (guint i = 0; i < c->n_ops; i++)
    {
      guint op = g_rand_int_range (rand, 0, 100);
      guint64 off, len;

      if (op < 45)
        {
          /* Write: small or large, unaligned, often spanning clusters. */
          guint64 max = g_rand_boolean (rand) ? 2 * cs : MAX (4 * cs, 1 << 20);

          len = g_rand_int_range (rand, 1, MIN (max, size) + 1);
          off = g_rand_int_range (rand, 0, size - len + 1);
          if (g_rand_boolean (rand))
            off &= ~(guint64) 511;
          fill_random (rand, buf, len);
          g_assert_true (strata_image_write (image, off, len, buf, &error));
          g_assert_no_error (error);
          memcpy (ref + off, buf, len);
        }
      else if (op < 60)
        {
          len = g_rand_int_range (rand, 1, MIN (4 * cs, size) + 1);
          off = g_rand_int_range (rand, 0, size - len + 1);
          if (g_rand_boolean (rand))
            {
              off &= ~(cs - 1);
              len = MIN ((len + cs - 1) & ~(cs - 1), size - off);
            }
          g_assert_true (strata_image_write_zeroes (image, off, len, &error));
          g_assert_no_error (error);
          memset (ref + off, 0, len);
        }
      else if (op < 75)
        {
          len = g_rand_int_range (rand, 1, MIN (4 * cs, size) + 1);
          off = g_rand_int_range (rand, 0, size - len + 1);
          if (c->backing)
            {
              /* Whole clusters fall through to the backing; parts would be advisory. */
              off &= ~(cs - 1);
              len = MIN ((len + cs - 1) & ~(cs - 1), size - off);
            }
          g_assert_true (strata_image_discard (image, off, len, &error));
          g_assert_no_error (error);
          if (c->backing)
            {
              memset (ref + off, 0, len);
              if (off < base_len)
                memcpy (ref + off, base_data + off, MIN (len, base_len - off));
            }
          else
            memset (ref + off, 0, len);
        }
      else if (op < 90)
        {
          gsize clen;

          off = g_rand_int_range (rand, 0, size / cs) * cs;
          fill_random (rand, buf, cs);
          if (g_rand_int_range (rand, 0, 4) == 0)
            memset (buf, 0, cs / 2);
          clen = compress_cluster (ctype, buf, cs, cbuf, 2 * cs + 1024);
          g_assert_cmpuint (clen, >, 0);
          g_assert_true (strata_image_write_compressed (image, off, cbuf, clen, &error));
          g_assert_no_error (error);
          memcpy (ref + off, buf, MIN (cs, size - off));
        }
      else if (op < 94 && grows < 2)
        {
          guint64 new_size = size + g_rand_int_range (rand, 1, 2048) * 512;

          g_assert_true (strata_image_truncate (image, new_size, &error));
          g_assert_no_error (error);
          ref = g_realloc (ref, new_size);
          memset (ref + size, 0, new_size - size);
          size = new_size;
          grows++;
        }
      else if (op < 97)
        {
          g_assert_true (strata_image_flush (image, &error));
          g_assert_no_error (error);
        }
      else
        {
          close_image (image);
          tu_assert_qemu_check_clean (tu_path (name));
          if (c->snapshots)
            snapshot_action (rand, name, saved, &ref, &size, &counter);
          image = open_rw (name);
        }
    }

  /* Strata reads its own writes correctly too, before QEMU judges the file. */
  {
    g_autofree guint8 *back = g_malloc (size);

    g_assert_true (strata_image_read (image, 0, size, back, &error));
    g_assert_no_error (error);
    g_assert_true (memcmp (back, ref, size) == 0);
  }

  close_image (image);
  g_assert_true (g_file_set_contents (tu_path (ref_name), (char *) ref, size, NULL));
  tu_assert_qemu_check_clean (tu_path (name));
  tu_assert_qemu_compare (tu_path (name), tu_path (ref_name));

  if (c->snapshots)
    {
      g_test_message ("%s: %u snapshots at the end", c->name, saved->len);
      assert_snapshots (name, saved);
      /* Deleting them all frees every cluster only they used. */
      while (saved->len > 0)
        {
          g_assert_true (strata_snapshot_delete_sync (
            tu_path (name), ((SavedSnapshot *) saved->pdata[0])->name, &error));
          g_assert_no_error (error);
          g_ptr_array_remove_index (saved, 0);
          tu_assert_qemu_check_clean (tu_path (name));
        }
      tu_assert_qemu_compare (tu_path (name), tu_path (ref_name));
    }
}

/* The convert pattern: a fresh image written front to back, one cluster per call. */
static void
test_sequential (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GRand) rand = g_rand_new_with_seed (42);
  const guint64 size = 96ull << 20, cs = 65536;
  g_autofree guint8 *cluster = g_malloc (cs);
  g_autofree guint8 *cbuf = g_malloc (2 * cs);
  g_autofree char *ref_path = g_strdup (tu_path ("seq.raw"));
  StrataCreateOptions opts;
  StrataImage *image;
  FILE *ref;
  gint64 t0, t1;

  strata_create_options_init (&opts);
  opts.size = size;
  opts.has_size = TRUE;
  g_assert_true (strata_create_qcow2 (tu_path ("seq.qcow2"), &opts, &error));
  g_assert_no_error (error);

  image = open_rw ("seq.qcow2");
  ref = fopen (ref_path, "wb");
  t0 = g_get_monotonic_time ();
  for (guint64 off = 0; off < size; off += cs)
    {
      guint kind = (off / cs) % 16;

      fill_random (rand, cluster, cs);
      if (kind == 15)
        {
          gsize clen = compress_cluster (STRATA_COMPRESSION_ZLIB, cluster, cs, cbuf, 2 * cs);

          g_assert_true (strata_image_write_compressed (image, off, cbuf, clen, &error));
        }
      else if (kind == 7)
        {
          memset (cluster, 0, cs);
          g_assert_true (strata_image_write_zeroes (image, off, cs, &error));
        }
      else
        g_assert_true (strata_image_write (image, off, cs, cluster, &error));
      g_assert_no_error (error);
      g_assert_cmpuint (fwrite (cluster, 1, cs, ref), ==, cs);
    }
  close_image (image);
  t1 = g_get_monotonic_time ();
  fclose (ref);

  g_test_message ("sequential write: %.1f MB/s", size / (double) (t1 - t0));
  tu_assert_qemu_check_clean (tu_path ("seq.qcow2"));
  tu_assert_qemu_compare (tu_path ("seq.qcow2"), ref_path);
}

/* Header rewrites: set, change and remove the backing file. */
static void
test_set_backing (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *info = NULL;
  StrataImage *image;

  g_free (tu_run_ok ("qemu-img create -q -f qcow2 sb-base.qcow2 4M && "
                     "qemu-io -f qcow2 -c 'write -P 0x5a 0 4M' sb-base.qcow2 >/dev/null && "
                     "cp sb-base.qcow2 sb-copy.qcow2 && "
                     "qemu-img create -q -f qcow2 -b sb-base.qcow2 -F qcow2 sb-top.qcow2 && "
                     "qemu-io -f qcow2 -c 'write -P 0x01 1M 4k' sb-top.qcow2 >/dev/null && "
                     "qemu-img convert -O raw sb-top.qcow2 sb-top.raw"));

  image = open_rw ("sb-top.qcow2");
  g_assert_true (strata_image_set_backing (image, "sb-copy.qcow2", "qcow2", &error));
  g_assert_no_error (error);
  close_image (image);
  tu_assert_qemu_check_clean (tu_path ("sb-top.qcow2"));
  tu_assert_qemu_compare (tu_path ("sb-top.qcow2"), tu_path ("sb-top.raw"));
  info = tu_run_ok ("qemu-img info --output=json sb-top.qcow2");
  g_assert_nonnull (strstr (info, "\"backing-filename\": \"sb-copy.qcow2\""));
  g_assert_nonnull (strstr (info, "\"backing-filename-format\": \"qcow2\""));
  g_clear_pointer (&info, g_free);

  /* A long name still fits in cluster 0. */
  image = open_rw ("sb-top.qcow2");
  {
    GString *longname = g_string_new ("./");

    while (longname->len < 900)
      g_string_append (longname, "d/../");
    g_string_append (longname, "sb-copy.qcow2");
    g_free (tu_run_ok ("mkdir -p d"));
    g_assert_true (strata_image_set_backing (image, longname->str, "qcow2", &error));
    g_assert_no_error (error);
    g_string_free (longname, TRUE);
  }
  close_image (image);
  tu_assert_qemu_check_clean (tu_path ("sb-top.qcow2"));
  tu_assert_qemu_compare (tu_path ("sb-top.qcow2"), tu_path ("sb-top.raw"));

  /* Removing the backing drops the format too; the overlay then reads zeros below. */
  image = open_rw ("sb-top.qcow2");
  g_assert_true (strata_image_set_backing (image, NULL, NULL, &error));
  g_assert_no_error (error);
  close_image (image);
  tu_assert_qemu_check_clean (tu_path ("sb-top.qcow2"));
  info = tu_run_ok ("qemu-img info --output=json sb-top.qcow2");
  g_assert_null (strstr (info, "backing"));
  g_free (tu_run_ok ("qemu-img create -q -f raw sb-exp.raw 4M && "
                     "qemu-io -f raw -c 'write -P 0x5a 1M 64k' -c 'write -P 0x01 1M 4k' "
                     "sb-exp.raw >/dev/null"));
  tu_assert_qemu_compare (tu_path ("sb-top.qcow2"), tu_path ("sb-exp.raw"));
}

/* Growth across many L1 entries and refcount table growth. */
static void
test_grow (void)
{
  g_autoptr(GError) error = NULL;
  guint8 buf[4096];
  StrataImage *image;

  g_free (tu_run_ok ("qemu-img create -q -f qcow2 -o cluster_size=512,refcount_bits=64 "
                     "grow.qcow2 64k && qemu-img create -q -f raw grow.raw 64k"));
  image = open_rw ("grow.qcow2");
  g_assert_true (strata_image_truncate (image, 40 << 20, &error));
  g_assert_no_error (error);
  memset (buf, 0xab, sizeof buf);
  /* Enough scattered clusters to need many refcount blocks and a bigger table. */
  for (guint64 off = 0; off < (40 << 20); off += 37 * 4096 + 512)
    {
      g_assert_true (strata_image_write (image, off, sizeof buf, buf, &error));
      g_assert_no_error (error);
    }
  close_image (image);
  {
    g_autofree char *cmd = g_strdup ("qemu-img resize -q -f raw grow.raw 40M && qemu-io -f raw");
    GString *s = g_string_new (cmd);

    for (guint64 off = 0; off < (40 << 20); off += 37 * 4096 + 512)
      g_string_append_printf (s, " -c 'write -P 0xab %" G_GUINT64_FORMAT " 4096'", off);
    g_string_append (s, " grow.raw >/dev/null");
    g_free (tu_run_ok ("%s", s->str));
    g_string_free (s, TRUE);
  }
  tu_assert_qemu_check_clean (tu_path ("grow.qcow2"));
  tu_assert_qemu_compare (tu_path ("grow.qcow2"), tu_path ("grow.raw"));
}

static void
test_refuse_writing (void)
{
  g_autoptr(GError) error = NULL;
  StrataImage *image;

  /* (Images with internal snapshots are written: tests/engine/test-snapshot.c.) */
  tu_qemu_create_encrypted ("enc.qcow2", "encrypt.format=luks,encrypt.iter-time=50", "1M");
  image = strata_image_open (tu_path ("enc.qcow2"), NULL, STRATA_OPEN_WRITE, &error);
  g_assert_null (image);
  g_assert_error (error, STRATA_ERROR, STRATA_ERROR_UNSUPPORTED);
  g_assert_nonnull (strstr (error->message, "enc.qcow2"));
  g_clear_error (&error);

  image = strata_image_open (tu_path ("enc.qcow2"), NULL, STRATA_OPEN_READ_ONLY, &error);
  g_assert_no_error (error);
  {
    g_autoptr(StrataImageInfo) info = strata_image_get_info (image, &error);
    guint8 b[512];

    g_assert_true (info->encrypted);
    g_assert_nonnull (info->warnings);
    g_assert_false (strata_image_read (image, 0, sizeof b, b, &error));
    g_assert_nonnull (strstr (error->message, "enc.qcow2"));
  }
  strata_image_unref (image);
}


/* ------------------------------------------------------------------------------------ */
/* Crash states: every flush point (and everything up to the next one) must check clean   */
/* of errors; leaks are allowed.                                                          */

typedef struct
{
  guint64  offset;
  GBytes  *data;     /* NULL: a flush */
} Rec;

static void
rec_write_cb (const char *path, guint64 offset, const void *buf, gsize len, gpointer data)
{
  Rec r = { offset, g_bytes_new (buf, len) };

  if (g_str_has_suffix (path, "crash.qcow2"))
    g_array_append_val ((GArray *) data, r);
}

static void
rec_flush_cb (const char *path, gpointer data)
{
  Rec r = { 0, NULL };

  if (g_str_has_suffix (path, "crash.qcow2"))
    g_array_append_val ((GArray *) data, r);
}

static void
check_state (const guint8 *initial,
             gsize         initial_len,
             GArray       *recs,
             guint         upto)
{
  g_autofree char *out = NULL;
  const char *path = tu_path ("crash-state.qcow2");
  FILE *f;
  int rc;

  g_assert_true (g_file_set_contents_full (path, (const char *) initial, initial_len,
                                           G_FILE_SET_CONTENTS_NONE, 0644, NULL));
  f = fopen (path, "r+b");
  for (guint i = 0; i < upto; i++)
    {
      Rec *r = &g_array_index (recs, Rec, i);
      gsize len;
      const void *p;

      if (r->data == NULL)
        continue;
      p = g_bytes_get_data (r->data, &len);
      fseeko (f, r->offset, SEEK_SET);
      g_assert_cmpuint (fwrite (p, 1, len, f), ==, len);
    }
  fclose (f);

  rc = tu_run (&out, NULL, "qemu-img check %s", path);
  if (rc != 0 && rc != 3)
    g_error ("crash state after %u of %u recorded operations is corrupt (exit %d):\n%s",
             upto, recs->len, rc, out);
}

static void
test_crash_states (gconstpointer data)
{
  const char *opts = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GRand) rand = g_rand_new_with_seed (7);
  g_autoptr(GArray) recs = g_array_new (FALSE, FALSE, sizeof (Rec));
  g_autofree guint8 *initial = NULL;
  g_autofree guint8 *buf = g_malloc (256 * 1024);
  StrataIoHooks hooks = { 0 };
  gsize initial_len;
  StrataImage *image;
  guint checked = 0;

  /* Small clusters: many tables and blocks; 64-bit refcounts also grow the refcount table. */
  g_free (tu_run_ok ("qemu-img create -q -f qcow2 crash-base.qcow2 4M && "
                     "qemu-io -f qcow2 -c 'write -P 0x61 0 4M' crash-base.qcow2 >/dev/null && "
                     "qemu-img create -q -f qcow2 -o %s "
                     "-b crash-base.qcow2 -F qcow2 crash.qcow2 4M && "
                     "qemu-io -f qcow2 -c 'write -c -P 0x62 1M 512' crash.qcow2 >/dev/null", opts));
  initial = read_file ("crash.qcow2", &initial_len);

  hooks.on_write = rec_write_cb;
  hooks.on_flush = rec_flush_cb;
  hooks.data = recs;
  strata_io_set_hooks (&hooks);

  image = open_rw ("crash.qcow2");
  for (guint i = 0; i < 120; i++)
    {
      guint op = g_rand_int_range (rand, 0, 10);
      guint64 len = g_rand_int_range (rand, 1, 256 * 1024);
      guint64 off = g_rand_int_range (rand, 0, (4 << 20) - len);

      memset (buf, i, len);
      if (op < 6)
        g_assert_true (strata_image_write (image, off, len, buf, &error));
      else if (op < 8)
        g_assert_true (strata_image_write_zeroes (image, off, len, &error));
      else if (op < 9)
        g_assert_true (strata_image_discard (image, off, len, &error));
      else
        g_assert_true (strata_image_truncate (image, strata_image_get_size (image) + 65536,
                                              &error));
      g_assert_no_error (error);
    }
  close_image (image);
  strata_io_set_hooks (NULL);

  for (guint i = 0; i <= recs->len; i++)
    {
      gboolean flush = i == recs->len || g_array_index (recs, Rec, i).data == NULL;

      /* The state at the flush, and the state with everything up to it written. */
      if (flush && (checked++ % 3 == 0 || i == recs->len))
        check_state (initial, initial_len, recs, i);
      if (!flush && i > 0 && g_array_index (recs, Rec, i - 1).data == NULL &&
          g_rand_int_range (rand, 0, 3) == 0)
        check_state (initial, initial_len, recs, i);
    }
  g_test_message ("%u recorded operations, %u flushes", recs->len, checked);
  tu_assert_qemu_check_clean (tu_path ("crash.qcow2"));

  for (guint i = 0; i < recs->len; i++)
    g_clear_pointer (&g_array_index (recs, Rec, i).data, g_bytes_unref);
}


/* Writing into damaged images: clear errors or success, never a crash. */
static void
test_write_fuzz (void)
{
  g_autoptr(GRand) rand = g_rand_new_with_seed (99);
  g_autofree guint8 *orig = NULL;
  g_autofree guint8 *buf = g_malloc0 (200000);
  gsize len;
  guint opened = 0, failed = 0;

  g_free (tu_run_ok ("qemu-img create -q -f qcow2 -o cluster_size=4k,refcount_bits=4 "
                     "wfuzz.qcow2 4M && qemu-io -f qcow2 -c 'write -c -P 0x33 0 4k' "
                     "-c 'write -P 0x11 100k 300k' -c 'write -z 1M 64k' wfuzz.qcow2 >/dev/null"));
  orig = read_file ("wfuzz.qcow2", &len);

  for (guint iter = 0; iter < 150; iter++)
    {
      g_autofree guint8 *copy = g_memdup2 (orig, len);
      g_autoptr(GError) error = NULL;
      const char *path = tu_path ("wfuzzed.qcow2");
      StrataImage *image;

      /* Mostly the header, refcount table and block, L1 and first L2 (first 5 clusters). */
      for (guint f = g_rand_int_range (rand, 1, 6); f > 0; f--)
        copy[g_rand_int_range (rand, 0, g_rand_boolean (rand) ? len : 20480)] ^=
          1 << g_rand_int_range (rand, 0, 8);
      g_assert_true (g_file_set_contents_full (path, (char *) copy, len,
                                               G_FILE_SET_CONTENTS_NONE, 0644, NULL));

      image = strata_image_open (path, NULL, STRATA_OPEN_WRITE | STRATA_OPEN_NO_BACKING, &error);
      if (image == NULL)
        continue;
      opened++;
      for (guint i = 0; i < 20 && error == NULL; i++)
        {
          guint64 size = strata_image_get_size (image);
          guint64 n = g_rand_int_range (rand, 1, 200000);
          guint64 off;

          n = MIN (n, size);
          off = g_rand_int_range (rand, 0, size - n + 1);
          switch (g_rand_int_range (rand, 0, 4))
            {
            case 0: strata_image_write (image, off, n, buf, &error); break;
            case 1: strata_image_write_zeroes (image, off, n, &error); break;
            case 2: strata_image_discard (image, off, n, &error); break;
            default: strata_image_read (image, off, n, buf, &error); break;
            }
        }
      if (error != NULL)
        {
          g_assert_nonnull (strstr (error->message, "wfuzzed.qcow2"));
          failed++;
        }
      g_clear_error (&error);
      strata_image_close (image, NULL);
      strata_image_unref (image);
    }
  g_test_message ("%u of 150 damaged images opened, %u of those failed cleanly", opened,
                  failed);
}


/* More images that must not be opened for writing, each with a clear reason. */
static void
test_refuse_more (void)
{
  const struct { const char *cmd; const char *name; const char *why; } cases[] = {
    { "qemu-img create -q -f qcow2 r-bitmap.qcow2 1M && "
      "qemu-img bitmap --add r-bitmap.qcow2 b0", "r-bitmap.qcow2", "bitmaps" },
    { "qemu-img create -q -f qcow2 r-corrupt.qcow2 1M && "
      "printf '\\002' | dd of=r-corrupt.qcow2 bs=1 seek=79 conv=notrunc status=none",
      "r-corrupt.qcow2", "corrupt" },
    { "qemu-img create -q -f qcow2 -o lazy_refcounts=on r-dirty.qcow2 1M && "
      "printf '\\001' | dd of=r-dirty.qcow2 bs=1 seek=79 conv=notrunc status=none",
      "r-dirty.qcow2", "dirty" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      StrataImage *image;

      g_free (tu_run_ok ("%s", cases[i].cmd));
      image = strata_image_open (tu_path (cases[i].name), NULL, STRATA_OPEN_WRITE, &error);
      g_assert_null (image);
      g_assert_error (error, STRATA_ERROR, STRATA_ERROR_UNSUPPORTED);
      g_assert_nonnull (strstr (error->message, cases[i].name));
      g_assert_nonnull (strstr (error->message, cases[i].why));
      g_clear_error (&error);

      image = strata_image_open (tu_path (cases[i].name), NULL, STRATA_OPEN_READ_ONLY, &error);
      g_assert_no_error (error);
      strata_image_unref (image);
    }

  /* External data files: info works, reading and writing are refused naming the file. */
  {
    g_autoptr(GError) error = NULL;
    g_autoptr(StrataImageInfo) info = NULL;
    const char *data_file = NULL;
    StrataImage *image;
    guint8 b[512];

    g_free (tu_run_ok ("qemu-img create -q -f qcow2 -o data_file=r-data.raw r-ext.qcow2 1M"));
    g_assert_null (strata_image_open (tu_path ("r-ext.qcow2"), NULL, STRATA_OPEN_WRITE,
                                      &error));
    g_assert_error (error, STRATA_ERROR, STRATA_ERROR_UNSUPPORTED);
    g_assert_nonnull (strstr (error->message, "r-data.raw"));
    g_clear_error (&error);

    image = strata_image_open (tu_path ("r-ext.qcow2"), NULL, 0, &error);
    g_assert_no_error (error);
    info = strata_image_get_info (image, &error);
    g_assert_true (g_variant_lookup (info->format_specific, "data-file", "&s", &data_file));
    g_assert_cmpstr (data_file, ==, "r-data.raw");
    g_assert_nonnull (info->warnings);
    g_assert_false (strata_image_read (image, 0, sizeof b, b, &error));
    g_assert_error (error, STRATA_ERROR, STRATA_ERROR_UNSUPPORTED);
    g_assert_nonnull (strstr (error->message, "r-ext.qcow2"));
    strata_image_unref (image);
  }
}

/* A header extension Strata does not know survives a header rewrite. */
static void
test_unknown_extension_kept (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *hexdump = NULL;
  StrataImage *image;

  /* qemu-img's v3 header: 112 bytes, feature table (8 + 384), end marker at 504. */
  g_free (tu_run_ok ("qemu-img create -q -f qcow2 ux-base.qcow2 1M && "
                     "qemu-img create -q -f qcow2 ux.qcow2 1M && "
                     "printf '\\022\\064\\126\\170\\000\\000\\000\\005hello' | "
                     "dd of=ux.qcow2 bs=1 seek=504 conv=notrunc status=none"));
  image = open_rw ("ux.qcow2");
  g_assert_true (strata_image_set_backing (image, "ux-base.qcow2", "qcow2", &error));
  g_assert_no_error (error);
  close_image (image);

  tu_assert_qemu_check_clean (tu_path ("ux.qcow2"));
  hexdump = tu_run_ok ("head -c 4096 ux.qcow2 | od -A n -t x1 | tr -d ' \\n'");
  g_assert_nonnull (strstr (hexdump, "123456780000000568656c6c6f000000"));
  g_free (hexdump);
  hexdump = tu_run_ok ("qemu-img info ux.qcow2");
  g_assert_nonnull (strstr (hexdump, "backing file: ux-base.qcow2"));
}


/* The convert flow: a temporary file, created in place, written, then renamed. */
static void
test_in_file_flow (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(StrataFile) file = NULL;
  g_autofree guint8 *cluster = g_malloc (65536);
  g_autofree guint8 *cbuf = g_malloc (2 * 65536);
  g_autofree char *ref = g_malloc0 (4 << 20);
  const char *final = tu_path ("flow.qcow2");
  StrataCreateOptions opts;
  StrataImage *image;

  strata_create_options_init (&opts);
  g_assert_true (strata_create_options_parse (&opts, "compression_type=zstd,size=4M", &error));
  file = strata_file_create_temp (final, &error);
  g_assert_no_error (error);
  g_assert_true (strata_create_qcow2_in_file (file, &opts, &error));
  g_assert_no_error (error);

  image = strata_image_open (strata_file_get_path (file), "qcow2",
                             STRATA_OPEN_WRITE | STRATA_OPEN_NO_LOCK, &error);
  g_assert_no_error (error);
  g_assert_cmpint (strata_image_get_compression (image), ==, STRATA_COMPRESSION_ZSTD);
  for (guint i = 0; i < 64; i += 2)
    {
      gsize clen;

      memset (cluster, 'a' + i % 26, 65536);
      cluster[i * 100] = 'Z';
      clen = compress_cluster (STRATA_COMPRESSION_ZSTD, cluster, 65536, cbuf, 2 * 65536);
      g_assert_true (strata_image_write_compressed (image, i * 65536ull, cbuf, clen, &error));
      g_assert_no_error (error);
      memcpy (ref + i * 65536, cluster, 65536);
    }
  close_image (image);
  g_assert_true (strata_file_commit_rename (file, final, &error));
  g_assert_no_error (error);

  g_assert_true (g_file_set_contents (tu_path ("flow.raw"), ref, 4 << 20, NULL));
  tu_assert_qemu_check_clean (final);
  tu_assert_qemu_compare (final, tu_path ("flow.raw"));
  {
    g_autofree char *out = tu_run_ok ("qemu-img check flow.qcow2");

    /* 32 tiny clusters share host clusters: packed byte-granular as QEMU does. */
    g_assert_nonnull (strstr (out, "100.00% compressed"));
  }
  {
    g_autofree char *list = tu_list_dir (tu_dir ());

    g_assert_null (strstr (list, ".flow.qcow2.strata-"));
  }
}

int
main (int argc, char **argv)
{
  tu_init (&argc, &argv);

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/qcow2/write/%s", cases[i].name);

      g_test_add_data_func (path, &cases[i], test_random_ops);
    }
  g_test_add_func ("/qcow2/write/sequential", test_sequential);
  g_test_add_func ("/qcow2/write/set-backing", test_set_backing);
  g_test_add_func ("/qcow2/write/grow", test_grow);
  g_test_add_func ("/qcow2/write/refuse", test_refuse_writing);
  g_test_add_data_func ("/qcow2/write/crash-states/rc1", "cluster_size=512,refcount_bits=1",
                        test_crash_states);
  g_test_add_data_func ("/qcow2/write/crash-states/rc64", "cluster_size=512,refcount_bits=64",
                        test_crash_states);
  g_test_add_func ("/qcow2/write/fuzz", test_write_fuzz);
  g_test_add_func ("/qcow2/write/in-file-flow", test_in_file_flow);
  g_test_add_func ("/qcow2/write/refuse-more", test_refuse_more);
  g_test_add_func ("/qcow2/write/unknown-extension", test_unknown_extension_kept);

  return g_test_run ();
}
