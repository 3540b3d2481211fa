/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "strata-fuzz.h"

#include "strata-check.h"
#include "strata-compress.h"
#include "strata-error.h"
#include "strata-image.h"
#include "strata-vmdk-descriptor.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Work per input is bounded so that a header announcing an exabyte disk, or a million
 * one-byte runs, cannot make the fuzzer time out: the point is to find memory errors and
 * broken contracts, not to read every byte. */
#define MAX_RUNS        2048
#define MAX_READ_TOTAL  (4u << 20)
#define MAX_READ_CHUNK  (256u << 10)

/* The companion flat extent that descriptor inputs may name ("fuzz-flat.vmdk", as in the
 * seeds qemu-img makes for fuzz.vmdk). */
#define FLAT_EXTENT_SIZE (1u << 20)

static char *work_dir;

static void
remove_work_dir (void)
{
  g_autoptr(GDir) dir = NULL;
  const char *name;

  if (work_dir == NULL)
    return;

  dir = g_dir_open (work_dir, 0, NULL);
  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *child = g_build_filename (work_dir, name, NULL);

      g_unlink (child);
    }
  g_rmdir (work_dir);
  g_clear_pointer (&work_dir, g_free);
}

/* A private folder for the input file, on tmpfs when there is one: every input is written
 * to a file because the engine, like QEMU, works on files. */
static const char *
get_work_dir (void)
{
  if (work_dir == NULL)
    {
      const char *base = g_file_test ("/dev/shm", G_FILE_TEST_IS_DIR) &&
                         access ("/dev/shm", W_OK) == 0 ? "/dev/shm" : g_get_tmp_dir ();
      g_autofree char *tmpl = g_build_filename (base, "strata-fuzz-XXXXXX", NULL);
      g_autofree char *flat = NULL;
      int fd;

      if (g_mkdtemp (tmpl) == NULL)
        {
          fprintf (stderr, "strata-fuzz: cannot create a work folder: %s\n", g_strerror (errno));
          abort ();
        }
      work_dir = g_steal_pointer (&tmpl);
      atexit (remove_work_dir);

      flat = g_build_filename (work_dir, "fuzz-flat.vmdk", NULL);
      fd = open (flat, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      if (fd >= 0)
        {
          (void) !ftruncate (fd, FLAT_EXTENT_SIZE);
          close (fd);
        }
    }

  return work_dir;
}

static char *
write_input (const char *name, const guint8 *data, gsize size)
{
  char *path = g_build_filename (get_work_dir (), name, NULL);
  gsize done = 0;
  int fd;

  fd = open (path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    {
      fprintf (stderr, "strata-fuzz: cannot write %s: %s\n", path, g_strerror (errno));
      abort ();
    }
  while (done < size)
    {
      ssize_t n = write (fd, data + done, size - done);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          fprintf (stderr, "strata-fuzz: cannot write %s: %s\n", path, g_strerror (errno));
          abort ();
        }
      done += n;
    }
  close (fd);

  return path;
}

/* A function reports failure with an error and success without one: anything else leaves a
 * caller (the CLI, the app) printing nothing or leaking. */
static void
check_contract (gboolean ok, const GError *error, const char *what)
{
  if (ok && error != NULL)
    {
      fprintf (stderr, "strata-fuzz: %s succeeded but set an error: %s\n", what,
               error->message);
      abort ();
    }
  if (!ok && (error == NULL || error->message == NULL || error->message[0] == '\0'))
    {
      fprintf (stderr, "strata-fuzz: %s failed without an error message\n", what);
      abort ();
    }
}

static void
touch_info (const StrataImageInfo *info)
{
  /* Make the sanitizers look at every string and the variant. */
  volatile gsize sum = 0;

  sum += info->filename ? strlen (info->filename) : 0;
  sum += info->format ? strlen (info->format) : 0;
  sum += info->backing_filename ? strlen (info->backing_filename) : 0;
  sum += info->full_backing_filename ? strlen (info->full_backing_filename) : 0;
  sum += info->backing_format ? strlen (info->backing_format) : 0;
  for (guint i = 0; info->warnings != NULL && info->warnings[i] != NULL; i++)
    sum += strlen (info->warnings[i]);
  if (info->format_specific != NULL)
    {
      g_autofree char *text = g_variant_print (info->format_specific, TRUE);

      sum += strlen (text);
    }
  (void) sum;
}

static gboolean
read_some (StrataImage  *image,
           guint64       offset,
           guint64       length,
           gsize        *budget,
           guint8       *buf,
           GError      **error)
{
  gsize n = MIN (MIN (length, MAX_READ_CHUNK), *budget);
  gboolean ok;

  if (n == 0)
    return TRUE;

  ok = strata_image_read (image, offset, n, buf, error);
  check_contract (ok, *error, "strata_image_read");
  *budget -= n;
  return ok;
}

gboolean
strata_fuzz_exercise_file (const char  *path,
                           const char  *format,
                           gboolean     walk,
                           GError     **error)
{
  g_autoptr(StrataImage) image = NULL;
  g_autoptr(StrataImageInfo) info = NULL;
  g_autofree guint8 *buf = NULL;
  GError *local = NULL;
  gsize budget = MAX_READ_TOTAL;
  guint64 size, offset = 0;
  guint runs = 0;
  gboolean ok;

  image = strata_image_open (path, format, STRATA_OPEN_NO_BACKING | STRATA_OPEN_NO_LOCK,
                             &local);
  check_contract (image != NULL, local, "strata_image_open");
  if (image == NULL)
    {
      g_propagate_error (error, local);
      return FALSE;
    }

  info = strata_image_get_info (image, &local);
  check_contract (info != NULL, local, "strata_image_get_info");
  if (info == NULL)
    {
      g_propagate_error (error, local);
      return FALSE;
    }
  touch_info (info);

  size = strata_image_get_size (image);
  if (size != info->virtual_size)
    {
      fprintf (stderr, "strata-fuzz: info says %" G_GUINT64_FORMAT " bytes, the image %"
               G_GUINT64_FORMAT "\n", info->virtual_size, size);
      abort ();
    }
  (void) strata_image_get_cluster_size (image);

  buf = g_malloc (MAX_READ_CHUNK);

  while (offset < size && runs < (walk ? MAX_RUNS : 4))
    {
      StrataBlockStatus bs;

      ok = strata_image_block_status (image, offset, size - offset, &bs, &local);
      check_contract (ok, local, "strata_image_block_status");
      if (!ok)
        {
          g_propagate_error (error, local);
          return FALSE;
        }
      if (bs.length == 0 || bs.length > size - offset ||
          (bs.kind != STRATA_BLOCK_UNALLOCATED && bs.kind != STRATA_BLOCK_ZERO &&
           bs.kind != STRATA_BLOCK_DATA))
        {
          fprintf (stderr, "strata-fuzz: block status at 0x%" G_GINT64_MODIFIER "x returned "
                   "kind %d, length %" G_GUINT64_FORMAT " (asked %" G_GUINT64_FORMAT ")\n",
                   offset, bs.kind, bs.length, size - offset);
          abort ();
        }

      if (walk && bs.kind != STRATA_BLOCK_UNALLOCATED)
        {
          /* The first and the last bytes of a run are where off-by-one errors live. */
          if (!read_some (image, offset, bs.length, &budget, buf, error))
            return FALSE;
          if (bs.length > MAX_READ_CHUNK &&
              !read_some (image, offset + bs.length - 4096, 4096, &budget, buf, error))
            return FALSE;
        }

      offset += bs.length;
      runs++;
    }

  if (walk && size > 0)
    {
      StrataChainStatus cs;
      guint64 tail = MIN (size, 4096);

      /* Whatever the walk skipped, the very end of the disk is always read. */
      if (!read_some (image, size - tail, tail, &budget, buf, error))
        return FALSE;

      ok = strata_image_chain_status (image, 0, size, &cs, &local);
      check_contract (ok, local, "strata_image_chain_status");
      if (!ok)
        {
          g_propagate_error (error, local);
          return FALSE;
        }
    }

  return TRUE;
}

static void
put_be16 (guint8 *p, guint16 v)
{
  v = GUINT16_TO_BE (v);
  memcpy (p, &v, sizeof v);
}

static void
put_be32 (guint8 *p, guint32 v)
{
  v = GUINT32_TO_BE (v);
  memcpy (p, &v, sizeof v);
}

static void
put_be64 (guint8 *p, guint64 v)
{
  v = GUINT64_TO_BE (v);
  memcpy (p, &v, sizeof v);
}

/*
 * Layout, in clusters: 0 header, 1 refcount table, 2 refcount block, 3 L1, 4 L2, 5.. the
 * compressed payload. Input byte 0: bit 0 selects zstd (else deflate), bits 1-3 the cluster
 * size (512 B << n, up to 64 KiB). Byte 1: when bit 7 is set, its low bits replace the
 * descriptor's sector count (so it can lie about the payload's length). Byte 2: where the
 * second guest cluster's descriptor starts inside the payload. The rest is the payload:
 * guest cluster 0 maps to its start, guest cluster 1 to the offset chosen by byte 2.
 */
GBytes *
strata_fuzz_build_compressed_qcow2 (const guint8 *data,
                                    gsize         size)
{
  guint cluster_bits, csize_shift;
  guint64 cluster, payload_off, file_size, n_clusters, max_sectors;
  const guint8 *payload;
  gsize payload_len;
  guint8 *img;
  gboolean zstd;

  if (size < 3)
    return NULL;

  zstd = data[0] & 1;
  cluster_bits = 9 + ((data[0] >> 1) & 7);
  cluster = 1ull << cluster_bits;
  payload = data + 3;
  payload_len = size - 3;
  payload_off = 5 * cluster;
  n_clusters = 5 + (payload_len + cluster - 1) / cluster;
  /* One refcount block of 16-bit entries covers cluster / 2 clusters. */
  if (n_clusters > cluster / 2)
    {
      payload_len = (cluster / 2 - 5) * cluster;
      n_clusters = cluster / 2;
    }
  file_size = payload_off + payload_len;

  img = g_malloc0 (MAX (file_size, 5 * cluster));

  /* Header, version 3, 112 bytes (with the compression type field). */
  memcpy (img, "QFI\xfb", 4);
  put_be32 (img + 4, 3);
  put_be32 (img + 20, cluster_bits);
  put_be64 (img + 24, 2 * cluster);
  put_be32 (img + 36, 1);
  put_be64 (img + 40, 3 * cluster);
  put_be64 (img + 48, 1 * cluster);
  put_be32 (img + 56, 1);
  put_be64 (img + 72, zstd ? (1ull << 3) : 0);
  put_be32 (img + 96, 4);
  put_be32 (img + 100, 112);
  img[104] = zstd ? 1 : 0;
  /* 112..119: the end-of-extensions marker, already zero. */

  put_be64 (img + 1 * cluster, 2 * cluster);
  for (guint64 i = 0; i < n_clusters; i++)
    put_be16 (img + 2 * cluster + 2 * i, 1);
  put_be64 (img + 3 * cluster, (4 * cluster) | (1ull << 63));

  /* Compressed descriptor: host offset in the low 62 - (cluster_bits - 8) bits, then the
   * number of 512-byte sectors after the first one. */
  csize_shift = 62 - (cluster_bits - 8);
  max_sectors = (1ull << (cluster_bits - 8)) - 1;
  for (guint g = 0; g < 2; g++)
    {
      guint64 start = g == 0 ? 0 : MIN ((gsize) data[2] * 16, payload_len);
      guint64 host = payload_off + start;
      guint64 end = payload_off + payload_len;
      guint64 sectors;

      if (data[1] & 0x80)
        sectors = (data[1] & 0x7f) & max_sectors;
      else
        sectors = end > host ? MIN ((end - 1) / 512 - host / 512, max_sectors) : 0;

      put_be64 (img + 4 * cluster + 8 * g,
                (1ull << 62) | (sectors << csize_shift) | host);
    }

  memcpy (img + payload_off, payload, payload_len);

  return g_bytes_new_take (img, MAX (file_size, 5 * cluster));
}

static gboolean
exercise_bytes (const char   *name,
                const guint8 *data,
                gsize         size,
                const char   *format,
                gboolean      walk)
{
  g_autofree char *path = write_input (name, data, size);
  g_autoptr(GError) error = NULL;

  return strata_fuzz_exercise_file (path, format, walk, &error);
}

static void
run_qcow2_header (const guint8 *data, gsize size)
{
  exercise_bytes ("fuzz.qcow2", data, size, "qcow2", FALSE);
}

static void
run_qcow2_tables (const guint8 *data, gsize size)
{
  exercise_bytes ("fuzz.qcow2", data, size, "qcow2", TRUE);
}

static void
run_qcow2_compressed (const guint8 *data, gsize size)
{
  g_autoptr(GBytes) image = strata_fuzz_build_compressed_qcow2 (data, size);
  gsize len;
  const guint8 *bytes;

  if (image == NULL)
    return;

  /* The decoder alone first, with the cluster size the image will use. */
  {
    gsize cluster = (gsize) 1 << (9 + ((data[0] >> 1) & 7));
    g_autofree guint8 *out = g_malloc (cluster);

    (void) strata_decompress ((data[0] & 1) ? STRATA_COMPRESSION_ZSTD : STRATA_COMPRESSION_ZLIB,
                              data + 3, size - 3, out, cluster);
  }
  bytes = g_bytes_get_data (image, &len);
  exercise_bytes ("fuzz.qcow2", bytes, len, "qcow2", TRUE);
}

static void
run_vmdk (const guint8 *data, gsize size)
{
  exercise_bytes ("fuzz.vmdk", data, size, "vmdk", TRUE);
}

/* The descriptor parser on the bare buffer, then the same text as a descriptor file. */
static void
run_vmdk_descriptor (const guint8 *data, gsize size)
{
  g_autoptr(StrataVmdkDescriptor) desc = NULL;
  g_autoptr(GError) error = NULL;

  desc = strata_vmdk_descriptor_parse ((const char *) data, size, "fuzz.vmdk", &error);
  check_contract (desc != NULL, error, "strata_vmdk_descriptor_parse");
  if (desc != NULL)
    {
      volatile gsize sum = 0;

      sum += desc->create_type ? strlen (desc->create_type) : 0;
      sum += desc->parent_hint ? strlen (desc->parent_hint) : 0;
      for (guint i = 0; i < desc->extents->len; i++)
        {
          const StrataVmdkExtentDesc *e = desc->extents->pdata[i];

          sum += e->type_name ? strlen (e->type_name) : 0;
          sum += e->filename ? strlen (e->filename) : 0;
          if (e->sectors == 0)
            {
              fprintf (stderr, "strata-fuzz: descriptor extent with 0 sectors accepted\n");
              abort ();
            }
        }
      (void) sum;
    }

  exercise_bytes ("fuzz.vmdk", data, size, "vmdk", TRUE);
}

/* qemu-img check's walk over every table and refcount, read-only. */
static void
run_qcow2_check (const guint8 *data, gsize size)
{
  g_autofree char *path = write_input ("fuzz.qcow2", data, size);
  g_autoptr(GError) error = NULL;
  StrataCheckOptions opts = { .format = "qcow2", .fix = STRATA_CHECK_FIX_NONE };
  StrataCheckResult result = { 0 };
  gboolean ok;

  ok = strata_check_sync (path, &opts, NULL, &result, NULL, &error);
  check_contract (ok, error, "strata_check_sync");
  if (ok)
    (void) strata_check_result_exit_code (&result);
  strata_check_result_clear (&result);
}

static void
run_probe (const guint8 *data, gsize size)
{
  exercise_bytes ("fuzz.img", data, size, NULL, TRUE);
}

typedef struct
{
  StrataFuzzTarget target;
  void (*run) (const guint8 *data, gsize size);
} TargetEntry;

static const TargetEntry entries[] = {
  { { "qcow2-header", "qcow2 header and header extensions (open + info)" },
    run_qcow2_header },
  { { "qcow2-tables", "qcow2 L1/L2/refcount walking (open, block status, reads)" },
    run_qcow2_tables },
  { { "qcow2-compressed", "deflate and zstd compressed clusters in a built qcow2" },
    run_qcow2_compressed },
  { { "vmdk-sparse", "VMDK sparse header, grain directory and tables" }, run_vmdk },
  { { "vmdk-stream", "streamOptimized VMDK: markers, footer, compressed grains" }, run_vmdk },
  { { "vmdk-descriptor", "VMDK text descriptor: the parser alone, then as a file (with a "
      "1 MiB flat extent fuzz-flat.vmdk)" }, run_vmdk_descriptor },
  { { "qcow2-check", "qcow2 consistency check over fuzzed tables and refcounts" },
    run_qcow2_check },
  { { "probe", "any bytes, format probed by content" }, run_probe },
};

const StrataFuzzTarget *
strata_fuzz_targets (void)
{
  static StrataFuzzTarget targets[G_N_ELEMENTS (entries) + 1];

  for (guint i = 0; i < G_N_ELEMENTS (entries); i++)
    targets[i] = entries[i].target;
  return targets;
}

gboolean
strata_fuzz_run_target (const char   *name,
                        const guint8 *data,
                        gsize         size)
{
  for (guint i = 0; i < G_N_ELEMENTS (entries); i++)
    if (g_strcmp0 (entries[i].target.name, name) == 0)
      {
        entries[i].run (data, size);
        return TRUE;
      }
  return FALSE;
}
