/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "strata-error.h"
#include "strata-image.h"
#include "strata-vmdk-descriptor.h"
#include "test-util.h"

#include <json-glib/json-glib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

/*
 * The VMDK reader against QEMU: every image here is made by qemu-img/qemu-io (or, for the
 * footer-shaped streamOptimized file QEMU never writes, by a generator that qemu-img must
 * read first), and what Strata reads is compared with `qemu-img convert -O raw` and
 * `qemu-img map`.
 */

#define MiB (1024 * 1024)

static void assert_open_fails (const char *path, int code, const char *needle);
#define GiB (G_GUINT64_CONSTANT (1024) * MiB)

/* A deterministic, non-repeating pattern, so a grain read from the wrong place shows. */
static void
fill_pattern (guint8 *buf,
              gsize   len,
              guint64 seed)
{
  guint64 x = seed * 0x9e3779b97f4a7c15ULL + 1;

  for (gsize i = 0; i < len; i++)
    {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      buf[i] = (guint8) x;
    }
}

static void
write_at (const char *path,
          guint64     offset,
          gsize       len,
          guint64     seed)
{
  g_autofree guint8 *buf = g_malloc (len);
  FILE *f = fopen (path, "r+b");

  g_assert_nonnull (f);
  if (seed == 0)
    memset (buf, 0, len);
  else
    fill_pattern (buf, len, seed);
  g_assert_cmpint (fseeko (f, offset, SEEK_SET), ==, 0);
  g_assert_cmpuint (fwrite (buf, 1, len, f), ==, len);
  fclose (f);
}

/* A raw disk with data at unaligned places, explicit zeros and holes. */
static const char *
make_raw (const char *name,
          guint64     size)
{
  const char *path = tu_path (name);

  g_free (tu_run_ok ("rm -f '%s' && truncate -s %" G_GUINT64_FORMAT " '%s'", path, size, path));
  write_at (path, 0, 70000, 1);
  write_at (path, 200000, 300000, 2);
  write_at (path, 600000, 200000, 0);             /* written zeros */
  write_at (path, 3 * MiB + 4096, 512, 3);
  write_at (path, size / 2 - 33000, 100000, 4);   /* across the middle */
  write_at (path, size - 65536 - 1024, 65536, 5); /* near the end */
  return path;
}

/* Reads the whole image with Strata and compares it with qemu-img's raw conversion. */
static void
assert_reads_like_qemu (const char *image_path)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(StrataImage) image = NULL;
  g_autofree char *ref_path = g_strdup_printf ("%s.ref.raw", image_path);
  g_autofree guint8 *got = NULL;
  g_autofree guint8 *want = NULL;
  const gsize chunk = 4 * MiB - 1536; /* not grain-aligned on purpose */
  guint64 size;
  FILE *ref;

  g_free (tu_run_ok ("qemu-img convert -U -O raw '%s' '%s'", image_path, ref_path));

  image = strata_image_open (image_path, NULL, STRATA_OPEN_READ_ONLY, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (strata_image_get_format (image), ==, "vmdk");
  size = strata_image_get_size (image);

  ref = fopen (ref_path, "rb");
  g_assert_nonnull (ref);
  g_assert_cmpint (fseeko (ref, 0, SEEK_END), ==, 0);
  g_assert_cmpuint (ftello (ref), ==, size);
  rewind (ref);

  got = g_malloc (chunk);
  want = g_malloc (chunk);
  for (guint64 pos = 0; pos < size; pos += chunk)
    {
      gsize n = MIN (chunk, size - pos);

      g_assert_true (strata_image_read (image, pos, n, got, &error));
      g_assert_no_error (error);
      g_assert_cmpuint (fread (want, 1, n, ref), ==, n);
      if (memcmp (got, want, n) != 0)
        {
          gsize i = 0;

          while (got[i] == want[i])
            i++;
          g_error ("%s: Strata and qemu-img differ at guest offset %" G_GUINT64_FORMAT,
                   image_path, pos + i);
        }
    }
  fclose (ref);
  g_free (tu_run_ok ("rm -f '%s'", ref_path));
}

/* Walks `qemu-img map --output=json` and checks Strata's chain status agrees on every byte:
 * presence, zero/data, depth and host offset. */
static void
assert_map_like_qemu (const char *image_path)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(StrataImage) image = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autofree char *out = tu_run_ok ("qemu-img map -U --output=json '%s'", image_path);
  JsonArray *entries;

  g_assert_true (json_parser_load_from_data (parser, out, -1, &error));
  g_assert_no_error (error);
  entries = json_node_get_array (json_parser_get_root (parser));

  image = strata_image_open (image_path, NULL, STRATA_OPEN_READ_ONLY, &error);
  g_assert_no_error (error);

  for (guint i = 0; i < json_array_get_length (entries); i++)
    {
      JsonObject *o = json_array_get_object_element (entries, i);
      guint64 start = json_object_get_int_member (o, "start");
      guint64 length = json_object_get_int_member (o, "length");
      gboolean present = json_object_get_boolean_member (o, "present");
      gboolean zero = json_object_get_boolean_member (o, "zero");
      gboolean data = json_object_get_boolean_member (o, "data");
      gint64 depth = json_object_get_int_member (o, "depth");
      gboolean has_offset = json_object_has_member (o, "offset");
      guint64 offset = has_offset ? json_object_get_int_member (o, "offset") : 0;
      guint64 pos = start;

      while (pos < start + length)
        {
          StrataChainStatus cs;

          g_assert_true (strata_image_chain_status (image, pos, start + length - pos, &cs,
                                                    &error));
          g_assert_no_error (error);

          if (!present)
            g_assert_cmpint (cs.kind, ==, STRATA_BLOCK_UNALLOCATED);
          else if (data && zero)
            /* A hole in a flat extent: QEMU says data (the extent) and zero (the file). */
            g_assert_cmpint (cs.kind, !=, STRATA_BLOCK_UNALLOCATED);
          else if (data)
            g_assert_cmpint (cs.kind, ==, STRATA_BLOCK_DATA);
          else
            g_assert_cmpint (cs.kind, ==, STRATA_BLOCK_ZERO);

          if (present)
            g_assert_cmpint (cs.depth, ==, depth);
          if (has_offset)
            {
              g_assert_true (cs.has_host_offset);
              g_assert_cmpuint (cs.host_offset, ==, offset + (pos - start));
              g_assert_nonnull (cs.host_file);
            }
          else if (present)
            g_assert_false (cs.has_host_offset);

          pos += cs.length;
        }
    }
}

/* Checks Strata's info against `qemu-img info --output=json`: sizes, cluster size and the
 * whole format-specific data, key for key. */
static void
assert_info_like_qemu (const char *image_path)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(StrataImage) image = NULL;
  g_autoptr(StrataImageInfo) info = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autofree char *out = tu_run_ok ("qemu-img info -U --output=json '%s'", image_path);
  g_autoptr(JsonNode) ours = NULL;
  g_autofree char *ours_text = NULL;
  g_autofree char *theirs_text = NULL;
  JsonObject *root;
  JsonNode *theirs;

  g_assert_true (json_parser_load_from_data (parser, out, -1, &error));
  g_assert_no_error (error);
  root = json_node_get_object (json_parser_get_root (parser));

  image = strata_image_open (image_path, NULL, STRATA_OPEN_READ_ONLY | STRATA_OPEN_NO_BACKING,
                             &error);
  g_assert_no_error (error);
  info = strata_image_get_info (image, &error);
  g_assert_no_error (error);

  g_assert_cmpuint (info->virtual_size, ==, json_object_get_int_member (root, "virtual-size"));
  g_assert_cmpuint (info->actual_size, ==, json_object_get_int_member (root, "actual-size"));
  if (json_object_has_member (root, "cluster-size"))
    g_assert_cmpuint (info->cluster_size, ==,
                      json_object_get_int_member (root, "cluster-size"));
  else
    g_assert_cmpuint (info->cluster_size, ==, 0);
  g_assert_cmpstr (info->backing_filename, ==,
                   json_object_get_string_member_with_default (root, "backing-filename",
                                                               NULL));
  g_assert_cmpstr (info->backing_format, ==,
                   json_object_get_string_member_with_default (root,
                                                               "backing-filename-format",
                                                               NULL));

  theirs = json_object_get_member (json_object_get_object_member (root, "format-specific"),
                                   "data");
  g_assert_nonnull (info->format_specific);
  ours = json_gvariant_serialize (info->format_specific);
  ours_text = json_to_string (ours, FALSE);
  theirs_text = json_to_string (theirs, FALSE);
  g_assert_cmpstr (ours_text, ==, theirs_text);
}

static void
assert_like_qemu (const char *image_path)
{
  assert_reads_like_qemu (image_path);
  assert_map_like_qemu (image_path);
  assert_info_like_qemu (image_path);
}

static void
test_monolithic_sparse (void)
{
  const char *raw = make_raw ("ms.raw", 20 * MiB + 3 * 512);
  const char *vmdk = tu_path ("ms.vmdk");

  g_free (tu_run_ok ("qemu-img convert -f raw -O vmdk '%s' '%s'", raw, vmdk));
  assert_like_qemu (vmdk);
  tu_assert_qemu_compare (vmdk, raw);
}

static void
test_monolithic_sparse_written (void)
{
  const char *vmdk = tu_path ("msw.vmdk");

  /* Grains allocated out of order by qemu-io, and a 32 KiB grain. */
  g_free (tu_run_ok ("rm -f '%s' && qemu-img create -q -f vmdk '%s' 16M && "
                     "qemu-io -f vmdk -c 'write -P 0x11 8M 100k' -c 'write -P 0x22 0 4k' "
                     "-c 'write -P 0x33 15M 1M' -c 'write -P 0x44 4M 512' '%s'",
                     vmdk, vmdk, vmdk));
  assert_like_qemu (vmdk);
}

static void
test_stream_optimized (void)
{
  const char *raw = make_raw ("so.raw", 20 * MiB + 3 * 512);
  const char *vmdk = tu_path ("so.vmdk");
  g_autoptr(GError) error = NULL;
  g_autoptr(StrataImage) image = NULL;
  StrataBlockStatus bs;

  g_free (tu_run_ok ("qemu-img convert -f raw -O vmdk -o subformat=streamOptimized '%s' '%s'",
                     raw, vmdk));
  assert_like_qemu (vmdk);

  image = strata_image_open (vmdk, NULL, STRATA_OPEN_READ_ONLY, &error);
  g_assert_no_error (error);
  g_assert_true (strata_image_block_status (image, 0, 4096, &bs, &error));
  g_assert_cmpint (bs.kind, ==, STRATA_BLOCK_DATA);
  g_assert_true (bs.compressed);
  g_assert_false (bs.has_host_offset);
}

static void
test_monolithic_flat (void)
{
  const char *raw = make_raw ("mf.raw", 20 * MiB + 3 * 512);
  const char *vmdk = tu_path ("mf.vmdk");
  g_autoptr(GError) error = NULL;
  g_autoptr(StrataImage) image = NULL;

  g_free (tu_run_ok ("qemu-img convert -f raw -O vmdk -o subformat=monolithicFlat '%s' '%s'",
                     raw, vmdk));
  assert_like_qemu (vmdk);

  image = strata_image_open (vmdk, NULL, STRATA_OPEN_READ_ONLY, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (strata_image_get_cluster_size (image), ==, 0);

  /* Opened by a relative name from elsewhere: the extent is found next to the descriptor,
   * not in the current folder, and named as qemu-img names it. */
  {
    g_autofree char *cwd = g_get_current_dir ();

    /* Commands run in the scratch folder: work from there too. */
    g_free (tu_run_ok ("rm -rf sub && mkdir sub && qemu-img convert -f raw -O vmdk "
                       "-o subformat=monolithicFlat mf.raw sub/rel.vmdk && "
                       "printf 'wrong' > rel-flat.vmdk"));
    g_assert_cmpint (chdir (tu_dir ()), ==, 0);
    assert_reads_like_qemu ("sub/rel.vmdk");
    assert_info_like_qemu ("sub/rel.vmdk");
    g_assert_cmpint (chdir (cwd), ==, 0);
  }
}

static void
test_two_gb_sparse (void)
{
  const char *raw = make_raw ("tgs.raw", 2 * GiB + 512 * 1024 * 1024 + 7 * 512);
  const char *vmdk = tu_path ("tgs.vmdk");

  /* Data across the 2 GiB extent boundary too. */
  write_at (raw, 2 * GiB - 70000, 140000, 6);
  g_free (tu_run_ok ("qemu-img convert -f raw -O vmdk -o subformat=twoGbMaxExtentSparse "
                     "'%s' '%s'", raw, vmdk));
  g_assert_true (tu_file_exists (tu_path ("tgs-s002.vmdk")));
  assert_like_qemu (vmdk);

  /* One piece alone is not an image (QEMU refuses it too), and the error says why. */
  assert_open_fails (tu_path ("tgs-s002.vmdk"), STRATA_ERROR_CORRUPT, "descriptor file");
  g_free (tu_run_ok ("rm -f %s/tgs*", tu_dir ()));
}

static void
test_two_gb_flat (void)
{
  const char *raw = make_raw ("tgf.raw", 2 * GiB + 64 * 1024 * 1024);
  const char *vmdk = tu_path ("tgf.vmdk");

  write_at (raw, 2 * GiB - 70000, 140000, 6);
  g_free (tu_run_ok ("qemu-img convert -f raw -O vmdk -o subformat=twoGbMaxExtentFlat "
                     "'%s' '%s'", raw, vmdk));
  g_assert_true (tu_file_exists (tu_path ("tgf-f002.vmdk")));
  assert_like_qemu (vmdk);
  g_free (tu_run_ok ("rm -f %s/tgf*", tu_dir ()));
}

static void
test_zeroed_grains (void)
{
  const char *vmdk = tu_path ("zg.vmdk");
  g_autoptr(GError) error = NULL;
  g_autoptr(StrataImage) image = NULL;
  StrataBlockStatus bs;

  g_free (tu_run_ok ("rm -f '%s' && qemu-img create -q -f vmdk -o zeroed_grain=on '%s' 8M && "
                     "qemu-io -f vmdk -c 'write -P 0x5a 0 1M' -c 'write -z 128k 256k' "
                     "-c 'write -z 4M 128k' -c 'write -P 0x6b 7M 64k' '%s'",
                     vmdk, vmdk, vmdk));
  assert_like_qemu (vmdk);

  image = strata_image_open (vmdk, NULL, STRATA_OPEN_READ_ONLY, &error);
  g_assert_no_error (error);
  g_assert_true (strata_image_block_status (image, 4 * MiB, MiB, &bs, &error));
  g_assert_cmpint (bs.kind, ==, STRATA_BLOCK_ZERO);
  g_assert_cmpuint (bs.length, ==, 128 * 1024);
}

static void
test_parent_chain (void)
{
  const char *base = tu_path ("chain-base.vmdk");
  const char *mid = tu_path ("chain-mid.vmdk");
  const char *top = tu_path ("chain-top.vmdk");
  g_autoptr(GError) error = NULL;
  g_autoptr(StrataImage) image = NULL;

  g_free (tu_run_ok ("cd '%s' && rm -f chain-*.vmdk && "
                     "qemu-img create -q -f vmdk chain-base.vmdk 8M && "
                     "qemu-io -f vmdk -c 'write -P 1 0 4M' chain-base.vmdk && "
                     "qemu-img create -q -f vmdk -b chain-base.vmdk -F vmdk chain-mid.vmdk && "
                     "qemu-io -f vmdk -c 'write -P 2 1M 100k' chain-mid.vmdk && "
                     "qemu-img create -q -f vmdk -o zeroed_grain=on -b chain-mid.vmdk -F vmdk "
                     "chain-top.vmdk && "
                     "qemu-io -f vmdk -c 'write -P 3 3M 2M' -c 'write -z 0 64k' chain-top.vmdk",
                     tu_dir ()));
  assert_reads_like_qemu (top);
  assert_map_like_qemu (top);
  assert_info_like_qemu (top);
  assert_info_like_qemu (mid);

  image = strata_image_open (top, NULL, STRATA_OPEN_READ_ONLY, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (strata_image_get_backing_name (image), ==, "chain-mid.vmdk");
  g_assert_cmpstr (strata_image_get_backing_format (image), ==, "vmdk");
  g_assert_nonnull (strata_image_get_backing (image));
  g_assert_cmpstr (strata_image_get_backing_name (strata_image_get_backing (image)), ==,
                   "chain-base.vmdk");
  g_assert_cmpstr (strata_image_get_filename (strata_image_get_backing (image)), ==, mid);
  g_assert_cmpstr (strata_image_get_filename (
                     strata_image_get_backing (strata_image_get_backing (image))), ==, base);

  {
    g_autoptr(StrataImageInfo) info = strata_image_get_info (image, &error);

    g_assert_no_error (error);
    g_assert_null (info->warnings);
    g_clear_pointer (&image, strata_image_unref);
  }

  /* Writing to the middle layer changes its CID: QEMU then refuses to read the top. */
  g_free (tu_run_ok ("qemu-io -f vmdk -c 'write -P 9 6M 4k' '%s'", mid));
  g_assert_cmpint (tu_run (NULL, NULL, "qemu-img convert -O raw '%s' '%s.raw'", top, top), !=,
                   0);
  image = strata_image_open (top, NULL, STRATA_OPEN_READ_ONLY, &error);
  g_assert_no_error (error);
  {
    g_autoptr(StrataImageInfo) info = strata_image_get_info (image, &error);

    g_assert_no_error (error);
    g_assert_nonnull (info->warnings);
    g_assert_nonnull (strstr (info->warnings[0], "parentCID"));
  }
}

/* ---- A streamOptimized file with the grain directory at the end, as VMware writes it ---- */

static void
put_le32 (GByteArray *a, gsize at, guint32 v)
{
  for (int i = 0; i < 4; i++)
    a->data[at + i] = (guint8) (v >> (8 * i));
}

static void
put_le64 (GByteArray *a, gsize at, guint64 v)
{
  put_le32 (a, at, (guint32) v);
  put_le32 (a, at + 4, (guint32) (v >> 32));
}

static void
pad_to_sector (GByteArray *a)
{
  gsize n = (512 - a->len % 512) % 512;

  g_byte_array_set_size (a, a->len + n);
  memset (a->data + a->len - n, 0, n);
}

static gsize
append_zeros (GByteArray *a, gsize n)
{
  gsize at = a->len;

  g_byte_array_set_size (a, a->len + n);
  memset (a->data + at, 0, n);
  return at;
}

static void
write_sparse_header (GByteArray *a, gsize at, guint64 capacity, guint64 gd_sector,
                     guint64 grain_sector)
{
  memcpy (a->data + at, "KDMV", 4);
  put_le32 (a, at + 4, 3);                               /* version */
  put_le32 (a, at + 8, 1 | (1 << 16) | (1 << 17));       /* nl detect, compressed, markers */
  put_le64 (a, at + 12, capacity);                       /* sectors */
  put_le64 (a, at + 20, 128);                            /* 64 KiB grains */
  put_le64 (a, at + 28, 1);                              /* descriptor at sector 1 */
  put_le64 (a, at + 36, 20);
  put_le32 (a, at + 44, 512);
  put_le64 (a, at + 48, 0);
  put_le64 (a, at + 56, gd_sector);
  put_le64 (a, at + 64, grain_sector);
  a->data[at + 72] = 0;
  memcpy (a->data + at + 73, "\n \r\n", 4);
  a->data[at + 77] = 1;                                  /* deflate */
  a->data[at + 78] = 0;
}

static void
append_marker (GByteArray *a, guint64 val, guint32 size, guint32 type)
{
  gsize at = append_zeros (a, 512);

  put_le64 (a, at, val);
  put_le32 (a, at + 8, size);
  put_le32 (a, at + 12, type);
}

/* Builds a footer-shaped streamOptimized VMDK from @raw (@size bytes, a multiple of 64 KiB):
 * header with gdOffset -1, descriptor, grains with markers (all-zero grains left out), a GT
 * marker and the GTs, a GD marker and the GD, a footer marker, the footer header, and the
 * end-of-stream marker. */
static void
build_footer_vmdk (const char   *path,
                   const guint8 *raw,
                   gsize         size)
{
  const gsize grain = 65536;
  const guint64 capacity = size / 512;
  const guint n_grains = size / grain;
  const guint n_gts = (n_grains + 511) / 512;
  g_autoptr(GByteArray) a = g_byte_array_new ();
  g_autofree guint32 *gtes = g_new0 (guint32, (gsize) n_gts * 512);
  g_autofree char *desc = NULL;
  g_autoptr(GError) error = NULL;
  guint64 gt_sector, gd_sector;
  gsize at;

  append_zeros (a, 512);
  write_sparse_header (a, 0, capacity, G_MAXUINT64, 21);
  desc = g_strdup_printf ("# Disk DescriptorFile\nversion=1\nCID=1234abcd\nparentCID=ffffffff\n"
                          "createType=\"streamOptimized\"\n\n# Extent description\n"
                          "RDONLY %" G_GUINT64_FORMAT " SPARSE \"footer.vmdk\"\n\n"
                          "ddb.adapterType = \"lsilogic\"\n", capacity);
  at = append_zeros (a, 20 * 512);
  memcpy (a->data + at, desc, strlen (desc));

  for (guint g = 0; g < n_grains; g++)
    {
      const guint8 *src = raw + (gsize) g * grain;
      uLongf clen = compressBound (grain);
      g_autofree guint8 *c = g_malloc (clen);
      gboolean all_zero = TRUE;

      for (gsize i = 0; i < grain && all_zero; i++)
        all_zero = src[i] == 0;
      if (all_zero)
        continue;

      g_assert_cmpint (compress2 (c, &clen, src, grain, 6), ==, Z_OK);
      gtes[g] = a->len / 512;
      at = append_zeros (a, 12);
      put_le64 (a, at, (guint64) g * 128);
      put_le32 (a, at + 8, clen);
      g_byte_array_append (a, c, clen);
      pad_to_sector (a);
    }

  append_marker (a, n_gts * 4, 0, 1); /* grain tables: n sectors each 4 */
  gt_sector = a->len / 512;
  at = append_zeros (a, (gsize) n_gts * 2048);
  for (gsize i = 0; i < (gsize) n_gts * 512; i++)
    put_le32 (a, at + i * 4, gtes[i]);

  append_marker (a, (n_gts * 4 + 511) / 512, 0, 2);
  gd_sector = a->len / 512;
  at = append_zeros (a, n_gts * 4);
  for (guint i = 0; i < n_gts; i++)
    put_le32 (a, at + i * 4, gt_sector + i * 4);
  pad_to_sector (a);

  append_marker (a, 1, 0, 3);
  at = append_zeros (a, 512);
  write_sparse_header (a, at, capacity, gd_sector, 21);
  append_marker (a, 0, 0, 0);

  g_assert_true (g_file_set_contents (path, (const char *) a->data, a->len, &error));
  g_assert_no_error (error);
}

static void
test_stream_optimized_footer (void)
{
  const gsize size = 6 * MiB;
  const char *raw_path = tu_path ("footer.raw");
  const char *vmdk = tu_path ("footer.vmdk");
  g_autofree guint8 *raw = g_malloc0 (size);
  g_autoptr(GError) error = NULL;

  fill_pattern (raw + 100000, 300000, 7);
  fill_pattern (raw + 3 * MiB, 65536, 8);
  fill_pattern (raw + size - 1000, 1000, 9);
  g_assert_true (g_file_set_contents (raw_path, (const char *) raw, size, &error));
  g_assert_no_error (error);

  build_footer_vmdk (vmdk, raw, size);

  /* QEMU first: it must read the generated file as the raw data. */
  tu_assert_qemu_compare (vmdk, raw_path);
  assert_reads_like_qemu (vmdk);
  assert_map_like_qemu (vmdk);
  assert_info_like_qemu (vmdk);
}

/* ---- Hand-written descriptors ---- */

static void
test_descriptor_parser (void)
{
  static const char text[] =
    "# Disk DescriptorFile\r\n"
    "version=1\r\n"
    "CID=fffffffe\r\n"
    "parentCID=0x12\r\n"
    "createType=\"twoGbMaxExtentSparse\"\r\n"
    "parentFileNameHint=\"../dir with space/p\xc3\xa9re.vmdk\"\r\n"
    "  RW 4192256 SPARSE \"x-s001.vmdk\"\r\n"
    "RDONLY 100 FLAT \"/abs/x-f.vmdk\" 7\r\n"
    "RW 8 ZERO\r\n"
    "ddb.toolsVersion = \"RW 1 FLAT\"\r\n";
  g_autoptr(GError) error = NULL;
  g_autoptr(StrataVmdkDescriptor) d = NULL;
  StrataVmdkExtentDesc *e;
  static const char *const bad[] = {
    "RW x SPARSE \"a\"\n",
    "RW 0 SPARSE \"a\"\n",
    "RW 10 FLAT \"a\"\n",
    "RW 10 SPARSE \"a\n",
    "RW 10 SPARSE a\n",
    "RW 10 SPARSE \"\"\n",
    "RW 10 SPARSE \"a\" 5\n",
    "CID=zz\n",
    "parentFileNameHint=noquotes\n",
  };

  d = strata_vmdk_descriptor_parse (text, sizeof text - 1, "d.vmdk", &error);
  g_assert_no_error (error);
  g_assert_true (d->has_cid);
  g_assert_cmphex (d->cid, ==, 0xfffffffe);
  g_assert_cmphex (d->parent_cid, ==, 0x12);
  g_assert_cmpstr (d->create_type, ==, "twoGbMaxExtentSparse");
  g_assert_cmpstr (d->parent_hint, ==, "../dir with space/p\xc3\xa9re.vmdk");
  g_assert_cmpuint (d->extents->len, ==, 3);
  e = g_ptr_array_index (d->extents, 0);
  g_assert_cmpint (e->access, ==, STRATA_VMDK_ACCESS_RW);
  g_assert_cmpuint (e->sectors, ==, 4192256);
  g_assert_cmpint (e->type, ==, STRATA_VMDK_EXTENT_SPARSE);
  g_assert_cmpstr (e->filename, ==, "x-s001.vmdk");
  e = g_ptr_array_index (d->extents, 1);
  g_assert_cmpint (e->access, ==, STRATA_VMDK_ACCESS_RDONLY);
  g_assert_cmpint (e->type, ==, STRATA_VMDK_EXTENT_FLAT);
  g_assert_cmpuint (e->offset, ==, 7);
  e = g_ptr_array_index (d->extents, 2);
  g_assert_cmpint (e->type, ==, STRATA_VMDK_EXTENT_ZERO);
  g_assert_null (e->filename);

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      StrataVmdkDescriptor *b = strata_vmdk_descriptor_parse (bad[i], strlen (bad[i]),
                                                              "bad.vmdk", &error);

      g_assert_null (b);
      g_assert_error (error, STRATA_ERROR, STRATA_ERROR_CORRUPT);
      g_assert_nonnull (strstr (error->message, "bad.vmdk"));
      g_clear_error (&error);
    }
}

/* A flat extent, a ZERO extent and a read-only flat extent with an offset: QEMU ignores
 * ZERO and RDONLY lines, so the expected bytes are built here from VMware's definition. */
/* Hand-written descriptors QEMU reads: flat extents at offsets inside one file, a VMFS
 * extent, and a flat file shorter than its extent (the rest reads as zeros). */
static void
test_flat_offsets (void)
{
  const char *data = tu_path ("fo-data.bin");
  const char *desc = tu_path ("fo.vmdk");
  const char *vmfs = tu_path ("fo-vmfs.vmdk");
  g_autoptr(GError) error = NULL;

  g_free (tu_run_ok ("rm -f '%s' && truncate -s 3M '%s'", data, data));
  write_at (data, 0, 3 * MiB - 4096, 21);
  g_assert_true (g_file_set_contents (desc,
                                      "# Disk DescriptorFile\nversion=1\nCID=abc\n"
                                      "parentCID=ffffffff\n"
                                      "createType=\"twoGbMaxExtentFlat\"\n\n"
                                      "# Extent description\n"
                                      "RW 2048 FLAT \"fo-data.bin\" 100\n"
                                      "RW 1024 FLAT \"fo-data.bin\" 5000\n"
                                      "RW 4096 FLAT \"fo-data.bin\" 4000\n", -1, &error));
  g_assert_no_error (error);
  assert_like_qemu (desc);

  g_assert_true (g_file_set_contents (vmfs,
                                      "# Disk DescriptorFile\nversion=1\nCID=fffffffe\n"
                                      "parentCID=ffffffff\ncreateType=\"vmfs\"\n"
                                      "RW 4096 VMFS \"fo-data.bin\"\n", -1, &error));
  g_assert_no_error (error);
  assert_like_qemu (vmfs);
}

static void
test_zero_and_rdonly_extents (void)
{
  const char *desc = tu_path ("mixed.vmdk");
  g_autofree guint8 *a = g_malloc (MiB);
  g_autofree guint8 *b = g_malloc (2 * MiB);
  g_autofree guint8 *got = g_malloc (4 * MiB);
  g_autofree char *text = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(StrataImage) image = NULL;
  g_autoptr(StrataImageInfo) info = NULL;
  StrataBlockStatus bs;

  fill_pattern (a, MiB, 11);
  fill_pattern (b, 2 * MiB, 12);
  g_assert_true (g_file_set_contents (tu_path ("mixed-a.bin"), (char *) a, MiB, &error));
  g_assert_true (g_file_set_contents (tu_path ("mixed-b.bin"), (char *) b, 2 * MiB, &error));
  text = g_strdup_printf ("# Disk DescriptorFile\nversion=1\nCID=1\nparentCID=ffffffff\n"
                          "createType=\"monolithicFlat\"\n"
                          "RW 2048 FLAT \"mixed-a.bin\" 0\n"
                          "RW 2048 ZERO\n"
                          "RDONLY 2048 FLAT \"%s\" 2048\n", tu_path ("mixed-b.bin"));
  g_assert_true (g_file_set_contents (desc, text, -1, &error));

  g_assert_cmpstr (strata_probe_format (desc, &error), ==, "vmdk");
  image = strata_image_open (desc, NULL, STRATA_OPEN_READ_ONLY, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (strata_image_get_size (image), ==, 3 * MiB);
  g_assert_true (strata_image_read (image, 0, 3 * MiB, got, &error));
  g_assert_no_error (error);
  g_assert_cmpmem (got, MiB, a, MiB);
  for (gsize i = 0; i < MiB; i++)
    g_assert_cmpuint (got[MiB + i], ==, 0);
  g_assert_cmpmem (got + 2 * MiB, MiB, b + MiB, MiB);

  g_assert_true (strata_image_block_status (image, MiB, 2 * MiB, &bs, &error));
  g_assert_cmpint (bs.kind, ==, STRATA_BLOCK_ZERO);
  g_assert_cmpuint (bs.length, ==, MiB);
  g_assert_false (bs.has_host_offset);
  g_assert_true (strata_image_block_status (image, 2 * MiB + 512, 4096, &bs, &error));
  g_assert_cmpint (bs.kind, ==, STRATA_BLOCK_DATA);
  g_assert_cmpuint (bs.host_offset, ==, MiB + 512);

  info = strata_image_get_info (image, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (info->cluster_size, ==, 0);
}

/* ---- Probing ---- */

static void
test_probe (void)
{
  g_autoptr(GError) error = NULL;
  const char *raw_named_vmdk = tu_path ("probe-raw.vmdk");
  const char *desc_named_raw = tu_path ("probe-desc.img");

  g_free (tu_run_ok ("rm -f '%s' && qemu-img create -q -f raw '%s' 1M", raw_named_vmdk,
                     raw_named_vmdk));
  g_assert_cmpstr (strata_probe_format (raw_named_vmdk, &error), ==, "raw");

  g_free (tu_run_ok ("cd '%s' && rm -f probe-x* && "
                     "qemu-img create -q -f vmdk -o subformat=monolithicFlat probe-x.vmdk 1M && "
                     "cp probe-x.vmdk '%s' && qemu-img info -f vmdk probe-desc.img "
                     ">/dev/null", tu_dir (), desc_named_raw));
  g_assert_cmpstr (strata_probe_format (desc_named_raw, &error), ==, "vmdk");
  g_assert_cmpstr (strata_probe_format (tu_path ("probe-x.vmdk"), &error), ==, "vmdk");
  g_assert_cmpstr (strata_probe_format (tu_path ("probe-x-flat.vmdk"), &error), ==, "raw");

  /* QEMU's rule: comments and blank lines, then a version line. */
  g_assert_true (g_file_set_contents (desc_named_raw, "# a comment\n   \nversion=2\r\nCID=1\n",
                                      -1, &error));
  g_assert_cmpstr (strata_probe_format (desc_named_raw, &error), ==, "vmdk");
  g_assert_true (g_file_set_contents (desc_named_raw, "# a comment\nhello\nversion=1\n", -1,
                                      &error));
  g_assert_cmpstr (strata_probe_format (desc_named_raw, &error), ==, "raw");
  /* VMware's banner, even when what follows is damaged: an error, not a raw disk. */
  g_assert_true (g_file_set_contents (desc_named_raw, "# Disk DescriptorFile\n\x01\x02", -1,
                                      &error));
  g_assert_cmpstr (strata_probe_format (desc_named_raw, &error), ==, "vmdk");
}

/* ---- Malformed images ---- */

static void
write_bytes (const char *path, guint64 offset, const void *data, gsize len)
{
  FILE *f = fopen (path, "r+b");

  g_assert_nonnull (f);
  g_assert_cmpint (fseeko (f, offset, SEEK_SET), ==, 0);
  g_assert_cmpuint (fwrite (data, 1, len, f), ==, len);
  fclose (f);
}

static void
patch (const char *path, guint64 offset, guint64 value, guint bytes)
{
  guint8 b[8];

  for (guint i = 0; i < bytes; i++)
    b[i] = (guint8) (value >> (8 * i));
  write_bytes (path, offset, b, bytes);
}

static void
assert_open_fails (const char *path,
                   int         code,
                   const char *needle)
{
  g_autoptr(GError) error = NULL;
  StrataImage *image = strata_image_open (path, NULL, STRATA_OPEN_READ_ONLY, &error);
  g_autofree char *base = g_path_get_basename (path);

  g_assert_null (image);
  g_assert_error (error, STRATA_ERROR, code);
  g_test_message ("%s: %s", base, error->message);
  g_assert_nonnull (strstr (error->message, base));
  if (needle != NULL && strstr (error->message, needle) == NULL)
    g_error ("expected \"%s\" in: %s", needle, error->message);
}

static const char *
fresh_sparse (const char *name)
{
  const char *path = tu_path (name);

  g_free (tu_run_ok ("rm -f '%s' && qemu-img create -q -f vmdk '%s' 4M && "
                     "qemu-io -f vmdk -c 'write -P 7 0 1M' '%s'", path, path, path));
  return path;
}

static void
test_malformed (void)
{
  const char *p;
  g_autoptr(GError) error = NULL;

  p = fresh_sparse ("bad-grain0.vmdk");
  patch (p, 20, 0, 8);
  assert_open_fails (p, STRATA_ERROR_CORRUPT, "grain size");

  p = fresh_sparse ("bad-grain3.vmdk");
  patch (p, 20, 3, 8);
  assert_open_fails (p, STRATA_ERROR_CORRUPT, "grain size");

  p = fresh_sparse ("bad-graingiant.vmdk");
  patch (p, 20, G_GUINT64_CONSTANT (1) << 40, 8);
  assert_open_fails (p, STRATA_ERROR_CORRUPT, "grain size");

  p = fresh_sparse ("bad-gtes.vmdk");
  patch (p, 44, 4096, 4);
  assert_open_fails (p, STRATA_ERROR_CORRUPT, "grain table");

  p = fresh_sparse ("bad-gtes0.vmdk");
  patch (p, 44, 0, 4);
  assert_open_fails (p, STRATA_ERROR_CORRUPT, "grain table");

  p = fresh_sparse ("bad-capacity.vmdk");
  patch (p, 12, G_GUINT64_CONSTANT (1) << 60, 8);
  assert_open_fails (p, STRATA_ERROR_CORRUPT, "capacity");

  p = fresh_sparse ("bad-gd.vmdk");
  patch (p, 56, 0x7fffffff, 8);
  assert_open_fails (p, STRATA_ERROR_CORRUPT, "grain directory at 0x");

  p = fresh_sparse ("bad-truncated.vmdk");
  g_free (tu_run_ok ("truncate -s 4096 '%s'", p));
  assert_open_fails (p, STRATA_ERROR_CORRUPT, "truncated");

  /* Cut in the middle of the grains: opening works, reaching a lost grain does not. */
  p = fresh_sparse ("bad-cut.vmdk");
  g_free (tu_run_ok ("truncate -s %d '%s'", 0x10000 + 4 * 65536, p));
  {
    g_autoptr(StrataImage) image = strata_image_open (p, NULL, STRATA_OPEN_READ_ONLY, &error);
    g_autofree guint8 *buf = g_malloc (MiB);
    StrataBlockStatus bs;

    g_assert_no_error (error);
    g_assert_true (strata_image_read (image, 0, 4 * 65536, buf, &error));
    g_assert_no_error (error);
    g_assert_false (strata_image_read (image, 0, MiB, buf, &error));
    g_assert_error (error, STRATA_ERROR, STRATA_ERROR_CORRUPT);
    g_assert_nonnull (strstr (error->message, "bad-cut.vmdk"));
    g_assert_nonnull (strstr (error->message, "past the end"));
    g_test_message ("%s", error->message);
    g_clear_error (&error);
    g_assert_false (strata_image_block_status (image, 5 * 65536, 65536, &bs, &error));
    g_assert_error (error, STRATA_ERROR, STRATA_ERROR_CORRUPT);
    g_clear_error (&error);
  }

  p = fresh_sparse ("bad-tiny.vmdk");
  g_free (tu_run_ok ("truncate -s 100 '%s'", p));
  assert_open_fails (p, STRATA_ERROR_CORRUPT, "too small");

  /* A GD entry that points far past the end of the file. */
  p = fresh_sparse ("bad-gt.vmdk");
  {
    g_autofree char *out = tu_run_ok ("od -An -tu8 -j56 -N8 '%s'", p);
    guint64 gd = g_ascii_strtoull (g_strstrip (out), NULL, 10);

    patch (p, gd * 512, 0x00ffffff, 4);
  }
  assert_open_fails (p, STRATA_ERROR_CORRUPT, "grain table 0 at 0x");

  /* Garbage where the descriptor should be. */
  p = tu_path ("bad-desc.vmdk");
  g_assert_true (g_file_set_contents (p, "# Disk DescriptorFile\nversion=1\n\x01\x02 garbage\n"
                                      "RW lots SPARSE \"x\"\n", -1, &error));
  g_assert_cmpstr (strata_probe_format (p, &error), ==, "vmdk");
  assert_open_fails (p, STRATA_ERROR_CORRUPT, "line 4");

  p = tu_path ("bad-desc2.vmdk");
  g_assert_true (g_file_set_contents (p, "# Disk DescriptorFile\nversion=1\nhello world\n",
                                      -1, &error));
  assert_open_fails (p, STRATA_ERROR_CORRUPT, "createType");

  p = tu_path ("bad-vmfssparse.vmdk");
  g_assert_true (g_file_set_contents (p, "# Disk DescriptorFile\nversion=1\nCID=1\n"
                                      "parentCID=ffffffff\ncreateType=\"vmfsSparse\"\n"
                                      "RW 100 VMFSSPARSE \"x-delta.vmdk\"\n", -1, &error));
  assert_open_fails (p, STRATA_ERROR_UNSUPPORTED, "vmfsSparse");

  /* A missing extent names the descriptor and the extent. */
  g_free (tu_run_ok ("cd '%s' && rm -f miss* && qemu-img create -q -f vmdk "
                     "-o subformat=twoGbMaxExtentSparse miss.vmdk 3G && rm miss-s002.vmdk",
                     tu_dir ()));
  assert_open_fails (tu_path ("miss.vmdk"), STRATA_ERROR_CORRUPT, "miss-s002.vmdk");

  /* An extent that is not a sparse file. */
  g_free (tu_run_ok ("cd '%s' && rm -f notsp* && qemu-img create -q -f vmdk "
                     "-o subformat=twoGbMaxExtentSparse notsp.vmdk 1G && "
                     "truncate -s 0 notsp-s001.vmdk && truncate -s 1M notsp-s001.vmdk",
                     tu_dir ()));
  assert_open_fails (tu_path ("notsp.vmdk"), STRATA_ERROR_CORRUPT, "notsp-s001.vmdk");

}

static void
test_malformed_compressed (void)
{
  const char *raw = make_raw ("badz.raw", 4 * MiB);
  const char *vmdk = tu_path ("badz.vmdk");
  g_autoptr(GError) error = NULL;
  g_autoptr(StrataImage) image = NULL;
  g_autofree guint8 *buf = g_malloc (MiB);
  guint8 junk[64];
  StrataBlockStatus bs;

  g_free (tu_run_ok ("qemu-img convert -f raw -O vmdk -o subformat=streamOptimized "
                     "'%s' '%s'", raw, vmdk));
  image = strata_image_open (vmdk, NULL, STRATA_OPEN_READ_ONLY, &error);
  g_assert_no_error (error);
  g_clear_pointer (&image, strata_image_unref);

  /* The first grain starts at grain_offset: its marker, then zlib data. Break the data. */
  {
    g_autofree char *out = tu_run_ok ("od -An -tu8 -j64 -N8 '%s'", vmdk);
    guint64 first = g_ascii_strtoull (g_strstrip (out), NULL, 10) * 512;

    memset (junk, 0xa5, sizeof junk);
    write_bytes (vmdk, first + 12, junk, sizeof junk);
    image = strata_image_open (vmdk, NULL, STRATA_OPEN_READ_ONLY, &error);
    g_assert_no_error (error);
    g_assert_false (strata_image_read (image, 0, 4096, buf, &error));
    g_assert_error (error, STRATA_ERROR, STRATA_ERROR_CORRUPT);
    g_assert_nonnull (strstr (error->message, "badz.vmdk"));
    g_assert_nonnull (strstr (error->message, "0x"));
    g_test_message ("%s", error->message);
    g_clear_error (&error);
    g_clear_pointer (&image, strata_image_unref);

    /* A compressed length beyond the end of the file. */
    patch (vmdk, first + 8, 0x7ffffff0, 4);
    image = strata_image_open (vmdk, NULL, STRATA_OPEN_READ_ONLY, &error);
    g_assert_no_error (error);
    g_assert_true (strata_image_block_status (image, 0, 4096, &bs, &error));
    g_assert_false (strata_image_read (image, 0, 4096, buf, &error));
    g_assert_error (error, STRATA_ERROR, STRATA_ERROR_CORRUPT);
    g_assert_nonnull (strstr (error->message, "length"));
    g_test_message ("%s", error->message);
  }
}

/* ---- Damaged bytes: whatever the damage, a clear error or data, never a crash ---- */

static void
exercise_damaged (const char *path)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(StrataImage) image = NULL;
  g_autofree guint8 *buf = NULL;
  guint64 size, limit, pos = 0;

  image = strata_image_open (path, NULL, STRATA_OPEN_READ_ONLY | STRATA_OPEN_NO_BACKING,
                             &error);
  if (image == NULL)
    {
      g_assert_nonnull (error);
      g_assert_true (error->domain == STRATA_ERROR);
      return;
    }

  g_clear_pointer (&buf, g_free);
  size = strata_image_get_size (image);
  limit = MIN (size, 8 * MiB);
  buf = g_malloc (MAX (limit, 1));
  if (!strata_image_read (image, 0, limit, buf, &error))
    {
      g_assert_true (error->domain == STRATA_ERROR);
      g_assert_nonnull (strstr (error->message, path));
      g_clear_error (&error);
    }

  for (guint i = 0; i < 1000 && pos < size; i++)
    {
      StrataBlockStatus bs;

      if (!strata_image_block_status (image, pos, size - pos, &bs, &error))
        {
          g_assert_true (error->domain == STRATA_ERROR);
          g_clear_error (&error);
          break;
        }
      pos += bs.length;
    }

  strata_image_info_free (strata_image_get_info (image, NULL));
}

static void
damage_and_exercise (const char *source,
                     const char *name,
                     guint       iterations)
{
  const char *path = tu_path (name);
  g_autoptr(GError) error = NULL;
  g_autofree char *orig = NULL;
  gsize len;

  g_assert_true (g_file_get_contents (source, &orig, &len, &error));
  g_assert_no_error (error);

  for (guint it = 0; it < iterations; it++)
    {
      g_autofree char *copy = g_memdup2 (orig, len);
      guint flips = g_test_rand_int_range (1, 9);

      for (guint f = 0; f < flips; f++)
        {
          /* Mostly metadata: the first 64 KiB and the last 4 KiB (a footer's tables). */
          gsize at;

          if (g_test_rand_bit () || len <= 65536)
            at = g_test_rand_int_range (0, MIN (len, 65536));
          else
            at = len - 1 - g_test_rand_int_range (0, MIN (len, 4096));
          if (g_test_rand_bit ())
            copy[at] ^= 1 << g_test_rand_int_range (0, 8);
          else
            copy[at] = (char) g_test_rand_int_range (0, 256);
        }
      /* Plain stdio: g_file_set_contents() would fsync each of hundreds of copies. */
      {
        FILE *f = fopen (path, "wb");

        g_assert_nonnull (f);
        g_assert_cmpuint (fwrite (copy, 1, len, f), ==, len);
        fclose (f);
      }
      exercise_damaged (path);
    }
}

static void
test_damaged (void)
{
  const char *raw = make_raw ("dmg.raw", 4 * MiB);
  const char *sparse = tu_path ("dmg-src-sparse.vmdk");
  const char *stream = tu_path ("dmg-src-stream.vmdk");
  const char *footer = tu_path ("footer.vmdk");
  const gsize size = 2 * MiB;
  g_autofree guint8 *data = g_malloc0 (size);

  g_free (tu_run_ok ("qemu-img convert -f raw -O vmdk -o zeroed_grain=on '%s' '%s' && "
                     "qemu-io -f vmdk -c 'write -z 1M 128k' '%s' && "
                     "qemu-img convert -f raw -O vmdk -o subformat=streamOptimized '%s' '%s'",
                     raw, sparse, sparse, raw, stream));
  fill_pattern (data + 70000, 300000, 13);
  build_footer_vmdk (footer, data, size);

  damage_and_exercise (sparse, "dmg-sparse.vmdk", 300);
  damage_and_exercise (stream, "dmg-stream.vmdk", 300);
  damage_and_exercise (footer, "dmg-footer.vmdk", 300);
}

static void
test_damaged_descriptor (void)
{
  static const char text[] =
    "# Disk DescriptorFile\nversion=1\nCID=0123abcd\nparentCID=ffffffff\n"
    "createType=\"twoGbMaxExtentFlat\"\nparentFileNameHint=\"p.vmdk\"\n"
    "RW 2048 FLAT \"dd-f001.vmdk\" 0\nRDONLY 100 ZERO\nRW 4096 SPARSE \"dd-s.vmdk\"\n"
    "ddb.geometry.cylinders = \"20\"\n";

  for (guint it = 0; it < 2000; it++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(StrataVmdkDescriptor) d = NULL;
      char copy[sizeof text];
      gsize len = g_test_rand_int_range (0, sizeof text);

      memcpy (copy, text, sizeof text);
      for (guint f = g_test_rand_int_range (1, 6); f > 0; f--)
        copy[g_test_rand_int_range (0, sizeof text - 1)] = (char) g_test_rand_int_range (0, 256);

      d = strata_vmdk_descriptor_parse (copy, g_test_rand_bit () ? len : sizeof text - 1,
                                        "dd.vmdk", &error);
      if (d == NULL)
        {
          g_assert_error (error, STRATA_ERROR, STRATA_ERROR_CORRUPT);
          g_assert_true (g_str_has_prefix (error->message, "dd.vmdk: "));
        }
      else
        g_assert_true (d->parent_hint == NULL || strlen (d->parent_hint) <= 1023);
    }
}

static void
test_read_only (void)
{
  const char *p = fresh_sparse ("ro.vmdk");
  g_autoptr(GError) error = NULL;
  StrataImage *image = strata_image_open (p, NULL, STRATA_OPEN_WRITE, &error);

  g_assert_null (image);
  g_assert_error (error, STRATA_ERROR, STRATA_ERROR_UNSUPPORTED);
}

int
main (int argc, char **argv)
{
  tu_init (&argc, &argv);

  g_test_add_func ("/vmdk/descriptor-parser", test_descriptor_parser);
  g_test_add_func ("/vmdk/probe", test_probe);
  g_test_add_func ("/vmdk/monolithic-sparse", test_monolithic_sparse);
  g_test_add_func ("/vmdk/monolithic-sparse-written", test_monolithic_sparse_written);
  g_test_add_func ("/vmdk/stream-optimized", test_stream_optimized);
  g_test_add_func ("/vmdk/stream-optimized-footer", test_stream_optimized_footer);
  g_test_add_func ("/vmdk/monolithic-flat", test_monolithic_flat);
  g_test_add_func ("/vmdk/two-gb-sparse", test_two_gb_sparse);
  g_test_add_func ("/vmdk/two-gb-flat", test_two_gb_flat);
  g_test_add_func ("/vmdk/zeroed-grains", test_zeroed_grains);
  g_test_add_func ("/vmdk/parent-chain", test_parent_chain);
  g_test_add_func ("/vmdk/flat-offsets", test_flat_offsets);
  g_test_add_func ("/vmdk/zero-and-rdonly-extents", test_zero_and_rdonly_extents);
  g_test_add_func ("/vmdk/malformed", test_malformed);
  g_test_add_func ("/vmdk/malformed-compressed", test_malformed_compressed);
  g_test_add_func ("/vmdk/read-only", test_read_only);
  g_test_add_func ("/vmdk/damaged", test_damaged);
  g_test_add_func ("/vmdk/damaged-descriptor", test_damaged_descriptor);

  return g_test_run ();
}
